//! Deciding what must never reach the event log: credential headers, cookie
//! values, and any field whose name says it holds a secret (`password`,
//! `token`, `api_key`…), plus the values of such arguments inside the logged
//! path and inside raw fragments (a body fragment can carry
//! `"password":"…"`).
//!
//! Names are compared ASCII-case-insensitively, ignoring `-` and `_`, as
//! substrings: `X-Auth-Token`, `refresh_token` and `userPassword` all match.
//! The list is built once (config load) and only read on the cores.

/// Names whose values are always redacted, unless the config replaces them.
pub const DEFAULT_SENSITIVE: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "apikey",
    "api-key",
    "accesskey",
    "auth",
    "session",
    "sessid",
    "cookie",
    "credential",
    "private",
    "key",
    "signature",
    "ssn",
    "creditcard",
    "cardnumber",
    "ccnum",
    "cvv",
    "cvc",
    "iban",
];

/// What replaces a redacted value.
pub const REDACTED: &[u8] = b"[redacted]";

/// The sensitive-name list in the form the cores compare against.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Lowercase, without `-`/`_`, non-empty.
    needles: Vec<Vec<u8>>,
}

/// Longest name compared (longer names are cut; a needle beyond this is not found).
const NAME_CMP_MAX: usize = 128;

impl Redactor {
    /// The default list plus `extra` names.
    pub fn new(extra: &[String]) -> Redactor {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        for n in DEFAULT_SENSITIVE
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
        {
            let folded: Vec<u8> = n
                .bytes()
                .filter(|b| *b != b'-' && *b != b'_')
                .map(|b| b.to_ascii_lowercase())
                .collect();
            if !folded.is_empty() && !needles.contains(&folded) {
                needles.push(folded);
            }
        }
        Redactor { needles }
    }

    /// Whether a field (argument, form or JSON key, cookie, header) named
    /// `name` holds a secret.
    pub fn sensitive(&self, name: &[u8]) -> bool {
        let mut folded = [0u8; NAME_CMP_MAX];
        let mut n = 0;
        for &b in name {
            if b == b'-' || b == b'_' {
                continue;
            }
            if n == NAME_CMP_MAX {
                break;
            }
            folded[n] = b.to_ascii_lowercase();
            n += 1;
        }
        let hay = &folded[..n];
        self.needles
            .iter()
            .any(|k| hay.windows(k.len()).any(|w| w == k.as_slice()))
    }

    /// Copies a request target into `out` with the values of sensitive query
    /// arguments replaced by `[redacted]` (names kept), calling `out` once per
    /// piece.
    pub fn target(&self, target: &[u8], mut out: impl FnMut(&[u8])) {
        let Some(q) = memchr::memchr(b'?', target) else {
            out(target);
            return;
        };
        out(&target[..=q]);
        let mut first = true;
        for part in target[q + 1..].split(|&b| b == b'&') {
            if !first {
                out(b"&");
            }
            first = false;
            match memchr::memchr(b'=', part) {
                Some(eq) if self.sensitive(&part[..eq]) => {
                    out(&part[..=eq]);
                    out(REDACTED);
                }
                _ => out(part),
            }
        }
    }

    /// Copies a raw fragment (body, query, header bytes) with the value after
    /// every sensitive `name=`, `name:` or `"name":` replaced by
    /// `[redacted]`, calling `out` once per piece. When `cut` says the
    /// fragment starts mid-value, its first token (which may be the tail of a
    /// secret whose name was cut off) is replaced by `…`.
    pub fn fragment(&self, frag: &[u8], cut: bool, mut out: impl FnMut(&[u8])) {
        let mut i = 0;
        if cut {
            // Skip to the next pair (`&`, `,`, `;`…), not just the next
            // token: a cut-off `…ssword":"VALUE"` must lose VALUE too.
            match frag.iter().position(|&b| is_pair_sep(b)) {
                Some(p) if p > 0 => {
                    out("…".as_bytes());
                    i = p;
                }
                Some(_) => {}
                None => {
                    // One token with no start: cannot tell what it is.
                    out("…".as_bytes());
                    return;
                }
            }
        }
        let mut emitted = i;
        while i < frag.len() {
            // A name is a run of word characters; look at what follows it.
            if !is_word(frag[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < frag.len() && is_word(frag[i]) {
                i += 1;
            }
            let name = &frag[start..i];
            // Skip a closing quote and spaces, then expect '=' or ':'.
            let mut j = i;
            if j < frag.len() && (frag[j] == b'"' || frag[j] == b'\'') {
                j += 1;
            }
            while j < frag.len() && frag[j] == b' ' {
                j += 1;
            }
            if j >= frag.len() || (frag[j] != b'=' && frag[j] != b':') {
                continue;
            }
            if !self.sensitive(name) {
                continue;
            }
            j += 1;
            while j < frag.len() && frag[j] == b' ' {
                j += 1;
            }
            let quoted = j < frag.len() && (frag[j] == b'"' || frag[j] == b'\'');
            let quote = if quoted { frag[j] } else { 0 };
            if quoted {
                j += 1;
            }
            let vstart = j;
            while j < frag.len() {
                let b = frag[j];
                if quoted {
                    if b == b'\\' {
                        j += 2;
                        continue;
                    }
                    if b == quote {
                        break;
                    }
                } else if matches!(b, b'&' | b';' | b',' | b' ' | b'}' | b'\r' | b'\n') {
                    break;
                }
                j += 1;
            }
            let vend = j.min(frag.len());
            out(&frag[emitted..vstart]);
            out(REDACTED);
            emitted = vend;
            i = vend;
        }
        if emitted < frag.len() {
            out(&frag[emitted..]);
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// Bytes that end a name/value pair in query strings, forms, JSON, cookies
/// and header lists.
fn is_pair_sep(b: u8) -> bool {
    matches!(b, b'&' | b';' | b',' | b'{' | b'}' | b'\r' | b'\n' | b'?')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(f: impl FnOnce(&mut dyn FnMut(&[u8]))) -> String {
        let mut v = Vec::new();
        f(&mut |b: &[u8]| v.extend_from_slice(b));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn names_match_case_and_separator_insensitively() {
        let r = Redactor::new(&["ssid".to_owned()]);
        for n in [
            "password",
            "userPassword",
            "X-Auth-Token",
            "refresh_token",
            "API_KEY",
            "apiKey",
            "JSESSIONID",
            "ssid",
            "credit_card",
        ] {
            assert!(r.sensitive(n.as_bytes()), "{n}");
        }
        for n in ["q", "id", "user", "name", "page"] {
            assert!(!r.sensitive(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn target_keeps_names_and_redacts_values() {
        let r = Redactor::new(&[]);
        let s = collect(|o| r.target(b"/login?user=bob&password=hunter2&token=abc&x", |b| o(b)));
        assert_eq!(s, "/login?user=bob&password=[redacted]&token=[redacted]&x");
        let s = collect(|o| r.target(b"/plain", |b| o(b)));
        assert_eq!(s, "/plain");
    }

    #[test]
    fn fragments_lose_secret_values() {
        let r = Redactor::new(&[]);
        let s = collect(|o| {
            r.fragment(
                br#"{"user":"a","password":"S3CRET\"x","q":"1 union select"}"#,
                false,
                |b| o(b),
            )
        });
        assert_eq!(
            s,
            r#"{"user":"a","password":"[redacted]","q":"1 union select"}"#
        );
        let s = collect(|o| r.fragment(b"a=1&api_key=XYZ&b=union", false, |b| o(b)));
        assert_eq!(s, "a=1&api_key=[redacted]&b=union");
        // Cut in the middle of a value: the leading piece is not shown.
        let s = collect(|o| r.fragment(b"CRETVALUE&q=union select", true, |b| o(b)));
        assert_eq!(s, "…&q=union select");
        let s = collect(|o| r.fragment(br#"ssword":"S3CRET","q":"1 union select"#, true, |b| o(b)));
        assert_eq!(s, r#"…,"q":"1 union select"#);
        let s = collect(|o| r.fragment(b"CRETVALUE", true, |b| o(b)));
        assert_eq!(s, "…");
    }
}
