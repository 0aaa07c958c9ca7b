//! Client certificates (mutual TLS) end to end: the real `rampart` binary
//! with `[tls] client_auth`, a CA and client certificates made here (and one
//! made by `openssl`), real handshakes from rustls and curl, policies judging
//! the verified subject, and events recording it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_tests::client::RawConn;
use rampart_tests::gateway::{run_to_exit, Gateway};
use rampart_tests::upstream::{Behaviour, TestUpstream};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::crypto::ring as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore};

const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// The gateway's own certificate for `api.test`.
struct ServerCert {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

fn server_cert(dir: &Path) -> ServerCert {
    let ck = rcgen::generate_simple_self_signed(vec!["api.test".to_string()]).expect("rcgen");
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    std::fs::write(&cert, ck.cert.pem()).expect("write");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write");
    ServerCert {
        cert,
        key,
        der: ck.cert.der().clone(),
    }
}

/// A CA for client certificates, its certificate at `dir/name.pem` and its
/// key at `dir/name.key` (for `openssl x509 -req -CA`).
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    pem: PathBuf,
    key_pem: PathBuf,
}

/// A client certificate: DER for rustls, PEM files for curl.
struct ClientCert {
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).expect("ca");
        let pem = dir.join(format!("{name}.pem"));
        let key_pem = dir.join(format!("{name}.key"));
        std::fs::write(&pem, cert.pem()).expect("write");
        std::fs::write(&key_pem, key.serialize_pem()).expect("write");
        Ca {
            cert,
            key,
            pem,
            key_pem,
        }
    }

    /// A client certificate for `CN=cn,O=Example`, written as `dir/cn.pem`
    /// and `dir/cn.key`.
    fn client(&self, dir: &Path, cn: &str) -> ClientCert {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name
            .push(DnType::OrganizationName, "Example");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = p.signed_by(&key, &self.cert, &self.key).expect("sign");
        let cert_pem = dir.join(format!("{cn}.pem"));
        let key_pem = dir.join(format!("{cn}.key"));
        std::fs::write(&cert_pem, cert.pem()).expect("write");
        std::fs::write(&key_pem, key.serialize_pem()).expect("write");
        ClientCert {
            der: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            cert_pem,
            key_pem,
        }
    }
}

fn client(
    server: &ServerCert,
    version: &'static rustls::SupportedProtocolVersion,
    identity: Option<&ClientCert>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(server.der.clone()).expect("root");
    let b = ClientConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_protocol_versions(&[version])
        .expect("versions")
        .with_root_certificates(roots);
    let mut cfg = match identity {
        Some(c) => b
            .with_client_auth_cert(vec![c.der.clone()], c.key.clone_key())
            .expect("client certificate"),
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").into_bytes()
}

/// The status of `GET path` on a fresh connection; `None` when the handshake
/// or the exchange failed (a client the gateway refused).
fn status(addr: SocketAddr, cfg: Arc<ClientConfig>, path: &str) -> Option<u16> {
    let mut conn = RawConn::connect_tls(addr, cfg, "api.test").ok()?;
    conn.set_timeout(Duration::from_secs(5)).ok()?;
    conn.send(&get(path)).ok()?;
    conn.read_response().ok().map(|r| r.status)
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

/// curl's status code for `path`, with `cert` as its client certificate;
/// `000` when the TLS connection failed.
fn curl(addr: SocketAddr, server: &ServerCert, cert: Option<(&Path, &Path)>, path: &str) -> String {
    let resolve = format!("api.test:{}:127.0.0.1", addr.port());
    let mut cmd = Command::new(tool("curl"));
    cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--cacert", server.cert.to_str().expect("path")])
        .args(["--resolve", &resolve]);
    if let Some((c, k)) = cert {
        cmd.arg("--cert").arg(c).arg("--key").arg(k);
    }
    let out = cmd
        .arg(format!("https://api.test:{}{path}", addr.port()))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A gateway config with a TLS listener asking for client certificates.
fn config(server: &ServerCert, mode: &str, ca: &Path, up: SocketAddr, extra: &str) -> String {
    format!(
        r#"
[server]
workers = 2
listen = ["127.0.0.1:0"]
tls_listen = ["127.0.0.1:0"]

[admin]
listen = "127.0.0.1:0"

[tls]
client_auth = "{mode}"
client_ca = "{}"

[[tls.certificate]]
cert = "{}"
key = "{}"

[[upstream]]
name = "api"
servers = ["{up}"]

[[route]]
upstream = "api"
{extra}
"#,
        ca.display(),
        server.cert.display(),
        server.key.display(),
    )
}

fn handshakes(gw: &Gateway, outcome: &str) -> f64 {
    let metrics = rampart_tests::client::get(gw.admin_addr(), "/metrics")
        .expect("metrics")
        .text();
    rampart_tests::client::metric_value(
        &metrics,
        "rampart_tls_handshakes_total",
        &format!("outcome=\"{outcome}\""),
    )
}

#[test]
fn required_client_auth_serves_only_clients_with_a_certificate_from_the_ca() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let server = server_cert(d);
    let ca = Ca::new(d, "partners-ca");
    let other = Ca::new(d, "other-ca");
    let partner = ca.client(d, "partner-a");
    let stranger = other.client(d, "stranger");
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(&config(
        &server,
        "required",
        &ca.pem,
        up.addr(),
        "[policy]\nenabled = false\n",
    ));
    let tls = gw.addrs()[1];
    for v in [&rustls::version::TLS13, &rustls::version::TLS12] {
        assert_eq!(
            status(tls, client(&server, v, Some(&partner)), "/partner"),
            Some(200),
            "{v:?}: a certificate from the CA is served"
        );
        assert_eq!(
            status(tls, client(&server, v, None), "/anonymous"),
            None,
            "{v:?}: no certificate is refused"
        );
        assert_eq!(
            status(tls, client(&server, v, Some(&stranger)), "/stranger"),
            None,
            "{v:?}: a certificate from another CA is refused"
        );
    }
    // curl, with and without its certificate.
    let with = Some((partner.cert_pem.as_path(), partner.key_pem.as_path()));
    assert_eq!(curl(tls, &server, with, "/curl"), "200");
    assert_eq!(curl(tls, &server, None, "/curl-anonymous"), "000");
    assert_eq!(up.request_count(), 3, "only the partner's requests arrived");
    // Refusals are failed handshakes (counters are flushed once a second).
    let deadline = Instant::now() + Duration::from_secs(5);
    while (handshakes(&gw, "failed") < 5.0 || handshakes(&gw, "full") < 3.0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(handshakes(&gw, "failed"), 5.0);
    assert_eq!(handshakes(&gw, "full"), 3.0);
}

#[test]
fn optional_client_auth_lets_policies_judge_the_subject_and_events_record_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let server = server_cert(d);
    let ca = Ca::new(d, "partners-ca");
    let partner_a = ca.client(d, "partner-a");
    let partner_b = ca.client(d, "partner-b");
    let pack = d.join("pack");
    std::fs::create_dir_all(pack.join("policies")).expect("mkdir");
    std::fs::create_dir_all(pack.join("responses")).expect("mkdir");
    std::fs::write(pack.join("responses/block.json"), r#"{"blocked":true}"#).expect("write");
    std::fs::write(
        pack.join("pack.toml"),
        "name = \"mtls-e2e\"\nversion = \"1.0.0\"\n",
    )
    .expect("write");
    std::fs::write(
        pack.join("policies/partners.toml"),
        r#"
[[policy]]
id = "E2E-PARTNER-CERT"
name = "The partner API needs a client certificate"
severity = "medium"
condition = { all = [{ path = "/partner/**" }, { not = { tls = "client_subject" } }] }
action = "block"

[[policy.example]]
expect = "match"
tls = { version = "1.3" }
request = "GET /partner/orders HTTP/1.1\nHost: api.test\n"

[[policy.example]]
expect = "no_match"
tls = { client_subject = "CN=partner-a,O=Example", client_cn = "partner-a" }
request = "GET /partner/orders HTTP/1.1\nHost: api.test\n"

[[policy]]
id = "E2E-PARTNER-B-READS"
name = "Partner B may only read the reports"
severity = "medium"
condition = { all = [{ tls = "client_cn", equals = "partner-b" }, { not = { path = "/partner/reports/**" } }] }
action = "block"

[[policy.example]]
expect = "match"
tls = { client_subject = "CN=partner-b,O=Example", client_cn = "partner-b" }
request = "GET /partner/orders HTTP/1.1\nHost: api.test\n"

[[policy.example]]
expect = "no_match"
tls = { client_subject = "CN=partner-b,O=Example", client_cn = "partner-b" }
request = "GET /partner/reports/1 HTTP/1.1\nHost: api.test\n"

[[policy]]
id = "E2E-TAG-SUBJECT"
name = "Every request with a certificate is logged"
severity = "low"
condition = { tls = "client_subject", prefix = "CN=" }
action = "none"

[[policy.example]]
expect = "match"
tls = { client_subject = "CN=partner-a,O=Example" }
request = "GET / HTTP/1.1\nHost: api.test\n"
"#,
    )
    .expect("write");
    let events = d.join("events.log");
    let up = TestUpstream::start(Behaviour::Ok);
    let extra = format!(
        "[policy]\npacks = [\"{}\"]\n\n[events]\nsink = \"file\"\npath = \"{}\"\n",
        pack.display(),
        events.display()
    );
    let gw = Gateway::run_config(&config(&server, "optional", &ca.pem, up.addr(), &extra));
    let (plain, tls) = (gw.addrs()[0], gw.addrs()[1]);
    let v13 = &rustls::version::TLS13;
    let anonymous = client(&server, v13, None);
    let a = client(&server, v13, Some(&partner_a));
    let b = client(&server, v13, Some(&partner_b));
    // Without a certificate: served, but not on the partner API.
    assert_eq!(status(tls, anonymous.clone(), "/public"), Some(200));
    assert_eq!(status(tls, anonymous, "/partner/orders"), Some(403));
    // A plain connection has no client certificate either.
    assert_eq!(
        RawConn::open(plain)
            .roundtrip(&get("/partner/orders"))
            .status,
        403
    );
    // Partner A everywhere, partner B only on the reports.
    assert_eq!(status(tls, a, "/partner/orders"), Some(200));
    assert_eq!(status(tls, b.clone(), "/partner/reports/7"), Some(200));
    assert_eq!(status(tls, b, "/partner/orders"), Some(403));
    // An odd subject made by openssl (a multi-valued RDN, characters to
    // escape), through curl: the event's subject is what openssl prints.
    let odd = openssl_client(d, &ca);
    let with = Some((odd.0.as_path(), odd.1.as_path()));
    assert_eq!(curl(tls, &server, with, "/partner/odd"), "200");
    let want = Command::new(tool("openssl"))
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
        .arg(&odd.0)
        .output()
        .expect("openssl x509");
    let want = String::from_utf8_lossy(&want.stdout)
        .trim()
        .trim_start_matches("subject=")
        .to_owned();

    let event = |needle: &str| -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&events).unwrap_or_default();
            if let Some(l) = text.lines().find(|l| l.contains(needle)) {
                return serde_json::from_str(l).expect("event JSON");
            }
            assert!(Instant::now() < deadline, "no event with {needle}: {text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let blocked = event("E2E-PARTNER-B-READS");
    assert_eq!(blocked["tls"]["client_subject"], "CN=partner-b,O=Example");
    assert_eq!(blocked["tls"]["client_cn"], "partner-b");
    let odd_event = event("/partner/odd");
    assert_eq!(
        odd_event["tls"]["client_subject"],
        want.as_str(),
        "{odd_event}"
    );
    assert_eq!(odd_event["tls"]["client_cn"], "odd, \"one\"");
    let anonymous_block = event("E2E-PARTNER-CERT");
    assert!(
        anonymous_block["tls"].get("client_subject").is_none(),
        "{anonymous_block}"
    );
}

#[test]
fn a_changed_client_ca_file_is_picked_up_without_a_signal() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let server = server_cert(d);
    let old_ca = Ca::new(d, "old-ca");
    let new_ca = Ca::new(d, "new-ca");
    let old_client = old_ca.client(d, "old-client");
    let new_client = new_ca.client(d, "new-client");
    let live = d.join("live-ca.pem");
    std::fs::copy(&old_ca.pem, &live).expect("copy");
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(&config(
        &server,
        "required",
        &live,
        up.addr(),
        "[policy]\nenabled = false\n",
    ));
    let tls = gw.addrs()[1];
    let v13 = &rustls::version::TLS13;
    let old = client(&server, v13, Some(&old_client));
    assert_eq!(status(tls, old.clone(), "/old"), Some(200));
    assert_eq!(
        status(tls, client(&server, v13, Some(&new_client)), "/new"),
        None
    );
    // The CA is replaced the way a deployment does: write aside, rename.
    let tmp = d.join("live-ca.new");
    std::fs::copy(&new_ca.pem, &tmp).expect("copy");
    std::fs::rename(&tmp, &live).expect("rename");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(tls, client(&server, v13, Some(&new_client)), "/new") != Some(200) {
        assert!(Instant::now() < deadline, "the new CA was not picked up");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The old CA's client is refused now, even with its session ticket.
    assert_eq!(status(tls, old, "/old-again"), None);
}

/// A client certificate and key made by `openssl req` and signed with `ca`,
/// with a subject that needs escaping and holds a multi-valued RDN.
fn openssl_client(dir: &Path, ca: &Ca) -> (PathBuf, PathBuf) {
    let key = dir.join("odd.key");
    let csr = dir.join("odd.csr");
    let cert = dir.join("odd.pem");
    let ext = dir.join("odd.ext");
    std::fs::write(&ext, "extendedKeyUsage = clientAuth\n").expect("write");
    let run = |args: &[&str]| {
        let out = Command::new(tool("openssl"))
            .args(args)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let p = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    run(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
        "-utf8",
        "-subj",
        "/C=DE/O=Example\\, Inc./OU=Partners+UID=u-7/CN=odd, \"one\"",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca.pem),
        "-CAkey",
        &p(&ca.key_pem),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p(&ext),
        "-out",
        &p(&cert),
    ]);
    (cert, key)
}

#[test]
fn check_names_a_bad_client_ca_at_its_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = server_cert(dir.path());
    let path = dir.path().join("rampart.toml");
    let p = path.to_str().expect("utf-8");
    let text = config(
        &server,
        "required",
        Path::new("missing-ca.pem"),
        "127.0.0.1:9".parse().expect("addr"),
        "",
    );
    std::fs::write(&path, &text).expect("write");
    let out = run_to_exit(&["check", "--config", p], CLI_TIMEOUT);
    assert!(!out.status.success(), "check accepted a missing CA");
    let line = text
        .lines()
        .position(|l| l.starts_with("client_ca"))
        .expect("client_ca line")
        + 1;
    assert!(
        out.stderr
            .contains(&format!("{p}:{line}:13: tls.client_ca: "))
            && out
                .stderr
                .contains("missing-ca.pem: cannot read client CA certificates"),
        "{}",
        out.stderr
    );
    // client_auth without a CA.
    let text = text.replace("client_ca = \"missing-ca.pem\"\n", "");
    std::fs::write(&path, &text).expect("write");
    let out = run_to_exit(&["check", "--config", p], CLI_TIMEOUT);
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("tls.client_auth = \"required\" needs tls.client_ca"),
        "{}",
        out.stderr
    );
}
