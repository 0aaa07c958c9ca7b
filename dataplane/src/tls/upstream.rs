//! TLS to upstream servers: the per-cluster settings (`[[upstream]] tls`) and
//! the rustls client configuration built from them — the CA bundle or the
//! system's roots, the name to verify and send as SNI, an optional client
//! certificate (mTLS to the upstream). Each core gets its own copy with its
//! own session store, so resumption to upstreams takes no lock shared
//! between cores.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::certs::CertError;

/// `[[upstream]] tls`: how to speak TLS to a cluster's servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamTls {
    /// The name verified in the servers' certificates and sent as SNI
    /// (`None`: the servers' IP addresses are verified, no SNI).
    pub server_name: Option<String>,
    /// PEM bundle of the CAs to trust (`None`: the system's roots).
    pub ca: Option<PathBuf>,
    /// Client certificate and key, when the upstream asks for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Verify the servers' certificates. Off only for testing.
    pub verify: bool,
    /// 1-based position of the `tls` setting, for errors about its files.
    pub at: (usize, usize),
}

impl UpstreamTls {
    /// TLS with the system's roots and the given name.
    pub fn new(server_name: Option<String>) -> UpstreamTls {
        UpstreamTls {
            server_name,
            ca: None,
            client_cert: None,
            verify: true,
            at: (0, 0),
        }
    }

    /// The name to hand rustls for each server address.
    pub fn name_for(&self, addr: std::net::SocketAddr) -> ServerName<'static> {
        match self
            .server_name
            .as_deref()
            .and_then(|n| ServerName::try_from(n.to_owned()).ok())
        {
            Some(n) => n,
            None => ServerName::IpAddress(addr.ip().into()),
        }
    }
}

/// Sessions to upstreams kept per core for resumption.
const SESSIONS_PER_CORE: usize = 256;

/// Builds the client configuration (reads the CA and client-certificate
/// files: call it off the cores).
pub fn client_config(t: &UpstreamTls) -> Result<ClientConfig, CertError> {
    let provider = Arc::new(provider::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| CertError::Setup(e.to_string()))?;
    let builder = if t.verify {
        builder.with_root_certificates(roots(t)?)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(AcceptAnyCertificate::new())
    };
    let mut cfg = match &t.client_cert {
        Some((cert, key)) => {
            let ck = super::certs::load_certified_key(&super::CertSpec {
                cert: cert.clone(),
                key: key.clone(),
                server_names: Vec::new(),
                at: [(0, 0); 2],
            })?;
            builder
                .with_client_auth_cert(ck.cert.clone(), load_key(key)?)
                .map_err(|e| CertError::Setup(e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Records after the handshake are ours (see `record`).
    cfg.enable_secret_extraction = true;
    Ok(cfg)
}

/// One core's copy: its own session store.
pub fn for_core(base: &ClientConfig) -> Arc<ClientConfig> {
    let mut c = base.clone();
    c.resumption = Resumption::in_memory_sessions(SESSIONS_PER_CORE);
    Arc::new(c)
}

fn load_key(path: &std::path::Path) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| CertError::Key {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

fn roots(t: &UpstreamTls) -> Result<RootCertStore, CertError> {
    let mut store = RootCertStore::empty();
    match &t.ca {
        Some(path) => {
            let p = path.display().to_string();
            let iter = CertificateDer::pem_file_iter(path).map_err(|e| CertError::Chain {
                path: p.clone(),
                why: e.to_string(),
            })?;
            for c in iter {
                let c = c.map_err(|e| CertError::Chain {
                    path: p.clone(),
                    why: e.to_string(),
                })?;
                store.add(c).map_err(|e| CertError::BadCertificate {
                    path: p.clone(),
                    why: e.to_string(),
                })?;
            }
            if store.is_empty() {
                return Err(CertError::NoCertificate { path: p });
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // A system bundle may hold a certificate rustls cannot use;
                // the others still count.
                let _ = store.add(c);
            }
            if store.is_empty() {
                return Err(CertError::Setup(
                    "no system CA certificates found (install ca-certificates), \
                     or name a bundle with tls.ca"
                        .into(),
                ));
            }
        }
    }
    Ok(store)
}

/// `verify = false`: any certificate is accepted (signatures are still
/// checked, so the peer holds the key of the certificate it sent). Public
/// for tests that inspect a served certificate themselves.
#[derive(Debug)]
pub struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl AcceptAnyCertificate {
    pub fn new() -> Arc<AcceptAnyCertificate> {
        Arc::new(AcceptAnyCertificate(Arc::new(provider::default_provider())))
    }
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
