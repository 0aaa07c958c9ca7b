//! Behaviour counters per request: update every window of the request's keys and read
//! every counter a policy can see (`CoreCounters::on_request`), over 100k distinct
//! clients in random order (so table lookups miss the cache as in production), or
//! over `BEHAVIOUR_CLIENTS`.
//!
//! `cargo bench -p rampart-perf --bench behaviour`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rampart_dataplane::behaviour::counters::id;
use rampart_dataplane::behaviour::{CoreCounters, RequestKeys};

/// Distinct clients (`BEHAVIOUR_CLIENTS` overrides: a small number measures the
/// arithmetic with every table in cache, the default the cache and TLB misses too).
fn clients() -> u64 {
    std::env::var("BEHAVIOUR_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

const MIB: usize = 1 << 20;

fn keys(i: u64, n: u64, ip_only: bool) -> RequestKeys {
    // A permutation of the clients, so consecutive requests hit distant slots.
    let c = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) % n;
    let mut k = RequestKeys {
        client_ip: c,
        path: i % 500,
        object_id: Some(i % 10_000),
        ..RequestKeys::default()
    };
    if !ip_only {
        k.user = Some(c / 2);
        k.api_key = Some(c / 5);
        k.route = Some((i % 40) as u32);
    }
    k
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("behaviour");
    g.throughput(Throughput::Elements(1));
    let mut out = [0u64; id::END];
    let n = clients();

    for (name, ip_only) in [
        ("on_request/ip", true),
        ("on_request/ip+user+key+route", false),
    ] {
        let mut core = CoreCounters::mesh(1, 64 * MIB, 10).pop().expect("core");
        let mut i = 0u64;
        for _ in 0..n * 2 {
            core.on_request(1_000_000 + i / 100, &keys(i, n, ip_only), &mut out);
            i += 1;
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                core.on_request(1_000_000 + i / 100, &keys(i, n, ip_only), &mut out);
                black_box(&out);
            })
        });
    }

    // Two cores in one thread: half the user/key/route keys are owned by the other
    // core (shadow update + batched message); both poll every 32 requests.
    let mut cores = CoreCounters::mesh(2, 64 * MIB, 10);
    let mut i = 0u64;
    g.bench_function("on_request/ip+user+key+route, 2 cores", |b| {
        b.iter(|| {
            i += 1;
            let now = 1_000_000 + i / 100;
            cores[0].on_request(now, &keys(i, n, false), &mut out);
            black_box(&out);
            if i % 32 == 0 {
                cores[0].poll(now);
                cores[1].poll(now);
            }
        })
    });

    let mut core = CoreCounters::mesh(1, 64 * MIB, 10).pop().expect("core");
    let mut i = 0u64;
    g.bench_function("on_request+on_response/ip+user+key+route", |b| {
        b.iter(|| {
            i += 1;
            let k = keys(i, n, false);
            core.on_request(1_000_000 + i / 100, &k, &mut out);
            core.on_response(1_000_000 + i / 100, &k, 200);
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
