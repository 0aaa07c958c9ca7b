//! Inline enforcement beyond answering at once: holding (tarpit) and delayed
//! deception, the per-core timed tables (escalation denylist, deceived
//! clients), what deception learns from the upstream per route, and decoy
//! tokens. The worker's side of it lives in `worker::enforce`; everything
//! here is allocation-free after construction.

pub mod date;
pub mod decoy;
pub mod learn;
pub mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[enforcement]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnforcementConfig {
    /// Connections one core holds at once (tarpit and delayed deception);
    /// beyond it the final action applies at once.
    pub tarpit_max_per_core: usize,
    /// Entries of each per-core timed table (escalation denylist, deceived clients).
    pub denylist_capacity: usize,
    /// How long a deceived client keeps being deceived on the same route.
    pub deceive_remember: Duration,
    /// Cap on the latency a deception imitates.
    pub deceive_max_delay: Duration,
    /// Learn a route's response headers again after this many responses.
    pub learn_every: u32,
    /// Key file for decoy tokens (created with a fresh key when missing);
    /// without it the key is new at every start.
    pub decoy_secret_file: Option<PathBuf>,
    /// Close the client connection after a policy's answer even when the
    /// request was read whole (default: keep it, as for any response).
    pub close_after_stop: bool,
}

impl Default for EnforcementConfig {
    fn default() -> Self {
        EnforcementConfig {
            tarpit_max_per_core: 1024,
            denylist_capacity: 4096,
            deceive_remember: Duration::from_secs(600),
            deceive_max_delay: Duration::from_secs(2),
            learn_every: 100,
            decoy_secret_file: None,
            close_after_stop: false,
        }
    }
}

/// The decoy-token key: read from `file` (64 hex digits), or created there
/// from the OS's random source when the file does not exist yet, or random
/// for this process only when there is no file. Runs at startup.
pub fn load_decoy_secret(file: Option<&Path>) -> std::io::Result<[u8; 32]> {
    let Some(path) = file else {
        return random_bytes();
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_hex_key(text.trim()).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: a decoy secret file holds 64 hex digits",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random_bytes()?;
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            f.write_all(hex.as_bytes())?;
            f.write_all(b"\n")?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

fn parse_hex_key(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Random bytes from the kernel (startup only).
pub fn random_bytes() -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut out = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut out)?;
    Ok(out)
}

/// A small per-core PRNG (xorshift64*): deception delays and decoy subjects
/// need to look random, not to be secret.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_created_then_reused() {
        let dir = std::env::temp_dir().join(format!("rampart-secret-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let a = load_decoy_secret(Some(&dir)).expect("create");
        let b = load_decoy_secret(Some(&dir)).expect("reuse");
        assert_eq!(a, b);
        std::fs::write(&dir, "zz").expect("write");
        let e = load_decoy_secret(Some(&dir)).expect_err("bad file");
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        let _ = std::fs::remove_file(&dir);
        assert_ne!(load_decoy_secret(None).expect("random"), [0; 32]);
    }
}
