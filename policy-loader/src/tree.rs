//! TOML documents as plain trees whose every node knows its file:line:col.
//!
//! The loader walks these trees by hand instead of deriving serde structs:
//! serde stops at the first error and forgets positions, and an operator
//! fixing a pack wants every problem, each with its place.

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::{Loc, Positions, Sink};

/// A TOML value.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Str(String),
    Int(i64),
    Float,
    Bool,
    Array(Vec<Node>),
    Table(Vec<(String, Loc, Node)>),
    Other(&'static str),
}

/// A value and where it is.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub loc: Loc,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float => "a float",
            Kind::Bool => "a boolean",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
            Kind::Other(t) => t,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Table(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(String, Loc, Node)] {
        match &self.kind {
            Kind::Table(e) => e,
            _ => &[],
        }
    }
}

/// Parses one TOML file; syntax errors go to `sink` and give `None`.
pub(crate) fn parse(file: &str, text: &str, sink: &mut Sink) -> Option<Node> {
    let pos = Positions::new(text);
    let loc = |offset: usize| {
        let (line, col) = pos.line_col(offset);
        Loc {
            file: file.to_owned(),
            line,
            col,
        }
    };
    match DeTable::parse(text) {
        Ok(doc) => Some(convert_table(doc.get_ref(), doc.span().start, &loc)),
        Err(e) => {
            let l = loc(e.span().map(|s| s.start).unwrap_or(0));
            sink.at(
                &l,
                None,
                format!("TOML syntax error: {}", e.message().trim()),
            );
            None
        }
    }
}

fn convert_table(t: &DeTable<'_>, start: usize, loc: &dyn Fn(usize) -> Loc) -> Node {
    let entries = t
        .iter()
        .map(|(k, v)| {
            (
                k.get_ref().to_string(),
                loc(k.span().start),
                convert(v, loc),
            )
        })
        .collect();
    Node {
        kind: Kind::Table(entries),
        loc: loc(start),
    }
}

fn convert(v: &Spanned<DeValue<'_>>, loc: &dyn Fn(usize) -> Loc) -> Node {
    let at = loc(v.span().start);
    let kind = match v.get_ref() {
        DeValue::String(s) => Kind::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Kind::Int(n),
            Err(_) => Kind::Other("an out-of-range integer"),
        },
        DeValue::Float(_) => Kind::Float,
        DeValue::Boolean(_) => Kind::Bool,
        DeValue::Datetime(_) => Kind::Other("a datetime"),
        DeValue::Array(a) => Kind::Array(a.iter().map(|x| convert(x, loc)).collect()),
        DeValue::Table(t) => return convert_table(t, v.span().start, loc),
    };
    Node { kind, loc: at }
}

/// Typed reads that report their own errors, in the context of one id.
pub(crate) struct Reader<'s> {
    pub sink: &'s mut Sink,
    pub id: Option<String>,
}

impl Reader<'_> {
    pub fn err(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.sink.at(loc, self.id.as_deref(), msg);
    }

    /// Reports keys of `table` not in `allowed`, suggesting the closest allowed one.
    pub fn keys(&mut self, table: &Node, what: &str, allowed: &[&str]) {
        for (k, loc, _) in table.entries() {
            if !allowed.contains(&k.as_str()) {
                let hint = closest(k, allowed)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.err(
                    loc,
                    format!(
                        "unknown field `{k}` in {what}{hint}; allowed: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    pub fn table<'n>(&mut self, n: &'n Node, what: &str) -> Option<&'n Node> {
        match n.kind {
            Kind::Table(_) => Some(n),
            _ => {
                self.err(
                    &n.loc,
                    format!("{what} must be a table, found {}", n.type_name()),
                );
                None
            }
        }
    }

    pub fn string(&mut self, n: &Node, what: &str) -> Option<String> {
        match &n.kind {
            Kind::Str(s) => Some(s.clone()),
            _ => {
                self.err(
                    &n.loc,
                    format!("{what} must be a string, found {}", n.type_name()),
                );
                None
            }
        }
    }

    pub fn required_string(&mut self, table: &Node, key: &str, what: &str) -> Option<String> {
        match table.get(key) {
            Some(n) => self.string(n, &format!("`{key}`")),
            None => {
                self.err(&table.loc, format!("{what} has no `{key}`"));
                None
            }
        }
    }

    pub fn optional_string(&mut self, table: &Node, key: &str) -> Option<String> {
        table
            .get(key)
            .and_then(|n| self.string(n, &format!("`{key}`")))
    }

    /// A string or an array of strings.
    pub fn strings(&mut self, n: &Node, what: &str) -> Vec<(String, Loc)> {
        match &n.kind {
            Kind::Str(s) => vec![(s.clone(), n.loc.clone())],
            Kind::Array(items) => items
                .iter()
                .filter_map(|i| {
                    self.string(i, &format!("an entry of {what}"))
                        .map(|s| (s, i.loc.clone()))
                })
                .collect(),
            _ => {
                self.err(
                    &n.loc,
                    format!(
                        "{what} must be a string or an array of strings, found {}",
                        n.type_name()
                    ),
                );
                Vec::new()
            }
        }
    }

    pub fn int(&mut self, n: &Node, what: &str, lo: i64, hi: i64) -> Option<i64> {
        match n.kind {
            Kind::Int(v) if (lo..=hi).contains(&v) => Some(v),
            Kind::Int(v) => {
                self.err(
                    &n.loc,
                    format!("{what} must be between {lo} and {hi}, got {v}"),
                );
                None
            }
            _ => {
                self.err(
                    &n.loc,
                    format!("{what} must be an integer, found {}", n.type_name()),
                );
                None
            }
        }
    }

    pub fn array<'n>(&mut self, n: &'n Node, what: &str) -> &'n [Node] {
        match &n.kind {
            Kind::Array(items) => items,
            _ => {
                self.err(
                    &n.loc,
                    format!("{what} must be an array, found {}", n.type_name()),
                );
                &[]
            }
        }
    }
}

/// The allowed word closest to `word` by edit distance, if close enough to be a typo.
pub(crate) fn closest<'a>(word: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (levenshtein(word, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses `30s`, `500ms`, `5m`, `1h`, `1d` into milliseconds.
pub(crate) fn duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}
