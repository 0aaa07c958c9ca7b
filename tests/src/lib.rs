//! Shared helpers for Rampart end-to-end tests: test upstream servers, raw HTTP/1.1 client
//! connections, config builders and a handle on the real `rampart` binary.
//!
//! - [`upstream`]: [`TestUpstream`], a recording origin server with configurable behaviour.
//! - [`client`]: [`RawConn`], byte-exact requests and strict response parsing.
//! - [`gateway`]: [`Gateway`], the `rampart` binary as a child process.
//! - [`config`]: [`GatewayConfig`], TOML configs for `rampart run`.

pub mod browser;
pub mod client;
pub mod config;
pub mod gateway;
pub mod tls_upstream;
pub mod upstream;

pub use client::{RawConn, Response};
pub use config::GatewayConfig;
pub use gateway::Gateway;
pub use upstream::{dead_addr, Behaviour, Canned, RecordedRequest, TestUpstream};

#[cfg(test)]
mod selftest;
