//! TLS termination: the settings (`[tls]`), the rustls server configuration
//! built from certificate files, and the per-connection session the worker
//! drives over its io_uring buffers.
//!
//! The crypto provider is rustls's `ring` provider: it builds from crates with
//! only a C compiler (which the Hyperscan binding needs anyway), while
//! `aws-lc-rs` wants cmake and a longer build on a fresh machine; `ring` also
//! supplies the AEADs [`record`] uses once the handshake is done.

pub mod certs;
pub mod record;
pub mod reload;
pub mod session;
pub mod tickets;
pub mod upstream;

use std::path::PathBuf;
use std::time::Duration;

pub use certs::{build_server_config, TlsSetup};
pub use session::{HandshakeFacts, Progress, TlsError, TlsSession};

/// One certificate chain and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSpec {
    /// PEM file: the leaf certificate first, then intermediates.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
    /// Names this certificate answers for (exact, or `*.example.com`). Empty:
    /// the names the certificate itself is valid for.
    pub server_names: Vec<String>,
    /// 1-based line and column of `cert` and of `key` in the config file
    /// (zeros when not from a file), for errors about them.
    pub at: [(usize, usize); 2],
}

/// Lowest protocol version a client may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinVersion {
    Tls12,
    Tls13,
}

/// `[tls]`: how TLS listeners terminate TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// At least one; the first is served to clients whose SNI names none of
    /// them (or send no SNI).
    pub certificates: Vec<CertSpec>,
    pub min_version: MinVersion,
    /// ALPN protocols offered, in preference order.
    pub alpn: Vec<String>,
    /// Stateless session resumption with tickets.
    pub session_tickets: bool,
    pub ticket_lifetime: Duration,
    /// Reload when a certificate or key file changes (as well as on SIGHUP).
    pub watch: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            certificates: Vec::new(),
            min_version: MinVersion::Tls12,
            alpn: vec!["http/1.1".into()],
            session_tickets: true,
            ticket_lifetime: Duration::from_secs(12 * 3600),
            watch: true,
        }
    }
}

#[cfg(test)]
mod session_tests;
