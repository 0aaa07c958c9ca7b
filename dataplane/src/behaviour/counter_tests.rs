//! Counter behaviour for one core and across cores (cores simulated in one thread;
//! `dataplane/tests/behaviour_exchange.rs` runs them on threads).

use super::counters::{id, ids_match_counters, CoreCounters, RequestKeys};

const MIB: usize = 1 << 20;

fn one_core() -> CoreCounters {
    CoreCounters::mesh(1, 8 * MIB, 10).pop().expect("one core")
}

fn ip(n: u64) -> RequestKeys {
    RequestKeys {
        client_ip: 0x1000 + n,
        path: 1,
        ..RequestKeys::default()
    }
}

#[test]
fn counter_ids_match_the_policy_names() {
    assert!(ids_match_counters());
}

#[test]
fn ip_rate_fires_at_the_threshold_and_not_before_then_expires() {
    let mut c = one_core();
    let mut out = [0u64; id::END];
    let t0 = 1_000_000;
    for i in 1..=20u64 {
        c.on_request(t0 + i, &ip(1), &mut out);
        // The count the policy sees includes this request: the 20th sees 20.
        assert_eq!(out[id::IP_RATE_10S], i);
        assert_eq!(out[id::IP_RATE_1S], i);
    }
    // Another client is not affected.
    c.on_request(t0 + 30, &ip(2), &mut out);
    assert_eq!(out[id::IP_RATE_10S], 1);
    // Two windows later the 10 s rate has expired, the 10 min one has not.
    c.peek(t0 + 20_000, &ip(1), &mut out);
    assert_eq!(out[id::IP_RATE_10S], 0);
    assert_eq!(out[id::IP_RATE_1S], 0);
    assert_eq!(out[id::IP_RATE_10M], 20);
    c.on_request(t0 + 20_000, &ip(1), &mut out);
    assert_eq!(out[id::IP_RATE_10S], 1);
    assert_eq!(out[id::IP_RATE_1M], 21);
    c.peek(t0 + 1_200_000, &ip(1), &mut out);
    assert_eq!(out[id::IP_RATE_10M], 0);
}

#[test]
fn not_found_ratio_and_errors_in_percent() {
    let mut c = one_core();
    let mut out = [0u64; id::END];
    let k = ip(1);
    for (i, status) in [200u16, 404, 404, 405, 403, 200, 200, 200]
        .iter()
        .enumerate()
    {
        c.on_request(10_000 + i as u64, &k, &mut out);
        c.on_response(10_000 + i as u64, &k, *status);
    }
    c.on_request(10_100, &k, &mut out);
    assert_eq!(out[id::IP_NOT_FOUND_RATIO_1M], 37); // 3 of 8
    assert_eq!(out[id::IP_ERRORS_4XX_1M], 4);
    // Not a login: no auth failure counted for the 403.
    assert_eq!(out[id::IP_AUTH_FAILURES_5M], 0);
    c.peek(10_000 + 120_000, &k, &mut out);
    assert_eq!(out[id::IP_NOT_FOUND_RATIO_1M], 0);
}

#[test]
fn login_failures_count_per_ip_and_per_user() {
    let mut c = one_core();
    let mut out = [0u64; id::END];
    let t = 5_000_000;
    for i in 0..10u64 {
        let k = RequestKeys {
            user: Some(77),
            password: Some(1000 + i),
            is_login: true,
            ..ip(1)
        };
        c.on_request(t + i, &k, &mut out);
        c.on_response(t + i, &k, if i < 7 { 401 } else { 200 });
    }
    let k = RequestKeys {
        user: Some(77),
        is_login: true,
        ..ip(1)
    };
    c.peek(t + 100, &k, &mut out);
    assert_eq!(out[id::IP_AUTH_FAILURES_5M], 7);
    assert_eq!(out[id::IP_AUTH_FAILURE_RATIO_5M], 70);
    assert_eq!(out[id::USER_AUTH_FAILURES_10M], 7);
    assert_eq!(out[id::USER_RATE_1M], 10);
    assert_eq!(out[id::USER_DISTINCT_IPS_1H], 1);
    assert_eq!(out[id::IP_DISTINCT_USERS_10M], 1);
    // Configured failure statuses replace the defaults.
    let custom = RequestKeys {
        failure_statuses: [200, 0, 0, 0],
        ..k
    };
    assert!(custom.auth_failed(200) && !custom.auth_failed(401));
    assert!(k.auth_failed(403) && !ip(1).auth_failed(401));
}

#[test]
fn credential_stuffing_shapes() {
    let mut c = one_core();
    let mut out = [0u64; id::END];
    let t = 9_000_000;
    // One IP tries 30 users with the same password.
    for u in 0..30u64 {
        let k = RequestKeys {
            user: Some(500 + u),
            password: Some(42),
            is_login: true,
            ..ip(9)
        };
        c.on_request(t + u * 10, &k, &mut out);
    }
    let users = out[id::IP_DISTINCT_USERS_10M];
    let spread = out[id::PASSWORD_DISTINCT_USERS_10M];
    assert!((18..=42).contains(&users), "{users}");
    assert!((21..=39).contains(&spread), "{spread}");
    // One user from 40 addresses.
    for a in 0..40u64 {
        let k = RequestKeys {
            user: Some(9999),
            ..ip(100 + a)
        };
        c.on_request(t + 1000 + a, &k, &mut out);
    }
    let ips = out[id::USER_DISTINCT_IPS_1H];
    assert!((28..=52).contains(&ips), "{ips}");
}

#[test]
fn enumeration_pagination_and_timing() {
    let mut c = one_core();
    let mut out = [0u64; id::END];
    let t = 20_000_000;
    for i in 0..50u64 {
        let k = RequestKeys {
            path: 7000 + i,
            object_id: Some(i),
            page: Some(i * 2),
            route: Some(3),
            ..ip(5)
        };
        // A timer: every 250 ms.
        c.on_request(t + i * 250, &k, &mut out);
    }
    let ids = out[id::IP_DISTINCT_OBJECT_IDS_1M];
    assert!((30..=70).contains(&ids), "{ids}");
    let paths = out[id::IP_DISTINCT_PATHS_1M];
    assert!((30..=70).contains(&paths), "{paths}");
    assert_eq!(out[id::IP_PAGINATION_DEPTH_10M], 98);
    assert_eq!(out[id::IP_TIMING_REGULARITY_1M], 100);
    assert_eq!(out[id::ROUTE_RATE_1M], 50);
    // Exact: 4 or 5 in the last second (edge included or not); the estimate is 5.
    assert!((4..=5).contains(&out[id::ROUTE_RATE_1S]));
}

#[test]
fn keys_owned_elsewhere_converge_after_a_sync() {
    let n = 3;
    let mut cores = CoreCounters::mesh(n, 4 * MIB, 10);
    let mut out = [0u64; id::END];
    let t = 50_000;
    for (i, core) in cores.iter_mut().enumerate() {
        for j in 0..(5 + i as u64) {
            let k = RequestKeys {
                api_key: Some(0xabc),
                ..ip(j)
            };
            core.on_request(t + j, &k, &mut out);
            // Each core sees at least its own requests at once.
            assert!(out[id::KEY_RATE_1M] > j);
        }
    }
    // One interval: every core flushes, the owner applies and answers, senders apply.
    // Round 1 (t + 10): every core flushes; the owner applies what has arrived and
    // answers every core holding a shadow. Round 2: the rest arrives at the owner,
    // which answers again; round 3: the last answers are applied.
    for round in 0..3 {
        for core in cores.iter_mut() {
            core.poll(t + 10 + round);
        }
    }
    let total = 5 + 6 + 7;
    let k = RequestKeys {
        api_key: Some(0xabc),
        ..ip(0)
    };
    for core in &cores {
        core.peek(t + 20, &k, &mut out);
        assert_eq!(out[id::KEY_RATE_1M], total);
    }
    for core in &cores {
        assert_eq!(core.stats().exchange.dropped, 0);
    }
}

#[test]
fn budget_is_allocated_up_front_and_kept() {
    let mut c = CoreCounters::mesh(1, 2 * MIB, 10).pop().expect("core");
    let s = c.stats();
    assert!(s.bytes <= 2 * MIB, "{} > {}", s.bytes, 2 * MIB);
    let cap = s.ip_capacity as u64;
    let mut out = [0u64; id::END];
    for i in 0..5 * cap {
        c.on_request(1000 + i, &ip(i), &mut out);
    }
    let after = c.stats();
    assert_eq!(after.ips, cap as usize);
    assert_eq!(after.ip_evictions, 4 * cap);
    assert_eq!(after.bytes, s.bytes);
}
