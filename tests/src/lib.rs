//! Shared helpers for Rampart end-to-end tests: test upstream servers and a handle on the real `rampart` binary.
