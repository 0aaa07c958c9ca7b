//! Hook for steering a client to a fixed core.
//!
//! Exact per-client counters without atomics need every connection of a client
//! address to land on the same worker. The kernel picks among the `SO_REUSEPORT`
//! sockets of a group by a hash of the 4-tuple, which spreads one client's
//! connections over all cores. The behaviour engine (issue 6) attaches a
//! `SO_ATTACH_REUSEPORT_CBPF`/eBPF program here that hashes only the source
//! address; the sockets arrive in worker order, which is the index such a program
//! returns.

use socket2::Socket;

/// Attaches the steering program to one listen address's reuseport group
/// (`group[i]` belongs to worker `i`). No program yet: the kernel's default
/// 4-tuple hash applies.
pub fn attach(group: &[&Socket]) {
    let _ = group;
}
