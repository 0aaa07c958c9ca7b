//! Sans-I/O HTTP/1.1 (RFC 9110/9112), strict by design: the reactor hands us bytes
//! it has read, we tell it what they mean and write the heads it must send.
//! Nothing here allocates or performs I/O; every parsed value borrows the caller's
//! buffer, every written head goes into a caller-provided `&mut [u8]`.
//!
//! Strictness is the point: a proxy that is more lenient than the upstream behind
//! it (or differently lenient) is how request smuggling happens, so anything
//! ambiguous is rejected rather than "repaired".

pub mod canned;
pub mod chunked;
pub mod policy_response;
pub mod request;
pub mod request_id;
pub mod response;
pub mod rewrite;

pub use canned::{reason_phrase, write_error_response, CONTINUE_100};
pub use chunked::{ChunkError, ChunkedDecoder, ChunkedProgress};
pub use request::{parse_request, BodyFraming, HeadLimits, RequestError, RequestHead};
pub use request_id::RequestIdGen;
pub use response::{parse_response, ResponseError, ResponseFraming, ResponseHead};
pub use rewrite::{
    write_client_response_head, write_upstream_request_head, ForwardContext, HeadTooLarge,
};

/// Outcome of parsing a head from a buffer that may not hold all of it yet.
#[derive(Debug)]
pub enum Parsed<T> {
    Complete(T),
    /// More bytes are needed; call again with the same buffer extended.
    Partial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

// ---------------------------------------------------------------------------
// Shared lexical helpers. Kept crate-private: they encode *our* strictness
// choices and are not meant as a general-purpose HTTP toolkit.
// ---------------------------------------------------------------------------

/// RFC 9110 §5.6.2 tchar.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

#[inline]
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Iterates the elements of a `#list` field value (RFC 9110 §5.6.1), OWS-trimmed.
/// Empty elements are yielded so that callers can decide whether to tolerate them.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// Strict `1*DIGIT` into u64; anything else (sign, space, empty, overflow) is `None`.
pub(crate) fn parse_decimal_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// The OWS httparse trimmed around `value`, recovered from the raw head in `buf`:
/// (bytes between the colon and the value, bytes between the value and CR).
/// `None` if `value` does not point into `buf` (never happens for parsed heads).
pub(crate) fn raw_ows<'a>(buf: &'a [u8], value: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let base = buf.as_ptr() as usize;
    let start = (value.as_ptr() as usize).checked_sub(base)?;
    let end = start.checked_add(value.len())?;
    if end > buf.len() {
        return None;
    }
    let colon = buf[..start].iter().rposition(|&b| b == b':')?;
    let cr = end + buf[end..].iter().position(|&b| b == b'\r')?;
    Some((&buf[colon + 1..start], &buf[end..cr]))
}

/// How a head scan ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// `head_end` is the index just after the blank line's LF.
    Complete {
        head_end: usize,
        first_line_end: usize,
    },
    /// `first_line_end` (index of the first line's CR) if already seen.
    Partial { first_line_end: Option<usize> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanError {
    BareLf,
    BareCr,
    Control,
    ObsFold,
    ExtraLeadingCrlf,
}

impl ScanError {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            ScanError::BareLf => "bare LF in head",
            ScanError::BareCr => "bare CR in head",
            ScanError::Control => "control character in head",
            ScanError::ObsFold => "obsolete line folding",
            ScanError::ExtraLeadingCrlf => "more than one empty line before start line",
        }
    }
}

/// Number of leading bytes to skip before the start line. RFC 9112 §2.2 lets a
/// server ignore "at least one" empty line before the request line, which exists
/// for clients that add a stray CRLF after a POST body. We ignore exactly one
/// CRLF and reject anything more: unbounded skipping is a free way for a client to
/// keep us parsing, and a bare LF here is just as suspicious as anywhere else.
pub(crate) fn leading_skip(buf: &[u8]) -> Result<Option<usize>, ScanError> {
    match buf {
        [] | [b'\r'] => Ok(None),
        [b'\n', ..] => Err(ScanError::BareLf),
        [b'\r', b'\n'] => Ok(None),
        [b'\r', b'\n', b'\r' | b'\n', ..] => Err(ScanError::ExtraLeadingCrlf),
        [b'\r', b'\n', ..] => Ok(Some(2)),
        [b'\r', ..] => Err(ScanError::BareCr),
        _ => Ok(Some(0)),
    }
}

/// Validates the raw bytes of a head starting at `start` (start line included),
/// looking at no more than `limit` bytes of `buf`, and finds where it ends.
///
/// httparse accepts bare LF as a line terminator and leaves some control bytes to
/// the caller; an upstream that disagrees about where a line ends is a smuggling
/// vector, so every line terminator must be exactly CRLF and no CTL other than
/// HTAB may appear. HTAB in the start line is refused when `tab_in_first_line` is
/// false (request lines are delimited by single SP only).
pub(crate) fn scan_head(
    buf: &[u8],
    start: usize,
    limit: usize,
    tab_in_first_line: bool,
) -> Result<Scan, ScanError> {
    let end = buf.len().min(limit);
    let mut first_line_end: Option<usize> = None;
    let mut line_start = start;
    let mut i = start;
    while i < end {
        // Most head bytes are plain visible ASCII: skip them eight at a time. A
        // space matters only at a line start (obs-fold), which is never inside a
        // skipped word because line starts are reached byte by byte after a CRLF.
        if i != line_start && i + 8 <= end {
            let mut w = [0u8; 8];
            w.copy_from_slice(&buf[i..i + 8]);
            if plain8(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        }
        let b = buf[i];
        match b {
            b'\r' => {
                if i + 1 >= buf.len() {
                    // CR is the last byte we have: cannot judge it yet.
                    break;
                }
                if buf[i + 1] != b'\n' {
                    return Err(ScanError::BareCr);
                }
                if first_line_end.is_none() {
                    first_line_end = Some(i);
                } else if i == line_start {
                    return Ok(Scan::Complete {
                        head_end: i + 2,
                        first_line_end: first_line_end.unwrap_or(i),
                    });
                }
                i += 2;
                line_start = i;
                continue;
            }
            b'\n' => return Err(ScanError::BareLf),
            b' ' | b'\t' if i == line_start && first_line_end.is_some() => {
                return Err(ScanError::ObsFold)
            }
            b'\t' if first_line_end.is_none() && !tab_in_first_line => {
                return Err(ScanError::Control)
            }
            b' ' | b'\t' => {}
            0x00..=0x1f | 0x7f => return Err(ScanError::Control),
            _ => {}
        }
        i += 1;
    }
    Ok(Scan::Partial { first_line_end })
}

/// True when none of the eight bytes needs a closer look: no control byte
/// (< 0x20, which includes CR, LF and TAB) and no DEL. Bytes >= 0x80 (obs-text)
/// pass, as they do byte by byte.
#[inline]
fn plain8(w: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Classic SWAR tests: "some byte < 0x20" and "some byte == 0x7f"; both are
    // exact as yes/no answers for the whole word.
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    let x = w ^ (LO * 0x7f);
    let del = x.wrapping_sub(LO) & !x & HI;
    (below_space | del) == 0
}

/// Position just after the first CRLF at or after `from`, if any.
pub(crate) fn find_crlf_end(buf: &[u8], from: usize) -> Option<usize> {
    let tail = buf.get(from..)?;
    tail.windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p + 2)
}

/// Bounded, non-allocating writer over a caller buffer. Writes past the end are
/// dropped and remembered, so callers can emit a whole head with straight-line
/// code and check for overflow once at the end.
pub(crate) struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'a> Out<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Out {
            buf,
            pos: 0,
            overflow: false,
        }
    }

    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos = end;
            }
            None => self.overflow = true,
        }
    }

    pub(crate) fn put_u64(&mut self, mut n: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&tmp[i..]);
    }

    pub(crate) fn header(&mut self, name: &[u8], value: &[u8]) {
        self.put(name);
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.overflow
    }

    /// The length written, or `None` if anything did not fit.
    pub(crate) fn finish(&self) -> Option<usize> {
        (!self.overflow).then_some(self.pos)
    }
}

impl core::fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.put(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain8_flags_exactly_control_bytes_and_del() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                let mut w = *b"abcdefgh";
                w[pos] = b;
                let plain = super::plain8(u64::from_le_bytes(w));
                assert_eq!(plain, b >= 0x20 && b != 0x7f, "byte {b:#x} at {pos}");
            }
        }
    }

    use super::*;

    #[test]
    fn scan_finds_end_and_rejects_bare_terminators() {
        let b = b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest";
        assert_eq!(
            scan_head(b, 0, 1024, false),
            Ok(Scan::Complete {
                head_end: 24,
                first_line_end: 14
            })
        );
        assert_eq!(
            scan_head(b"GET / HTTP/1.1\nA: b\r\n\r\n", 0, 1024, false),
            Err(ScanError::BareLf)
        );
        assert_eq!(
            scan_head(b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 0, 1024, false),
            Err(ScanError::BareCr)
        );
        assert_eq!(
            scan_head(b"GET / HTTP/1.1\r\nA: b\r", 0, 1024, false),
            Ok(Scan::Partial {
                first_line_end: Some(14)
            })
        );
    }

    #[test]
    fn leading_skip_rules() {
        assert_eq!(leading_skip(b""), Ok(None));
        assert_eq!(leading_skip(b"\r"), Ok(None));
        assert_eq!(leading_skip(b"\r\n"), Ok(None));
        assert_eq!(leading_skip(b"\r\nG"), Ok(Some(2)));
        assert_eq!(leading_skip(b"G"), Ok(Some(0)));
        assert_eq!(leading_skip(b"\n"), Err(ScanError::BareLf));
        assert_eq!(leading_skip(b"\r\n\r\n"), Err(ScanError::ExtraLeadingCrlf));
        assert_eq!(leading_skip(b"\rG"), Err(ScanError::BareCr));
    }

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal_u64(b"0"), Some(0));
        assert_eq!(parse_decimal_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal_u64(b"18446744073709551616"), None);
        for bad in [&b""[..], b"+5", b"-5", b" 5", b"5 ", b"0x5", b"5,5"] {
            assert_eq!(parse_decimal_u64(bad), None);
        }
    }

    #[test]
    fn out_tracks_overflow() {
        let mut buf = [0u8; 4];
        let mut o = Out::new(&mut buf);
        o.put(b"ab");
        o.put_u64(12);
        assert!(!o.overflowed());
        o.put(b"x");
        assert!(o.overflowed());
        assert_eq!(o.pos(), 4);
        assert_eq!(&buf, b"ab12");
    }
}
