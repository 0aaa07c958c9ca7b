//! Errors from compiling a signature set, each naming the signature and where it was defined.

use crate::engine::EngineError;
use crate::signature::Origin;

/// Why one signature (or the set) could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The pattern is empty.
    #[error("empty pattern")]
    EmptyPattern,
    /// Another signature already uses this id.
    #[error("duplicate signature id (first defined {first})")]
    DuplicateId {
        /// Where the first one was defined, or `earlier in the set`.
        first: String,
    },
    /// The signature targets no field.
    #[error("no target fields")]
    NoTargets,
    /// The pattern matches the empty string, so it would match every field.
    #[error("pattern can match the empty string, so it would match every field")]
    MatchesEmpty,
    /// Neither Hyperscan nor the confirming regex engine accepts the pattern.
    #[error("invalid pattern: {0}")]
    InvalidPattern(String),
    /// Hyperscan only accepts the pattern as a prefilter, and the confirming engine rejects it.
    #[error("Hyperscan accepts this pattern only approximately ({hyperscan}) and the confirming regex engine rejects it: {confirm}")]
    Unconfirmable {
        /// Why Hyperscan needed prefilter mode.
        hyperscan: String,
        /// Why fancy-regex failed.
        confirm: String,
    },
    /// `start_of_match` asks for a start offset, but the pattern cannot be located by the regex engine.
    #[error("start_of_match is set but the pattern cannot be located: {0}")]
    Unlocatable(String),
    /// The signature set is larger than the engine supports.
    #[error("too many signatures ({0}; at most {max})", max = u32::MAX)]
    TooMany(usize),
    /// The engine failed for a reason not tied to one pattern.
    #[error("matcher engine: {0}")]
    Engine(String),
}

/// A problem, with the signature it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// The signature's id, when the problem concerns one.
    pub id: Option<String>,
    /// Where that signature was defined.
    pub origin: Option<Origin>,
    /// What is wrong.
    pub problem: Problem,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(o) = &self.origin {
            write!(f, "{o}: ")?;
        }
        if let Some(id) = &self.id {
            write!(f, "signature `{id}`: ")?;
        }
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for CompileError {}

impl From<EngineError> for CompileError {
    fn from(e: EngineError) -> Self {
        CompileError {
            id: None,
            origin: None,
            problem: Problem::Engine(e.to_string()),
        }
    }
}

/// Every problem found in a signature set (validation does not stop at the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} signature error(s):\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
pub struct CompileErrors(pub Vec<CompileError>);
