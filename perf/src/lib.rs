//! Rampart benchmarks and load tools (see perf/README.md).

pub mod corpus;
pub mod rng;
pub mod sigset;
