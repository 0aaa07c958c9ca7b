//! `[behaviour]`'s client-identity keys: `api_key_headers`, `api_key_args`,
//! `session_cookies`, `client_ip_header`, `[behaviour.jwt]` and `[[behaviour.login]]`. The key
//! files of `[behaviour.jwt]` are read later, by `config::load_file`, which
//! knows the directory relative paths start from.

use std::path::PathBuf;
use std::time::Duration;

use super::{table_array, Ctx, Field, Section, JWT_KEYS, LOGIN_KEYS};
use crate::behaviour::{ClientIpHeader, IdentityConfig, JwtConfig, KeyFile, LoginRoute};

/// Longest `[behaviour.jwt] leeway` accepted.
const MAX_LEEWAY: Duration = Duration::from_secs(24 * 3600);

pub(super) fn parse(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> IdentityConfig {
    let d = IdentityConfig::default();
    let api_key_headers = s
        .get("api_key_headers")
        .map(|f| names(cx, &f, "header names like [\"x-api-key\"]", Names::Header))
        .map_or(d.api_key_headers, |v| {
            v.into_iter().map(|n| n.to_ascii_lowercase()).collect()
        });
    let api_key_args = s
        .get("api_key_args")
        .map(|f| {
            names(
                cx,
                &f,
                "query argument names like [\"api_key\"]",
                Names::Field,
            )
        })
        .unwrap_or(d.api_key_args);
    let session_cookies = s
        .get("session_cookies")
        .map(|f| names(cx, &f, "cookie names like [\"session\"]", Names::Cookie))
        .unwrap_or(d.session_cookies);
    let client_ip_header = s
        .get("client_ip_header")
        .and_then(|f| match cx.str(&f)? {
            "auto" => Some(ClientIpHeader::Auto),
            "forwarded" => Some(ClientIpHeader::Forwarded),
            "x-forwarded-for" => Some(ClientIpHeader::XForwardedFor),
            other => {
                cx.err(
                    f.v.span(),
                    format!(
                        "{} must be \"auto\", \"forwarded\" or \"x-forwarded-for\", got {other:?}",
                        f.name
                    ),
                );
                None
            }
        })
        .unwrap_or(d.client_ip_header);
    let jwt = match s.get("jwt") {
        Some(f) => jwt(cx, &f),
        None => d.jwt,
    };
    let login = match s.get("login") {
        // An empty `login = []` turns login extraction off.
        Some(f) => logins(cx, &f),
        None => d.login,
    };
    IdentityConfig {
        api_key_headers,
        api_key_args,
        session_cookies,
        jwt,
        login,
        client_ip_header,
    }
}

/// How the names of a list are checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Names {
    /// Header names: token characters, case-insensitive.
    Header,
    /// Cookie names: token characters, case-sensitive.
    Cookie,
    /// Query argument and body field names: anything non-empty.
    Field,
}

/// An array of distinct non-empty names.
fn names(cx: &mut Ctx<'_>, f: &Field<'_, '_>, what: &str, kind: Names) -> Vec<String> {
    let mut out = Vec::new();
    let Some(items) = cx.array(f, &format!("an array of {what}")) else {
        return out;
    };
    for v in items.iter() {
        let item = Field {
            name: f.name.clone(),
            v,
        };
        let Some(n) = cx.str(&item) else { continue };
        if n.is_empty() {
            cx.err(v.span(), format!("{}: names must not be empty", f.name));
        } else if kind != Names::Field && !n.bytes().all(is_tchar) {
            cx.err(
                v.span(),
                format!(
                    "{}: {n:?} is not a valid name (letters, digits and !#$%&'*+-.^_`|~)",
                    f.name
                ),
            );
        } else if out
            .iter()
            .any(|o| o == n || (kind == Names::Header && o.eq_ignore_ascii_case(n)))
        {
            cx.err(v.span(), format!("{}: {n:?} is listed twice", f.name));
        } else {
            out.push(n.to_owned());
        }
    }
    out
}

/// RFC 9110 token characters.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn jwt(cx: &mut Ctx<'_>, f: &Field<'_, '_>) -> JwtConfig {
    let d = JwtConfig::default();
    let s = Section::new(cx, "behaviour.jwt", f.v, JWT_KEYS);
    let verify = s
        .get("verify")
        .and_then(|f| cx.bool(&f))
        .unwrap_or(d.verify);
    let key_file = |cx: &mut Ctx<'_>, f: &Field<'_, '_>| -> Option<KeyFile> {
        let p = cx.str(f)?;
        if p.trim().is_empty() {
            cx.err(f.v.span(), format!("{} must not be empty", f.name));
            return None;
        }
        let (line, col) = cx.line_col(f.v.span().start);
        Some(KeyFile {
            path: PathBuf::from(p),
            line,
            col,
        })
    };
    let hs256_secret_file = s.get("hs256_secret_file").and_then(|f| key_file(cx, &f));
    let mut public_keys = Vec::new();
    if let Some(f) = s.get("public_keys") {
        if let Some(items) = cx.array(&f, "an array of PEM public key files") {
            for v in items.iter() {
                let item = Field {
                    name: f.name.clone(),
                    v,
                };
                if let Some(k) = key_file(cx, &item) {
                    public_keys.push(k);
                }
            }
        }
    }
    let leeway = s
        .get("leeway")
        .and_then(|f| {
            let l = cx.duration(&f, true)?;
            if l > MAX_LEEWAY {
                cx.err(f.v.span(), format!("{} must be at most 24h", f.name));
                return None;
            }
            Some(l)
        })
        .unwrap_or(d.leeway);
    if verify && hs256_secret_file.is_none() && public_keys.is_empty() && !s.broken {
        let at = s.get("verify").map_or(s.span.clone(), |f| f.v.span());
        cx.err(
            at,
            "behaviour.jwt.verify = true needs keys: set hs256_secret_file and/or public_keys",
        );
    }
    JwtConfig {
        verify,
        hs256_secret_file,
        public_keys,
        leeway,
        keys: d.keys,
    }
}

fn logins(cx: &mut Ctx<'_>, f: &Field<'_, '_>) -> Vec<LoginRoute> {
    let mut out = Vec::new();
    let Some(items) = table_array(cx, "behaviour.login", f.v) else {
        return out;
    };
    for item in items.iter() {
        let s = Section::new(cx, "behaviour.login", item, LOGIN_KEYS);
        if s.broken {
            continue;
        }
        if let Some(r) = login(cx, &s) {
            out.push(r);
        }
    }
    out
}

fn login(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> Option<LoginRoute> {
    let path = match s.get("path") {
        Some(f) => match cx.str(&f) {
            Some(p) if p.starts_with('/') || p.starts_with('*') => Some(p),
            Some(p) => {
                cx.err(
                    f.v.span(),
                    format!(
                        "{} must start with '/' or '*' (a path glob), got {p:?}",
                        f.name
                    ),
                );
                None
            }
            None => None,
        },
        None => {
            cx.err(
                s.span.clone(),
                "[[behaviour.login]] is missing its `path` (a glob such as \"/api/*/login\")",
            );
            None
        }
    };
    let mut route = LoginRoute::new(path.unwrap_or("/"));
    if let Some(f) = s.get("method") {
        match cx.str(&f) {
            Some(m) if m == "*" || (!m.is_empty() && m.bytes().all(is_tchar)) => {
                route.method = m.to_ascii_uppercase();
            }
            Some(m) => cx.err(
                f.v.span(),
                format!(
                    "{}: {m:?} is not a method (write e.g. \"POST\", or \"*\" for any)",
                    f.name
                ),
            ),
            None => {}
        }
    }
    for (key, list) in [
        ("user_fields", &mut route.user_fields),
        ("password_fields", &mut route.password_fields),
    ] {
        if let Some(f) = s.get(key) {
            let v = names(cx, &f, "field names like [\"username\"]", Names::Field);
            if v.is_empty() && f.v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
                cx.err(
                    f.v.span(),
                    format!("{} must list at least one field", f.name),
                );
            }
            *list = v;
        }
    }
    if let Some(f) = s.get("failure_status") {
        if let Some(items) = cx.array(&f, "an array of HTTP statuses like [401, 403]") {
            route.failure_status.clear();
            for v in items.iter() {
                let item = Field {
                    name: f.name.clone(),
                    v,
                };
                if let Some(n) = cx.int_in(&item, 100, 599) {
                    route.failure_status.push(n as u16);
                }
            }
        }
    }
    path?;
    Some(route)
}
