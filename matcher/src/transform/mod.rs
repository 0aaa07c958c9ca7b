//! Normalisation transforms applied to a field before it is matched.
//!
//! Attackers encode payloads to slip past signatures (`%2527`, `&#x3c;`,
//! `\u003c`, `..%2f`, overlong UTF-8…); a signature names the chain of
//! transforms that undoes the encodings it cares about, and the scanner applies
//! each chain once per field into per-core buffers.
//!
//! Every transform writes into a caller-owned buffer and never produces more
//! bytes than it read (`out.len() <= input.len()`), so buffers sized for the
//! largest field never grow on the hot path.

/// One normalisation step. Names are the ones packs use (`url_decode`…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Transform {
    /// `%XX` and `%uXXXX` (as UTF-8) decoded; invalid escapes kept as they are.
    UrlDecode,
    /// `+` becomes a space (form and query encoding).
    PlusToSpace,
    /// ASCII letters lowercased.
    Lowercase,
    /// HTML character references decoded: `&lt;`, `&#60;`, `&#x3c;`, with or without `;`.
    HtmlEntityDecode,
    /// JavaScript escapes decoded: `\xHH`, `\uHHHH`, `\u{H…}`, `\n`-style, octal, `\` before any other char.
    JsDecode,
    /// CSS escapes decoded: `\` + 1–6 hex digits (+ one optional space), `\` before any other char.
    CssDecode,
    /// `\` becomes `/`, `//` collapses, `./` removed, `../` resolved (never above the root).
    NormalizePath,
    /// NUL bytes removed.
    RemoveNulls,
    /// Runs of whitespace (space, tab, CR, LF, FF, VT, NBSP as 0xA0) become one space.
    CompressWhitespace,
    /// Overlong UTF-8 encodings of ASCII (`C0 AF`, `E0 80 AF`…) decoded to the ASCII byte; other bytes kept.
    Utf8Normalize,
    /// The value decoded as base64 (standard or URL-safe alphabet, padding optional) when all of it is base64; otherwise unchanged.
    Base64Decode,
    /// Leading and trailing whitespace removed.
    Trim,
}

/// Evasion indicators a transform noticed while decoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies(pub u8);

impl Anomalies {
    /// The decoded value still contains a `%XX` escape: the input was encoded twice.
    pub const DOUBLE_ENCODED: Anomalies = Anomalies(1);
    /// An escape was malformed (`%zz`, `%u12`, `&#xZZ;`…).
    pub const INVALID_ESCAPE: Anomalies = Anomalies(2);
    /// The value is not valid UTF-8.
    pub const INVALID_UTF8: Anomalies = Anomalies(4);
    /// The value contained an overlong UTF-8 sequence.
    pub const OVERLONG_UTF8: Anomalies = Anomalies(8);
    /// The value contained (or decoded to) a NUL byte.
    pub const NUL_BYTE: Anomalies = Anomalies(16);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Anomalies) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for Anomalies {
    type Output = Anomalies;
    fn bitor(self, rhs: Anomalies) -> Anomalies {
        Anomalies(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Anomalies {
    fn bitor_assign(&mut self, rhs: Anomalies) {
        self.0 |= rhs.0;
    }
}
