//! Rampart benchmarks and load tools (see perf/README.md).

pub mod baseline;
pub mod compare;
pub mod corpus;
pub mod fields;
pub mod loadgen;
pub mod rng;
pub mod sigset;
