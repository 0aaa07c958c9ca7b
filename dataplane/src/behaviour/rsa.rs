//! RS256 (RSASSA-PKCS1-v1_5 with SHA-256, RFC 8017 §8.2.2) verification of
//! JWT signatures with the operator's RSA public keys, without allocating.
//!
//! Why not `ring` or the `rsa` crate: both allocate big integers on every
//! check, and the hot path must not allocate. The public operation is done
//! with `crypto-bigint` (RustCrypto, already in our tree under `p256`):
//! fixed-size integers on the stack and Montgomery exponentiation, with
//! 2048-bit arithmetic for keys up to 2048 bits and 4096-bit arithmetic up
//! to 4096. What is written here is only the encoding check of the RFC: the
//! signature is exactly as long as the modulus and below it, and `s^e mod n`
//! must equal `00 01 FF..FF 00 || DigestInfo(SHA-256) || H(m)` byte for byte
//! (compared as one integer, so there is no parser to fool). A JWT's
//! signature is checked once per token per core (see `jwt.rs`'s cache).

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Uint, U2048, U4096, U64};
use der::{Decode, Reader, SliceReader};
use sha2::{Digest, Sha256};

/// `DigestInfo` of a SHA-256 digest, without the 32 digest bytes (RFC 8017 §9.2 note 1).
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
/// 1.2.840.113549.1.1.1 (rsaEncryption).
const RSA_OID: &str = "1.2.840.113549.1.1.1";
/// Shortest modulus accepted (NIST SP 800-131A: 2048 bits from 2014 on).
const MIN_BITS: usize = 2048;
/// Longest signature (a 4096-bit modulus).
pub const MAX_SIG: usize = 512;

/// An RSA public key ready to verify.
#[derive(Clone, Debug)]
pub struct RsaKey {
    /// Modulus length in bytes (the signature length).
    k: usize,
    e: U64,
    e_bits: usize,
    params: Params,
}

/// Montgomery parameters for the modulus (boxed: up to 2 KiB, made once
/// per key at load).
#[derive(Clone, Debug)]
enum Params {
    Up2048(Box<DynResidueParams<{ U2048::LIMBS }>>),
    Up4096(Box<DynResidueParams<{ U4096::LIMBS }>>),
}

impl RsaKey {
    /// A key from DER: a `SubjectPublicKeyInfo` (PEM `PUBLIC KEY`) when
    /// `spki`, else a PKCS#1 `RSAPublicKey` (PEM `RSA PUBLIC KEY`).
    pub fn from_der(der: &[u8], spki: bool) -> Result<RsaKey, String> {
        let pkcs1 = if spki {
            let info = spki::SubjectPublicKeyInfoRef::from_der(der)
                .map_err(|e| format!("not a public key: {e}"))?;
            if info.algorithm.oid.to_string() != RSA_OID {
                return Err(format!("not an RSA key (algorithm {})", info.algorithm.oid));
            }
            info.subject_public_key
                .as_bytes()
                .ok_or("the key's bit string is not whole bytes")?
        } else {
            der
        };
        let mut r = SliceReader::new(pkcs1).map_err(|e| e.to_string())?;
        let (n, e) = r
            .sequence(|r| {
                let n = der::asn1::UintRef::decode(r)?;
                let e = der::asn1::UintRef::decode(r)?;
                Ok((n, e))
            })
            .map_err(|e| format!("not an RSA public key: {e}"))?;
        let n = n.as_bytes();
        let e = e.as_bytes();
        // A zero modulus has no bytes: 0 bits, refused below.
        let bits =
            (n.len() * 8).saturating_sub(n.first().map_or(8, |b| b.leading_zeros() as usize));
        if bits < MIN_BITS {
            return Err(format!(
                "the RSA modulus has {bits} bits; at least {MIN_BITS} are required"
            ));
        }
        if n.len() > MAX_SIG {
            return Err(format!(
                "the RSA modulus has {bits} bits; at most 4096 are supported"
            ));
        }
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err("the RSA modulus is even".into());
        }
        if e.len() > 8 || e.last().is_none_or(|b| b & 1 == 0) {
            return Err("the RSA public exponent must be odd, above 1 and fit 64 bits".into());
        }
        let mut e8 = [0u8; 8];
        e8[8 - e.len()..].copy_from_slice(e);
        let ev = u64::from_be_bytes(e8);
        if ev < 3 {
            return Err("the RSA public exponent must be odd, above 1 and fit 64 bits".into());
        }
        let params = if n.len() <= 256 {
            Params::Up2048(Box::new(DynResidueParams::new(&be::<{ U2048::LIMBS }>(n))))
        } else {
            Params::Up4096(Box::new(DynResidueParams::new(&be::<{ U4096::LIMBS }>(n))))
        };
        Ok(RsaKey {
            k: n.len(),
            e: U64::from_u64(ev),
            e_bits: 64 - ev.leading_zeros() as usize,
            params,
        })
    }

    /// Whether `sig` is this key's RS256 signature of `msg`.
    pub fn verify_rs256(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() != self.k {
            return false;
        }
        // The encoded message EM the signature must open to, left-padded
        // with zeros to the integer width.
        let mut em = [0u8; MAX_SIG];
        let t_len = SHA256_PREFIX.len() + 32;
        let Some(ps_len) = self.k.checked_sub(3 + t_len).filter(|&l| l >= 8) else {
            return false;
        };
        let start = MAX_SIG - self.k;
        em[start + 1] = 0x01;
        em[start + 2..start + 2 + ps_len].fill(0xff);
        let t = start + 3 + ps_len;
        em[t..t + SHA256_PREFIX.len()].copy_from_slice(&SHA256_PREFIX);
        em[t + SHA256_PREFIX.len()..].copy_from_slice(&Sha256::digest(msg));
        match &self.params {
            Params::Up2048(p) => open(p, sig, &em[MAX_SIG - 256..], &self.e, self.e_bits),
            Params::Up4096(p) => open(p, sig, &em, &self.e, self.e_bits),
        }
    }
}

/// `sig^e mod n == em`, with `sig < n` (`em` is as wide as the integers).
fn open<const L: usize>(
    p: &DynResidueParams<L>,
    sig: &[u8],
    em: &[u8],
    e: &U64,
    e_bits: usize,
) -> bool {
    let s = be::<L>(sig);
    if s >= *p.modulus() {
        return false;
    }
    let m = DynResidue::new(&s, *p)
        .pow_bounded_exp(e, e_bits)
        .retrieve();
    m == Uint::<L>::from_be_slice(em)
}

/// A big-endian integer of up to `L` words, left-padded.
fn be<const L: usize>(bytes: &[u8]) -> Uint<L> {
    let mut buf = [0u8; MAX_SIG];
    let width = L * 8;
    buf[width - bytes.len()..width].copy_from_slice(bytes);
    Uint::<L>::from_be_slice(&buf[..width])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile key files are refused with a reason, never a panic: a zero
    /// or tiny modulus, an even one, a bad exponent, truncated DER.
    #[test]
    fn degenerate_keys_are_refused() {
        // DER with minimal lengths, as the reader insists.
        fn tlv(tag: u8, v: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            match v.len() {
                l if l < 0x80 => out.push(l as u8),
                l if l < 0x100 => out.extend([0x81, l as u8]),
                l => out.extend([0x82, (l >> 8) as u8, l as u8]),
            }
            out.extend_from_slice(v);
            out
        }
        let int = |v: &[u8]| {
            let pad = v.first().is_some_and(|b| b & 0x80 != 0);
            tlv(0x02, &[if pad { &[0u8][..] } else { &[][..] }, v].concat())
        };
        let key =
            |n: &[u8], e: &[u8]| RsaKey::from_der(&tlv(0x30, &[int(n), int(e)].concat()), false);
        let err = |r: Result<RsaKey, String>| r.expect_err("refused");
        let zero = err(key(&[0], &[3]));
        assert!(
            zero.contains("at least 2048") || zero.contains("not an RSA"),
            "{zero}"
        );
        assert!(err(key(&[0x7f; 64], &[1, 0, 1])).contains("at least 2048"));
        let mut even = vec![0xc5; 256];
        even[255] = 0x10;
        assert!(err(key(&even, &[1, 0, 1])).contains("even"));
        let odd = vec![0xc5; 256];
        assert!(err(key(&odd, &[2])).contains("exponent"));
        assert!(err(key(&odd, &[1])).contains("exponent"));
        assert!(err(key(&odd, &[1; 9])).contains("exponent"));
        assert!(key(&odd, &[1, 0, 1]).is_ok());
        assert!(err(RsaKey::from_der(&[0x30, 0x82, 0x01], false)).contains("not an RSA public key"));
        assert!(RsaKey::from_der(&[], true).is_err());
    }
}
