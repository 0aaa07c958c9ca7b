//! JA4, the FoxIO TLS client fingerprint (`t13d1516h2_8daaf6152771_e5627efa2ab1`),
//! and its unhashed form JA4_r, computed from a [`ClientHello`] on the stack.
//!
//! The rules, from FoxIO's specification (`technical_details/JA4.md` in
//! FoxIO-LLC/ja4):
//! - `a`: `t` (TLS over TCP); the version: the highest non-GREASE value of
//!   supported_versions if the extension has one, else `legacy_version`
//!   (`13`, `12`, `11`, `10`, `s3`, `s2`, `d1`, `d2`, `d3`, else `00`); `d` if
//!   a server_name extension is present, else `i`; the number of cipher
//!   suites and of extensions, GREASE left out, two digits, at most `99`; the
//!   first and last character of the first ALPN name (`00` without one, the
//!   one character twice for a one-byte name, and the first and last hex
//!   digit of the name when either end byte is not an ASCII letter or digit).
//! - `b`: the first 12 hex digits of the SHA-256 of the cipher suites, GREASE
//!   left out, sorted, as 4-digit lowercase hex joined by commas;
//!   `000000000000` for none.
//! - `c`: the same over the extensions sorted, without GREASE, SNI (0000) and
//!   ALPN (0010), then `_` and the signature algorithms in wire order (GREASE
//!   left out; no `_` when there are none); `000000000000` when no extension
//!   is left to sort.
//!
//! JA4_r prints `b` and `c` before hashing. Lists are sorted in fixed arrays:
//! past [`MAX_CIPHERS`] cipher suites or [`MAX_EXTENSIONS`] extensions (after
//! GREASE is removed) the extra values are left out of the hashed and raw
//! lists, so such a hello's `b`/`c` differ from the specification's; the
//! counts in `a` still count every value. Real clients send at most a few
//! dozen of each; only a crafted hello goes past.

use std::fmt::{self, Write as _};

use sha2::{Digest, Sha256};

use super::client_hello::{ext, is_grease, ClientHello};
use super::lists::{hex_into, write_hex_list, DigestWriter, Sorted, HEX};

/// Cipher suites sorted for `b`; more are left out (see the module doc).
pub const MAX_CIPHERS: usize = 512;
/// Extensions sorted for `c`; more are left out (see the module doc).
pub const MAX_EXTENSIONS: usize = 128;
/// Length of a JA4 fingerprint.
pub const JA4_LEN: usize = 36;

/// A JA4 fingerprint, 36 ASCII bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ja4([u8; JA4_LEN]);

impl Ja4 {
    /// The fingerprint of `hello`.
    pub fn of(hello: &ClientHello<'_>) -> Ja4 {
        let parts = Parts::of(hello);
        let mut out = [b'0'; JA4_LEN];
        out[..10].copy_from_slice(&parts.a);
        out[10] = b'_';
        if !parts.ciphers.is_empty() {
            let mut sha = Sha256::new();
            // Writing into a digest cannot fail.
            let _ = write_hex_list(
                &mut DigestWriter(&mut sha),
                parts.ciphers.as_slice().iter().copied(),
            );
            hex_into(&sha.finalize()[..6], &mut out[11..23]);
        }
        out[23] = b'_';
        if !parts.extensions.is_empty() {
            let mut sha = Sha256::new();
            let _ = parts.write_c(&mut DigestWriter(&mut sha), hello);
            hex_into(&sha.finalize()[..6], &mut out[24..36]);
        }
        Ja4(out)
    }

    /// The fingerprint as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written into it.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The fingerprint's bytes.
    pub fn as_bytes(&self) -> &[u8; JA4_LEN] {
        &self.0
    }
}

impl fmt::Display for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ja4({})", self.as_str())
    }
}

/// JA4_r, the unhashed JA4 (`t13d1516h2_002f,0035,…_0005,000a,…_0403,…`),
/// printed on demand: format it into whatever buffer you have. Its length
/// grows with the hello (about 5 bytes a value).
#[derive(Clone, Copy, Debug)]
pub struct Ja4Raw<'a>(ClientHello<'a>);

impl<'a> Ja4Raw<'a> {
    /// JA4_r of `hello`.
    pub fn of(hello: &ClientHello<'a>) -> Self {
        Ja4Raw(*hello)
    }
}

impl fmt::Display for Ja4Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = Parts::of(&self.0);
        for &b in &parts.a {
            f.write_char(b as char)?;
        }
        f.write_char('_')?;
        write_hex_list(f, parts.ciphers.as_slice().iter().copied())?;
        f.write_char('_')?;
        parts.write_c(f, &self.0)
    }
}

/// What JA4 and JA4_r share: part `a` and the sorted lists.
struct Parts {
    a: [u8; 10],
    ciphers: Sorted<MAX_CIPHERS>,
    extensions: Sorted<MAX_EXTENSIONS>,
}

impl Parts {
    fn of(hello: &ClientHello<'_>) -> Parts {
        let ciphers = || hello.cipher_suites().iter().filter(|&c| !is_grease(c));
        let extensions = || {
            hello
                .extensions()
                .map(|e| e.kind)
                .filter(|&k| !is_grease(k))
        };
        let mut a = [0u8; 10];
        a[0] = b't';
        a[1..3].copy_from_slice(&version_code(version(hello)));
        a[3] = if hello.has_server_name() { b'd' } else { b'i' };
        a[4..6].copy_from_slice(&two_digits(ciphers().count()));
        a[6..8].copy_from_slice(&two_digits(extensions().count()));
        a[8..10].copy_from_slice(&alpn_code(hello.alpn().and_then(|l| l.first())));
        Parts {
            a,
            ciphers: Sorted::collect(ciphers()),
            extensions: Sorted::collect(
                extensions().filter(|&k| k != ext::SERVER_NAME && k != ext::ALPN),
            ),
        }
    }

    /// Part `c` before hashing: sorted extensions, then `_` and the
    /// signature algorithms if there are any.
    fn write_c(&self, w: &mut impl fmt::Write, hello: &ClientHello<'_>) -> fmt::Result {
        write_hex_list(w, self.extensions.as_slice().iter().copied())?;
        let sigs = || {
            hello
                .signature_algorithms()
                .into_iter()
                .flatten()
                .filter(|&s| !is_grease(s))
        };
        if sigs().next().is_some() {
            w.write_char('_')?;
            write_hex_list(w, sigs())?;
        }
        Ok(())
    }
}

/// The version JA4 reports: the highest non-GREASE supported_versions
/// value, else `legacy_version`.
fn version(hello: &ClientHello<'_>) -> u16 {
    hello
        .supported_versions()
        .and_then(|v| v.iter().filter(|&v| !is_grease(v)).max())
        .unwrap_or(hello.legacy_version())
}

fn version_code(v: u16) -> [u8; 2] {
    match v {
        0x0304 => *b"13",
        0x0303 => *b"12",
        0x0302 => *b"11",
        0x0301 => *b"10",
        0x0300 => *b"s3",
        0x0002 => *b"s2",
        0xfeff => *b"d1",
        0xfefd => *b"d2",
        0xfefc => *b"d3",
        _ => *b"00",
    }
}

fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(99) as u8;
    [b'0' + n / 10, b'0' + n % 10]
}

/// JA4's ALPN characters for the first protocol name.
pub(crate) fn alpn_code(first: Option<&[u8]>) -> [u8; 2] {
    let Some((&head, &tail)) = first.and_then(|n| Some((n.first()?, n.last()?))) else {
        return *b"00";
    };
    if head.is_ascii_alphanumeric() && tail.is_ascii_alphanumeric() {
        [head, tail]
    } else {
        [HEX[(head >> 4) as usize], HEX[(tail & 0xf) as usize]]
    }
}
