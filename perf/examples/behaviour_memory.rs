//! Memory of the behaviour counters: bytes per tracked client address and for 1 M
//! clients on one core, from the real allocation (slab + hashbrown index) and from the
//! process's resident set after every slot has been written.
//!
//! `cargo run --release -p rampart-perf --example behaviour_memory`

use rampart_dataplane::behaviour::counters::{id, IpState};
use rampart_dataplane::behaviour::table::Table;
use rampart_dataplane::behaviour::{CoreCounters, RequestKeys};

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mib(b: usize) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn main() {
    const CLIENTS: usize = 1_000_000;
    println!(
        "slot per client address: {} bytes (state {} + key and stamp 16)",
        Table::<IpState>::SLOT_BYTES,
        std::mem::size_of::<IpState>()
    );

    let before = rss_bytes();
    let mut t = Table::<IpState>::with_capacity(CLIENTS);
    for k in 0..CLIENTS as u64 {
        t.entry(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), 1_000 + k);
    }
    let after = rss_bytes();
    println!(
        "1M clients, address table: allocated {:.1} MiB ({:.0} bytes/client incl. index), \
         RSS +{:.1} MiB, tracked {}",
        mib(t.allocated_bytes()),
        t.allocated_bytes() as f64 / CLIENTS as f64,
        mib(after.saturating_sub(before)),
        t.len()
    );
    drop(t);

    // The whole per-core counter set with the budget that holds 1M addresses
    // (addresses get 3/4 of `memory_per_core`).
    let budget = CoreCounters::bytes_for_ips(CLIENTS) * 4 / 3 + (1 << 20);
    let before = rss_bytes();
    let mut core = CoreCounters::mesh(1, budget, 10).pop().expect("core");
    let mut out = [0u64; id::END];
    for k in 0..CLIENTS as u64 {
        let keys = RequestKeys {
            client_ip: k,
            path: k % 100,
            ..RequestKeys::default()
        };
        core.on_request(1_000 + k / 1000, &keys, &mut out);
    }
    let s = core.stats();
    println!(
        "memory_per_core = {:.0} MiB: address capacity {}, tracked {}, all tables {:.1} MiB, \
         RSS +{:.1} MiB",
        mib(budget),
        s.ip_capacity,
        s.ips,
        mib(s.bytes),
        mib(rss_bytes().saturating_sub(before))
    );
    for m in [64usize, 256] {
        let c = CoreCounters::mesh(1, m << 20, 10).pop().expect("core");
        println!(
            "memory_per_core = {m} MiB: tracks {} client addresses, {} bytes allocated",
            c.stats().ip_capacity,
            c.stats().bytes
        );
    }
}
