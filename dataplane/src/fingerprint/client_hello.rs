//! A zero-copy, allocation-free parser of the TLS ClientHello handshake
//! message (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2): the fields TLS client
//! fingerprints (JA4, JA3) are made of, borrowed from the caller's bytes.
//!
//! Everything is bounds-checked while parsing, once: every length prefix must
//! fit the bytes around it, every list of 2-byte values must have an even
//! length, and nothing may follow a structure's declared end. Any violation is
//! a [`ClientHelloError`]; the parser never panics. After a successful parse
//! the accessors and iterators cannot fail.
//!
//! The parser checks structure, not policy: it accepts what a fingerprint can
//! describe even when a TLS stack would refuse it (an empty cipher list, an
//! empty ALPN name, a session id longer than 32 bytes, duplicate extensions).
//! rustls judges the handshake afterwards. For duplicated extensions, the
//! accessors of the well-known ones report the first occurrence;
//! [`ClientHello::extensions`] yields every one, in wire order.

use thiserror::Error;

/// Record content type of a handshake record.
pub const CONTENT_TYPE_HANDSHAKE: u8 = 22;
/// Handshake message type of a ClientHello.
pub const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Largest record body a peer may send (2^14 bytes, RFC 8446 §5.1).
pub const MAX_RECORD_BODY: usize = 16_384;
/// Bytes of a record header: type, version, length.
pub const RECORD_HEADER: usize = 5;
/// Bytes of a handshake message header: type, 24-bit length.
pub const HANDSHAKE_HEADER: usize = 4;

/// Extension types this parser reads (IANA TLS ExtensionType values).
pub mod ext {
    /// server_name (SNI), RFC 6066.
    pub const SERVER_NAME: u16 = 0x0000;
    /// supported_groups (formerly elliptic_curves), RFC 8422 / 8446.
    pub const SUPPORTED_GROUPS: u16 = 0x000a;
    /// ec_point_formats, RFC 8422.
    pub const EC_POINT_FORMATS: u16 = 0x000b;
    /// signature_algorithms, RFC 8446.
    pub const SIGNATURE_ALGORITHMS: u16 = 0x000d;
    /// application_layer_protocol_negotiation (ALPN), RFC 7301.
    pub const ALPN: u16 = 0x0010;
    /// supported_versions, RFC 8446.
    pub const SUPPORTED_VERSIONS: u16 = 0x002b;
}

/// Why bytes are not a well-formed ClientHello.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ClientHelloError {
    /// The record is not a handshake record.
    #[error("TLS record: content type {0} is not handshake (22)")]
    NotHandshakeRecord(u8),
    /// The record version's major byte is not 3 (SSL 3.0 / TLS).
    #[error("TLS record: version {0:#06x} is not SSL 3.0 or TLS (0x03xx)")]
    BadRecordVersion(u16),
    /// The record declares a body longer than TLS allows.
    #[error("TLS record: length {0} exceeds the 16384-byte maximum")]
    RecordTooLong(usize),
    /// The handshake message is not a ClientHello.
    #[error("handshake message type {0} is not ClientHello (1)")]
    NotClientHello(u8),
    /// The ClientHello continues in a later record; the caller has to
    /// collect the fragments and call [`ClientHello::parse`] on the whole
    /// message.
    #[error(
        "ClientHello of {message} bytes spans records (the first holds {record}): \
         parse the reassembled handshake message"
    )]
    SpansRecords {
        /// The whole handshake message, header included.
        message: usize,
        /// Handshake bytes in this record.
        record: usize,
    },
    /// A field or length prefix runs past the bytes it must fit in.
    #[error("{field}: needs {needed} bytes, {available} left")]
    Truncated {
        /// What was being read.
        field: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes there were.
        available: usize,
    },
    /// Bytes follow the declared end of a structure.
    #[error("{field}: {extra} bytes after its end")]
    TrailingBytes {
        /// The structure.
        field: &'static str,
        /// How many bytes follow it.
        extra: usize,
    },
    /// A list of 2-byte values has an odd length.
    #[error("{field}: odd length {len} for a list of 2-byte values")]
    OddLength {
        /// The list.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

/// A GREASE value (RFC 8701): `0x?a?a` with both bytes equal. Clients put
/// them in cipher, extension, group, version and signature lists at random;
/// fingerprints leave them out.
pub const fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The length, header included, of the handshake message that `prefix`
/// starts with, once its 4-byte header is there: for a reader collecting a
/// ClientHello that spans records. Cap what you buffer yourself: the 24-bit
/// length allows up to 16 MiB.
pub fn client_hello_len(prefix: &[u8]) -> Result<usize, ClientHelloError> {
    let mut r = Reader::new(prefix);
    let kind = r.u8("handshake header")?;
    if kind != HANDSHAKE_CLIENT_HELLO {
        return Err(ClientHelloError::NotClientHello(kind));
    }
    Ok(HANDSHAKE_HEADER + r.u24("handshake header")?)
}

/// A parsed ClientHello, borrowing the message bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello<'a> {
    legacy_version: u16,
    random: &'a [u8],
    session_id: &'a [u8],
    cipher_suites: U16List<'a>,
    compression_methods: &'a [u8],
    extensions: &'a [u8],
    has_server_name: bool,
    server_name: Option<&'a [u8]>,
    alpn: Option<AlpnList<'a>>,
    supported_versions: Option<U16List<'a>>,
    supported_groups: Option<U16List<'a>>,
    ec_point_formats: Option<&'a [u8]>,
    signature_algorithms: Option<U16List<'a>>,
}

impl<'a> ClientHello<'a> {
    /// Parses one whole ClientHello handshake message: the 4-byte handshake
    /// header (`01 LL LL LL`) and exactly the body it declares. A message
    /// that spanned several records is passed reassembled (the record
    /// headers removed, the fragments concatenated).
    pub fn parse(message: &'a [u8]) -> Result<Self, ClientHelloError> {
        let total = client_hello_len(message)?;
        if message.len() < total {
            return Err(ClientHelloError::Truncated {
                field: "ClientHello",
                needed: total - HANDSHAKE_HEADER,
                available: message.len().saturating_sub(HANDSHAKE_HEADER),
            });
        }
        if message.len() > total {
            return Err(ClientHelloError::TrailingBytes {
                field: "ClientHello",
                extra: message.len() - total,
            });
        }
        Self::parse_body(&message[HANDSHAKE_HEADER..])
    }

    /// Parses the ClientHello in the first TLS record of `bytes` (`16 03 0x
    /// LL LL`, then the handshake message). Bytes after that record (early
    /// data, say) are ignored. A ClientHello that continues in the next
    /// record is [`ClientHelloError::SpansRecords`].
    pub fn from_record(bytes: &'a [u8]) -> Result<Self, ClientHelloError> {
        let mut r = Reader::new(bytes);
        let content_type = r.u8("record header")?;
        if content_type != CONTENT_TYPE_HANDSHAKE {
            return Err(ClientHelloError::NotHandshakeRecord(content_type));
        }
        let version = r.u16("record header")?;
        if version >> 8 != 3 {
            return Err(ClientHelloError::BadRecordVersion(version));
        }
        let len = r.u16("record header")? as usize;
        if len > MAX_RECORD_BODY {
            return Err(ClientHelloError::RecordTooLong(len));
        }
        let body = r.take(len, "record body")?;
        let message = client_hello_len(body)?;
        if message > body.len() {
            return Err(ClientHelloError::SpansRecords {
                message,
                record: body.len(),
            });
        }
        if message < body.len() {
            // Another handshake message after the ClientHello in the same
            // record: no client sends one before the server answers.
            return Err(ClientHelloError::TrailingBytes {
                field: "ClientHello record",
                extra: body.len() - message,
            });
        }
        Self::parse_body(&body[HANDSHAKE_HEADER..])
    }

    fn parse_body(body: &'a [u8]) -> Result<Self, ClientHelloError> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16("legacy_version")?;
        let random = r.take(32, "random")?;
        let session_id = r.vec8("legacy_session_id")?;
        let cipher_suites = U16List::new(r.vec16("cipher_suites")?, "cipher_suites")?;
        let compression_methods = r.vec8("legacy_compression_methods")?;
        let mut hello = ClientHello {
            legacy_version,
            random,
            session_id,
            cipher_suites,
            compression_methods,
            extensions: &[],
            has_server_name: false,
            server_name: None,
            alpn: None,
            supported_versions: None,
            supported_groups: None,
            ec_point_formats: None,
            signature_algorithms: None,
        };
        // Pre-TLS-1.2 clients may end the hello here, without extensions.
        if r.is_empty() {
            return Ok(hello);
        }
        hello.extensions = r.vec16("extensions")?;
        r.finish("ClientHello")?;

        let mut exts = Reader::new(hello.extensions);
        while !exts.is_empty() {
            let kind = exts.u16("extension header")?;
            let data = exts.vec16("extension data")?;
            hello.read_extension(kind, data)?;
        }
        Ok(hello)
    }

    /// Validates a well-known extension and keeps its first occurrence.
    fn read_extension(&mut self, kind: u16, data: &'a [u8]) -> Result<(), ClientHelloError> {
        match kind {
            ext::SERVER_NAME => {
                let name = parse_server_name(data)?;
                if !self.has_server_name {
                    self.has_server_name = true;
                    self.server_name = name;
                }
            }
            ext::ALPN => {
                let list = AlpnList::new(data)?;
                self.alpn.get_or_insert(list);
            }
            ext::SUPPORTED_VERSIONS => {
                let mut r = Reader::new(data);
                let list = U16List::new(r.vec8("supported_versions")?, "supported_versions")?;
                r.finish("supported_versions")?;
                self.supported_versions.get_or_insert(list);
            }
            ext::SUPPORTED_GROUPS => {
                let list = u16_list_ext(data, "supported_groups")?;
                self.supported_groups.get_or_insert(list);
            }
            ext::EC_POINT_FORMATS => {
                let mut r = Reader::new(data);
                let list = r.vec8("ec_point_formats")?;
                r.finish("ec_point_formats")?;
                self.ec_point_formats.get_or_insert(list);
            }
            ext::SIGNATURE_ALGORITHMS => {
                let list = u16_list_ext(data, "signature_algorithms")?;
                self.signature_algorithms.get_or_insert(list);
            }
            _ => {}
        }
        Ok(())
    }

    /// `legacy_version` (0x0303 from any TLS 1.2 or 1.3 client).
    pub fn legacy_version(&self) -> u16 {
        self.legacy_version
    }

    /// The 32 random bytes.
    pub fn random(&self) -> &'a [u8] {
        self.random
    }

    /// `legacy_session_id`.
    pub fn session_id(&self) -> &'a [u8] {
        self.session_id
    }

    /// Cipher suites in wire order, GREASE included.
    pub fn cipher_suites(&self) -> U16List<'a> {
        self.cipher_suites
    }

    /// `legacy_compression_methods`.
    pub fn compression_methods(&self) -> &'a [u8] {
        self.compression_methods
    }

    /// Every extension in wire order, GREASE and duplicates included.
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions {
            rest: self.extensions,
        }
    }

    /// Whether a server_name extension is present (JA4's `d`), even one
    /// without a host name.
    pub fn has_server_name(&self) -> bool {
        self.has_server_name
    }

    /// The first `host_name` of the server_name extension, as sent (not
    /// checked to be a valid DNS name or UTF-8).
    pub fn server_name(&self) -> Option<&'a [u8]> {
        self.server_name
    }

    /// The ALPN protocol names, if the extension is present.
    pub fn alpn(&self) -> Option<AlpnList<'a>> {
        self.alpn
    }

    /// supported_versions, GREASE included, if present.
    pub fn supported_versions(&self) -> Option<U16List<'a>> {
        self.supported_versions
    }

    /// supported_groups (JA3's "elliptic curves"), GREASE included.
    pub fn supported_groups(&self) -> Option<U16List<'a>> {
        self.supported_groups
    }

    /// ec_point_formats, one byte each.
    pub fn ec_point_formats(&self) -> Option<&'a [u8]> {
        self.ec_point_formats
    }

    /// signature_algorithms in wire order, GREASE included.
    pub fn signature_algorithms(&self) -> Option<U16List<'a>> {
        self.signature_algorithms
    }
}

/// The server_name extension: a `ServerNameList` of (type, name) entries.
/// Returns the first `host_name` (type 0); other types are skipped.
fn parse_server_name(data: &[u8]) -> Result<Option<&[u8]>, ClientHelloError> {
    let mut outer = Reader::new(data);
    let list = outer.vec16("server_name list")?;
    outer.finish("server_name")?;
    let mut r = Reader::new(list);
    let mut host = None;
    while !r.is_empty() {
        let name_type = r.u8("server_name entry")?;
        let name = r.vec16("server_name entry")?;
        if name_type == 0 && host.is_none() {
            host = Some(name);
        }
    }
    Ok(host)
}

/// An extension whose data is one `u16`-length-prefixed list of `u16`s.
fn u16_list_ext<'a>(data: &'a [u8], field: &'static str) -> Result<U16List<'a>, ClientHelloError> {
    let mut r = Reader::new(data);
    let list = U16List::new(r.vec16(field)?, field)?;
    r.finish(field)?;
    Ok(list)
}

/// A validated list of big-endian `u16` values (even length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct U16List<'a>(&'a [u8]);

impl<'a> U16List<'a> {
    fn new(bytes: &'a [u8], field: &'static str) -> Result<Self, ClientHelloError> {
        if bytes.len() % 2 != 0 {
            return Err(ClientHelloError::OddLength {
                field,
                len: bytes.len(),
            });
        }
        Ok(U16List(bytes))
    }

    /// The values, in wire order.
    pub fn iter(&self) -> U16Iter<'a> {
        U16Iter(self.0.chunks_exact(2))
    }

    /// How many values (GREASE included).
    pub fn len(&self) -> usize {
        self.0.len() / 2
    }

    /// No values at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl<'a> IntoIterator for U16List<'a> {
    type Item = u16;
    type IntoIter = U16Iter<'a>;
    fn into_iter(self) -> U16Iter<'a> {
        self.iter()
    }
}

/// Iterator over a [`U16List`].
#[derive(Clone, Debug)]
pub struct U16Iter<'a>(std::slice::ChunksExact<'a, u8>);

impl Iterator for U16Iter<'_> {
    type Item = u16;
    fn next(&mut self) -> Option<u16> {
        self.0.next().map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for U16Iter<'_> {}

/// The validated ALPN `ProtocolNameList`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlpnList<'a>(&'a [u8]);

impl<'a> AlpnList<'a> {
    fn new(data: &'a [u8]) -> Result<Self, ClientHelloError> {
        let mut outer = Reader::new(data);
        let list = outer.vec16("ALPN list")?;
        outer.finish("ALPN")?;
        let mut r = Reader::new(list);
        while !r.is_empty() {
            r.vec8("ALPN protocol name")?;
        }
        Ok(AlpnList(list))
    }

    /// The protocol names in the client's order of preference.
    pub fn iter(&self) -> AlpnIter<'a> {
        AlpnIter(self.0)
    }

    /// The first (most preferred) name, if any. It may be empty.
    pub fn first(&self) -> Option<&'a [u8]> {
        self.iter().next()
    }
}

impl<'a> IntoIterator for AlpnList<'a> {
    type Item = &'a [u8];
    type IntoIter = AlpnIter<'a>;
    fn into_iter(self) -> AlpnIter<'a> {
        self.iter()
    }
}

/// Iterator over an [`AlpnList`].
#[derive(Clone, Debug)]
pub struct AlpnIter<'a>(&'a [u8]);

impl<'a> Iterator for AlpnIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        // Validated at parse time; a short list just ends the iteration.
        let (&len, rest) = self.0.split_first()?;
        let name = rest.get(..len as usize)?;
        self.0 = &rest[name.len()..];
        Some(name)
    }
}

/// One extension: its type and its data (without the length prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The ExtensionType value.
    pub kind: u16,
    /// The extension_data bytes.
    pub data: &'a [u8],
}

/// Iterator over a ClientHello's extensions in wire order.
#[derive(Clone, Debug)]
pub struct Extensions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Extension<'a>;
    fn next(&mut self) -> Option<Extension<'a>> {
        // Validated at parse time; a short block just ends the iteration.
        let mut r = Reader::new(self.rest);
        let kind = r.u16("").ok()?;
        let data = r.vec16("").ok()?;
        self.rest = r.rest;
        Some(Extension { kind, data })
    }
}

/// A bounds-checked cursor. Every read names the field it reads, for the
/// error.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ClientHelloError> {
        if self.rest.len() < n {
            return Err(ClientHelloError::Truncated {
                field,
                needed: n,
                available: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ClientHelloError> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, ClientHelloError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self, field: &'static str) -> Result<usize, ClientHelloError> {
        let b = self.take(3, field)?;
        Ok((b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize)
    }

    /// A `u8`-length-prefixed byte string.
    fn vec8(&mut self, field: &'static str) -> Result<&'a [u8], ClientHelloError> {
        let n = self.u8(field)? as usize;
        self.take(n, field)
    }

    /// A `u16`-length-prefixed byte string.
    fn vec16(&mut self, field: &'static str) -> Result<&'a [u8], ClientHelloError> {
        let n = self.u16(field)? as usize;
        self.take(n, field)
    }

    /// Nothing may be left.
    fn finish(&self, field: &'static str) -> Result<(), ClientHelloError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ClientHelloError::TrailingBytes {
                field,
                extra: self.rest.len(),
            })
        }
    }
}
