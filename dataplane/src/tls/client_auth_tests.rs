//! Client certificates against [`TlsSession`] over in-memory pipes: a real
//! rustls client with, without and with a foreign certificate, under
//! `client_auth = "required"` and `"optional"`; the verified subject in the
//! handshake facts, on resumption too; and a client CA change ending
//! resumption.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::crypto::ring as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::session::{IN_BUF, OUT_BUF};
use super::*;

/// A CA that signs client certificates, written as `name.pem` into `dir`.
pub(crate) struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    pub(crate) fn new(dir: &Path, name: &str) -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).expect("ca");
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write");
        TestCa { cert, key }
    }

    /// A client certificate for `cn` in organisation `o`, and its key.
    pub(crate) fn client(
        &self,
        cn: &str,
        o: &str,
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, o);
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.cert, &self.key).expect("sign");
        (
            cert.der().clone(),
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
    }
}

struct Server {
    dir: tempfile::TempDir,
    der: CertificateDer<'static>,
}

fn server() -> Server {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = rcgen::generate_simple_self_signed(vec!["api.test".to_string()]).expect("rcgen");
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).expect("write");
    std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).expect("write");
    Server {
        der: ck.cert.der().clone(),
        dir,
    }
}

fn tls_config(s: &Server, auth: ClientAuth, ca: &str) -> TlsConfig {
    TlsConfig {
        certificates: vec![CertSpec {
            cert: s.dir.path().join("cert.pem"),
            key: s.dir.path().join("key.pem"),
            server_names: vec![],
            at: [(0, 0); 2],
        }],
        client_auth: auth,
        client_ca: Some(ClientCa {
            path: s.dir.path().join(ca),
            at: (0, 0),
        }),
        ..TlsConfig::default()
    }
}

fn client(
    s: &Server,
    version: &'static rustls::SupportedProtocolVersion,
    identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(s.der.clone()).expect("root");
    let b = ClientConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_protocol_versions(&[version])
        .expect("versions")
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some((cert, key)) => b
            .with_client_auth_cert(vec![cert], key)
            .expect("client cert"),
        None => b.with_no_client_auth(),
    })
}

/// Runs one handshake and a request; the server session when it was served.
fn connect(setup: &TlsSetup, cc: Arc<ClientConfig>) -> Result<TlsSession, String> {
    let mut server = TlsSession::new(
        setup.server.clone(),
        vec![0; IN_BUF].into_boxed_slice(),
        vec![0; OUT_BUF].into_boxed_slice(),
    )
    .expect("session");
    let name = ServerName::try_from("api.test").expect("name");
    let mut client = ClientConnection::new(cc, name).expect("client");
    let mut got = Vec::new();
    let mut sent = false;
    for _ in 0..50 {
        if !client.is_handshaking() && !sent {
            std::io::Write::write_all(&mut client.writer(), b"GET / HTTP/1.1\r\n\r\n")
                .expect("write");
            sent = true;
        }
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).expect("client write");
        }
        let mut at = 0;
        while at < wire.len() {
            at += server.feed(&wire[at..]);
            server
                .process(&mut |b: &[u8]| {
                    got.extend_from_slice(b);
                    b.len()
                })
                .map_err(|e| e.to_string())?;
        }
        let out = server.output().to_vec();
        server.written(out.len());
        let mut rd = &out[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).expect("client read");
            client.process_new_packets().map_err(|e| e.to_string())?;
        }
        if got.ends_with(b"\r\n\r\n") {
            return Ok(server);
        }
        if wire.is_empty() && out.is_empty() {
            break;
        }
    }
    Err("no request arrived".into())
}

fn dn(s: &TlsSession) -> Option<String> {
    s.facts
        .client
        .dn()
        .map(|d| String::from_utf8(d.to_vec()).expect("utf-8"))
}

#[test]
fn required_serves_only_clients_with_a_certificate_from_the_ca() {
    let s = server();
    let ca = TestCa::new(s.dir.path(), "partners-ca");
    let other = TestCa::new(s.dir.path(), "other-ca");
    let setup = build_server_config(
        &tls_config(&s, ClientAuth::Required, "partners-ca.pem"),
        None,
    )
    .expect("config");
    for v in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let served = connect(
            &setup,
            client(&s, v, Some(ca.client("partner-a", "Example"))),
        )
        .expect("a client with a certificate from the CA is served");
        assert_eq!(dn(&served).as_deref(), Some("CN=partner-a,O=Example"));
        assert_eq!(served.facts.client.cn(), Some(&b"partner-a"[..]));

        let e = connect(&setup, client(&s, v, None)).err().expect("refused");
        assert!(e.contains("peer sent no certificates"), "{v:?}: {e}");
        let e = connect(
            &setup,
            client(&s, v, Some(other.client("partner-a", "Example"))),
        )
        .err()
        .expect("refused");
        assert!(
            e.contains("invalid peer certificate: UnknownIssuer"),
            "{v:?}: {e}"
        );
    }
}

#[test]
fn optional_serves_clients_without_a_certificate_but_not_with_a_bad_one() {
    let s = server();
    let ca = TestCa::new(s.dir.path(), "partners-ca");
    let other = TestCa::new(s.dir.path(), "other-ca");
    let setup = build_server_config(
        &tls_config(&s, ClientAuth::Optional, "partners-ca.pem"),
        None,
    )
    .expect("config");
    let v = &rustls::version::TLS13;
    let anonymous = connect(&setup, client(&s, v, None)).expect("served");
    assert_eq!(dn(&anonymous), None);
    assert_eq!(anonymous.facts.client.cn(), None);
    let known = connect(
        &setup,
        client(&s, v, Some(ca.client("partner-b", "Example"))),
    )
    .expect("served");
    assert_eq!(dn(&known).as_deref(), Some("CN=partner-b,O=Example"));
    let e = connect(&setup, client(&s, v, Some(other.client("x", "y"))))
        .err()
        .expect("refused");
    assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{e}");
}

#[test]
fn resumption_keeps_the_subject_until_the_client_ca_changes() {
    let s = server();
    let ca = TestCa::new(s.dir.path(), "partners-ca");
    let cfg = tls_config(&s, ClientAuth::Required, "partners-ca.pem");
    let setup = build_server_config(&cfg, None).expect("config");
    // One client config keeps the ticket store between connections.
    let cc = client(
        &s,
        &rustls::version::TLS13,
        Some(ca.client("partner-a", "Example")),
    );
    let first = connect(&setup, cc.clone()).expect("served");
    assert!(!first.facts.resumed);
    let again = connect(&setup, cc.clone()).expect("served");
    assert!(again.facts.resumed, "resumed from a ticket");
    assert_eq!(dn(&again).as_deref(), Some("CN=partner-a,O=Example"));

    // The same CA file reloaded: tickets still resume.
    let same = build_server_config(&cfg, Some(&setup)).expect("reload");
    assert!(connect(&same, cc.clone()).expect("served").facts.resumed);
    // A new CA: the old tickets must not bring the old identity back.
    let _ = TestCa::new(s.dir.path(), "partners-ca");
    let next = build_server_config(&cfg, Some(&same)).expect("reload");
    assert_ne!(next.client_roots, same.client_roots);
    let e = connect(&next, cc)
        .err()
        .expect("the old CA's client is refused");
    // The new CA has the old one's name: the signature no longer verifies.
    assert!(e.contains("invalid peer certificate: BadSignature"), "{e}");
}

#[test]
fn bad_client_ca_files_are_named() {
    let s = server();
    std::fs::write(s.dir.path().join("empty.pem"), "").expect("write");
    for (file, want) in [
        (
            "missing.pem",
            "missing.pem: cannot read client CA certificates",
        ),
        ("empty.pem", "empty.pem: no CA certificate in the file"),
        ("key.pem", "key.pem: no CA certificate in the file"),
    ] {
        let errs =
            build_server_config(&tls_config(&s, ClientAuth::Required, file), None).expect_err(file);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].to_string().contains(want), "{}", errs[0]);
    }
}
