//! Rampart benchmarks and load tools (see perf/README.md).
