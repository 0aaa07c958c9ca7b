//! Traffic snapshots go from the cores to the admin side without allocating:
//! the buffers circulate between two bounded channels (see
//! `rampart_dataplane::traffic`), under a counting global allocator. (Its own
//! test binary: the allocation counter sees every thread of the process.)

use rampart_dataplane::traffic::channels;

mod common;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

#[test]
fn traffic_snapshots_circulate_without_allocating() {
    let (mut pubs, feed) = channels(2, 8, &[2, 3]);
    let before = common::allocs();
    for n in 0..10_000u64 {
        for p in pubs.iter_mut() {
            if let Some(mut s) = p.buffer() {
                s.at_ms = n;
                s.routes[0].requests = n;
                s.top.clear();
                p.publish(s);
            }
        }
        // The admin side takes them now and then; the cores never wait.
        if n % 3 == 0 {
            for core in &feed.cores {
                while let Ok(s) = core.rx.try_recv() {
                    core.give_back(s);
                }
            }
        }
    }
    let allocs = common::allocs() - before;
    assert_eq!(allocs, 0, "allocations while publishing snapshots");
}
