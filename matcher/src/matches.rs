//! The result of scanning one request: which signatures matched, where, and
//! in which field, in reusable storage (no allocation once warmed up).

use crate::{Anomalies, FieldKind};

/// Longest field name kept with a match.
const NAME_MAX: usize = 64;
/// Longest fragment kept with a match.
const FRAGMENT_MAX: usize = 48;

/// One signature matching in one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// Index of the signature ([`crate::Matcher::signature_id`] names it).
    pub signature: u32,
    /// Kind of the field it matched in.
    pub kind: FieldKind,
    /// Start offset in the transformed value, when known (fixed-width
    /// patterns, and `start_of_match` signatures).
    pub start: Option<u32>,
    /// End offset (exclusive) in the transformed value; for streamed bodies,
    /// in the whole body.
    pub end: u32,
    name: (u32, u32),
    fragment: (u32, u32),
}

/// How the body was understood.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyParse {
    /// No body, or a type without structure (scanned raw only).
    #[default]
    None,
    /// Parsed according to its Content-Type.
    Parsed,
    /// Declared structured but malformed at this byte offset; fields before it were scanned, and the raw body always is.
    Malformed(u32),
}

/// Matches of one request. Create once per core with [`crate::Scanner::new_matches`] and reuse.
#[derive(Debug)]
pub struct Matches {
    list: Vec<Match>,
    text: Vec<u8>,
    hits: Vec<u64>,
    limit: usize,
    dropped: u32,
    /// Evasion indicators seen while normalising fields.
    pub anomalies: Anomalies,
    /// How the body was parsed.
    pub body: BodyParse,
    /// Fields were skipped because a per-request limit (field count or bytes) was reached.
    pub truncated: bool,
    /// Deepest JSON nesting seen in the body (one past the limit when it was exceeded).
    pub json_depth: u32,
}

impl Matches {
    pub(crate) fn new(signatures: usize, limit: usize) -> Matches {
        Matches {
            list: Vec::with_capacity(limit),
            text: Vec::with_capacity(limit * (NAME_MAX + FRAGMENT_MAX)),
            hits: vec![0; signatures.div_ceil(64)],
            limit,
            dropped: 0,
            anomalies: Anomalies::default(),
            body: BodyParse::None,
            truncated: false,
            json_depth: 0,
        }
    }

    pub(crate) fn reset(&mut self, signatures: usize) {
        self.list.clear();
        self.text.clear();
        let words = signatures.div_ceil(64);
        if self.hits.len() != words {
            // Only after a reload changed the signature count.
            self.hits.resize(words, 0);
        }
        self.hits.fill(0);
        self.dropped = 0;
        self.anomalies = Anomalies::default();
        self.body = BodyParse::None;
        self.truncated = false;
        self.json_depth = 0;
    }

    /// Empties the list as if nothing had matched (for a request answered
    /// without a scan); no allocation.
    pub fn clear(&mut self) {
        self.reset(self.hits.len() * 64);
    }

    /// Makes `self` an exact copy of `other` (same matcher); no allocation
    /// when both were made by the same scanner.
    pub fn copy_from(&mut self, other: &Matches) {
        self.list.clear();
        self.list.extend_from_slice(&other.list);
        self.text.clear();
        self.text.extend_from_slice(&other.text);
        self.hits.clear();
        self.hits.extend_from_slice(&other.hits);
        self.limit = other.limit;
        self.dropped = other.dropped;
        self.anomalies = other.anomalies;
        self.body = other.body;
        self.truncated = other.truncated;
        self.json_depth = other.json_depth;
    }

    /// Every reported match, in scan order.
    pub fn iter(&self) -> impl Iterator<Item = &Match> {
        self.list.iter()
    }

    /// Number of reported matches.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && self.hits.iter().all(|w| *w == 0)
    }

    /// Whether signature `index` matched anywhere (exact even when the list overflowed).
    pub fn matched(&self, index: u32) -> bool {
        self.hits
            .get(index as usize / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    /// Indexes of every signature that matched.
    pub fn signatures(&self) -> impl Iterator<Item = u32> + '_ {
        // Set bits only (most words are zero): the evaluator asks on every request.
        self.hits.iter().enumerate().flat_map(|(w, &bits)| {
            let mut left = bits;
            std::iter::from_fn(move || {
                if left == 0 {
                    return None;
                }
                let b = left.trailing_zeros();
                left &= left - 1;
                Some(w as u32 * 64 + b)
            })
        })
    }

    /// Matches not listed because the list was full (the hit set still has them).
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// The name of the field a match was in (truncated to 64 bytes).
    pub fn name(&self, m: &Match) -> &[u8] {
        &self.text[m.name.0 as usize..m.name.1 as usize]
    }

    /// A short, redacted piece of the matched value for the event log.
    pub fn fragment(&self, m: &Match) -> &[u8] {
        &self.text[m.fragment.0 as usize..m.fragment.1 as usize]
    }

    /// Whether `(signature, kind, name)` is already listed.
    pub(crate) fn has(&self, signature: u32, kind: FieldKind, name: &[u8]) -> bool {
        self.matched(signature)
            && self.list.iter().any(|m| {
                m.signature == signature
                    && m.kind == kind
                    && self.name(m) == &name[..name.len().min(NAME_MAX)]
            })
    }

    /// Records a match; `value` is the transformed field it matched in.
    pub(crate) fn push(
        &mut self,
        signature: u32,
        kind: FieldKind,
        name: &[u8],
        value: &[u8],
        start: Option<u32>,
        end: u32,
    ) {
        if let Some(w) = self.hits.get_mut(signature as usize / 64) {
            *w |= 1 << (signature % 64);
        }
        if self.list.len() >= self.limit {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let n0 = self.text.len() as u32;
        self.text
            .extend_from_slice(&name[..name.len().min(NAME_MAX)]);
        let n1 = self.text.len() as u32;
        redact_into(&mut self.text, kind, name, value, start, end);
        let f1 = self.text.len() as u32;
        self.list.push(Match {
            signature,
            kind,
            start,
            end,
            name: (n0, n1),
            fragment: (n1, f1),
        });
    }
}

/// Headers and cookies whose values are credentials: only their shape is logged.
fn is_secret(kind: FieldKind, name: &[u8]) -> bool {
    match kind {
        FieldKind::CookieValue => true,
        FieldKind::HeaderValue => [
            &b"authorization"[..],
            b"proxy-authorization",
            b"cookie",
            b"x-api-key",
        ]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name)),
        _ => false,
    }
}

/// Appends the matched bytes (or up to 48 bytes ending at the match) with
/// unprintable bytes shown as `.`, and credential values masked after their
/// first four characters.
fn redact_into(
    out: &mut Vec<u8>,
    kind: FieldKind,
    name: &[u8],
    value: &[u8],
    start: Option<u32>,
    end: u32,
) {
    let end = (end as usize).min(value.len());
    let from = match start {
        Some(s) => (s as usize).min(end),
        None => end.saturating_sub(FRAGMENT_MAX),
    };
    let from = from.max(end.saturating_sub(FRAGMENT_MAX));
    let secret = is_secret(kind, name);
    for (i, &b) in value[from..end].iter().enumerate() {
        let shown = if !(0x20..0x7f).contains(&b) {
            b'.'
        } else if secret && i >= 4 && b.is_ascii_alphanumeric() {
            b'*'
        } else {
            b
        };
        out.push(shown);
    }
}
