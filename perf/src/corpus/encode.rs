//! Wire encodings the generator needs: a small JSON writer, percent and HTML
//! entity encodings, JSON `\u` escapes, case mixing and base64url.

use crate::rng::Rng;

/// A JSON value, written compactly (`serde_json` would do, but the generator
/// also needs strings whose escapes it chooses itself).
#[derive(Clone, Debug)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number, already formatted.
    Num(String),
    Str(String),
    /// A string body already escaped for JSON (written between quotes as is).
    RawStr(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    pub fn num(n: impl std::fmt::Display) -> Json {
        Json::Num(n.to_string())
    }

    pub fn obj(pairs: Vec<(&str, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// Writes the value compactly (`pretty` adds the spaces some clients send).
    pub fn write(&self, out: &mut Vec<u8>, pretty: bool) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Json::Num(n) => out.extend_from_slice(n.as_bytes()),
            Json::Str(s) => {
                out.push(b'"');
                escape_json_into(s, out);
                out.push(b'"');
            }
            Json::RawStr(s) => {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            Json::Arr(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(if pretty { b", " } else { b"," });
                    }
                    v.write(out, pretty);
                }
                out.push(b']');
            }
            Json::Obj(pairs) => {
                out.push(b'{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(if pretty { b", " } else { b"," });
                    }
                    out.push(b'"');
                    escape_json_into(k, out);
                    out.extend_from_slice(if pretty { b"\": " } else { b"\":" });
                    v.write(out, pretty);
                }
                out.push(b'}');
            }
        }
    }

    pub fn to_bytes(&self, pretty: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write(&mut out, pretty);
        out
    }
}

/// Standard JSON string escaping (what any serializer emits).
pub fn escape_json_into(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// JSON-escaped with `\uXXXX` for every character an attacker would hide
/// (`all` escapes letters too).
pub fn json_unicode_escape(s: &str, all: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for c in s.chars() {
        let hide = all || !(c.is_ascii_alphanumeric() || c == ' ');
        if hide && (c as u32) < 0x10000 {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            let mut b = Vec::new();
            escape_json_into(c.encode_utf8(&mut [0u8; 4]), &mut b);
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }
    out
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `encodeURIComponent`-style percent encoding (`plus`: spaces as `+`, as forms do).
pub fn percent(s: &[u8], plus: bool) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for &b in s {
        if unreserved(b) {
            out.push(b as char);
        } else if plus && b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent encoding of only the characters that must be (keeps `/`, `:`, `,`…), as browsers do in paths and queries.
pub fn percent_light(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for &b in s {
        if unreserved(b)
            || matches!(
                b,
                b'/' | b':' | b',' | b'@' | b'!' | b'*' | b'(' | b')' | b'$'
            )
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Double percent encoding: every escaped byte becomes `%25XX`.
pub fn double_percent(s: &[u8]) -> String {
    percent(s, false).replace('%', "%25")
}

/// HTML entity encoding of markup characters, in a random style per character.
pub fn html_entities(s: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(s.len() * 4);
    for c in s.chars() {
        let named = match c {
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            '"' => Some("&quot;"),
            '\'' => Some("&apos;"),
            '(' => Some("&lpar;"),
            ')' => Some("&rpar;"),
            ':' => Some("&colon;"),
            _ => None,
        };
        match (named, rng.below(3)) {
            (None, _) => out.push(c),
            (Some(n), 0) => out.push_str(n),
            (Some(_), 1) => out.push_str(&format!("&#{};", c as u32)),
            (Some(_), _) => out.push_str(&format!("&#x{:x};", c as u32)),
        }
    }
    out
}

/// Random letter case (`SeLeCt`), the oldest evasion there is.
pub fn mix_case(s: &str, rng: &mut Rng) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() && rng.chance(0.5) {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

/// Unpadded base64url (JWT segments).
pub fn base64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(percent(b"a b'<", false), "a%20b%27%3C");
        assert_eq!(percent(b"a b", true), "a+b");
        assert_eq!(double_percent(b"../"), "..%252F");
        assert_eq!(base64url(b"{\"alg\":\"HS256\"}"), "eyJhbGciOiJIUzI1NiJ9");
        assert_eq!(json_unicode_escape("<a>", false), "\\u003ca\\u003e");
        let j = Json::obj(vec![
            ("a", Json::str("x\"y")),
            (
                "b",
                Json::Arr(vec![Json::num(1), Json::Null, Json::Bool(true)]),
            ),
        ]);
        assert_eq!(j.to_bytes(false), b"{\"a\":\"x\\\"y\",\"b\":[1,null,true]}");
        let mut rng = Rng::new(1);
        let h = html_entities("<b>", &mut rng);
        assert!(!h.contains('<') && h.contains('b'), "{h}");
    }
}
