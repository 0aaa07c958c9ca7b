//! What a signature is: a pattern, its flags, the fields it looks at and the
//! transforms those fields go through first.

use crate::{FieldKind, Transform};

/// What a signature matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// A regular expression in Hyperscan's (PCRE-like) syntax.
    Regex(String),
    /// One byte string, matched literally.
    Literal(Vec<u8>),
    /// Many byte strings (a `.data` list): the signature matches if any does.
    /// Compiled with Hyperscan's literal API, so thousands cost little.
    Literals(Vec<Vec<u8>>),
}

/// Matching flags of a signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SigFlags {
    /// Case-insensitive.
    pub caseless: bool,
    /// `.` matches newlines too.
    pub dotall: bool,
    /// `^`/`$` match at line starts/ends inside a field.
    pub multiline: bool,
    /// The pattern is UTF-8 and `.` matches a code point.
    pub utf8: bool,
    /// Report the signature at most once per field (the matcher reports each
    /// (signature, field) pair once anyway; kept for pack compatibility).
    pub single_match: bool,
    /// Report where the match starts (costs a second pass on the matched field).
    pub start_of_match: bool,
}

/// A field (kind, optionally one name) a signature looks at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Which kind of field.
    pub kind: FieldKind,
    /// Only fields with this name (ASCII case-insensitive), e.g. header `user-agent`.
    pub name: Option<String>,
}

impl Target {
    /// Every field of `kind`.
    pub fn all(kind: FieldKind) -> Target {
        Target { kind, name: None }
    }

    /// Only the field of `kind` called `name`.
    pub fn named(kind: FieldKind, name: impl Into<String>) -> Target {
        Target {
            kind,
            name: Some(name.into()),
        }
    }
}

/// Where a signature was defined, for error messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// File the signature came from.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One detection signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    /// Unique id, as policies reference it.
    pub id: String,
    /// What to match.
    pub pattern: Pattern,
    /// How to match it.
    pub flags: SigFlags,
    /// Where to look (at least one).
    pub targets: Vec<Target>,
    /// Transforms applied to each targeted field before matching, in order.
    pub transforms: Vec<Transform>,
    /// Where it was defined, if it came from a file.
    pub origin: Option<Origin>,
}

impl Signature {
    /// A regex signature on `targets` with no transforms and default flags.
    pub fn regex(
        id: impl Into<String>,
        pattern: impl Into<String>,
        targets: Vec<Target>,
    ) -> Signature {
        Signature {
            id: id.into(),
            pattern: Pattern::Regex(pattern.into()),
            flags: SigFlags::default(),
            targets,
            transforms: Vec::new(),
            origin: None,
        }
    }

    /// A literal signature on `targets` with no transforms and default flags.
    pub fn literal(
        id: impl Into<String>,
        literal: impl Into<Vec<u8>>,
        targets: Vec<Target>,
    ) -> Signature {
        Signature {
            id: id.into(),
            pattern: Pattern::Literal(literal.into()),
            flags: SigFlags::default(),
            targets,
            transforms: Vec::new(),
            origin: None,
        }
    }

    /// Sets the transforms.
    pub fn with_transforms(mut self, transforms: &[Transform]) -> Signature {
        self.transforms = transforms.to_vec();
        self
    }

    /// Sets the flags.
    pub fn with_flags(mut self, flags: SigFlags) -> Signature {
        self.flags = flags;
        self
    }

    /// Sets the origin.
    pub fn with_origin(mut self, origin: Origin) -> Signature {
        self.origin = Some(origin);
        self
    }
}
