//! Field splitting for the baseline engines: the same (kind, name, value)
//! fields Rampart's extractors produce (path, query args, headers, cookies,
//! urlencoded, JSON and multipart bodies), into reusable storage.
//!
//! Written independently of the matcher's extractors on purpose: a baseline
//! built on Rampart's own extraction would not be a baseline. Same contract
//! for values: raw bytes, decoding is left to the transforms, except JSON
//! strings, whose escapes are decoded (as Rampart does).

use memchr::{memchr, memmem};
use rampart_matcher::{FieldKind as K, RequestView};

#[derive(Clone, Copy, Debug)]
struct Field {
    kind: K,
    name: (u32, u32),
    value: (u32, u32),
}

/// The fields of one request. Reused across requests; no allocation once
/// its buffers have grown to the largest request.
#[derive(Debug, Default)]
pub struct Fields {
    arena: Vec<u8>,
    list: Vec<Field>,
    stack: Vec<((u32, u32), bool)>,
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

impl Fields {
    /// Storage for requests up to `bytes` long.
    pub fn with_capacity(bytes: usize) -> Fields {
        Fields {
            arena: Vec::with_capacity(bytes * 2),
            list: Vec::with_capacity(1024),
            stack: Vec::with_capacity(64),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// (kind, name, value) of every field, in request order.
    pub fn iter(&self) -> impl Iterator<Item = (K, &[u8], &[u8])> {
        self.list.iter().map(|f| {
            (
                f.kind,
                &self.arena[f.name.0 as usize..f.name.1 as usize],
                &self.arena[f.value.0 as usize..f.value.1 as usize],
            )
        })
    }

    fn store(&mut self, bytes: &[u8]) -> (u32, u32) {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(bytes);
        (start, self.arena.len() as u32)
    }

    fn push(&mut self, kind: K, name: &[u8], value: &[u8]) {
        if value.is_empty() {
            return;
        }
        let name = self.store(name);
        let value = self.store(value);
        self.list.push(Field { kind, name, value });
    }

    fn push_ranges(&mut self, kind: K, name: (u32, u32), value: (u32, u32)) {
        if value.0 != value.1 {
            self.list.push(Field { kind, name, value });
        }
    }

    /// Replaces the contents with the fields of `req`.
    pub fn extract(&mut self, req: &RequestView<'_>) {
        self.arena.clear();
        self.list.clear();
        self.push(K::Method, b"", req.method);
        self.push(K::Target, b"", req.target);
        self.push(K::Path, b"", req.path());
        if let Some(q) = req.query() {
            self.push(K::Query, b"", q);
            self.urlencoded(q, K::ArgName, K::ArgValue);
        }
        for (name, value) in req.headers {
            self.push(K::HeaderName, b"", name);
            self.push(K::HeaderValue, name, value);
            if name.eq_ignore_ascii_case(b"cookie") {
                self.cookies(value);
            }
        }
        if req.body.is_empty() {
            return;
        }
        self.push(K::Body, b"", req.body);
        let ct = req.header(b"content-type").unwrap_or_default();
        let media = trim(&ct[..memchr(b';', ct).unwrap_or(ct.len())]);
        if media.eq_ignore_ascii_case(b"application/json")
            || media.len() > 5 && media[media.len() - 5..].eq_ignore_ascii_case(b"+json")
        {
            self.json(req.body);
        } else if media.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
            self.urlencoded(req.body, K::FormName, K::FormValue);
        } else if media.eq_ignore_ascii_case(b"multipart/form-data") {
            if let Some(b) = boundary(ct) {
                self.multipart(req.body, b);
            }
        }
    }

    fn urlencoded(&mut self, s: &[u8], name_kind: K, value_kind: K) {
        for pair in s.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (n, v) = match memchr(b'=', pair) {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            self.push(name_kind, n, n);
            self.push(value_kind, n, v);
        }
    }

    fn cookies(&mut self, header: &[u8]) {
        for pair in header.split(|&b| b == b';') {
            let pair = trim(pair);
            if pair.is_empty() {
                continue;
            }
            let (n, v) = match memchr(b'=', pair) {
                Some(eq) => (trim(&pair[..eq]), trim(&pair[eq + 1..])),
                None => (pair, &pair[pair.len()..]),
            };
            let v = match v {
                [b'"', inner @ .., b'"'] => inner,
                _ => v,
            };
            self.push(K::CookieName, n, n);
            self.push(K::CookieValue, n, v);
        }
    }

    /// Decodes the JSON string starting after the opening quote at `i`;
    /// returns its range in the arena and the index after the closing quote.
    fn json_string(&mut self, s: &[u8], mut i: usize) -> ((u32, u32), usize) {
        let start = self.arena.len() as u32;
        while i < s.len() {
            match s[i] {
                b'"' => return ((start, self.arena.len() as u32), i + 1),
                b'\\' if i + 1 < s.len() => {
                    let e = s[i + 1];
                    i += 2;
                    let simple = match e {
                        b'n' => Some(b'\n'),
                        b't' => Some(b'\t'),
                        b'r' => Some(b'\r'),
                        b'b' => Some(8),
                        b'f' => Some(12),
                        b'u' => None,
                        other => Some(other),
                    };
                    if let Some(c) = simple {
                        self.arena.push(c);
                        continue;
                    }
                    let hex = |at: usize| {
                        s.get(at..at + 4)
                            .and_then(|h| std::str::from_utf8(h).ok())
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                    };
                    let Some(mut cp) = hex(i) else {
                        self.arena.extend_from_slice(b"\\u");
                        continue;
                    };
                    i += 4;
                    if (0xd800..0xdc00).contains(&cp) && s.get(i..i + 2) == Some(b"\\u") {
                        if let Some(lo @ 0xdc00..=0xdfff) = hex(i + 2) {
                            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                            i += 6;
                        }
                    }
                    let c = char::from_u32(cp).unwrap_or('\u{fffd}');
                    let mut buf = [0u8; 4];
                    self.arena
                        .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b => {
                    self.arena.push(b);
                    i += 1;
                }
            }
        }
        ((start, self.arena.len() as u32), i)
    }

    /// A small JSON tokenizer: keys as `JsonKey`, strings and scalars as
    /// `JsonValue` named by their innermost key. Stops quietly on malformed input.
    fn json(&mut self, s: &[u8]) {
        self.stack.clear();
        let none = (0u32, 0u32);
        let mut key = none;
        let mut expect_key = false;
        let mut i = 0;
        while i < s.len() {
            let b = s[i];
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b':' => i += 1,
                b'{' | b'[' => {
                    let in_obj = self.stack.last().is_none_or(|&(_, obj)| obj);
                    let name = if in_obj {
                        key
                    } else {
                        self.stack.last().map_or(none, |e| e.0)
                    };
                    self.stack.push((name, b == b'{'));
                    expect_key = b == b'{';
                    i += 1;
                }
                b'}' | b']' => {
                    self.stack.pop();
                    i += 1;
                }
                b',' => {
                    expect_key = self.stack.last().is_some_and(|&(_, obj)| obj);
                    i += 1;
                }
                b'"' => {
                    let (range, next) = self.json_string(s, i + 1);
                    i = next;
                    if expect_key {
                        key = range;
                        expect_key = false;
                        self.push_ranges(K::JsonKey, range, range);
                    } else {
                        let name = match self.stack.last() {
                            Some(&(n, false)) => n,
                            _ => key,
                        };
                        self.push_ranges(K::JsonValue, name, range);
                    }
                }
                _ => {
                    let end = s[i..]
                        .iter()
                        .position(|c| {
                            matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                        })
                        .map_or(s.len(), |p| i + p);
                    let value = self.store(&s[i..end]);
                    let name = match self.stack.last() {
                        Some(&(n, false)) => n,
                        _ => key,
                    };
                    self.push_ranges(K::JsonValue, name, value);
                    i = end.max(i + 1);
                }
            }
        }
    }

    fn multipart(&mut self, body: &[u8], boundary: &[u8]) {
        let mut delim = Vec::with_capacity(boundary.len() + 4);
        delim.extend_from_slice(b"\r\n--");
        delim.extend_from_slice(boundary);
        let finder = memmem::Finder::new(&delim);
        // The first delimiter may start the body without a CRLF before it.
        let Some(first) = memmem::find(body, &delim[2..]) else {
            return;
        };
        let mut pos = first + delim.len() - 2;
        loop {
            if body[pos..].starts_with(b"--") {
                return;
            }
            let Some(head_end) = memmem::find(&body[pos..], b"\r\n\r\n") else {
                return;
            };
            let head = &body[pos..pos + head_end];
            let content_start = pos + head_end + 4;
            let content_end = finder
                .find(&body[content_start..])
                .map_or(body.len(), |p| content_start + p);
            let (mut name, mut filename): (&[u8], Option<&[u8]>) = (b"", None);
            for line in head.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let Some(colon) = memchr(b':', line) else {
                    continue;
                };
                let (hn, hv) = (trim(&line[..colon]), trim(&line[colon + 1..]));
                self.push(K::MultipartHeader, hn, hv);
                if hn.eq_ignore_ascii_case(b"content-disposition") {
                    name = param(hv, b"name").unwrap_or(b"");
                    filename = param(hv, b"filename");
                }
            }
            self.push(K::MultipartName, name, name);
            if let Some(f) = filename {
                self.push(K::MultipartFilename, name, f);
            }
            self.push(K::MultipartValue, name, &body[content_start..content_end]);
            if content_end >= body.len() {
                return;
            }
            pos = content_end + delim.len();
        }
    }
}

/// `key="value"` (or unquoted) in a header value's `;` parameters.
fn param<'a>(hv: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    for p in hv.split(|&b| b == b';').skip(1) {
        let p = trim(p);
        let eq = memchr(b'=', p)?;
        if p[..eq].eq_ignore_ascii_case(key) {
            let v = trim(&p[eq + 1..]);
            return Some(match v {
                [b'"', inner @ .., b'"'] => inner,
                _ => v,
            });
        }
    }
    None
}

/// The `boundary` parameter of a multipart Content-Type.
pub fn boundary(ct: &[u8]) -> Option<&[u8]> {
    param(ct, b"boundary").filter(|b| !b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(req: &RequestView<'_>) -> Vec<(K, String, String)> {
        let mut f = Fields::with_capacity(4096);
        f.extract(req);
        f.iter()
            .map(|(k, n, v)| {
                (
                    k,
                    String::from_utf8_lossy(n).into(),
                    String::from_utf8_lossy(v).into(),
                )
            })
            .collect()
    }

    fn has(all: &[(K, String, String)], kind: K, name: &str, value: &str) -> bool {
        all.iter()
            .any(|(k, n, v)| *k == kind && n == name && v == value)
    }

    #[test]
    fn query_headers_cookies_json() {
        let headers: [(&[u8], &[u8]); 2] = [
            (b"Cookie", b"a=1; b=\"two\""),
            (b"Content-Type", b"application/json; charset=utf-8"),
        ];
        let req = RequestView {
            method: b"POST",
            target: b"/p/x?q=a%20b&n",
            headers: &headers,
            body: br#"{"k":"v\u003c\"","o":{"arr":[1,"s",true],"e":null},"sp":"\ud83d\ude00"}"#,
        };
        let f = fields(&req);
        assert!(has(&f, K::Path, "", "/p/x"));
        assert!(has(&f, K::ArgValue, "q", "a%20b"));
        assert!(has(&f, K::ArgName, "n", "n"));
        assert!(has(&f, K::CookieValue, "b", "two"));
        assert!(has(&f, K::HeaderValue, "Cookie", "a=1; b=\"two\""));
        assert!(has(&f, K::JsonKey, "k", "k"));
        assert!(has(&f, K::JsonValue, "k", "v<\""));
        assert!(has(&f, K::JsonValue, "arr", "1"));
        assert!(has(&f, K::JsonValue, "arr", "s"));
        assert!(has(&f, K::JsonValue, "e", "null"));
        assert!(has(&f, K::JsonValue, "sp", "😀"));
    }

    #[test]
    fn multipart_and_form() {
        let ct: &[u8] = b"multipart/form-data; boundary=XyZ";
        let headers: [(&[u8], &[u8]); 1] = [(b"content-type", ct)];
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../x.php\"\r\nContent-Type: text/plain\r\n\r\n<?php\r\n--XyZ--\r\n";
        let req = RequestView {
            method: b"POST",
            target: b"/u",
            headers: &headers,
            body,
        };
        let f = fields(&req);
        assert!(has(&f, K::MultipartValue, "a", "hello"));
        assert!(has(&f, K::MultipartFilename, "f", "../x.php"));
        assert!(has(&f, K::MultipartValue, "f", "<?php"));
        assert!(has(&f, K::MultipartHeader, "Content-Type", "text/plain"));
        let headers: [(&[u8], &[u8]); 1] =
            [(b"Content-Type", b"application/x-www-form-urlencoded")];
        let req = RequestView {
            method: b"POST",
            target: b"/l",
            headers: &headers,
            body: b"u=a%27&p=b",
        };
        assert!(has(&fields(&req), K::FormValue, "u", "a%27"));
    }
}
