//! Behaviour policies end to end: the real binary with two workers in front
//! of a real upstream, each scenario's policy fed by the per-core counters.
//! Every request opens its own connection from a chosen 127.0.0.x address,
//! so the address steering (one core per client address) is what keeps the
//! per-address counts exact; keys seen on both cores (a username) are counted
//! through the cross-core exchange.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use rampart_tests::{Behaviour, Canned, Gateway, GatewayConfig, RawConn, TestUpstream};

const PACK_TOML: &str = "name = \"behaviour-e2e\"\nversion = \"1.0.0\"\n";
const BLOCK_JSON: &str = r#"{"blocked":true,"policy":"{{policy_id}}"}"#;
const SIGNATURES: &str = r#"
[[signature]]
id = "never"
literal = "never-matches-this-text"
fields = ["path"]
"#;
const POLICIES: &str = r#"
[[policy]]
id = "T-RATE"
name = "burst from one address"
severity = "medium"
priority = 10
condition = { all = [{ path = "/burst*" }, { counter = "client.ip.rate_1s", gt = 4 }] }
action = { rate_limit = { retry_after = "1s" } }

[[policy]]
id = "T-STUFFING"
name = "failed logins from one address"
severity = "high"
priority = 20
condition = { all = [{ path = "/login" }, { counter = "client.ip.auth_failures_5m", gt = 3 }] }
action = { block = { status = 403 } }

[[policy]]
id = "T-USER"
name = "failed logins for one user from many addresses"
severity = "high"
priority = 30
condition = { all = [{ path = "/login" }, { counter = "user.auth_failures_10m", gt = 4 }] }
action = { block = { status = 423 } }

[[policy]]
id = "T-BOLA"
name = "object enumeration"
severity = "high"
priority = 40
condition = { all = [{ path = "/api/orders/*" }, { counter = "client.ip.distinct_object_ids_1m", gt = 20 }] }
action = { block = { status = 403 } }

[[policy]]
id = "T-SCAN"
name = "scanning: many not-found answers"
severity = "medium"
priority = 50
condition = { all = [{ counter = "client.ip.errors_4xx_1m", gt = 8 }, { counter = "client.ip.not_found_ratio_1m", gt = 50 }] }
action = { block = { status = 403 } }
"#;

/// Logins always fail; `/gone*` is not found; everything else is 200.
const CANNED: &[Canned] = &[
    Canned {
        path: "/login",
        status: 401,
        content_type: "application/json",
        headers: &[],
        body: br#"{"error":"bad credentials"}"#,
        chunk: 0,
        stall_ms: 0,
    },
    Canned {
        path: "/gone",
        status: 404,
        content_type: "application/json",
        headers: &[],
        body: br#"{"error":"not found"}"#,
        chunk: 0,
        stall_ms: 0,
    },
];

fn write_pack(dir: &Path) {
    for sub in ["signatures", "policies", "responses"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    std::fs::write(dir.join("pack.toml"), PACK_TOML).expect("write");
    std::fs::write(dir.join("signatures/s.toml"), SIGNATURES).expect("write");
    std::fs::write(dir.join("policies/p.toml"), POLICIES).expect("write");
    std::fs::write(dir.join("responses/block.json"), BLOCK_JSON).expect("write");
}

fn gateway(up: &TestUpstream, pack: &Path) -> Gateway {
    Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .workers(2)
            .policy(&format!(
                "packs = [{:?}]\nwatch = false",
                pack.display().to_string()
            ))
            .extra("[behaviour]\nmemory_per_core = \"4MiB\"\nkey_sync_interval = \"5ms\"\n")
            .render(),
    )
}

/// One request on its own connection from `from`; the status.
fn send(gw: &Gateway, from: [u8; 4], request: &str) -> u16 {
    let mut c = RawConn::connect_from(Ipv4Addr::from(from), gw.addr()).expect("connect");
    c.roundtrip(request.as_bytes()).status
}

fn get(gw: &Gateway, from: [u8; 4], path: &str) -> u16 {
    send(
        gw,
        from,
        &format!("GET {path} HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n"),
    )
}

fn login(gw: &Gateway, from: [u8; 4], user: &str) -> u16 {
    let body = format!(r#"{{"username":"{user}","password":"hunter2"}}"#);
    send(
        gw,
        from,
        &format!(
            "POST /login HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn a_rate_limit_fires_at_its_threshold_for_that_address_only_and_expires() {
    let up = TestUpstream::start(Behaviour::Ok);
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    let gw = gateway(&up, pack.path());

    // `rate_1s > 4`: four requests pass, the fifth is refused — on fresh
    // connections, which only count as one client if they reach one core.
    let statuses: Vec<u16> = (0..6).map(|_| get(&gw, [127, 0, 0, 2], "/burst")).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
    // Another address is not affected.
    assert_eq!(get(&gw, [127, 0, 0, 3], "/burst"), 200);
    assert_eq!(up.request_count(), 5);
    // Two windows later the burst has expired.
    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(get(&gw, [127, 0, 0, 2], "/burst"), 200);

    // The tables are visible as metrics (published once a second): both
    // addresses are tracked, on whichever cores they were steered to.
    let metrics = rampart_tests::client::get(gw.admin_addr(), "/metrics")
        .expect("metrics")
        .text();
    let tracked: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("rampart_behaviour_tracked{") && l.contains("client_ip"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(tracked, 2.0, "{metrics}");
    assert!(
        metrics.contains("rampart_behaviour_table_bytes"),
        "{metrics}"
    );
}

#[test]
fn failed_logins_from_one_address_are_stopped_after_the_threshold() {
    let up = TestUpstream::start(Behaviour::Respond(CANNED));
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    let gw = gateway(&up, pack.path());

    // Each failure is counted when the upstream's 401 comes back; with
    // `auth_failures_5m > 3` the fifth attempt is blocked, whatever the user.
    let statuses: Vec<u16> = (0..6)
        .map(|i| login(&gw, [127, 0, 0, 10], &format!("user{i}")))
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 403, 403]);
    // A different address still reaches the login (and fails upstream).
    assert_eq!(login(&gw, [127, 0, 0, 11], "someone"), 401);
}

#[test]
fn one_user_attacked_from_many_addresses_is_counted_across_cores() {
    let up = TestUpstream::start(Behaviour::Respond(CANNED));
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    let gw = gateway(&up, pack.path());

    // Low and slow: one failure per address, so no address trips T-STUFFING,
    // but the user's failures add up on the core that owns the username,
    // whichever core each address is steered to.
    let mut statuses = Vec::new();
    for i in 0..10u8 {
        statuses.push(login(&gw, [127, 0, 1, 20 + i], "Victim@Example.com"));
        // Longer than the 5 ms sync interval plus a loop turn.
        std::thread::sleep(Duration::from_millis(60));
    }
    // `user.auth_failures_10m > 4`: five failures always pass. A core that
    // has not seen the user before learns the owner's total with its first
    // update's answer, so each other core may let one more through (the
    // staleness bound, docs/ARCHITECTURE.md); after that it is refused on
    // every core (usernames are normalised, so the case does not matter).
    let first = statuses
        .iter()
        .position(|&s| s == 423)
        .unwrap_or_else(|| panic!("never protected: {statuses:?}"));
    assert!((5..=6).contains(&first), "{statuses:?}");
    assert!(statuses[..first].iter().all(|&s| s == 401), "{statuses:?}");
    assert!(statuses[first..].iter().all(|&s| s == 423), "{statuses:?}");
    assert_eq!(login(&gw, [127, 0, 1, 40], "victim@example.com"), 423);
    // Another user is not affected.
    assert_eq!(login(&gw, [127, 0, 1, 41], "bystander"), 401);
}

#[test]
fn enumerating_object_ids_is_stopped_but_rereading_one_is_not() {
    let up = TestUpstream::start(Behaviour::Ok);
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    let gw = gateway(&up, pack.path());

    // The same order 40 times: one distinct id.
    for _ in 0..40 {
        assert_eq!(get(&gw, [127, 0, 0, 30], "/api/orders/1001"), 200);
    }
    // Walking ids: `distinct_object_ids_1m > 20`, estimated with a
    // HyperLogLog (18 % standard error), so it trips near the 21st id.
    let first_block = (0..60u32)
        .position(|i| get(&gw, [127, 0, 0, 31], &format!("/api/orders/{}", 5000 + i)) == 403)
        .expect("enumeration was never stopped");
    assert!(
        (12..=35).contains(&first_block),
        "stopped after {first_block} distinct ids"
    );
}

#[test]
fn a_scanner_collecting_not_found_answers_is_blocked() {
    let up = TestUpstream::start(Behaviour::Respond(CANNED));
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    let gw = gateway(&up, pack.path());

    // 404s from the upstream feed `errors_4xx_1m` and `not_found_ratio_1m`;
    // past 8 of them (all not found) the next request is blocked, even to
    // a page that exists.
    for i in 0..9 {
        assert_eq!(get(&gw, [127, 0, 0, 50], &format!("/gone/{i}.php")), 404);
    }
    assert_eq!(get(&gw, [127, 0, 0, 50], "/index"), 403);
    // A client with a healthy mix stays under the ratio.
    for i in 0..9 {
        assert_eq!(get(&gw, [127, 0, 0, 51], &format!("/gone/{i}")), 404);
        assert_eq!(get(&gw, [127, 0, 0, 51], "/fine"), 200);
        assert_eq!(get(&gw, [127, 0, 0, 51], "/fine"), 200);
    }
}
