//! Decoy tokens: what a deceived login hands out. They look like ordinary
//! HS256 JWTs (header.payload.signature, base64url) with a random subject and
//! an expiry, and they authenticate themselves: the signature is an
//! HMAC-SHA256 under the process's decoy key, so every core recognises a decoy
//! it did not issue without sharing state. Recognition is cheap: only a value
//! that starts with this key's constant header segment is checked at all.

use sha2::{Digest, Sha256};

/// Longest token [`Decoys::mint`] writes.
pub const MAX_TOKEN: usize = 256;
const SIG_B64: usize = 43;
const PAYLOAD_JSON: usize = 60;

/// Mints and recognises decoy tokens (one per core; a copy of the key each).
#[derive(Clone)]
pub struct Decoys {
    inner: Sha256,
    outer: Sha256,
    /// base64url of the constant JWT header (names this key by a fingerprint).
    header: [u8; 80],
    header_len: usize,
}

impl Decoys {
    pub fn new(key: &[u8; 32]) -> Decoys {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, k) in key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let mut inner = Sha256::new();
        inner.update(ipad);
        let mut outer = Sha256::new();
        outer.update(opad);
        let fp: [u8; 32] = Sha256::digest(key).into();
        let mut json = *br#"{"alg":"HS256","typ":"JWT","kid":"00000000"}"#;
        hex(&fp[..4], &mut json[34..42]);
        let mut header = [0u8; 80];
        let header_len = b64url(&json, &mut header);
        Decoys {
            inner,
            outer,
            header,
            header_len,
        }
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut i = self.inner.clone();
        i.update(data);
        let ih: [u8; 32] = i.finalize().into();
        let mut o = self.outer.clone();
        o.update(ih);
        o.finalize().into()
    }

    /// Writes a token for a subject of `subject` (random bits) issued at
    /// `now_s`, valid an hour; returns its length.
    pub fn mint(&self, subject: u64, now_s: u64, out: &mut [u8; MAX_TOKEN]) -> usize {
        let mut json = *br#"{"sub":"0000000000000000","iat":0000000000,"exp":0000000000}"#;
        debug_assert_eq!(json.len(), PAYLOAD_JSON);
        hex(&subject.to_be_bytes(), &mut json[8..24]);
        digits(now_s % 10_000_000_000, &mut json[32..42]);
        digits((now_s + 3600) % 10_000_000_000, &mut json[49..59]);
        let h = self.header_len;
        out[..h].copy_from_slice(&self.header[..h]);
        out[h] = b'.';
        let p = b64url(&json, &mut out[h + 1..]);
        let signed = h + 1 + p;
        let sig = self.mac(&out[..signed]);
        out[signed] = b'.';
        let s = b64url(&sig, &mut out[signed + 1..]);
        signed + 1 + s
    }

    /// Whether `token` is a decoy of this key.
    pub fn is_decoy(&self, token: &[u8]) -> bool {
        let h = self.header_len;
        if token.len() < h + 2 + SIG_B64 || token[..h] != self.header[..h] || token[h] != b'.' {
            return false;
        }
        let dot = token.len() - SIG_B64 - 1;
        if token[dot] != b'.' {
            return false;
        }
        let want = self.mac(&token[..dot]);
        let mut enc = [0u8; SIG_B64 + 1];
        b64url(&want, &mut enc);
        enc[..SIG_B64]
            .iter()
            .zip(&token[dot + 1..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Finds a decoy in a request header value (`Authorization: Bearer …`, a
    /// cookie, any value): looks only where this key's header segment occurs.
    pub fn find_in(&self, value: &[u8]) -> bool {
        let h = &self.header[..self.header_len];
        let mut at = 0;
        while let Some(i) = memchr::memmem::find(&value[at..], h) {
            let start = at + i;
            let end = value[start..]
                .iter()
                .position(|&b| matches!(b, b';' | b',' | b' ' | b'"' | b'\t'))
                .map_or(value.len(), |n| start + n);
            if self.is_decoy(&value[start..end]) {
                return true;
            }
            at = start + 1;
        }
        false
    }
}

fn hex(bytes: &[u8], out: &mut [u8]) {
    const H: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = H[(b >> 4) as usize];
        out[2 * i + 1] = H[(b & 15) as usize];
    }
}

fn digits(mut v: u64, out: &mut [u8]) {
    for o in out.iter_mut().rev() {
        *o = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Unpadded base64url; returns the length written.
fn b64url(data: &[u8], out: &mut [u8]) -> usize {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut n = 0;
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let k = c.len() + 1;
        for j in 0..k {
            out[n] = A[((v >> (18 - 6 * j)) & 63) as usize];
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_look_like_jwts_and_are_recognised_by_any_copy() {
        let d = Decoys::new(&[7; 32]);
        let mut buf = [0u8; MAX_TOKEN];
        let n = d.mint(0xdead_beef_0123_4567, 1_700_000_000, &mut buf);
        let t = &buf[..n];
        assert_eq!(t.iter().filter(|&&b| b == b'.').count(), 2);
        assert!(t.starts_with(b"eyJ"), "a JSON header, as JWTs have");
        assert!(d.clone().is_decoy(t));
        let mut forged = t.to_vec();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(!d.is_decoy(&forged));
        assert!(!Decoys::new(&[8; 32]).is_decoy(t), "another key's token");
        let mut cookie = b"theme=dark; session=".to_vec();
        cookie.extend_from_slice(t);
        cookie.extend_from_slice(b"; x=1");
        assert!(d.find_in(&cookie));
        assert!(!d.find_in(b"Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc"));
    }

    #[test]
    fn hmac_is_rfc_4231_test_case_1() {
        // A 20-byte key zero-padded is the same HMAC key as the 32-byte one here.
        let mut key = [0u8; 32];
        key[..20].fill(0x0b);
        let mac = Decoys::new(&key).mac(b"Hi There");
        let mut hexed = [0u8; 64];
        hex(&mac, &mut hexed);
        assert_eq!(
            &hexed,
            b"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }
}
