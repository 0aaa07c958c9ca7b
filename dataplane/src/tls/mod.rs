//! TLS termination: the settings (`[tls]`), the rustls server configuration
//! built from certificate files, and the per-connection session the worker
//! drives over its io_uring buffers.
//!
//! The crypto provider is rustls's `ring` provider: it builds from crates with
//! only a C compiler (which the Hyperscan binding needs anyway), while
//! `aws-lc-rs` wants cmake and a longer build on a fresh machine; `ring` also
//! supplies the AEADs [`record`] uses once the handshake is done.

pub mod certs;
pub mod client_subject;
pub mod record;
pub mod reload;
pub mod session;
pub mod tickets;
pub mod upstream;

use std::path::PathBuf;
use std::time::Duration;

pub use certs::{build_server_config, TlsSetup};
pub use client_subject::ClientSubject;
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

/// Whether clients present certificates (`[tls] client_auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for.
    #[default]
    Off,
    /// Asked for; a client without one is served, a client with one that
    /// does not verify is refused.
    Optional,
    /// A client without a certificate that verifies is refused.
    Required,
}

impl ClientAuth {
    /// As written in the config.
    pub fn name(self) -> &'static str {
        match self {
            ClientAuth::Off => "off",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        }
    }
}

/// The CA certificates client certificates must chain to (`[tls] client_ca`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCa {
    /// PEM file of one or more CA certificates.
    pub path: PathBuf,
    /// 1-based line and column of the path in the config file (zeros when
    /// not from a file), for errors about the file.
    pub at: (usize, usize),
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
    /// Reload when a certificate, key or client CA file changes (as well as
    /// on SIGHUP).
    pub watch: bool,
    /// Client certificates (mutual TLS).
    pub client_auth: ClientAuth,
    /// Set exactly when `client_auth` is not `Off`.
    pub client_ca: Option<ClientCa>,
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
            client_auth: ClientAuth::Off,
            client_ca: None,
        }
    }
}

#[cfg(test)]
mod client_auth_tests;
#[cfg(test)]
mod session_tests;
