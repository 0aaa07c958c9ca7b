//! The verified client certificate's subject as a client identity: the whole
//! distinguished name as an RFC 4514 string (`CN=partner-a,O=Example,C=DE`)
//! and its common name, kept in fixed storage inside the session's
//! [`HandshakeFacts`](super::HandshakeFacts) so policies and events read them
//! without allocating.
//!
//! The certificate is parsed with `x509-parser`: rustls-webpki (which rustls
//! verified the chain with) hands out the subject only as raw DER, and
//! decoding its attributes and their string types is exactly the parsing a
//! maintained X.509 library should do. The rendering below (order, short
//! names, escaping) is RFC 4514's, which is what `openssl x509 -noout -subject
//! -nameopt RFC2253` prints for ASCII names. Parsing happens once per full
//! handshake (or resumption), never per request.

use std::fmt::Write as _;

use x509_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::x509::AttributeTypeAndValue;

/// Longest subject string kept. A certificate whose subject renders longer
/// is refused (see [`SubjectError::TooLong`]): cutting it would let a prefix
/// of one identity pass for another.
pub const SUBJECT_MAX: usize = 512;
/// Longest common name kept (RFC 5280 bounds it at 64 characters; UTF-8
/// makes that up to 256 bytes).
pub const CN_MAX: usize = 255;

/// Why a verified client certificate's subject cannot serve as an identity.
#[derive(Debug, thiserror::Error)]
pub enum SubjectError {
    #[error("client certificate cannot be parsed: {0}")]
    Parse(String),
    #[error("client certificate {what} is {len} bytes, over the {max} kept")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
}

/// The subject of the client certificate a handshake verified.
#[derive(Clone, Copy)]
pub struct ClientSubject {
    present: bool,
    dn: [u8; SUBJECT_MAX],
    dn_len: u16,
    cn: [u8; CN_MAX],
    cn_len: u8,
}

impl Default for ClientSubject {
    fn default() -> Self {
        ClientSubject {
            present: false,
            dn: [0; SUBJECT_MAX],
            dn_len: 0,
            cn: [0; CN_MAX],
            cn_len: 0,
        }
    }
}

impl std::fmt::Debug for ClientSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSubject")
            .field("dn", &self.dn().map(String::from_utf8_lossy))
            .field("cn", &self.cn().map(String::from_utf8_lossy))
            .finish()
    }
}

/// RFC 4514's short names, and the few more OpenSSL prints by name; any
/// other attribute is written as its dotted OID.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.6", "C"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("2.5.4.4", "SN"),
    ("2.5.4.42", "GN"),
    ("2.5.4.12", "title"),
    ("2.5.4.5", "serialNumber"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
];

const CN_OID: &str = "2.5.4.3";

impl ClientSubject {
    /// The subject of the certificate `der` (the leaf of a chain rustls has
    /// verified).
    pub fn of(der: &[u8]) -> Result<ClientSubject, SubjectError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| SubjectError::Parse(e.to_string()))?;
        let mut dn = String::new();
        let mut cn: Option<String> = None;
        // RFC 4514: the most specific RDN (last in the certificate) first.
        let rdns: Vec<_> = cert.subject().iter_rdn().collect();
        for (i, rdn) in rdns.iter().rev().enumerate() {
            if i > 0 {
                dn.push(',');
            }
            // Any order is RFC 4514's; OpenSSL's (reversed) is the one
            // operators see, so write that.
            let atvs: Vec<_> = rdn.iter().collect();
            for (j, atv) in atvs.iter().rev().enumerate() {
                if j > 0 {
                    dn.push('+');
                }
                let oid = atv.attr_type().to_id_string();
                let name = SHORT_NAMES
                    .iter()
                    .find(|(o, _)| *o == oid)
                    .map_or(oid.as_str(), |(_, n)| n);
                dn.push_str(name);
                dn.push('=');
                match text(atv) {
                    Some(v) => {
                        escape_into(&mut dn, &v);
                        // Several CNs: the most specific one names the client.
                        if oid == CN_OID && cn.is_none() {
                            cn = Some(v);
                        }
                    }
                    None => hex_into(&mut dn, atv.attr_value()),
                }
            }
        }
        let mut out = ClientSubject {
            present: true,
            ..ClientSubject::default()
        };
        if dn.len() > SUBJECT_MAX {
            return Err(SubjectError::TooLong {
                what: "subject",
                len: dn.len(),
                max: SUBJECT_MAX,
            });
        }
        out.dn[..dn.len()].copy_from_slice(dn.as_bytes());
        out.dn_len = dn.len() as u16;
        if let Some(cn) = cn {
            if cn.len() > CN_MAX {
                return Err(SubjectError::TooLong {
                    what: "common name",
                    len: cn.len(),
                    max: CN_MAX,
                });
            }
            out.cn[..cn.len()].copy_from_slice(cn.as_bytes());
            out.cn_len = cn.len() as u8;
        }
        Ok(out)
    }

    /// The subject as an RFC 4514 string; `None`: no client certificate.
    /// (A certificate with an empty subject gives `Some(b"")`.)
    pub fn dn(&self) -> Option<&[u8]> {
        self.present.then(|| &self.dn[..usize::from(self.dn_len)])
    }

    /// The subject's common name, unescaped; `None`: no client certificate
    /// or no CN in its subject.
    pub fn cn(&self) -> Option<&[u8]> {
        (self.present && self.cn_len > 0).then(|| &self.cn[..usize::from(self.cn_len)])
    }
}

/// The attribute's value as text, for the string types certificates use;
/// `None` for anything else (written in hex then, as RFC 4514 says).
fn text(atv: &AttributeTypeAndValue<'_>) -> Option<String> {
    let v = atv.attr_value();
    match v.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(v.data).ok().map(str::to_owned),
        // UTF-16BE.
        Tag::BmpString => {
            if v.data.len() % 2 != 0 {
                return None;
            }
            let units = v
                .data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        // UTF-32BE.
        Tag::UniversalString => {
            if v.data.len() % 4 != 0 {
                return None;
            }
            v.data
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// RFC 4514 section 2.4: the specials, a leading `#` or space and a trailing
/// space get a backslash; control bytes are written as `\XX` so the string
/// stays one printable line in logs.
fn escape_into(out: &mut String, v: &str) {
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `#` and the hex of the value's DER, for values that are not strings.
fn hex_into(out: &mut String, v: &Any<'_>) {
    out.push('#');
    match v.to_der_vec() {
        Ok(der) => {
            for b in der {
                let _ = write!(out, "{b:02x}");
            }
        }
        Err(_) => {
            for b in v.data {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    fn cert_with(dn: DistinguishedName) -> Vec<u8> {
        let mut p = CertificateParams::new(vec!["client.test".to_string()]).expect("params");
        p.distinguished_name = dn;
        let key = KeyPair::generate().expect("key");
        p.self_signed(&key).expect("sign").der().to_vec()
    }

    fn subject(dn: DistinguishedName) -> (String, Option<String>) {
        let s = ClientSubject::of(&cert_with(dn)).expect("subject");
        (
            String::from_utf8(s.dn().expect("dn").to_vec()).expect("utf-8"),
            s.cn()
                .map(|c| String::from_utf8(c.to_vec()).expect("utf-8")),
        )
    }

    #[test]
    fn most_specific_first_with_short_names() {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "DE");
        dn.push(DnType::OrganizationName, "Example GmbH");
        dn.push(DnType::OrganizationalUnitName, "Partners");
        dn.push(DnType::CommonName, "partner-a");
        let (s, cn) = subject(dn);
        assert_eq!(s, "CN=partner-a,OU=Partners,O=Example GmbH,C=DE");
        assert_eq!(cn.as_deref(), Some("partner-a"));
    }

    #[test]
    fn specials_are_escaped_and_the_cn_is_not() {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, " Acme, Inc.+\"x\" ");
        dn.push(DnType::CommonName, "#a<b>;c\\d");
        let (s, cn) = subject(dn);
        assert_eq!(s, r#"CN=\#a\<b\>\;c\\d,O=\ Acme\, Inc.\+\"x\"\ "#);
        assert_eq!(cn.as_deref(), Some("#a<b>;c\\d"));
    }

    #[test]
    fn string_types_and_unknown_attributes() {
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            DnValue::BmpString("grüße".try_into().expect("bmp")),
        );
        dn.push(
            DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 1]),
            DnValue::UniversalString("team-7".try_into().expect("universal")),
        );
        // No string form defined here: hex of the DER (tag 0x14, length 2).
        dn.push(
            DnType::LocalityName,
            DnValue::TeletexString("Ab".try_into().expect("teletex")),
        );
        let (s, cn) = subject(dn);
        assert_eq!(s, "L=#14024162,1.3.6.1.4.1.99999.1=team-7,CN=grüße");
        assert_eq!(cn.as_deref(), Some("grüße"));
    }

    #[test]
    fn no_cn_and_empty_subjects() {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Example");
        assert_eq!(subject(dn), ("O=Example".into(), None));
        let s = ClientSubject::of(&cert_with(DistinguishedName::new())).expect("subject");
        assert_eq!(s.dn(), Some(&b""[..]), "present, though empty");
        assert_eq!(s.cn(), None);
        let none = ClientSubject::default();
        assert_eq!((none.dn(), none.cn()), (None, None));
    }

    #[test]
    fn an_overlong_subject_is_refused_not_cut() {
        let mut dn = DistinguishedName::new();
        for i in 0..12 {
            dn.push(
                DnType::CustomDnType(vec![2, 5, 4, 11, i]),
                DnValue::Utf8String("x".repeat(48)),
            );
        }
        let e = ClientSubject::of(&cert_with(dn)).expect_err("too long");
        assert!(e.to_string().contains("subject is"), "{e}");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "é".repeat(130));
        let e = ClientSubject::of(&cert_with(dn)).expect_err("too long");
        assert!(e.to_string().contains("common name is 260 bytes"), "{e}");
        let e = ClientSubject::of(b"\x30\x03\x02\x01\x00").expect_err("junk");
        assert!(e.to_string().contains("cannot be parsed"), "{e}");
    }
}
