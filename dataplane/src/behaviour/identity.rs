//! Per-request client identity: who sent a request, by every key the behaviour
//! engine counts by.
//!
//! One [`IdentityExtractor`] per core is built from the [`IdentityConfig`] at
//! start or reload (every buffer is allocated then); [`IdentityExtractor::extract`]
//! reads one request's [`RequestParts`] and returns its [`Identity`] without
//! allocating. Identity values borrow from the request or from the
//! extractor's buffers, so they live until the next extraction; turn them into
//! the policy evaluator's layout with [`Identity::facts`].
//!
//! What is read (each documented in the module that does it):
//! - `client_ip`: the peer, or behind a trusted proxy the client from
//!   `Forwarded`/`X-Forwarded-For` per `client_ip_header` (`forwarded.rs`).
//! - `api_key`: the first configured header present (`api_key_headers`, by
//!   config order), else the first configured query argument (`api_key_args`,
//!   percent-decoded).
//! - `token`: the `Authorization: Bearer` token's keyed hash (see
//!   [`TokenHasher`]) as 32 lowercase hex digits — never the token itself.
//! - `jwt_sub`, `jwt_iss`, `jwt_invalid`: from a JWT bearer token (`jwt.rs`).
//! - `session`: the first configured cookie (`session_cookies`, by config
//!   order) present in any `Cookie` header; surrounding quotes removed.
//! - `user`, `password`, `login_route`: on a login route (`login.rs`) from the
//!   body; on any request from `Authorization: Basic` when the body gave no
//!   username (Basic credentials are a login on every request they are sent
//!   with). Usernames are trimmed and ASCII-lowercased.
//!
//! Values longer than [`MAX_FIELD`] bytes (after decoding) are not identities
//! and are left out; so are values that do not decode.
//!
//! In a core's judge (the extractor a field beside the evaluator, so the two
//! borrows are disjoint):
//!
//! ```ignore
//! let id = self.identity.extract(&RequestParts {
//!     method, target, headers, body, peer, peer_trusted,
//! });
//! let mut facts = Facts::client(id.client_ip);
//! facts.identity = id.facts();
//! facts.password = id.password;
//! // ... evaluate; after the response, `id.login_route` and the route's
//! // `failure_status` say whether this was a failed login.
//! ```

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use rampart_policy_loader::measures::IdentityProp;
use sha2::{Digest, Sha256};

use super::forwarded::{self, ClientIpHeader};
use super::json::{self, push_bounded};
use super::jwt::{JwtConfig, JwtReader, MAX_HEADER, MAX_PAYLOAD};
use super::login::{self, Enc, LoginRoute};
use super::{b64, Buf, Loc};

/// Longest decoded API key, username, password or session value kept.
pub const MAX_FIELD: usize = 1024;
/// Session cookie names used when `session_cookies` is not configured.
pub const DEFAULT_SESSION_COOKIES: &[&str] = &[
    "session",
    "sessionid",
    "JSESSIONID",
    "PHPSESSID",
    "connect.sid",
];
/// API key headers used when `api_key_headers` is not configured.
pub const DEFAULT_API_KEY_HEADERS: &[&str] = &["x-api-key"];

/// Length of the `token` identity: 128 bits of keyed hash, in hex.
pub const TOKEN_HEX: usize = 32;

/// The `[behaviour]` identity settings.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    /// Lowercase header names carrying an API key.
    pub api_key_headers: Vec<String>,
    /// Query argument names carrying an API key.
    pub api_key_args: Vec<String>,
    /// Cookie names carrying a session id (case-sensitive, as cookies are).
    pub session_cookies: Vec<String>,
    pub jwt: JwtConfig,
    /// Login routes; [`LoginRoute::defaults`] unless configured; empty: none.
    pub login: Vec<LoginRoute>,
    /// Which header names the client behind a trusted proxy.
    pub client_ip_header: ClientIpHeader,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            api_key_headers: DEFAULT_API_KEY_HEADERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            api_key_args: Vec::new(),
            session_cookies: DEFAULT_SESSION_COOKIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            jwt: JwtConfig::default(),
            login: LoginRoute::defaults(),
            client_ip_header: ClientIpHeader::Auto,
        }
    }
}

/// The parts of a request identity is read from.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'r> {
    pub method: &'r [u8],
    /// The request target as received (path and query).
    pub target: &'r [u8],
    pub headers: &'r [(&'r [u8], &'r [u8])],
    /// The inspected body prefix, already dechunked.
    pub body: &'r [u8],
    /// The connection's peer.
    pub peer: IpAddr,
    /// Whether `peer` is in `[forwarding] trusted_proxies`.
    pub peer_trusted: bool,
}

/// One request's identity. See the module doc for what each field holds.
#[derive(Clone, Copy, Debug)]
pub struct Identity<'r> {
    pub client_ip: IpAddr,
    pub api_key: Option<&'r [u8]>,
    pub token: Option<&'r [u8]>,
    pub jwt_sub: Option<&'r [u8]>,
    pub jwt_iss: Option<&'r [u8]>,
    /// JWT verification is on and the bearer token failed it (bad or missing
    /// signature, unknown key or algorithm, expired, not yet valid, not a JWT).
    pub jwt_invalid: bool,
    pub session: Option<&'r [u8]>,
    pub user: Option<&'r [u8]>,
    pub password: Option<&'r [u8]>,
    /// Index into [`IdentityConfig::login`] of the login route the request is on.
    pub login_route: Option<usize>,
    ip_text: [u8; 46],
    ip_len: u8,
}

impl<'r> Identity<'r> {
    /// The client address as text (`203.0.113.7`, `2001:db8::1`).
    pub fn client_ip_text(&self) -> &[u8] {
        &self.ip_text[..usize::from(self.ip_len)]
    }

    /// The identity in [`rampart_policy_loader::Facts::identity`]'s layout
    /// (indexed by [`IdentityProp::index`]); `client.ip` is the address as text.
    pub fn facts(&self) -> [Option<&[u8]>; 7] {
        let mut f: [Option<&[u8]>; 7] = [None; 7];
        f[IdentityProp::ClientIp.index()] = Some(self.client_ip_text());
        f[IdentityProp::ApiKey.index()] = self.api_key;
        f[IdentityProp::Token.index()] = self.token;
        f[IdentityProp::JwtSub.index()] = self.jwt_sub;
        f[IdentityProp::JwtIss.index()] = self.jwt_iss;
        f[IdentityProp::Session.index()] = self.session;
        f[IdentityProp::User.index()] = self.user;
        f
    }
}

/// Hashes bearer tokens for use as identities: SHA-256 over a per-process
/// random 256-bit key block and the token, truncated to 128 bits.
///
/// Why keyed and hashed: the raw token is a credential; a `token` identity
/// goes into counter tables, cross-core messages and possibly events, where a
/// copy of a live credential must not be. An unkeyed hash would still let
/// anyone holding a leaked token (or a log) confirm it by hashing; with a
/// secret key that lives only in this process the hash identifies a token to
/// this gateway and nobody else, and an attacker cannot craft tokens whose
/// hashes collide in the counter tables or the JWT verification cache. 128
/// bits keeps accidental collisions out of reach. SHA-256 (SHA-NI on current
/// x86) costs ~1 ns per token byte, in the same range as SipHash, and is
/// already a dependency.
#[derive(Clone)]
pub struct TokenHasher {
    keyed: Sha256,
}

impl TokenHasher {
    /// `key`: the same for every core of the process (tokens are counted by
    /// hash across cores), e.g. [`crate::enforce::random_bytes`] once at start.
    pub fn new(key: &[u8; 32]) -> TokenHasher {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(key);
        let mut keyed = Sha256::new();
        keyed.update(block);
        TokenHasher { keyed }
    }

    /// The 128-bit keyed hash of `token`.
    pub fn hash(&self, token: &[u8]) -> [u8; 16] {
        let mut h = self.keyed.clone();
        h.update(token);
        let d: [u8; 32] = h.finalize().into();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }
}

/// One core's identity extractor.
pub struct IdentityExtractor {
    api_key_headers: Vec<Vec<u8>>,
    api_key_args: Vec<Vec<u8>>,
    session_cookies: Vec<Vec<u8>>,
    login: Vec<LoginRoute>,
    trusted: Vec<IpNet>,
    client_ip_header: ClientIpHeader,
    hasher: TokenHasher,
    jwt: JwtReader,
    verify_jwt: bool,
    jwt_buf: Vec<u8>,
    basic_buf: Vec<u8>,
    scratch: Vec<u8>,
    /// The normalised path for login matching (fixed length, never grown).
    path_buf: Box<[u8]>,
}

/// The extraction before buffer positions become slices.
#[derive(Default)]
struct Found<'r> {
    api_key: Option<Loc<'r>>,
    token: Option<Loc<'r>>,
    jwt_sub: Option<Loc<'r>>,
    jwt_iss: Option<Loc<'r>>,
    jwt_invalid: bool,
    session: Option<Loc<'r>>,
    user: Option<Loc<'r>>,
    password: Option<Loc<'r>>,
    login_route: Option<usize>,
}

impl IdentityExtractor {
    /// Builds a core's extractor (allocates every buffer it will use).
    /// `trusted_proxies` is `[forwarding] trusted_proxies`; `token_key` the
    /// process's token-hash key (see [`TokenHasher::new`]).
    pub fn new(
        cfg: &IdentityConfig,
        trusted_proxies: &[IpNet],
        token_key: &[u8; 32],
    ) -> IdentityExtractor {
        let bytes = |v: &[String], lower: bool| -> Vec<Vec<u8>> {
            v.iter()
                .map(|s| {
                    if lower {
                        s.to_ascii_lowercase().into_bytes()
                    } else {
                        s.as_bytes().to_vec()
                    }
                })
                .collect()
        };
        IdentityExtractor {
            api_key_headers: bytes(&cfg.api_key_headers, true),
            api_key_args: bytes(&cfg.api_key_args, false),
            session_cookies: bytes(&cfg.session_cookies, false),
            login: cfg.login.clone(),
            trusted: trusted_proxies.to_vec(),
            client_ip_header: cfg.client_ip_header,
            hasher: TokenHasher::new(token_key),
            jwt: JwtReader::new(&cfg.jwt),
            verify_jwt: cfg.jwt.verify,
            jwt_buf: Vec::with_capacity(MAX_PAYLOAD + MAX_HEADER),
            basic_buf: Vec::with_capacity(2 * MAX_FIELD + 2),
            // Token hex, two claims (each at most the payload), and three
            // decoded fields (API key, user, password).
            scratch: Vec::with_capacity(TOKEN_HEX + 2 * MAX_PAYLOAD + 3 * MAX_FIELD),
            path_buf: vec![0u8; login::MAX_PATH].into_boxed_slice(),
        }
    }

    /// The login routes, indexed like [`Identity::login_route`].
    pub fn login_routes(&self) -> &[LoginRoute] {
        &self.login
    }

    /// The token hasher (the lead may hash other credentials the same way).
    pub fn hasher(&self) -> &TokenHasher {
        &self.hasher
    }

    /// One request's identity; JWT lifetimes are judged against the system clock.
    pub fn extract<'r>(&'r mut self, req: &RequestParts<'r>) -> Identity<'r> {
        self.extract_inner(req, None)
    }

    /// Like [`extract`](Self::extract) at unix time `now` (seconds).
    pub fn extract_at<'r>(&'r mut self, req: &RequestParts<'r>, now: i64) -> Identity<'r> {
        self.extract_inner(req, Some(now))
    }

    fn extract_inner<'r>(&'r mut self, req: &RequestParts<'r>, now: Option<i64>) -> Identity<'r> {
        let client_ip = forwarded::client_ip(
            req.peer,
            req.peer_trusted,
            req.headers,
            &self.trusted,
            self.client_ip_header,
        );
        let found = self.fill(req, now);
        let this: &'r IdentityExtractor = self;
        let get = |l: Option<Loc<'r>>| -> Option<&'r [u8]> {
            match l? {
                Loc::Req(v) => Some(v),
                Loc::In(buf, start, len) => {
                    let b = match buf {
                        Buf::Jwt => &this.jwt_buf,
                        Buf::Basic => &this.basic_buf,
                        Buf::Scratch => &this.scratch,
                    };
                    b.get(start..start + len)
                }
            }
        };
        let mut ip_text = [0u8; 46];
        let ip_len = write_ip(client_ip, &mut ip_text);
        Identity {
            client_ip,
            api_key: get(found.api_key),
            token: get(found.token),
            jwt_sub: get(found.jwt_sub),
            jwt_iss: get(found.jwt_iss),
            jwt_invalid: found.jwt_invalid,
            session: get(found.session),
            user: get(found.user),
            password: get(found.password),
            login_route: found.login_route,
            ip_text,
            ip_len: ip_len as u8,
        }
    }

    fn fill<'r>(&mut self, req: &RequestParts<'r>, now: Option<i64>) -> Found<'r> {
        self.scratch.clear();
        self.basic_buf.clear();
        self.jwt_buf.clear();
        let mut f = Found::default();
        let mut bearer: Option<&'r [u8]> = None;
        let mut basic: Option<&'r [u8]> = None;
        let mut content_type: Option<&'r [u8]> = None;
        let mut api_rank = usize::MAX;
        let mut session_rank = usize::MAX;
        let mut saw_authorization = false;
        for &(name, value) in req.headers {
            if name.eq_ignore_ascii_case(b"authorization") {
                if !saw_authorization {
                    saw_authorization = true;
                    let v = value.trim_ascii();
                    if let Some(t) = scheme(v, b"bearer") {
                        bearer = Some(t);
                    } else if let Some(t) = scheme(v, b"basic") {
                        basic = Some(t);
                    }
                }
            } else if name.eq_ignore_ascii_case(b"cookie") {
                cookies(
                    value,
                    &self.session_cookies,
                    &mut session_rank,
                    &mut f.session,
                );
            } else if name.eq_ignore_ascii_case(b"content-type") {
                content_type.get_or_insert(value);
            } else if let Some(r) = self
                .api_key_headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
            {
                let v = value.trim_ascii();
                if r < api_rank && !v.is_empty() && v.len() <= MAX_FIELD {
                    api_rank = r;
                    f.api_key = Some(Loc::Req(v));
                }
            }
        }
        if f.api_key.is_none() && !self.api_key_args.is_empty() {
            f.api_key = self.query_api_key(req.target);
        }

        if let Some(token) = bearer {
            let digest = self.hasher.hash(token);
            let mark = self.scratch.len();
            let mut hex = [0u8; TOKEN_HEX];
            for (i, b) in digest.iter().enumerate() {
                hex[2 * i] = HEX[usize::from(b >> 4)];
                hex[2 * i + 1] = HEX[usize::from(b & 15)];
            }
            if push_bounded(&mut self.scratch, &hex) {
                f.token = Some(Loc::In(Buf::Scratch, mark, TOKEN_HEX));
            }
            let now = match now {
                Some(n) => n,
                None if self.verify_jwt => unix_now(),
                None => 0,
            };
            let out = self.jwt.read(
                token,
                u128::from_le_bytes(digest),
                now,
                &mut self.jwt_buf,
                &mut self.scratch,
            );
            f.jwt_sub = out.sub;
            f.jwt_iss = out.iss;
            f.jwt_invalid = out.invalid;
        }

        // Most API requests are GETs and logins POSTs: skip the path work
        // when no route takes this method.
        if self.login.iter().any(|r| r.takes(req.method)) {
            let raw_path = login::path_of(req.target);
            let path = match login::normalise_path(raw_path, &mut self.path_buf) {
                Some(n) => &self.path_buf[..n],
                None => raw_path,
            };
            f.login_route = login::route(&self.login, req.method, path);
        }
        if let Some(i) = f.login_route {
            let (user, pass) = login::body_fields(&self.login[i], content_type, req.body);
            if let Some((raw, enc)) = user {
                f.user = decode_user(raw, enc, &mut self.scratch);
            }
            if let Some((raw, enc)) = pass {
                f.password = decode_field(raw, enc, &mut self.scratch);
            }
        }
        if f.user.is_none() {
            if let Some(b) = basic {
                if b64::decode(b, &mut self.basic_buf) {
                    let creds = &self.basic_buf[..];
                    let colon = creds.iter().position(|&c| c == b':');
                    let (u, p) = match colon {
                        Some(c) => (&creds[..c], Some(c + 1)),
                        None => (creds, None),
                    };
                    let mark = self.scratch.len();
                    if !u.trim_ascii().is_empty() && login::normalise_user(u, &mut self.scratch) {
                        f.user = Some(Loc::In(Buf::Scratch, mark, self.scratch.len() - mark));
                        if let Some(p) = p {
                            f.password = Some(Loc::In(Buf::Basic, p, self.basic_buf.len() - p));
                        }
                    }
                }
            }
        }
        f
    }

    fn query_api_key<'r>(&mut self, target: &'r [u8]) -> Option<Loc<'r>> {
        let q = target.iter().position(|&c| c == b'?')?;
        let query = &target[q + 1..];
        let query = &query[..query.iter().position(|&c| c == b'#').unwrap_or(query.len())];
        let mut best: Option<(usize, &'r [u8])> = None;
        for pair in query.split(|&c| c == b'&') {
            let Some(eq) = pair.iter().position(|&c| c == b'=') else {
                continue;
            };
            let (k, v) = (&pair[..eq], &pair[eq + 1..]);
            if let Some(r) = self.api_key_args.iter().position(|a| a == k) {
                if !v.is_empty() && best.is_none_or(|(br, _)| r < br) {
                    best = Some((r, v));
                }
            }
        }
        let (_, v) = best?;
        decode_field(v, Enc::Form, &mut self.scratch)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `ip` as text; its length. IPv4 by hand: `Display` costs ~1000
/// instructions through the formatting machinery, this ~50.
fn write_ip(ip: IpAddr, out: &mut [u8; 46]) -> usize {
    match ip {
        IpAddr::V4(v4) => {
            let mut n = 0;
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out[n] = b'.';
                    n += 1;
                }
                if o >= 100 {
                    out[n] = b'0' + o / 100;
                    n += 1;
                }
                if o >= 10 {
                    out[n] = b'0' + o / 10 % 10;
                    n += 1;
                }
                out[n] = b'0' + o % 10;
                n += 1;
            }
            n
        }
        IpAddr::V6(_) => {
            use std::io::Write;
            let mut w = &mut out[..];
            // An address is at most 45 characters; the buffer cannot run out.
            let _ = write!(w, "{ip}");
            46 - w.len()
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `v` after an auth scheme name (case-insensitive) and its spaces.
fn scheme<'v>(v: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    if v.len() <= name.len() || !v[..name.len()].eq_ignore_ascii_case(name) {
        return None;
    }
    let rest = &v[name.len()..];
    if rest[0] != b' ' {
        return None;
    }
    let t = rest.trim_ascii();
    (!t.is_empty()).then_some(t)
}

/// Picks the best-ranked configured session cookie from one `Cookie` value;
/// among equals, the first seen.
fn cookies<'r>(value: &'r [u8], names: &[Vec<u8>], rank: &mut usize, out: &mut Option<Loc<'r>>) {
    for pair in value.split(|&c| c == b';') {
        let Some(eq) = pair.iter().position(|&c| c == b'=') else {
            continue;
        };
        let name = pair[..eq].trim_ascii();
        let Some(r) = names.iter().position(|n| n.as_slice() == name) else {
            continue;
        };
        let mut v = pair[eq + 1..].trim_ascii();
        if let [b'"', inner @ .., b'"'] = v {
            v = inner;
        }
        if r < *rank && !v.is_empty() && v.len() <= MAX_FIELD {
            *rank = r;
            *out = Some(Loc::Req(v));
        }
    }
}

/// A field's value decoded per its encoding, at most [`MAX_FIELD`] bytes.
fn decode_field<'r>(raw: &'r [u8], enc: Enc, scratch: &mut Vec<u8>) -> Option<Loc<'r>> {
    if raw.is_empty() || raw.len() > MAX_FIELD * 6 {
        return None;
    }
    let mark = scratch.len();
    let ok = match enc {
        Enc::Plain => return (raw.len() <= MAX_FIELD).then_some(Loc::Req(raw)),
        Enc::Form if !raw.iter().any(|&c| c == b'%' || c == b'+') => {
            return (raw.len() <= MAX_FIELD).then_some(Loc::Req(raw));
        }
        Enc::Form => login::form_decode(raw, scratch),
        Enc::JsonEscaped => json::unescape(raw, scratch),
    };
    let len = scratch.len() - mark;
    if !ok || len > MAX_FIELD {
        scratch.truncate(mark);
        return None;
    }
    Some(Loc::In(Buf::Scratch, mark, len))
}

/// A username decoded, trimmed and lowercased into `scratch`.
fn decode_user<'r>(raw: &'r [u8], enc: Enc, scratch: &mut Vec<u8>) -> Option<Loc<'r>> {
    let mark = scratch.len();
    let decoded = decode_field(raw, enc, scratch)?;
    let (start, len) = match decoded {
        Loc::Req(v) => {
            if !login::normalise_user(v, scratch) {
                return None;
            }
            (mark, scratch.len() - mark)
        }
        Loc::In(_, start, len) => {
            let v = &mut scratch[start..start + len];
            v.make_ascii_lowercase();
            let lead = v.iter().take_while(|c| c.is_ascii_whitespace()).count();
            let trimmed = v[lead..].trim_ascii_end().len();
            (start + lead, trimmed)
        }
    };
    (len > 0).then_some(Loc::In(Buf::Scratch, start, len))
}

#[cfg(test)]
mod tests {
    use super::write_ip;

    #[test]
    fn addresses_as_text() {
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "192.168.1.20",
            "::1",
            "2001:db8::8a2e:370:7334",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
        ] {
            let mut out = [0u8; 46];
            let n = write_ip(s.parse().unwrap(), &mut out);
            let want = s.parse::<std::net::IpAddr>().unwrap().to_string();
            assert_eq!(std::str::from_utf8(&out[..n]).unwrap(), want);
        }
    }
}
