//! Operator tools for Rampart policy packs. Lands with issue 4.
