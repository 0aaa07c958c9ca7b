//! An allocation-free JSON scan for the few string and number members identity
//! extraction reads (JWT claims, login fields) out of a possibly truncated
//! prefix: members of the top-level object and, on request, of objects one
//! level down. Arrays and deeper objects are skipped without recursion, so a
//! hostile document costs time linear in its length and no stack.
//!
//! A malformed or truncated document ends the scan; members seen before that
//! point were already reported.

/// A member's value as the scan saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A string: the bytes between the quotes, escapes intact; `escaped` says
    /// whether [`unescape`] is needed.
    Str { raw: &'a [u8], escaped: bool },
    /// A number as written.
    Num(&'a [u8]),
    /// Anything else (literal, array, object not descended into).
    Other,
}

/// Calls `visit(depth, key, value)` for each member of the top-level object in
/// `src` (depth 0) and, when `nested`, of objects that are values of top-level
/// members (depth 1). Keys are raw (escapes intact). Returns whether the whole
/// object was read (false: malformed or truncated, or not an object).
pub fn scan_object<'a, F>(src: &'a [u8], nested: bool, mut visit: F) -> bool
where
    F: FnMut(u8, &'a [u8], Value<'a>),
{
    let mut p = Parser { s: src, i: 0 };
    p.ws();
    let max_depth = u8::from(nested);
    p.object(0, max_depth, &mut visit).is_some()
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// At a '"': the raw contents and whether they contain escapes.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            let rest = self.s.get(self.i..)?;
            let k = memchr::memchr2(b'"', b'\\', rest)?;
            self.i += k;
            if self.s[self.i] == b'"' {
                let raw = &self.s[start..self.i];
                self.i += 1;
                return Some((raw, escaped));
            }
            escaped = true;
            // The escaped byte is skipped whatever it is; `unescape` validates.
            self.i += 2;
        }
    }

    fn object<F>(&mut self, depth: u8, max_depth: u8, visit: &mut F) -> Option<()>
    where
        F: FnMut(u8, &'a [u8], Value<'a>),
    {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let (key, _) = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            match self.peek()? {
                b'"' => {
                    let (raw, escaped) = self.string()?;
                    visit(depth, key, Value::Str { raw, escaped });
                }
                b'{' if depth < max_depth => self.object(depth + 1, max_depth, visit)?,
                b'{' | b'[' => {
                    self.skip_composite()?;
                    visit(depth, key, Value::Other);
                }
                _ => {
                    let start = self.i;
                    while self.peek().is_some_and(|c| {
                        !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                    }) {
                        self.i += 1;
                    }
                    // A value cut off by the end of the prefix is not reported.
                    self.peek()?;
                    let tok = &self.s[start..self.i];
                    let num = tok
                        .first()
                        .is_some_and(|c| c.is_ascii_digit() || *c == b'-');
                    visit(depth, key, if num { Value::Num(tok) } else { Value::Other });
                }
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips a whole object or array by counting brackets outside strings.
    fn skip_composite(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }
}

/// Appends `bytes` if `out` has room without growing; false (and `out`
/// unchanged) if not. Per-core buffers are sized once and never reallocate.
pub fn push_bounded(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    if out.capacity() - out.len() < bytes.len() {
        return false;
    }
    out.extend_from_slice(bytes);
    true
}

/// Decodes a JSON string's raw contents into `out` (without growing it).
/// False, with `out` restored to its length on entry, on a bad escape, a lone
/// surrogate or lack of room.
pub fn unescape(raw: &[u8], out: &mut Vec<u8>) -> bool {
    let mark = out.len();
    let ok = unescape_inner(raw, out);
    if !ok {
        out.truncate(mark);
    }
    ok
}

fn unescape_inner(raw: &[u8], out: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < raw.len() {
        let Some(k) = memchr::memchr(b'\\', &raw[i..]) else {
            return push_bounded(out, &raw[i..]);
        };
        if !push_bounded(out, &raw[i..i + k]) {
            return false;
        }
        i += k + 1;
        let Some(&c) = raw.get(i) else {
            return false;
        };
        i += 1;
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
                let Some(hi) = hex4(raw.get(i..i + 4)) else {
                    return false;
                };
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by an escaped low one.
                    if raw.get(i..i + 2) != Some(b"\\u") {
                        return false;
                    }
                    let Some(lo) = hex4(raw.get(i + 2..i + 6)) else {
                        return false;
                    };
                    if !(0xDC00..0xE000).contains(&lo) {
                        return false;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let Some(ch) = char::from_u32(code) else {
                    return false;
                };
                let mut enc = [0u8; 4];
                if !push_bounded(out, ch.encode_utf8(&mut enc).as_bytes()) {
                    return false;
                }
                continue;
            }
            _ => return false,
        };
        if !push_bounded(out, &[byte]) {
            return false;
        }
    }
    true
}

fn hex4(b: Option<&[u8]>) -> Option<u32> {
    let b = b?;
    let mut v = 0u32;
    for &c in b {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// The integer part of a JSON number (`1700000000`, `1.7e9` is not expanded:
/// claims like `exp` are integers in practice; a fraction is dropped).
pub fn integer(tok: &[u8]) -> Option<i64> {
    let (neg, digits) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    let end = digits
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 || matches!(digits.get(end), Some(b'e' | b'E')) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in &digits[..end] {
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(src: &[u8], nested: bool) -> (Vec<(u8, String, String)>, bool) {
        let mut out = Vec::new();
        let done = scan_object(src, nested, |d, k, v| {
            let v = match v {
                Value::Str { raw, .. } => format!("s:{}", String::from_utf8_lossy(raw)),
                Value::Num(n) => format!("n:{}", String::from_utf8_lossy(n)),
                Value::Other => "other".to_owned(),
            };
            out.push((d, String::from_utf8_lossy(k).into_owned(), v));
        });
        (out, done)
    }

    #[test]
    fn top_level_and_one_nested_level() {
        let (m, done) = members(
            br#" {"a":"x","n":-12.5,"o":{"u":"v","deep":{"z":"no"},"arr":[1,{"q":"no"}]},"t":true,"l":[{"a":"no"}]} "#,
            true,
        );
        assert!(done);
        assert_eq!(
            m,
            vec![
                (0, "a".into(), "s:x".into()),
                (0, "n".into(), "n:-12.5".into()),
                (1, "u".into(), "s:v".into()),
                (1, "deep".into(), "other".into()),
                (1, "arr".into(), "other".into()),
                (0, "t".into(), "other".into()),
                (0, "l".into(), "other".into()),
            ]
        );
        let (m, _) = members(br#"{"o":{"u":"v"}}"#, false);
        assert_eq!(m, vec![(0, "o".into(), "other".into())]);
    }

    #[test]
    fn strings_with_escaped_quotes_do_not_end_early() {
        let (m, done) = members(br#"{"a":"say \"}\" ok","b":"c"}"#, false);
        assert!(done);
        assert_eq!(m[0].2, r#"s:say \"}\" ok"#);
        assert_eq!(m[1].2, "s:c");
    }

    #[test]
    fn truncated_and_malformed_stop_quietly() {
        let (m, done) = members(br#"{"a":"x","b":"trunc"#, false);
        assert!(!done);
        assert_eq!(m, vec![(0, "a".into(), "s:x".into())]);
        let (m, done) = members(br#"{"a":12"#, false);
        assert!(!done && m.is_empty());
        assert!(!members(b"[1,2]", false).1);
        assert!(!members(b"", false).1);
        assert!(!members(br#"{"a" "b"}"#, false).1);
        // Deep nesting is skipped iteratively, not recursed into.
        let mut deep = b"{\"a\":".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        deep.extend(std::iter::repeat_n(b']', 100_000));
        deep.extend(b",\"b\":\"x\"}");
        let (m, done) = members(&deep, true);
        assert!(done);
        assert_eq!(m[1].2, "s:x");
    }

    #[test]
    fn unescapes_into_a_bounded_buffer() {
        let mut out = Vec::with_capacity(64);
        assert!(unescape(br#"a\"b\\c\/\n\u00e9\ud83d\ude00"#, &mut out));
        assert_eq!(out, "a\"b\\c/\né😀".as_bytes());
        out.clear();
        assert!(!unescape(br#"bad \x"#, &mut out));
        assert!(!unescape(br#"\ud83d alone"#, &mut out));
        assert!(!unescape(br#"\u12"#, &mut out));
        assert!(out.is_empty());
        let mut small = Vec::with_capacity(4);
        assert!(!unescape(b"too long", &mut small));
        assert!(small.is_empty());
    }

    #[test]
    fn integers() {
        assert_eq!(integer(b"1700000000"), Some(1_700_000_000));
        assert_eq!(integer(b"-5"), Some(-5));
        assert_eq!(integer(b"17.9"), Some(17));
        assert_eq!(integer(b"1e9"), None);
        assert_eq!(integer(b"99999999999999999999"), None);
        assert_eq!(integer(b"-"), None);
    }
}
