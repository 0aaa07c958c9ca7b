//! Login routes and the credentials a login request carries.
//!
//! A login route is a path glob (`policy-loader`'s [`Glob`]: `*` within a
//! segment, `**` across segments) and a method. Globs are matched against the
//! path as a backend would resolve it ([`normalise_path`]: percent-decoded,
//! `//`, `.` and `..` resolved, `;params` and a trailing `/` dropped) and
//! ignoring ASCII case, so `/API//v1/./%6Cogin/` is still a login: an
//! attacker must not dodge credential counting by spelling the path
//! differently, and matching a few more paths than the backend would only
//! reads a few more bodies. On a matching request the
//! username and password are read from the body prefix, as JSON (a member of
//! the top-level object, or of an object one level down such as
//! `{"user": {"email": …}}`) or as an HTML form (`a=b&c=d`, percent and `+`
//! decoded). The body kind comes from `Content-Type` (`…json…`,
//! `application/x-www-form-urlencoded`), or, without one, from the first byte
//! (`{` is JSON). Field names are compared exactly. When several configured
//! user fields are present the one listed first wins; a top-level member
//! beats a nested one; a repeated field takes its last value (what most
//! backends' parsers do).
//!
//! Usernames are normalised — surrounding whitespace trimmed, ASCII
//! lowercased — so `Alice@Example.com ` and `alice@example.com` count as one
//! user. Passwords are kept exactly as sent.

use rampart_policy_loader::Glob;

use super::json::{self, push_bounded, Value};

/// `[[behaviour.login]]`: one login route.
#[derive(Clone, Debug)]
pub struct LoginRoute {
    /// Glob over the request path (the target without its query).
    pub path: Glob,
    /// Uppercase method; `*` matches any.
    pub method: String,
    pub user_fields: Vec<String>,
    pub password_fields: Vec<String>,
    /// Response statuses that mean "login failed" (counted by the lead).
    pub failure_status: Vec<u16>,
}

/// The paths login routes cover when `[[behaviour.login]]` is not configured.
pub const DEFAULT_PATHS: &[&str] = &[
    "**/login",
    "**/signin",
    "**/auth/token",
    "**/oauth/token",
    "**/sessions",
];
pub const DEFAULT_USER_FIELDS: &[&str] = &["username", "user", "email", "login"];
pub const DEFAULT_PASSWORD_FIELDS: &[&str] = &["password", "pass", "passwd", "pwd"];
pub const DEFAULT_FAILURE_STATUS: &[u16] = &[401, 403];

impl LoginRoute {
    /// A route on `path` with every other setting at its default.
    pub fn new(path: &str) -> LoginRoute {
        LoginRoute {
            path: Glob::path(path),
            method: "POST".to_owned(),
            user_fields: DEFAULT_USER_FIELDS.iter().map(|s| s.to_string()).collect(),
            password_fields: DEFAULT_PASSWORD_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            failure_status: DEFAULT_FAILURE_STATUS.to_vec(),
        }
    }

    /// The routes used when none are configured.
    pub fn defaults() -> Vec<LoginRoute> {
        DEFAULT_PATHS.iter().map(|p| LoginRoute::new(p)).collect()
    }

    /// Whether the route takes requests with `method`.
    pub fn takes(&self, method: &[u8]) -> bool {
        self.method == "*" || self.method.as_bytes().eq_ignore_ascii_case(method)
    }

    fn matches(&self, method: &[u8], path: &[u8]) -> bool {
        self.takes(method) && self.path.matches_caseless(path, b'/')
    }
}

/// The first route matching the request, by index.
pub fn route(routes: &[LoginRoute], method: &[u8], path: &[u8]) -> Option<usize> {
    routes.iter().position(|r| r.matches(method, path))
}

/// The path of a request target: origin-form up to `?`/`#`; absolute-form
/// (`http://host/p`) without scheme and authority.
pub fn path_of(target: &[u8]) -> &[u8] {
    let mut t = target;
    for scheme in [&b"http://"[..], b"https://"] {
        if t.len() > scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &t[scheme.len()..];
            t = rest
                .iter()
                .position(|&c| c == b'/')
                .map_or(&b"/"[..], |i| &rest[i..]);
            break;
        }
    }
    let end = t
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(t.len());
    &t[..end]
}

/// Longest path normalised for login matching; longer ones are matched raw.
pub const MAX_PATH: usize = 2048;

/// Writes `path` (no query) into `out` (at least [`MAX_PATH`] bytes are
/// useful) as a backend would resolve it:
/// percent escapes decoded, empty and `.` segments dropped, `..` removing the
/// previous segment, `;params` of a segment dropped, no trailing `/`. Returns
/// the normalised length, or `None` if it does not fit (match the raw path).
pub fn normalise_path(path: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    let mut i = 0;
    while i < path.len() {
        // One segment, decoded into place after a '/', up to the next '/'
        // (an encoded %2F stays inside the segment, as most servers keep it).
        *out.get_mut(n)? = b'/';
        let mut len = 0;
        let mut params = false;
        while i < path.len() && path[i] != b'/' {
            let mut c = path[i];
            if c == b'%' {
                if let (Some(h), Some(l)) = (hex(path.get(i + 1)), hex(path.get(i + 2))) {
                    c = h << 4 | l;
                    i += 2;
                }
            }
            i += 1;
            if c == b';' {
                params = true;
            }
            if !params {
                *out.get_mut(n + 1 + len)? = c;
                len += 1;
            }
        }
        i += 1;
        match &out[n + 1..n + 1 + len] {
            b"" | b"." => {}
            b".." => {
                // Back to the previous '/', never above the root.
                while n > 0 && out[n - 1] != b'/' {
                    n -= 1;
                }
                n = n.saturating_sub(1);
            }
            _ => n += 1 + len,
        }
    }
    if n == 0 {
        *out.first_mut()? = b'/';
        n = 1;
    }
    Some(n)
}

/// How a field's raw bytes must be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enc {
    Plain,
    JsonEscaped,
    Form,
}

/// A credential field found in a body: raw bytes and their encoding.
pub type Field<'b> = (&'b [u8], Enc);

/// The username and password fields of a login body.
pub fn body_fields<'b>(
    route: &LoginRoute,
    content_type: Option<&[u8]>,
    body: &'b [u8],
) -> (Option<Field<'b>>, Option<Field<'b>>) {
    let json = match content_type {
        Some(ct) => contains_ci(ct, b"json"),
        None => body.trim_ascii_start().first() == Some(&b'{'),
    };
    if json {
        json_fields(route, body)
    } else if content_type.is_none_or(|ct| contains_ci(ct, b"x-www-form-urlencoded")) {
        form_fields(route, body)
    } else {
        (None, None)
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Best candidate so far: (rank, value); lower rank wins, equal rank: later wins.
type Best<'b> = Option<(usize, Field<'b>)>;

fn offer<'b>(best: &mut Best<'b>, rank: usize, v: Field<'b>) {
    if best.is_none_or(|(r, _)| rank <= r) {
        *best = Some((rank, v));
    }
}

fn rank_of(fields: &[String], key: &[u8], depth: u8) -> Option<usize> {
    let i = fields.iter().position(|f| f.as_bytes() == key)?;
    // Every top-level field outranks every nested one.
    Some(i + usize::from(depth) * fields.len())
}

fn json_fields<'b>(route: &LoginRoute, body: &'b [u8]) -> (Option<Field<'b>>, Option<Field<'b>>) {
    let mut user: Best<'b> = None;
    let mut pass: Best<'b> = None;
    // A truncated prefix still yields the members before the cut.
    json::scan_object(body, true, |depth, key, v| {
        let Value::Str { raw, escaped } = v else {
            return;
        };
        let enc = if escaped {
            Enc::JsonEscaped
        } else {
            Enc::Plain
        };
        if let Some(r) = rank_of(&route.user_fields, key, depth) {
            offer(&mut user, r, (raw, enc));
        }
        if let Some(r) = rank_of(&route.password_fields, key, depth) {
            offer(&mut pass, r, (raw, enc));
        }
    });
    (user.map(|(_, f)| f), pass.map(|(_, f)| f))
}

fn form_fields<'b>(route: &LoginRoute, body: &'b [u8]) -> (Option<Field<'b>>, Option<Field<'b>>) {
    let mut user: Best<'b> = None;
    let mut pass: Best<'b> = None;
    for pair in body.split(|&c| c == b'&') {
        let (key, value) = match pair.iter().position(|&c| c == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => continue,
        };
        if let Some(r) = rank_of(&route.user_fields, key, 0) {
            offer(&mut user, r, (value, Enc::Form));
        }
        if let Some(r) = rank_of(&route.password_fields, key, 0) {
            offer(&mut pass, r, (value, Enc::Form));
        }
    }
    (user.map(|(_, f)| f), pass.map(|(_, f)| f))
}

/// Percent- and `+`-decodes a form value into `out` (without growing it).
/// A malformed `%` escape is kept literally, as browsers and most servers do.
pub fn form_decode(raw: &[u8], out: &mut Vec<u8>) -> bool {
    let mark = out.len();
    if out.capacity() - mark < raw.len() {
        return false;
    }
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        let b = match c {
            b'+' => b' ',
            b'%' => match (hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
                (Some(h), Some(l)) => {
                    i += 2;
                    h << 4 | l
                }
                _ => b'%',
            },
            _ => c,
        };
        out.push(b);
        i += 1;
    }
    true
}

fn hex(c: Option<&u8>) -> Option<u8> {
    (*c? as char).to_digit(16).map(|d| d as u8)
}

/// Appends `raw` trimmed and ASCII-lowercased to `out`; false if no room.
pub fn normalise_user(raw: &[u8], out: &mut Vec<u8>) -> bool {
    let t = raw.trim_ascii();
    let mark = out.len();
    if !push_bounded(out, t) {
        return false;
    }
    out[mark..].make_ascii_lowercase();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    type Owned = Option<(String, Enc)>;

    fn fields(ct: Option<&str>, body: &str) -> (Owned, Owned) {
        let route = LoginRoute::new("/login");
        let (u, p) = body_fields(&route, ct.map(str::as_bytes), body.as_bytes());
        let s = |f: Option<Field<'_>>| f.map(|(r, e)| (String::from_utf8_lossy(r).into_owned(), e));
        (s(u), s(p))
    }

    #[test]
    fn default_routes_and_paths() {
        let r = LoginRoute::defaults();
        for (m, t, want) in [
            ("POST", "/login", Some(0)),
            ("POST", "/api/v1/login?next=/", Some(0)),
            ("post", "/auth/signin", Some(1)),
            ("POST", "/oauth/token", Some(3)),
            ("POST", "http://h.example/api/sessions", Some(4)),
            ("GET", "/login", None),
            ("POST", "/login/extra", None),
            ("POST", "/loginx", None),
        ] {
            assert_eq!(
                route(&r, m.as_bytes(), path_of(t.as_bytes())),
                want,
                "{m} {t}"
            );
        }
        assert_eq!(path_of(b"https://h"), b"/");
        assert_eq!(path_of(b"/a#f"), b"/a");
    }

    #[test]
    fn evasive_spellings_of_a_login_path_still_match() {
        let r = LoginRoute::defaults();
        let mut buf = vec![0u8; MAX_PATH];
        for t in [
            "/API/v1/Login",
            "//api//v1/login/",
            "/api/v1/./x/../login",
            "/api/v1/%6Cogin",
            "/api/v1/login;jsessionid=abc",
            "/login/.",
        ] {
            let n = normalise_path(path_of(t.as_bytes()), &mut buf).unwrap();
            assert_eq!(route(&r, b"POST", &buf[..n]), Some(0), "{t}");
        }
        for (t, want) in [
            ("/", "/"),
            ("", "/"),
            ("/../../a", "/a"),
            ("/a/b/..", "/a"),
            ("/a%2Fb/c", "/a/b/c"),
            ("/a%zz", "/a%zz"),
        ] {
            let n = normalise_path(t.as_bytes(), &mut buf).unwrap();
            assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), want, "{t}");
        }
        assert_eq!(normalise_path(&[b'a'; MAX_PATH + 1], &mut buf), None);
    }

    #[test]
    fn json_bodies() {
        let (u, p) = fields(
            Some("application/json; charset=utf-8"),
            r#"{"username":"Alice","password":"s3cret"}"#,
        );
        assert_eq!(u, Some(("Alice".into(), Enc::Plain)));
        assert_eq!(p, Some(("s3cret".into(), Enc::Plain)));
        // Nested one level; a top-level field still wins; first-listed field wins.
        let (u, _) = fields(None, r#"{"data":{"username":"nested"},"email":"top@x"}"#);
        assert_eq!(u.unwrap().0, "top@x");
        let (u, _) = fields(None, r#"{"user":{"email":"n@x","username":"n1"}}"#);
        assert_eq!(u.unwrap().0, "n1");
        let (u, _) = fields(None, r#"{"email":"e@x","username":"u"}"#);
        assert_eq!(u.unwrap().0, "u");
        // Duplicates: the last one.
        let (u, _) = fields(None, r#"{"username":"first","username":"second"}"#);
        assert_eq!(u.unwrap().0, "second");
        // Escapes are reported for decoding.
        let (u, _) = fields(None, r#"{"username":"a\u0041\"b"}"#);
        assert_eq!(u, Some((r#"a\u0041\"b"#.into(), Enc::JsonEscaped)));
        // Truncated after the user: the user is still read.
        let (u, p) = fields(None, r#"{"username":"bob","password":"tr"#);
        assert_eq!((u.unwrap().0.as_str(), p), ("bob", None));
        // Non-string values are not usernames.
        assert_eq!(fields(None, r#"{"username":12}"#).0, None);
    }

    #[test]
    fn form_bodies() {
        let (u, p) = fields(
            Some("application/x-www-form-urlencoded"),
            "x=1&user=Bob+Smith%40example.com&pwd=a%2Bb+c&email=",
        );
        assert_eq!(u, Some(("Bob+Smith%40example.com".into(), Enc::Form)));
        assert_eq!(p, Some(("a%2Bb+c".into(), Enc::Form)));
        let mut out = Vec::with_capacity(64);
        assert!(form_decode(b"Bob+Smith%40example.com", &mut out));
        assert_eq!(out, b"Bob Smith@example.com");
        out.clear();
        assert!(form_decode(b"100%+%zz%4", &mut out));
        assert_eq!(out, b"100% %zz%4");
        // No content type and not JSON: read as a form.
        assert_eq!(fields(None, "username=x").0.unwrap().0, "x");
        // Other content types carry no fields.
        assert_eq!(fields(Some("text/plain"), "username=x"), (None, None));
        let mut small = Vec::with_capacity(2);
        assert!(!form_decode(b"abc", &mut small));
    }

    #[test]
    fn usernames_are_normalised() {
        let mut out = Vec::with_capacity(64);
        assert!(normalise_user(b"  Alice@Example.COM\t", &mut out));
        assert_eq!(out, b"alice@example.com");
    }
}
