//! Enforcement actions end to end: tarpit holds on the core's timer,
//! deception imitating the upstream, decoy tokens, escalation to a timed
//! denylist and the global dry run — the real binary, a pack on disk, and a
//! real upstream that counts what reaches it.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use rampart_tests::upstream::{BRANDED_BODY, BRANDED_HEADERS};
use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, Response, TestUpstream};

const PACK_TOML: &str = "name = \"e2e-enforce\"\nversion = \"1.0.0\"\n";

const SIGNATURES: &str = r#"
[[signature]]
id = "sqli.union"
pattern = 'union\s+select'
fields = ["@values", "body"]
transforms = ["url_decode", "plus_to_space", "lowercase"]
"#;

const BLOCK_JSON: &str = r#"{"blocked":true,"policy":"{{policy_id}}"}"#;
const DECOY_JSON: &str = r#"{"status":"ok","data":[{"id":1}]}"#;
const LOGIN_JSON: &str = r#"{"token":"{{decoy_token}}","expires_in":3600}"#;

/// Policies: `/slow` is tarpitted (delay and final action vary per test),
/// SQLi on `/login` gets a fake login, other SQLi is `sqli_action`
/// (optionally escalating).
fn policies(tarpit: &str, sqli_action: &str, escalate: &str) -> String {
    format!(
        r#"
[[policy]]
id = "T-TARPIT"
name = "slow path"
severity = "high"
priority = 5
condition = {{ path = "/slow" }}
action = {tarpit}

[[policy]]
id = "T-LOGIN"
name = "sqli on login"
severity = "critical"
priority = 8
condition = {{ all = [{{ path = "/login" }}, {{ signature = "sqli.union" }}] }}
action = {{ deceive = {{ template = "fake-login" }} }}

[[policy]]
id = "T-SQLI"
name = "union select"
severity = "critical"
priority = 10
condition = {{ signature = "sqli.union" }}
action = {sqli_action}
{escalate}

[[policy]]
id = "T-TAG"
name = "tag probes"
severity = "low"
priority = 20
condition = {{ path = "/probe" }}
action = {{ tag = {{ headers = {{ "X-Rampart-Suspect" = "probe" }} }} }}
"#
    )
}

fn write_pack(dir: &Path, policies: &str) {
    for d in ["signatures", "policies", "responses"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    std::fs::write(dir.join("pack.toml"), PACK_TOML).expect("write");
    std::fs::write(dir.join("signatures/s.toml"), SIGNATURES).expect("write");
    std::fs::write(dir.join("responses/block.json"), BLOCK_JSON).expect("write");
    std::fs::write(dir.join("responses/decoy.json"), DECOY_JSON).expect("write");
    std::fs::write(dir.join("responses/fake-login.json"), LOGIN_JSON).expect("write");
    std::fs::write(dir.join("policies/p.toml"), policies).expect("write");
}

struct Setup {
    up: TestUpstream,
    gw: Gateway,
    _dir: tempfile::TempDir,
}

fn start(behaviour: Behaviour, policies: &str, workers: u32, extra: &str) -> Setup {
    let up = TestUpstream::start(behaviour);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), policies);
    let cfg = GatewayConfig::new(up.addr())
        .workers(workers)
        .policy(&format!(
            "packs = [{:?}]\nwatch = false",
            dir.path().display().to_string()
        ))
        .extra(extra);
    let gw = Gateway::run_config(&cfg.render());
    Setup { up, gw, _dir: dir }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").into_bytes()
}

const ATTACK: &str = "/api/items?q=1%20UNION%20SELECT%20password";

/// Whether a response (any byte) is already waiting on `c`.
fn answered_yet(c: &RawConn) -> bool {
    let s = c.stream();
    s.set_nonblocking(true).expect("nonblocking");
    let mut b = [0u8; 1];
    let got = matches!(s.peek(&mut b), Ok(n) if n > 0);
    s.set_nonblocking(false).expect("blocking");
    got
}

#[test]
fn tarpit_holds_the_response_without_stalling_the_core() {
    let s = start(
        Behaviour::Ok,
        &policies(
            r#"{ tarpit = { delay = "1500ms", then = "block" } }"#,
            "\"block\"",
            "",
        ),
        1,
        "",
    );
    let held_at = Instant::now();
    let mut held = RawConn::open(s.gw.addr());
    held.send(&get("/slow")).expect("send");
    // Meanwhile, on the same (only) core, other clients are served.
    for i in 0..5 {
        let r = RawConn::open(s.gw.addr()).roundtrip(&get(&format!("/ok/{i}")));
        assert_eq!(r.status, 200);
    }
    assert!(
        !answered_yet(&held),
        "the held client must not be answered before its delay"
    );
    let r = held.read_response().expect("held response");
    let waited = held_at.elapsed();
    assert_eq!(r.status, 403, "tarpit then block");
    assert!(r.text().contains("T-TARPIT"), "{}", r.text());
    assert!(
        waited >= Duration::from_millis(1350),
        "held only {waited:?} of 1500ms"
    );
    assert_eq!(
        s.up.request_count(),
        5,
        "the held request never went upstream"
    );
}

#[test]
fn tarpit_over_the_cap_applies_the_final_action_at_once() {
    let s = start(
        Behaviour::Ok,
        &policies(
            r#"{ tarpit = { delay = "5s", then = "block" } }"#,
            "\"block\"",
            "",
        ),
        1,
        "[enforcement]\ntarpit_max_per_core = 1\n",
    );
    let mut first = RawConn::open(s.gw.addr());
    first.send(&get("/slow")).expect("send");
    std::thread::sleep(Duration::from_millis(200));
    let r = RawConn::open(s.gw.addr()).roundtrip(&get("/slow"));
    assert_eq!(r.status, 403, "over the cap: blocked without the hold");
    assert!(!answered_yet(&first), "the first one is still held");
    drop(first);
    assert_eq!(s.up.request_count(), 0);
}

#[test]
fn a_client_leaving_during_a_hold_leaves_the_gateway_healthy() {
    let mut s = start(
        Behaviour::Ok,
        &policies(
            r#"{ tarpit = { delay = "800ms", then = "block" } }"#,
            "\"block\"",
            "",
        ),
        1,
        "[enforcement]\ntarpit_max_per_core = 2\n",
    );
    // Two clients walk away mid-hold: one closes, one resets.
    for reset in [false, true] {
        let mut c = RawConn::open(s.gw.addr());
        c.send(&get("/slow")).expect("send");
        std::thread::sleep(Duration::from_millis(100));
        if reset {
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            use std::os::fd::AsRawFd;
            // SAFETY: setsockopt on our own socket with a correctly sized struct.
            unsafe {
                libc::setsockopt(
                    c.stream().as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as u32,
                );
            }
        }
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert!(s.gw.is_running());
    assert_eq!(
        RawConn::open(s.gw.addr()).roundtrip(&get("/fine")).status,
        200
    );
    // Their hold slots came back: two holds at once still fit under the cap.
    let mut a = RawConn::open(s.gw.addr());
    let mut b = RawConn::open(s.gw.addr());
    a.send(&get("/slow")).expect("send");
    b.send(&get("/slow")).expect("send");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!answered_yet(&a) && !answered_yet(&b), "both are held");
    assert_eq!(a.read_response().expect("a").status, 403);
    assert_eq!(b.read_response().expect("b").status, 403);
    assert_eq!(s.up.request_count(), 1);
}

#[test]
fn tarpit_then_deceive_answers_the_decoy_after_the_delay() {
    let s = start(
        Behaviour::Ok,
        &policies(
            r#"{ tarpit = { delay = "600ms", then = { deceive = { template = "decoy" } } } }"#,
            "\"block\"",
            "",
        ),
        1,
        "",
    );
    let t = Instant::now();
    let r = RawConn::open(s.gw.addr()).roundtrip(&get("/slow"));
    assert!(
        t.elapsed() >= Duration::from_millis(540),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), DECOY_JSON);
    assert_eq!(s.up.request_count(), 0);
}

#[test]
fn escalation_denies_the_client_until_it_expires() {
    let s = start(
        Behaviour::Ok,
        &policies("\"drop\"", "\"block\"", "escalate = \"1s\""),
        1,
        "",
    );
    let r = RawConn::open(s.gw.addr()).roundtrip(&get(ATTACK));
    assert_eq!(r.status, 403);
    let denied_at = Instant::now();
    // The same client's benign request gets the same answer, unscanned.
    let r = RawConn::open(s.gw.addr()).roundtrip(&get("/api/items"));
    assert_eq!(r.status, 403, "denylisted");
    assert!(r.text().contains("T-SQLI"), "same policy: {}", r.text());
    assert_eq!(
        s.up.request_count(),
        0,
        "nothing from it reached the upstream"
    );
    // Another client is unaffected.
    let mut other = RawConn::connect_from(Ipv4Addr::new(127, 0, 0, 2), s.gw.addr())
        .expect("connect from 127.0.0.2");
    assert_eq!(other.roundtrip(&get("/api/items")).status, 200);
    assert_eq!(s.up.request_count(), 1);
    // After the escalation expires, benign requests pass again.
    let left = Duration::from_millis(1200).saturating_sub(denied_at.elapsed());
    std::thread::sleep(left);
    let r = RawConn::open(s.gw.addr()).roundtrip(&get("/api/items"));
    assert_eq!(r.status, 200, "the denylist entry expired");
    assert_eq!(s.up.request_count(), 2);
}

fn names(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    v.sort();
    v
}

#[test]
fn deception_looks_like_the_upstream_on_that_route() {
    let s = start(
        Behaviour::Branded,
        &policies("\"block\"", r#"{ deceive = { template = "decoy" } }"#, ""),
        1,
        "",
    );
    let mut real = Response::default();
    for _ in 0..3 {
        real = RawConn::open(s.gw.addr()).roundtrip(&get("/api/items"));
        assert_eq!(real.status, 200);
        assert_eq!(real.body, BRANDED_BODY);
    }
    let seen = s.up.request_count();
    let fake = RawConn::open(s.gw.addr()).roundtrip(&get(ATTACK));
    assert_eq!(
        s.up.request_count(),
        seen,
        "the attack never reached the upstream"
    );
    assert_eq!(fake.status, real.status);
    assert_eq!(fake.reason, real.reason);
    assert_eq!(fake.text(), DECOY_JSON);
    assert_eq!(names(&fake), names(&real), "same header names");
    // Per-response values are fresh but shaped alike.
    let cookie = fake
        .header("set-cookie")
        .expect("a cookie like the upstream's");
    assert!(
        cookie.starts_with("sid=") && cookie.ends_with("; HttpOnly"),
        "{cookie}"
    );
    assert_ne!(Some(cookie), real.header("set-cookie"));
    let etag = fake.header("etag").expect("an etag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    for (k, v) in BRANDED_HEADERS {
        assert_eq!(fake.header(k).as_deref(), Some(*v), "{k}");
    }
    let order = |r: &Response| -> Vec<String> {
        r.headers
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| BRANDED_HEADERS.iter().any(|(k, _)| k == n))
            .collect()
    };
    assert_eq!(
        order(&fake),
        order(&real),
        "in the upstream's order and case"
    );
    assert_eq!(
        fake.header("content-length").as_deref(),
        Some(DECOY_JSON.len().to_string().as_str())
    );
    assert!(fake.header("date").is_some());
    // The deceived client keeps getting the deception on that route, even
    // for a benign request.
    let again = RawConn::open(s.gw.addr()).roundtrip(&get("/api/items"));
    assert_eq!(again.text(), DECOY_JSON);
    assert_eq!(s.up.request_count(), seen);
}

#[test]
fn a_decoy_token_from_a_deceived_login_is_refused_on_other_routes() {
    let s = start(
        Behaviour::Ok,
        &policies("\"block\"", "\"block\"", ""),
        2,
        "[[route]]\npath_prefix = \"/api/\"\nupstream = \"app\"\n",
    );
    let body = "user=admin&password=x%27%20union%20select%201--";
    let login = format!(
        "POST /login HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = RawConn::open(s.gw.addr()).roundtrip(login.as_bytes());
    assert_eq!(r.status, 200, "a fake login success");
    let text = r.text();
    let token = text
        .split("\"token\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("a token")
        .to_owned();
    assert_eq!(token.split('.').count(), 3, "JWT-shaped: {token}");
    assert!(token.starts_with("eyJ"), "{token}");
    assert_eq!(s.up.request_count(), 0);
    // Presented later, from another address, on another route: refused.
    let from = Ipv4Addr::new(127, 0, 0, 2);
    for req in [
        format!("GET /api/orders HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {token}\r\n\r\n"),
        format!("GET /api/orders HTTP/1.1\r\nHost: api.test\r\nCookie: theme=dark; session={token}\r\n\r\n"),
    ] {
        let r = RawConn::connect_from(from, s.gw.addr())
            .expect("connect")
            .roundtrip(req.as_bytes());
        assert_eq!(r.status, 401, "decoy refused");
    }
    assert_eq!(
        s.up.request_count(),
        0,
        "decoy requests never reach the upstream"
    );
    // A tampered token is not a decoy: it is the application's business.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let req = format!(
        "GET /api/orders HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {forged}\r\n\r\n"
    );
    let r = RawConn::connect_from(from, s.gw.addr())
        .expect("connect")
        .roundtrip(req.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(s.up.request_count(), 1);
}

#[test]
fn dry_run_forwards_attacks_unchanged() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(
        dir.path(),
        &policies(
            r#"{ tarpit = { delay = "2s", then = "block" } }"#,
            "\"block\"",
            "escalate = \"1m\"",
        ),
    );
    let cfg = GatewayConfig::new(up.addr()).workers(1).policy(&format!(
        "packs = [{:?}]\nwatch = false\nmode = \"monitor\"",
        dir.path().display().to_string()
    ));
    let gw = Gateway::run_config(&cfg.render());
    // The benign request after the attack shows the escalating policy
    // denylisted no one.
    for path in [ATTACK, "/slow", "/probe", "/api/items"] {
        let r = RawConn::open(gw.addr()).roundtrip(&get(path));
        assert_eq!(r.status, 200, "{path}: the upstream's answer");
    }
    let seen = up.requests();
    assert_eq!(seen.len(), 4, "everything reached the upstream");
    assert_eq!(seen[0].target, ATTACK, "unchanged");
    assert!(
        seen.iter().all(|q| !q.has_header("x-rampart-suspect")),
        "no tag headers in a dry run"
    );
    // `--monitor` does the same with the embedded default pack.
    let gw = Gateway::proxy_with_policy(up.addr(), &["--monitor"]);
    let r = RawConn::open(gw.addr()).roundtrip(&get(ATTACK));
    assert_eq!(r.status, 200);
    assert_eq!(up.request_count(), 5);
}

/// Rewrites the pack's policies and asks for a reload (SIGHUP).
fn reload(s: &Setup, policies: &str) {
    let dir = s._dir.path();
    let tmp = dir.join("policies/.p.toml.tmp");
    std::fs::write(&tmp, policies).expect("write");
    std::fs::rename(&tmp, dir.join("policies/p.toml")).expect("rename");
    // SAFETY: signalling the gateway process this test started.
    unsafe {
        libc::kill(s.gw.pid() as i32, libc::SIGHUP);
    }
}

/// Polls `probe` until it returns true (or panics after 10 s).
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_reload_keeps_escalations_of_policies_that_still_exist() {
    let s = start(
        Behaviour::Ok,
        &policies("\"drop\"", "\"block\"", "escalate = \"10m\""),
        1,
        "",
    );
    assert_eq!(
        RawConn::open(s.gw.addr()).roundtrip(&get(ATTACK)).status,
        403
    );
    assert_eq!(RawConn::open(s.gw.addr()).roundtrip(&get("/a")).status, 403);
    // A reload that keeps T-SQLI (another policy changed): still denied.
    let other = Ipv4Addr::new(127, 0, 0, 2);
    reload(
        &s,
        &policies("\"drop\"", "\"block\"", "escalate = \"10m\"")
            .replace("\"probe\"", "\"probe-2\""),
    );
    eventually("the first reload", || {
        let r = RawConn::connect_from(other, s.gw.addr())
            .expect("connect")
            .roundtrip(&get("/probe"));
        r.status == 200
            && s.up
                .requests()
                .last()
                .and_then(|q| q.header("x-rampart-suspect"))
                .as_deref()
                == Some("probe-2")
    });
    let r = RawConn::open(s.gw.addr()).roundtrip(&get("/a"));
    assert_eq!(r.status, 403, "still denylisted after the reload");
    assert!(r.text().contains("T-SQLI"), "{}", r.text());
    // A reload without T-SQLI drops its entries.
    let without: String = policies("\"drop\"", "\"block\"", "")
        .split("[[policy]]")
        .filter(|p| !p.contains("T-SQLI"))
        .collect::<Vec<_>>()
        .join("[[policy]]");
    reload(&s, &without);
    eventually("the denylist entry to go with its policy", || {
        RawConn::open(s.gw.addr()).roundtrip(&get("/a")).status == 200
    });
}

#[test]
fn a_drain_answers_held_clients_instead_of_waiting_for_them() {
    let mut s = start(
        Behaviour::Ok,
        &policies(
            r#"{ tarpit = { delay = "60s", then = "block" } }"#,
            "\"block\"",
            "",
        ),
        1,
        "[timeouts]\nshutdown_grace = \"60s\"\n",
    );
    let mut held = RawConn::open(s.gw.addr());
    held.send(&get("/slow")).expect("send");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!answered_yet(&held));
    s.gw.sigterm();
    let r = held.read_response().expect("answered when the drain began");
    assert_eq!(r.status, 403);
    // Well before the hold (or the grace) would have ended.
    assert!(s.gw.wait_exit(Duration::from_secs(20)).success());
    assert_eq!(s.up.request_count(), 0);
}

#[test]
fn deception_takes_about_as_long_as_the_upstream_does() {
    let s = start(
        Behaviour::Delay(400),
        &policies("\"block\"", r#"{ deceive = { template = "decoy" } }"#, ""),
        1,
        "",
    );
    for _ in 0..3 {
        assert_eq!(
            RawConn::open(s.gw.addr())
                .roundtrip(&get("/api/items"))
                .status,
            200
        );
    }
    let t = Instant::now();
    let r = RawConn::open(s.gw.addr()).roundtrip(&get(ATTACK));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), DECOY_JSON);
    // Drawn from the latency bucket the upstream's answers fell in
    // ([256 ms, 512 ms)), so never an instant answer.
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(s.up.request_count(), 3);
}
