//! A real rustls client against [`TlsSession`] over in-memory pipes: every
//! protocol version and cipher suite, records in both directions, key
//! updates, resumption, close_notify and a tampered record.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring as provider;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::session::{IN_BUF, OUT_BUF};
use super::*;

pub(crate) struct TestCert {
    pub dir: tempfile::TempDir,
    pub der: rustls::pki_types::CertificateDer<'static>,
}

pub(crate) fn test_cert(names: &[&str]) -> TestCert {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("rcgen");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).expect("write");
    std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).expect("write");
    TestCert {
        der: ck.cert.der().clone(),
        dir,
    }
}

fn spec(dir: &Path) -> CertSpec {
    CertSpec {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        server_names: vec![],
        at: [(0, 0); 2],
    }
}

fn client_config(
    cert: &TestCert,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suite: Option<rustls::SupportedCipherSuite>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).expect("root");
    let mut p = provider::default_provider();
    if let Some(s) = suite {
        p.cipher_suites = vec![s];
    }
    let mut c = ClientConfig::builder_with_provider(Arc::new(p))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

struct Pair {
    client: ClientConnection,
    server: TlsSession,
    /// Plaintext the server delivered.
    got: Vec<u8>,
}

impl Pair {
    fn new(setup: &TlsSetup, cc: Arc<ClientConfig>, host: &str) -> Pair {
        let server = TlsSession::new(
            setup.server.clone(),
            vec![0; IN_BUF].into_boxed_slice(),
            vec![0; OUT_BUF].into_boxed_slice(),
        )
        .expect("session");
        let name = ServerName::try_from(host.to_string()).expect("name");
        Pair {
            client: ClientConnection::new(cc, name).expect("client"),
            server,
            got: Vec::new(),
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn pump(&mut self) -> Result<(), TlsError> {
        for _ in 0..50 {
            let mut moved = false;
            let mut wire = Vec::new();
            while self.client.wants_write() {
                self.client.write_tls(&mut wire).expect("client write");
            }
            let mut at = 0;
            while at < wire.len() {
                let n = self.server.feed(&wire[at..]);
                at += n;
                moved = true;
                let got = &mut self.got;
                self.server.process(&mut |b: &[u8]| {
                    got.extend_from_slice(b);
                    b.len()
                })?;
                assert!(n > 0 || at == wire.len(), "server stopped taking input");
            }
            let got = &mut self.got;
            self.server.process(&mut |b: &[u8]| {
                got.extend_from_slice(b);
                b.len()
            })?;
            let out = self.server.output().to_vec();
            if !out.is_empty() {
                moved = true;
                self.server.written(out.len());
                let mut rd = &out[..];
                while !rd.is_empty() {
                    self.client.read_tls(&mut rd).expect("client read");
                    self.client.process_new_packets().expect("client process");
                }
            }
            if !moved {
                return Ok(());
            }
        }
        panic!("no quiescence");
    }

    fn client_read_all(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.client.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => v.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        v
    }

    /// Sends `data` from the server; returns what the client read.
    fn server_send(&mut self, data: &[u8]) -> Vec<u8> {
        let mut read = Vec::new();
        let mut at = 0;
        while at < data.len() {
            at += self.server.seal(&data[at..]).expect("seal");
            let out = self.server.output().to_vec();
            self.server.written(out.len());
            let mut rd = &out[..];
            while !rd.is_empty() {
                self.client.read_tls(&mut rd).expect("client read");
                self.client.process_new_packets().expect("client process");
                read.extend(self.client_read_all());
            }
        }
        read
    }
}

fn setup(cert: &TestCert) -> TlsSetup {
    let cfg = TlsConfig {
        certificates: vec![spec(cert.dir.path())],
        ..TlsConfig::default()
    };
    build_server_config(&cfg, None).expect("server config")
}

#[test]
fn every_version_and_suite_carries_data_both_ways() {
    let cert = test_cert(&["api.test"]);
    let s = setup(&cert);
    let suites13 = [
        provider::cipher_suite::TLS13_AES_128_GCM_SHA256,
        provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    let suites12 = [
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    let cases = suites13
        .iter()
        .map(|s| (&rustls::version::TLS13, *s))
        .chain(suites12.iter().map(|s| (&rustls::version::TLS12, *s)));
    for (version, suite) in cases {
        let cc = client_config(&cert, &[version], Some(suite));
        let mut p = Pair::new(&s, cc, "api.test");
        // The request rides right behind the client's Finished.
        let req = b"GET /items HTTP/1.1\r\nHost: api.test\r\n\r\n";
        p.client.writer().write_all(req).expect("write");
        p.pump().expect("handshake");
        assert!(p.server.is_established(), "{suite:?}");
        assert_eq!(p.got, req, "{suite:?}");
        assert_eq!(p.server.facts.alpn, Some("http/1.1"));
        assert_eq!(p.server.facts.cipher_suite, Some(suite.suite()));
        // A large body in many records each way.
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        p.got.clear();
        for piece in big.chunks(30_000) {
            p.client.writer().write_all(piece).expect("write");
            p.pump().expect("upload");
        }
        assert_eq!(p.got, big, "{suite:?} upload");
        assert_eq!(p.server_send(&big), big, "{suite:?} download");
    }
}

#[test]
fn a_key_update_from_the_client_is_followed_both_ways() {
    let cert = test_cert(&["api.test"]);
    let s = setup(&cert);
    let cc = client_config(&cert, &[&rustls::version::TLS13], None);
    let mut p = Pair::new(&s, cc, "api.test");
    p.pump().expect("handshake");
    p.client.refresh_traffic_keys().expect("key update");
    p.client.writer().write_all(b"after update").expect("write");
    p.pump().expect("key update");
    assert_eq!(p.got, b"after update");
    assert_eq!(
        p.server_send(b"reply under new keys"),
        b"reply under new keys"
    );
}

#[test]
fn a_ticket_resumes_on_a_new_connection() {
    let cert = test_cert(&["api.test"]);
    let s = setup(&cert);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let cc = client_config(&cert, &[version], None);
        let mut first = Pair::new(&s, cc.clone(), "api.test");
        first.pump().expect("handshake");
        assert!(!first.server.facts.resumed);
        // Another "core": a separate session from the same configuration.
        let mut second = Pair::new(&s, cc, "api.test");
        second.pump().expect("resumed handshake");
        assert!(second.server.is_established());
        assert!(second.server.facts.resumed, "{version:?} resumed");
    }
}

#[test]
fn close_notify_ends_the_client_side_and_tampering_fails() {
    let cert = test_cert(&["api.test"]);
    let s = setup(&cert);
    let cc = client_config(&cert, &[&rustls::version::TLS13], None);
    let mut p = Pair::new(&s, cc.clone(), "api.test");
    p.pump().expect("handshake");
    p.client.send_close_notify();
    p.pump().expect("close");
    let pr = p.server.process(&mut |b: &[u8]| b.len()).expect("process");
    assert!(pr.peer_closed);

    let mut p = Pair::new(&s, cc, "api.test");
    p.pump().expect("handshake");
    p.client.writer().write_all(b"hello").expect("write");
    let mut wire = Vec::new();
    p.client.write_tls(&mut wire).expect("write");
    let last = wire.len() - 1;
    wire[last] ^= 0x40;
    p.server.feed(&wire);
    assert!(matches!(
        p.server.process(&mut |b: &[u8]| b.len()),
        Err(TlsError::Record(record::RecordError::BadRecord))
    ));
}

/// Our close_notify, read by a real rustls client, ends its side cleanly
/// (a read returns 0 instead of an unexpected-EOF error), for both versions.
#[test]
fn our_close_notify_is_an_orderly_close_for_the_client() {
    let cert = test_cert(&["api.test"]);
    let s = setup(&cert);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let cc = client_config(&cert, &[version], None);
        let mut p = Pair::new(&s, cc, "api.test");
        p.pump().expect("handshake");
        assert!(p.server.close_notify());
        let wire = p.server.output().to_vec();
        p.server.written(wire.len());
        let mut at = &wire[..];
        while !at.is_empty() {
            p.client.read_tls(&mut at).expect("read_tls");
        }
        let state = p.client.process_new_packets().expect("a valid alert");
        assert!(state.peer_has_closed(), "{version:?}");
        let mut buf = [0u8; 16];
        assert_eq!(
            std::io::Read::read(&mut p.client.reader(), &mut buf).expect("clean EOF"),
            0
        );
    }
    // Not before the handshake.
    let cc = client_config(&cert, &[&rustls::version::TLS13], None);
    let mut p = Pair::new(&s, cc, "api.test");
    assert!(!p.server.close_notify());
}

#[test]
fn a_sink_that_is_full_holds_plaintext_until_it_has_room() {
    let cert = test_cert(&["api.test"]);
    let s = setup(&cert);
    let cc = client_config(&cert, &[&rustls::version::TLS13], None);
    let mut p = Pair::new(&s, cc, "api.test");
    p.pump().expect("handshake");
    let data: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    p.client.writer().write_all(&data).expect("write");
    let mut wire = Vec::new();
    while p.client.wants_write() {
        p.client.write_tls(&mut wire).expect("write");
    }
    let mut got = Vec::new();
    let mut at = 0;
    // Take at most 1000 bytes per call, and feed in small pieces.
    for _ in 0..10_000 {
        if at < wire.len() {
            at += p.server.feed(&wire[at..(at + 700).min(wire.len())]);
        }
        let mut budget = 1000;
        p.server
            .process(&mut |b: &[u8]| {
                let n = b.len().min(budget);
                budget -= n;
                got.extend_from_slice(&b[..n]);
                n
            })
            .expect("process");
        if got.len() == data.len() {
            break;
        }
    }
    assert_eq!(got, data);
}

#[test]
fn sni_picks_the_certificate_and_bad_files_are_named() {
    let a = test_cert(&["a.test"]);
    let b = test_cert(&["b.test", "*.b.test"]);
    let cfg = TlsConfig {
        certificates: vec![spec(a.dir.path()), spec(b.dir.path())],
        ..TlsConfig::default()
    };
    let s = build_server_config(&cfg, None).expect("config");
    // A client that trusts only b's certificate completes only with b's names.
    for (host, ok) in [("b.test", true), ("x.b.test", true), ("a.test", false)] {
        let cc = client_config(&b, &[&rustls::version::TLS13], None);
        let mut p = Pair::new(&s, cc, host);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.pump()));
        let established = matches!(r, Ok(Ok(()))) && p.server.is_established();
        assert_eq!(established, ok, "{host}");
    }

    // A key that belongs to another certificate, a missing file, a non-PEM file.
    let dir = tempfile::tempdir().expect("tmp");
    let wrong = CertSpec {
        cert: a.dir.path().join("cert.pem"),
        key: b.dir.path().join("key.pem"),
        server_names: vec![],
        at: [(0, 0); 2],
    };
    let missing = CertSpec {
        cert: dir.path().join("nope.pem"),
        key: a.dir.path().join("key.pem"),
        server_names: vec![],
        at: [(0, 0); 2],
    };
    std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").expect("write");
    let junk = CertSpec {
        cert: dir.path().join("junk.pem"),
        key: a.dir.path().join("key.pem"),
        server_names: vec![],
        at: [(0, 0); 2],
    };
    let cfg = TlsConfig {
        certificates: vec![wrong, missing, junk],
        ..TlsConfig::default()
    };
    let errs = build_server_config(&cfg, None).expect_err("bad files");
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text[0].contains("does not belong to the certificate"),
        "{}",
        text[0]
    );
    assert!(
        text[1].contains("nope.pem") && text[1].contains("No such file"),
        "{}",
        text[1]
    );
    assert!(
        text[2].contains("junk.pem") && text[2].contains("no certificate"),
        "{}",
        text[2]
    );
}

/// A client config our session can use: the records are ours after the handshake.
fn ours(cc: Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut c = (*cc).clone();
    c.enable_secret_extraction = true;
    Arc::new(c)
}

/// Our session as the client (TLS to an upstream) against a rustls server.
struct ClientPair {
    server: rustls::ServerConnection,
    client: TlsSession,
    got: Vec<u8>,
    server_got: Vec<u8>,
}

impl ClientPair {
    fn new(setup: &TlsSetup, cc: Arc<ClientConfig>) -> ClientPair {
        let server = rustls::ServerConnection::new(setup.server.clone()).expect("server");
        let client = TlsSession::client(
            cc,
            ServerName::try_from("api.test".to_string()).expect("name"),
            vec![0; IN_BUF].into_boxed_slice(),
            vec![0; OUT_BUF].into_boxed_slice(),
        )
        .expect("client session");
        ClientPair {
            server,
            client,
            got: Vec::new(),
            server_got: Vec::new(),
        }
    }

    fn pump(&mut self) {
        for _ in 0..50 {
            let got = &mut self.got;
            self.client
                .process(&mut |b: &[u8]| {
                    got.extend_from_slice(b);
                    b.len()
                })
                .expect("client process");
            let out = self.client.output().to_vec();
            let mut moved = !out.is_empty();
            self.client.written(out.len());
            let mut rd = &out[..];
            while !rd.is_empty() {
                self.server.read_tls(&mut rd).expect("server read");
                self.server.process_new_packets().expect("server process");
                let mut buf = [0u8; 4096];
                while let Ok(n) = self.server.reader().read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    self.server_got.extend_from_slice(&buf[..n]);
                }
            }
            let mut wire = Vec::new();
            while self.server.wants_write() {
                self.server.write_tls(&mut wire).expect("server write");
            }
            let mut at = 0;
            while at < wire.len() {
                moved = true;
                at += self.client.feed(&wire[at..]);
                let got = &mut self.got;
                self.client
                    .process(&mut |b: &[u8]| {
                        got.extend_from_slice(b);
                        b.len()
                    })
                    .expect("client process");
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }
}

#[test]
fn as_a_client_it_talks_to_a_rustls_server_and_resumes() {
    let cert = test_cert(&["api.test"]);
    let s = setup(&cert);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        // One config per "core": its ticket store serves the reconnect.
        let cc = ours(client_config(&cert, &[version], None));
        let mut p = ClientPair::new(&s, cc.clone());
        p.pump();
        assert!(p.client.is_established(), "{version:?}");
        assert!(!p.client.facts.resumed);
        // Request out, response back, across many records.
        let req: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        let mut at = 0;
        while at < req.len() {
            at += p.client.seal(&req[at..]).expect("seal");
            p.pump();
        }
        assert_eq!(p.server_got, req);
        p.server
            .writer()
            .write_all(b"HTTP/1.1 200 OK\r\n\r\n")
            .expect("write");
        p.pump();
        assert_eq!(p.got, b"HTTP/1.1 200 OK\r\n\r\n");
        // The server's key update is followed.
        if version == &rustls::version::TLS13 {
            p.server.refresh_traffic_keys().expect("update");
            p.server.writer().write_all(b"after").expect("write");
            p.pump();
            assert!(p.got.ends_with(b"after"));
        }
        let mut again = ClientPair::new(&s, cc);
        again.pump();
        assert!(again.client.is_established());
        assert!(again.client.facts.resumed, "{version:?} resumed");
    }
}

#[test]
fn as_a_client_it_refuses_a_certificate_it_does_not_trust() {
    let cert = test_cert(&["api.test"]);
    let other = test_cert(&["api.test"]);
    let s = setup(&cert);
    let cc = ours(client_config(&other, &[&rustls::version::TLS13], None));
    let mut p = ClientPair::new(&s, cc);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.pump()));
    assert!(
        r.is_err(),
        "an untrusted server certificate must fail the handshake"
    );
    assert!(!p.client.is_established());
}
