//! Compromised-credential lists: SHA-1 hashes of breached passwords (`.sha1`,
//! the `HASH:count` format breach corpora are published in) or of
//! `user:password` pairs (`.sha1pair`), held as a binary fuse filter over the
//! first 64 bits of each hash, with exact confirmation for lists small
//! enough to keep the sorted 64-bit prefixes.
//!
//! False positives for a value not in the list:
//! - filter only (lists above [`CONFIRM_MAX`] entries): at most 1/256 per
//!   check (8-bit fingerprints; measured ≈ 0.39 %), plus the 64-bit prefix
//!   collision below, negligible beside it;
//! - with confirmation (lists up to [`CONFIRM_MAX`]): a false positive needs
//!   a 64-bit prefix collision with one of the n entries, at most n / 2^64
//!   (≈ 2·10⁻¹³ at 4 M entries).
//!
//! There are no false negatives. Checking hashes the value into a stack
//! buffer and never allocates.

use sha1::{Digest, Sha1};
use xorf::{BinaryFuse8, Filter};

/// Lists up to this many distinct hashes keep their sorted 64-bit prefixes
/// (8 bytes per entry, 32 MiB at the limit) to confirm filter hits exactly.
pub const CONFIRM_MAX: usize = 4 << 20;

/// A built credential filter.
#[derive(Clone)]
pub struct CredentialFilter {
    filter: Option<BinaryFuse8>,
    exact: Option<Box<[u64]>>,
    len: usize,
}

impl std::fmt::Debug for CredentialFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialFilter")
            .field("len", &self.len)
            .field("confirmed", &self.exact.is_some())
            .field("bytes", &self.heap_bytes())
            .finish()
    }
}

impl Default for CredentialFilter {
    fn default() -> Self {
        CredentialFilter::from_keys(Vec::new())
    }
}

/// The filter key of a SHA-1: its first 64 bits.
#[inline]
pub fn key_of(digest: &[u8; 20]) -> u64 {
    let mut k = [0u8; 8];
    k.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(k)
}

/// SHA-1 of a password, as breach lists hash it. The `sha1` crate uses the
/// CPU's SHA extensions when it has them (about 10x the portable code,
/// which alone would cost more than the whole check's budget).
#[inline]
pub fn password_digest(password: &[u8]) -> [u8; 20] {
    Sha1::digest(password).into()
}

/// SHA-1 of `lowercase(user) ":" password`, the `.sha1pair` rule: the user
/// name is ASCII-lowercased (other bytes, UTF-8 included, are kept as they
/// are, with no trimming or Unicode folding); the password is used as is.
#[inline]
pub fn pair_digest(user: &[u8], password: &[u8]) -> [u8; 20] {
    let mut sha = Sha1::new();
    let mut buf = [0u8; 64];
    for chunk in user.chunks(buf.len()) {
        let out = &mut buf[..chunk.len()];
        for (o, b) in out.iter_mut().zip(chunk) {
            *o = b.to_ascii_lowercase();
        }
        sha.update(&*out);
    }
    sha.update(b":");
    sha.update(password);
    sha.finalize().into()
}

/// Why a line is not a hash.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HashError {
    /// Not 40 hex digits.
    NotHex,
    /// `:count` is not a number.
    Count,
}

/// Parses `HEX40` or `HEX40:count` (either case) into the filter key.
pub(crate) fn parse_hash_line(line: &[u8]) -> Result<u64, HashError> {
    let (hash, count) = match memchr::memchr(b':', line) {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    if hash.len() != 40 {
        return Err(HashError::NotHex);
    }
    let mut key = 0u64;
    for (i, &c) in hash.iter().enumerate() {
        let v = hex(c).ok_or(HashError::NotHex)?;
        if i < 16 {
            key = key << 4 | u64::from(v);
        }
    }
    if let Some(c) = count {
        let c = c.trim_ascii();
        if c.is_empty() || c.len() > 20 || !c.iter().all(u8::is_ascii_digit) {
            return Err(HashError::Count);
        }
    }
    Ok(key)
}

#[inline]
fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl CredentialFilter {
    /// Builds the filter from 64-bit hash prefixes (duplicates allowed).
    pub fn from_keys(mut keys: Vec<u64>) -> CredentialFilter {
        keys.sort_unstable();
        keys.dedup();
        let len = keys.len();
        // Construction only fails for pathological key sets (it retries with
        // new seeds); distinct keys make that practically impossible, and an
        // empty list needs no filter.
        let filter = if keys.is_empty() {
            None
        } else {
            BinaryFuse8::try_from(&keys).ok()
        };
        let exact = if len <= CONFIRM_MAX || filter.is_none() {
            Some(keys.into_boxed_slice())
        } else {
            None
        };
        CredentialFilter { filter, exact, len }
    }

    /// The filter alone, never confirmed, whatever the size (to measure its
    /// false-positive rate on small inputs).
    pub fn unconfirmed(keys: Vec<u64>) -> CredentialFilter {
        let mut f = CredentialFilter::from_keys(keys);
        if f.filter.is_some() {
            f.exact = None;
        }
        f
    }

    /// Whether the hash (by its prefix) is in the list.
    #[inline]
    pub fn contains_key(&self, key: u64) -> bool {
        if let Some(f) = &self.filter {
            if !f.contains(&key) {
                return false;
            }
        }
        match &self.exact {
            Some(e) => e.binary_search(&key).is_ok(),
            None => self.filter.is_some(),
        }
    }

    /// Whether the digest is in the list.
    #[inline]
    pub fn contains_digest(&self, digest: &[u8; 20]) -> bool {
        self.contains_key(key_of(digest))
    }

    /// Distinct hashes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No hashes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether filter hits are confirmed exactly.
    pub fn confirmed(&self) -> bool {
        self.exact.is_some()
    }

    /// Memory held, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.filter.as_ref().map_or(0, |f| f.fingerprints.len())
            + self.exact.as_ref().map_or(0, |e| e.len() * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex40(d: &[u8; 20]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hash_lines() {
        let k = 0x7c4a_8d09_ca37_62af;
        assert_eq!(
            parse_hash_line(b"7C4A8D09CA3762AF61E59520943DC26494F8941B"),
            Ok(k)
        );
        assert_eq!(
            parse_hash_line(b"7c4a8d09ca3762af61e59520943dc26494f8941b:24230577"),
            Ok(k)
        );
        assert_eq!(
            parse_hash_line(b"7C4A8D09CA3762AF61E59520943DC26494F8941B:"),
            Err(HashError::Count)
        );
        assert_eq!(
            parse_hash_line(b"7C4A8D09CA3762AF61E59520943DC26494F8941B:12x"),
            Err(HashError::Count)
        );
        assert_eq!(
            parse_hash_line(b"7C4A8D09CA3762AF61E59520943DC26494F8941"),
            Err(HashError::NotHex)
        );
        assert_eq!(
            parse_hash_line(b"7C4A8D09CA3762AF61E59520943DC26494F8941G"),
            Err(HashError::NotHex)
        );
    }

    #[test]
    fn pair_rule_lowercases_the_user_only() {
        // sha1("alice@example.com:Secret1"), computed independently:
        // printf '%s' 'alice@example.com:Secret1' | sha1sum
        let d = pair_digest(b"Alice@Example.COM", b"Secret1");
        assert_eq!(hex40(&d), "0d019bc5db4ce1dfbdfeaae94fba68262a5ee566");
        assert_eq!(d, pair_digest(b"alice@example.com", b"Secret1"));
        assert_ne!(d, pair_digest(b"alice@example.com", b"secret1"));
        // Long user names are hashed whole (the stack buffer is reused).
        let long = "U".repeat(200);
        let expect = sha1_smol::Sha1::from(format!("{}:pw", "u".repeat(200))).digest();
        assert_eq!(pair_digest(long.as_bytes(), b"pw"), expect.bytes());
        // Non-ASCII bytes are kept as they are.
        let expect = sha1_smol::Sha1::from("émile:pw".as_bytes()).digest();
        assert_eq!(pair_digest("émile".as_bytes(), b"pw"), expect.bytes());
        assert_ne!(pair_digest("Émile".as_bytes(), b"pw"), expect.bytes());
    }

    #[test]
    fn filter_has_no_false_negatives() {
        let keys: Vec<u64> = (0..10_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let f = CredentialFilter::from_keys(keys.clone());
        assert!(f.confirmed());
        assert!(keys.iter().all(|k| f.contains_key(*k)));
        assert!(!f.contains_key(1));
        assert!(!CredentialFilter::default().contains_key(0));
    }
}
