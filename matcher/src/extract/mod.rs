//! Splitting a request's structured parts (query, cookies, bodies) into fields.
//!
//! Every extractor reports `(kind, name, value)` triples to a visitor as it finds
//! them, with slices of the input wherever no decoding is needed. They run on
//! attacker-controlled bytes for every request, so none of them allocates, panics,
//! recurses, or does more than linear work; what needs scratch space (decoded
//! JSON strings, the JSON container stack) takes it from a caller-owned struct
//! sized once.
//!
//! Malformed input makes an extractor stop with an [`ExtractError`] *after* it has
//! reported everything it saw before the error: the fields already reported are
//! still worth matching, and the caller still scans the raw body.

mod cookie;
mod json;
mod multipart;
mod urlencoded;
mod xml;

#[cfg(test)]
mod alloc_count;
#[cfg(test)]
mod test_util;

pub use cookie::cookies;
pub use json::{json, JsonScratch, JsonSummary};
pub use multipart::{
    boundary, multipart, MultipartAnomalies, MultipartSummary, MAX_BOUNDARY_LEN,
    MAX_PART_HEADER_LINE,
};
pub use urlencoded::urlencoded;
pub use xml::{xml, XmlSummary, XML_MAX_DEPTH};

/// Which extractor a request body needs, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// `application/json`, `application/*+json`, `text/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data` (get the boundary with [`boundary`]).
    Multipart,
    /// `application/xml`, `text/xml`, `application/*+xml`.
    Xml,
    /// Anything else, or no usable media type: only the raw body is scanned.
    Other,
}

impl BodyKind {
    /// Classifies a `Content-Type` header value. The media type is compared
    /// case-insensitively (RFC 9110 §8.3.1) and parameters are ignored.
    pub fn from_content_type(ct: &[u8]) -> BodyKind {
        let media = match memchr::memchr(b';', ct) {
            Some(semi) => &ct[..semi],
            None => ct,
        };
        let media = trim(media);
        let Some(slash) = memchr::memchr(b'/', media) else {
            return BodyKind::Other;
        };
        let (ty, sub) = (&media[..slash], &media[slash + 1..]);
        let is = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
        let ends = |a: &[u8], suffix: &str| {
            a.len() > suffix.len() && is(&a[a.len() - suffix.len()..], suffix)
        };
        if is(ty, "application") {
            if is(sub, "json") || ends(sub, "+json") {
                BodyKind::Json
            } else if is(sub, "x-www-form-urlencoded") {
                BodyKind::Form
            } else if is(sub, "xml") || ends(sub, "+xml") {
                BodyKind::Xml
            } else {
                BodyKind::Other
            }
        } else if is(ty, "text") {
            if is(sub, "json") {
                BodyKind::Json
            } else if is(sub, "xml") {
                BodyKind::Xml
            } else {
                BodyKind::Other
            }
        } else if is(ty, "multipart") && is(sub, "form-data") {
            BodyKind::Multipart
        } else {
            BodyKind::Other
        }
    }
}

/// Why an extractor stopped early. `offset` is a byte index into the input the
/// extractor was given; everything before the error has already been reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The input ended where more was required.
    #[error("input ends at byte {offset}, expected {expected}")]
    UnexpectedEnd {
        offset: usize,
        expected: &'static str,
    },
    /// A byte that cannot continue what was being parsed.
    #[error("unexpected byte {found:#04x} at byte {offset}, expected {expected}")]
    UnexpectedByte {
        offset: usize,
        found: u8,
        expected: &'static str,
    },
    /// Nesting deeper than the configured limit; `offset` is the opener that
    /// went one level too deep.
    #[error("nesting deeper than {max} levels at byte {offset}")]
    TooDeep { offset: usize, max: usize },

    /// A JSON string opened at `offset` never closes.
    #[error("JSON string opened at byte {offset} is not terminated")]
    UnterminatedString { offset: usize },
    /// The backslash at `offset` starts an escape JSON does not define.
    #[error(
        "invalid escape at byte {offset}, expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"
    )]
    InvalidEscape { offset: usize },
    /// The `\u` escape at `offset` is a UTF-16 surrogate without its other half.
    #[error("lone UTF-16 surrogate escape at byte {offset}, expected a high-low surrogate pair")]
    LoneSurrogate { offset: usize },
    /// A closing bracket of the wrong type (`[1}`).
    #[error("mismatched bracket at byte {offset}, expected '{expected}'")]
    MismatchedBracket { offset: usize, expected: char },
    /// Something other than whitespace after the top-level JSON value.
    #[error("data after the JSON value at byte {offset}, expected end of input")]
    TrailingData { offset: usize },
    /// A JSON key, string or scalar starting at `offset` is longer (decoded)
    /// than the scratch's value capacity.
    #[error("value at byte {offset} is longer than the {max}-byte scratch, expected at most {max} bytes")]
    ValueTooLong { offset: usize, max: usize },
    /// The escaped keys that open arrays (kept to name the arrays' values)
    /// together outgrow the scratch; `offset` is the array that did not fit.
    #[error("keys of the open arrays exceed the {max}-byte scratch at byte {offset}")]
    NamesTooLong { offset: usize, max: usize },

    /// The boundary given to the multipart extractor is empty, longer than 70
    /// bytes, or contains CR/LF (RFC 2046 §5.1.1).
    #[error("unusable multipart boundary of {len} bytes, expected 1 to 70 bytes without CR/LF")]
    InvalidBoundary { len: usize },
    /// No `--boundary` line anywhere in the body (`offset` is the body's end).
    #[error("no multipart delimiter line before byte {offset}, expected `--boundary`")]
    MissingBoundary { offset: usize },
    /// The body ends (at `offset`) before the `--boundary--` close delimiter;
    /// the last part was reported up to the end.
    #[error("multipart body ends at byte {offset}, expected the closing `--boundary--`")]
    MissingClosingBoundary { offset: usize },
    /// The part whose headers start at `offset` has no blank line ending them
    /// before the next delimiter or the end of the body.
    #[error("part headers starting at byte {offset} are not terminated, expected an empty line")]
    UnterminatedPartHeaders { offset: usize },
    /// A part header line starting at `offset` is longer than `max` bytes.
    #[error("part header line at byte {offset} is longer than {max} bytes")]
    HeaderLineTooLong { offset: usize, max: usize },
    /// The quoted header parameter opened at `offset` never closes.
    #[error("quoted parameter opened at byte {offset} is not terminated, expected '\"'")]
    UnterminatedQuote { offset: usize },

    /// An XML end tag at `offset` does not close the open element (or none is open).
    #[error("end tag at byte {offset} does not match the open element")]
    MismatchedTag { offset: usize },
    /// XML markup opened at `offset` (comment, CDATA section, processing
    /// instruction, declaration, tag, attribute value) never closes.
    #[error("{what} opened at byte {offset} is not terminated")]
    UnterminatedMarkup { offset: usize, what: &'static str },
}

impl ExtractError {
    /// The byte offset the error is about (0 for [`ExtractError::InvalidBoundary`],
    /// which is about the boundary argument, not the input).
    pub fn offset(&self) -> usize {
        match *self {
            ExtractError::UnexpectedEnd { offset, .. }
            | ExtractError::UnexpectedByte { offset, .. }
            | ExtractError::TooDeep { offset, .. }
            | ExtractError::UnterminatedString { offset }
            | ExtractError::InvalidEscape { offset }
            | ExtractError::LoneSurrogate { offset }
            | ExtractError::MismatchedBracket { offset, .. }
            | ExtractError::TrailingData { offset }
            | ExtractError::ValueTooLong { offset, .. }
            | ExtractError::NamesTooLong { offset, .. }
            | ExtractError::MissingBoundary { offset }
            | ExtractError::MissingClosingBoundary { offset }
            | ExtractError::UnterminatedPartHeaders { offset }
            | ExtractError::HeaderLineTooLong { offset, .. }
            | ExtractError::UnterminatedQuote { offset }
            | ExtractError::MismatchedTag { offset }
            | ExtractError::UnterminatedMarkup { offset, .. } => offset,
            ExtractError::InvalidBoundary { .. } => 0,
        }
    }
}

/// HTTP optional whitespace (spaces and tabs) removed from both ends.
fn trim(s: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ows(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_kind_from_content_type() {
        let cases: &[(&str, BodyKind)] = &[
            ("application/json", BodyKind::Json),
            ("Application/JSON; charset=utf-8", BodyKind::Json),
            ("application/problem+json", BodyKind::Json),
            ("application/vnd.api+JSON;v=2", BodyKind::Json),
            ("text/json", BodyKind::Json),
            ("  application/json  ", BodyKind::Json),
            ("application/x-www-form-urlencoded", BodyKind::Form),
            (
                "application/x-www-form-urlencoded;charset=UTF-8",
                BodyKind::Form,
            ),
            ("multipart/form-data; boundary=abc", BodyKind::Multipart),
            ("MULTIPART/FORM-DATA;boundary=\"a b\"", BodyKind::Multipart),
            ("application/xml", BodyKind::Xml),
            ("text/xml; charset=iso-8859-1", BodyKind::Xml),
            ("application/soap+xml", BodyKind::Xml),
            ("application/atom+XML", BodyKind::Xml),
            ("multipart/mixed; boundary=x", BodyKind::Other),
            ("text/plain", BodyKind::Other),
            ("application/+json", BodyKind::Other),
            ("application/jsonx", BodyKind::Other),
            ("text/json+xml", BodyKind::Other),
            ("json", BodyKind::Other),
            ("", BodyKind::Other),
            (";", BodyKind::Other),
            ("/", BodyKind::Other),
        ];
        for (ct, want) in cases {
            assert_eq!(BodyKind::from_content_type(ct.as_bytes()), *want, "{ct:?}");
        }
    }

    #[test]
    fn trim_ows() {
        assert_eq!(trim(b" \t a b\t "), b"a b");
        assert_eq!(trim(b" \t "), b"");
        assert_eq!(trim(b""), b"");
    }

    #[test]
    fn error_offset_and_message() {
        let e = ExtractError::UnexpectedByte {
            offset: 7,
            found: b'x',
            expected: "':'",
        };
        assert_eq!(e.offset(), 7);
        assert_eq!(
            e.to_string(),
            "unexpected byte 0x78 at byte 7, expected ':'"
        );
        assert_eq!(ExtractError::InvalidBoundary { len: 0 }.offset(), 0);
    }
}
