//! Streaming JSON tokenizer: reports keys and scalar values without building a tree.

use memchr::memchr2;

use super::ExtractError;
use crate::FieldKind;

/// Counts from one successful [`json`] run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonSummary {
    /// Object keys reported (as [`FieldKind::JsonKey`]).
    pub keys: usize,
    /// Strings, numbers and literals reported (as [`FieldKind::JsonValue`]).
    pub values: usize,
    /// Deepest container nesting seen (0 for a top-level scalar).
    pub max_depth: usize,
    /// `NaN`, `Infinity` and `-Infinity` tokens accepted although RFC 8259
    /// forbids them (see [`json`]): an anomaly a policy may act on.
    pub nonstandard: usize,
}

/// Caller-owned scratch for [`json`]: sized once, reused for every request,
/// never grown (limits are errors instead).
#[derive(Debug)]
pub struct JsonScratch {
    /// The current key when it had escapes (decoded).
    key: Vec<u8>,
    /// The current string value when it had escapes (decoded).
    value: Vec<u8>,
    /// Decoded copies of the escaped keys that open arrays still open, so the
    /// arrays' values can be named after a nested object reused `key`.
    names: Vec<u8>,
    /// Open containers, innermost last.
    frames: Vec<Frame>,
    max_value: usize,
    max_depth: usize,
}

/// One open container.
#[derive(Clone, Copy, Debug)]
struct Frame {
    array: bool,
    /// For arrays, the name their values are reported under.
    name: Name,
    /// `names.len()` before this frame copied its name there.
    names_mark: usize,
}

/// Where the name for the next value lives. Unescaped keys are never copied:
/// they are named by their range in the input.
#[derive(Clone, Copy, Debug)]
enum Name {
    Input(usize, usize),
    Names(usize, usize),
    /// The decoded key in `JsonScratch::key`; only valid until the next key, so
    /// never stored in a frame.
    Key,
}

const NO_NAME: Name = Name::Input(0, 0);

impl JsonScratch {
    /// Scratch for documents whose keys and values are at most
    /// `max_value_bytes` long (after decoding) and whose containers nest at
    /// most `max_depth` deep.
    pub fn with_capacity(max_value_bytes: usize, max_depth: usize) -> JsonScratch {
        JsonScratch {
            key: Vec::with_capacity(max_value_bytes),
            value: Vec::with_capacity(max_value_bytes),
            names: Vec::with_capacity(max_value_bytes),
            frames: Vec::with_capacity(max_depth),
            max_value: max_value_bytes,
            max_depth,
        }
    }

    /// The longest key or value (decoded) that fits.
    pub fn max_value_bytes(&self) -> usize {
        self.max_value
    }

    /// The deepest container nesting accepted.
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    fn name<'a>(&'a self, input: &'a [u8], name: Name) -> &'a [u8] {
        match name {
            Name::Input(s, e) => &input[s..e],
            Name::Names(s, e) => &self.names[s..e],
            Name::Key => &self.key,
        }
    }

    fn push(&mut self, offset: usize, array: bool, name: Name) -> Result<(), ExtractError> {
        if self.frames.len() >= self.max_depth {
            return Err(ExtractError::TooDeep {
                offset,
                max: self.max_depth,
            });
        }
        let names_mark = self.names.len();
        // Arrays keep a decoded key of their own: the key buffer is reused by
        // the first object nested in them.
        let name = match name {
            _ if !array => NO_NAME,
            Name::Key => {
                if self.key.len() > self.max_value - names_mark {
                    return Err(ExtractError::NamesTooLong {
                        offset,
                        max: self.max_value,
                    });
                }
                self.names.extend_from_slice(&self.key);
                Name::Names(names_mark, self.names.len())
            }
            other => other,
        };
        self.frames.push(Frame {
            array,
            name,
            names_mark,
        });
        Ok(())
    }

    fn pop(&mut self) {
        if let Some(frame) = self.frames.pop() {
            self.names.truncate(frame.names_mark);
        }
    }

    /// Parses `"key" :` at `pos`, reports the key, and returns the position of
    /// its value and its name.
    fn key(
        &mut self,
        input: &[u8],
        pos: usize,
        summary: &mut JsonSummary,
        visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
    ) -> Result<(usize, Name), ExtractError> {
        match input.get(pos) {
            Some(b'"') => {}
            Some(&found) => {
                return Err(ExtractError::UnexpectedByte {
                    offset: pos,
                    found,
                    expected: "'\"' starting an object key",
                })
            }
            None => {
                return Err(ExtractError::UnexpectedEnd {
                    offset: pos,
                    expected: "'\"' starting an object key",
                })
            }
        }
        let (end, decoded) = string(input, pos, &mut self.key, self.max_value)?;
        let name = if decoded {
            Name::Key
        } else {
            Name::Input(pos + 1, end - 1)
        };
        let key = self.name(input, name);
        visit(FieldKind::JsonKey, key, key);
        summary.keys += 1;
        let colon = skip_ws(input, end);
        match input.get(colon) {
            Some(b':') => Ok((skip_ws(input, colon + 1), name)),
            Some(&found) => Err(ExtractError::UnexpectedByte {
                offset: colon,
                found,
                expected: "':' after an object key",
            }),
            None => Err(ExtractError::UnexpectedEnd {
                offset: colon,
                expected: "':' after an object key",
            }),
        }
    }
}

/// Reports every object key of the JSON document `input` as a
/// [`FieldKind::JsonKey`] (name: the key) and every string, number, `true`,
/// `false` and `null` as a [`FieldKind::JsonValue`].
///
/// Names: a value in an object is named by its key; a value in an array by the
/// key the array was opened under (arrays in arrays inherit it); a value
/// outside any object (top-level scalar, top-level array) by the empty name.
/// Strings are reported with all escapes decoded (`\u003c` becomes `<`,
/// surrogate pairs become one UTF-8 character) but otherwise as they are (no
/// UTF-8 validation). Numbers and literals are reported as their raw text
/// (`-1.5e3`, `true`, `null`). Containers themselves are not reported.
///
/// The grammar is RFC 8259's, with two deliberate leniencies, both because
/// widely used backend parsers accept them and stopping there would let an
/// attacker end extraction early: raw control bytes inside strings are
/// accepted, and `NaN`, `Infinity`, `-Infinity` are accepted as values
/// (counted in [`JsonSummary::nonstandard`]). A leading UTF-8 BOM is skipped.
///
/// On malformed input the error says where and what was expected; every key
/// and value completed before it has been reported (an unterminated string is
/// not). Limits are errors, never growth: a key or value longer than
/// [`JsonScratch::max_value_bytes`], nesting deeper than
/// [`JsonScratch::max_depth`].
pub fn json(
    input: &[u8],
    scratch: &mut JsonScratch,
    visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
) -> Result<JsonSummary, ExtractError> {
    scratch.key.clear();
    scratch.value.clear();
    scratch.names.clear();
    scratch.frames.clear();
    let mut summary = JsonSummary::default();
    let bom = if input.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut pos = skip_ws(input, bom);
    let mut name = NO_NAME;
    // One iteration per value: containers push a frame and `continue` to their
    // first member instead of recursing, so depth costs frames, not stack.
    'value: loop {
        let Some(&b) = input.get(pos) else {
            return Err(ExtractError::UnexpectedEnd {
                offset: pos,
                expected: "a JSON value",
            });
        };
        match b {
            b'{' => {
                scratch.push(pos, false, name)?;
                summary.max_depth = summary.max_depth.max(scratch.frames.len());
                pos = skip_ws(input, pos + 1);
                if input.get(pos) == Some(&b'}') {
                    scratch.pop();
                    pos += 1;
                } else {
                    (pos, name) = scratch.key(input, pos, &mut summary, visit)?;
                    continue 'value;
                }
            }
            b'[' => {
                scratch.push(pos, true, name)?;
                summary.max_depth = summary.max_depth.max(scratch.frames.len());
                pos = skip_ws(input, pos + 1);
                if input.get(pos) == Some(&b']') {
                    scratch.pop();
                    pos += 1;
                } else {
                    name = scratch.frames.last().map_or(NO_NAME, |f| f.name);
                    continue 'value;
                }
            }
            b'"' => {
                let (end, decoded) = string(input, pos, &mut scratch.value, scratch.max_value)?;
                let value = if decoded {
                    &scratch.value[..]
                } else {
                    &input[pos + 1..end - 1]
                };
                visit(FieldKind::JsonValue, scratch.name(input, name), value);
                summary.values += 1;
                pos = end;
            }
            _ => {
                let end = scalar(input, pos, &mut summary)?;
                if end - pos > scratch.max_value {
                    return Err(ExtractError::ValueTooLong {
                        offset: pos,
                        max: scratch.max_value,
                    });
                }
                visit(
                    FieldKind::JsonValue,
                    scratch.name(input, name),
                    &input[pos..end],
                );
                summary.values += 1;
                pos = end;
            }
        }
        // A value is complete: close containers until one has a next member.
        loop {
            pos = skip_ws(input, pos);
            let Some(top) = scratch.frames.last().copied() else {
                if pos == input.len() {
                    return Ok(summary);
                }
                return Err(ExtractError::TrailingData { offset: pos });
            };
            let (close, wrong, expected) = if top.array {
                (b']', b'}', "',' or ']'")
            } else {
                (b'}', b']', "',' or '}'")
            };
            match input.get(pos) {
                Some(b',') => {
                    pos = skip_ws(input, pos + 1);
                    if top.array {
                        name = top.name;
                    } else {
                        (pos, name) = scratch.key(input, pos, &mut summary, visit)?;
                    }
                    continue 'value;
                }
                Some(&c) if c == close => {
                    scratch.pop();
                    pos += 1;
                }
                Some(&c) if c == wrong => {
                    return Err(ExtractError::MismatchedBracket {
                        offset: pos,
                        expected: char::from(close),
                    })
                }
                Some(&found) => {
                    return Err(ExtractError::UnexpectedByte {
                        offset: pos,
                        found,
                        expected,
                    })
                }
                None => {
                    return Err(ExtractError::UnexpectedEnd {
                        offset: pos,
                        expected,
                    })
                }
            }
        }
    }
}

/// The first index at or after `pos` that is not JSON whitespace.
fn skip_ws(input: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = input.get(pos) {
        pos += 1;
    }
    pos
}

/// Scans the string whose opening quote is at `open`. Returns the index after
/// the closing quote and whether the content had escapes: if so it is decoded
/// into `buf`, otherwise it is the raw input between the quotes.
fn string(
    input: &[u8],
    open: usize,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(usize, bool), ExtractError> {
    let start = open + 1;
    let unterminated = ExtractError::UnterminatedString { offset: open };
    // Fast path: most strings have no escape, so one memchr finds the end.
    let mut i = match memchr2(b'"', b'\\', &input[start..]) {
        Some(n) => start + n,
        None => return Err(unterminated),
    };
    if input[i] == b'"' {
        if i - start > max {
            return Err(ExtractError::ValueTooLong { offset: open, max });
        }
        return Ok((i + 1, false));
    }
    buf.clear();
    append(buf, &input[start..i], max, open)?;
    loop {
        i = escape(input, i, buf, max, open)?;
        let n = match memchr2(b'"', b'\\', &input[i..]) {
            Some(n) => n,
            None => return Err(unterminated),
        };
        append(buf, &input[i..i + n], max, open)?;
        i += n;
        if input[i] == b'"' {
            return Ok((i + 1, true));
        }
    }
}

/// Appends without ever growing `buf` past `max` (its pre-sized capacity).
fn append(buf: &mut Vec<u8>, bytes: &[u8], max: usize, open: usize) -> Result<(), ExtractError> {
    if bytes.len() > max - buf.len() {
        return Err(ExtractError::ValueTooLong { offset: open, max });
    }
    buf.extend_from_slice(bytes);
    Ok(())
}

/// Decodes the escape whose backslash is at `bs` into `buf`; returns the index
/// after it (never past the end of `input`).
fn escape(
    input: &[u8],
    bs: usize,
    buf: &mut Vec<u8>,
    max: usize,
    open: usize,
) -> Result<usize, ExtractError> {
    let Some(&c) = input.get(bs + 1) else {
        return Err(ExtractError::UnterminatedString { offset: open });
    };
    let byte = match c {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => {
            let unit = hex4(input, bs, open)?;
            let (code, next) = match unit {
                0xD800..=0xDBFF => match (input.get(bs + 6), input.get(bs + 7)) {
                    (Some(b'\\'), Some(b'u')) => {
                        let low = hex4(input, bs + 6, open)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(ExtractError::LoneSurrogate { offset: bs });
                        }
                        (0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), bs + 12)
                    }
                    (None, _) | (Some(b'\\'), None) => {
                        return Err(ExtractError::UnterminatedString { offset: open })
                    }
                    _ => return Err(ExtractError::LoneSurrogate { offset: bs }),
                },
                0xDC00..=0xDFFF => return Err(ExtractError::LoneSurrogate { offset: bs }),
                _ => (unit, bs + 6),
            };
            // Never `None`: surrogates were handled above and pairs stay below 0x110000.
            let Some(ch) = char::from_u32(code) else {
                return Err(ExtractError::LoneSurrogate { offset: bs });
            };
            append(buf, ch.encode_utf8(&mut [0; 4]).as_bytes(), max, open)?;
            return Ok(next);
        }
        _ => return Err(ExtractError::InvalidEscape { offset: bs }),
    };
    append(buf, &[byte], max, open)?;
    Ok(bs + 2)
}

/// The four hex digits after the `\u` whose backslash is at `bs`.
fn hex4(input: &[u8], bs: usize, open: usize) -> Result<u32, ExtractError> {
    let mut unit = 0;
    for i in bs + 2..bs + 6 {
        let Some(&h) = input.get(i) else {
            return Err(ExtractError::UnterminatedString { offset: open });
        };
        let digit = match h {
            b'0'..=b'9' => h - b'0',
            b'a'..=b'f' => h - b'a' + 10,
            b'A'..=b'F' => h - b'A' + 10,
            _ => return Err(ExtractError::InvalidEscape { offset: bs }),
        };
        unit = unit << 4 | u32::from(digit);
    }
    Ok(unit)
}

/// Validates the number or literal at `pos` and returns its end, which must be
/// followed by a delimiter (so `truex` and `01` are errors, not two tokens).
fn scalar(input: &[u8], pos: usize, summary: &mut JsonSummary) -> Result<usize, ExtractError> {
    let end = match input[pos] {
        b't' => literal(input, pos, b"true", "`true`")?,
        b'f' => literal(input, pos, b"false", "`false`")?,
        b'n' => literal(input, pos, b"null", "`null`")?,
        b'N' => {
            summary.nonstandard += 1;
            literal(input, pos, b"NaN", "`NaN`")?
        }
        b'I' => {
            summary.nonstandard += 1;
            literal(input, pos, b"Infinity", "`Infinity`")?
        }
        b'-' if input.get(pos + 1) == Some(&b'I') => {
            summary.nonstandard += 1;
            literal(input, pos, b"-Infinity", "`-Infinity`")?
        }
        b'-' | b'0'..=b'9' => number(input, pos)?,
        found => {
            return Err(ExtractError::UnexpectedByte {
                offset: pos,
                found,
                expected: "a JSON value",
            })
        }
    };
    match input.get(end) {
        None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}') => Ok(end),
        Some(&found) => Err(ExtractError::UnexpectedByte {
            offset: end,
            found,
            expected: "',', ']', '}' or whitespace after a value",
        }),
    }
}

/// Matches `word` at `pos`; returns its end.
fn literal(
    input: &[u8],
    pos: usize,
    word: &[u8],
    expected: &'static str,
) -> Result<usize, ExtractError> {
    for (i, &want) in word.iter().enumerate() {
        match input.get(pos + i) {
            Some(&b) if b == want => {}
            Some(&found) => {
                return Err(ExtractError::UnexpectedByte {
                    offset: pos + i,
                    found,
                    expected,
                })
            }
            None => {
                return Err(ExtractError::UnexpectedEnd {
                    offset: pos + i,
                    expected,
                })
            }
        }
    }
    Ok(pos + word.len())
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` at `pos`; returns its end.
fn number(input: &[u8], pos: usize) -> Result<usize, ExtractError> {
    let mut i = pos;
    if input.get(i) == Some(&b'-') {
        i += 1;
    }
    match input.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(input, i + 1),
        _ => return no_digit(input, i),
    }
    if input.get(i) == Some(&b'.') {
        i += 1;
        if !matches!(input.get(i), Some(b'0'..=b'9')) {
            return no_digit(input, i);
        }
        i = digits(input, i);
    }
    if let Some(b'e' | b'E') = input.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = input.get(i) {
            i += 1;
        }
        if !matches!(input.get(i), Some(b'0'..=b'9')) {
            return no_digit(input, i);
        }
        i = digits(input, i);
    }
    Ok(i)
}

fn digits(input: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = input.get(i) {
        i += 1;
    }
    i
}

fn no_digit(input: &[u8], i: usize) -> Result<usize, ExtractError> {
    Err(match input.get(i) {
        Some(&found) => ExtractError::UnexpectedByte {
            offset: i,
            found,
            expected: "a digit",
        },
        None => ExtractError::UnexpectedEnd {
            offset: i,
            expected: "a digit",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::alloc_count::allocations;
    use crate::extract::test_util::{field, fields, recorder, Field, Want};
    use proptest::prelude::*;
    use FieldKind::{JsonKey as K, JsonValue as V};

    fn run_with(
        input: &[u8],
        scratch: &mut JsonScratch,
    ) -> (Vec<Field>, Result<JsonSummary, ExtractError>) {
        let mut out = Vec::new();
        let r = json(input, scratch, &mut recorder(&mut out));
        (out, r)
    }

    fn run(input: &[u8]) -> (Vec<Field>, Result<JsonSummary, ExtractError>) {
        run_with(input, &mut JsonScratch::with_capacity(1024, 32))
    }

    #[test]
    fn strings_end_and_escape_at_every_length() {
        for len in 0..40 {
            let plain = "x".repeat(len);
            let doc = format!(r#"{{"k":"{plain}"}}"#);
            let (got, r) = run(doc.as_bytes());
            assert!(r.is_ok(), "{doc}: {r:?}");
            assert_eq!(
                got,
                vec![field(K, "k", "k"), field(V, "k", &plain)],
                "{doc}"
            );
            // An escape at every position, and an unterminated string.
            for at in 0..len {
                let (a, b) = plain.split_at(at);
                let doc = format!(r#"{{"k":"{a}\"{b}"}}"#);
                let (got, r) = run(doc.as_bytes());
                assert!(r.is_ok(), "{doc}: {r:?}");
                let want = format!("{a}\"{b}");
                assert_eq!(got[1], field(V, "k", &want), "{doc}");
            }
            let doc = format!(r#"{{"k":"{plain}"#);
            assert!(run(doc.as_bytes()).1.is_err(), "{doc}");
        }
    }

    #[test]
    fn documents() {
        let cases: &[(&str, Want<'_>)] = &[
            (r#"{"a":"b"}"#, &[(K, "a", "a"), (V, "a", "b")]),
            // Unicode escapes are decoded: the evasion signatures must see through.
            (
                r#"{"q":"\u003cscript\u003e"}"#,
                &[(K, "q", "q"), (V, "q", "<script>")],
            ),
            (r#"{"\u0071":"x"}"#, &[(K, "q", "q"), (V, "q", "x")]),
            // Top-level scalars and arrays have the empty name.
            (r#""top""#, &[(V, "", "top")]),
            ("42", &[(V, "", "42")]),
            (
                r#"[1,"x",true,false,null]"#,
                &[
                    (V, "", "1"),
                    (V, "", "x"),
                    (V, "", "true"),
                    (V, "", "false"),
                    (V, "", "null"),
                ],
            ),
            // Numbers and literals are their raw text.
            (
                r#"{"n":-0,"f":1.5e-3,"z":0.0,"E":1E+2,"b":true}"#,
                &[
                    (K, "n", "n"),
                    (V, "n", "-0"),
                    (K, "f", "f"),
                    (V, "f", "1.5e-3"),
                    (K, "z", "z"),
                    (V, "z", "0.0"),
                    (K, "E", "E"),
                    (V, "E", "1E+2"),
                    (K, "b", "b"),
                    (V, "b", "true"),
                ],
            ),
            // Array values are named by the key the array was opened under, also
            // in nested arrays and after a nested object closed.
            (
                r#"{"a":[1,[2,{"b":3}],4],"c":{"d":null}}"#,
                &[
                    (K, "a", "a"),
                    (V, "a", "1"),
                    (V, "a", "2"),
                    (K, "b", "b"),
                    (V, "b", "3"),
                    (V, "a", "4"),
                    (K, "c", "c"),
                    (K, "d", "d"),
                    (V, "d", "null"),
                ],
            ),
            // Keys inside arrays of objects.
            (
                r#"{"users":[{"name":"x","roles":["admin","ops"]},{"name":"y"}]}"#,
                &[
                    (K, "users", "users"),
                    (K, "name", "name"),
                    (V, "name", "x"),
                    (K, "roles", "roles"),
                    (V, "roles", "admin"),
                    (V, "roles", "ops"),
                    (K, "name", "name"),
                    (V, "name", "y"),
                ],
            ),
            // An escaped key naming an array survives the nested object's keys.
            (
                r#"{"k\u0065y":[{"x\u0041":"1"},"v",["w"]],"z":2}"#,
                &[
                    (K, "key", "key"),
                    (K, "xA", "xA"),
                    (V, "xA", "1"),
                    (V, "key", "v"),
                    (V, "key", "w"),
                    (K, "z", "z"),
                    (V, "z", "2"),
                ],
            ),
            // Surrogate pairs become one UTF-8 character; BMP escapes too.
            (
                r#"{"e":"\ud83d\ude00 \u00e9\u20AC"}"#,
                &[(K, "e", "e"), (V, "e", "😀 é€")],
            ),
            (
                r#"["\"\\\/\b\f\n\r\t"]"#,
                &[(V, "", "\"\\/\u{8}\u{c}\n\r\t")],
            ),
            (r#"["\u0000"]"#, &[(V, "", "\0")]),
            // Empty containers report nothing themselves.
            ("{}", &[]),
            ("[]", &[]),
            (
                r#"{"a":{},"b":[],"c":[[]]}"#,
                &[(K, "a", "a"), (K, "b", "b"), (K, "c", "c")],
            ),
            // Whitespace everywhere, a BOM in front.
            (
                "\u{feff} \t\r\n{ \"a\" \n:\t[ 1 , \"x\" ] } \n",
                &[(K, "a", "a"), (V, "a", "1"), (V, "a", "x")],
            ),
            // Duplicate keys are all reported.
            (
                r#"{"id":1,"id":2}"#,
                &[
                    (K, "id", "id"),
                    (V, "id", "1"),
                    (K, "id", "id"),
                    (V, "id", "2"),
                ],
            ),
            // Empty keys and strings.
            (r#"{"":""}"#, &[(K, "", ""), (V, "", "")]),
            // Raw control bytes in strings are accepted (see `json`).
            ("[\"a\tb\nc\"]", &[(V, "", "a\tb\nc")]),
        ];
        for (input, want) in cases {
            let (got, r) = run(input.as_bytes());
            assert!(r.is_ok(), "{input:?}: {r:?}");
            assert_eq!(got, fields(want), "{input:?}");
        }
    }

    #[test]
    fn summary_counts() {
        let (_, r) = run(br#"{"a":[1,{"b":[[2]]}],"c":"d"}"#);
        assert_eq!(
            r,
            Ok(JsonSummary {
                keys: 3,
                values: 3,
                max_depth: 5,
                nonstandard: 0
            })
        );
        let (_, r) = run(b"7");
        assert_eq!(
            r,
            Ok(JsonSummary {
                keys: 0,
                values: 1,
                max_depth: 0,
                nonstandard: 0
            })
        );
    }

    #[test]
    fn nonstandard_numbers_are_accepted_and_counted() {
        let (got, r) = run(br#"{"a":NaN,"b":[Infinity,-Infinity]}"#);
        assert_eq!(
            got,
            fields(&[
                (K, "a", "a"),
                (V, "a", "NaN"),
                (K, "b", "b"),
                (V, "b", "Infinity"),
                (V, "b", "-Infinity"),
            ])
        );
        assert_eq!(r.map(|s| s.nonstandard), Ok(3));
    }

    #[test]
    fn bytes_are_not_validated_as_utf8() {
        let mut got = Vec::new();
        let r = json(
            b"{\"\xff\":\"\xc0\xaf\"}",
            &mut JsonScratch::with_capacity(16, 4),
            &mut |k, n, v| got.push((k, n.to_vec(), v.to_vec())),
        );
        assert!(r.is_ok());
        assert_eq!(
            got,
            vec![
                (K, b"\xff".to_vec(), b"\xff".to_vec()),
                (V, b"\xff".to_vec(), b"\xc0\xaf".to_vec())
            ]
        );
    }

    #[test]
    fn errors() {
        use ExtractError::*;
        let delim = "',', ']', '}' or whitespace after a value";
        let key = "'\"' starting an object key";
        let cases: &[(&str, ExtractError, Want<'_>)] = &[
            (
                "",
                UnexpectedEnd {
                    offset: 0,
                    expected: "a JSON value",
                },
                &[],
            ),
            (
                "  \n",
                UnexpectedEnd {
                    offset: 3,
                    expected: "a JSON value",
                },
                &[],
            ),
            // Unterminated strings are not reported; what came before is.
            (
                r#"{"a":"b"#,
                UnterminatedString { offset: 5 },
                &[(K, "a", "a")],
            ),
            (r#"{"a"#, UnterminatedString { offset: 1 }, &[]),
            (r#"["a\"]"#, UnterminatedString { offset: 1 }, &[]),
            (r#"["a\"#, UnterminatedString { offset: 1 }, &[]),
            (r#"["\u12"#, UnterminatedString { offset: 1 }, &[]),
            (r#"["\ud800"#, UnterminatedString { offset: 1 }, &[]),
            (r#"["\ud800\"#, UnterminatedString { offset: 1 }, &[]),
            (r#"["\ud800\udc"#, UnterminatedString { offset: 1 }, &[]),
            // Bad escapes stop at the backslash.
            (
                r#"["ok","a\x"]"#,
                InvalidEscape { offset: 8 },
                &[(V, "", "ok")],
            ),
            (r#"["\u12G4"]"#, InvalidEscape { offset: 2 }, &[]),
            (r#"["\U0041"]"#, InvalidEscape { offset: 2 }, &[]),
            (r#"["\'"]"#, InvalidEscape { offset: 2 }, &[]),
            (r#"["\ud800\uzzzz"]"#, InvalidEscape { offset: 8 }, &[]),
            // Lone surrogates.
            (r#"["\ud800"]"#, LoneSurrogate { offset: 2 }, &[]),
            (r#"["\udc00"]"#, LoneSurrogate { offset: 2 }, &[]),
            (r#"["\ud800\u0041"]"#, LoneSurrogate { offset: 2 }, &[]),
            (r#"["\ud800\ud800"]"#, LoneSurrogate { offset: 2 }, &[]),
            (r#"["\ud800\n"]"#, LoneSurrogate { offset: 2 }, &[]),
            (r#"["x\ud800y"]"#, LoneSurrogate { offset: 3 }, &[]),
            // Mismatched brackets.
            (
                "[1}",
                MismatchedBracket {
                    offset: 2,
                    expected: ']',
                },
                &[(V, "", "1")],
            ),
            (
                r#"{"a":1]"#,
                MismatchedBracket {
                    offset: 6,
                    expected: '}',
                },
                &[(K, "a", "a"), (V, "a", "1")],
            ),
            (
                "[[]}",
                MismatchedBracket {
                    offset: 3,
                    expected: ']',
                },
                &[],
            ),
            // Trailing garbage.
            (
                r#"{"a":1} x"#,
                TrailingData { offset: 8 },
                &[(K, "a", "a"), (V, "a", "1")],
            ),
            ("1 2", TrailingData { offset: 2 }, &[(V, "", "1")]),
            ("[]]", TrailingData { offset: 2 }, &[]),
            ("{}{}", TrailingData { offset: 2 }, &[]),
            // Bad tokens.
            (
                "[1,]",
                UnexpectedByte {
                    offset: 3,
                    found: b']',
                    expected: "a JSON value",
                },
                &[(V, "", "1")],
            ),
            (
                "[,1]",
                UnexpectedByte {
                    offset: 1,
                    found: b',',
                    expected: "a JSON value",
                },
                &[],
            ),
            (
                r#"{"a":1,}"#,
                UnexpectedByte {
                    offset: 7,
                    found: b'}',
                    expected: key,
                },
                &[(K, "a", "a"), (V, "a", "1")],
            ),
            (
                "{a:1}",
                UnexpectedByte {
                    offset: 1,
                    found: b'a',
                    expected: key,
                },
                &[],
            ),
            (
                r#"{"a" 1}"#,
                UnexpectedByte {
                    offset: 5,
                    found: b'1',
                    expected: "':' after an object key",
                },
                &[(K, "a", "a")],
            ),
            (
                r#"{"a":}"#,
                UnexpectedByte {
                    offset: 5,
                    found: b'}',
                    expected: "a JSON value",
                },
                &[(K, "a", "a")],
            ),
            (
                "[1 2]",
                UnexpectedByte {
                    offset: 3,
                    found: b'2',
                    expected: "',' or ']'",
                },
                &[(V, "", "1")],
            ),
            (
                r#"{"a":1 "b":2}"#,
                UnexpectedByte {
                    offset: 7,
                    found: b'"',
                    expected: "',' or '}'",
                },
                &[(K, "a", "a"), (V, "a", "1")],
            ),
            (
                "trux",
                UnexpectedByte {
                    offset: 3,
                    found: b'x',
                    expected: "`true`",
                },
                &[],
            ),
            (
                "nul",
                UnexpectedEnd {
                    offset: 3,
                    expected: "`null`",
                },
                &[],
            ),
            (
                "[fals]",
                UnexpectedByte {
                    offset: 5,
                    found: b']',
                    expected: "`false`",
                },
                &[],
            ),
            (
                "[truex]",
                UnexpectedByte {
                    offset: 5,
                    found: b'x',
                    expected: delim,
                },
                &[],
            ),
            (
                "[01]",
                UnexpectedByte {
                    offset: 2,
                    found: b'1',
                    expected: delim,
                },
                &[],
            ),
            (
                "[1\"a\"]",
                UnexpectedByte {
                    offset: 2,
                    found: b'"',
                    expected: delim,
                },
                &[],
            ),
            (
                "[-]",
                UnexpectedByte {
                    offset: 2,
                    found: b']',
                    expected: "a digit",
                },
                &[],
            ),
            (
                "-",
                UnexpectedEnd {
                    offset: 1,
                    expected: "a digit",
                },
                &[],
            ),
            (
                "1.",
                UnexpectedEnd {
                    offset: 2,
                    expected: "a digit",
                },
                &[],
            ),
            (
                "1.e3",
                UnexpectedByte {
                    offset: 2,
                    found: b'e',
                    expected: "a digit",
                },
                &[],
            ),
            (
                "1e",
                UnexpectedEnd {
                    offset: 2,
                    expected: "a digit",
                },
                &[],
            ),
            (
                "1e+",
                UnexpectedEnd {
                    offset: 3,
                    expected: "a digit",
                },
                &[],
            ),
            (
                ".5",
                UnexpectedByte {
                    offset: 0,
                    found: b'.',
                    expected: "a JSON value",
                },
                &[],
            ),
            (
                "+1",
                UnexpectedByte {
                    offset: 0,
                    found: b'+',
                    expected: "a JSON value",
                },
                &[],
            ),
            (
                "'a'",
                UnexpectedByte {
                    offset: 0,
                    found: b'\'',
                    expected: "a JSON value",
                },
                &[],
            ),
            (
                "-Inf",
                UnexpectedEnd {
                    offset: 4,
                    expected: "`-Infinity`",
                },
                &[],
            ),
            // Truncated documents (a body cut at the inspection limit).
            (
                "[1",
                UnexpectedEnd {
                    offset: 2,
                    expected: "',' or ']'",
                },
                &[(V, "", "1")],
            ),
            (
                r#"{"a":1"#,
                UnexpectedEnd {
                    offset: 6,
                    expected: "',' or '}'",
                },
                &[(K, "a", "a"), (V, "a", "1")],
            ),
            (
                r#"{"a":"#,
                UnexpectedEnd {
                    offset: 5,
                    expected: "a JSON value",
                },
                &[(K, "a", "a")],
            ),
            (
                r#"{"a""#,
                UnexpectedEnd {
                    offset: 4,
                    expected: "':' after an object key",
                },
                &[(K, "a", "a")],
            ),
            (
                "{",
                UnexpectedEnd {
                    offset: 1,
                    expected: key,
                },
                &[],
            ),
            (
                "[",
                UnexpectedEnd {
                    offset: 1,
                    expected: "a JSON value",
                },
                &[],
            ),
        ];
        for (input, want_err, want) in cases {
            let (got, r) = run(input.as_bytes());
            assert_eq!(r, Err(*want_err), "{input:?}");
            assert_eq!(got, fields(want), "{input:?}");
        }
    }

    #[test]
    fn depth_limit() {
        let mut s = JsonScratch::with_capacity(64, 4);
        let (got, r) = run_with(b"[[[[1]]]]", &mut s);
        assert_eq!(r.map(|s| s.max_depth), Ok(4));
        assert_eq!(got, fields(&[(V, "", "1")]));

        let (got, r) = run_with(b"[[[[[1]]]]]", &mut s);
        assert_eq!(r, Err(ExtractError::TooDeep { offset: 4, max: 4 }));
        assert!(got.is_empty());

        let doc = br#"{"a":{"b":{"c":{"d":1}}}}"#;
        let (got, r) = run_with(doc, &mut s);
        assert_eq!(r.map(|s| s.max_depth), Ok(4));
        assert_eq!(got.len(), 5);

        let doc = br#"{"a":{"b":{"c":{"d":[1]}}}}"#;
        let (got, r) = run_with(doc, &mut s);
        assert_eq!(r, Err(ExtractError::TooDeep { offset: 20, max: 4 }));
        assert_eq!(
            got,
            fields(&[(K, "a", "a"), (K, "b", "b"), (K, "c", "c"), (K, "d", "d")])
        );

        // Zero depth still takes scalars.
        let mut s = JsonScratch::with_capacity(8, 0);
        assert!(run_with(b"true", &mut s).1.is_ok());
        assert_eq!(
            run_with(b"{}", &mut s).1,
            Err(ExtractError::TooDeep { offset: 0, max: 0 })
        );
    }

    #[test]
    fn deep_nesting_uses_no_call_stack() {
        // 200,000 levels would overflow any recursive parser's stack.
        let depth = 200_000;
        let mut doc = vec![b'['; depth];
        doc.push(b'0');
        doc.extend(std::iter::repeat_n(b']', depth));
        let mut s = JsonScratch::with_capacity(8, depth);
        let (got, r) = run_with(&doc, &mut s);
        assert_eq!(r.map(|s| s.max_depth), Ok(depth));
        assert_eq!(got, fields(&[(V, "", "0")]));
        // And a limit stops an attacker's depth early.
        let mut s = JsonScratch::with_capacity(8, 64);
        assert_eq!(
            run_with(&doc, &mut s).1,
            Err(ExtractError::TooDeep {
                offset: 64,
                max: 64
            })
        );
    }

    #[test]
    fn value_limit() {
        use ExtractError::ValueTooLong;
        let mut s = JsonScratch::with_capacity(4, 8);
        let ok: &[&str] = &[
            r#""abcd""#,
            r#""a\u0062cd""#,
            r#""\u20ac""#,
            "1234",
            r#"{"abcd":"wxyz"}"#,
        ];
        for input in ok {
            assert!(run_with(input.as_bytes(), &mut s).1.is_ok(), "{input:?}");
        }
        let too_long: &[(&str, usize, Want<'_>)] = &[
            (r#""abcde""#, 0, &[]),
            (r#"["ok","abc\u0064e"]"#, 6, &[(V, "", "ok")]),
            (r#"["\u20ac\u20ac"]"#, 1, &[]),
            (r#"{"abcde":1}"#, 1, &[]),
            (r#"{"a\u0062cde":1}"#, 1, &[]),
            ("[12345]", 1, &[]),
            ("-Infinity", 0, &[]),
        ];
        for (input, offset, want) in too_long {
            let (got, r) = run_with(input.as_bytes(), &mut s);
            assert_eq!(
                r,
                Err(ValueTooLong {
                    offset: *offset,
                    max: 4
                }),
                "{input:?}"
            );
            assert_eq!(got, fields(want), "{input:?}");
        }
    }

    #[test]
    fn names_limit() {
        let mut s = JsonScratch::with_capacity(4, 8);
        // "abc" + "d" fill the 4 bytes kept for open arrays' escaped keys...
        let (got, r) = run_with(br#"{"\u0061bc":[{"\u0064":[1]}]}"#, &mut s);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(got.last(), Some(&field(V, "d", "1")));
        // ...one more byte does not fit.
        let (got, r) = run_with(br#"{"\u0061bc":[{"\u0064e":[1]}]}"#, &mut s);
        assert_eq!(r, Err(ExtractError::NamesTooLong { offset: 24, max: 4 }));
        assert_eq!(got, fields(&[(K, "abc", "abc"), (K, "de", "de")]));
        // Unescaped keys take no room: they are named in place.
        let (_, r) = run_with(br#"{"abc":[{"de":[{"fg":[1]}]}]}"#, &mut s);
        assert!(r.is_ok(), "{r:?}");
        // Room is given back when an array closes.
        let (_, r) = run_with(
            br#"{"\u0061bc":[1],"\u0061bc":[2],"x":[{"\u0061bcd":[3]}]}"#,
            &mut s,
        );
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn scratch_is_reused() {
        let mut s = JsonScratch::with_capacity(64, 8);
        let doc = br#"{"k\u0041":["\u003c",{"x":"y"}]}"#;
        let first = run_with(doc, &mut s);
        let _ = run_with(br#"{"zzzzzz\u0041":"\u003e\u003e\u003e"#, &mut s);
        assert_eq!(run_with(doc, &mut s), first);
        assert_eq!(s.max_value_bytes(), 64);
        assert_eq!(s.max_depth(), 8);
    }

    #[test]
    fn no_allocation_on_a_real_document() {
        let doc =
            br#"{"user":{"name":"\u003cscript\u003e","tags":["a","b\n"],"age":42},"ok":true}"#;
        let mut s = JsonScratch::with_capacity(256, 16);
        let mut n = 0;
        let (r, allocs) = allocations(|| json(doc, &mut s, &mut |_, _, _| n += 1));
        assert!(r.is_ok());
        assert_eq!(allocs, 0);
        assert_eq!(n, 10);
    }

    /// Pointer and capacity of every scratch buffer: equal before and after a
    /// run means nothing was reallocated.
    fn buffers(s: &JsonScratch) -> [(usize, usize); 4] {
        [
            (s.key.as_ptr() as usize, s.key.capacity()),
            (s.value.as_ptr() as usize, s.value.capacity()),
            (s.names.as_ptr() as usize, s.names.capacity()),
            (s.frames.as_ptr() as usize, s.frames.capacity()),
        ]
    }

    fn check_hostile(input: &[u8], scratch: &mut JsonScratch) -> Result<(), TestCaseError> {
        let before = buffers(scratch);
        let mut reported = 0usize;
        let (r, allocs) = allocations(|| json(input, scratch, &mut |_, _, _| reported += 1));
        prop_assert_eq!(allocs, 0);
        prop_assert_eq!(buffers(scratch), before);
        if let Ok(summary) = r {
            prop_assert_eq!(summary.keys + summary.values, reported);
            prop_assert!(summary.max_depth <= scratch.max_depth());
        } else if let Err(e) = r {
            prop_assert!(e.offset() <= input.len());
        }
        Ok(())
    }

    /// A JSON document as a tree, rendered by [`render`] and flattened into the
    /// expected fields by [`expect`], independently of the tokenizer.
    #[derive(Clone, Debug)]
    enum Tree {
        Null,
        Bool(bool),
        Num(String),
        Str(String),
        Arr(Vec<Tree>),
        Obj(Vec<(String, Tree)>),
    }

    fn text() -> impl Strategy<Value = String> + Clone {
        let tricky = prop::sample::select(vec![
            '"', '\\', '/', '\n', '\0', '\u{1f}', '<', 'é', '😀', '\u{ffff}',
        ]);
        // Up to 24 characters: strings end on either side of the widths
        // the vectorised search handles differently (16 and 32 bytes).
        prop::collection::vec(prop_oneof![any::<char>(), tricky, Just('a')], 0..24)
            .prop_map(String::from_iter)
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![
            Just(Tree::Null),
            any::<bool>().prop_map(Tree::Bool),
            "-?(0|[1-9][0-9]{0,4})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?".prop_map(Tree::Num),
            text().prop_map(Tree::Str),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Tree::Arr),
                prop::collection::vec((text(), inner), 0..6).prop_map(Tree::Obj),
            ]
        })
    }

    /// xorshift64: the renderer's choices come from the generated seed, so a
    /// failing case shrinks and replays.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn ws(rng: &mut Rng, out: &mut String) {
        for _ in 0..rng.next() % 3 {
            out.push([' ', '\t', '\n', '\r'][(rng.next() % 4) as usize]);
        }
    }

    fn render_str(s: &str, rng: &mut Rng, out: &mut String) {
        out.push('"');
        for ch in s.chars() {
            let must = ch == '"' || ch == '\\' || u32::from(ch) < 0x20;
            match rng.next() % 4 {
                // Any character, also a plain one, may be sent as \uXXXX
                // (astral ones as a surrogate pair), in either hex case.
                0 => {
                    for unit in ch.encode_utf16(&mut [0; 2]) {
                        if rng.next() % 2 == 0 {
                            out.push_str(&format!("\\u{unit:04x}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                }
                1 if ch == '/' => out.push_str("\\/"),
                _ if must => match ch {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    _ => out.push_str(&format!("\\u{:04x}", u32::from(ch))),
                },
                _ => out.push(ch),
            }
        }
        out.push('"');
    }

    fn render(t: &Tree, rng: &mut Rng, out: &mut String) {
        ws(rng, out);
        match t {
            Tree::Null => out.push_str("null"),
            Tree::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Tree::Num(n) => out.push_str(n),
            Tree::Str(s) => render_str(s, rng, out),
            Tree::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    render(item, rng, out);
                }
                ws(rng, out);
                out.push(']');
            }
            Tree::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(rng, out);
                    render_str(k, rng, out);
                    ws(rng, out);
                    out.push(':');
                    render(v, rng, out);
                }
                ws(rng, out);
                out.push('}');
            }
        }
        ws(rng, out);
    }

    fn expect(t: &Tree, name: &str, out: &mut Vec<Field>) {
        match t {
            Tree::Null => out.push(field(V, name, "null")),
            Tree::Bool(b) => out.push(field(V, name, if *b { "true" } else { "false" })),
            Tree::Num(n) => out.push(field(V, name, n)),
            Tree::Str(s) => out.push(field(V, name, s)),
            Tree::Arr(items) => items.iter().for_each(|item| expect(item, name, out)),
            Tree::Obj(members) => {
                for (k, v) in members {
                    out.push(field(K, k, k));
                    expect(v, k, out);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn rendered_trees_report_their_fields(t in tree(), seed in any::<u64>()) {
            let mut doc = String::new();
            render(&t, &mut Rng(seed | 1), &mut doc);
            let mut want = Vec::new();
            expect(&t, "", &mut want);
            let (got, r) = run(doc.as_bytes());
            prop_assert!(r.is_ok(), "{:?} on {}", r, doc);
            prop_assert_eq!(got, want, "{}", doc);
        }

        #[test]
        fn any_bytes_no_panic_no_realloc(input in prop::collection::vec(any::<u8>(), 0..256)) {
            check_hostile(&input, &mut JsonScratch::with_capacity(8, 4))?;
        }

        #[test]
        fn json_like_bytes_no_panic_no_realloc(input in prop::collection::vec(
            prop::sample::select(b"{}[]\":,\\u/0123456789abcdefABCDEF-+.eEtrufalsnNIiy \t\r\n".to_vec()),
            0..256,
        )) {
            check_hostile(&input, &mut JsonScratch::with_capacity(8, 4))?;
            check_hostile(&input, &mut JsonScratch::with_capacity(0, 0))?;
        }

        #[test]
        fn rendered_trees_no_realloc_in_small_scratch(t in tree(), seed in any::<u64>()) {
            let mut doc = String::new();
            render(&t, &mut Rng(seed | 1), &mut doc);
            check_hostile(doc.as_bytes(), &mut JsonScratch::with_capacity(6, 3))?;
        }
    }
}
