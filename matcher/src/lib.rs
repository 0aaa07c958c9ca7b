//! Rampart's signature matcher: Hyperscan multi-pattern inspection of every
//! request field after normalisation.
//!
//! ```text
//! Matcher::compile(&[Signature]) ─► Matcher (immutable, shared by all cores)
//! Scanner::new(&matcher, limits) ─► Scanner (one per core: scratch + buffers)
//! scanner.scan_request(&RequestView, &mut Matches)
//! ```
//!
//! Hyperscan comes from Debian's `libhyperscan-dev`; see [`engine`] for why
//! the binding is used the way it is.

mod analyze;
mod cache;
mod compile;
pub mod engine;
mod error;
pub mod extract;
pub mod field;
mod fold_case;
mod matches;
mod numeric;
mod request;
mod scanner;
mod signature;
pub mod transform;

pub use cache::CacheOutcome;
pub use compile::{CompileReport, Matcher};
pub use error::{CompileError, CompileErrors, Problem};
pub use field::{FieldKind, FieldSet};
pub use matches::{BodyParse, Match, Matches};
pub use request::RequestView;
pub use scanner::{BodyStream, ScanError, ScanLimits, Scanner};
pub use signature::{Origin, Pattern, SigFlags, Signature, Target};
pub use transform::{apply_chain, Anomalies, Transform};
