//! Rampart's policy packs: read from disk (or the embedded default), validate
//! with every error at its `file:line:col`, compile with the matcher into an
//! immutable [`CompiledPolicy`], and judge requests against it.
//!
//! ```text
//! load(&LoadOptions)            -> Loaded { policy: Arc<CompiledPolicy>, warnings }
//! Evaluator::evaluate(policy, &RequestView, &Matches, &Facts, dry_run, &mut Verdict)
//! self_test(&policy)            -> every stored example run against its policy
//! ```
//!
//! The format is documented in `docs/POLICY.md`.

pub mod client_block;
mod compile;
pub mod describe;
mod diag;
mod eval;
mod example;
mod gate;
mod glob;
mod head_only;
pub mod lists;
pub mod mask;
pub mod measures;
mod model;
mod overlay;
mod parse;
mod policy;
mod response_policy;
mod source;
mod tree;

pub use compile::{load, load_files, LoadOptions, Loaded, PackSource};
pub use diag::{Diagnostic, LoadErrors, Loc};
pub use eval::{Evaluator, Facts, Hit, ResponseView, Verdict};
pub use example::{
    self_test, DryFacts, DryRun, DryRunner, ExampleFailure, RawRequest, RawResponse, SelfTest,
    SignatureHit, EXAMPLE_CLIENT,
};
pub use glob::Glob;
pub use lists::{List, ListKind, ListStats};
pub use model::*;
pub use parse::Template;
pub use policy::{Changes, CompiledPolicy, LoadStats};
pub use source::PackFiles;

/// Loader internals the tools need to build a sink for [`load_files`].
pub use diag::Sink as DiagnosticSink;
