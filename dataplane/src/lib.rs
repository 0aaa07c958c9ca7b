//! Rampart's dataplane: a thread-per-core io_uring HTTP/1.1 reverse proxy that parses
//! every request in place and forwards it to upstream clusters.
//!
//! Module map (data flows top to bottom):
//! - [`config`]: the TOML configuration, its validation and the quick-mode defaults.
//! - [`reactor`]: the per-core io_uring ring, provided-buffer ring and timer wheel.
//! - [`http`]: sans-I/O HTTP/1.1 — strict request/response head parsing, chunked
//!   framing, head rewriting for the upstream and canned error responses.
//! - [`proxy`]: routing, upstream clusters, balancing, health and per-core pools.
//! - `worker`: one per core — the event loop and the per-connection state machines
//!   that tie the above together.
//! - [`server`]: listeners, worker threads, signals and graceful shutdown.
//! - [`steering`]: the hook that pins a client address to one core.
//! - [`behaviour`]: per-core behaviour counters (rates, distinct counts, ratios).
//! - [`admin`]: the admin listener (Prometheus metrics, health) off the hot path.
//! - [`demo`]: the small built-in demo API behind `rampart demo`.

pub mod admin;
pub mod admin_api;
pub mod behaviour;
pub mod config;
pub mod console;
pub mod demo;
pub mod enforce;
pub mod events;
pub mod fingerprint;
pub mod http;
pub mod policy;
pub mod proxy;
pub mod reactor;
pub mod server;
pub mod steering;
pub mod tls;
pub mod traffic;
mod worker;
