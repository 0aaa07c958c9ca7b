//! Cross-core key counting with real threads standing in for cores: counts converge to
//! the exact total after a sync, and the staleness bound holds. Clocks are
//! deterministic (every thread is told the time), threads move in lock step through
//! barriers so "one loop turn" is exact.

use std::sync::{Arc, Barrier};
use std::thread;

use rampart_dataplane::behaviour::counters::id;
use rampart_dataplane::behaviour::exchange::{owner, KeyKind};
use rampart_dataplane::behaviour::{CoreCounters, RequestKeys};

const MIB: usize = 1 << 20;
const INTERVAL: u64 = 10;

fn user(u: u64, ip: u64) -> RequestKeys {
    RequestKeys {
        client_ip: ip,
        user: Some(u),
        ..RequestKeys::default()
    }
}

#[test]
fn counts_from_all_cores_converge_to_the_exact_total() {
    let n = 4;
    let cores = CoreCounters::mesh(n, 4 * MIB, INTERVAL);
    let barrier = Arc::new(Barrier::new(n));
    let t0 = 1_000_000u64;
    let handles: Vec<_> = cores
        .into_iter()
        .enumerate()
        .map(|(c, mut core)| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut out = [0u64; id::END];
                // Core c sees 100 * (c + 1) requests of each of 20 users, spread over
                // 9 ms, polling every millisecond as a worker loop would.
                for ms in 0..9u64 {
                    for u in 0..20u64 {
                        for r in 0..(100 * (c as u64 + 1)) / 9
                            + u64::from(ms == 0) * ((100 * (c as u64 + 1)) % 9)
                        {
                            core.on_request(t0 + ms, &user(u, c as u64 * 1000 + r), &mut out);
                        }
                    }
                    core.poll(t0 + ms);
                }
                // Then lock-step loop turns with no new requests.
                for turn in 0..4u64 {
                    barrier.wait();
                    core.poll(t0 + INTERVAL + turn);
                }
                barrier.wait();
                let mut views = Vec::new();
                for u in 0..20u64 {
                    core.peek(t0 + INTERVAL + 4, &user(u, 0), &mut out);
                    views.push(out[id::USER_RATE_1M]);
                }
                (views, core.stats().exchange)
            })
        })
        .collect();
    let total: u64 = (0..n as u64).map(|c| 100 * (c + 1)).sum();
    for h in handles {
        let (views, stats) = h.join().expect("core thread");
        assert_eq!(stats.dropped, 0);
        for (u, v) in views.iter().enumerate() {
            assert_eq!(*v, total, "user {u}: view {v}, exact {total}");
        }
    }
}

/// The bound, loop turn by loop turn, for an increment made at `t` on a non-owner
/// core while a third core keeps the key active: the owner has it by the first
/// owner poll after the sender's flush (`t + I + 2L`), and the third core's view has
/// it one loop turn after that.
#[test]
fn staleness_is_bounded_by_one_interval_and_a_few_loop_turns() {
    let n = 3;
    let mut cores = CoreCounters::mesh(n, 4 * MIB, INTERVAL);
    let u = (0..)
        .find(|u| owner(KeyKind::User, *u, n) == 0)
        .expect("a user owned by core 0");
    let mut out = [0u64; id::END];
    let t0 = 2_000_000u64;
    // Core 2 holds a shadow of the key (it has counted it before).
    cores[2].on_request(t0, &user(u, 9), &mut out);
    for c in cores.iter_mut() {
        c.poll(t0);
    }
    for c in cores.iter_mut() {
        c.poll(t0 + 1);
    }
    for c in cores.iter_mut() {
        c.poll(t0 + 2);
    }
    cores[2].peek(t0 + 2, &user(u, 0), &mut out);
    assert_eq!(out[id::USER_RATE_1M], 1);

    // Core 1 counts the key at t (just after its last flush).
    let t = t0 + 3;
    cores[1].on_request(t, &user(u, 7), &mut out);
    assert_eq!(
        out[id::USER_RATE_1M],
        1,
        "core 1 sees its own increment at once"
    );
    let mut seen_owner = None;
    let mut seen_third = None;
    // One loop turn = 1 ms; every core polls every turn.
    for now in t..t + 3 * INTERVAL {
        for c in cores.iter_mut() {
            c.poll(now);
        }
        cores[0].peek(now, &user(u, 0), &mut out);
        if out[id::USER_RATE_1M] == 2 && seen_owner.is_none() {
            seen_owner = Some(now - t);
        }
        cores[2].peek(now, &user(u, 0), &mut out);
        if out[id::USER_RATE_1M] == 2 && seen_third.is_none() {
            seen_third = Some(now - t);
        }
    }
    let owner_lag = seen_owner.expect("the owner gets the increment");
    let third_lag = seen_third.expect("the third core gets the increment");
    // Flush at the first poll >= last flush + I, owner applies in the same turn here
    // (it polls after core 1): <= I + 2L with L = 1 ms.
    assert!(owner_lag <= INTERVAL + 2, "owner lag {owner_lag} ms");
    // Not before the sender's flush is due.
    assert!(owner_lag >= INTERVAL - 3, "owner lag {owner_lag} ms");
    // The third core gets the owner's broadcast one loop turn later.
    assert!(third_lag <= INTERVAL + 3, "third-core lag {third_lag} ms");
}
