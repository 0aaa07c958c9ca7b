//! Policy-pack loading and validation for Rampart. Lands with issue 4; this crate reserves the boundary.
