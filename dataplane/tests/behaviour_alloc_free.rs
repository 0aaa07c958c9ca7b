//! The behaviour counters never allocate per request: 100k requests and responses
//! over many clients, users, keys and routes, with evictions and cross-core traffic,
//! under a counting global allocator.

use rampart_dataplane::behaviour::counters::id;
use rampart_dataplane::behaviour::{CoreCounters, RequestKeys};
use rampart_dataplane::traffic::{TopClient, TOP_CLIENTS};

mod common;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

#[test]
fn counters_do_not_allocate_per_request_even_when_evicting() {
    // Small tables (1 MiB per core) so 100k distinct clients evict all the time.
    let mut cores = CoreCounters::mesh(2, 1 << 20, 10);
    let mut out = [0u64; id::END];
    let mut tops: Vec<Vec<TopClient>> = (0..2).map(|_| Vec::with_capacity(TOP_CLIENTS)).collect();
    let mut cursors = [0usize; 2];
    let before = common::allocs();
    let mut now = 1_000_000u64;
    for i in 0..100_000u64 {
        let core = (i % 2) as usize;
        let k = RequestKeys {
            client_ip: i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            client_addr: Some(std::net::IpAddr::from([10, 0, (i >> 8) as u8, i as u8])),
            api_key: (i % 3 == 0).then_some(i % 5000),
            token: (i % 4 == 0).then_some(i),
            user: (i % 2 == 0).then_some(i % 20_000),
            password: (i % 2 == 0).then_some(i % 7),
            route: Some((i % 50) as u32),
            path: i % 1000,
            object_id: Some(i),
            page: Some(i % 100),
            is_login: i % 2 == 0,
            failure_statuses: [0; 4],
        };
        cores[core].on_request(now, &k, &mut out);
        cores[core].on_response(now, &k, if i % 3 == 0 { 401 } else { 200 });
        if i % 10_000 == 0 {
            // The traffic view's once-a-second look for the busiest clients.
            let top = &mut tops[core];
            let found = cores[core].top_ips(now, &mut cursors[core], 4096, top, |_| 0);
            assert!(found > 0 && !top.is_empty() && top.len() <= top.capacity());
        }
        if i % 16 == 0 {
            now += 1;
            for c in cores.iter_mut() {
                c.poll(now);
            }
        }
    }
    let allocs = common::allocs() - before;
    let s = cores[0].stats();
    assert!(s.ip_evictions > 10_000, "{s:?}");
    assert!(s.key_evictions > 0, "{s:?}");
    assert!(s.exchange.sent > 0, "{s:?}");
    assert_eq!(allocs, 0, "allocations during 100k counted requests");
}
