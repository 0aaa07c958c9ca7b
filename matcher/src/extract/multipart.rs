//! `multipart/form-data` splitting into part headers, field names, file names and part bodies.

use memchr::{memchr, memchr2, memmem};

use super::ExtractError;
use crate::FieldKind;

/// Longest boundary RFC 2046 §5.1.1 allows.
pub const MAX_BOUNDARY_LEN: usize = 70;

/// Longest part header line accepted (without its line ending). Browsers send
/// lines far shorter; longer ones only serve to make a parser buffer or give
/// up, so they are an error rather than a silent truncation.
pub const MAX_PART_HEADER_LINE: usize = 8 * 1024;

/// Evasion indicators [`multipart`] noticed: constructs that parsers disagree
/// on, so a body using them may look different to the backend than to
/// Rampart. Policies decide what to do with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultipartAnomalies(pub u16);

impl MultipartAnomalies {
    /// A delimiter or header line ended with a bare LF instead of CRLF.
    pub const LF_ONLY: MultipartAnomalies = MultipartAnomalies(1);
    /// A part header line contains `--boundary` (e.g. inside a quoted file name).
    pub const BOUNDARY_IN_HEADER: MultipartAnomalies = MultipartAnomalies(2);
    /// A `Content-Disposition` has more than one `name` parameter (the last names the part).
    pub const DUPLICATE_NAME: MultipartAnomalies = MultipartAnomalies(4);
    /// A `Content-Disposition` has more than one `filename` (or `filename*`) parameter.
    pub const DUPLICATE_FILENAME: MultipartAnomalies = MultipartAnomalies(8);
    /// A part has more than one `Content-Disposition` header (the first is used).
    pub const DUPLICATE_DISPOSITION: MultipartAnomalies = MultipartAnomalies(16);
    /// A part header was folded onto a continuation line (obsolete, RFC 7578 §4.8).
    pub const FOLDED_HEADER: MultipartAnomalies = MultipartAnomalies(32);
    /// A part header line has no `:` (reported with an empty name).
    pub const MALFORMED_HEADER: MultipartAnomalies = MultipartAnomalies(64);
    /// A line starts with `--boundary` followed by other bytes: not a delimiter
    /// here, but a prefix-matching parser would split the part there.
    pub const DELIMITER_SUFFIX: MultipartAnomalies = MultipartAnomalies(128);
    /// A quoted parameter contains `\"`: parsers differ on whether it ends the value.
    pub const QUOTED_PAIR: MultipartAnomalies = MultipartAnomalies(256);
    /// A part has no `Content-Disposition` `name` (reported with an empty name).
    pub const MISSING_NAME: MultipartAnomalies = MultipartAnomalies(512);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: MultipartAnomalies) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for MultipartAnomalies {
    type Output = MultipartAnomalies;
    fn bitor(self, rhs: MultipartAnomalies) -> MultipartAnomalies {
        MultipartAnomalies(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for MultipartAnomalies {
    fn bitor_assign(&mut self, rhs: MultipartAnomalies) {
        self.0 |= rhs.0;
    }
}

/// What one successful [`multipart`] run saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MultipartSummary {
    /// Parts reported.
    pub parts: usize,
    /// Parts with a `filename` or `filename*` parameter.
    pub files: usize,
    /// Evasion indicators.
    pub anomalies: MultipartAnomalies,
}

/// The `boundary` parameter of a `Content-Type` value such as
/// `multipart/form-data; boundary="abc"` (the media type itself is not
/// checked: see [`super::BodyKind`]). The parameter name is matched
/// case-insensitively; a quoted value is returned without its quotes.
///
/// `None` when there is no usable boundary: missing, empty, longer than
/// [`MAX_BOUNDARY_LEN`], containing control bytes or a backslash, an
/// unterminated quote, or given twice (backends disagree on which one wins, so
/// no answer is safe). A caller that gets `None` for a multipart body should
/// treat it as an anomaly: the body cannot be split as the backend would.
pub fn boundary(content_type: &[u8]) -> Option<&[u8]> {
    let mut found = None;
    let mut count = 0;
    params(content_type, &mut |name, value| {
        if name.eq_ignore_ascii_case(b"boundary") {
            found = Some(value);
            count += 1;
        }
    })
    .ok()?;
    let b = found.filter(|_| count == 1)?;
    let usable = !b.is_empty()
        && b.len() <= MAX_BOUNDARY_LEN
        && !b.iter().any(|&c| c < 0x20 || c == 0x7f || c == b'\\');
    usable.then_some(b)
}

/// Reports each part of a `multipart/form-data` body delimited by `boundary`
/// (as returned by [`boundary`]), in order:
///
/// - every part header as [`FieldKind::MultipartHeader`] (name: the header
///   name; value: the header value, trimmed; a folded header is one value
///   spanning its continuation lines);
/// - every `name` parameter of the (first) `Content-Disposition` as
///   [`FieldKind::MultipartName`] (name: the same);
/// - every `filename` and `filename*` parameter as
///   [`FieldKind::MultipartFilename`] (name: the field name), raw: neither
///   quoted-pairs nor RFC 5987 encoding are undone;
/// - the part body as [`FieldKind::MultipartValue`] (name: the field name),
///   without the line ending that belongs to the next delimiter.
///
/// The field name is the last `name` parameter, empty if there is none.
/// Preamble and epilogue are skipped. Delimiter lines may end in CRLF or a
/// bare LF and carry trailing spaces or tabs (transport padding).
///
/// A body cut short (the inspection limit) reports its last part up to the end
/// and then returns [`ExtractError::MissingClosingBoundary`].
pub fn multipart(
    body: &[u8],
    boundary: &[u8],
    visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
) -> Result<MultipartSummary, ExtractError> {
    if boundary.is_empty()
        || boundary.len() > MAX_BOUNDARY_LEN
        || memchr2(b'\r', b'\n', boundary).is_some()
    {
        return Err(ExtractError::InvalidBoundary {
            len: boundary.len(),
        });
    }
    // `--boundary` built on the stack: the needle is at most 72 bytes.
    let mut needle = [0u8; MAX_BOUNDARY_LEN + 2];
    needle[..2].copy_from_slice(b"--");
    needle[2..2 + boundary.len()].copy_from_slice(boundary);
    let finder = memmem::Finder::new(&needle[..2 + boundary.len()]);

    let mut summary = MultipartSummary::default();
    let Some(mut delimiter) = next_delimiter(body, 0, &finder, &mut summary.anomalies) else {
        return Err(ExtractError::MissingBoundary { offset: body.len() });
    };
    while !delimiter.close {
        summary.parts += 1;
        let part = headers(
            body,
            delimiter.after,
            &finder,
            &mut summary.anomalies,
            visit,
        )?;
        let field = disposition(body, part.disposition, &mut summary, visit)?;
        let start = part.body_start;
        match next_delimiter(body, start, &finder, &mut summary.anomalies) {
            Some(next) => {
                // The line ending before `--boundary` belongs to the delimiter.
                let mut end = next.start.saturating_sub(1).max(start);
                if end > start && body[end - 1] == b'\r' {
                    end -= 1;
                }
                visit(FieldKind::MultipartValue, field, &body[start..end]);
                delimiter = next;
            }
            None => {
                visit(FieldKind::MultipartValue, field, &body[start..]);
                return Err(ExtractError::MissingClosingBoundary { offset: body.len() });
            }
        }
    }
    Ok(summary)
}

/// A delimiter line.
struct Delimiter {
    /// Index of its `--`.
    start: usize,
    /// Index after its line ending (after `--boundary--` for the close delimiter).
    after: usize,
    close: bool,
}

/// The first `--boundary` at or after `from` that starts a line and ends it
/// (after optional transport padding), or is the close delimiter.
fn next_delimiter(
    body: &[u8],
    from: usize,
    finder: &memmem::Finder<'_>,
    anomalies: &mut MultipartAnomalies,
) -> Option<Delimiter> {
    let len = finder.needle().len();
    let mut at = from;
    while let Some(n) = finder.find(&body[at..]) {
        let start = at + n;
        // The needle holds no LF, so a delimiter cannot overlap a rejected
        // match: skipping the whole match keeps the scan linear and exact.
        at = start + len;
        if start > 0 && body[start - 1] != b'\n' {
            continue;
        }
        let lf_only = start > 0 && (start < 2 || body[start - 2] != b'\r');
        let mut i = at;
        let close = body[i..].starts_with(b"--");
        if close {
            i += 2;
        } else {
            while let Some(b' ' | b'\t') = body.get(i) {
                i += 1;
            }
            match (body.get(i), body.get(i + 1)) {
                (Some(b'\r'), Some(b'\n')) => i += 2,
                (Some(b'\n'), _) => {
                    *anomalies |= MultipartAnomalies::LF_ONLY;
                    i += 1;
                }
                // Cut short right after the delimiter: the next part is empty.
                (None, _) | (Some(b'\r'), None) => i = body.len(),
                _ => {
                    *anomalies |= MultipartAnomalies::DELIMITER_SUFFIX;
                    continue;
                }
            }
        }
        if lf_only {
            *anomalies |= MultipartAnomalies::LF_ONLY;
        }
        return Some(Delimiter {
            start,
            after: i,
            close,
        });
    }
    None
}

/// A part's header block, once parsed.
struct Part {
    /// Index after the empty line ending the headers.
    body_start: usize,
    /// Range of the first `Content-Disposition` value.
    disposition: Option<(usize, usize)>,
}

/// A header line not reported yet: the next line may continue it.
struct Header {
    name: (usize, usize),
    value: (usize, usize),
}

/// Reports the headers of the part starting at `start`, up to the empty line.
fn headers(
    body: &[u8],
    start: usize,
    finder: &memmem::Finder<'_>,
    anomalies: &mut MultipartAnomalies,
    visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
) -> Result<Part, ExtractError> {
    let mut disposition = None;
    let mut pending: Option<Header> = None;
    let mut flush = |pending: &mut Option<Header>, anomalies: &mut MultipartAnomalies| {
        if let Some(h) = pending.take() {
            let name = &body[h.name.0..h.name.1];
            visit(
                FieldKind::MultipartHeader,
                name,
                &body[h.value.0..h.value.1],
            );
            if name.eq_ignore_ascii_case(b"content-disposition") {
                if disposition.is_some() {
                    *anomalies |= MultipartAnomalies::DUPLICATE_DISPOSITION;
                } else {
                    disposition = Some(h.value);
                }
            }
        }
    };
    let mut line = start;
    loop {
        // Look for the line end only as far as the longest line allowed, so a
        // huge line costs one bounded scan.
        let window = body.len().min(line + MAX_PART_HEADER_LINE + 2);
        let Some(n) = memchr(b'\n', &body[line..window]) else {
            flush(&mut pending, anomalies);
            if window == body.len() {
                return Err(ExtractError::UnterminatedPartHeaders { offset: start });
            }
            return Err(ExtractError::HeaderLineTooLong {
                offset: line,
                max: MAX_PART_HEADER_LINE,
            });
        };
        let newline = line + n;
        let mut end = newline;
        if end > line && body[end - 1] == b'\r' {
            end -= 1;
        } else {
            *anomalies |= MultipartAnomalies::LF_ONLY;
        }
        if end - line > MAX_PART_HEADER_LINE {
            flush(&mut pending, anomalies);
            return Err(ExtractError::HeaderLineTooLong {
                offset: line,
                max: MAX_PART_HEADER_LINE,
            });
        }
        let text = &body[line..end];
        if text.is_empty() {
            flush(&mut pending, anomalies);
            return Ok(Part {
                body_start: newline + 1,
                disposition,
            });
        }
        if text.starts_with(finder.needle()) {
            // The next delimiter came before the empty line.
            flush(&mut pending, anomalies);
            return Err(ExtractError::UnterminatedPartHeaders { offset: start });
        }
        if finder.find(text).is_some() {
            *anomalies |= MultipartAnomalies::BOUNDARY_IN_HEADER;
        }
        let trimmed = trim_range(body, line, end);
        match (&mut pending, text[0]) {
            (Some(h), b' ' | b'\t') => {
                *anomalies |= MultipartAnomalies::FOLDED_HEADER;
                if h.value.0 == h.value.1 {
                    h.value = trimmed;
                } else {
                    h.value.1 = trimmed.1;
                }
            }
            _ => {
                flush(&mut pending, anomalies);
                pending = Some(match memchr(b':', text) {
                    Some(colon) => Header {
                        name: trim_range(body, line, line + colon),
                        value: trim_range(body, line + colon + 1, end),
                    },
                    None => {
                        *anomalies |= MultipartAnomalies::MALFORMED_HEADER;
                        Header {
                            name: (line, line),
                            value: trimmed,
                        }
                    }
                });
            }
        }
        line = newline + 1;
    }
}

/// Reports the `name` and `filename` parameters of the `Content-Disposition`
/// in `range` and returns the field name.
fn disposition<'b>(
    body: &'b [u8],
    range: Option<(usize, usize)>,
    summary: &mut MultipartSummary,
    visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
) -> Result<&'b [u8], ExtractError> {
    let Some((start, end)) = range else {
        summary.anomalies |= MultipartAnomalies::MISSING_NAME;
        return Ok(&[]);
    };
    let value = &body[start..end];
    let is_filename =
        |p: &[u8]| p.eq_ignore_ascii_case(b"filename") || p.eq_ignore_ascii_case(b"filename*");
    // First pass: the field name (last `name` wins, as in most backends) and
    // the duplicate counts; the second pass reports in parameter order.
    let (mut field, mut names, mut filenames, mut starred) = (&[][..], 0, 0, 0);
    let quoted_pair = params(value, &mut |p, v| {
        if p.eq_ignore_ascii_case(b"name") {
            field = v;
            names += 1;
        } else if p.eq_ignore_ascii_case(b"filename") {
            filenames += 1;
        } else if p.eq_ignore_ascii_case(b"filename*") {
            starred += 1;
        }
    })
    .map_err(|quote| ExtractError::UnterminatedQuote {
        offset: start + quote,
    })?;
    if quoted_pair {
        summary.anomalies |= MultipartAnomalies::QUOTED_PAIR;
    }
    match names {
        0 => summary.anomalies |= MultipartAnomalies::MISSING_NAME,
        1 => {}
        _ => summary.anomalies |= MultipartAnomalies::DUPLICATE_NAME,
    }
    if filenames > 1 || starred > 1 {
        summary.anomalies |= MultipartAnomalies::DUPLICATE_FILENAME;
    }
    if filenames + starred > 0 {
        summary.files += 1;
    }
    // Cannot fail: the first pass parsed the same bytes.
    let _ = params(value, &mut |p, v| {
        if p.eq_ignore_ascii_case(b"name") {
            visit(FieldKind::MultipartName, v, v);
        } else if is_filename(p) {
            visit(FieldKind::MultipartFilename, field, v);
        }
    });
    Ok(field)
}

/// Calls `f(name, value)` for each parameter after the first `;` of a header
/// value (`form-data; name="a;b"; filename=x.txt`). Quoted values are given
/// without their quotes and may hold `;`; a backslash escapes the next byte
/// when looking for the closing quote but is left in the value. Whitespace,
/// including the CR/LF of a folded header, is allowed around names, `=` and
/// values. A parameter without `=` has an empty value. Returns whether a
/// quoted `\"` was seen, or the offset of an unterminated opening quote.
fn params<'a>(value: &'a [u8], f: &mut impl FnMut(&'a [u8], &'a [u8])) -> Result<bool, usize> {
    let Some(semi) = memchr(b';', value) else {
        return Ok(false);
    };
    let mut quoted_pair = false;
    let mut i = semi + 1;
    loop {
        i = skip_lws(value, i);
        match value.get(i) {
            None => return Ok(quoted_pair),
            Some(b';') => {
                i += 1;
                continue;
            }
            Some(_) => {}
        }
        let name_start = i;
        while !matches!(value.get(i), None | Some(b'=' | b';')) {
            i += 1;
        }
        let name = trim_end_lws(&value[name_start..i]);
        if value.get(i) != Some(&b'=') {
            f(name, &[]);
            continue;
        }
        i = skip_lws(value, i + 1);
        if value.get(i) == Some(&b'"') {
            let open = i;
            i += 1;
            let start = i;
            loop {
                let Some(n) = memchr2(b'"', b'\\', &value[i..]) else {
                    return Err(open);
                };
                let at = i + n;
                if value[at] == b'"' {
                    f(name, &value[start..at]);
                    i = at + 1;
                    break;
                }
                if value.get(at + 1) == Some(&b'"') {
                    quoted_pair = true;
                }
                i = value.len().min(at + 2);
            }
            // Bytes between the closing quote and the next `;` are ignored.
            match memchr(b';', &value[i..]) {
                Some(n) => i += n,
                None => return Ok(quoted_pair),
            }
        } else {
            let end = memchr(b';', &value[i..]).map_or(value.len(), |n| i + n);
            f(name, trim_end_lws(&value[i..end]));
            i = end;
        }
    }
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(|&b| is_lws(b)) {
        i += 1;
    }
    i
}

fn trim_end_lws(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(0, |i| i + 1);
    &s[..end]
}

/// `start..end` of `body` without surrounding spaces and tabs.
fn trim_range(body: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && matches!(body[start], b' ' | b'\t') {
        start += 1;
    }
    while end > start && matches!(body[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::alloc_count::allocations;
    use crate::extract::test_util::{field, fields, recorder, Field, Want};
    use proptest::prelude::*;
    use FieldKind::{
        MultipartFilename as F, MultipartHeader as H, MultipartName as N, MultipartValue as V,
    };
    use MultipartAnomalies as A;

    fn run(body: &str, b: &str) -> (Vec<Field>, Result<MultipartSummary, ExtractError>) {
        let mut out = Vec::new();
        let r = multipart(body.as_bytes(), b.as_bytes(), &mut recorder(&mut out));
        (out, r)
    }

    fn ok(
        parts: usize,
        files: usize,
        anomalies: MultipartAnomalies,
    ) -> Result<MultipartSummary, ExtractError> {
        Ok(MultipartSummary {
            parts,
            files,
            anomalies,
        })
    }

    const CD: &str = "Content-Disposition";

    fn file_and_text(nl: &str) -> String {
        [
            "preamble, ignored",
            "--XyZ",
            "Content-Disposition: form-data; name=\"comment\"",
            "",
            "hello <b>",
            "two lines",
            "--XyZ",
            "Content-Disposition: form-data; name=\"upload\"; filename=\"shell.php\"",
            "Content-Type: application/x-php",
            "",
            "<?php system($_GET['c']); ?>",
            "--XyZ--",
            "epilogue, ignored",
        ]
        .join(nl)
    }

    fn file_and_text_fields(nl: &str) -> Vec<Field> {
        vec![
            field(H, CD, "form-data; name=\"comment\""),
            field(N, "comment", "comment"),
            field(V, "comment", &format!("hello <b>{nl}two lines")),
            field(H, CD, "form-data; name=\"upload\"; filename=\"shell.php\""),
            field(H, "Content-Type", "application/x-php"),
            field(N, "upload", "upload"),
            field(F, "upload", "shell.php"),
            field(V, "upload", "<?php system($_GET['c']); ?>"),
        ]
    }

    #[test]
    fn file_part_and_text_part() {
        let (got, r) = run(&file_and_text("\r\n"), "XyZ");
        assert_eq!(got, file_and_text_fields("\r\n"));
        assert_eq!(r, ok(2, 1, A::default()));
    }

    #[test]
    fn lf_only_newlines_are_parsed_and_flagged() {
        let (got, r) = run(&file_and_text("\n"), "XyZ");
        assert_eq!(got, file_and_text_fields("\n"));
        assert_eq!(r, ok(2, 1, A::LF_ONLY));
    }

    #[test]
    fn quoted_boundary_from_content_type() {
        let ct = b"multipart/form-data; charset=utf-8; BOUNDARY=\"a b:c=d\"";
        let b = boundary(ct).expect("boundary");
        assert_eq!(b, b"a b:c=d");
        let body = "--a b:c=d\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--a b:c=d--";
        let mut out = Vec::new();
        let r = multipart(body.as_bytes(), b, &mut recorder(&mut out));
        assert_eq!(
            out,
            fields(&[(H, CD, "form-data; name=x"), (N, "x", "x"), (V, "x", "1")])
        );
        assert_eq!(r, ok(1, 0, A::default()));
    }

    #[test]
    fn boundary_parameter() {
        let long = "b".repeat(70);
        let too_long = "b".repeat(71);
        let cases: Vec<(String, Option<&str>)> = vec![
            ("multipart/form-data; boundary=abc".into(), Some("abc")),
            (
                "multipart/form-data;boundary=abc;charset=utf-8".into(),
                Some("abc"),
            ),
            ("multipart/form-data; Boundary = abc ".into(), Some("abc")),
            ("multipart/form-data; boundary=\"a;b\"".into(), Some("a;b")),
            (
                "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk".into(),
                Some("----WebKitFormBoundary7MA4YWxk"),
            ),
            // A `boundary=` inside another parameter's quotes is not the parameter.
            (
                "multipart/form-data; x=\"; boundary=evil\"; boundary=good".into(),
                Some("good"),
            ),
            (
                format!("multipart/form-data; boundary={long}"),
                Some(long.as_str()),
            ),
            (format!("multipart/form-data; boundary={too_long}"), None),
            ("multipart/form-data".into(), None),
            ("multipart/form-data; boundary=".into(), None),
            ("multipart/form-data; boundary=\"\"".into(), None),
            ("multipart/form-data; boundary".into(), None),
            ("multipart/form-data; boundary=\"abc".into(), None),
            // Twice: backends disagree on which wins.
            ("multipart/form-data; boundary=a; boundary=b".into(), None),
            ("multipart/form-data; boundary=\"a\\\"b\"".into(), None),
            ("multipart/form-data; boundary=\"a\rb\"".into(), None),
            ("boundary=abc".into(), None),
        ];
        for (ct, want) in &cases {
            assert_eq!(boundary(ct.as_bytes()), want.map(str::as_bytes), "{ct:?}");
        }
    }

    #[test]
    fn parts_and_parameters() {
        let cases: &[(&str, Want<'_>, MultipartAnomalies)] = &[
            // A quoted `;` stays in the name; parameter names are case-insensitive.
            (
                "--b\r\ncontent-disposition: form-data; NAME=\"a;b\"; FileName=x.txt\r\n\r\nv\r\n--b--",
                &[
                    (H, "content-disposition", "form-data; NAME=\"a;b\"; FileName=x.txt"),
                    (N, "a;b", "a;b"),
                    (F, "a;b", "x.txt"),
                    (V, "a;b", "v"),
                ],
                A(0),
            ),
            // `filename*` is reported raw; padding after the delimiter is allowed.
            (
                "--b \t\r\nContent-Disposition: form-data; name=f; filename*=UTF-8''%e2%82%ac.txt\r\n\r\n\r\n--b--\r\n",
                &[
                    (H, CD, "form-data; name=f; filename*=UTF-8''%e2%82%ac.txt"),
                    (N, "f", "f"),
                    (F, "f", "UTF-8''%e2%82%ac.txt"),
                    (V, "f", ""),
                ],
                A(0),
            ),
            // Whitespace around `=`, empty filename, a part body holding CRLFs and
            // a `--b` that does not start a line.
            (
                "--b\r\nContent-Disposition: form-data ; name = \"q\" ; filename=\"\"\r\n\r\n\r\na --b\r\n\r\n--b--",
                &[
                    (H, CD, "form-data ; name = \"q\" ; filename=\"\""),
                    (N, "q", "q"),
                    (F, "q", ""),
                    (V, "q", "\r\na --b\r\n"),
                ],
                A(0),
            ),
            // No headers at all: an unnamed part.
            ("--b\r\n\r\nraw\r\n--b--", &[(V, "", "raw")], A::MISSING_NAME),
            // The delimiter's line ending doubling as the headers' end.
            (
                "--b\r\nContent-Disposition: form-data; name=e\r\n\r\n--b--",
                &[(H, CD, "form-data; name=e"), (N, "e", "e"), (V, "e", "")],
                A(0),
            ),
            // Close delimiter right away: no parts.
            ("--b--\r\n", &[], A(0)),
            // Evasion tricks, parsed and flagged.
            (
                "--b\r\nContent-Disposition: form-data; name=\"x\"; filename=\"--b.php\"\r\n\r\n1\r\n--b--",
                &[
                    (H, CD, "form-data; name=\"x\"; filename=\"--b.php\""),
                    (N, "x", "x"),
                    (F, "x", "--b.php"),
                    (V, "x", "1"),
                ],
                A::BOUNDARY_IN_HEADER,
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=\"safe\"; name=\"evil\"\r\n\r\n1\r\n--b--",
                &[
                    (H, CD, "form-data; name=\"safe\"; name=\"evil\""),
                    (N, "safe", "safe"),
                    (N, "evil", "evil"),
                    (V, "evil", "1"),
                ],
                A::DUPLICATE_NAME,
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=f; filename=a.txt; filename=a.php\r\n\r\n1\r\n--b--",
                &[
                    (H, CD, "form-data; name=f; filename=a.txt; filename=a.php"),
                    (N, "f", "f"),
                    (F, "f", "a.txt"),
                    (F, "f", "a.php"),
                    (V, "f", "1"),
                ],
                A::DUPLICATE_FILENAME,
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=z\r\n\r\n1\r\n--b--",
                &[
                    (H, CD, "form-data; name=a"),
                    (H, CD, "form-data; name=z"),
                    (N, "a", "a"),
                    (V, "a", "1"),
                ],
                A::DUPLICATE_DISPOSITION,
            ),
            (
                "--b\r\nContent-Disposition: form-data;\r\n\tname=\"folded\"\r\n\r\n1\r\n--b--",
                &[
                    (H, CD, "form-data;\r\n\tname=\"folded\""),
                    (N, "folded", "folded"),
                    (V, "folded", "1"),
                ],
                A::FOLDED_HEADER,
            ),
            (
                "--b\r\nX-Empty:\r\n  late\r\nContent-Disposition: form-data; name=n\r\n\r\n1\r\n--b--",
                &[
                    (H, "X-Empty", "late"),
                    (H, CD, "form-data; name=n"),
                    (N, "n", "n"),
                    (V, "n", "1"),
                ],
                A::FOLDED_HEADER,
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=m\r\njunk line\r\n\r\n1\r\n--b--",
                &[
                    (H, CD, "form-data; name=m"),
                    (H, "", "junk line"),
                    (N, "m", "m"),
                    (V, "m", "1"),
                ],
                A::MALFORMED_HEADER,
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=s\r\n\r\n1\r\n--bogus\r\n2\r\n--b--",
                &[
                    (H, CD, "form-data; name=s"),
                    (N, "s", "s"),
                    (V, "s", "1\r\n--bogus\r\n2"),
                ],
                A::DELIMITER_SUFFIX,
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=\"a\\\"; filename=x.php\"\r\n\r\n1\r\n--b--",
                &[
                    (H, CD, "form-data; name=\"a\\\"; filename=x.php\""),
                    (N, "a\\\"; filename=x.php", "a\\\"; filename=x.php"),
                    (V, "a\\\"; filename=x.php", "1"),
                ],
                A::QUOTED_PAIR,
            ),
            (
                "--b\r\nContent-Type: text/plain\r\n\r\n1\r\n--b--",
                &[(H, "Content-Type", "text/plain"), (V, "", "1")],
                A::MISSING_NAME,
            ),
        ];
        for (body, want, anomalies) in cases {
            let (got, r) = run(body, "b");
            assert_eq!(got, fields(want), "{body:?}");
            assert_eq!(r.map(|s| s.anomalies), Ok(*anomalies), "{body:?}");
        }
    }

    #[test]
    fn binary_part_body_is_zero_copy() {
        let mut body =
            b"--b\r\nContent-Disposition: form-data; name=bin; filename=a\r\n\r\n".to_vec();
        let payload: Vec<u8> = (0..=255).collect();
        body.extend_from_slice(&payload);
        body.extend_from_slice(b"\r\n--b--\r\n");
        let mut value = None;
        let r = multipart(&body, b"b", &mut |k, _, v| {
            if k == V {
                value = Some(v.as_ptr() as usize - body.as_ptr() as usize);
                assert_eq!(v, &payload[..]);
            }
        });
        assert_eq!(r, ok(1, 1, A(0)));
        // The value is a slice of the body, not a copy.
        assert_eq!(value, Some(61));
    }

    #[test]
    fn errors() {
        use ExtractError::*;
        let long_line = format!(
            "--b\r\nX-Long: {}\r\n\r\n1\r\n--b--",
            "a".repeat(MAX_PART_HEADER_LINE)
        );
        let longest_ok = format!(
            "--b\r\nX-Long: {}\r\n\r\n1\r\n--b--",
            "a".repeat(MAX_PART_HEADER_LINE - 8)
        );
        let unterminated_long = format!("--b\r\nX-Long: {}", "a".repeat(2 * MAX_PART_HEADER_LINE));
        let cases: &[(&str, ExtractError, Want<'_>)] = &[
            ("no delimiter here", MissingBoundary { offset: 17 }, &[]),
            ("x--b\r\n", MissingBoundary { offset: 6 }, &[]),
            ("", MissingBoundary { offset: 0 }, &[]),
            // Cut short: the last part is reported up to the end.
            (
                "--b\r\nContent-Disposition: form-data; name=a\r\n\r\npartial",
                MissingClosingBoundary { offset: 54 },
                &[
                    (H, CD, "form-data; name=a"),
                    (N, "a", "a"),
                    (V, "a", "partial"),
                ],
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b\r\n",
                UnterminatedPartHeaders { offset: 55 },
                &[(H, CD, "form-data; name=a"), (N, "a", "a"), (V, "a", "1")],
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=a\r\n",
                UnterminatedPartHeaders { offset: 5 },
                &[(H, CD, "form-data; name=a")],
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=a",
                UnterminatedPartHeaders { offset: 5 },
                &[],
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=a\r\n--b--",
                UnterminatedPartHeaders { offset: 5 },
                &[(H, CD, "form-data; name=a")],
            ),
            (
                "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\n1\r\n--b--",
                UnterminatedQuote { offset: 42 },
                &[(H, CD, "form-data; name=\"a")],
            ),
            (
                long_line.as_str(),
                HeaderLineTooLong {
                    offset: 5,
                    max: MAX_PART_HEADER_LINE,
                },
                &[],
            ),
            (
                unterminated_long.as_str(),
                HeaderLineTooLong {
                    offset: 5,
                    max: MAX_PART_HEADER_LINE,
                },
                &[],
            ),
        ];
        for (body, want_err, want) in cases {
            let (got, r) = run(body, "b");
            assert_eq!(r, Err(*want_err), "{body:?}");
            assert_eq!(got, fields(want), "{body:?}");
        }
        assert!(run(&longest_ok, "b").1.is_ok());

        for b in ["", "a\r\nb", "x\n"] {
            assert_eq!(run("--b--", b).1, Err(InvalidBoundary { len: b.len() }));
        }
        let b71 = "b".repeat(71);
        assert_eq!(run("--b--", &b71).1, Err(InvalidBoundary { len: 71 }));
        let b70 = "b".repeat(70);
        assert_eq!(run(&format!("--{b70}--"), &b70).1, ok(0, 0, A(0)));
    }

    proptest! {
        #[test]
        fn any_bytes_no_panic_no_alloc(input in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut n = 0usize;
            let (r, allocs) = allocations(|| multipart(&input, b"b", &mut |_, _, _| n += 1));
            prop_assert_eq!(allocs, 0);
            if let Err(e) = r {
                prop_assert!(e.offset() <= input.len());
            }
            let (_, allocs) = allocations(|| boundary(&input));
            prop_assert_eq!(allocs, 0);
        }

        #[test]
        fn multipart_like_bytes_no_panic_no_alloc(pieces in prop::collection::vec(
            prop::sample::select(vec![
                "--b", "--b--", "\r\n", "\n", "\r", " ", "\t", "Content-Disposition: form-data",
                "; ", ";", "name=", "filename=", "filename*=", "\"", "\\", "x", ":", "=", "\r\n\r\n",
            ]),
            0..64,
        )) {
            let input = pieces.concat();
            let mut n = 0usize;
            let (r, allocs) = allocations(|| {
                multipart(input.as_bytes(), b"b", &mut |_, _, _| n += 1)
            });
            prop_assert_eq!(allocs, 0);
            if let Err(e) = r {
                prop_assert!(e.offset() <= input.len());
            }
        }

        #[test]
        fn rendered_forms_report_their_fields(
            parts in prop::collection::vec(
                ("[a-z0-9_;. \\[\\]]{0,8}", prop::option::of("[a-zA-Z0-9_. ]{0,8}"), "[a-zA-Z0-9 <>'\"=;:/\\\\\r\n]{0,32}"),
                0..5,
            ),
            crlf in any::<bool>(),
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let b = "----bound4ry";
            let mut body = String::from("preamble");
            let mut want = Vec::new();
            for (name, filename, value) in &parts {
                // The boundary cannot occur in a value: `-` is not in their alphabet.
                let mut cd = format!("form-data; name=\"{name}\"");
                if let Some(f) = filename {
                    cd.push_str(&format!("; filename=\"{f}\""));
                }
                body.push_str(&format!("{nl}--{b}{nl}Content-Disposition: {cd}{nl}{nl}{value}"));
                want.push(field(H, CD, &cd));
                want.push(field(N, name, name));
                if let Some(f) = filename {
                    want.push(field(F, name, f));
                }
                // With LF line endings, a CR ending the value is read as part of a
                // CRLF before the delimiter.
                let value = if crlf { value } else { value.strip_suffix('\r').unwrap_or(value) };
                want.push(field(V, name, value));
            }
            body.push_str(&format!("{nl}--{b}--{nl}epilogue"));
            let (got, r) = run(&body, b);
            prop_assert_eq!(got, want);
            let files = parts.iter().filter(|p| p.1.is_some()).count();
            let anomalies = if crlf { A(0) } else { A::LF_ONLY };
            prop_assert_eq!(r, ok(parts.len(), files, anomalies));
        }
    }
}
