//! The traffic view of the admin API (`/api/traffic`, `/api/traffic/history`,
//! `/api/clients/top?by=requests`), end to end: the real binary with two
//! workers, three routes (one to a dead upstream) and a blocking policy;
//! requests from several loopback addresses with known counts and statuses;
//! the cores' snapshots, added up, must give exactly those counts.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rampart_tests::{dead_addr, Behaviour, Canned, Gateway, RawConn, TestUpstream};
use serde_json::Value;

const POLICY: &str = r#"
[[policy]]
id = "T-LFI"
name = "passwd"
severity = "high"
tags = ["lfi"]
priority = 10
condition = { signature = "lfi.passwd" }
action = "block"
"#;

const SIGNATURE: &str = r#"
[[signature]]
id = "lfi.passwd"
literal = "/etc/passwd"
fields = ["path", "@values"]
transforms = ["url_decode"]
"#;

static CANNED: [Canned; 2] = [
    Canned {
        path: "/api/missing",
        status: 404,
        content_type: "application/json",
        headers: &[],
        body: b"{}",
        chunk: 0,
        stall_ms: 0,
    },
    Canned {
        path: "/api/fail",
        status: 500,
        content_type: "application/json",
        headers: &[],
        body: b"{}",
        chunk: 0,
        stall_ms: 0,
    },
];

fn gateway(dir: &std::path::Path, app: &TestUpstream) -> Gateway {
    let pack = dir.join("pack");
    for d in ["signatures", "policies", "responses"] {
        std::fs::create_dir_all(pack.join(d)).expect("mkdir");
    }
    std::fs::write(pack.join("pack.toml"), "name = \"t\"\nversion = \"1\"\n").expect("w");
    std::fs::write(pack.join("signatures/s.toml"), SIGNATURE).expect("w");
    std::fs::write(pack.join("policies/p.toml"), POLICY).expect("w");
    std::fs::write(pack.join("responses/block.json"), "{\"blocked\":true}").expect("w");
    let config = format!(
        "[server]\nworkers = 2\nlisten = [\"127.0.0.1:0\"]\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [policy]\npacks = [{:?}]\nwatch = false\n\n\
         [events]\npath = {:?}\n\n\
         [[upstream]]\nname = \"app\"\nservers = [\"{}\"]\n\n\
         [[upstream]]\nname = \"gone\"\nservers = [\"{}\"]\nmax_fails = 1\nfail_timeout = \"60s\"\n\n\
         [[route]]\npath_prefix = \"/api/\"\nupstream = \"app\"\n\n\
         [[route]]\npath_prefix = \"/static/\"\nupstream = \"app\"\n\n\
         [[route]]\npath_prefix = \"/dead/\"\nupstream = \"gone\"\n",
        pack.display().to_string(),
        dir.join("events.log").display().to_string(),
        app.addr(),
        dead_addr(),
    );
    Gateway::run_config(&config)
}

fn api(gw: &Gateway, path: &str) -> (u16, Value) {
    let r = RawConn::open(gw.admin_addr())
        .roundtrip(format!("GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n").as_bytes());
    let text = r.text();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text:?}"));
    (r.status, v)
}

fn get(gw: &Gateway, path: &str) -> Value {
    let (st, v) = api(gw, path);
    assert_eq!(st, 200, "GET {path}: {v}");
    v
}

/// `n` requests for `path` from `from` on one kept-alive connection; every
/// status must be `status`.
fn send(gw: &Gateway, from: Ipv4Addr, path: &str, n: usize, status: u16) {
    let mut c = RawConn::connect_from(from, gw.addr()).expect("connect from loopback alias");
    for _ in 0..n {
        let r = c.roundtrip(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.status, status, "{from} {path}");
    }
}

/// A request on its own connection (the answer may close it); its status.
fn once(gw: &Gateway, from: Ipv4Addr, path: &str) -> u16 {
    RawConn::connect_from(from, gw.addr())
        .expect("connect")
        .roundtrip(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .status
}

fn wait_for(gw: &Gateway, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = get(gw, path);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "GET {path} never matched: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn route<'a>(v: &'a Value, prefix: &str) -> &'a Value {
    v["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["path_prefix"] == prefix)
        .unwrap_or_else(|| panic!("no route {prefix} in {v}"))
}

#[test]
fn traffic_counts_add_up_over_cores_with_latency_health_and_top_clients() {
    let dir = tempfile::tempdir().expect("tmp");
    let app = TestUpstream::start(Behaviour::Respond(&CANNED));
    let gw = gateway(dir.path(), &app);
    let ip = |n: u8| Ipv4Addr::new(127, 0, 0, n);

    send(&gw, ip(2), "/api/items", 30, 200);
    send(&gw, ip(3), "/api/missing", 10, 404);
    send(&gw, ip(4), "/static/app.js", 5, 200);
    send(&gw, ip(4), "/api/fail", 3, 500);
    for _ in 0..2 {
        assert_eq!(once(&gw, ip(5), "/api/files?name=/etc/passwd"), 403);
    }
    for _ in 0..3 {
        let st = once(&gw, ip(6), "/dead/x");
        assert!(st == 502 || st == 503, "dead upstream: {st}");
    }
    assert_eq!(once(&gw, ip(6), "/nowhere"), 404);

    let v = wait_for(&gw, "/api/traffic", |v| {
        v["cores_reporting"] == 2
            && v["totals"]["requests"] == 53
            && v["unrouted"]["responses"]["4xx"] == 1
            && v["routes"].as_array().is_some_and(|r| {
                r.iter()
                    .map(|x| x["latency"]["count"].as_u64().unwrap_or(0))
                    .sum::<u64>()
                    >= 48
            })
    });
    assert_eq!(v["workers"], 2);
    let a = route(&v, "/api/");
    assert_eq!(a["requests"], 45, "{a}");
    assert_eq!(a["responses"]["2xx"], 30);
    assert_eq!(a["responses"]["4xx"], 12, "10 from the upstream, 2 blocked");
    assert_eq!(a["responses"]["5xx"], 3);
    assert_eq!(a["blocked"], 2);
    assert_eq!(a["upstream"], "app");
    let s = route(&v, "/static/");
    assert_eq!(s["requests"], 5);
    assert_eq!(s["responses"]["2xx"], 5);
    assert_eq!(s["blocked"], 0);
    let d = route(&v, "/dead/");
    assert_eq!(d["requests"], 3);
    assert_eq!(d["responses"]["5xx"], 3);
    assert_eq!(v["unrouted"]["requests"], 0);
    assert_eq!(v["totals"]["responses"]["2xx"], 35);
    assert_eq!(v["totals"]["responses"]["4xx"], 13);
    assert_eq!(v["totals"]["responses"]["5xx"], 6);
    assert_eq!(v["totals"]["blocked"], 2);

    // Latency percentiles from the merged histograms: present and ordered.
    let lat = &a["latency"];
    assert!(lat["count"].as_u64().unwrap() >= 43, "{lat}");
    let (p50, p90, p99) = (
        lat["p50_us"].as_u64().expect("p50"),
        lat["p90_us"].as_u64().expect("p90"),
        lat["p99_us"].as_u64().expect("p99"),
    );
    assert!(p50 > 0 && p50 <= p90 && p90 <= p99, "{lat}");
    assert!(lat["mean_us"].as_u64().is_some());

    // Top routes: every route with traffic, busiest (in the rate window) first.
    let tops = v["top_routes"].as_array().expect("top_routes");
    assert_eq!(tops.len(), 3, "{tops:?}");
    assert!(tops
        .iter()
        .any(|t| t["name"] == "/api/" && t["requests"] == 45));
    assert!(
        tops.windows(2)
            .all(|w| w[0]["requests_per_s"].as_f64() >= w[1]["requests_per_s"].as_f64()),
        "{tops:?}"
    );

    // The dead upstream: connect errors and out of rotation; the live one healthy.
    let ups = v["upstreams"].as_array().expect("upstreams");
    let gone = ups.iter().find(|u| u["name"] == "gone").expect("gone");
    assert!(gone["connect_errors"].as_u64().unwrap() >= 1, "{gone}");
    assert_eq!(gone["healthy"], false, "{gone}");
    assert_eq!(gone["servers"][0]["healthy"], false);
    assert!(gone["servers"][0]["ejected_cores"].as_u64().unwrap() >= 1);
    let live = ups.iter().find(|u| u["name"] == "app").expect("app");
    assert_eq!(live["healthy"], true, "{live}");
    assert_eq!(live["errors"], 0);
    assert_eq!(live["responses"], 48, "{live}");

    // Busiest clients by requests, with what the events say about them.
    let top = wait_for(&gw, "/api/clients/top?by=requests", |t| {
        t["clients"][0]["client"] == "127.0.0.2"
            && t["clients"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|x| x["client"] == "127.0.0.5" && x["blocks"] == 2)
            })
    });
    assert_eq!(top["by"], "requests");
    // Sliding one-minute estimates: at most what was sent.
    let busiest = top["clients"][0]["requests_1m"].as_u64().unwrap();
    assert!((20..=30).contains(&busiest), "{top}");
    assert_eq!(top["clients"][1]["client"], "127.0.0.3", "{top}");
    let one = get(&gw, "/api/clients/top?by=requests&limit=1");
    assert_eq!(one["clients"].as_array().unwrap().len(), 1);

    // History: one point every 5 s, adding up to what was sent.
    let h = wait_for(&gw, "/api/traffic/history", |h| {
        h["points"].as_array().is_some_and(|p| {
            p.iter()
                .map(|x| x["requests"].as_u64().unwrap_or(0))
                .sum::<u64>()
                == 53
        })
    });
    assert_eq!(h["step_ms"], 5000);
    let last = h["points"].as_array().unwrap().last().unwrap()["time_ms"]
        .as_u64()
        .unwrap();
    let later = get(&gw, &format!("/api/traffic/history?since={last}"));
    for p in later["points"].as_array().unwrap() {
        assert!(p["time_ms"].as_u64().unwrap() > last, "{later}");
        assert_eq!(p["requests"], 0, "{later}");
    }

    // Bad queries: 400 with the field at fault.
    for (path, field) in [
        ("/api/traffic?x=1", "query"),
        ("/api/traffic/history?since=soon", "since"),
        ("/api/traffic/history?limit=3", "query"),
        ("/api/clients/top?by=bytes", "by"),
        ("/api/clients/top?by=requests&limit=0", "limit"),
    ] {
        let (st, e) = api(&gw, path);
        assert_eq!(st, 400, "{path}: {e}");
        assert_eq!(e["field"], field, "{path}: {e}");
        assert!(e["error"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let r = RawConn::open(gw.admin_addr())
        .roundtrip(b"DELETE /api/traffic HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
}
