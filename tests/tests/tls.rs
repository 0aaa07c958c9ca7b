//! TLS termination end to end: the real `rampart` binary with certificates
//! generated here, real handshakes from a rustls client, curl and
//! `openssl s_client`, and a real upstream that counts what reaches it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rampart_tests::client::{metric_value, RawConn};
use rampart_tests::config::GatewayConfig;
use rampart_tests::gateway::{run_to_exit, Gateway};
use rampart_tests::upstream::{Behaviour, TestUpstream};
use rustls::crypto::ring as provider;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, HandshakeKind, ProtocolVersion, RootCertStore};

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

struct Cert {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

/// A self-signed certificate for `names`, written as PEM files into `dir`.
fn make_cert(dir: &Path, stem: &str, names: &[&str]) -> Cert {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("generate certificate");
    let cert = dir.join(format!("{stem}.pem"));
    let key = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    Cert {
        cert,
        key,
        der: ck.cert.der().clone(),
    }
}

/// A client trusting `roots` only, restricted to `versions`, offering `alpn`.
fn client(
    roots: &[&Cert],
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&str],
) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for c in roots {
        store.add(c.der.clone()).expect("add root");
    }
    let mut cfg = ClientConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(cfg)
}

/// `rampart proxy` with a TLS listener on an ephemeral port; returns the
/// gateway and its TLS address.
fn tls_proxy(up: &TestUpstream, cert: &Cert, policy: bool) -> (Gateway, SocketAddr) {
    let c = cert.cert.to_str().expect("utf-8 path");
    let k = cert.key.to_str().expect("utf-8 path");
    let args = ["--tls-listen", "127.0.0.1:0", "--cert", c, "--key", k];
    let gw = if policy {
        Gateway::proxy_with_policy(up.addr(), &args)
    } else {
        Gateway::proxy(up.addr(), &args)
    };
    let addr = gw.addrs()[1];
    (gw, addr)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").into_bytes()
}

#[test]
fn requests_over_tls_1_3_and_1_2_reach_the_upstream_on_one_connection() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let (_gw, addr) = tls_proxy(&up, &cert, false);
    let mut expected_requests = 0;
    for (version, name) in [
        (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
    ] {
        let cfg = client(&[&cert], &[version], &["http/1.1"]);
        let mut conn = RawConn::connect_tls(addr, cfg, "api.test").expect("handshake");
        let tls = conn.tls().expect("tls");
        assert_eq!(tls.protocol_version(), Some(name));
        assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
        for i in 0..3 {
            let r = conn.roundtrip(&get(&format!("/items/{i}")));
            assert_eq!(r.status, 200, "{name:?} request {i}");
        }
        // A 1 MiB upload in many records.
        let body: Vec<u8> = (0..1024 * 1024u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut req = format!(
            "POST /upload HTTP/1.1\r\nHost: api.test\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let r = conn.roundtrip(&req);
        assert_eq!(r.status, 200, "{name:?} upload");
        // Three pipelined requests in one write, answered in order.
        let mut three = Vec::new();
        for p in ["/p/1", "/p/2", "/p/3"] {
            three.extend(get(p));
        }
        conn.send(&three).expect("send pipelined");
        for i in 0..3 {
            let r = conn.read_response().expect("pipelined response");
            assert_eq!(r.status, 200, "pipelined {i}");
        }
        expected_requests += 7;
    }
    assert!(up.wait_for_requests(expected_requests, Duration::from_secs(5)));
    let reqs = up.requests();
    let paths: Vec<String> = reqs.iter().map(|r| r.target.clone()).collect();
    assert_eq!(&paths[4..7], ["/p/1", "/p/2", "/p/3"], "{paths:?}");
    assert!(
        up.body_bytes() >= 2 * 1024 * 1024,
        "both uploads arrived whole: {}",
        up.body_bytes()
    );
}

#[test]
fn sni_selects_the_certificate_and_alpn_must_overlap() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = make_cert(dir.path(), "a", &["a.test"]);
    let b = make_cert(dir.path(), "b", &["b.test", "*.b.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let config = GatewayConfig::new(up.addr())
        .tls(&format!(
            r#"min_version = "1.2"

[[tls.certificate]]
cert = "{}"
key = "{}"

[[tls.certificate]]
cert = "{}"
key = "{}"
server_names = ["b.test", "*.b.test", "other.test"]"#,
            a.cert.display(),
            a.key.display(),
            b.cert.display(),
            b.key.display(),
        ))
        .render();
    let gw = Gateway::run_config(&config);
    let addr = gw.addrs()[0];
    // Each name gets its certificate; an unknown name gets the first one.
    for (sni, want) in [
        ("a.test", &a),
        ("b.test", &b),
        ("api.b.test", &b),
        ("other.test", &b),
        ("unknown.test", &a),
    ] {
        // Trust both, then look at which certificate came.
        let cfg = {
            let mut store = RootCertStore::empty();
            store.add(a.der.clone()).expect("root");
            store.add(b.der.clone()).expect("root");
            let mut c = ClientConfig::builder_with_provider(Arc::new(provider::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(store)
                .with_no_client_auth();
            // The certificate is checked by hand below: "other.test" and
            // "unknown.test" are not names in the certificates.
            c.dangerous().set_certificate_verifier(
                rampart_dataplane::tls::upstream::AcceptAnyCertificate::new(),
            );
            Arc::new(c)
        };
        let mut conn = RawConn::connect_tls(addr, cfg, sni).expect("handshake");
        let got = conn
            .tls()
            .and_then(|t| t.peer_certificates())
            .and_then(|c| c.first().cloned())
            .expect("peer certificate");
        assert_eq!(&got, &want.der, "{sni}");
        assert_eq!(conn.roundtrip(&get("/")).status, 200, "{sni}");
    }
    // A client speaking only h2 has nothing in common with the gateway.
    let cfg = client(&[&a], &[&rustls::version::TLS13], &["h2"]);
    let err = RawConn::connect_tls(addr, cfg, "a.test").err();
    assert!(
        err.is_some(),
        "an h2-only client must not complete a handshake"
    );
    // And the gateway still serves.
    let cfg = client(&[&a], &[&rustls::version::TLS13], &["http/1.1"]);
    let mut conn = RawConn::connect_tls(addr, cfg, "a.test").expect("handshake");
    assert_eq!(conn.roundtrip(&get("/")).status, 200);
}

#[test]
fn sessions_resume_from_tickets_on_any_core() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let (_gw, addr) = tls_proxy(&up, &cert, false);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        // One client config keeps its session cache across connections.
        let cfg = client(&[&cert], &[version], &["http/1.1"]);
        let mut first = RawConn::connect_tls(addr, cfg.clone(), "api.test").expect("handshake");
        assert_eq!(first.roundtrip(&get("/")).status, 200);
        assert_eq!(
            first.tls().and_then(|t| t.handshake_kind()),
            Some(HandshakeKind::Full)
        );
        drop(first);
        // Several reconnects: with two workers, some land on the other core.
        for i in 0..6 {
            let mut again = RawConn::connect_tls(addr, cfg.clone(), "api.test").expect("resume");
            assert_eq!(again.roundtrip(&get("/")).status, 200);
            assert_eq!(
                again.tls().and_then(|t| t.handshake_kind()),
                Some(HandshakeKind::Resumed),
                "{version:?} reconnect {i}"
            );
        }
    }
}

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "`{name}` is needed (tests/run.sh installs it)");
    name.to_owned()
}

#[test]
fn curl_and_openssl_clients_are_served_and_resume() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let (_gw, addr) = tls_proxy(&up, &cert, false);
    let resolve = format!("api.test:{}:127.0.0.1", addr.port());
    for extra in [&["--tlsv1.3"][..], &["--tlsv1.2", "--tls-max", "1.2"][..]] {
        let out = Command::new(tool("curl"))
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{http_version}",
            ])
            .args(extra)
            .args(["--cacert", cert.cert.to_str().expect("path")])
            .args(["--resolve", &resolve])
            .arg(format!("https://api.test:{}/curl", addr.port()))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text,
            "200 1.1",
            "curl {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sess = dir.path().join("session.pem");
    // Each run sends a request and reads the answer, so the session tickets
    // (sent after the handshake) are in before `-sess_out` writes the session.
    let s_client = |resume: bool| -> String {
        let mut child = Command::new(tool("openssl"))
            .args(["s_client", "-ign_eof", "-connect", &addr.to_string()])
            .args(["-servername", "api.test", "-CAfile"])
            .arg(&cert.cert)
            .arg(if resume { "-sess_in" } else { "-sess_out" })
            .arg(&sess)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run openssl");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin
                .write_all(b"GET /openssl HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
                .expect("write to openssl");
        }
        let out = child.wait_with_output().expect("openssl output");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = s_client(false);
    assert!(first.contains("New, TLSv1.3"), "{first}");
    assert!(first.contains("Verify return code: 0 (ok)"), "{first}");
    assert!(first.contains("HTTP/1.1 200"), "{first}");
    let second = s_client(true);
    assert!(second.contains("Reused, TLSv1.3"), "{second}");
}

#[test]
fn bad_client_hellos_and_plain_http_are_refused_and_serving_goes_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let (gw, addr) = tls_proxy(&up, &cert, false);
    // A handshake record with garbage inside.
    let mut raw = RawConn::open(addr);
    raw.send(b"\x16\x03\x01\x00\x08garbage!").expect("send");
    assert!(
        raw.is_closed_within(Duration::from_secs(3)),
        "garbage hello"
    );
    // A record claiming to be 60,000 bytes long.
    let mut raw = RawConn::open(addr);
    raw.send(b"\x16\x03\x01\xea\x60").expect("send");
    raw.send(&[0u8; 2000]).expect("send");
    assert!(
        raw.is_closed_within(Duration::from_secs(3)),
        "oversized record"
    );
    // Plain HTTP on the TLS port gets a plain 400 and a close.
    let mut raw = RawConn::open(addr);
    let r = raw.roundtrip(&get("/plain"));
    assert_eq!(r.status, 400);
    assert!(raw.is_closed_within(Duration::from_secs(3)));
    assert_eq!(up.request_count(), 0, "nothing reached the upstream");
    // A good client is still served.
    let cfg = client(&[&cert], &[&rustls::version::TLS13], &["http/1.1"]);
    let mut conn = RawConn::connect_tls(addr, cfg, "api.test").expect("handshake");
    assert_eq!(conn.roundtrip(&get("/")).status, 200);
    // The failures are counted by kind (counters are flushed once a second).
    std::thread::sleep(Duration::from_millis(1200));
    let metrics = rampart_tests::client::get(gw.admin_addr(), "/metrics")
        .expect("metrics")
        .text();
    let find = |outcome: &str| {
        metric_value(
            &metrics,
            "rampart_tls_handshakes_total",
            &format!("outcome=\"{outcome}\""),
        )
    };
    assert_eq!(find("failed"), 2.0, "{metrics}");
    assert_eq!(find("plaintext"), 1.0, "{metrics}");
    assert_eq!(find("full"), 1.0, "{metrics}");
}

#[test]
fn policies_judge_the_decrypted_requests() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let (_gw, addr) = tls_proxy(&up, &cert, true);
    let cfg = client(&[&cert], &[&rustls::version::TLS13], &["http/1.1"]);
    let mut conn = RawConn::connect_tls(addr, cfg, "api.test").expect("handshake");
    let attack = b"GET /search?q=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1\r\nHost: api.test\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n";
    let r = conn.roundtrip(attack);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        up.request_count(),
        0,
        "the attack did not reach the upstream"
    );
}

#[test]
fn check_names_bad_certificate_files_at_their_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = make_cert(dir.path(), "a", &["a.test"]);
    let b = make_cert(dir.path(), "b", &["b.test"]);
    let text = format!(
        r#"[server]
tls_listen = ["127.0.0.1:0"]

[[tls.certificate]]
cert = "{}"
key = "{}"

[[tls.certificate]]
cert = "missing.pem"
key = "{}"

[[upstream]]
name = "api"
servers = ["127.0.0.1:9"]

[[route]]
upstream = "api"
"#,
        a.cert.display(),
        b.key.display(),
        a.key.display()
    );
    let path = dir.path().join("rampart.toml");
    std::fs::write(&path, text).expect("write");
    let p = path.to_str().expect("utf-8");
    let out = run_to_exit(&["check", "--config", p], CLI_TIMEOUT);
    assert!(!out.status.success(), "check accepted bad certificates");
    let line = |n: usize| {
        out.stderr
            .lines()
            .find(|l| l.starts_with(&format!("{p}:{n}:")))
            .unwrap_or_else(|| panic!("no error at line {n}:\n{}", out.stderr))
            .to_owned()
    };
    assert!(
        line(6).contains("does not belong to the certificate"),
        "{}",
        line(6)
    );
    assert!(
        line(9).contains("missing.pem") && line(9).contains("No such file"),
        "{}",
        line(9)
    );
    // TLS listeners without certificates.
    let text = "[server]\ntls_listen = [\"127.0.0.1:0\"]\n\n[[upstream]]\nname = \"api\"\nservers = [\"127.0.0.1:9\"]\n\n[[route]]\nupstream = \"api\"\n";
    std::fs::write(&path, text).expect("write");
    let out = run_to_exit(&["check", "--config", p], CLI_TIMEOUT);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains(&format!("{p}:2:")) && out.stderr.contains("needs certificates"),
        "{}",
        out.stderr
    );
}

/// Replaces a certificate's files the way a renewal does: write aside, rename.
fn install(from: &Cert, to_cert: &Path, to_key: &Path) {
    for (src, dst) in [(&from.cert, to_cert), (&from.key, to_key)] {
        let tmp = dst.with_extension("new");
        std::fs::copy(src, &tmp).expect("copy");
        std::fs::rename(&tmp, dst).expect("rename");
    }
}

/// The certificate a fresh handshake gets, or `None` when it fails.
fn served_cert(addr: SocketAddr, roots: &[&Cert]) -> Option<CertificateDer<'static>> {
    let cfg = client(roots, &[&rustls::version::TLS13], &["http/1.1"]);
    let mut conn = RawConn::connect_tls(addr, cfg, "api.test").ok()?;
    let cert = conn.tls()?.peer_certificates()?.first()?.clone();
    (conn.roundtrip(&get("/fresh")).status == 200).then_some(cert)
}

/// A gateway serving certificate `a` from `live.pem`/`live.key` with file
/// watching off, and certificate `b` ready to renew to.
struct Renewal {
    _dir: tempfile::TempDir,
    a: Cert,
    b: Cert,
    live_cert: PathBuf,
    live_key: PathBuf,
    _up: TestUpstream,
    gw: Gateway,
}

impl Renewal {
    fn start() -> Renewal {
        let dir = tempfile::tempdir().expect("tmp");
        let a = make_cert(dir.path(), "a", &["api.test"]);
        let b = make_cert(dir.path(), "b", &["api.test"]);
        let live_cert = dir.path().join("live.pem");
        let live_key = dir.path().join("live.key");
        install(&a, &live_cert, &live_key);
        let up = TestUpstream::start(Behaviour::Ok);
        let config = GatewayConfig::new(up.addr())
            .tls(&format!(
                "watch = false\n\n[[tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"",
                live_cert.display(),
                live_key.display(),
            ))
            .render();
        let gw = Gateway::run_config(&config);
        Renewal {
            _dir: dir,
            a,
            b,
            live_cert,
            live_key,
            _up: up,
            gw,
        }
    }
}

#[test]
fn certificates_reload_under_load_without_disturbing_connections() {
    let Renewal {
        _dir,
        a,
        b,
        live_cert,
        live_key,
        _up,
        gw,
    } = Renewal::start();
    let addr = gw.addrs()[0];
    assert_eq!(served_cert(addr, &[&a]), Some(a.der.clone()));

    // Load: one keep-alive connection sending requests back to back for the
    // whole test, on its own thread.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        let cfg = client(&[&a], &[&rustls::version::TLS13], &["http/1.1"]);
        std::thread::spawn(move || -> (u32, u32) {
            let mut conn = RawConn::connect_tls(addr, cfg, "api.test").expect("handshake");
            let (mut ok, mut failed) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                conn.send(&get("/load"))
                    .expect("send on the long connection");
                match conn.read_response() {
                    Ok(r) if r.status == 200 => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    // Renew to b and signal.
    install(&b, &live_cert, &live_key);
    // SAFETY: signalling the gateway child this test started.
    unsafe { libc::kill(gw.pid() as i32, libc::SIGHUP) };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut handshakes = 0;
    loop {
        let seen = served_cert(addr, &[&a, &b]).expect("a handshake during the reload failed");
        handshakes += 1;
        if seen == b.der {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate was not served within 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every core serves it now (several connections land on both).
    for _ in 0..8 {
        assert_eq!(served_cert(addr, &[&b]), Some(b.der.clone()));
    }

    // A broken renewal (a key that does not match) is refused; b stays.
    std::fs::copy(&a.key, &live_key).expect("copy");
    // SAFETY: as above.
    unsafe { libc::kill(gw.pid() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(600));
    for _ in 0..4 {
        assert_eq!(served_cert(addr, &[&b]), Some(b.der.clone()));
    }

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.join().expect("load thread");
    println!(
        "long connection: {ok} requests, {failed} failed; {handshakes} handshakes while reloading"
    );
    assert_eq!(failed, 0, "requests failed on the established connection");
    assert!(ok > 50, "the long connection kept serving: {ok}");
    let metrics = rampart_tests::client::get(gw.admin_addr(), "/metrics")
        .expect("metrics")
        .text();
    for (outcome, n) in [("ok", 1.0), ("failed", 1.0)] {
        let v = metric_value(
            &metrics,
            "rampart_tls_reloads_total",
            &format!("\"{outcome}\""),
        );
        assert_eq!(v, n, "reloads {outcome}: {metrics}");
    }
    assert!(
        gw.stderr().contains("TLS reload failed"),
        "the failed reload is logged"
    );
}

/// `POST /admin/reload` reloads certificates as SIGHUP does (with file
/// watching off, nothing else would pick the renewal up).
#[test]
fn the_admin_reload_reloads_certificates_too() {
    let Renewal {
        _dir,
        a,
        b,
        live_cert,
        live_key,
        _up,
        gw,
    } = Renewal::start();
    let addr = gw.addrs()[0];
    assert_eq!(served_cert(addr, &[&a]), Some(a.der.clone()));
    install(&b, &live_cert, &live_key);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        served_cert(addr, &[&a, &b]),
        Some(a.der.clone()),
        "nothing reloads the certificate on its own here"
    );
    let r = RawConn::open(gw.admin_addr())
        .roundtrip(b"POST /admin/reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    let body: serde_json::Value = serde_json::from_str(&r.text()).expect("json");
    assert!(
        matches!(body["certificates"].as_str(), Some("requested" | "queued")),
        "{body}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while served_cert(addr, &[&a, &b]) != Some(b.der.clone()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate was not served within 5 s of the admin reload"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_renewed_certificate_file_is_picked_up_without_a_signal() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = make_cert(dir.path(), "a", &["api.test"]);
    let b = make_cert(dir.path(), "b", &["api.test"]);
    let live_cert = dir.path().join("live.pem");
    let live_key = dir.path().join("live.key");
    install(&a, &live_cert, &live_key);
    let up = TestUpstream::start(Behaviour::Ok);
    let c = live_cert.to_str().expect("utf-8");
    let k = live_key.to_str().expect("utf-8");
    let gw = Gateway::proxy(
        up.addr(),
        &["--tls-listen", "127.0.0.1:0", "--cert", c, "--key", k],
    );
    let addr = gw.addrs()[1];
    assert_eq!(served_cert(addr, &[&a]), Some(a.der.clone()));
    install(&b, &live_cert, &live_key);
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    while served_cert(addr, &[&a, &b]) != Some(b.der.clone()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed files were not picked up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn policies_see_the_handshake_and_events_record_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let pack = dir.path().join("pack");
    std::fs::create_dir_all(pack.join("policies")).expect("mkdir");
    std::fs::create_dir_all(pack.join("responses")).expect("mkdir");
    std::fs::write(
        pack.join("responses/block.json"),
        r#"{"blocked":true,"event":"{{event_id}}"}"#,
    )
    .expect("write");
    std::fs::write(
        pack.join("pack.toml"),
        "name = \"tls-e2e\"\nversion = \"1.0.0\"\n",
    )
    .expect("write");
    std::fs::write(
        pack.join("policies/tls.toml"),
        r#"
[[policy]]
id = "E2E-TLS12-ADMIN"
name = "TLS 1.2 clients may not reach the admin API"
severity = "medium"
condition = { all = [{ tls = "version", equals = "1.2" }, { path = "/admin/**" }] }
action = "block"

[[policy.example]]
expect = "match"
tls = { version = "1.2" }
request = "GET /admin/users HTTP/1.1\nHost: api.test\n"

[[policy.example]]
expect = "no_match"
tls = { version = "1.3" }
request = "GET /admin/users HTTP/1.1\nHost: api.test\n"
"#,
    )
    .expect("write");
    let events = dir.path().join("events.log");
    let up = TestUpstream::start(Behaviour::Ok);
    let c = cert.cert.to_str().expect("utf-8");
    let k = cert.key.to_str().expect("utf-8");
    let p = pack.to_str().expect("utf-8");
    let e = events.to_str().expect("utf-8");
    let gw = Gateway::proxy_with_policy(
        up.addr(),
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--cert",
            c,
            "--key",
            k,
            "--pack",
            p,
            "--events",
            e,
        ],
    );
    let (plain, tls) = (gw.addrs()[0], gw.addrs()[1]);
    let v12 = client(&[&cert], &[&rustls::version::TLS12], &["http/1.1"]);
    let v13 = client(&[&cert], &[&rustls::version::TLS13], &["http/1.1"]);
    let mut old = RawConn::connect_tls(tls, v12, "api.test").expect("handshake");
    assert_eq!(old.roundtrip(&get("/admin/users")).status, 403);
    let mut new = RawConn::connect_tls(tls, v13, "api.test").expect("handshake");
    assert_eq!(new.roundtrip(&get("/admin/users")).status, 200);
    // A plain connection has no TLS facts: the condition is false.
    let mut clear = RawConn::open(plain);
    assert_eq!(clear.roundtrip(&get("/admin/users")).status, 200);

    // The block's event names the handshake.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let line = loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains("E2E-TLS12-ADMIN")) {
            break l.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no event: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("event JSON");
    let t = &v["tls"];
    assert_eq!(t["version"], "1.2", "{line}");
    assert_eq!(t["sni"], "api.test", "{line}");
    assert_eq!(t["alpn"], "http/1.1", "{line}");
    assert_eq!(t["resumed"], false, "{line}");
    let ja4 = t["ja4"].as_str().expect("ja4");
    assert!(ja4.starts_with("t12d") && ja4.len() == 36, "{ja4}");
    assert_eq!(t["ja3"].as_str().map(str::len), Some(32), "{line}");
}

/// The whole chain with real parts: curl's real ClientHello, its JA4 in the
/// default pack's tool list, and RP-TOOL-017 blocking a browser User-Agent
/// sent over that TLS stack, while curl as itself is served.
#[test]
fn a_browser_user_agent_over_curls_tls_stack_is_blocked_by_the_default_pack() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let (_gw, addr) = tls_proxy(&up, &cert, true);
    let resolve = format!("api.test:{}:127.0.0.1", addr.port());
    let curl = |ua: &str| -> String {
        let out = Command::new(tool("curl"))
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-A", ua])
            .args(["--cacert", cert.cert.to_str().expect("path")])
            .args(["--resolve", &resolve])
            .arg(format!("https://api.test:{}/api/v1/items", addr.port()))
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    // The list holds the JA4 of Debian 12's curl (OpenSSL 3.0); a machine
    // with another curl build has another fingerprint and this would fail:
    // see dataplane/tests/fixtures/tls/tools/README.md to add its capture.
    assert_eq!(curl(chrome), "403", "a browser User-Agent over curl's TLS");
    let before = up.request_count();
    assert_eq!(curl("curl/7.88.1"), "200", "curl as itself");
    assert_eq!(up.request_count(), before + 1);
}

/// A client that starts a handshake and stalls (half a ClientHello) is
/// closed at the header-read deadline, like a slowloris on a plain port,
/// while other clients are served.
#[test]
fn a_stalled_handshake_is_closed_at_the_header_deadline() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .timeout("header_read", "1s")
            .tls(&format!(
                "[[tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"",
                cert.cert.display(),
                cert.key.display()
            ))
            .render(),
    );
    let addr = gw.addrs()[0];
    let mut stalled = RawConn::open(addr);
    // A record header announcing 512 bytes, then only 10 of them.
    stalled
        .send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcd")
        .expect("send");
    let started = std::time::Instant::now();
    let cfg = client(&[&cert], &[&rustls::version::TLS13], &["http/1.1"]);
    let mut good = RawConn::connect_tls(addr, cfg, "api.test").expect("handshake");
    assert_eq!(good.roundtrip(&get("/")).status, 200);
    assert!(
        stalled.is_closed_within(Duration::from_secs(4)),
        "stalled handshake still open"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "closed before the deadline: {waited:?}"
    );
}

/// The gateway ends TLS sessions in order: after a response on a closing
/// connection, and at the idle keep-alive timeout, the client reads a
/// close_notify (a clean end of stream) rather than a bare TCP close that
/// it could not tell from a truncation attack.
#[test]
fn the_gateway_sends_close_notify_when_it_closes() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tmp");
    let cert = make_cert(dir.path(), "api", &["api.test"]);
    let up = TestUpstream::start(Behaviour::Ok);
    let config = GatewayConfig::new(up.addr())
        .timeout("idle_keepalive", "300ms")
        .tls(&format!(
            "[[tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"",
            cert.cert.display(),
            cert.key.display()
        ))
        .render();
    let gw = Gateway::run_config(&config);
    let addr = gw.addrs()[0];
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let open = || {
            let conn = rustls::ClientConnection::new(
                client(&[&cert], &[version], &["http/1.1"]),
                "api.test".try_into().expect("name"),
            )
            .expect("client");
            let tcp = std::net::TcpStream::connect(addr).expect("connect");
            tcp.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            rustls::StreamOwned::new(conn, tcp)
        };
        // A request asking to close: the response, then close_notify.
        let mut s = open();
        s.write_all(b"GET /a HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut got = Vec::new();
        s.read_to_end(&mut got)
            .unwrap_or_else(|e| panic!("{version:?}: not a clean end ({e}) after {got:?}"));
        assert!(got.starts_with(b"HTTP/1.1 200"), "{version:?}");
        // A keep-alive connection left idle past the timeout.
        let mut s = open();
        s.write_all(b"GET /b HTTP/1.1\r\nHost: api.test\r\n\r\n")
            .expect("send");
        let mut got = Vec::new();
        s.read_to_end(&mut got)
            .unwrap_or_else(|e| panic!("{version:?}: idle close not clean ({e})"));
        assert!(got.starts_with(b"HTTP/1.1 200"), "{version:?}");
    }
}
