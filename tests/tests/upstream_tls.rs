//! TLS to upstreams end to end: the real `rampart` binary in front of a real
//! rustls upstream (tests/src/tls_upstream.rs), with a CA and certificates
//! made here: verification by CA and by name, client certificates (mTLS to
//! the upstream), keep-alive reuse, large bodies, and TLS on both sides.

use std::path::{Path, PathBuf};

use rampart_tests::client::RawConn;
use rampart_tests::config::GatewayConfig;
use rampart_tests::gateway::Gateway;
use rampart_tests::tls_upstream::TlsUpstream;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;

struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    other_ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// A CA, a server certificate for `backend.test` and a client certificate
/// it issued, and an unrelated CA.
fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let other_key = KeyPair::generate().expect("key");
    let mut other_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = other_params.self_signed(&other_key).expect("other ca");
    let leaf = |names: &[&str]| {
        let key = KeyPair::generate().expect("key");
        let params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.signed_by(&key, &ca, &ca_key).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (sc, sk) = leaf(&["backend.test"]);
    let (cc, ck) = leaf(&["gateway.test"]);
    Pki {
        ca: write(d, "ca.pem", &ca.pem()),
        other_ca: write(d, "other-ca.pem", &other.pem()),
        server: (write(d, "server.pem", &sc), write(d, "server.key", &sk)),
        client: (write(d, "client.pem", &cc), write(d, "client.key", &ck)),
        _dir: dir,
    }
}

fn gateway(up: &TlsUpstream, tls: &str) -> Gateway {
    Gateway::run_config(&GatewayConfig::new(up.addr()).upstream_tls(tls).render())
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").into_bytes()
}

#[test]
fn requests_reach_a_tls_upstream_verified_by_ca_and_name_on_a_kept_connection() {
    let p = pki();
    let up = TlsUpstream::start(&p.server.0, &p.server.1, None);
    let gw = gateway(
        &up,
        &format!(
            "{{ server_name = \"backend.test\", ca = \"{}\" }}",
            p.ca.display()
        ),
    );
    let mut c = RawConn::open(gw.addr());
    for i in 0..5 {
        let r = c.roundtrip(&get(&format!("/items/{i}")));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("/items/{i} 0"));
    }
    // A body in many records both ways is delivered whole.
    let body = vec![b'x'; 1024 * 1024];
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: api.test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = c.roundtrip(&req);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "/upload 1048576");
    assert_eq!(up.requests(), 6);
    assert_eq!(up.connections(), 1, "one upstream connection, kept alive");
}

#[test]
fn an_upstream_the_gateway_cannot_verify_gets_no_request() {
    let p = pki();
    let up = TlsUpstream::start(&p.server.0, &p.server.1, None);
    for tls in [
        // Another CA.
        format!(
            "{{ server_name = \"backend.test\", ca = \"{}\" }}",
            p.other_ca.display()
        ),
        // The right CA, the wrong name.
        format!(
            "{{ server_name = \"other.test\", ca = \"{}\" }}",
            p.ca.display()
        ),
    ] {
        let gw = gateway(&up, &tls);
        let r = RawConn::open(gw.addr()).roundtrip(&get("/"));
        assert_eq!(r.status, 502, "{tls}");
    }
    assert_eq!(up.requests(), 0);
    // verify = false accepts it (for testing setups only).
    let gw = gateway(&up, "{ verify = false }");
    assert_eq!(RawConn::open(gw.addr()).roundtrip(&get("/")).status, 200);
    assert!(
        gw.stderr().contains("does not verify its certificates"),
        "a warning names the unverified upstream"
    );
}

#[test]
fn a_client_certificate_is_presented_to_an_upstream_that_requires_one() {
    let p = pki();
    let up = TlsUpstream::start(&p.server.0, &p.server.1, Some(&p.ca));
    let with = gateway(
        &up,
        &format!(
            "{{ server_name = \"backend.test\", ca = \"{}\", client_cert = \"{}\", client_key = \"{}\" }}",
            p.ca.display(),
            p.client.0.display(),
            p.client.1.display()
        ),
    );
    assert_eq!(RawConn::open(with.addr()).roundtrip(&get("/m")).status, 200);
    let without = gateway(
        &up,
        &format!(
            "{{ server_name = \"backend.test\", ca = \"{}\" }}",
            p.ca.display()
        ),
    );
    assert_eq!(
        RawConn::open(without.addr()).roundtrip(&get("/m")).status,
        502
    );
    assert_eq!(up.requests(), 1);
}

#[test]
fn tls_on_both_sides() {
    let p = pki();
    let up = TlsUpstream::start(&p.server.0, &p.server.1, None);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .workers(1)
            .tls(&format!(
                "[[tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"",
                p.server.0.display(),
                p.server.1.display()
            ))
            .upstream_tls(&format!(
                "{{ server_name = \"backend.test\", ca = \"{}\" }}",
                p.ca.display()
            ))
            .render(),
    );
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&p.ca).expect("ca") {
        roots.add(c.expect("ca")).expect("add");
    }
    let cfg = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let mut c = RawConn::connect_tls(gw.addrs()[0], cfg, "backend.test").expect("handshake");
    for i in 0..3 {
        let r = c.roundtrip(&get(&format!("/both/{i}")));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("/both/{i} 0"));
    }
}

#[test]
fn check_names_a_bad_upstream_ca_at_its_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let junk = write(dir.path(), "junk.pem", "not a certificate\n");
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[[upstream]]\nname = \"backend\"\nservers = [\"127.0.0.1:9\"]\ntls = {{ ca = \"{}\" }}\n\n[[route]]\nupstream = \"backend\"\n",
        junk.display()
    );
    let path = write(dir.path(), "rampart.toml", &text);
    let p = path.to_str().expect("utf-8");
    let out = rampart_tests::gateway::run_to_exit(
        &["check", "--config", p],
        std::time::Duration::from_secs(30),
    );
    assert!(!out.status.success(), "check accepted a bad CA bundle");
    assert!(
        out.stderr.contains(&format!("{p}:7:7:")) && out.stderr.contains("junk.pem"),
        "{}",
        out.stderr
    );
}

/// An upstream that accepts the connection and never answers the
/// ClientHello: the request times out like any stalled upstream (504), the
/// gateway stays healthy.
#[test]
fn a_silent_tls_upstream_times_out_with_504() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let hold = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(1).flatten().collect();
        std::thread::sleep(std::time::Duration::from_secs(5));
        drop(conns);
    });
    let gw = Gateway::run_config(
        &GatewayConfig::new(addr)
            .workers(1)
            .timeout("upstream_write", "500ms")
            .upstream_tls("{ verify = false }")
            .render(),
    );
    let started = std::time::Instant::now();
    let r = RawConn::open(gw.addr()).roundtrip(&get("/"));
    assert_eq!(r.status, 504);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    drop(hold);
}

/// A pooled TLS connection the upstream closed (close_notify, then FIN, as
/// when its keep-alive timeout expires) is not reused: the next request goes
/// over a fresh handshake and succeeds.
#[test]
fn a_pooled_tls_connection_the_upstream_closed_is_replaced() {
    let p = pki();
    let up = TlsUpstream::start_with(
        &p.server.0,
        &p.server.1,
        None,
        rampart_tests::tls_upstream::Closing::AfterEachResponse,
    );
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .workers(1)
            .upstream_tls(&format!(
                "{{ server_name = \"backend.test\", ca = \"{}\" }}",
                p.ca.display()
            ))
            .render(),
    );
    let mut c = RawConn::open(gw.addr());
    for i in 0..4 {
        let r = c.roundtrip(&get(&format!("/again/{i}")));
        assert_eq!(r.status, 200, "request {i}");
        // Let the upstream's close reach the idle pooled connection.
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(up.requests(), 4);
    assert_eq!(up.connections(), 4, "each request on a fresh connection");
}
