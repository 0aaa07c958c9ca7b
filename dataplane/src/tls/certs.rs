//! Certificates and keys from PEM files, the SNI certificate choice, and the
//! rustls server configuration every core shares (read-only) until the next
//! reload.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring as provider;
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sha2::{Digest, Sha256};

use super::tickets::TicketKeys;
use super::{CertSpec, ClientAuth, MinVersion, TlsConfig};

/// A certificate or configuration problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: cannot read certificate chain: {why}")]
    Chain { path: String, why: String },
    #[error("{path}: no certificate in the file (expected PEM `BEGIN CERTIFICATE` blocks)")]
    NoCertificate { path: String },
    #[error("{path}: cannot read private key: {why}")]
    Key { path: String, why: String },
    #[error("{path}: unsupported private key: {why}")]
    KeyType { path: String, why: String },
    #[error("{key}: this key does not belong to the certificate in {cert}")]
    Mismatch { cert: String, key: String },
    #[error("{path}: the certificate cannot be parsed: {why}")]
    BadCertificate { path: String, why: String },
    #[error("{path}: cannot read client CA certificates: {why}")]
    CaRead { path: String, why: String },
    #[error("{path}: no CA certificate in the file (expected PEM `BEGIN CERTIFICATE` blocks)")]
    NoCa { path: String },
    #[error("{path}: CA certificate {index} of the file cannot be a trust anchor: {why}")]
    BadCa {
        path: String,
        /// 1-based, in file order.
        index: usize,
        why: String,
    },
    #[error("invalid server name {0:?}")]
    BadName(String),
    #[error("TLS setup: {0}")]
    Setup(String),
    #[error("no certificate configured")]
    Empty,
}

impl CertError {
    /// The problem is with the key file (else the certificate file).
    pub fn about_key(&self) -> bool {
        matches!(
            self,
            CertError::Key { .. } | CertError::KeyType { .. } | CertError::Mismatch { .. }
        )
    }
}

struct Entry {
    key: Arc<CertifiedKey>,
    /// Lowercased exact names and `*.suffix` patterns; empty means ask the
    /// certificate itself.
    names: Vec<String>,
}

/// Picks a certificate by SNI: explicit names first, then the certificates
/// that name the host themselves, then the first (default) certificate.
pub struct SniResolver {
    entries: Vec<Entry>,
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SniResolver")
            .field("certificates", &self.entries.len())
            .finish()
    }
}

fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        // A wildcard covers exactly one label, as in certificates.
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(suffix)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

impl SniResolver {
    /// The certificate for `host` (`None`: no SNI).
    pub fn choose(&self, host: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        if let Some(host) = host {
            if let Some(e) = self
                .entries
                .iter()
                .find(|e| e.names.iter().any(|n| name_matches(n, host)))
            {
                return Some(&e.key);
            }
            if let Ok(name) = ServerName::try_from(host) {
                for e in self.entries.iter().filter(|e| e.names.is_empty()) {
                    let Some(der) = e.key.cert.first() else {
                        continue;
                    };
                    let valid = webpki::EndEntityCert::try_from(der)
                        .is_ok_and(|c| c.verify_is_valid_for_subject_name(&name).is_ok());
                    if valid {
                        return Some(&e.key);
                    }
                }
            }
        }
        self.entries.first().map(|e| &e.key)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name()).cloned()
    }
}

/// Reads one certificate chain and key, checking that they belong together.
pub fn load_certified_key(spec: &CertSpec) -> Result<CertifiedKey, CertError> {
    let cert_path = spec.cert.display().to_string();
    let key_path = spec.key.display().to_string();
    let chain = read_chain(&spec.cert)?;
    let key = PrivateKeyDer::from_pem_file(&spec.key).map_err(|e| CertError::Key {
        path: key_path.clone(),
        why: pem_why(e),
    })?;
    let signer = provider::sign::any_supported_type(&key).map_err(|e| CertError::KeyType {
        path: key_path.clone(),
        why: e.to_string(),
    })?;
    let ck = CertifiedKey::new(chain, signer);
    match ck.keys_match() {
        Ok(()) => Ok(ck),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(CertError::Mismatch {
                cert: cert_path,
                key: key_path,
            })
        }
        // The key's public half could not be derived (rare key types): the
        // handshake's own signature check is the test then.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(ck),
        Err(e) => Err(CertError::BadCertificate {
            path: cert_path,
            why: e.to_string(),
        }),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let p = path.display().to_string();
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| CertError::Chain {
        path: p.clone(),
        why: pem_why(e),
    })?;
    let mut chain = Vec::new();
    for c in iter {
        chain.push(c.map_err(|e| CertError::Chain {
            path: p.clone(),
            why: pem_why(e),
        })?);
    }
    if chain.is_empty() {
        return Err(CertError::NoCertificate { path: p });
    }
    if let Err(e) = webpki::EndEntityCert::try_from(&chain[0]) {
        return Err(CertError::BadCertificate {
            path: p,
            why: format!("{e:?}"),
        });
    }
    Ok(chain)
}

fn pem_why(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM section of the expected kind".into(),
        other => format!("{other:?}"),
    }
}

/// The trust anchors client certificates must chain to, from one PEM file.
pub struct ClientRoots {
    pub store: RootCertStore,
    /// SHA-256 over the anchors' DER, to tell whether a reload changed them.
    pub digest: [u8; 32],
}

/// Reads the CA bundle of `[tls] client_ca`: every certificate in it must be
/// usable as a trust anchor, and there must be at least one.
pub fn load_client_roots(path: &Path) -> Result<ClientRoots, CertError> {
    let p = path.display().to_string();
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| CertError::CaRead {
        path: p.clone(),
        why: pem_why(e),
    })?;
    let mut store = RootCertStore::empty();
    let mut hash = Sha256::new();
    for (i, c) in iter.enumerate() {
        let der = c.map_err(|e| CertError::CaRead {
            path: p.clone(),
            why: pem_why(e),
        })?;
        hash.update((der.len() as u32).to_be_bytes());
        hash.update(&der);
        store.add(der).map_err(|e| CertError::BadCa {
            path: p.clone(),
            index: i + 1,
            why: e.to_string(),
        })?;
    }
    if store.is_empty() {
        return Err(CertError::NoCa { path: p });
    }
    Ok(ClientRoots {
        store,
        digest: hash.finalize().into(),
    })
}

/// Everything one TLS configuration generation hands to the cores.
#[derive(Clone, Debug)]
pub struct TlsSetup {
    pub server: Arc<ServerConfig>,
    pub tickets: Option<Arc<TicketKeys>>,
    /// [`ClientRoots::digest`] of the client CA in force (`None`: client
    /// certificates are not asked for).
    pub client_roots: Option<[u8; 32]>,
}

/// Loads every certificate and builds the server configuration. `previous`
/// (the generation being replaced) lends its ticket key so tickets issued
/// before a reload still resume.
pub fn build_server_config(
    cfg: &TlsConfig,
    previous: Option<&TlsSetup>,
) -> Result<TlsSetup, Vec<CertError>> {
    if cfg.certificates.is_empty() {
        return Err(vec![CertError::Empty]);
    }
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    for spec in &cfg.certificates {
        let mut names = Vec::new();
        for n in &spec.server_names {
            let bare = n.strip_prefix("*.").unwrap_or(n);
            if bare.is_empty() || ServerName::try_from(bare).is_err() {
                errors.push(CertError::BadName(n.clone()));
            }
            names.push(n.to_ascii_lowercase());
        }
        match load_certified_key(spec) {
            Ok(ck) => entries.push(Entry {
                key: Arc::new(ck),
                names,
            }),
            Err(e) => errors.push(e),
        }
    }
    let provider = Arc::new(provider::default_provider());
    let mut client_roots = None;
    let verifier = match (&cfg.client_ca, cfg.client_auth) {
        (Some(ca), ClientAuth::Optional | ClientAuth::Required) => {
            match load_client_roots(&ca.path) {
                Ok(roots) => {
                    client_roots = Some(roots.digest);
                    let b = WebPkiClientVerifier::builder_with_provider(
                        Arc::new(roots.store),
                        provider.clone(),
                    );
                    let b = if cfg.client_auth == ClientAuth::Optional {
                        b.allow_unauthenticated()
                    } else {
                        b
                    };
                    match b.build() {
                        Ok(v) => Some(v),
                        Err(e) => {
                            errors.push(CertError::Setup(format!("client certificates: {e}")));
                            None
                        }
                    }
                }
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        }
        (None, ClientAuth::Optional | ClientAuth::Required) => {
            errors.push(CertError::Setup(
                "client_auth needs a client CA (client_ca)".into(),
            ));
            None
        }
        (_, ClientAuth::Off) => Some(WebPkiClientVerifier::no_client_auth()),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let Some(verifier) = verifier else {
        return Err(vec![CertError::Setup("no client verifier".into())]);
    };
    // Tickets carry the client certificate of the session they resume, and
    // rustls restores it without verifying it again: once the client CA
    // changes, tickets issued under the old one must not resume.
    let previous = previous.filter(|p| p.client_roots == client_roots);
    let versions: &[&rustls::SupportedProtocolVersion] = match cfg.min_version {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| vec![CertError::Setup(e.to_string())])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SniResolver { entries }));
    server.alpn_protocols = cfg.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    // Records after the handshake are ours (see `record`).
    server.enable_secret_extraction = true;
    // A shared session cache would put a lock on every handshake of every
    // core; tickets resume statelessly instead.
    server.session_storage = Arc::new(NoServerSessionStorage {});
    server.max_early_data_size = 0;
    let tickets = if cfg.session_tickets {
        let lifetime = cfg.ticket_lifetime.as_secs().min(7 * 24 * 3600) as u32;
        let keys = TicketKeys::new(lifetime, previous.and_then(|p| p.tickets.as_deref()))
            .ok_or_else(|| vec![CertError::Setup("no randomness for ticket keys".into())])?;
        server.ticketer = keys.clone();
        server.send_tls13_tickets = 2;
        Some(keys)
    } else {
        server.send_tls13_tickets = 0;
        None
    };
    Ok(TlsSetup {
        server: Arc::new(server),
        tickets,
        client_roots,
    })
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("api.example.com", "API.example.com"));
        assert!(name_matches("*.example.com", "api.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
    }
}
