//! Load problems with their file, line, column and the policy or signature they concern.

use std::fmt;

/// One problem found while loading packs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// File, as `pack-name/relative/path` or an absolute path for overlays.
    pub file: String,
    /// 1-based line (0 when the problem is about the file as a whole).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// The policy or signature id, when the problem concerns one.
    pub id: Option<String>,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        if let Some(id) = &self.id {
            write!(f, "{id}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found (loading never stops at the first).
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<Diagnostic>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} problem(s) in the policy packs:", self.0.len())?;
        for d in &self.0 {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

/// Turns byte offsets of one file into line/column positions.
#[derive(Debug)]
pub(crate) struct Positions {
    line_starts: Vec<usize>,
    text: String,
}

impl Positions {
    pub fn new(text: &str) -> Positions {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Positions {
            line_starts,
            text: text.to_owned(),
        }
    }

    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = match self.text.get(start..offset) {
            Some(t) => t.chars().count(),
            None => offset - start,
        };
        (line, col + 1)
    }
}

/// A source position kept until the diagnostic is produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    /// File display name.
    pub file: String,
    /// 1-based line (0: whole file).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// Collects diagnostics across files.
#[derive(Debug, Default)]
pub struct Sink {
    pub diags: Vec<Diagnostic>,
}

impl Sink {
    pub(crate) fn at(&mut self, loc: &Loc, id: Option<&str>, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: loc.file.clone(),
            line: loc.line,
            col: loc.col,
            id: id.map(str::to_owned),
            message: message.into(),
        });
    }

    pub(crate) fn file(&mut self, file: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: file.to_owned(),
            line: 0,
            col: 0,
            id: None,
            message: message.into(),
        });
    }
}
