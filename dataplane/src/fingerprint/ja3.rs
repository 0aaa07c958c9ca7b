//! JA3, the Salesforce TLS client fingerprint: the MD5 of
//! `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`,
//! each list in decimal, dash separated, in wire order, GREASE left out
//! (`771,4865-4866-4867,0-11-10,29-23-24,0`). A missing list is empty
//! (`769,47-53,,,`). Computed from a [`ClientHello`] without allocating: the
//! string is hashed as it is printed.
//!
//! JA3 is kept for compatibility with existing intel; Chrome's extension
//! order shuffling (since Chrome 110) gives one Chrome many JA3s, which is
//! why JA4 sorts.

use std::fmt::{self, Write as _};

use md5::{Digest, Md5};

use super::client_hello::{is_grease, ClientHello};
use super::lists::{hex_into, write_dec_list, DigestWriter};

/// Length of a JA3 hash in hex.
pub const JA3_LEN: usize = 32;

/// A JA3 hash: the MD5 of the JA3 string, 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ja3([u8; JA3_LEN]);

impl Ja3 {
    /// The JA3 hash of `hello`.
    pub fn of(hello: &ClientHello<'_>) -> Ja3 {
        let mut md5 = Md5::new();
        // Writing into a digest cannot fail.
        let _ = write!(DigestWriter(&mut md5), "{}", Ja3String::of(hello));
        let mut out = [0u8; JA3_LEN];
        hex_into(&md5.finalize(), &mut out);
        Ja3(out)
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into it.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The hash's bytes (ASCII hex).
    pub fn as_bytes(&self) -> &[u8; JA3_LEN] {
        &self.0
    }
}

impl fmt::Display for Ja3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Ja3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ja3({})", self.as_str())
    }
}

/// The JA3 string (before hashing), printed on demand into whatever buffer
/// the caller has.
#[derive(Clone, Copy, Debug)]
pub struct Ja3String<'a>(ClientHello<'a>);

impl<'a> Ja3String<'a> {
    /// The JA3 string of `hello`.
    pub fn of(hello: &ClientHello<'a>) -> Self {
        Ja3String(*hello)
    }
}

impl fmt::Display for Ja3String<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.0;
        let no_grease = |v: &u16| !is_grease(*v);
        write!(f, "{},", h.legacy_version())?;
        write_dec_list(f, h.cipher_suites().iter().filter(no_grease))?;
        f.write_char(',')?;
        write_dec_list(f, h.extensions().map(|e| e.kind).filter(no_grease))?;
        f.write_char(',')?;
        write_dec_list(
            f,
            h.supported_groups().into_iter().flatten().filter(no_grease),
        )?;
        f.write_char(',')?;
        write_dec_list(f, h.ec_point_formats().unwrap_or_default().iter())
    }
}
