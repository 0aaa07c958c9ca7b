//! Where requests go: routes by Host and path prefix to different clusters,
//! round-robin over a cluster's servers, a dead server ejected while requests keep
//! succeeding on the others, and the per-worker connection limit.

use rampart_tests::{dead_addr, Behaviour, Gateway, RawConn, TestUpstream};
use std::net::SocketAddr;
use std::time::Duration;

fn request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

fn config(workers: u32, body: &str) -> String {
    format!(
        "[server]\nworkers = {workers}\nlisten = [\"127.0.0.1:0\"]\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[policy]\nenabled = false\n\n{body}"
    )
}

fn cluster(name: &str, servers: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = servers.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[[upstream]]\nname = \"{name}\"\nservers = [{}]\n{extra}\n",
        list.join(", ")
    )
}

#[test]
fn routes_by_host_and_path_prefix() {
    let api = TestUpstream::start(Behaviour::Ok);
    let admin = TestUpstream::start(Behaviour::Ok);
    let default = TestUpstream::start(Behaviour::Ok);
    let body = format!(
        "{}{}{}\
         [[route]]\nhost = \"api.example.com\"\nupstream = \"api\"\n\n\
         [[route]]\npath_prefix = \"/admin/\"\nupstream = \"admin\"\n\n\
         [[route]]\npath_prefix = \"/\"\nupstream = \"default\"\n",
        cluster("api", &[api.addr()], ""),
        cluster("admin", &[admin.addr()], ""),
        cluster("default", &[default.addr()], ""),
    );
    let gw = Gateway::run_config(&config(1, &body));
    let mut c = RawConn::open(gw.addr());
    for (host, path) in [
        ("api.example.com", "/v1/users"),
        ("API.Example.COM:8080", "/admin/users"),
        ("other.example.com", "/admin/users"),
        ("other.example.com", "/admin"),
        ("other.example.com", "/v1/users"),
    ] {
        assert_eq!(
            c.roundtrip(&request(host, path)).status,
            200,
            "{host} {path}"
        );
    }
    let targets = |u: &TestUpstream| -> Vec<String> {
        u.requests().iter().map(|r| r.target.clone()).collect()
    };
    // A host rule beats any path rule; a longer prefix beats "/"; "/admin" is not "/admin/".
    assert_eq!(targets(&api), vec!["/v1/users", "/admin/users"]);
    assert_eq!(targets(&admin), vec!["/admin/users"]);
    assert_eq!(targets(&default), vec!["/admin", "/v1/users"]);
}

#[test]
fn no_matching_route_is_404_and_nothing_is_forwarded() {
    let api = TestUpstream::start(Behaviour::Ok);
    let body = format!(
        "{}[[route]]\nhost = \"api.example.com\"\nupstream = \"api\"\n",
        cluster("api", &[api.addr()], "")
    );
    let gw = Gateway::run_config(&config(1, &body));
    let r = RawConn::open(gw.addr()).roundtrip(&request("elsewhere.example.com", "/"));
    assert_eq!(r.status, 404);
    assert!(r.text().contains("\"event_id\""), "{}", r.text());
    assert_eq!(api.request_count(), 0);
}

#[test]
fn round_robin_spreads_requests_over_servers() {
    let a = TestUpstream::start(Behaviour::Ok);
    let b = TestUpstream::start(Behaviour::Ok);
    let body = cluster("app", &[a.addr(), b.addr()], "balance = \"round_robin\"");
    let gw = Gateway::run_config(&config(1, &body));
    let mut c = RawConn::open(gw.addr());
    for i in 0..10 {
        assert_eq!(c.roundtrip(&request("x", &format!("/{i}"))).status, 200);
    }
    assert_eq!((a.request_count(), b.request_count()), (5, 5));
}

#[test]
fn least_connections_avoids_the_busy_server() {
    let a = TestUpstream::start(Behaviour::Delay(400));
    let b = TestUpstream::start(Behaviour::Ok);
    let body = cluster(
        "app",
        &[a.addr(), b.addr()],
        "balance = \"least_connections\"",
    );
    let gw = Gateway::run_config(&config(1, &body));
    // While `a` holds a slow request, new requests go to idle `b` (round robin
    // would send the third request to `a` again).
    let mut c1 = RawConn::open(gw.addr());
    let mut c2 = RawConn::open(gw.addr());
    c1.send(&request("x", "/slow")).expect("send slow");
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..2 {
        let r = c2.roundtrip(&request("x", &format!("/fast{i}")));
        assert_eq!(r.status, 200);
    }
    assert_eq!(c1.read_response().expect("slow response").status, 200);
    assert_eq!(a.request_count(), 1);
    assert_eq!(b.request_count(), 2, "a request went to the busy server");
}

#[test]
fn dead_server_is_ejected_and_requests_still_succeed() {
    let live = TestUpstream::start(Behaviour::Ok);
    let dead = dead_addr();
    let body = cluster(
        "app",
        &[dead, live.addr()],
        "max_fails = 1\nfail_timeout = \"60s\"",
    );
    let gw = Gateway::run_config(&config(1, &body));
    for i in 0..10 {
        let r = RawConn::open(gw.addr()).roundtrip(&request("x", &format!("/{i}")));
        assert_eq!(
            r.status, 200,
            "request {i} failed while a live server exists"
        );
    }
    assert_eq!(live.request_count(), 10);
}

#[test]
fn connections_beyond_the_per_worker_limit_are_refused() {
    let up = TestUpstream::start(Behaviour::Ok);
    let body = format!(
        "[limits]\nmax_connections_per_worker = 2\n\n{}",
        cluster("app", &[up.addr()], "")
    );
    let gw = Gateway::run_config(&config(1, &body));
    let mut first = RawConn::open(gw.addr());
    let mut second = RawConn::open(gw.addr());
    assert_eq!(first.roundtrip(&request("x", "/1")).status, 200);
    assert_eq!(second.roundtrip(&request("x", "/2")).status, 200);
    let mut third = RawConn::open(gw.addr());
    assert!(
        third.is_closed(),
        "a third connection was accepted over a limit of 2"
    );
    // The admitted connections are unaffected.
    assert_eq!(first.roundtrip(&request("x", "/3")).status, 200);
    drop(second);
    std::thread::sleep(Duration::from_millis(200));
    let mut fourth = RawConn::open(gw.addr());
    assert_eq!(
        fourth.roundtrip(&request("x", "/4")).status,
        200,
        "a freed slot is reused"
    );
}
