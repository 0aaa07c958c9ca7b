//! The security event log end to end: the real binary with a pack on disk,
//! a real upstream, and the event log as a real file (or /dev/full, or a
//! tiny tmpfs that fills up).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_tests::client::get;
use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};
use serde_json::Value;

const SIGNATURES: &str = r#"
[[signature]]
id = "sqli.union"
pattern = 'union\s+select'
fields = ["@values", "body"]
transforms = ["url_decode", "plus_to_space", "lowercase"]
"#;

const POLICIES: &str = r#"
[[policy]]
id = "T-SQLI"
name = "union select"
severity = "critical"
priority = 10
score = 7
condition = { all = [{ signature = "sqli.union" }, { counter = "request.target_bytes", gte = 1 }] }
action = "block"

[[policy]]
id = "T-HEALTH"
name = "health checks"
severity = "info"
priority = 1
condition = { path = "/health" }
action = "allow"
"#;

fn write_pack(dir: &Path) {
    for sub in ["signatures", "policies", "responses"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    std::fs::write(
        dir.join("pack.toml"),
        "name = \"ev\"\nversion = \"1.0.0\"\n",
    )
    .expect("write");
    std::fs::write(dir.join("signatures/s.toml"), SIGNATURES).expect("write");
    std::fs::write(dir.join("policies/p.toml"), POLICIES).expect("write");
    std::fs::write(
        dir.join("responses/block.json"),
        r#"{"blocked":true,"event_id":"{{event_id}}"}"#,
    )
    .expect("write");
}

/// A pack dir (plus an overlay when `monitor`) and a gateway logging to `events` (TOML body).
struct Setup {
    up: TestUpstream,
    gw: Gateway,
    _pack: tempfile::TempDir,
}

fn setup(events: &str, monitor: bool) -> Setup {
    let up = TestUpstream::start(Behaviour::Ok);
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    let mut policy = format!("packs = [{:?}]", pack.path().display().to_string());
    if monitor {
        let o = pack.path().join("overlay.toml");
        std::fs::write(
            &o,
            "[[override]]\npolicy = \"T-SQLI\"\nmode = \"monitor\"\n",
        )
        .expect("write");
        policy.push_str(&format!("\noverlay = {:?}", o.display().to_string()));
    }
    let cfg = GatewayConfig::new(up.addr()).policy(&policy).events(events);
    let gw = Gateway::run_config(&cfg.render());
    Setup {
        up,
        gw,
        _pack: pack,
    }
}

fn file_events(path: &str) -> String {
    format!("sink = \"file\"\npath = {path:?}")
}

fn attack(path_and_query: &str) -> Vec<u8> {
    format!("GET {path_and_query} HTTP/1.1\r\nHost: api.test\r\n\r\n").into_bytes()
}

const ATTACK: &str = "/search?q=1%20UNION%20SELECT%20name&page=2";

/// Every line of the file, each parsed (a line that is not JSON fails the test).
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "last line cut: {text:?}"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// Waits until the file has at least `n` lines.
fn wait_lines(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = lines(path);
        if l.len() >= n {
            return l;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {} event(s), expected {n}",
            path.display(),
            l.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sum of a metric's samples whose labels contain `label` (all when `None`).
fn metric(gw: &Gateway, name: &str, label: Option<&str>) -> f64 {
    let text = get(gw.admin_addr(), "/metrics")
        .expect("GET /metrics")
        .text();
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.find('}') {
                Some(end) => (&r[..end], r[end + 1..].trim()),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest.trim()),
            None => continue,
        };
        if label.is_none_or(|l| labels.contains(l)) {
            sum += value.parse::<f64>().unwrap_or(0.0);
        }
    }
    sum
}

/// Waits (metrics are published once a second) until `metric >= at_least`.
fn wait_metric(gw: &Gateway, name: &str, label: Option<&str>, at_least: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = metric(gw, name, label);
        if v >= at_least {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{{{}}} = {v}, expected >= {at_least}",
            label.unwrap_or("")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_attack_is_logged_with_every_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let s = setup(&file_events(&log.display().to_string()), false);
    let r = RawConn::open(s.gw.addr()).roundtrip(&attack(ATTACK));
    assert_eq!(r.status, 403);
    let id = r.header("x-request-id").expect("request id");
    assert!(r.text().contains(&id), "{}", r.text());
    let ev = &wait_lines(&log, 1)[0];
    assert_eq!(ev["event_id"], id.as_str(), "{ev}");
    let time = ev["time"].as_str().expect("time");
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.contains('T'),
        "{time}"
    );
    assert_eq!(ev["client"]["ip"], "127.0.0.1");
    assert_eq!(ev["route"], "/");
    assert_eq!(ev["upstream"], "app");
    assert_eq!(ev["method"], "GET");
    assert_eq!(ev["path"], ATTACK);
    assert_eq!(ev["action"], "block");
    assert_eq!(ev["enforced"], true);
    assert_eq!(ev["mode"], "enforce");
    assert_eq!(ev["score"], 7);
    assert_eq!(ev["decided_by"], "T-SQLI");
    assert_eq!(ev["allowed_by"], Value::Null);
    let p = &ev["policies"][0];
    assert_eq!(p["id"], "T-SQLI");
    assert_eq!(p["name"], "union select");
    assert_eq!(p["mode"], "enforce");
    assert_eq!(p["action"], "block");
    assert_eq!(p["severity"], "critical");
    let m = &ev["matches"][0];
    assert_eq!(m["signature"], "sqli.union", "{ev}");
    assert_eq!(m["field"], "args.value");
    assert_eq!(m["name"], "q");
    let end = m["end"].as_u64().expect("end offset");
    assert!(end > 0);
    let frag = m["fragment"].as_str().expect("fragment");
    // The fragment is the decoded value in the request's own case: the
    // signature's trailing `lowercase` is applied as a caseless match.
    assert!(frag.contains("1 UNION SELECT"), "{frag}");
    assert!(frag.len() <= 64 + 3, "{frag}");
    assert_eq!(ev["counters"]["request.target_bytes"], ATTACK.len());
    assert_eq!(s.up.request_count(), 0);
    // Verdicts and inspection time are in the metrics.
    wait_metric(
        &s.gw,
        "rampart_policy_verdicts_total",
        Some("policy=\"T-SQLI\""),
        1.0,
    );
    let text = get(s.gw.admin_addr(), "/metrics").expect("metrics").text();
    assert!(
        text.contains("action=\"block\"") && text.contains("mode=\"enforce\""),
        "{text}"
    );
    wait_metric(
        &s.gw,
        "rampart_inspection_duration_seconds_count",
        None,
        1.0,
    );
    wait_metric(
        &s.gw,
        "rampart_events_total",
        Some("outcome=\"written\""),
        1.0,
    );
}

#[test]
fn a_monitor_hit_is_logged_and_forwarded() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let s = setup(&file_events(&log.display().to_string()), true);
    let r = RawConn::open(s.gw.addr()).roundtrip(&attack(ATTACK));
    assert_eq!(r.status, 200, "monitor forwards");
    assert!(s.up.wait_for_requests(1, Duration::from_secs(5)));
    let ev = &wait_lines(&log, 1)[0];
    assert_eq!(ev["mode"], "monitor", "{ev}");
    assert_eq!(ev["enforced"], false);
    assert_eq!(ev["action"], "allow");
    assert_eq!(ev["decided_by"], Value::Null);
    assert_eq!(ev["policies"][0]["mode"], "monitor");
    assert_eq!(
        ev["policies"][0]["action"], "block",
        "what it would have done"
    );
    assert_eq!(ev["event_id"].as_str(), r.header("x-request-id").as_deref());
}

#[test]
fn a_flood_is_logged_up_to_the_limit_and_the_rest_summarised() {
    const N: usize = 60;
    const LIMIT: usize = 5;
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let s = setup(
        &format!(
            "{}\nper_policy_per_second = {LIMIT}",
            file_events(&log.display().to_string())
        ),
        false,
    );
    let started = Instant::now();
    for i in 0..N {
        let r = RawConn::open(s.gw.addr()).roundtrip(&attack(&format!("{ATTACK}&n={i}")));
        assert_eq!(r.status, 403, "the limit never changes a verdict");
    }
    let seconds = started.elapsed().as_secs() as usize + 1;
    // Summaries are written with the stats flush, once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (events, summaries) = loop {
        let all = lines(&log);
        let (summaries, events): (Vec<Value>, Vec<Value>) =
            all.into_iter().partition(|l| l.get("summary").is_some());
        let suppressed: u64 = summaries
            .iter()
            .map(|l| l["suppressed"].as_u64().expect("a count"))
            .sum();
        if events.len() + suppressed as usize >= N {
            break (events, summaries);
        }
        assert!(
            Instant::now() < deadline,
            "{} events + {suppressed} suppressed, expected {N}",
            events.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let suppressed: u64 = summaries
        .iter()
        .map(|l| l["suppressed"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        events.len() + suppressed as usize,
        N,
        "nothing lost, nothing twice"
    );
    // Each worker's clock second allows LIMIT; the requests spanned
    // `seconds` wall seconds, which touch at most seconds + 1 windows.
    assert!(
        events.len() <= LIMIT * (seconds + 1),
        "{} events logged in {seconds} s with a limit of {LIMIT}/s",
        events.len()
    );
    assert!(events.len() >= LIMIT.min(N));
    for e in &events {
        assert_eq!(e["decided_by"], "T-SQLI", "{e}");
    }
    for l in &summaries {
        assert_eq!(l["summary"], "suppressed_events", "{l}");
        assert_eq!(l["policy"]["id"], "T-SQLI");
        assert_eq!(l["policy"]["name"], "union select");
        assert_eq!(l["policy"]["mode"], "enforce");
        assert_eq!(l["policy"]["action"], "block");
        assert_eq!(l["limit_per_second"], LIMIT as u64);
        assert!(l["since"].as_str() <= l["time"].as_str(), "{l}");
    }
    let counted = wait_metric(
        &s.gw,
        "rampart_events_total",
        Some("outcome=\"suppressed\""),
        suppressed as f64,
    );
    assert_eq!(counted, suppressed as f64);
    assert_eq!(
        metric(&s.gw, "rampart_events_total", Some("dropped")),
        0.0,
        "suppressed is not dropped"
    );
}

#[test]
fn secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let s = setup(&file_events(&log.display().to_string()), false);
    let secrets = [
        "SECRETAUTH0001",
        "SECRETCOOKIE02",
        "SECRETBODYPW03",
        "SECRETQUERY004",
        "SECRETTOKEN005",
        "SECRETAPIKEY06",
        "SECRETXAPIKEY7",
    ];
    // The attack sits next to every secret, and inside the credential
    // headers and cookie too, so matches land in every one of them.
    let body = format!(
        r#"{{"user":"bob","password":"{} union select 1","q":"1 union select 2"}}"#,
        secrets[2]
    );
    let req = format!(
        "POST /login?user=bob&password={}&access_token={}&q=1+union+select+3 HTTP/1.1\r\n\
         Host: api.test\r\n\
         Authorization: Bearer {} union select 4\r\n\
         Cookie: session={} union select 5; theme=dark\r\n\
         X-Api-Key: {} union select 6\r\n\
         X-Custom: apikey={}&x=union select 7\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        secrets[3],
        secrets[4],
        secrets[0],
        secrets[1],
        secrets[6],
        secrets[5],
        body.len()
    );
    let r = RawConn::open(s.gw.addr()).roundtrip(req.as_bytes());
    assert_eq!(r.status, 403);
    // A raw body match whose fragment starts inside the password's name.
    let pad = "p".repeat(30);
    let body2 = format!(
        r#"{{"{pad}":1,"password":"{}","q":"1 union select 8"}}"#,
        secrets[2]
    );
    let req2 = format!(
        "POST /b HTTP/1.1\r\nHost: api.test\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body2}",
        body2.len()
    );
    assert_eq!(
        RawConn::open(s.gw.addr()).roundtrip(req2.as_bytes()).status,
        403
    );
    let evs = wait_lines(&log, 2);
    let text = std::fs::read_to_string(&log).expect("read log");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        assert!(
            !text.contains(&secret[6..]),
            "part of {secret} leaked:\n{text}"
        );
    }
    let ev = evs
        .iter()
        .find(|e| e["path"].as_str().is_some_and(|p| p.starts_with("/login")))
        .expect("the login event");
    assert_eq!(
        ev["path"],
        "/login?user=bob&password=[redacted]&access_token=[redacted]&q=1+union+select+3"
    );
    // The matches are there, with their fields named, just not the secrets.
    let fields: Vec<String> = ev["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["field"].as_str().unwrap_or(""),
                m["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(fields.iter().any(|f| f == "args.value:q"), "{fields:?}");
    assert!(
        ev["matches"]
            .as_array()
            .expect("matches")
            .iter()
            .any(|m| m["fragment"] == "[redacted]"),
        "{ev}"
    );
}

#[test]
fn allowed_requests_are_logged_only_when_sampled() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let s = setup(&file_events(&log.display().to_string()), false);
    for _ in 0..5 {
        assert_eq!(
            RawConn::open(s.gw.addr())
                .roundtrip(&attack("/fine?q=1"))
                .status,
            200
        );
        // Matched only by an `allow` policy: not an event either.
        let r = RawConn::open(s.gw.addr()).roundtrip(&attack("/health"));
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        RawConn::open(s.gw.addr()).roundtrip(&attack(ATTACK)).status,
        403
    );
    let evs = wait_lines(&log, 1);
    // The writer keeps order per core; give it a moment to show anything extra.
    std::thread::sleep(Duration::from_millis(300));
    let evs2 = lines(&log);
    assert_eq!(evs2.len(), 1, "only the attack is logged: {evs2:?}");
    assert_eq!(evs[0]["action"], "block");

    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let s = setup(
        &format!(
            "{}\nsample_allowed = 1.0",
            file_events(&log.display().to_string())
        ),
        false,
    );
    for _ in 0..3 {
        assert_eq!(
            RawConn::open(s.gw.addr())
                .roundtrip(&attack("/fine?q=1"))
                .status,
            200
        );
    }
    let evs = wait_lines(&log, 3);
    for ev in &evs {
        assert_eq!(ev["action"], "allow");
        assert_eq!(ev["mode"], "none");
        assert_eq!(ev["path"], "/fine?q=1");
        assert_eq!(ev["policies"].as_array().map(Vec::len), Some(0));
    }
}

#[test]
fn size_rotation_loses_and_splits_no_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let s = setup(
        &format!(
            "{}\nrotate_bytes = \"4KiB\"\nkeep = 50",
            file_events(&log.display().to_string())
        ),
        false,
    );
    let mut ids = HashSet::new();
    for i in 0..40 {
        let r = RawConn::open(s.gw.addr()).roundtrip(&attack(&format!("{ATTACK}&n={i}")));
        assert_eq!(r.status, 403);
        ids.insert(r.header("x-request-id").expect("id"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut files: Vec<PathBuf>;
    let mut seen: HashSet<String>;
    loop {
        files = std::fs::read_dir(dir.path())
            .expect("read dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        seen = files
            .iter()
            .flat_map(|f| lines(f))
            .map(|e| e["event_id"].as_str().unwrap_or("").to_owned())
            .collect();
        if seen.len() >= ids.len() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(seen, ids, "every event, once, across {files:?}");
    assert!(log.with_extension("log.1").exists(), "rotated: {files:?}");
    for f in &files {
        let len = std::fs::metadata(f).expect("stat").len();
        assert!(len <= 4096, "{} is {len} bytes", f.display());
    }
}

#[test]
fn events_queued_at_shutdown_are_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let mut s = setup(&file_events(&log.display().to_string()), false);
    let mut ids = HashSet::new();
    for i in 0..30 {
        let r = RawConn::open(s.gw.addr()).roundtrip(&attack(&format!("{ATTACK}&n={i}")));
        ids.insert(r.header("x-request-id").expect("id"));
    }
    s.gw.sigterm();
    assert!(s.gw.wait_exit(Duration::from_secs(10)).success());
    let seen: HashSet<String> = lines(&log)
        .iter()
        .map(|e| e["event_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(seen, ids);
}

#[test]
fn sigusr1_reopens_the_log_after_a_rename() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let s = setup(&file_events(&log.display().to_string()), false);
    assert_eq!(
        RawConn::open(s.gw.addr()).roundtrip(&attack(ATTACK)).status,
        403
    );
    wait_lines(&log, 1);
    let old = dir.path().join("events.log.old");
    std::fs::rename(&log, &old).expect("rename");
    let pid = libc::pid_t::try_from(s.gw.pid()).expect("pid");
    // SAFETY: kill(2) on the gateway we spawned.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log.exists() {
        assert!(Instant::now() < deadline, "no new file after SIGUSR1");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        RawConn::open(s.gw.addr()).roundtrip(&attack(ATTACK)).status,
        403
    );
    wait_lines(&log, 1);
    assert_eq!(lines(&old).len(), 1);
    assert!(s.gw.stderr().contains("SIGUSR1"), "{}", s.gw.stderr());
}

#[test]
fn a_failing_sink_costs_events_not_traffic() {
    let s = setup(&file_events("/dev/full"), false);
    for i in 0..20 {
        let r = RawConn::open(s.gw.addr()).roundtrip(&attack(&format!("{ATTACK}&n={i}")));
        assert_eq!(r.status, 403);
        let r = RawConn::open(s.gw.addr()).roundtrip(&attack("/fine"));
        assert_eq!(r.status, 200);
    }
    assert_eq!(s.up.request_count(), 20);
    wait_metric(
        &s.gw,
        "rampart_events_total",
        Some("outcome=\"dropped_sink_error\""),
        20.0,
    );
    assert_eq!(
        metric(&s.gw, "rampart_events_total", Some("outcome=\"written\"")),
        0.0
    );
    assert!(
        s.gw.stderr().contains("cannot write the event log"),
        "{}",
        s.gw.stderr()
    );
}

/// A tmpfs mounted for one test, unmounted (lazily) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "this test mounts a tmpfs to fill a disk for real and must run as root \
             (CI does); run it with sudo"
        );
        let dir = tempfile::tempdir().expect("tmp");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount tmpfs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the filesystem at `dir` with one file until the disk says no.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create filler");
    let block = [b'x'; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_loses_events_then_recovers() {
    let fs = Tmpfs::mount("256k");
    let log = fs.path().join("events.log");
    let s = setup(&file_events(&log.display().to_string()), false);
    // The gateway has created the file; now the disk fills up.
    assert!(log.exists());
    let filler = fs.path().join("filler");
    fill(&filler);
    for i in 0..5 {
        let r = RawConn::open(s.gw.addr()).roundtrip(&attack(&format!("{ATTACK}&lost={i}")));
        assert_eq!(r.status, 403, "traffic flows while the disk is full");
    }
    wait_metric(
        &s.gw,
        "rampart_events_total",
        Some("outcome=\"dropped_sink_error\""),
        5.0,
    );
    std::fs::remove_file(&filler).expect("free the disk");
    // The writer retries a failed sink once a second.
    std::thread::sleep(Duration::from_millis(1200));
    let mut ids = HashSet::new();
    for i in 0..5 {
        let r = RawConn::open(s.gw.addr()).roundtrip(&attack(&format!("{ATTACK}&kept={i}")));
        assert_eq!(r.status, 403);
        ids.insert(r.header("x-request-id").expect("id"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: HashSet<String> = lines(&log)
            .iter()
            .map(|e| e["event_id"].as_str().unwrap_or("").to_owned())
            .collect();
        if ids.is_subset(&got) {
            assert!(
                lines(&log)
                    .iter()
                    .all(|e| !e["path"].as_str().unwrap_or("").contains("lost=")),
                "events from the outage were counted as lost, not written late"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events after recovery missing: {got:?} vs {ids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_metric(
        &s.gw,
        "rampart_events_total",
        Some("outcome=\"written\""),
        5.0,
    );
}

/// Events to a stdout nobody reads: the pipe fills, the writer blocks on
/// it, the cores' queues fill and drop (counted) — requests are still
/// answered, and shutdown does not hang on the stuck writer.
#[test]
fn a_stuck_stdout_costs_events_not_traffic_or_shutdown() {
    use std::io::BufRead;
    let up = TestUpstream::start(Behaviour::Ok);
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    let cfg = GatewayConfig::new(up.addr())
        .policy(&format!(
            "packs = [{:?}]",
            pack.path().display().to_string()
        ))
        // No per-policy limit: every attack must reach the stuck pipe.
        .events("sink = \"stdout\"\nqueue_bytes = \"128KiB\"\nper_policy_per_second = 0")
        .render();
    let cfg_path = pack.path().join("rampart.toml");
    std::fs::write(&cfg_path, cfg).expect("write config");
    let mut child = Reap(
        std::process::Command::new(rampart_tests::gateway::rampart_bin())
            .arg("run")
            .arg("--config")
            .arg(&cfg_path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn rampart"),
    );
    let mut out = std::io::BufReader::new(child.0.stdout.take().expect("stdout"));
    let (mut gw, mut admin) = (None, None);
    let mut line = String::new();
    while admin.is_none() {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("read stdout") > 0,
            "rampart exited"
        );
        if let Some(a) = line.trim().strip_prefix("rampart: listening on ") {
            gw = a.parse::<std::net::SocketAddr>().ok();
        }
        if let Some(a) = line.trim().strip_prefix("rampart: admin listening on ") {
            admin = a.parse::<std::net::SocketAddr>().ok();
        }
    }
    let (gw, admin) = (gw.expect("gateway address"), admin.expect("admin address"));
    // From here on nobody reads stdout (`out` stays open).
    for i in 0..800 {
        let r = RawConn::open(gw).roundtrip(&attack(&format!("{ATTACK}&n={i}")));
        assert_eq!(r.status, 403, "request {i}");
    }
    assert_eq!(RawConn::open(gw).roundtrip(&attack("/fine")).status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = get(admin, "/metrics").expect("metrics").text();
        // Lost at the core (ring full) or at the writer (sink timed out).
        let dropped: f64 = text
            .lines()
            .filter(|l| l.starts_with("rampart_events_total{outcome=\"dropped_"))
            .filter_map(|l| l.rsplit(' ').next())
            .filter_map(|v| v.parse::<f64>().ok())
            .sum();
        if dropped > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "no event was dropped:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = libc::pid_t::try_from(child.0.id()).expect("pid");
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            break;
        }
        if Instant::now() > deadline {
            panic!("shutdown hung on the stuck event writer");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(out);
}

/// A gateway the test spawned itself: killed if the test fails before it
/// exits, so a failed run leaves no server behind.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `rampart proxy --events PATH`; `-` is stdout.
#[test]
fn the_proxy_command_logs_events_where_told() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    let pack = dir.path().join("pack");
    write_pack(&pack);
    let pack = pack.display().to_string();
    let log = dir.path().join("proxy-events.log");
    let path = log.display().to_string();
    let gw = Gateway::proxy_with_policy(up.addr(), &["--pack", &pack, "--events", &path]);
    let attack = attack(ATTACK);
    let r = RawConn::open(gw.addr()).roundtrip(&attack);
    assert_eq!(r.status, 403);
    let ev = &wait_lines(&log, 1)[0];
    assert_eq!(ev["event_id"].as_str(), r.header("x-request-id").as_deref());
    assert_eq!(ev["action"], "block");
    assert!(!gw.stdout().contains("\"event_id\""), "not on stdout too");

    let gw = Gateway::proxy_with_policy(up.addr(), &["--pack", &pack, "--events", "-"]);
    let r = RawConn::open(gw.addr()).roundtrip(&attack);
    assert_eq!(r.status, 403);
    let id = r.header("x-request-id").expect("id");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.stdout().contains(&format!("{{\"event_id\":\"{id}\"")) {
        assert!(
            Instant::now() < deadline,
            "no event on stdout:\n{}",
            gw.stdout()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Requests answered without a scan are security events too: an escalated
/// client's next request names the policy that put it on the denylist.
#[test]
fn a_denylisted_request_is_logged_with_the_policy_that_escalated() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("events.log");
    let up = TestUpstream::start(Behaviour::Ok);
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    std::fs::write(
        pack.path().join("policies/p.toml"),
        POLICIES.replacen(
            "action = \"block\"\n",
            "action = \"block\"\nescalate = \"1m\"\n",
            1,
        ),
    )
    .expect("write");
    let cfg = GatewayConfig::new(up.addr())
        .policy(&format!(
            "packs = [{:?}]",
            pack.path().display().to_string()
        ))
        .events(&file_events(&log.display().to_string()));
    let gw = Gateway::run_config(&cfg.render());
    let mut conn = RawConn::open(gw.addr());
    assert_eq!(conn.roundtrip(&attack(ATTACK)).status, 403);
    let r = conn.roundtrip(&attack("/search?q=shoes"));
    assert_eq!(r.status, 403, "denylisted");
    assert_eq!(up.request_count(), 0);
    let evs = wait_lines(&log, 2);
    let ev = &evs[1];
    assert_eq!(ev["action"], "denylisted", "{ev}");
    assert_eq!(ev["enforced"], true);
    assert_eq!(ev["path"], "/search?q=shoes");
    assert_eq!(ev["decided_by"], "T-SQLI");
    assert_eq!(ev["policies"][0]["id"], "T-SQLI");
    assert_eq!(
        ev["matches"].as_array().map_or(0, Vec::len),
        0,
        "not scanned, so no matches (not the previous request's): {ev}"
    );
    assert_eq!(
        ev["event_id"],
        r.header("x-request-id").expect("id").as_str()
    );
}
