//! Normalisation transforms applied to a field before it is matched.
//!
//! Attackers encode payloads to slip past signatures (`%2527`, `&#x3c;`,
//! `\u003c`, `..%2f`, overlong UTF-8…); a signature names the chain of
//! transforms that undoes the encodings it cares about, and the scanner applies
//! each chain once per field into per-core buffers.
//!
//! Every transform writes into a caller-owned buffer and never produces more
//! bytes than it read (`out.len() <= input.len()`), so buffers sized for the
//! largest field never grow on the hot path. [`apply_chain`] runs a whole
//! chain through two such buffers.

mod base64;
mod byte_classes;
mod case;
mod css;
mod hex;
mod html;
mod js;
mod nul;
mod path;
#[cfg(test)]
mod testing;
mod url;
mod utf8;
mod whitespace;

use memchr::memchr;

/// One normalisation step. Names are the ones packs use (`url_decode`…).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Transform {
    /// `%XX` and `%uXXXX` (as UTF-8) decoded; invalid escapes kept as they are.
    ///
    /// A `%` that starts neither (`%zz`, `%u12`, a surrogate `%uD800`) is kept,
    /// flags `INVALID_ESCAPE`, and decoding resumes right after it (`%%41` →
    /// `%A`). A result that still holds an escape this would decode flags
    /// `DOUBLE_ENCODED`. `+` is left alone (that is `PlusToSpace`).
    UrlDecode,
    /// `+` becomes a space (form and query encoding).
    PlusToSpace,
    /// ASCII letters lowercased; other bytes unchanged.
    Lowercase,
    /// HTML character references decoded: `&lt;`, `&#60;`, `&#x3c;`, with or without `;`.
    ///
    /// Numeric references take any number of leading zeros and give UTF-8;
    /// `&#0;` gives NUL. One naming a surrogate or a value above U+10FFFF, or
    /// `&#` without digits, is kept and flags `INVALID_ESCAPE` (browsers would
    /// show U+FFFD, which can be longer than the reference). Named references
    /// are case-sensitive HTML names (`&lt;`, `&colon;`, `&Tab;`, `&NewLine;`,
    /// `&percnt;`, `&Hat;`…) and need their `;`, except the legacy `amp lt gt
    /// quot apos nbsp` (and `AMP LT GT QUOT`), decoded even as the prefix of
    /// a longer word (`&ltscript` → `<script`). Unknown names are kept without
    /// a flag. One pass: `&amp;lt;` → `&lt;`.
    HtmlEntityDecode,
    /// JavaScript escapes decoded: `\xHH`, `\uHHHH`, `\u{H…}`, `\n`-style, octal, `\` before any other char.
    ///
    /// `\xHH` is U+00HH and, like every code point, comes out as UTF-8; a
    /// surrogate pair (`\uD83D\uDE00`) becomes one 4-byte character; `\u{…}`
    /// takes any number of hex digits up to U+10FFFF, as JavaScript does;
    /// octal is `\0`–`\377`; `\` + line break (a line continuation) vanishes.
    /// A malformed `\x`/`\u` escape, a lone surrogate or a value above
    /// U+10FFFF is kept and flags `INVALID_ESCAPE`. A trailing `\` is kept.
    JsDecode,
    /// CSS escapes decoded: `\` + 1–6 hex digits (+ one optional space), `\` before any other char.
    ///
    /// The whitespace ending a hex escape may be space, tab, LF, CR, FF or
    /// CRLF. `\0`, a surrogate or a value above U+10FFFF is kept and flags
    /// `INVALID_ESCAPE` (browsers substitute U+FFFD, which could be longer).
    /// `\` + line break vanishes. A trailing `\` is kept.
    CssDecode,
    /// `\` becomes `/`, `//` collapses, `./` removed, `../` resolved (never above the root).
    ///
    /// Works on already-decoded bytes. A leading `..` of a relative path is
    /// dropped; a leading `/` is kept; the result ends with `/` when the input
    /// ended with a separator or with a `.` or `..` segment, as RFC 3986 does
    /// (`/a/b/..` → `/a/`, `/a/b/.` → `/a/b/`).
    NormalizePath,
    /// NUL bytes removed.
    RemoveNulls,
    /// Runs of whitespace (space, tab, CR, LF, FF, VT, NBSP) become one space.
    ///
    /// NBSP is the UTF-8 `C2 A0` or a lone 0xA0 byte (Latin-1); the 0xA0 that
    /// continues a valid UTF-8 sequence (`à` is `C3 A0`) is not whitespace.
    CompressWhitespace,
    /// Overlong UTF-8 encodings (`C0 AF`, `E0 80 AF`…) decoded; other bytes kept.
    ///
    /// Every overlong sequence (2 to 6 bytes, the old 5- and 6-byte forms
    /// included) is replaced by the shortest encoding of its value — the ASCII
    /// byte for `C0 AF` — and flags `OVERLONG_UTF8`. Any other invalid byte is
    /// kept and flags `INVALID_UTF8`. Valid UTF-8 is copied unchanged.
    Utf8Normalize,
    /// The value decoded as base64 (standard or URL-safe alphabet, padding optional) when all of it is base64; otherwise unchanged.
    ///
    /// "All of it": one alphabet, not a mix; `=` only as correct final
    /// padding; no whitespace or line breaks; at least 4 symbols besides the
    /// padding (shorter values, at most two bytes decoded, are left alone:
    /// short words are often valid base64). Leftover bits of a final partial
    /// quantum are ignored.
    Base64Decode,
    /// Leading and trailing ASCII whitespace (space, tab, CR, LF, FF, VT) removed.
    Trim,
}

/// Evasion indicators a transform noticed while decoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies(pub u8);

impl Anomalies {
    /// Nothing noticed.
    pub const NONE: Anomalies = Anomalies(0);
    /// The URL-decoded value still contains a `%XX` or `%uXXXX` escape: the input was encoded twice.
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

impl Transform {
    /// Every transform, in declaration order.
    pub const ALL: [Transform; 12] = [
        Transform::UrlDecode,
        Transform::PlusToSpace,
        Transform::Lowercase,
        Transform::HtmlEntityDecode,
        Transform::JsDecode,
        Transform::CssDecode,
        Transform::NormalizePath,
        Transform::RemoveNulls,
        Transform::CompressWhitespace,
        Transform::Utf8Normalize,
        Transform::Base64Decode,
        Transform::Trim,
    ];

    /// The name packs use for this transform (`url_decode`…).
    pub fn name(self) -> &'static str {
        match self {
            Transform::UrlDecode => "url_decode",
            Transform::PlusToSpace => "plus_to_space",
            Transform::Lowercase => "lowercase",
            Transform::HtmlEntityDecode => "html_entity_decode",
            Transform::JsDecode => "js_decode",
            Transform::CssDecode => "css_decode",
            Transform::NormalizePath => "normalize_path",
            Transform::RemoveNulls => "remove_nulls",
            Transform::CompressWhitespace => "compress_whitespace",
            Transform::Utf8Normalize => "utf8_normalize",
            Transform::Base64Decode => "base64_decode",
            Transform::Trim => "trim",
        }
    }

    /// The transform a pack names `s` (exactly as [`Transform::name`] spells it).
    pub fn parse(s: &str) -> Option<Transform> {
        Transform::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Clears `out`, writes `input` transformed into it and returns what was
    /// noticed on the way.
    ///
    /// Never writes more than `input.len()` bytes, and does not allocate when
    /// `out.capacity() >= input.len()`. Total: any bytes are accepted. Every
    /// transform flags `NUL_BYTE` when its result contains a NUL, except
    /// `RemoveNulls`, which flags it when it removed one.
    pub fn apply(self, input: &[u8], out: &mut Vec<u8>) -> Anomalies {
        let mut anomalies = self.apply_raw(input, out);
        if self != Transform::RemoveNulls && memchr(0, out).is_some() {
            anomalies |= Anomalies::NUL_BYTE;
        }
        anomalies
    }

    /// Whether applying this transform to `input` could change it. `false`
    /// is exact: the output would equal the input and report no anomaly
    /// (besides `NUL_BYTE`, which chains check once at the end). Checking is
    /// a byte search, much cheaper than copying; most values in API traffic
    /// have nothing to decode, so chains skip most steps.
    pub fn changes(self, input: &[u8]) -> bool {
        Features::of(input).changes(self)
    }

    /// `apply` without the final NUL check (chains do it once).
    pub(crate) fn apply_raw(self, input: &[u8], out: &mut Vec<u8>) -> Anomalies {
        out.clear();
        out.reserve(input.len());
        let anomalies = match self {
            Transform::UrlDecode => url::decode(input, out),
            Transform::PlusToSpace => url::plus_to_space(input, out),
            Transform::Lowercase => case::lowercase(input, out),
            Transform::HtmlEntityDecode => html::decode(input, out),
            Transform::JsDecode => js::decode(input, out),
            Transform::CssDecode => css::decode(input, out),
            Transform::NormalizePath => path::normalize(input, out),
            Transform::RemoveNulls => nul::remove(input, out),
            Transform::CompressWhitespace => whitespace::compress(input, out),
            Transform::Utf8Normalize => utf8::normalize(input, out),
            Transform::Base64Decode => base64::decode(input, out),
            Transform::Trim => whitespace::trim(input, out),
        };
        debug_assert!(out.len() <= input.len(), "{} grew its input", self.name());
        anomalies
    }
}

impl std::fmt::Display for Transform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Applies `chain` to `input`, ping-ponging between the caller's two buffers
/// (the first step writes into `a`, the next into `b`, and so on); returns
/// the result and every anomaly any step noticed.
///
/// An empty chain returns `input` itself, uncopied. Since no step grows its
/// input, buffers whose capacity is at least `input.len()` never reallocate:
/// a scanner keeps two per core, sized for its largest field.
pub fn apply_chain<'a>(
    chain: &[Transform],
    input: &'a [u8],
    a: &'a mut Vec<u8>,
    b: &'a mut Vec<u8>,
) -> (&'a [u8], Anomalies) {
    apply_chain_with(chain, input, Features::of(input), a, b)
}

/// What a value contains, as far as deciding which transforms could change
/// it goes: one pass over the value answers every step of every chain, where
/// asking each step separately would search the same bytes again and again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features(u16);

const F_PCT: u16 = 1;
const F_PLUS: u16 = 2;
const F_UPPER: u16 = 4;
const F_AMP: u16 = 8;
const F_BSLASH: u16 = 16;
/// A segment starts with `.` (the value does, or has `/.`): a `.` or `..`
/// segment may be there. Dots inside a segment (`1.5`, `a.json`) are not.
const F_DOT: u16 = 32;
const F_SLASH2: u16 = 64;
const F_NUL: u16 = 128;
const F_WS: u16 = 256;
const F_NONASCII: u16 = 512;
const F_EDGE_WS: u16 = 1024;
/// Interim bits: a `/`, a space or a `.` is present (runs are then searched for).
const F_SLASH: u16 = 2048;
const F_SPACE: u16 = 4096;
const F_ANYDOT: u16 = 8192;
/// A byte that is not a number byte (`0-9 . e E -`, see `crate::numeric`).
const F_NONNUM: u16 = 16384;
/// A line feed (the scanner notes which fields have one for `^`/`$`
/// signatures; no transform needs it).
const F_LF: u16 = 32768;

/// The byte pairs [`Features::of`] looks for.
#[derive(Clone, Copy)]
enum Pair {
    Slashes = 0,
    Spaces = 1,
    SlashDot = 2,
}

/// Substring searchers for the pairs, built once: `memmem::find` would
/// build one per call, which cost more than the search on most values.
static PAIR_FINDERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 3]> =
    std::sync::LazyLock::new(|| {
        [b"//", b"  ", b"/."].map(|p: &'static [u8; 2]| memchr::memmem::Finder::new(p))
    });

/// Whether the pair occurs somewhere in `input`. Most fields are short: a
/// plain loop beats a vectorised search there.
fn has_pair(input: &[u8], pair: Pair) -> bool {
    let (a, b) = match pair {
        Pair::Slashes => (b'/', b'/'),
        Pair::Spaces => (b' ', b' '),
        Pair::SlashDot => (b'/', b'.'),
    };
    if input.len() < 64 {
        input.windows(2).any(|w| w[0] == a && w[1] == b)
    } else {
        PAIR_FINDERS[pair as usize].find(input).is_some()
    }
}

/// Feature bits of single bytes.
const CLASS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'%' => F_PCT,
            b'+' => F_PLUS,
            b'A'..=b'Z' => F_UPPER,
            b'&' => F_AMP,
            b'\\' => F_BSLASH,
            b'.' => F_ANYDOT,
            b'/' => F_SLASH,
            b' ' => F_SPACE,
            0 => F_NUL,
            b'\n' => F_WS | F_LF,
            b'\t' | b'\r' | 0x0b | 0x0c => F_WS,
            0xa0 => F_WS | F_NONASCII,
            _ if b >= 0x80 => F_NONASCII,
            _ => 0,
        } | if crate::numeric::is_number_byte(b) {
            0
        } else {
            F_NONNUM
        };
        i += 1;
    }
    t
};

impl Features {
    /// The features of `input`.
    pub fn of(input: &[u8]) -> Features {
        // The OR of every byte's class (vectorised: `byte_classes`); the
        // features that are runs of bytes are searched for after,
        // and only when their byte occurs at all.
        let mut bits = byte_classes::classes(input);
        // Whitespace at an edge needs whitespace somewhere (read first:
        // a space run below turns into F_WS).
        if bits & (F_WS | F_SPACE) != 0 {
            let edge = |b: Option<&u8>| b.is_some_and(|&b| whitespace::is_ascii_space(b));
            if edge(input.first()) || edge(input.last()) {
                bits |= F_EDGE_WS;
            }
        }
        if bits & F_SPACE != 0 && has_pair(input, Pair::Spaces) {
            bits |= F_WS;
        }
        if input.first() == Some(&b'.') {
            bits |= F_DOT;
        }
        if bits & F_SLASH != 0 {
            let want_dot = bits & (F_ANYDOT | F_DOT) == F_ANYDOT;
            if input.len() < 64 {
                // One pass for both pairs that start with a slash.
                for w in input.windows(2) {
                    if w[0] == b'/' {
                        match w[1] {
                            b'/' => bits |= F_SLASH2,
                            b'.' if want_dot => bits |= F_DOT,
                            _ => {}
                        }
                    }
                }
            } else {
                if has_pair(input, Pair::Slashes) {
                    bits |= F_SLASH2;
                }
                if want_dot && has_pair(input, Pair::SlashDot) {
                    bits |= F_DOT;
                }
            }
        }
        Features(bits & !(F_SLASH | F_SPACE | F_ANYDOT))
    }

    /// Whether `t` could change a value with these features (as [`Transform::changes`]).
    pub fn changes(self, t: Transform) -> bool {
        let need = Features::need(t);
        // All bits: the step may change any value (base64), even one with
        // no feature at all.
        need == u16::MAX || self.0 & need != 0
    }

    /// The feature bits that make `t` change a value (all bits: it always may).
    pub(crate) fn need(t: Transform) -> u16 {
        match t {
            Transform::UrlDecode => F_PCT,
            Transform::PlusToSpace => F_PLUS,
            Transform::Lowercase => F_UPPER,
            Transform::HtmlEntityDecode => F_AMP,
            Transform::JsDecode | Transform::CssDecode => F_BSLASH,
            Transform::NormalizePath => F_BSLASH | F_DOT | F_SLASH2,
            Transform::RemoveNulls => F_NUL,
            Transform::CompressWhitespace => F_WS,
            Transform::Utf8Normalize => F_NONASCII,
            Transform::Base64Decode => u16::MAX,
            Transform::Trim => F_EDGE_WS,
        }
    }

    /// Whether any of `bits` (a union of [`Features::need`] masks) is set.
    pub(crate) fn any(self, bits: u16) -> bool {
        self.0 & bits != 0
    }

    /// The bit for a NUL byte, which every chain but an empty one reports.
    pub(crate) const NUL: u16 = F_NUL;

    /// The value contains a NUL byte.
    pub fn has_nul(self) -> bool {
        self.0 & F_NUL != 0
    }

    /// The value is made only of number bytes (`0-9 . e E -`).
    pub(crate) fn number(self) -> bool {
        self.0 & F_NONNUM == 0
    }

    /// The value holds a line feed.
    pub(crate) fn has_newline(self) -> bool {
        self.0 & F_LF != 0
    }
}

/// [`apply_chain`] with the input's [`Features`] already known (a scanner
/// computes them once per field for all its chains).
pub fn apply_chain_with<'a>(
    chain: &[Transform],
    input: &'a [u8],
    features: Features,
    a: &'a mut Vec<u8>,
    b: &'a mut Vec<u8>,
) -> (&'a [u8], Anomalies) {
    // Where the current value lives: steps that would not change it are
    // skipped, so a value with nothing to decode is never copied here.
    #[derive(PartialEq)]
    enum At {
        Input,
        A,
        B,
    }
    if chain.is_empty() {
        return (input, Anomalies::NONE);
    }
    let mut at = At::Input;
    let mut features = features;
    let mut anomalies = Anomalies::NONE;
    let mut nul_removed = false;
    // After an opportunistic base64 decode the value is whatever bytes the
    // token held (often binary): NULs and bad UTF-8 there say nothing about
    // evasion, so they are not reported.
    let mut binary = false;
    for (k, &step) in chain.iter().enumerate() {
        if !features.changes(step) {
            continue;
        }
        nul_removed |= step == Transform::RemoveNulls;
        let src_len = match at {
            At::Input => input.len(),
            At::A => a.len(),
            At::B => b.len(),
        };
        let got = match at {
            At::Input => {
                at = At::A;
                step.apply_raw(input, a)
            }
            At::A => {
                at = At::B;
                step.apply_raw(a, b)
            }
            At::B => {
                at = At::A;
                step.apply_raw(b, a)
            }
        };
        anomalies |= if binary {
            Anomalies(got.0 & !BINARY_NOISE.0)
        } else {
            got
        };
        // Base64 decoding always shrinks a value it decodes; same length means it was left alone.
        let out_len = match at {
            At::Input => input.len(),
            At::A => a.len(),
            At::B => b.len(),
        };
        binary |= step == Transform::Base64Decode && out_len != src_len;
        let now: &[u8] = match at {
            At::Input => input,
            At::A => a,
            At::B => b,
        };
        // The value changed: what it contains now decides the next steps.
        // Lowercasing changes no feature but the upper case; after the last
        // step only the NUL check below still reads the features.
        features = if step == Transform::Lowercase {
            Features(features.0 & !F_UPPER)
        } else if k + 1 == chain.len() {
            Features(if memchr(0, now).is_some() { F_NUL } else { 0 })
        } else {
            Features::of(now)
        };
    }
    let out: &'a [u8] = match at {
        At::Input => input,
        At::A => a,
        At::B => b,
    };
    if !nul_removed && !binary && features.has_nul() {
        anomalies |= Anomalies::NUL_BYTE;
    }
    (out, anomalies)
}

/// Anomalies that decoded binary data produces by itself.
const BINARY_NOISE: Anomalies =
    Anomalies(Anomalies::NUL_BYTE.0 | Anomalies::INVALID_UTF8.0 | Anomalies::OVERLONG_UTF8.0);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::testing::{hostile, run, DOUBLE, INVALID, NONE, NUL, OVERLONG};
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for t in Transform::ALL {
            assert_eq!(Transform::parse(t.name()), Some(t));
            assert_eq!(t.to_string(), t.name());
        }
        assert_eq!(Transform::parse("url_decode"), Some(Transform::UrlDecode));
        assert_eq!(
            Transform::parse("base64_decode"),
            Some(Transform::Base64Decode)
        );
        assert_eq!(Transform::parse("UrlDecode"), None);
        assert_eq!(Transform::parse(""), None);
        let names: std::collections::BTreeSet<_> = Transform::ALL.map(Transform::name).into();
        assert_eq!(names.len(), Transform::ALL.len());
    }

    #[test]
    fn apply_clears_the_buffer_first() {
        let mut out = b"left over from the last field".to_vec();
        Transform::Lowercase.apply(b"AB", &mut out);
        assert_eq!(out, b"ab");
    }

    #[test]
    fn every_transform_flags_a_nul_in_its_result() {
        for t in Transform::ALL {
            let (out, anomalies) = run(t, b"abcd\0efgh");
            assert!(out.contains(&0) || t == Transform::RemoveNulls, "{t}");
            assert!(anomalies.contains(NUL), "{t}");
            assert!(!run(t, b"abcdefgh").1.contains(NUL), "{t}");
        }
    }

    #[test]
    fn evasions_through_chains() {
        use Transform::*;
        type Row<'a> = (&'a [Transform], &'a [u8], &'a [u8], Anomalies);
        let cases: &[Row] = &[
            (&[UrlDecode], b"%252e%252e%252f", b"%2e%2e%2f", DOUBLE),
            (&[UrlDecode, UrlDecode], b"%252e%252e%252f", b"../", DOUBLE),
            (&[UrlDecode, Utf8Normalize], b"%c0%af", b"/", OVERLONG),
            (
                &[UrlDecode, Utf8Normalize, NormalizePath],
                b"/a/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
                b"/etc/passwd",
                OVERLONG,
            ),
            (
                &[NormalizePath],
                b"..\\..\\windows\\win.ini",
                b"windows/win.ini",
                NONE,
            ),
            (&[UrlDecode], b"%u0027%20or%201=1", b"' or 1=1", NONE),
            (&[UrlDecode, RemoveNulls], b"a%00b", b"ab", NUL),
            (
                &[HtmlEntityDecode, Lowercase],
                b"&#x3C;SCRIPT&#62;",
                b"<script>",
                NONE,
            ),
            (&[JsDecode], b"\\u003cscript\\u003e", b"<script>", NONE),
            (
                &[PlusToSpace, UrlDecode, CompressWhitespace, Trim],
                b"+union++%09select%0b",
                b"union select",
                NONE,
            ),
            (
                &[Base64Decode, HtmlEntityDecode],
                b"JiN4M2M7c2NyaXB0",
                b"<script",
                NONE,
            ),
            (&[UrlDecode, UrlDecode], b"%%34%31", b"A", DOUBLE | INVALID),
        ];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for &(chain, input, want, want_anomalies) in cases {
            let (got, anomalies) = apply_chain(chain, input, &mut a, &mut b);
            assert_eq!(
                (got.escape_ascii().to_string(), anomalies),
                (want.escape_ascii().to_string(), want_anomalies),
                "{chain:?} on `{}`",
                input.escape_ascii()
            );
        }
    }

    #[test]
    fn empty_chain_returns_the_input_uncopied() {
        let input = b"%41".as_slice();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (got, anomalies) = apply_chain(&[], input, &mut a, &mut b);
        assert_eq!(got.as_ptr(), input.as_ptr());
        assert_eq!(got.len(), input.len());
        assert_eq!(anomalies, NONE);
    }

    #[test]
    fn base64_may_change_a_value_without_any_feature() {
        // `nbsp` has nothing any other step looks for, and decodes.
        assert!(Features::of(b"nbsp").changes(Transform::Base64Decode));
        assert!(Transform::Base64Decode.changes(b"nbsp"));
        assert!(!Features::of(b"nbsp").changes(Transform::UrlDecode));
    }

    /// The transforms that are their own fixed point.
    const IDEMPOTENT: [Transform; 5] = [
        Transform::Lowercase,
        Transform::NormalizePath,
        Transform::CompressWhitespace,
        Transform::RemoveNulls,
        Transform::Trim,
    ];

    #[test]
    fn byte_pairs_are_found_in_short_and_long_values() {
        // Short values take a plain loop, long ones a shared searcher.
        for len in [3usize, 10, 63, 64, 65, 200, 1000] {
            for (pair, t) in [
                (b"//", Transform::NormalizePath),
                (b"/.", Transform::NormalizePath),
                (b"  ", Transform::CompressWhitespace),
            ] {
                for at in [1, len / 2, len - 2] {
                    // `a/b` keeps a slash and a space but never the pair.
                    let mut v: Vec<u8> = b"a/ b".iter().copied().cycle().take(len).collect();
                    assert!(!t.changes(&v), "{t} on plain `{}`", v.escape_ascii());
                    v[at..at + 2].copy_from_slice(pair);
                    if at > 0 && pair[0] == b'/' && v[at - 1] == b'/' {
                        continue;
                    }
                    assert!(t.changes(&v), "{t} misses {pair:?} at {at} of {len}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn every_transform_fits_its_input_without_reallocating(input in hostile()) {
            for t in Transform::ALL {
                // Capacity exactly the input length, with stale bytes in it.
                let mut out = Vec::with_capacity(input.len());
                out.extend_from_slice(&input[..input.len() / 2]);
                let (ptr, cap) = (out.as_ptr(), out.capacity());
                let anomalies = t.apply(&input, &mut out);
                prop_assert!(out.len() <= input.len(), "{} grew `{}`", t, input.escape_ascii());
                prop_assert_eq!(out.as_ptr(), ptr, "{} reallocated", t);
                prop_assert_eq!(out.capacity(), cap, "{} reallocated", t);
                // Same result in a fresh buffer: nothing depends on stale bytes.
                let (fresh, fresh_anomalies) = run(t, &input);
                prop_assert_eq!(&out, &fresh);
                prop_assert_eq!(anomalies, fresh_anomalies);
                let nul = if t == Transform::RemoveNulls { &input } else { &out };
                prop_assert_eq!(anomalies.contains(NUL), nul.contains(&0), "{}", t);
            }
        }

        #[test]
        fn a_step_said_not_to_change_its_input_does_not(input in hostile()) {
            for t in Transform::ALL {
                if !t.changes(&input) {
                    let (out, anomalies) = run(t, &input);
                    prop_assert_eq!(&out, &input, "{} changed `{}`", t, input.escape_ascii());
                    prop_assert!(anomalies == NONE || anomalies == NUL, "{} reported {:?}", t, anomalies);
                }
            }
        }

        #[test]
        fn chains_equal_their_steps_applied_one_by_one(input in hostile(), picks in proptest::collection::vec(0usize..12, 0..4)) {
            let chain: Vec<Transform> = picks.iter().map(|&i| Transform::ALL[i]).collect();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let (got, got_anomalies) = apply_chain(&chain, &input, &mut a, &mut b);
            let mut cur = input.clone();
            let mut expect_anomalies = NONE;
            let mut binary = false;
            for t in &chain {
                let (next, an) = run(*t, &cur);
                if next != cur || t.changes(&cur) {
                    expect_anomalies |= if binary { Anomalies(an.0 & !BINARY_NOISE.0) } else { an };
                    binary |= *t == Transform::Base64Decode && next.len() != cur.len();
                }
                cur = next;
            }
            prop_assert_eq!(got, &cur[..]);
            // NUL is judged once on the result (or by RemoveNulls itself).
            let strip = |x: Anomalies| Anomalies(x.0 & !NUL.0);
            prop_assert_eq!(strip(got_anomalies), strip(expect_anomalies));
        }

        #[test]
        fn idempotent_transforms_are(input in hostile()) {
            for t in IDEMPOTENT {
                let (once, _) = run(t, &input);
                let (twice, _) = run(t, &once);
                prop_assert_eq!(&twice, &once, "{} on `{}`", t, input.escape_ascii());
            }
        }

        #[test]
        fn chains_equal_steps_and_never_reallocate(
            input in hostile(),
            chain in prop::collection::vec(prop::sample::select(Transform::ALL.to_vec()), 0..6),
        ) {
            // The chain's contract, step by step: each step's own anomalies
            // (NUL judged once at the end, unless RemoveNulls ran), binary
            // noise dropped after base64 actually decoded something.
            let mut expected = input.clone();
            let mut expected_anomalies = NONE;
            let (mut binary, mut nul_removed) = (false, false);
            for t in &chain {
                let changes = t.changes(&expected);
                let (next, anomalies) = run(*t, &expected);
                if changes {
                    let own = if *t == Transform::RemoveNulls { anomalies.0 } else { anomalies.0 & !NUL.0 };
                    let noise = if binary { BINARY_NOISE.0 } else { 0 };
                    expected_anomalies |= Anomalies(own & !noise);
                    nul_removed |= *t == Transform::RemoveNulls;
                    binary |= *t == Transform::Base64Decode && next.len() != expected.len();
                }
                expected = next;
            }
            if !chain.is_empty() && !nul_removed && !binary && expected.contains(&0) {
                expected_anomalies |= NUL;
            }
            let mut a = Vec::with_capacity(input.len());
            let mut b = Vec::with_capacity(input.len());
            let before = (a.as_ptr(), a.capacity(), b.as_ptr(), b.capacity());
            let (got, anomalies) = apply_chain(&chain, &input, &mut a, &mut b);
            prop_assert_eq!(got, expected.as_slice());
            prop_assert_eq!(anomalies, expected_anomalies);
            prop_assert_eq!(before, (a.as_ptr(), a.capacity(), b.as_ptr(), b.capacity()));
        }
    }
}
