//! `rampart-bench run` end to end: the real binary against a real local
//! server (tests/support/test_server.rs) whose response times and failures
//! are known, so the report can be checked against what must have happened
//! and against what the server counted: exact counts, status classes,
//! latency percentiles within tolerance, each error kind, pipelining,
//! source addresses, reconnects, response framing, the open loop's
//! coordinated-omission correction, TLS, and clear errors for bad input.
//!
//! Tolerances are wide enough for a loaded 2-core CI machine: they bound
//! what the server's delays make certain (a response delayed 20 ms cannot
//! take less), not how fast anything is.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, TcpListener};
use std::time::Duration;

use rampart_perf::loadgen::report::{ClassCounts, Outcomes};
use rampart_perf::loadgen::Report;
use support::pki::pki;
use support::test_server::{Behaviour, Reply, TestServer};
use support::{arg, bench, bench_fails, report, report_any_exit, write_file};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn status(r: &Report, code: &str) -> u64 {
    r.status.get(code).copied().unwrap_or(0)
}

fn class<'a>(r: &'a Report, name: &str) -> &'a ClassCounts {
    r.classes
        .get(name)
        .unwrap_or_else(|| panic!("no class {name:?} in {:?}", r.classes))
}

fn class_names(r: &Report) -> Vec<&str> {
    r.classes.keys().map(String::as_str).collect()
}

/// The report counted `reported` responses for a path on which the server
/// received `received` requests: every response needs a request, and at
/// most `in_flight` requests were still unanswered when the run stopped.
fn matches_server(what: &str, reported: u64, received: u64, in_flight: u64) {
    assert!(
        reported <= received && received <= reported + in_flight,
        "{what}: report counted {reported}, server received {received} (at most {in_flight} in flight at the end)"
    );
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// A port on 127.0.0.1 nothing listens on.
fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ---------------------------------------------------------------- counts

#[test]
fn n_requests_are_counted_exactly_and_all_pass() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().body(100)));
    let r = report(&[&srv.url("/hello"), "-c", "2", "-n", "100"]);
    assert_eq!(r.tool, "rampart-bench");
    assert_eq!(r.mode, "closed");
    assert_eq!(r.target, srv.url("/hello"));
    assert_eq!(r.requests, 100);
    assert_eq!(r.config.requests, Some(100));
    assert_eq!(r.config.duration_s, None);
    assert_eq!(r.config.connections, 2);
    assert_eq!(r.config.pipeline, 1);
    assert_eq!(r.config.mix, "single");
    assert!(!r.config.tls);
    assert_eq!(r.status, BTreeMap::from([("200".to_string(), 100)]));
    assert_eq!(
        r.outcomes,
        Outcomes {
            passed: 100,
            ..Outcomes::default()
        }
    );
    assert_eq!(class_names(&r), ["default"]);
    assert_eq!(
        *class(&r, "default"),
        ClassCounts {
            responses: 100,
            passed: 100,
            blocked: 0,
            failed: 0
        }
    );
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(r.offered_rps, None);
    assert_eq!(r.uncorrected_latency_us, None);
    // Every request went to the URL's path; each connection may have had one
    // more in flight when the 100th response arrived.
    assert_eq!(srv.requests_on("/hello"), srv.requests());
    matches_server("requests", r.requests, srv.requests(), 2);
    // Closed loop without pipelining: one request in flight per connection.
    assert_eq!(srv.max_outstanding(), 1);
    assert_eq!(srv.connections(), 2);
    assert_eq!(srv.max_open(), 2);
    assert_eq!(r.connections_opened, 2);
    let request_len = "GET /hello HTTP/1.1\r\n\r\n".len() as u64;
    assert!(r.bytes_sent >= 100 * request_len, "{}", r.bytes_sent);
    assert!(r.bytes_received >= 100 * 100, "{}", r.bytes_received);
    assert!(r.elapsed_s > 0.0);
    let rps = r.requests as f64 / r.elapsed_s;
    assert!(
        (r.throughput_rps - rps).abs() <= rps * 0.01,
        "{} vs {rps}",
        r.throughput_rps
    );
    let l = &r.latency_us;
    assert!(
        0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max,
        "{l:?}"
    );
    assert!(!l.distribution.is_empty());
    assert!(
        l.distribution
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{:?}",
        l.distribution
    );
}

#[test]
fn n_is_exact_across_threads() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let r = report(&[&srv.url("/"), "-t", "2", "-c", "4", "-n", "101"]);
    assert_eq!(r.config.threads, 2);
    assert_eq!(r.requests, 101);
    assert_eq!(status(&r, "200"), 101);
    assert_eq!(class(&r, "default").responses, 101);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(srv.connections(), 4);
    matches_server("requests", 101, srv.requests(), 4);
}

#[test]
fn fewer_requests_than_threads_still_finish() {
    // A thread with no share of -n would wait for a deadline that -n alone
    // does not set: the run uses no more threads than requests.
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let r = report(&[&srv.url("/"), "-t", "4", "-c", "4", "-n", "2"]);
    assert_eq!(r.config.threads, 2);
    assert_eq!(r.requests, 2);
}

#[test]
fn a_timed_run_stops_after_its_duration() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().delay(ms(5))));
    let r = report(&[&srv.url("/"), "-c", "2", "-d", "1s"]);
    assert_eq!(r.config.duration_s, Some(1.0));
    assert_eq!(r.config.requests, None);
    assert!(
        r.elapsed_s >= 0.95 && r.elapsed_s < 3.0,
        "elapsed {}",
        r.elapsed_s
    );
    // Each response takes at least 5 ms: 2 connections cannot complete more
    // than 2 x 200 in a second (plus rounding at the edges).
    assert!(
        r.requests >= 20 && r.requests <= 2 * 200 + 4,
        "{}",
        r.requests
    );
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert!(srv.requests() >= r.requests);
}

#[test]
fn warm_up_responses_are_not_counted() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().delay(ms(10))));
    let r = report(&[&srv.url("/"), "-c", "1", "--warmup", "500ms", "-n", "20"]);
    assert_eq!(r.config.warmup_s, 0.5);
    assert_eq!(r.requests, 20);
    assert_eq!(status(&r, "200"), 20);
    // Half a second of 10 ms responses went before the 20 counted ones
    // (about 50; far fewer would still prove the point).
    assert!(
        srv.requests() >= 20 + 10,
        "server saw {} requests: no warm-up load?",
        srv.requests()
    );
}

#[test]
fn the_measured_window_excludes_the_warm_up() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().delay(ms(5))));
    let r = report(&[&srv.url("/"), "-c", "1", "--warmup", "300ms", "-d", "500ms"]);
    assert!(
        (0.45..0.75).contains(&r.elapsed_s),
        "elapsed {} s for -d 500ms after 300ms of warm-up",
        r.elapsed_s
    );
    // At most one response per 5 ms fits in the measured half second.
    assert!((1..=101).contains(&r.requests), "{}", r.requests);
    assert!(
        srv.requests() > r.requests + 10,
        "server {} vs counted {}: no warm-up?",
        srv.requests(),
        r.requests
    );
}

// -------------------------------------------------------- classification

fn status_server() -> TestServer {
    TestServer::start(
        Behaviour::new(Reply::ok())
            .route("/s/204", Reply::status(204))
            .route("/s/403", Reply::status(403))
            .route("/s/404", Reply::status(404))
            .route("/s/429", Reply::status(429))
            .route("/s/500", Reply::status(500)),
    )
}

#[test]
fn statuses_are_classified_per_outcome_and_per_class() {
    let srv = status_server();
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "statuses.toml",
        r#"
[[request]]
class = "ok"
weight = 2
path = "/s/200/{seq}"

[[request]]
class = "ok"
path = "/s/204"

[[request]]
class = "forbidden"
path = "/s/403"

[[request]]
class = "limited"
path = "/s/429"

[[request]]
class = "missing"
path = "/s/404"

[[request]]
class = "broken"
path = "/s/500"
"#,
    );
    let r = report(&[&srv.url("/"), "-c", "4", "-n", "500", "--mix", arg(&mix)]);
    assert_eq!(r.requests, 500);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(
        class_names(&r),
        ["broken", "forbidden", "limited", "missing", "ok"]
    );
    let (s200, s204, s403, s404, s429, s500) = (
        status(&r, "200"),
        status(&r, "204"),
        status(&r, "403"),
        status(&r, "404"),
        status(&r, "429"),
        status(&r, "500"),
    );
    assert_eq!(r.status.values().sum::<u64>(), 500, "{:?}", r.status);
    assert_eq!(
        s200 + s204 + s403 + s404 + s429 + s500,
        500,
        "{:?}",
        r.status
    );
    assert_eq!(
        r.outcomes,
        Outcomes {
            passed: s200 + s204,
            blocked: s403 + s429,
            client_error: s404,
            server_error: s500,
        }
    );
    let cc = |responses, passed, blocked| ClassCounts {
        responses,
        passed,
        blocked,
        failed: 0,
    };
    assert_eq!(*class(&r, "ok"), cc(s200 + s204, s200 + s204, 0));
    assert_eq!(*class(&r, "forbidden"), cc(s403, 0, s403));
    assert_eq!(*class(&r, "limited"), cc(s429, 0, s429));
    assert_eq!(*class(&r, "missing"), cc(s404, 0, 0));
    assert_eq!(*class(&r, "broken"), cc(s500, 0, 0));
    for (name, c) in &r.classes {
        assert!(c.responses > 0, "class {name} never sent: {:?}", r.classes);
    }
    // "ok" has weight 3 of 7.
    let ok_share = class(&r, "ok").responses as f64 / 500.0;
    assert!((0.30..=0.56).contains(&ok_share), "ok share {ok_share}");
    // The server's own counts agree, path by path.
    for (path, n) in [
        ("/s/200", s200),
        ("/s/204", s204),
        ("/s/403", s403),
        ("/s/404", s404),
        ("/s/429", s429),
        ("/s/500", s500),
    ] {
        matches_server(path, n, srv.requests_on(path), 4);
    }
    matches_server("all", 500, srv.requests(), 4);
}

#[test]
fn the_blocked_statuses_are_configurable() {
    let srv = status_server();
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "a403"
path = "/s/403"
[[request]]
class = "a404"
path = "/s/404"
[[request]]
class = "a500"
path = "/s/500"
[[request]]
class = "a200"
path = "/s/200"
"#,
    );
    let r = report(&[
        &srv.url("/"),
        "-c",
        "2",
        "-n",
        "200",
        "--mix",
        arg(&mix),
        "--blocked-status",
        "404",
    ]);
    assert_eq!(r.requests, 200);
    let (s200, s403, s404, s500) = (
        status(&r, "200"),
        status(&r, "403"),
        status(&r, "404"),
        status(&r, "500"),
    );
    assert!(
        s200 > 0 && s403 > 0 && s404 > 0 && s500 > 0,
        "{:?}",
        r.status
    );
    assert_eq!(
        r.outcomes,
        Outcomes {
            passed: s200,
            blocked: s404,
            client_error: s403,
            server_error: s500,
        }
    );
    assert_eq!(class(&r, "a404").blocked, s404);
    assert_eq!(class(&r, "a403").blocked, 0);
}

// ------------------------------------------------------ what is sent

#[test]
fn the_single_request_carries_method_headers_and_body() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let r = report(&[
        &srv.url("/submit?x=1"),
        "-c",
        "1",
        "-n",
        "5",
        "-m",
        "POST",
        "-H",
        "X-Test: yes",
        "-H",
        "Content-Type: text/plain",
        "--body",
        "hello world",
    ]);
    assert_eq!(r.requests, 5);
    let log = srv.log();
    assert!(log.len() >= 5);
    for s in &log {
        assert_eq!(s.method, "POST");
        assert_eq!(s.target, "/submit?x=1");
        assert_eq!(s.header("x-test"), Some("yes"));
        assert_eq!(s.header("content-type"), Some("text/plain"));
        assert_eq!(s.body, b"hello world");
        assert_eq!(s.header("content-length"), Some("11"));
        assert_eq!(s.header_count("content-length"), 1);
        assert_eq!(s.header("host"), Some(srv.addr().to_string().as_str()));
        assert_eq!(s.header_count("user-agent"), 1);
    }
}

#[test]
fn given_host_and_user_agent_replace_the_defaults() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    report(&[
        &srv.url("/"),
        "-c",
        "1",
        "-n",
        "3",
        "-H",
        "Host: api.test",
        "-H",
        "User-Agent: probe/1",
    ]);
    for s in srv.log() {
        assert_eq!(s.header_count("host"), 1, "{:?}", s.headers);
        assert_eq!(s.header("host"), Some("api.test"));
        assert_eq!(s.header_count("user-agent"), 1, "{:?}", s.headers);
        assert_eq!(s.header("user-agent"), Some("probe/1"));
    }
}

#[test]
fn the_body_file_is_sent_as_is() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let dir = tempfile::tempdir().expect("tmp");
    let body = "{\"items\": [1, 2, 3],\n \"note\": \"caf\u{e9}\"}\n";
    let file = write_file(dir.path(), "body.json", body);
    report(&[
        &srv.url("/upload"),
        "-c",
        "1",
        "-n",
        "3",
        "-m",
        "PUT",
        "--body-file",
        arg(&file),
    ]);
    let log = srv.log();
    assert!(log.len() >= 3);
    for s in &log {
        assert_eq!(s.method, "PUT");
        assert_eq!(s.body, body.as_bytes());
        assert_eq!(
            s.header("content-length"),
            Some(body.len().to_string().as_str())
        );
    }
}

#[test]
fn mix_requests_render_placeholders_headers_and_bodies() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "api.toml",
        r#"
[[request]]
class = "items"
path = "/items/{seq}"

[[request]]
class = "range"
path = "/range/{n:3-7}?q={hex:8}"

[[request]]
class = "login"
method = "POST"
path = "/login"
headers = { "Content-Type" = "application/json", Authorization = "Bearer {token}" }
body = '{"user":"u","password":"p"}'
"#,
    );
    let r = report(&[&srv.url("/"), "-c", "1", "-n", "300", "--mix", arg(&mix)]);
    assert_eq!(r.requests, 300);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(class_names(&r), ["items", "login", "range"]);
    let log = srv.log();
    let (mut seqs, mut ns, mut items, mut ranges, mut logins) =
        (BTreeSet::new(), BTreeSet::new(), 0, 0, 0);
    for s in &log {
        assert!(!s.target.contains('{'), "placeholder left: {}", s.target);
        assert_eq!(s.header("host"), Some(srv.addr().to_string().as_str()));
        assert_eq!(s.header_count("user-agent"), 1);
        if let Some(seq) = s.path.strip_prefix("/items/") {
            items += 1;
            assert_eq!(s.method, "GET");
            assert!(s.body.is_empty());
            seqs.insert(seq.parse::<u64>().unwrap_or_else(|_| panic!("{seq}")));
        } else if let Some(n) = s.path.strip_prefix("/range/") {
            ranges += 1;
            let n: u64 = n.parse().unwrap_or_else(|_| panic!("{}", s.target));
            assert!((3..=7).contains(&n), "{}", s.target);
            ns.insert(n);
            let q = s.target.split_once("?q=").expect("query").1;
            assert!(
                q.len() == 8 && q.chars().all(|c| c.is_ascii_hexdigit()),
                "{}",
                s.target
            );
        } else {
            logins += 1;
            assert_eq!(s.path, "/login");
            assert_eq!(s.method, "POST");
            assert_eq!(s.body, br#"{"user":"u","password":"p"}"#);
            assert_eq!(s.header("content-length"), Some("27"));
            assert_eq!(s.header("content-type"), Some("application/json"));
            let auth = s.header("authorization").expect("authorization");
            let token = auth.strip_prefix("Bearer ").expect("bearer");
            assert!(!token.is_empty() && !token.contains('{'), "{auth}");
        }
    }
    assert!(seqs.len() >= 2, "{{seq}} never changes: {seqs:?}");
    assert!(ns.len() >= 3, "{{n:3-7}} gave only {ns:?}");
    // The report's classes agree with what arrived (one request in flight
    // at the end at most).
    matches_server("items", class(&r, "items").responses, items, 1);
    matches_server("range", class(&r, "range").responses, ranges, 1);
    matches_server("login", class(&r, "login").responses, logins, 1);
}

#[test]
fn identities_come_from_a_pool_of_the_given_size() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "ids.toml",
        r#"
[[request]]
path = "/u/{user}?pw={password}"
headers = { "X-Session" = "{session}", "X-Api-Key" = "{apikey}" }
"#,
    );
    let r = report(&[
        &srv.url("/"),
        "-c",
        "1",
        "-n",
        "200",
        "--mix",
        arg(&mix),
        "--identities",
        "4",
    ]);
    assert_eq!(r.requests, 200);
    assert_eq!(class_names(&r), ["default"]);
    let log = srv.log();
    let distinct = |f: &dyn Fn(&support::test_server::Seen) -> String| {
        log.iter().map(f).collect::<BTreeSet<String>>()
    };
    let users = distinct(&|s| s.path.clone());
    let sessions = distinct(&|s| s.header("x-session").unwrap_or("").to_owned());
    let keys = distinct(&|s| s.header("x-api-key").unwrap_or("").to_owned());
    for (what, set) in [("user", &users), ("session", &sessions), ("apikey", &keys)] {
        assert!(
            (2..=4).contains(&set.len()),
            "{what}: {} distinct values from a pool of 4: {set:?}",
            set.len()
        );
        assert!(set.iter().all(|v| !v.is_empty() && !v.contains('{')));
    }
    for s in &log {
        let pw = s.target.split_once("?pw=").expect("pw").1;
        assert!(!pw.is_empty() && !pw.contains('{'), "{}", s.target);
    }
}

#[test]
fn the_same_seed_sends_the_same_requests() {
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "r.toml",
        r#"
[[request]]
class = "a"
path = "/a/{n:1-1000000000}"
[[request]]
class = "b"
weight = 2
path = "/b/{hex:12}"
"#,
    );
    let run = |seed: &str| {
        let srv = TestServer::start(Behaviour::new(Reply::ok()));
        report(&[
            &srv.url("/"),
            "-c",
            "1",
            "-n",
            "30",
            "--mix",
            arg(&mix),
            "--seed",
            seed,
        ]);
        let targets: Vec<String> = srv.log().into_iter().map(|s| s.target).collect();
        assert!(targets.len() >= 30);
        targets[..30].to_vec()
    };
    let (a, b, c) = (run("7"), run("7"), run("8"));
    assert_eq!(a, b, "same seed, different requests");
    assert_ne!(a, c, "different seeds, same requests");
}

#[test]
fn the_attack_ratio_sets_the_share_of_the_attack_class() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()).route("/attack", Reply::status(403)));
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "benign"
path = "/api/{seq}"
[[request]]
class = "attack"
path = "/attack?q=%27%20OR%201=1--"
"#,
    );
    let share = |extra: &[&str]| {
        let mut args = vec![srv.url("/")];
        args.extend(
            ["-c", "4", "-n", "1000", "--mix", arg(&mix)]
                .iter()
                .map(|s| s.to_string()),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = report(&args);
        assert_eq!(r.requests, 1000);
        let attack = class(&r, "attack");
        assert_eq!(attack.blocked, attack.responses);
        assert_eq!(class(&r, "benign").blocked, 0);
        attack.responses as f64 / 1000.0
    };
    // Without a ratio the weights (1:1) decide; with one, the ratio does.
    let even = share(&[]);
    assert!((0.40..=0.60).contains(&even), "{even}");
    let tenth = share(&["--attack-ratio", "0.1"]);
    assert!((0.05..=0.15).contains(&tenth), "{tenth}");
}

// --------------------------------------------------------------- latency

#[test]
fn latency_percentiles_match_a_known_delay() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().delay(ms(20))));
    let r = report(&[&srv.url("/"), "-c", "2", "-n", "100"]);
    assert_eq!(r.requests, 100);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let l = &r.latency_us;
    println!("20 ms delay: {l:?}");
    // The server holds every response for 20 ms after reading the request,
    // so none can take less (19 ms leaves room for the histogram's
    // rounding); the median has no reason to be much more on any machine.
    let min = l.distribution.first().expect("distribution").1;
    assert!(min >= 19_000, "fastest response {min} us < 20 ms delay");
    assert!((20_000..=40_000).contains(&l.p50), "p50 {} us", l.p50);
    assert!(l.mean >= 19_000.0 && l.mean <= 100_000.0, "mean {}", l.mean);
    assert!(l.p90 >= l.p50 && l.p99 >= l.p90 && l.max >= l.p99, "{l:?}");
}

#[test]
fn latency_percentiles_separate_fast_and_slow_requests() {
    let srv = TestServer::start(
        Behaviour::new(Reply::ok().delay(ms(2))).route("/slow", Reply::ok().delay(ms(100))),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "fast"
weight = 9
path = "/fast"
[[request]]
class = "slow"
path = "/slow"
"#,
    );
    let r = report(&[&srv.url("/"), "-c", "4", "-n", "200", "--mix", arg(&mix)]);
    assert_eq!(r.requests, 200);
    let slow = class(&r, "slow").responses;
    // The percentiles below fall in one group or the other only if the
    // slow share is between 2 % and 25 % (it is about 10 %).
    assert!((4..=50).contains(&slow), "slow responses {slow}");
    let l = &r.latency_us;
    println!("{slow} slow of 200: {l:?}");
    assert!((2_000..=40_000).contains(&l.p50), "p50 {} us", l.p50);
    assert!((2_000..=40_000).contains(&l.p75), "p75 {} us", l.p75);
    assert!((99_000..=300_000).contains(&l.p99), "p99 {} us", l.p99);
    assert!(l.max >= 99_000, "max {} us", l.max);
}

// ----------------------------------------------------------------- errors

#[test]
fn connections_the_server_closes_are_counted_and_the_run_goes_on() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()).drop_every(10));
    let r = report(&[&srv.url("/"), "-c", "2", "-n", "200"]);
    // Every 10th request is dropped unanswered, yet 200 responses arrive.
    assert_eq!(r.requests, 200);
    assert_eq!(status(&r, "200"), 200);
    let dropped = srv.dropped();
    assert!(dropped >= 20, "server dropped only {dropped}");
    let e = &r.errors;
    assert!(e.closed >= 1, "{e:?}");
    // One unanswered request per drop; the last drops may have hit requests
    // sent after the 200th response, which the report does not count.
    assert!(
        e.closed <= dropped && dropped <= e.closed + 2,
        "report closed {}, server dropped {dropped}",
        e.closed
    );
    assert_eq!(e.total(), e.closed, "{e:?}");
    assert_eq!(class(&r, "default").failed, e.closed);
    assert_eq!(class(&r, "default").responses, 200);
    // Each dropped connection was replaced.
    assert!(
        r.connections_opened >= e.closed,
        "{} connections opened for {} closed",
        r.connections_opened,
        e.closed
    );
    matches_server("requests", 200 + dropped, srv.requests(), 2);
}

#[test]
fn every_pipelined_request_lost_with_a_dropped_connection_is_counted() {
    // 4 in flight per connection, answers taking 2 ms: when the server drops
    // a connection, the request it drops has others queued behind it, and
    // each of them is a request that got no answer.
    let srv = TestServer::start(Behaviour::new(Reply::ok().delay(ms(2))).drop_every(25));
    let r = report(&[&srv.url("/"), "-c", "1", "--pipeline", "4", "-n", "200"]);
    assert_eq!(r.requests, 200);
    let (drops, e) = (srv.drops(), &r.errors);
    assert!(drops >= 5, "server dropped {drops} connections");
    assert_eq!(e.total(), e.closed, "{e:?}");
    // At most 4 lost per drop; more than one per drop on the whole (the
    // last drop may have come after the run stopped counting).
    assert!(
        e.closed <= 4 * drops && e.closed >= 2 * (drops - 1),
        "{} closed for {drops} dropped connections",
        e.closed
    );
    assert_eq!(class(&r, "default").failed, e.closed);
}

#[test]
fn slow_responses_time_out_and_the_run_goes_on() {
    let srv =
        TestServer::start(Behaviour::new(Reply::ok()).route("/slow", Reply::ok().delay(ms(1500))));
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "fast"
weight = 3
path = "/fast"
[[request]]
class = "slow"
path = "/slow"
"#,
    );
    let r = report(&[
        &srv.url("/"),
        "-c",
        "2",
        "-d",
        "1500ms",
        "--timeout",
        "200ms",
        "--mix",
        arg(&mix),
    ]);
    let e = &r.errors;
    // Each connection meets a slow request within a few requests, gives up
    // on it after 200 ms, reconnects and carries on: several timeouts, and
    // fast responses all along.
    assert!(e.timeout >= 2, "{e:?}");
    assert!(
        e.timeout <= srv.requests_on("/slow"),
        "{} timeouts for {} slow requests",
        e.timeout,
        srv.requests_on("/slow")
    );
    assert_eq!(e.total(), e.timeout, "{e:?}");
    let slow = class(&r, "slow");
    assert_eq!(slow.responses, 0, "{slow:?}");
    assert_eq!(slow.failed, e.timeout, "{slow:?}");
    let fast = class(&r, "fast");
    assert!(fast.responses >= 5, "{fast:?}");
    assert_eq!(fast.failed, 0, "{fast:?}");
    assert_eq!(r.requests, fast.responses);
    assert!(
        r.connections_opened >= e.timeout,
        "{}",
        r.connections_opened
    );
}

#[test]
fn garbage_responses_are_parse_errors() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()).route("/garbage", Reply::garbage()));
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "ok"
weight = 4
path = "/ok"
[[request]]
class = "garbage"
path = "/garbage"
"#,
    );
    let r = report(&[
        &srv.url("/"),
        "-c",
        "2",
        "-n",
        "100",
        "--timeout",
        "3s",
        "--mix",
        arg(&mix),
    ]);
    assert_eq!(r.requests, 100);
    let e = &r.errors;
    let sent = srv.garbage_sent();
    assert!(e.parse >= 1, "{e:?}");
    // Garbage is recognised as such, not waited on until a timeout.
    assert_eq!(e.total(), e.parse, "{e:?}");
    assert!(
        e.parse <= sent && sent <= e.parse + 2,
        "report parse {}, garbage sent {sent}",
        e.parse
    );
    let g = class(&r, "garbage");
    assert_eq!((g.responses, g.failed), (0, e.parse), "{g:?}");
    assert_eq!(class(&r, "ok").responses, 100);
}

#[test]
fn a_refused_port_is_a_connect_error() {
    let port = refused_port();
    let url = format!("http://127.0.0.1:{port}/");
    let r = report_any_exit(&[&url, "-c", "2", "-d", "500ms", "--timeout", "1s"]);
    assert_eq!(r.requests, 0);
    let e = &r.errors;
    assert!(e.connect >= 1, "{e:?}");
    assert_eq!(e.total(), e.connect, "{e:?}");
    // The report says why, naming the target.
    let why = r.first_error.as_deref().unwrap_or("");
    assert!(why.contains(&port.to_string()), "first error: {why:?}");
}

// ------------------------------------------------- connections and wire

#[test]
fn pipelined_responses_are_matched_to_their_requests() {
    // Each answer takes 2 ms, so a client keeping 4 requests in flight has
    // 4 waiting at the server. Two classes with different statuses: a
    // response credited to the wrong request would show in the classes.
    let srv = TestServer::start(
        Behaviour::new(Reply::ok().delay(ms(2)))
            .route("/nf", Reply::status(404).delay(ms(2)).body(3)),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "found"
path = "/found"
[[request]]
class = "notfound"
path = "/nf"
"#,
    );
    let r = report(&[
        &srv.url("/"),
        "-c",
        "2",
        "--pipeline",
        "4",
        "-n",
        "200",
        "--mix",
        arg(&mix),
    ]);
    assert_eq!(r.config.pipeline, 4);
    assert_eq!(r.requests, 200);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(srv.max_outstanding(), 4, "requests waiting at once");
    assert_eq!(srv.connections(), 2);
    let (found, nf) = (class(&r, "found"), class(&r, "notfound"));
    assert_eq!(found.responses, status(&r, "200"));
    assert_eq!(found.passed, found.responses);
    assert_eq!(nf.responses, status(&r, "404"));
    assert_eq!(nf.passed + nf.blocked, 0);
    assert_eq!(r.outcomes.client_error, nf.responses);
    matches_server("/found", found.responses, srv.requests_on("/found"), 8);
    matches_server("/nf", nf.responses, srv.requests_on("/nf"), 8);
}

#[test]
fn source_addresses_are_distinct_peers_at_the_server() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let r = report(&[
        &srv.url("/"),
        "-c",
        "4",
        "-n",
        "100",
        "--sources",
        "127.0.0.2-127.0.0.5",
    ]);
    assert_eq!(r.requests, 100);
    assert_eq!(r.config.sources.as_deref(), Some("127.0.0.2-127.0.0.5"));
    let want: BTreeSet<IpAddr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
        .into_iter()
        .map(ip)
        .collect();
    assert_eq!(srv.peers(), want);
}

#[test]
fn sources_as_a_cidr_or_one_address() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    report(&[
        &srv.url("/"),
        "-c",
        "4",
        "-n",
        "40",
        "--sources",
        "127.0.0.16/30",
    ]);
    let peers = srv.peers();
    let block: BTreeSet<IpAddr> = (16..20).map(|i| IpAddr::from([127, 0, 0, i])).collect();
    assert!(
        peers.is_subset(&block) && peers.len() >= 2,
        "peers {peers:?} for 127.0.0.16/30"
    );
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    report(&[
        &srv.url("/"),
        "-c",
        "2",
        "-n",
        "20",
        "--sources",
        "127.0.0.9",
    ]);
    assert_eq!(srv.peers(), BTreeSet::from([ip("127.0.0.9")]));
}

#[test]
fn connections_are_reopened_every_n_requests() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let r = report(&[
        &srv.url("/"),
        "-c",
        "2",
        "-n",
        "100",
        "--reconnect-every",
        "5",
    ]);
    assert_eq!(r.requests, 100);
    assert_eq!(r.config.reconnect_every, 5);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(srv.max_per_connection(), 5);
    // 100 responses at 5 per connection: 20 connections, and at most one
    // more per connection slot opened as the run ended.
    assert!(
        (20..=22).contains(&srv.connections()),
        "{}",
        srv.connections()
    );
    assert!(
        (20..=22).contains(&r.connections_opened),
        "{}",
        r.connections_opened
    );
}

#[test]
fn a_reopened_connection_takes_the_next_source_address() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let r = report(&[
        &srv.url("/"),
        "-c",
        "1",
        "-n",
        "9",
        "--reconnect-every",
        "3",
        "--sources",
        "127.0.0.2-127.0.0.4",
    ]);
    assert_eq!(r.requests, 9);
    // Connection k (in accept order) carried requests from one peer; the
    // first three connections came from three different addresses.
    let mut peer_of: BTreeMap<u64, IpAddr> = BTreeMap::new();
    for s in srv.log() {
        let p = *peer_of.entry(s.conn).or_insert(s.peer.ip());
        assert_eq!(p, s.peer.ip());
    }
    let first: BTreeSet<IpAddr> = peer_of.values().take(3).copied().collect();
    assert_eq!(first.len(), 3, "{peer_of:?}");
    assert!(srv.max_per_connection() <= 3);
}

#[test]
fn chunked_trickled_and_large_bodies_are_read_whole() {
    let srv = TestServer::start(
        Behaviour::new(Reply::ok())
            .route("/chunked", Reply::ok().body(3000).chunked(500))
            .route("/trickle", Reply::ok().body(5000).trickle())
            .route("/big", Reply::ok().body(200_000)),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "chunked"
path = "/chunked"
[[request]]
class = "trickle"
path = "/trickle"
[[request]]
class = "big"
path = "/big"
"#,
    );
    let r = report(&[
        &srv.url("/"),
        "-c",
        "2",
        "-n",
        "60",
        "--timeout",
        "3s",
        "--mix",
        arg(&mix),
    ]);
    assert_eq!(r.requests, 60);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let (c, t, b) = (
        class(&r, "chunked").responses,
        class(&r, "trickle").responses,
        class(&r, "big").responses,
    );
    assert!(c > 0 && t > 0 && b > 0, "{:?}", r.classes);
    assert_eq!(c + t + b, 60);
    let bodies = c * 3000 + t * 5000 + b * 200_000;
    assert!(
        r.bytes_received >= bodies,
        "{} bytes received for {bodies} bytes of bodies",
        r.bytes_received
    );
    matches_server("/chunked", c, srv.requests_on("/chunked"), 2);
    matches_server("/trickle", t, srv.requests_on("/trickle"), 2);
    matches_server("/big", b, srv.requests_on("/big"), 2);
}

#[test]
fn interim_responses_trailers_and_close_delimited_bodies_are_read() {
    let srv = TestServer::start(
        Behaviour::new(Reply::ok())
            .route("/interim", Reply::ok().body(40).interim())
            .route(
                "/trailers",
                Reply::ok().body(2000).chunked_with_trailers(300),
            )
            .route("/untilclose", Reply::ok().body(3000).until_close()),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "interim"
path = "/interim"
[[request]]
class = "trailers"
path = "/trailers"
[[request]]
class = "untilclose"
path = "/untilclose"
"#,
    );
    let r = report(&[
        &srv.url("/"),
        "-c",
        "2",
        "-n",
        "60",
        "--timeout",
        "3s",
        "--mix",
        arg(&mix),
    ]);
    assert_eq!(r.requests, 60);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    // The 100 Continue is not a response of its own.
    assert_eq!(r.status, BTreeMap::from([("200".to_string(), 60)]));
    let (i, t, u) = (
        class(&r, "interim").responses,
        class(&r, "trailers").responses,
        class(&r, "untilclose").responses,
    );
    assert!(i > 0 && t > 0 && u > 0, "{:?}", r.classes);
    // A body that ends with the connection needs a new connection after it.
    assert!(
        r.connections_opened >= u,
        "{} connections for {u} close-delimited responses",
        r.connections_opened
    );
    matches_server("/interim", i, srv.requests_on("/interim"), 2);
    matches_server("/trailers", t, srv.requests_on("/trailers"), 2);
    matches_server("/untilclose", u, srv.requests_on("/untilclose"), 2);
}

#[test]
fn connection_close_responses_are_followed_by_a_new_connection() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().close()));
    let r = report(&[&srv.url("/"), "-c", "2", "-n", "50"]);
    assert_eq!(r.requests, 50);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(srv.max_per_connection(), 1);
    assert!(srv.connections() >= 50, "{}", srv.connections());
    assert!(
        (50..=52).contains(&r.connections_opened),
        "{}",
        r.connections_opened
    );
}

#[test]
fn responses_without_a_body_head_204_304_are_framed_right() {
    // A 304 and a HEAD response carry a Content-Length but no body; a 204
    // has neither. A client that waits for those bytes stalls until its
    // timeout, which the error counts would show.
    let srv = TestServer::start(
        Behaviour::new(Reply::ok().body(5000))
            .route("/204", Reply::status(204))
            .route("/304", Reply::status(304).body(1234)),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mix = write_file(
        dir.path(),
        "mix.toml",
        r#"
[[request]]
class = "nocontent"
path = "/204"
[[request]]
class = "notmodified"
path = "/304"
headers = { "If-None-Match" = "\"abc\"" }
[[request]]
class = "head"
method = "HEAD"
path = "/head"
[[request]]
class = "get"
path = "/get"
"#,
    );
    let r = report(&[
        &srv.url("/"),
        "-c",
        "1",
        "-d",
        "1500ms",
        "--timeout",
        "500ms",
        "--mix",
        arg(&mix),
    ]);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert!(r.requests >= 20, "{}", r.requests);
    for name in ["nocontent", "notmodified", "head", "get"] {
        assert!(class(&r, name).responses > 0, "{:?}", r.classes);
    }
    assert_eq!(status(&r, "204"), class(&r, "nocontent").responses);
    assert_eq!(status(&r, "304"), class(&r, "notmodified").responses);
    assert_eq!(r.outcomes.passed, r.requests);
}

// -------------------------------------------------------------- open loop

#[test]
fn the_open_loop_sends_at_the_offered_rate() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let r = report(&[&srv.url("/"), "-c", "2", "-R", "100", "-d", "2s"]);
    assert_eq!(r.mode, "open");
    assert_eq!(r.offered_rps, Some(100.0));
    assert_eq!(r.config.rate, Some(100.0));
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    // 2 s at 100/s: 200 requests are due; the last few may still be in
    // flight at the end. Far more would mean the schedule is not kept.
    assert!((170..=202).contains(&r.requests), "{}", r.requests);
    assert!(srv.requests() <= 206, "server got {}", srv.requests());
    let u = r.uncorrected_latency_us.as_ref().expect("uncorrected");
    // Due never comes after written: corrected is never below uncorrected.
    let c = &r.latency_us;
    assert!(
        c.p50 >= u.p50 && c.p99 >= u.p99 && c.max >= u.max,
        "{c:?} vs {u:?}"
    );
}

#[test]
fn the_open_loop_corrected_latency_shows_a_server_stall() {
    // 200 requests/s over 2 connections (one due every 10 ms on each) for
    // 4 s: about 800 requests. When the 200th arrives (about 1 s in) the
    // server stops answering for 1 s.
    //
    // - The 2 requests in flight at that moment wait the whole second, as
    //   written and as due: every view shows them, as the max.
    // - The ~200 requests due during the stall cannot be sent (each
    //   connection has its one request stuck) and go out as soon as it
    //   ends. Measured from when they were due, they waited from ~1 s down
    //   to ~0, evenly: a quarter of all requests with latencies spread over
    //   0-1 s, so p90 (the slowest 80) is ~600 ms and p99 ~960 ms.
    // - Measured from when they were actually written (what a tool that
    //   coordinates with the server reports) they were answered promptly:
    //   only the 2 stuck requests (0.25 %) are slow, p90 and p99 are fast.
    let srv = TestServer::start(Behaviour::new(Reply::ok()).stall_at(200, Duration::from_secs(1)));
    let r = report(&[
        &srv.url("/"),
        "-c",
        "2",
        "-R",
        "200",
        "-d",
        "4s",
        "--timeout",
        "3s",
    ]);
    assert!(srv.stalled() >= 1, "the stall did not happen");
    assert_eq!(r.mode, "open");
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert!(r.requests >= 600, "{}", r.requests);
    let c = &r.latency_us;
    let u = r.uncorrected_latency_us.as_ref().expect("uncorrected");
    println!(
        "{} requests; corrected p50 {} p90 {} p99 {} max {}; uncorrected p50 {} p90 {} p99 {} max {} (us)",
        r.requests, c.p50, c.p90, c.p99, c.max, u.p50, u.p90, u.p99, u.max
    );
    assert!(
        c.p90 >= 300_000,
        "corrected p90 {} us hides the stall",
        c.p90
    );
    assert!(
        c.p99 >= 700_000,
        "corrected p99 {} us hides the stall",
        c.p99
    );
    assert!(c.max >= 950_000, "corrected max {} us", c.max);
    assert!(
        u.max >= 950_000,
        "uncorrected max {} us: stuck requests",
        u.max
    );
    assert!(
        u.p90 <= 100_000,
        "uncorrected p90 {} us: requests sent after the stall were slow?",
        u.p90
    );
    assert!(u.p99 <= 200_000, "uncorrected p99 {} us", u.p99);
    assert!(c.p99 >= 4 * u.p99, "corrected p99 {} vs {}", c.p99, u.p99);
}

// -------------------------------------------------------------------- TLS

#[test]
fn https_without_a_ca_is_not_verified() {
    let p = pki();
    let srv = TestServer::start_tls(Behaviour::new(Reply::ok()), &p.cert, &p.key);
    let r = report(&[&srv.url("/tls"), "-c", "2", "-n", "50"]);
    assert!(r.config.tls);
    assert_eq!(r.requests, 50);
    assert_eq!(status(&r, "200"), 50);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(srv.tls_handshakes(), 2);
    matches_server("/tls", 50, srv.requests_on("/tls"), 2);
}

#[test]
fn https_with_a_ca_verifies_the_server() {
    let p = pki();
    let srv = TestServer::start_tls(Behaviour::new(Reply::ok()), &p.cert, &p.key);
    let r = report(&[&srv.url("/"), "-c", "2", "-n", "50", "--ca", arg(&p.ca)]);
    assert_eq!(r.requests, 50);
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    let (requests, handshakes) = (srv.requests(), srv.tls_handshakes());
    // The same server under a CA that did not issue its certificate: no
    // handshake completes, nothing is sent.
    let r = report_any_exit(&[
        &srv.url("/"),
        "-c",
        "2",
        "-d",
        "500ms",
        "--ca",
        arg(&p.other_ca),
    ]);
    assert_eq!(r.requests, 0);
    assert!(r.errors.tls >= 1, "{:?}", r.errors);
    let why = r.first_error.as_deref().unwrap_or("");
    assert!(why.to_lowercase().contains("tls"), "first error: {why:?}");
    assert_eq!(srv.tls_handshakes(), handshakes);
    assert_eq!(srv.requests(), requests);
}

#[test]
fn tls_sessions_resume_unless_told_not_to() {
    let p = pki();
    let srv = TestServer::start_tls(Behaviour::new(Reply::ok()), &p.cert, &p.key);
    let args = |extra: Option<&str>| {
        let mut a = vec![
            srv.url("/"),
            "-c".into(),
            "1".into(),
            "-n".into(),
            "10".into(),
            "--reconnect-every".into(),
            "1".into(),
        ];
        a.extend(extra.map(String::from));
        a
    };
    let a = args(None);
    let r = report(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.requests, 10);
    assert!(srv.tls_handshakes() >= 10, "{}", srv.tls_handshakes());
    assert!(srv.tls_resumed() >= 1, "no session was resumed");
    let before = srv.tls_resumed();
    let a = args(Some("--no-tls-resume"));
    let r = report(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.requests, 10);
    assert!(srv.tls_handshakes() >= 20);
    assert_eq!(srv.tls_resumed(), before, "resumed with --no-tls-resume");
}

#[test]
fn https_to_a_plain_server_is_a_tls_error() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let url = format!("https://{}/", srv.addr());
    let r = report_any_exit(&[&url, "-c", "1", "-d", "500ms", "--timeout", "1s"]);
    assert_eq!(r.requests, 0);
    assert!(r.errors.tls >= 1, "{:?}", r.errors);
}

#[test]
fn a_handshake_the_server_cuts_is_a_tls_failure_and_not_spun_on() {
    // A server that takes the ClientHello and closes without a word (what a
    // gateway refusing a TLS client does). The handshake failed: per the
    // report contract that is `tls`, and the worker's rule is that a target
    // failing handshakes is retried after a pause, not reconnected in a
    // tight loop (which would flood the target and measure nothing).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let n = accepted.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = s.set_read_timeout(Some(ms(1000)));
            let _ = std::io::Read::read(&mut s, &mut [0u8; 4096]);
        }
    });
    let url = format!("https://{addr}/");
    let r = report_any_exit(&[&url, "-c", "2", "-d", "500ms", "--timeout", "1s"]);
    let connections = accepted.load(std::sync::atomic::Ordering::SeqCst);
    let e = &r.errors;
    assert_eq!(r.requests, 0);
    assert!(e.total() >= 1, "{e:?}");
    // 2 slots for 0.5 s with a pause between attempts: a few dozen at most.
    assert!(
        connections <= 100 && e.tls == e.total(),
        "{connections} connections in 0.5 s (spun on?), errors {e:?} (not tls?)"
    );
}

// ------------------------------------------------------------ the output

#[test]
fn the_json_goes_to_a_file_and_the_table_to_stdout() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let dir = tempfile::tempdir().expect("tmp");
    let json = dir.path().join("report.json");
    let o = bench(&[&srv.url("/"), "-c", "1", "-n", "10", "--json", arg(&json)]);
    assert!(o.status.success(), "{}", o.stderr);
    let text = std::fs::read_to_string(&json).expect("report file");
    let r: Report = serde_json::from_str(&text).expect("report JSON");
    assert_eq!(r.requests, 10);
    assert!(o.stdout.contains(&r.table()), "stdout:\n{}", o.stdout);
    // -q without --json: nothing on stdout.
    let o = bench(&[&srv.url("/"), "-c", "1", "-n", "10", "-q"]);
    assert!(o.status.success(), "{}", o.stderr);
    assert_eq!(o.stdout, "");
}

// -------------------------------------------------------------- bad input

#[test]
fn bad_urls_are_clear_errors() {
    for url in [
        "not a url",
        "ftp://127.0.0.1/",
        "http://",
        "http://127.0.0.1:99999/",
    ] {
        let err = bench_fails(&[url, "-c", "1", "-n", "1"]);
        assert!(
            err.to_lowercase().contains("url") || err.contains(url),
            "{url}: {err}"
        );
    }
}

#[test]
fn an_unknown_mix_name_is_a_clear_error() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let err = bench_fails(&[&srv.url("/"), "-c", "1", "-n", "1", "--mix", "no-such-mix"]);
    assert!(err.contains("no-such-mix"), "{err}");
    assert_eq!(srv.requests(), 0);
}

#[test]
fn malformed_mix_files_are_clear_errors() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let dir = tempfile::tempdir().expect("tmp");
    // (file, content, what the message must name besides the file)
    let cases = [
        ("syntax.toml", "[[request]\npath = \"/\"\n", ""),
        ("empty.toml", "# no requests\n", ""),
        ("no-path.toml", "[[request]]\nmethod = \"GET\"\n", "path"),
        (
            "placeholder.toml",
            "[[request]]\npath = \"/x/{bogus}\"\n",
            "bogus",
        ),
        ("range.toml", "[[request]]\npath = \"/x/{n:9-1}\"\n", "9-1"),
        (
            "weight.toml",
            "[[request]]\npath = \"/\"\nweight = \"heavy\"\n",
            "weight",
        ),
    ];
    for (name, text, problem) in cases {
        let file = write_file(dir.path(), name, text);
        let err = bench_fails(&[&srv.url("/"), "-c", "1", "-n", "1", "--mix", arg(&file)]);
        assert!(
            err.contains(name),
            "{name}: message does not name the file: {err}"
        );
        assert!(
            err.contains(problem),
            "{name}: message does not say {problem:?}: {err}"
        );
    }
    let missing = dir.path().join("missing.toml");
    let err = bench_fails(&[&srv.url("/"), "-c", "1", "-n", "1", "--mix", arg(&missing)]);
    assert!(err.contains("missing.toml"), "{err}");
    assert_eq!(srv.requests(), 0, "a bad mix still sent load");
}

#[test]
fn other_bad_options_are_clear_errors() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let url = srv.url("/");
    let err = bench_fails(&[&url, "-n", "1", "--body-file", "/nonexistent/body.bin"]);
    assert!(err.contains("/nonexistent/body.bin"), "{err}");
    let err = bench_fails(&[&url, "-n", "1", "-H", "NoColonHere"]);
    assert!(err.contains("NoColonHere"), "{err}");
    let err = bench_fails(&[&url, "-n", "1", "--sources", "not-an-address"]);
    assert!(err.contains("not-an-address"), "{err}");
    let err = bench_fails(&[&url, "-n", "1", "-d", "ten seconds"]);
    assert!(err.contains("ten seconds"), "{err}");
    assert_eq!(srv.requests(), 0);
}
