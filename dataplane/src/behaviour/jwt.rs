//! JWT bearer tokens: the `sub` and `iss` claims for client identity, and
//! optional signature and lifetime checks with the operator's keys.
//!
//! Only compact JWS (`header.payload.signature`, base64url) is read. The
//! payload is decoded into a per-core buffer of [`MAX_PAYLOAD`] bytes; a longer
//! one is not decoded at all (no identity from it). Claims are read with the
//! allocation-free scan of `json.rs`: top-level string members only, the last
//! of duplicates (as RFC 7519 §4 allows, and as common JSON parsers do).
//!
//! Verification (`[behaviour.jwt] verify = true`): HS256 with a shared secret
//! (`hmac` + `sha2`, both RustCrypto and already in our tree), ES256 with
//! P-256 public keys (`p256`, RustCrypto: pure Rust, so no C toolchain, and
//! its verification does not allocate, which the hot path requires) and
//! RS256 with RSA public keys of 2048 to 4096 bits (`rsa.rs`: `crypto-bigint`
//! on the stack, since `ring` and the `rsa` crate allocate per check). The
//! header's `alg` picks the key kind, so an HS256 token is never checked
//! against a public key (the classic algorithm-confusion attack), an ES256
//! token never against an RSA key, and `alg: none` never verifies.
//! `exp` and `nbf`, when present, must hold within `leeway`.
//!
//! Signature checks are remembered in a small per-core direct-mapped cache
//! keyed by the token's keyed hash, so a client re-sending its token costs one
//! payload decode, not one ECDSA verification, per request. The hash is keyed
//! with a per-process secret (see `identity.rs`), so nobody can craft a token
//! that collides with a verified one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use sha2::Sha256;

use super::b64;
use super::json::{self, Value};
use super::rsa::RsaKey;
use super::{Buf, Loc};

/// Longest decoded JWT payload read; longer tokens are not decoded.
pub const MAX_PAYLOAD: usize = 8 * 1024;
/// Longest decoded JWT header read (when verifying).
pub const MAX_HEADER: usize = 1024;
/// Signature-check cache entries per core (a power of two).
const CACHE_SLOTS: usize = 4096;

/// `[behaviour.jwt]`: whether and how tokens are verified.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// Verify signatures (and `exp`/`nbf`); off: claims are read unverified.
    pub verify: bool,
    /// HS256 shared secret (the file's bytes, one trailing newline removed).
    pub hs256_secret_file: Option<KeyFile>,
    /// ES256 (P-256) and RS256 (RSA) public keys: PEM `PUBLIC KEY` (or
    /// `RSA PUBLIC KEY`), one per file.
    pub public_keys: Vec<KeyFile>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// The keys, loaded by [`JwtConfig::load_keys`] (empty until then).
    pub keys: JwtKeys,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            verify: false,
            hs256_secret_file: None,
            public_keys: Vec::new(),
            leeway: Duration::from_secs(60),
            keys: JwtKeys::default(),
        }
    }
}

/// A key file named in the config, with where it was named (for errors).
#[derive(Clone, Debug)]
pub struct KeyFile {
    pub path: PathBuf,
    /// 1-based position of the path in the config file.
    pub line: usize,
    pub col: usize,
}

/// Loaded verification keys.
#[derive(Clone, Default)]
pub struct JwtKeys {
    pub hs256: Option<Hmac<Sha256>>,
    pub es256: Vec<VerifyingKey>,
    pub rs256: Vec<RsaKey>,
}

impl std::fmt::Debug for JwtKeys {
    // The HMAC state is derived from the secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("hs256", &self.hs256.as_ref().map(|_| "<secret>"))
            .field("es256", &self.es256.len())
            .field("rs256", &self.rs256.len())
            .finish()
    }
}

impl JwtConfig {
    /// Reads the key files (relative paths from `base`); each problem as
    /// (key file, message).
    pub fn load_keys(&mut self, base: &Path) -> Result<(), Vec<(KeyFile, String)>> {
        let mut errors = Vec::new();
        let resolve = |p: &Path| {
            if p.is_relative() {
                base.join(p)
            } else {
                p.to_path_buf()
            }
        };
        let mut keys = JwtKeys::default();
        if let Some(f) = &mut self.hs256_secret_file {
            f.path = resolve(&f.path);
            match hs256_secret(&f.path) {
                Ok(mac) => keys.hs256 = Some(mac),
                Err(e) => errors.push((f.clone(), e)),
            }
        }
        for f in &mut self.public_keys {
            f.path = resolve(&f.path);
            match public_key(&f.path) {
                Ok(PublicKey::Es256(k)) => keys.es256.push(k),
                Ok(PublicKey::Rs256(k)) => keys.rs256.push(k),
                Err(e) => errors.push((f.clone(), e)),
            }
        }
        self.keys = keys;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// An HS256 key from a secret file: its bytes, without one trailing newline
/// (secrets are usually written with `echo`). RFC 7518 §3.2 requires at least
/// 256 bits.
pub fn hs256_secret(path: &Path) -> Result<Hmac<Sha256>, String> {
    let mut secret = std::fs::read(path)
        .map_err(|e| format!("cannot read HS256 secret {}: {e}", path.display()))?;
    if secret.last() == Some(&b'\n') {
        secret.pop();
        if secret.last() == Some(&b'\r') {
            secret.pop();
        }
    }
    if secret.len() < 32 {
        return Err(format!(
            "HS256 secret {} is {} bytes; HS256 needs at least 32 (RFC 7518 section 3.2)",
            path.display(),
            secret.len()
        ));
    }
    Hmac::<Sha256>::new_from_slice(&secret)
        .map_err(|e| format!("HS256 secret {}: {e}", path.display()))
}

/// A public key for verifying tokens.
#[derive(Clone, Debug)]
pub enum PublicKey {
    Es256(VerifyingKey),
    Rs256(RsaKey),
}

/// A key from a PEM file: `PUBLIC KEY` (P-256 for ES256, or RSA for RS256)
/// or `RSA PUBLIC KEY` (PKCS#1).
pub fn public_key(path: &Path) -> Result<PublicKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read public key {}: {e}", path.display()))?;
    let what = |m: &str| format!("public key {}: {m}", path.display());
    if text.contains("PRIVATE KEY-----") {
        return Err(what(
            "is a private key; give the public key (BEGIN PUBLIC KEY), the gateway only verifies",
        ));
    }
    let der_of = |label: &str| -> Option<Vec<u8>> {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let from = text.find(&begin)? + begin.len();
        let to = from + text[from..].find(&end)?;
        let body: String = text[from..to].split_whitespace().collect();
        let mut der = Vec::with_capacity(body.len());
        b64::decode(body.as_bytes(), &mut der).then_some(der)
    };
    if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
        let der = der_of("RSA PUBLIC KEY").ok_or_else(|| what("the PEM block is not base64"))?;
        return RsaKey::from_der(&der, false)
            .map(PublicKey::Rs256)
            .map_err(|e| what(&e));
    }
    if !text.contains("-----BEGIN PUBLIC KEY-----") {
        return Err(what(
            "not a PEM public key: expected a -----BEGIN PUBLIC KEY----- block",
        ));
    }
    match VerifyingKey::from_public_key_pem(text.trim()) {
        Ok(k) => Ok(PublicKey::Es256(k)),
        Err(ec) => {
            let der = der_of("PUBLIC KEY").ok_or_else(|| what("the PEM block is not base64"))?;
            // 1.2.840.113549.1.1.1 (rsaEncryption) in DER.
            const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
            if der.windows(RSA_OID.len()).any(|w| w == RSA_OID) {
                RsaKey::from_der(&der, true)
                    .map(PublicKey::Rs256)
                    .map_err(|e| what(&e))
            } else {
                Err(what(&format!(
                    "neither a P-256 (ES256) nor an RSA (RS256) public key: {ec}"
                )))
            }
        }
    }
}

/// What a bearer token said about its holder.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome<'r> {
    pub sub: Option<Loc<'r>>,
    pub iss: Option<Loc<'r>>,
    /// Verification is on and the token is not a valid, verified, current JWT.
    pub invalid: bool,
}

/// One core's JWT reader and verifier.
pub struct JwtReader {
    verify: bool,
    keys: JwtKeys,
    leeway: i64,
    /// Keyed token hash → signature valid; 0 marks an empty slot.
    cache: Box<[(u128, bool)]>,
}

impl JwtReader {
    pub fn new(cfg: &JwtConfig) -> JwtReader {
        JwtReader {
            verify: cfg.verify,
            keys: cfg.keys.clone(),
            leeway: i64::try_from(cfg.leeway.as_secs()).unwrap_or(i64::MAX),
            cache: vec![(0u128, false); if cfg.verify { CACHE_SLOTS } else { 0 }]
                .into_boxed_slice(),
        }
    }

    /// Reads `token` (the bearer token, `digest` its keyed hash) at unix time
    /// `now`. `buf` (capacity ≥ [`MAX_PAYLOAD`] + [`MAX_HEADER`]) receives the
    /// decoded payload and header, `scratch` unescaped claims.
    pub fn read<'r>(
        &mut self,
        token: &[u8],
        digest: u128,
        now: i64,
        buf: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Outcome<'r> {
        let invalid = Outcome {
            invalid: self.verify,
            ..Outcome::default()
        };
        let mut parts = token.split(|&c| c == b'.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return invalid;
        };
        buf.clear();
        if header.is_empty()
            || b64::decoded_len(payload.len()).is_none_or(|n| n > MAX_PAYLOAD)
            || !b64::decode(payload, buf)
        {
            return invalid;
        }
        let mut sub = None;
        let mut iss = None;
        let mut exp = None;
        let mut nbf = None;
        let whole = json::scan_object(buf, false, |_, key, v| match (key, v) {
            (b"sub", Value::Str { raw, escaped }) => sub = Some((raw, escaped)),
            (b"iss", Value::Str { raw, escaped }) => iss = Some((raw, escaped)),
            (b"exp", Value::Num(n)) => exp = json::integer(n),
            (b"nbf", Value::Num(n)) => nbf = json::integer(n),
            _ => {}
        });
        if !whole {
            return invalid;
        }
        if self.verify {
            let current = exp.is_none_or(|e| now <= e.saturating_add(self.leeway))
                && nbf.is_none_or(|n| now.saturating_add(self.leeway) >= n);
            let signed_len = header.len() + 1 + payload.len();
            if !current || !self.signature_ok(header, &token[..signed_len], sig, digest) {
                return invalid;
            }
        }
        let payload_len = buf.len();
        let loc = |v: Option<(&[u8], bool)>, scratch: &mut Vec<u8>| {
            let (raw, escaped) = v?;
            if escaped {
                let mark = scratch.len();
                json::unescape(raw, scratch)
                    .then(|| Loc::In(Buf::Scratch, mark, scratch.len() - mark))
            } else {
                let start = raw.as_ptr() as usize - buf.as_ptr() as usize;
                debug_assert!(start + raw.len() <= payload_len);
                Some(Loc::In(Buf::Jwt, start, raw.len()))
            }
        };
        Outcome {
            sub: loc(sub, scratch),
            iss: loc(iss, scratch),
            invalid: false,
        }
    }

    fn signature_ok(&mut self, header: &[u8], signed: &[u8], sig: &[u8], digest: u128) -> bool {
        let slot = (digest as usize) & (self.cache.len() - 1);
        // A zero digest would read as an empty slot: not cached (2^-128).
        if digest != 0 && self.cache[slot].0 == digest {
            return self.cache[slot].1;
        }
        let ok = self.check_signature(header, signed, sig);
        self.cache[slot] = (digest, ok);
        ok
    }

    fn check_signature(&self, header: &[u8], signed: &[u8], sig: &[u8]) -> bool {
        let mut hbuf = [0u8; MAX_HEADER];
        let Some(hlen) = b64::decode_to(header, &mut hbuf) else {
            return false;
        };
        let mut alg: Option<&[u8]> = None;
        if !json::scan_object(&hbuf[..hlen], false, |_, key, v| {
            if let (b"alg", Value::Str { raw, .. }) = (key, v) {
                alg = Some(raw);
            }
        }) {
            return false;
        }
        let mut sbuf = [0u8; super::rsa::MAX_SIG];
        let Some(slen) = b64::decode_to(sig, &mut sbuf) else {
            return false;
        };
        match alg {
            Some(b"HS256") => self.keys.hs256.as_ref().is_some_and(|mac| {
                let mut mac = mac.clone();
                mac.update(signed);
                // Constant-time comparison.
                mac.verify_slice(&sbuf[..slen]).is_ok()
            }),
            Some(b"ES256") => Signature::from_slice(&sbuf[..slen])
                .is_ok_and(|s| self.keys.es256.iter().any(|k| k.verify(signed, &s).is_ok())),
            Some(b"RS256") => self
                .keys
                .rs256
                .iter()
                .any(|k| k.verify_rs256(signed, &sbuf[..slen])),
            _ => false,
        }
    }
}
