//! Policies in the traffic path, end to end: the real binary with a pack on
//! disk in front of a real upstream that counts what it receives.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};

const PACK_TOML: &str = "name = \"e2e\"\nversion = \"1.0.0\"\n";
const BLOCK_JSON: &str = r#"{"blocked":true,"event":"{{event_id}}","policy":"{{policy_id}}"}"#;

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

[[signature]]
id = "tool.ua"
literal = "sqlmap"
flags = ["caseless"]
fields = ["headers.value:user-agent"]
"#;

/// `mode` and `action` of the SQLi policy vary between tests and reloads.
fn policies(sqli_action: &str) -> String {
    format!(
        r#"
[[policy]]
id = "T-SQLI"
name = "union select"
severity = "critical"
priority = 10
condition = {{ signature = "sqli.union" }}
action = {sqli_action}

[[policy]]
id = "T-LFI"
name = "passwd"
severity = "high"
priority = 20
condition = {{ signature = "lfi.passwd" }}
action = {{ rate_limit = {{ retry_after = "30s" }} }}

[[policy]]
id = "T-TOOL"
name = "sqlmap"
severity = "medium"
priority = 30
condition = {{ signature = "tool.ua" }}
action = {{ tag = {{ headers = {{ "X-Rampart-Suspect" = "scanner" }} }} }}

[[policy]]
id = "T-DROP"
name = "drop"
severity = "high"
priority = 40
condition = {{ path = "/drop-me" }}
action = "drop"
"#
    )
}

fn write_pack(dir: &Path, sqli_action: &str) {
    std::fs::create_dir_all(dir.join("signatures")).expect("mkdir");
    std::fs::create_dir_all(dir.join("policies")).expect("mkdir");
    std::fs::create_dir_all(dir.join("responses")).expect("mkdir");
    std::fs::write(dir.join("pack.toml"), PACK_TOML).expect("write");
    std::fs::write(dir.join("signatures/s.toml"), SIGNATURES).expect("write");
    std::fs::write(dir.join("responses/block.json"), BLOCK_JSON).expect("write");
    std::fs::write(
        dir.join("responses/rate-limited.json"),
        "{\"slow\":\"down\"}",
    )
    .expect("write");
    // Written whole and renamed, so a watcher never reads half a file.
    let tmp = dir.join("policies/.p.toml.tmp");
    std::fs::write(&tmp, policies(sqli_action)).expect("write");
    std::fs::rename(&tmp, dir.join("policies/p.toml")).expect("rename");
}

fn gateway(up: &TestUpstream, pack: &Path, watch: bool) -> Gateway {
    let cfg = GatewayConfig::new(up.addr()).policy(&format!(
        "packs = [{:?}]\nwatch = {watch}",
        pack.display().to_string()
    ));
    Gateway::run_config(&cfg.render())
}

fn req(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").into_bytes()
}

const ATTACK: &str = "/search?q=1%20UNION%20SELECT%20password";

#[test]
fn an_attack_is_stopped_and_never_reaches_the_upstream() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), false);
    let mut conn = RawConn::open(gw.addr());
    let r = conn.roundtrip(&req(ATTACK));
    assert_eq!(r.status, 403);
    let body = r.text();
    assert!(body.contains("\"policy\":\"T-SQLI\""), "{body}");
    let id = r.header("x-request-id").expect("request id");
    assert!(body.contains(&id), "the event id is the request id: {body}");
    // The request was read whole: the connection carries on, like after
    // any response.
    assert_eq!(r.header("connection"), None);
    let ok = conn.roundtrip(&req("/search?q=union+station"));
    assert_eq!(ok.status, 200);
    assert_eq!(
        up.request_count(),
        1,
        "only the benign request went upstream"
    );
}

#[test]
fn bodies_are_judged_whole_before_forwarding() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), false);
    // A form body larger than one receive buffer, the attack at its end.
    let filler = "a".repeat(40_000);
    let body = format!("pad={filler}&q=1+union+select+2");
    let head = format!("POST /form HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut c = RawConn::open(gw.addr());
    c.send(head.as_bytes()).expect("send head");
    std::thread::sleep(Duration::from_millis(50));
    c.send(body.as_bytes()).expect("send body");
    assert_eq!(c.read_response().expect("response").status, 403);
    // Chunked, split into several chunks across the attack.
    let mut c = RawConn::open(gw.addr());
    c.send(b"POST /c HTTP/1.1\r\nHost: api.test\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nunion\r\n3\r\n se\r\n4\r\nlect\r\n0\r\n\r\n").expect("send");
    assert_eq!(c.read_response().expect("response").status, 403);
    // The same size of benign body goes through intact.
    let body = format!("pad={filler}&q=fine");
    let head = format!("POST /form HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut c = RawConn::open(gw.addr());
    c.send(head.as_bytes()).expect("send head");
    c.send(body.as_bytes()).expect("send body");
    assert_eq!(c.read_response().expect("response").status, 200);
    assert!(up.wait_for_requests(1, Duration::from_secs(2)));
    assert_eq!(up.requests().len(), 1);
    assert_eq!(up.requests()[0].body_len, body.len() as u64);
}

#[test]
fn rate_limit_tag_and_drop_actions() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), false);
    let r = RawConn::open(gw.addr()).roundtrip(&req("/files/..%2f..%2fetc/passwd"));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("30"));
    assert_eq!(r.text(), "{\"slow\":\"down\"}");
    let r = RawConn::open(gw.addr())
        .roundtrip(b"GET /x HTTP/1.1\r\nHost: api.test\r\nUser-Agent: SQLMap/1.7\r\n\r\n");
    assert_eq!(r.status, 200, "tag forwards");
    let seen = up.requests();
    assert_eq!(
        seen.last()
            .and_then(|q| q.header("x-rampart-suspect"))
            .as_deref(),
        Some("scanner")
    );
    let mut c = RawConn::open(gw.addr());
    c.send(&req("/drop-me")).expect("send");
    let mut buf = Vec::new();
    let _ = c.stream().set_read_timeout(Some(Duration::from_secs(2)));
    let mut s = c.stream();
    let n = s.read_to_end(&mut buf).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "dropped without a response, got {:?}",
        String::from_utf8_lossy(&buf)
    );
    assert_eq!(up.request_count(), 1);
}

#[test]
fn monitor_mode_logs_but_forwards_and_no_policy_inspects_nothing() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    std::fs::write(
        dir.path().join("overlay.toml"),
        "[[override]]\npolicy = \"T-SQLI\"\nmode = \"monitor\"\n",
    )
    .expect("overlay");
    let cfg = GatewayConfig::new(up.addr()).policy(&format!(
        "packs = [{:?}]\noverlay = {:?}",
        dir.path().display().to_string(),
        dir.path().join("overlay.toml").display().to_string()
    ));
    let gw = Gateway::run_config(&cfg.render());
    assert_eq!(RawConn::open(gw.addr()).roundtrip(&req(ATTACK)).status, 200);
    drop(gw);
    let plain = Gateway::proxy(up.addr(), &[]);
    assert_eq!(
        RawConn::open(plain.addr()).roundtrip(&req(ATTACK)).status,
        200
    );
    assert_eq!(up.request_count(), 2);
}

fn admin(gw: &Gateway, method: &str, path: &str) -> (u16, String) {
    let r = RawConn::open(gw.admin_addr()).roundtrip(
        format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    (r.status, r.text())
}

/// Clients alternate attack and benign requests while the pack is rewritten
/// and reloaded 50 times, with a broken pack refused every tenth reload:
/// every request gets an answer from one of the two policies, none fails.
#[test]
fn fifty_reloads_under_load_fail_no_request() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), false);
    let addr = gw.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut blocked, mut bad) = (0u32, 0u32, Vec::new());
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let attack = n % 2 == 0;
                    let path = if attack { ATTACK } else { "/search?q=fine" };
                    // A blocked request closes its connection; open one per request.
                    let mut c = match RawConn::connect(addr) {
                        Ok(c) => c,
                        Err(e) => {
                            bad.push(format!("connect: {e}"));
                            continue;
                        }
                    };
                    let _ = c.set_timeout(Duration::from_secs(5));
                    if let Err(e) = c.send(&req(path)) {
                        bad.push(format!("send: {e}"));
                        continue;
                    }
                    match c.read_response() {
                        Ok(r) if r.status == 200 => ok += 1,
                        // The two pack variants block with 403 and 406.
                        Ok(r) if (r.status == 403 || r.status == 406) && attack => blocked += 1,
                        Ok(r) => bad.push(format!("{path}: status {}", r.status)),
                        Err(e) => bad.push(format!("{path}: {e}")),
                    }
                }
                (ok, blocked, bad)
            })
        })
        .collect();
    let started = Instant::now();
    for i in 0..50 {
        let action = if i % 2 == 0 {
            "{ block = { status = 406 } }"
        } else {
            "\"block\""
        };
        write_pack(dir.path(), action);
        let (status, body) = admin(&gw, "POST", "/admin/reload");
        assert_eq!(status, 200, "reload {i}: {body}");
        assert!(body.contains("\"ok\":true"), "{body}");
        if i % 10 == 5 {
            // A broken pack in the middle of the traffic: refused, and the
            // serving policy keeps serving.
            let broken = dir.path().join("policies/broken.toml");
            std::fs::write(&broken, "[[policy]]\nid = \"B\"\n").expect("write broken");
            let (status, body) = admin(&gw, "POST", "/admin/reload");
            assert_eq!(status, 422, "broken reload {i}: {body}");
            std::fs::remove_file(&broken).expect("remove broken");
        }
    }
    let reload_time = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut blocked) = (0, 0);
    for c in clients {
        let (o, b, bad) = c.join().expect("client thread");
        assert!(bad.is_empty(), "failed requests during reloads: {bad:?}");
        ok += o;
        blocked += b;
    }
    assert!(
        ok > 20 && blocked > 0,
        "traffic flowed during {reload_time:?}: {ok} ok, {blocked} blocked"
    );
    let (_, status) = admin(&gw, "GET", "/admin/policy");
    assert!(status.contains("\"generation\":51"), "{status}");
}

#[test]
fn a_broken_pack_never_replaces_the_serving_one() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), true);
    std::fs::write(dir.path().join("policies/broken.toml"), "[[policy]]\nid = \"X\"\nname = \"x\"\nseverity = \"high\"\ncondition = { signature = \"nope\" }\naction = \"block\"\n").expect("write");
    let (status, body) = admin(&gw, "POST", "/admin/reload");
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("broken.toml:5:27: X: unknown signature `nope`"),
        "{body}"
    );
    // Still the old policy: blocked; benign still flows.
    assert_eq!(RawConn::open(gw.addr()).roundtrip(&req(ATTACK)).status, 403);
    assert_eq!(RawConn::open(gw.addr()).roundtrip(&req("/ok")).status, 200);
    // Fixing the file is picked up by the watcher (no reload call).
    std::fs::remove_file(dir.path().join("policies/broken.toml")).expect("rm");
    write_pack(dir.path(), "{ block = { status = 451 } }");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = RawConn::open(gw.addr()).roundtrip(&req(ATTACK)).status;
        if s == 451 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher did not reload the fixed pack (status {s})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, policy) = admin(&gw, "GET", "/admin/policy");
    assert!(policy.contains("\"reason\":\"file change\""), "{policy}");
    assert!(policy.contains("\"changed\":[\"T-SQLI\"]"), "{policy}");
}

#[test]
fn sighup_reloads() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), false);
    write_pack(dir.path(), "{ block = { status = 418 } }");
    // SAFETY: signalling the child process this test started.
    unsafe { libc::kill(gw.pid() as i32, libc::SIGHUP) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while RawConn::open(gw.addr()).roundtrip(&req(ATTACK)).status != 418 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_pack_that_does_not_load_stops_startup_with_every_problem() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"blok\"");
    std::fs::write(
        dir.path().join("signatures/bad.toml"),
        "[[signature]]\nid = \"b\"\npattern = '(x'\nfields = [\"path\"]\n",
    )
    .expect("write");
    let cfg = GatewayConfig::new(up.addr())
        .policy(&format!("packs = [{:?}]", dir.path().display().to_string()));
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("rampart.toml");
    std::fs::write(&path, cfg.render()).expect("write config");
    let p = path.display().to_string();
    for cmd in ["check", "run"] {
        let done =
            rampart_tests::gateway::run_to_exit(&[cmd, "--config", &p], Duration::from_secs(20));
        assert_eq!(done.status.code(), Some(1), "{cmd}: {}", done.stderr);
        assert!(
            done.stderr
                .contains("policies/p.toml:8:10: T-SQLI: unknown action `blok`"),
            "{cmd}: {}",
            done.stderr
        );
        assert!(
            done.stderr
                .contains("signatures/bad.toml:1:1: b: invalid pattern"),
            "{cmd}: {}",
            done.stderr
        );
    }
}

/// A request whose body is still arriving when the policy is reloaded is
/// judged by the policy it started under; the next request by the new one.
#[test]
fn a_request_in_flight_during_a_reload_finishes_under_its_policy() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), false);
    let body = "q=1+union+select+2&pad=xxxxxxxx";
    let head = format!(
        "POST /form HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut c = RawConn::open(gw.addr());
    c.send(head.as_bytes()).expect("send head");
    c.send(&body.as_bytes()[..5])
        .expect("send the start of the body");
    std::thread::sleep(Duration::from_millis(100));
    write_pack(dir.path(), "{ block = { status = 406 } }");
    let (status, text) = admin(&gw, "POST", "/admin/reload");
    assert_eq!(status, 200, "{text}");
    c.send(&body.as_bytes()[5..]).expect("send the rest");
    assert_eq!(
        c.read_response().expect("response").status,
        403,
        "judged by the policy it started under"
    );
    let r = RawConn::open(gw.addr()).roundtrip(&req(ATTACK));
    assert_eq!(r.status, 406, "the next request sees the new policy");
}

/// After a policy's answer the connection serves the next request when the
/// blocked one was read whole: pipelined requests behind an attack are
/// answered in order, an attack in a body that came whole too, and nothing
/// of the blocked requests reaches the upstream. With `close_after_stop` the
/// gateway closes instead.
#[test]
fn a_blocked_request_read_whole_leaves_the_connection_usable() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), false);
    let mut conn = RawConn::open(gw.addr());
    let mut pipelined = req(ATTACK);
    pipelined.extend_from_slice(&req("/first"));
    pipelined.extend_from_slice(&req(ATTACK));
    pipelined.extend_from_slice(&req("/second"));
    conn.send(&pipelined).expect("send");
    let statuses: Vec<u16> = (0..4)
        .map(|_| conn.read_response().expect("response").status)
        .collect();
    assert_eq!(statuses, [403, 200, 403, 200]);
    let body = "q=1 UNION SELECT password";
    let post = format!(
        "POST /search HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(conn.roundtrip(post.as_bytes()).status, 403);
    assert_eq!(conn.roundtrip(&req("/third")).status, 200);
    assert_eq!(
        up.request_count(),
        3,
        "only the benign requests went upstream"
    );
    // HTTP/1.0 and `Connection: close` clients are answered and closed.
    let mut conn = RawConn::open(gw.addr());
    let r = conn.roundtrip(
        format!("GET {ATTACK} HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(conn.is_closed());
    drop(gw);

    let cfg = GatewayConfig::new(up.addr())
        .policy(&format!(
            "packs = [{:?}]\nwatch = false",
            dir.path().display().to_string()
        ))
        .extra("[enforcement]\nclose_after_stop = true");
    let gw = Gateway::run_config(&cfg.render());
    let mut conn = RawConn::open(gw.addr());
    let r = conn.roundtrip(&req(ATTACK));
    assert_eq!(r.status, 403);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(conn.is_closed(), "close_after_stop closes after the answer");
}

/// An attack in the head of a request whose body is still to come is
/// answered at once, without reading the body (nor sending 100 Continue);
/// when an earlier `allow` policy looks at the body, the gateway waits for
/// the body instead, since that policy could let the request through.
#[test]
fn an_attack_in_the_head_is_answered_before_the_body() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), "\"block\"");
    let gw = gateway(&up, dir.path(), false);
    let head = "POST /upload?q=1%20UNION%20SELECT%20password HTTP/1.1\r\nHost: api.test\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n";
    let mut conn = RawConn::open(gw.addr());
    conn.set_timeout(Duration::from_secs(5)).expect("timeout");
    conn.send(head.as_bytes()).expect("send head");
    let r = conn.read_response().expect("answered without the body");
    assert_eq!(r.status, 403, "not a 100 Continue: the body is not wanted");
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(conn.is_closed(), "the unread body is not waited for");
    assert_eq!(up.request_count(), 0);

    // An allow policy ahead of it that reads the body: the head alone is
    // not enough to stop the request.
    let allow = r#"
[[policy]]
id = "T-ALLOW-BODY"
name = "trusted uploads carry a marker in the body"
severity = "info"
priority = 1
condition = { signature = "sqli.union", fields = ["body"] }
action = "allow"
"#;
    std::fs::write(dir.path().join("policies/allow.toml"), allow).expect("write");
    let gw = gateway(&up, dir.path(), false);
    let head = "POST /upload?q=1%20UNION%20SELECT%20password HTTP/1.1\r\nHost: api.test\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n";
    let mut conn = RawConn::open(gw.addr());
    conn.set_timeout(Duration::from_millis(500))
        .expect("timeout");
    conn.send(head.as_bytes()).expect("send head");
    assert!(
        conn.read_response().is_err(),
        "no answer before the body: an allow policy could still match it"
    );
    conn.set_timeout(Duration::from_secs(5)).expect("timeout");
    conn.send(b"hello").expect("send body");
    assert_eq!(conn.read_response().expect("answer").status, 403);
    assert_eq!(up.request_count(), 0);
}
