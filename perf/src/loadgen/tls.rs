//! The generator's TLS client: rustls with the ring provider (the same
//! stack as the dataplane, so nothing new to build), ALPN `http/1.1`,
//! session resumption on by default as real clients do.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rampart_dataplane::tls::upstream::AcceptAnyCertificate;
use rustls::crypto::ring::default_provider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

/// The client configuration and the name to send, shared by every connection.
#[derive(Clone)]
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl TlsClient {
    /// `ca`: verify the server against this PEM bundle; `None`: accept any
    /// certificate (a benchmark measures, it does not authenticate).
    pub fn new(
        host: &str,
        sni: Option<&str>,
        ca: Option<&Path>,
        resume: bool,
    ) -> Result<TlsClient> {
        let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS setup")?;
        let mut config = match ca {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .with_context(|| format!("--ca `{}`: cannot read it", path.display()))?;
                for c in certs {
                    let c = c.with_context(|| {
                        format!("--ca `{}`: not PEM certificates", path.display())
                    })?;
                    roots.add(c).with_context(|| {
                        format!("--ca `{}`: a certificate is not usable", path.display())
                    })?;
                }
                if roots.is_empty() {
                    bail!("--ca `{}`: no certificate in it", path.display());
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(AcceptAnyCertificate::new())
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        let name = sni.unwrap_or(host);
        let server_name = ServerName::try_from(name.to_string())
            .with_context(|| format!("`{name}` is not a valid TLS server name"))?;
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }
}
