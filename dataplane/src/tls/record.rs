//! TLS record protection after the handshake: seals and opens application-data
//! records in place with the traffic keys rustls negotiated.
//!
//! rustls 0.23 copies every received record into a fresh `Vec` and builds every
//! sent record in one, which would put two heap allocations on each request of
//! an established connection. So rustls runs the handshake (and key updates,
//! through its `KernelConnection` API, the interface meant for kTLS), and this
//! module does the per-record work the kernel would do with kTLS — which this
//! appliance's kernel may not have. `ring`'s AEADs do the cryptography; what is
//! here is only the record framing of RFC 8446 §5.2 (TLS 1.3) and RFC 5288 /
//! RFC 7905 (TLS 1.2 AES-GCM and ChaCha20-Poly1305), checked against rustls,
//! curl and OpenSSL peers in the tests.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use rustls::ConnectionTrafficSecrets;

/// Bytes of a record header.
pub const HEADER: usize = 5;
/// Largest plaintext fragment in one record (RFC 8446 §5.1).
pub const MAX_FRAGMENT: usize = 16 * 1024;
/// Largest record on the wire a peer may send: the TLS 1.2 limit of 2^14 + 2048
/// ciphertext, which also covers TLS 1.3's 2^14 + 256.
pub const MAX_RECORD: usize = HEADER + MAX_FRAGMENT + 2048;
/// Bytes a sealed record adds around its plaintext, at most: header, TLS 1.2
/// explicit nonce or the TLS 1.3 content-type byte, and the tag.
pub const OVERHEAD: usize = HEADER + 8 + 16;

/// Record content types.
pub const CHANGE_CIPHER_SPEC: u8 = 20;
pub const ALERT: u8 = 21;
pub const HANDSHAKE: u8 = 22;
pub const APPLICATION_DATA: u8 = 23;

/// Records sealed or opened with one key before the connection is closed rather
/// than risk AES-GCM's confidentiality limit (RFC 8446 §5.5 allows 2^24.5 full
/// records; rustls uses 2^23 for its own refresh point).
const SEQ_LIMIT: u64 = 1 << 23;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gcm,
    ChaCha,
}

/// Why a record could not be opened or sealed. Every one ends the connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record authentication failed")]
    BadRecord,
    #[error("record longer than TLS allows")]
    Oversized,
    #[error("unexpected record content type {0}")]
    UnexpectedType(u8),
    #[error("too many records under one key")]
    Exhausted,
    #[error("unsupported traffic secret")]
    Unsupported,
}

/// One direction's key, IV and sequence number.
pub struct RecordKey {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    seq: u64,
    version: Version,
    kind: Kind,
}

/// An opened record: its content type and where its plaintext lies in the
/// buffer that held the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub content_type: u8,
    pub start: usize,
    pub end: usize,
}

impl RecordKey {
    /// The key for one direction from the secrets rustls extracted.
    pub fn new(
        version: Version,
        seq: u64,
        secrets: &ConnectionTrafficSecrets,
    ) -> Result<RecordKey, RecordError> {
        let (alg, key, iv, kind) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => {
                (&aead::AES_128_GCM, key.as_ref(), iv.as_ref(), Kind::Gcm)
            }
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
                (&aead::AES_256_GCM, key.as_ref(), iv.as_ref(), Kind::Gcm)
            }
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (
                &aead::CHACHA20_POLY1305,
                key.as_ref(),
                iv.as_ref(),
                Kind::ChaCha,
            ),
            _ => return Err(RecordError::Unsupported),
        };
        Self::from_parts(version, seq, alg, key, iv, kind)
    }

    fn from_parts(
        version: Version,
        seq: u64,
        alg: &'static aead::Algorithm,
        key: &[u8],
        iv: &[u8],
        kind: Kind,
    ) -> Result<RecordKey, RecordError> {
        let key = UnboundKey::new(alg, key).map_err(|_| RecordError::Unsupported)?;
        let iv: [u8; NONCE_LEN] = iv.try_into().map_err(|_| RecordError::Unsupported)?;
        Ok(RecordKey {
            key: LessSafeKey::new(key),
            iv,
            seq,
            version,
            kind,
        })
    }

    /// The per-record nonce: the IV with the sequence number XORed into its
    /// last eight bytes (TLS 1.3, TLS 1.2 ChaCha20; for TLS 1.2 AES-GCM the
    /// last eight bytes are the explicit nonce sent in the record).
    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }

    fn explicit_nonce(&self) -> bool {
        self.version == Version::Tls12 && self.kind == Kind::Gcm
    }

    /// Bytes a record of `plain` bytes takes on the wire.
    pub fn sealed_len(&self, plain: usize) -> usize {
        match self.version {
            Version::Tls13 => HEADER + plain + 1 + 16,
            Version::Tls12 if self.explicit_nonce() => HEADER + 8 + plain + 16,
            Version::Tls12 => HEADER + plain + 16,
        }
    }

    /// Seals `plain` as one record of `content_type` into the front of `out`
    /// and returns its length. `out` must hold [`RecordKey::sealed_len`] bytes
    /// and `plain` at most [`MAX_FRAGMENT`].
    pub fn seal(
        &mut self,
        content_type: u8,
        plain: &[u8],
        out: &mut [u8],
    ) -> Result<usize, RecordError> {
        if self.seq >= SEQ_LIMIT {
            return Err(RecordError::Exhausted);
        }
        let total = self.sealed_len(plain.len());
        if plain.len() > MAX_FRAGMENT || out.len() < total {
            return Err(RecordError::Oversized);
        }
        let body_len = total - HEADER;
        out[0] = if self.version == Version::Tls13 {
            APPLICATION_DATA
        } else {
            content_type
        };
        out[1] = 3;
        out[2] = 3;
        out[3..5].copy_from_slice(&(body_len as u16).to_be_bytes());
        let nonce = self.nonce();
        let tag = match self.version {
            Version::Tls13 => {
                let header: [u8; HEADER] = [out[0], out[1], out[2], out[3], out[4]];
                let inner = HEADER + plain.len();
                out[HEADER..inner].copy_from_slice(plain);
                out[inner] = content_type;
                self.key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(header),
                        &mut out[HEADER..inner + 1],
                    )
                    .map_err(|_| RecordError::BadRecord)?
            }
            Version::Tls12 => {
                let at = if self.explicit_nonce() {
                    out[HEADER..HEADER + 8].copy_from_slice(&nonce[4..]);
                    HEADER + 8
                } else {
                    HEADER
                };
                out[at..at + plain.len()].copy_from_slice(plain);
                let aad = self.tls12_aad(content_type, plain.len());
                self.key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        &mut out[at..at + plain.len()],
                    )
                    .map_err(|_| RecordError::BadRecord)?
            }
        };
        out[total - 16..total].copy_from_slice(tag.as_ref());
        self.seq += 1;
        Ok(total)
    }

    fn tls12_aad(&self, content_type: u8, len: usize) -> [u8; 13] {
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&self.seq.to_be_bytes());
        aad[8] = content_type;
        aad[9] = 3;
        aad[10] = 3;
        aad[11..].copy_from_slice(&(len as u16).to_be_bytes());
        aad
    }

    /// Opens the whole record `rec` (header included) in place. The plaintext
    /// is left at `rec[start..end]`.
    pub fn open(&mut self, rec: &mut [u8]) -> Result<Opened, RecordError> {
        if self.seq >= SEQ_LIMIT {
            return Err(RecordError::Exhausted);
        }
        if rec.len() < HEADER + 16 || rec.len() > MAX_RECORD {
            return Err(RecordError::Oversized);
        }
        let outer = rec[0];
        let opened = match self.version {
            Version::Tls13 => {
                if outer != APPLICATION_DATA {
                    return Err(RecordError::UnexpectedType(outer));
                }
                let header: [u8; HEADER] = [rec[0], rec[1], rec[2], rec[3], rec[4]];
                let plain = self
                    .key
                    .open_in_place(
                        Nonce::assume_unique_for_key(self.nonce()),
                        Aad::from(header),
                        &mut rec[HEADER..],
                    )
                    .map_err(|_| RecordError::BadRecord)?;
                // The real content type is the last non-zero byte (padding is zeros).
                let Some(last) = plain.iter().rposition(|&b| b != 0) else {
                    return Err(RecordError::BadRecord);
                };
                if last > MAX_FRAGMENT {
                    return Err(RecordError::Oversized);
                }
                Opened {
                    content_type: plain[last],
                    start: HEADER,
                    end: HEADER + last,
                }
            }
            Version::Tls12 => {
                let (nonce, at) = if self.explicit_nonce() {
                    if rec.len() < HEADER + 8 + 16 {
                        return Err(RecordError::BadRecord);
                    }
                    let mut n = self.iv;
                    n[4..].copy_from_slice(&rec[HEADER..HEADER + 8]);
                    (n, HEADER + 8)
                } else {
                    (self.nonce(), HEADER)
                };
                let plain_len = rec.len() - at - 16;
                if plain_len > MAX_FRAGMENT {
                    return Err(RecordError::Oversized);
                }
                let aad = self.tls12_aad(outer, plain_len);
                let plain = self
                    .key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        &mut rec[at..],
                    )
                    .map_err(|_| RecordError::BadRecord)?;
                Opened {
                    content_type: outer,
                    start: at,
                    end: at + plain.len(),
                }
            }
        };
        self.seq += 1;
        Ok(opened)
    }
}

/// The length of the record starting at `buf[0]`, once its header is there.
pub fn record_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < HEADER {
        return None;
    }
    Some(HEADER + u16::from_be_bytes([buf[3], buf[4]]) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::cipher::{AeadKey, Iv};

    fn pair(version: Version, which: u8) -> (RecordKey, RecordKey) {
        let key32 = [7u8; 32];
        let make = || match which {
            // rustls cannot build a 16-byte AeadKey outside the crate.
            0 => RecordKey::from_parts(
                version,
                0,
                &aead::AES_128_GCM,
                &[7; 16],
                &[9; 12],
                Kind::Gcm,
            ),
            1 => RecordKey::new(
                version,
                0,
                &ConnectionTrafficSecrets::Aes256Gcm {
                    key: AeadKey::from(key32),
                    iv: Iv::new([9; 12]),
                },
            ),
            _ => RecordKey::new(
                version,
                0,
                &ConnectionTrafficSecrets::Chacha20Poly1305 {
                    key: AeadKey::from(key32),
                    iv: Iv::new([9; 12]),
                },
            ),
        };
        (make().expect("key"), make().expect("key"))
    }

    #[test]
    fn seal_then_open_round_trips_every_suite_and_version() {
        for version in [Version::Tls12, Version::Tls13] {
            for which in 0..3 {
                let (mut tx, mut rx) = pair(version, which);
                for len in [0usize, 1, 100, MAX_FRAGMENT] {
                    let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    let mut out = vec![0u8; tx.sealed_len(len)];
                    let n = tx.seal(APPLICATION_DATA, &plain, &mut out).expect("seal");
                    assert_eq!(n, out.len());
                    assert_eq!(record_len(&out), Some(n));
                    let o = rx.open(&mut out).expect("open");
                    assert_eq!(o.content_type, APPLICATION_DATA);
                    assert_eq!(&out[o.start..o.end], &plain[..]);
                }
            }
        }
    }

    #[test]
    fn a_flipped_bit_or_a_replayed_record_is_refused() {
        let (mut tx, mut rx) = pair(Version::Tls13, 0);
        let mut out = vec![0u8; tx.sealed_len(5)];
        tx.seal(APPLICATION_DATA, b"hello", &mut out).expect("seal");
        let copy = out.clone();
        out[7] ^= 1;
        assert_eq!(rx.open(&mut out), Err(RecordError::BadRecord));
        // The failed open did not advance the sequence: the intact record opens.
        let mut ok = copy.clone();
        rx.open(&mut ok).expect("intact record");
        // The same record again is under the next sequence number: refused.
        let mut again = copy;
        assert_eq!(rx.open(&mut again), Err(RecordError::BadRecord));
    }

    #[test]
    fn a_short_output_buffer_is_an_error_not_a_panic() {
        let (mut tx, _) = pair(Version::Tls12, 1);
        let mut out = [0u8; 10];
        assert_eq!(
            tx.seal(APPLICATION_DATA, b"hello", &mut out),
            Err(RecordError::Oversized)
        );
    }
}
