//! Rampart's signature matcher: Hyperscan multi-pattern inspection of every
//! request field after normalisation.

pub mod extract;
pub mod field;
pub mod transform;

pub use field::{FieldKind, FieldSet};
pub use transform::{Anomalies, Transform};
