//! The admin API (`/api/...` on the admin listener), end to end: the real
//! binary with a pack and an overlay on disk, a real upstream, real
//! attacks; status, events and their stream, policy results, and changes
//! written to the overlay, applied by reload, audited and kept across a
//! restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};
use serde_json::Value;

const TOKEN: &str = "test-token-0123456789abcdef";

const SIGNATURES: &str = r#"
[[signature]]
id = "sqli.union"
pattern = 'union\s+select'
fields = ["@values", "body"]
transforms = ["url_decode", "plus_to_space", "lowercase"]

[[signature]]
id = "lfi.passwd"
literal = "/etc/passwd"
fields = ["path", "@values"]
transforms = ["url_decode", "normalize_path"]
"#;

/// T-SQLI starts in monitor mode (the pack says so); T-LFI enforces.
const POLICIES: &str = r#"
[[policy]]
id = "T-SQLI"
name = "union select"
severity = "critical"
tags = ["sqli"]
mode = "monitor"
priority = 10
condition = { signature = "sqli.union" }
action = "block"

[[policy]]
id = "T-LFI"
name = "passwd"
severity = "high"
tags = ["lfi"]
priority = 20
condition = { signature = "lfi.passwd" }
action = "block"

[[policy]]
id = "T-BURST"
name = "burst on /burst"
severity = "low"
tags = ["rate"]
priority = 30
condition = { all = [{ path = "/burst*" }, { counter = "client.ip.rate_1s", gt = 100 }] }
action = { rate_limit = { retry_after = "1s" } }
"#;

/// An operator's overlay with a comment and an unrelated override, both
/// of which every change must keep.
const OVERLAY: &str = "# managed by hand and by the admin API\n[[override]]\npolicy_tag = \"lfi\"\nscore = 7 # keep me\n";

const ATTACK: &str = "/search?q=1%20UNION%20SELECT%20password";
const LFI: &str = "/files?name=/etc/passwd";

struct Env {
    dir: tempfile::TempDir,
    up: TestUpstream,
    config: String,
}

impl Env {
    fn overlay(&self) -> PathBuf {
        self.dir.path().join("overlay.toml")
    }
    fn audit(&self) -> PathBuf {
        self.dir.path().join("overlay.audit.jsonl")
    }
    fn start(&self) -> Gateway {
        Gateway::run_config(&self.config)
    }
}

/// A pack, an overlay, an event log file and (with `token`) a token file.
fn env(token: bool, admin_extra: &str) -> Env {
    let dir = tempfile::tempdir().expect("tmp");
    let pack = dir.path().join("pack");
    for d in ["signatures", "policies", "responses"] {
        std::fs::create_dir_all(pack.join(d)).expect("mkdir");
    }
    std::fs::write(
        pack.join("pack.toml"),
        "name = \"e2e\"\nversion = \"1.2.3\"\n",
    )
    .expect("w");
    std::fs::write(pack.join("signatures/s.toml"), SIGNATURES).expect("w");
    std::fs::write(pack.join("policies/p.toml"), POLICIES).expect("w");
    std::fs::write(pack.join("responses/block.json"), "{\"blocked\":true}").expect("w");
    std::fs::write(pack.join("responses/rate-limited.json"), "{\"slow\":1}").expect("w");
    let overlay = dir.path().join("overlay.toml");
    std::fs::write(&overlay, OVERLAY).expect("w");
    let mut admin = String::from(admin_extra);
    if token {
        let tf = dir.path().join("admin.token");
        std::fs::write(&tf, format!("# the test operator\nops {TOKEN}\n")).expect("w");
        admin.push_str(&format!("\ntoken_file = {:?}", tf.display().to_string()));
    }
    let up = TestUpstream::start(Behaviour::Ok);
    let config = GatewayConfig::new(up.addr())
        .policy(&format!(
            "packs = [{:?}]\noverlay = {:?}\nwatch = false",
            pack.display().to_string(),
            overlay.display().to_string()
        ))
        .events(&format!(
            "path = {:?}",
            dir.path().join("events.log").display().to_string()
        ))
        .admin(&admin)
        .render();
    Env { dir, up, config }
}

/// One admin request; the reply's status and JSON body.
fn api(
    gw: &Gateway,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let r = RawConn::open(gw.admin_addr()).roundtrip(req.as_bytes());
    let text = r.text();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:?}"));
    (r.status, v)
}

fn get(gw: &Gateway, path: &str) -> Value {
    let (st, v) = api(gw, "GET", path, None, None);
    assert_eq!(st, 200, "GET {path}: {v}");
    v
}

fn send(gw: &Gateway, path: &str) -> u16 {
    RawConn::open(gw.addr())
        .roundtrip(format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").as_bytes())
        .status
}

/// Polls `path` until `ok` holds (events reach the store within ~10 ms).
fn wait_for(gw: &Gateway, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = get(gw, path);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "GET {path} never matched: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn status_events_policies_and_clients_show_an_attack() {
    let e = env(true, "");
    let gw = e.start();
    let s = get(&gw, "/api/status");
    assert_eq!(s["workers"], 2);
    assert_eq!(s["admin"], gw.admin_addr().to_string());
    assert_eq!(s["listeners"][0], gw.addr().to_string());
    assert!(s["uptime_ms"].is_u64() && s["started_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(s["policy"]["packs"][0]["name"], "e2e");
    assert_eq!(s["policy"]["packs"][0]["version"], "1.2.3");
    assert_eq!(s["policy"]["packs"][0]["policies"], 3);
    assert_eq!(s["overlay"], e.overlay().display().to_string());
    assert_eq!(s["reloads"][0]["reason"], "start");
    assert_eq!(s["reloads"][0]["ok"], true);
    assert_eq!(s["changes"]["enabled"], true);
    assert_eq!(s["events"]["capacity"], 10_000);

    // Monitor mode: forwarded, logged, counted as a monitor hit.
    assert_eq!(send(&gw, ATTACK), 200);
    assert_eq!(send(&gw, LFI), 403);
    assert_eq!(send(&gw, "/benign"), 200);
    let ev = wait_for(&gw, "/api/events", |v| v["count"] == 2);
    assert_eq!(
        ev["events"][0]["event"]["policies"][0]["id"], "T-LFI",
        "newest first: {ev}"
    );
    let first = &ev["events"][1];
    assert_eq!(first["event"]["policies"][0]["id"], "T-SQLI");
    assert_eq!(first["event"]["mode"], "monitor");
    let t = first["time_ms"].as_u64().expect("time_ms");
    assert!(t > 1_600_000_000_000, "{first}");

    let only = get(&gw, "/api/events?policy=T-SQLI");
    assert_eq!(only["count"], 1);
    assert_eq!(get(&gw, "/api/events?client=127.0.0.1&limit=1")["count"], 1);
    assert_eq!(get(&gw, "/api/events?client=10.9.9.9")["count"], 0);
    assert_eq!(get(&gw, "/api/events?action=block&route=%2F")["count"], 1);
    assert_eq!(
        get(&gw, "/api/events?action=allow")["count"],
        1,
        "monitor: allowed"
    );
    assert_eq!(
        get(&gw, &format!("/api/events?since={}", t + 3_600_000))["count"],
        0
    );
    for bad in [
        "/api/events?limit=0",
        "/api/events?limit=x",
        "/api/events?since=soon",
        "/api/events?colour=red",
    ] {
        let (st, v) = api(&gw, "GET", bad, None, None);
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(v["error"].as_str().unwrap().contains('`'), "{v}");
    }

    let pols = get(&gw, "/api/policies");
    assert_eq!(pols["count"], 3);
    let sqli = pols["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "T-SQLI")
        .unwrap();
    assert_eq!(sqli["mode"], "monitor");
    assert_eq!(sqli["action"], "block");
    assert_eq!(sqli["tags"][0], "sqli");
    assert_eq!(sqli["counts"]["hits"], 1);
    assert_eq!(sqli["counts"]["monitor"], 1);

    let one = get(&gw, "/api/policies/T-SQLI");
    assert_eq!(one["name"], "union select");
    assert_eq!(one["pack"], "e2e");
    assert_eq!(one["minutes"][0]["monitor"], 1);
    assert_eq!(one["samples"][0]["event"]["path"], ATTACK);
    assert_eq!(one["fields"][0]["signature"], "sqli.union");
    assert!(
        one["fields"][0]["last_fragment"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("union"),
        "{one}"
    );
    let (st, v) = api(&gw, "GET", "/api/policies/T-NOPE", None, None);
    assert_eq!(st, 404, "{v}");

    let top = get(&gw, "/api/clients/top?by=events&limit=5");
    assert_eq!(top["clients"][0]["client"], "127.0.0.1");
    assert_eq!(top["clients"][0]["events"], 2);
    assert_eq!(top["clients"][0]["blocks"], 1);
    assert_eq!(top["clients"][0]["policies"]["T-LFI"], 1);
    let blocks = get(&gw, "/api/clients/top?by=blocks");
    assert_eq!(blocks["by"], "blocks");
    assert_eq!(blocks["clients"][0]["blocks"], 1);
    assert_eq!(
        api(&gw, "GET", "/api/clients/top?by=bytes", None, None).0,
        400
    );
    assert_eq!(get(&gw, "/api/routes")["routes"][0]["events"], 2);

    assert_eq!(api(&gw, "GET", "/api/nothing", None, None).0, 404);
    assert_eq!(api(&gw, "DELETE", "/api/status", None, None).0, 405);
    // The older endpoints are still there.
    assert_eq!(
        RawConn::open(gw.admin_addr())
            .roundtrip(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            .status,
        200
    );
}

/// Reads from an SSE connection until `want` appears in what was read.
fn read_until(s: &mut TcpStream, seen: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        assert!(
            Instant::now() < deadline,
            "never saw {want:?} on the stream: {seen}"
        );
        match s.read(&mut buf) {
            Ok(0) => panic!("stream closed before {want:?}: {seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("stream read: {e}"),
        }
    }
}

#[test]
fn the_event_stream_sends_new_matching_events_and_keepalives() {
    let e = env(false, "stream_keepalive = \"1s\"\nmax_streams = 2");
    let gw = e.start();
    let mut s = TcpStream::connect(gw.admin_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    s.write_all(b"GET /api/events/stream?policy=T-SQLI HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("w");
    let mut seen = String::new();
    read_until(&mut s, &mut seen, "\r\n\r\n");
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.to_lowercase()
            .contains("content-type: text/event-stream"),
        "{seen}"
    );
    // The stream holds no admin worker: other requests are answered.
    assert_eq!(get(&gw, "/api/status")["events"]["subscribers"], 1);

    assert_eq!(send(&gw, LFI), 403, "filtered out of this stream");
    assert_eq!(send(&gw, ATTACK), 200);
    read_until(&mut s, &mut seen, "event: event\n");
    read_until(&mut s, &mut seen, "\n\n");
    let data = seen
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let v: Value = serde_json::from_str(data).expect("data is JSON");
    assert_eq!(v["event"]["policies"][0]["id"], "T-SQLI");
    assert!(v["time_ms"].is_u64());
    assert!(!seen.contains("T-LFI"), "{seen}");
    read_until(&mut s, &mut seen, ": keep-alive\n\n");

    // Streams are bounded.
    let mut second = TcpStream::connect(gw.admin_addr()).expect("connect");
    second
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    second
        .write_all(b"GET /api/events/stream HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("w");
    // Its head has come back: it holds the second slot.
    read_until(&mut second, &mut String::new(), "\r\n\r\n");
    let (st, v) = api(&gw, "GET", "/api/events/stream", None, None);
    assert_eq!(st, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("max_streams"), "{v}");
    let (st, _) = api(&gw, "GET", "/api/events/stream?bogus=1", None, None);
    assert_eq!(st, 400);
    drop(second);
}

#[test]
fn changes_are_refused_when_no_token_is_configured() {
    let e = env(false, "");
    let gw = e.start();
    let (st, v) = api(
        &gw,
        "POST",
        "/api/policies/T-SQLI/mode",
        Some(TOKEN),
        Some(r#"{"mode":"enforce"}"#),
    );
    assert_eq!(st, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("token_file"), "{v}");
    assert_eq!(get(&gw, "/api/status")["changes"]["enabled"], false);
    assert_eq!(read(&e.overlay()), OVERLAY);
    assert!(!e.audit().exists());
}

#[test]
fn changes_need_the_right_token() {
    let e = env(true, "");
    let gw = e.start();
    for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
        let (st, v) = api(
            &gw,
            "POST",
            "/api/policies/T-SQLI/mode",
            token,
            Some(r#"{"mode":"enforce"}"#),
        );
        assert_eq!(st, 401, "{token:?}: {v}");
    }
    let r = RawConn::open(gw.admin_addr()).roundtrip(
        b"POST /api/policies/T-SQLI/mode HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer")));
    assert_eq!(read(&e.overlay()), OVERLAY);
    assert_eq!(send(&gw, ATTACK), 200, "still monitor");
}

#[test]
fn bad_changes_are_refused_and_change_nothing() {
    let e = env(true, "");
    let gw = e.start();
    let t = Some(TOKEN);
    let cases: &[(&str, &str, u16, Option<&str>)] = &[
        ("/api/policies/T-SQLI/mode", "{\"mode\":", 400, Some("body")),
        ("/api/policies/T-SQLI/mode", "[1]", 400, Some("body")),
        (
            "/api/policies/T-SQLI/mode",
            r#"{"mode":"loud"}"#,
            400,
            Some("mode"),
        ),
        ("/api/policies/T-SQLI/mode", r#"{}"#, 400, Some("mode")),
        (
            "/api/policies/T-SQLI/mode",
            r#"{"mode":"off","why":1}"#,
            400,
            Some("body"),
        ),
        (
            "/api/policies/T-SQLI/action",
            r#"{"action":"nuke"}"#,
            400,
            Some("action"),
        ),
        (
            "/api/policies/T-SQLI/threshold",
            r#"{"threshold":-3}"#,
            400,
            Some("threshold"),
        ),
        (
            "/api/policies/T-SQLI/exclusions",
            r#"{}"#,
            400,
            Some("body"),
        ),
        (
            "/api/policies/T-SQLI/exclusions",
            r#"{"client":"not-an-ip"}"#,
            400,
            Some("client"),
        ),
        (
            "/api/policies/T-SQLI/exclusions",
            r#"{"path":[]}"#,
            400,
            Some("path"),
        ),
        ("/api/policies/T-SQLI/colour", r#"{}"#, 404, None),
        ("/api/policies/T-NOPE/mode", r#"{"mode":"off"}"#, 404, None),
    ];
    for (path, body, status, field) in cases {
        let (st, v) = api(&gw, "POST", path, t, Some(body));
        assert_eq!(st, *status, "{path} {body}: {v}");
        assert!(!v["error"].as_str().unwrap().is_empty());
        if let Some(f) = field {
            assert_eq!(v["field"], *f, "{path} {body}: {v}");
        }
    }
    assert_eq!(read(&e.overlay()), OVERLAY, "nothing written");
    assert!(!e.audit().exists(), "nothing audited");

    // Valid JSON the loader refuses (T-SQLI has no counter to set a
    // threshold on): written, reloaded, refused, and the file put back.
    let (st, v) = api(
        &gw,
        "POST",
        "/api/policies/T-SQLI/threshold",
        t,
        Some(r#"{"threshold":5}"#),
    );
    assert_eq!(st, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("threshold"), "{v}");
    assert_eq!(read(&e.overlay()), OVERLAY, "restored");
    let audit = get(&gw, "/api/audit");
    assert_eq!(audit["entries"][0]["outcome"], "reload_failed", "{audit}");
    let s = get(&gw, "/api/status");
    assert_eq!(s["reloads"][0]["ok"], false, "{s}");
    assert_eq!(send(&gw, ATTACK), 200, "still the old policy");
}

#[test]
fn a_mode_change_blocks_the_next_attack_and_survives_a_restart() {
    let e = env(true, "");
    let gw = e.start();
    assert_eq!(send(&gw, ATTACK), 200, "monitor at first");
    let (st, v) = api(
        &gw,
        "POST",
        "/api/policies/T-SQLI/mode",
        Some(TOKEN),
        Some(r#"{"mode":"enforce"}"#),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["before"]["mode"], "monitor");
    assert_eq!(v["after"]["mode"], "enforce");
    assert_eq!(v["reload"]["ok"], true);
    assert_eq!(v["by"], "ops");
    let text = read(&e.overlay());
    assert!(
        text.starts_with(OVERLAY),
        "the operator's part is kept: {text}"
    );
    assert!(
        text.contains("policy = \"T-SQLI\"\nmode = \"enforce\""),
        "{text}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    assert_eq!(send(&gw, ATTACK), 403, "enforced now");
    assert_eq!(get(&gw, "/api/policies/T-SQLI")["mode"], "enforce");

    let audit = get(&gw, "/api/audit?limit=5");
    let a = &audit["entries"][0];
    assert_eq!(a["outcome"], "applied");
    assert_eq!(a["identity"], "ops");
    assert_eq!(a["policy"], "T-SQLI");
    assert_eq!(a["before"]["mode"], "monitor");
    assert_eq!(a["after"]["mode"], "enforce");
    assert!(a["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(a["endpoint"]
        .as_str()
        .unwrap()
        .contains("/api/policies/T-SQLI/mode"));
    assert!(a["time_ms"].is_u64());
    assert_eq!(read(&e.audit()).lines().count(), 1);

    drop(gw);
    let gw = e.start();
    assert_eq!(send(&gw, ATTACK), 403, "the overlay is read again at start");
    assert_eq!(get(&gw, "/api/policies/T-SQLI")["mode"], "enforce");
    assert_eq!(
        e.up.request_count(),
        1,
        "only the first (monitored) attack went upstream"
    );
}

#[test]
fn action_threshold_and_exclusion_changes_apply() {
    let e = env(true, "");
    let gw = e.start();
    let t = Some(TOKEN);
    let (st, v) = api(
        &gw,
        "POST",
        "/api/policies/T-LFI/action",
        t,
        Some(r#"{"action":"rate_limit"}"#),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["before"]["action"], "block");
    assert_eq!(send(&gw, LFI), 429);

    let (st, v) = api(
        &gw,
        "POST",
        "/api/policies/T-LFI/exclusions",
        t,
        Some(r#"{"path":"/files","client":["10.0.0.0/8"]}"#),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = api(
        &gw,
        "POST",
        "/api/policies/T-LFI/exclusions",
        t,
        Some(r#"{"path":["/files"]}"#),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["before"]["exclusions"], 1);
    assert_eq!(send(&gw, LFI), 200, "excluded on /files");
    assert_eq!(
        send(&gw, "/other?name=/etc/passwd"),
        429,
        "still applies elsewhere"
    );
    assert_eq!(get(&gw, "/api/policies/T-LFI")["exclusions"], 2);

    let text = read(&e.overlay());
    assert!(text.starts_with(OVERLAY), "{text}");
    assert_eq!(
        text.matches("policy = \"T-LFI\"").count(),
        1,
        "one override per policy: {text}"
    );
    assert_eq!(text.matches("[[override.exclude]]").count(), 2, "{text}");

    let (st, v) = api(
        &gw,
        "POST",
        "/api/policies/T-LFI/mode",
        t,
        Some(r#"{"mode":"off"}"#),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(send(&gw, "/other?name=/etc/passwd"), 200, "off");

    // A threshold: T-BURST's one counter, 100 a second, down to 2.
    let burst = |from: [u8; 4]| -> Vec<u16> {
        (0..4)
            .map(|_| send_from(&gw, std::net::Ipv4Addr::from(from), "/burst"))
            .collect()
    };
    assert_eq!(burst([127, 0, 0, 21]), [200, 200, 200, 200]);
    let (st, v) = api(
        &gw,
        "POST",
        "/api/policies/T-BURST/threshold",
        t,
        Some(r#"{"threshold":2}"#),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["after"]["threshold"], 2, "{v}");
    assert_eq!(burst([127, 0, 0, 22]), [200, 200, 429, 429], "rate_1s > 2");
    assert!(read(&e.overlay()).contains("threshold = 2"));

    let audit = get(&gw, "/api/audit");
    assert_eq!(audit["entries"].as_array().unwrap().len(), 5);
    assert_eq!(audit["entries"][1]["after"]["mode"], "off");
    assert_eq!(audit["entries"][0]["policy"], "T-BURST");
}

fn send_from(gw: &Gateway, from: std::net::Ipv4Addr, path: &str) -> u16 {
    RawConn::connect_from(from, gw.addr())
        .expect("connect from another loopback address")
        .roundtrip(format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").as_bytes())
        .status
}

#[test]
fn a_client_block_stops_that_client_until_lifted() {
    let e = env(true, "");
    let gw = e.start();
    let t = Some(TOKEN);
    for (body, field) in [
        (r#"{"client":"nope","duration":"10m"}"#, "client"),
        (r#"{"duration":"10m"}"#, "client"),
        (r#"{"client":"127.0.0.1","duration":"10x"}"#, "duration"),
        (r#"{"client":"127.0.0.1","duration":"0s"}"#, "duration"),
        (r#"{"client":"127.0.0.1","duration":"400d"}"#, "duration"),
        (r#"{"client":"127.0.0.1"}"#, "duration"),
        (
            r#"{"client":"127.0.0.1","duration":"1m","reason":7}"#,
            "reason",
        ),
    ] {
        let (st, v) = api(&gw, "POST", "/api/clients/block", t, Some(body));
        assert_eq!((st, v["field"].as_str()), (400, Some(field)), "{body}: {v}");
    }
    let (st, _) = api(
        &gw,
        "POST",
        "/api/clients/block",
        None,
        Some(r#"{"client":"127.0.0.1","duration":"10m"}"#),
    );
    assert_eq!(st, 401);
    assert_eq!(read(&e.overlay()), OVERLAY, "nothing written");

    let (st, v) = api(
        &gw,
        "POST",
        "/api/clients/block",
        t,
        Some(r#"{"client":"127.0.0.1","duration":"10m","reason":"stuffing"}"#),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["client"], "127.0.0.1");
    assert!(v["until_ms"].as_u64().unwrap() > v["reload"]["time_ms"].as_u64().unwrap());
    assert_eq!(v["reload"]["added"][0], "rampart.client-block");
    let text = read(&e.overlay());
    assert!(text.starts_with(OVERLAY), "{text}");
    assert!(
        text.contains("[[block]]\nclient = \"127.0.0.1\"\nuntil = \""),
        "{text}"
    );
    assert!(text.contains("reason = \"stuffing\""), "{text}");

    assert_eq!(send(&gw, "/benign"), 403, "blocked");
    assert_eq!(
        send_from(&gw, "127.0.0.2".parse().unwrap(), "/benign"),
        200,
        "others pass"
    );
    let ev = wait_for(&gw, "/api/events?policy=rampart.client-block", |v| {
        v["count"] == 1
    });
    assert_eq!(ev["events"][0]["event"]["action"], "block");
    let blocks = get(&gw, "/api/clients/blocks");
    assert_eq!(blocks["blocks"][0]["client"], "127.0.0.1");
    assert_eq!(blocks["blocks"][0]["active"], true);
    assert_eq!(blocks["blocks"][0]["reason"], "stuffing");
    assert_eq!(get(&gw, "/api/status")["policy"]["client_blocks"], 1);

    // Blocking again replaces the entry.
    let (st, v) = api(
        &gw,
        "POST",
        "/api/clients/block",
        t,
        Some(r#"{"client":"127.0.0.1/32","duration":"1h"}"#),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["before"]["reason"], "stuffing");
    assert_eq!(read(&e.overlay()).matches("[[block]]").count(), 1);

    let (st, v) = api(&gw, "DELETE", "/api/clients/block/127.0.0.1", t, None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(send(&gw, "/benign"), 200, "unblocked");
    assert!(!read(&e.overlay()).contains("[[block]]"));
    let (st, v) = api(&gw, "DELETE", "/api/clients/block/127.0.0.1", t, None);
    assert_eq!(st, 404, "{v}");
    let (st, _) = api(&gw, "DELETE", "/api/clients/block/bogus", t, None);
    assert_eq!(st, 400);

    // A network's slash may come unescaped in the DELETE path.
    let body = r#"{"client":"127.1.0.0/16","duration":"1h"}"#;
    let (st, v) = api(&gw, "POST", "/api/clients/block", t, Some(body));
    assert_eq!(st, 200, "{v}");
    let (st, v) = api(&gw, "DELETE", "/api/clients/block/127.1.0.0/16", t, None);
    assert_eq!(st, 200, "{v}");

    // A short block lifts by itself: the hub loads again when it expires.
    let (st, v) = api(
        &gw,
        "POST",
        "/api/clients/block",
        t,
        Some(r#"{"client":"127.0.0.0/8","duration":"2s"}"#),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(send(&gw, "/benign"), 403);
    let deadline = Instant::now() + Duration::from_secs(15);
    while send(&gw, "/benign") == 403 {
        assert!(Instant::now() < deadline, "the block never lifted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = get(&gw, "/api/status");
    assert_eq!(s["reloads"][0]["reason"], "client block expired", "{s}");
    assert_eq!(
        get(&gw, "/api/clients/blocks")["blocks"][0]["active"],
        false
    );
    let audit = get(&gw, "/api/audit");
    assert_eq!(audit["entries"].as_array().unwrap().len(), 6, "{audit}");
    assert_eq!(audit["entries"][0]["client"], "127.0.0.0/8");
}

#[test]
fn a_bad_token_file_stops_the_start_with_its_line() {
    let e = env(false, "");
    let tf = e.dir.path().join("weak.token");
    std::fs::write(&tf, "# weak\nshort\n").expect("w");
    let cfg = e.dir.path().join("rampart.toml");
    let text = e.config.replace(
        "[admin]\n",
        &format!("[admin]\ntoken_file = {:?}\n", tf.display().to_string()),
    );
    std::fs::write(&cfg, text).expect("w");
    let out = rampart_tests::gateway::run_to_exit(
        &["run", "--config", cfg.to_str().expect("utf-8")],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    assert!(
        out.stderr.contains(&format!(
            "{}:2: a token needs at least 16 characters",
            tf.display()
        )),
        "{}",
        out.stderr
    );
}
