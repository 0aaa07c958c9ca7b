//! The behaviour engine: per-core counters of who does what how often.
//!
//! - `window`, `hll`: sliding-window measures and distinct counts.
//! - `table`: a per-core key table with a memory budget and CLOCK eviction.
//! - `exchange`: batched cross-core messages for keys owned by another core.
//! - `counters`: one core's counters, fed per request and per response.

pub mod counters;
pub mod exchange;
pub mod hll;
pub mod table;
pub mod window;

pub use counters::{CoreCounters, CounterConfig, CounterStats, RequestKeys};
pub use exchange::{Exchange, ExchangeStats, KeyKind};

#[cfg(test)]
mod tests;
