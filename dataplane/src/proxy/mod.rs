//! Where a request goes: routing by Host and path prefix, and each core's view of
//! the upstream clusters (balancing, passive health, idle keep-alive pools).
//!
//! All of it is per-core state owned by one worker: no locks, no shared counters.
//! Health is therefore learned independently by every core, which is how the
//! thread-per-core model stays lock-free; a dead server costs each core
//! `max_fails` failed attempts before it is ejected there.

pub mod cluster;
pub mod route;
