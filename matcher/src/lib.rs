//! Signature matching for Rampart. The Hyperscan engine lands with issue 3; this crate reserves the boundary.
