//! Formatting one security event as a JSON line into a core's reused buffer.
//!
//! Written by hand rather than with serde: the buffer is allocated once per
//! core with room for the largest event this module can produce (every
//! variable part is capped: path, fragments, number of policies and
//! matches), and formatting never grows it, so emitting an event does not
//! allocate. Strings are escaped for JSON; bytes that are not UTF-8 are
//! written as the text `\xNN`, so a line is always valid JSON and valid UTF-8.
//! Every value that could carry a secret goes through [`Redactor`] first.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_matcher::{FieldKind, Match, Matches};
use rampart_policy_loader::measures::{Counter, COUNTERS, REQUEST_MEASURES};
use rampart_policy_loader::{CompiledPolicy, Cond, Verdict};

use super::redact::{Redactor, REDACTED};

/// Longest logged path (bytes of the target, before escaping).
pub const PATH_MAX: usize = 1024;
/// Longest logged fragment (bytes, before escaping).
pub const FRAGMENT_MAX: usize = 64;
/// Longest `X-Forwarded-For` logged.
const FORWARDED_MAX: usize = 256;
/// Longest policy id/name/field name logged.
const NAME_MAX: usize = 128;
/// Policies listed per event (the rest are counted in `policies_omitted`).
pub const POLICIES_MAX: usize = 16;
/// Matches listed per event (the rest are counted in `matches_omitted`).
pub const MATCHES_MAX: usize = 16;
/// Buffer every core allocates once: the largest event fits with room to
/// spare (escaping can make a byte six, and every part above is capped).
pub const EVENT_BUF: usize = 96 * 1024;

/// Everything an event says, borrowed from the worker and its kit.
pub struct Event<'a> {
    /// The request id (also in the block response and `X-Request-Id`).
    pub id: &'a [u8],
    pub time: SystemTime,
    pub client: IpAddr,
    /// `X-Forwarded-For` as received, when the peer is a trusted proxy.
    pub forwarded_for: Option<&'a [u8]>,
    /// Path prefix of the route that matched.
    pub route: &'a str,
    /// Upstream cluster of that route.
    pub upstream: &'a str,
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub headers: &'a [(&'a [u8], &'a [u8])],
    pub body_len: u64,
    /// What the gateway did (`block`, `rate_limit`, `tag`, `allow`…).
    pub action: &'a str,
    /// Whether that action was carried out (false: monitor only or allowed).
    pub enforced: bool,
    pub policy: &'a CompiledPolicy,
    pub verdict: &'a Verdict,
    pub matches: &'a Matches,
    /// Behaviour counters as the evaluator saw them.
    pub counters: &'a [u64],
    /// Who the behaviour engine took the client to be (`None`: not read,
    /// e.g. a request answered before any scan).
    pub identity: Option<EventIdentity<'a>>,
    /// What the TLS handshake revealed (`None`: a plain connection).
    pub tls: Option<&'a crate::tls::HandshakeFacts>,
}

/// The client identity an event names: the address behind trusted proxies,
/// the login or JWT user, the keyed hash of a bearer token. API keys and
/// sessions are credentials and are never logged.
#[derive(Clone, Copy, Debug)]
pub struct EventIdentity<'a> {
    pub ip: IpAddr,
    pub user: Option<&'a [u8]>,
    pub token: Option<&'a [u8]>,
}

/// A bounded JSON writer over a reused buffer: never grows it; a write that
/// does not fit marks the record as overflowed (it is then not emitted).
struct Out<'b> {
    buf: &'b mut Vec<u8>,
    cap: usize,
    over: bool,
}

impl<'b> Out<'b> {
    /// A writer over `buf`, emptied, bounded by its capacity.
    fn start(buf: &'b mut Vec<u8>) -> Out<'b> {
        buf.clear();
        let cap = buf.capacity();
        Out {
            buf,
            cap,
            over: false,
        }
    }

    fn raw(&mut self, b: &[u8]) {
        if self.buf.len() + b.len() > self.cap {
            self.over = true;
            return;
        }
        self.buf.extend_from_slice(b);
    }

    fn num(&mut self, mut n: u64) {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.raw(&d[i..]);
    }

    /// A quoted, escaped JSON string.
    fn str(&mut self, s: &[u8]) {
        self.raw(b"\"");
        self.esc(s);
        self.raw(b"\"");
    }

    /// `"key":` (keys are constants and need no escaping).
    fn key(&mut self, k: &str) {
        self.raw(b"\"");
        self.raw(k.as_bytes());
        self.raw(b"\":");
    }

    /// Escaped string content (no quotes).
    fn esc(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            let (valid, bad) = match std::str::from_utf8(s) {
                Ok(v) => (v.len(), 0),
                Err(e) => (
                    e.valid_up_to(),
                    e.error_len().unwrap_or(s.len() - e.valid_up_to()),
                ),
            };
            self.esc_utf8(&s[..valid]);
            for &b in &s[valid..valid + bad] {
                self.hex_byte(b);
            }
            s = &s[valid + bad..];
        }
    }

    fn esc_utf8(&mut self, s: &[u8]) {
        let mut run = 0;
        for (i, &b) in s.iter().enumerate() {
            let e: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f | 0x7f => b"",
                _ => continue,
            };
            self.raw(&s[run..i]);
            if e.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.raw(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
            } else {
                self.raw(e);
            }
            run = i + 1;
        }
        self.raw(&s[run..]);
    }

    /// A byte that is not UTF-8, as the visible text `\xNN`.
    fn hex_byte(&mut self, b: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.raw(&[
            b'\\',
            b'\\',
            b'x',
            HEX[(b >> 4) as usize],
            HEX[(b & 15) as usize],
        ]);
    }

    /// Escaped content cut to `max` bytes (at a character boundary), with
    /// `…` when cut.
    fn esc_capped(&mut self, s: &[u8], max: usize) {
        if s.len() <= max {
            self.esc(s);
            return;
        }
        let mut end = max;
        // Back off to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
        while end > 0 && end > max.saturating_sub(3) && s[end] & 0xc0 == 0x80 {
            end -= 1;
        }
        self.esc(&s[..end]);
        self.raw("…".as_bytes());
    }
}

impl std::fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.raw(s.as_bytes());
        Ok(())
    }
}

/// Formats `ev` as one JSON line (ending in `\n`) into `buf`, which is
/// cleared first. Returns `false` when it did not fit in the buffer's
/// capacity (nothing usable is left in `buf` then).
/// `"tls":{...},`: version, SNI, ALPN, fingerprints, resumption and the
/// client certificate's subject.
fn tls_facts(o: &mut Out<'_>, t: &crate::tls::HandshakeFacts) {
    o.key("tls");
    o.raw(b"{");
    o.key("version");
    o.str(t.version_str().unwrap_or("?").as_bytes());
    let fields: [(&str, Option<&[u8]>); 6] = [
        ("sni", t.sni()),
        ("alpn", t.alpn.map(str::as_bytes)),
        ("ja4", t.ja4.as_ref().map(|j| &j.as_bytes()[..])),
        ("ja3", t.ja3.as_ref().map(|j| &j.as_bytes()[..])),
        ("client_subject", t.client.dn()),
        ("client_cn", t.client.cn()),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            o.raw(b",");
            o.key(key);
            o.str(v);
        }
    }
    o.raw(b",");
    o.key("resumed");
    o.raw(if t.resumed { b"true" } else { b"false" });
    o.raw(b"},");
}

pub fn format(ev: &Event<'_>, redact: &Redactor, buf: &mut Vec<u8>) -> bool {
    let mut o = Out::start(buf);
    o.raw(b"{");
    o.key("event_id");
    o.str(ev.id);
    o.raw(b",");
    o.key("time");
    o.raw(b"\"");
    timestamp(&mut o, ev.time);
    o.raw(b"\",");
    o.key("client");
    o.raw(b"{");
    o.key("ip");
    o.raw(b"\"");
    // IpAddr's Display formats on the stack; `Out` never grows the buffer.
    let _ = std::fmt::Write::write_fmt(&mut o, format_args!("{}", ev.client));
    o.raw(b"\"");
    if let Some(xff) = ev.forwarded_for {
        o.raw(b",");
        o.key("forwarded_for");
        o.raw(b"\"");
        o.esc_capped(xff, FORWARDED_MAX);
        o.raw(b"\"");
    }
    if let Some(id) = ev.identity {
        if id.ip != ev.client {
            o.raw(b",");
            o.key("resolved_ip");
            o.raw(b"\"");
            let _ = std::fmt::Write::write_fmt(&mut o, format_args!("{}", id.ip));
            o.raw(b"\"");
        }
        if let Some(user) = id.user {
            o.raw(b",");
            o.key("user");
            o.raw(b"\"");
            o.esc_capped(user, FORWARDED_MAX);
            o.raw(b"\"");
        }
        if let Some(token) = id.token {
            o.raw(b",");
            o.key("token_hash");
            o.raw(b"\"");
            o.esc_capped(token, 64);
            o.raw(b"\"");
        }
    }
    o.raw(b"},");
    if let Some(t) = ev.tls {
        tls_facts(&mut o, t);
    }
    o.key("route");
    o.str(ev.route.as_bytes());
    o.raw(b",");
    o.key("upstream");
    o.str(ev.upstream.as_bytes());
    o.raw(b",");
    o.key("method");
    o.str(&ev.method[..ev.method.len().min(32)]);
    o.raw(b",");
    o.key("path");
    o.raw(b"\"");
    let mut left = PATH_MAX;
    let mut cut = false;
    redact.target(ev.target, |piece| {
        let n = piece.len().min(left);
        if n < piece.len() {
            cut = true;
        }
        if n > 0 {
            o.esc(&piece[..n]);
        }
        left -= n;
    });
    if cut {
        o.raw("…".as_bytes());
    }
    o.raw(b"\",");
    o.key("action");
    o.str(ev.action.as_bytes());
    o.raw(b",");
    o.key("enforced");
    o.raw(if ev.enforced { b"true" } else { b"false" });
    o.raw(b",");
    let v = ev.verdict;
    let mode: &[u8] = if v.hits.iter().any(|h| !h.monitor) {
        b"enforce"
    } else if v.hits.is_empty() {
        b"none"
    } else {
        b"monitor"
    };
    o.key("mode");
    o.str(mode);
    o.raw(b",");
    o.key("score");
    o.num(u64::from(v.score));
    o.raw(b",");
    let pols = &ev.policy.policies;
    o.key("decided_by");
    match v.decision.and_then(|i| pols.get(i)) {
        Some(p) => o.str(cap_name(&p.id)),
        None => o.raw(b"null"),
    }
    o.raw(b",");
    o.key("allowed_by");
    match v.allowed_by.and_then(|i| pols.get(i)) {
        Some(p) => o.str(cap_name(&p.id)),
        None => o.raw(b"null"),
    }
    o.raw(b",");
    o.key("policies");
    o.raw(b"[");
    for (k, h) in v.hits.iter().take(POLICIES_MAX).enumerate() {
        let Some(p) = pols.get(h.policy) else {
            continue;
        };
        if k > 0 {
            o.raw(b",");
        }
        o.raw(b"{");
        o.key("id");
        o.str(cap_name(&p.id));
        o.raw(b",");
        o.key("name");
        o.str(cap_name(&p.name));
        o.raw(b",");
        o.key("mode");
        o.str(if h.monitor { b"monitor" } else { b"enforce" });
        o.raw(b",");
        o.key("action");
        o.str(p.action.name().as_bytes());
        o.raw(b",");
        o.key("severity");
        o.str(p.severity.as_str().as_bytes());
        o.raw(b",");
        o.key("score");
        o.num(u64::from(p.score));
        o.raw(b"}");
    }
    o.raw(b"],");
    if v.hits.len() > POLICIES_MAX {
        o.key("policies_omitted");
        o.num((v.hits.len() - POLICIES_MAX) as u64);
        o.raw(b",");
    }
    o.key("matches");
    o.raw(b"[");
    for (k, m) in ev.matches.iter().take(MATCHES_MAX).enumerate() {
        if k > 0 {
            o.raw(b",");
        }
        write_match(&mut o, ev, m, redact);
    }
    o.raw(b"],");
    let omitted =
        ev.matches.len().saturating_sub(MATCHES_MAX) as u64 + u64::from(ev.matches.dropped());
    if omitted > 0 {
        o.key("matches_omitted");
        o.num(omitted);
        o.raw(b",");
    }
    o.key("counters");
    o.raw(b"{");
    write_counters(&mut o, ev);
    o.raw(b"}}\n");
    !o.over
}

fn cap_name(s: &str) -> &[u8] {
    &s.as_bytes()[..s.len().min(NAME_MAX)]
}

fn write_match(o: &mut Out<'_>, ev: &Event<'_>, m: &Match, redact: &Redactor) {
    o.raw(b"{");
    o.key("signature");
    o.str(cap_name(
        ev.policy.matcher.signature_id(m.signature).unwrap_or("?"),
    ));
    o.raw(b",");
    o.key("field");
    o.str(m.kind.as_str().as_bytes());
    let name = ev.matches.name(m);
    if !name.is_empty() {
        o.raw(b",");
        o.key("name");
        o.str(name);
    }
    if let Some(s) = m.start {
        o.raw(b",");
        o.key("start");
        o.num(u64::from(s));
    }
    o.raw(b",");
    o.key("end");
    o.num(u64::from(m.end));
    o.raw(b",");
    o.key("fragment");
    o.raw(b"\"");
    let frag = ev.matches.fragment(m);
    if secret_field(m.kind, name, redact) {
        o.raw(REDACTED);
    } else if names_only(m.kind) {
        o.esc_capped(frag, FRAGMENT_MAX);
    } else {
        // The fragment may start inside the value (it ends at the match).
        let shown_from = m.end as usize - frag.len().min(m.end as usize);
        let cut = shown_from > m.start.map_or(0, |s| s as usize);
        let mut left = FRAGMENT_MAX;
        let mut truncated = false;
        redact.fragment(frag, cut, |piece| {
            let n = piece.len().min(left);
            if n < piece.len() {
                truncated = true;
            }
            if n > 0 {
                o.esc(&piece[..n]);
            }
            left -= n;
        });
        if truncated {
            o.raw("…".as_bytes());
        }
    }
    o.raw(b"\"}");
}

/// Headers whose values are credentials whatever the configured names.
const SECRET_HEADERS: &[&[u8]] = &[
    b"authorization",
    b"proxy-authorization",
    b"cookie",
    b"set-cookie",
];

/// Whether a match's whole fragment must be hidden.
fn secret_field(kind: FieldKind, name: &[u8], redact: &Redactor) -> bool {
    match kind {
        FieldKind::CookieValue => true,
        FieldKind::HeaderValue => {
            SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) || redact.sensitive(name)
        }
        FieldKind::ArgValue
        | FieldKind::FormValue
        | FieldKind::JsonValue
        | FieldKind::MultipartValue
        | FieldKind::MultipartHeader
        | FieldKind::XmlText => redact.sensitive(name),
        _ => false,
    }
}

/// Kinds whose value is a name (shown as is).
fn names_only(kind: FieldKind) -> bool {
    matches!(
        kind,
        FieldKind::Method
            | FieldKind::ArgName
            | FieldKind::HeaderName
            | FieldKind::CookieName
            | FieldKind::FormName
            | FieldKind::JsonKey
            | FieldKind::MultipartName
            | FieldKind::MultipartFilename
    )
}

/// The counters and request measures the matching policies' conditions
/// read, with their values.
fn write_counters(o: &mut Out<'_>, ev: &Event<'_>) {
    const _: () = assert!(COUNTERS.len() <= 128);
    let mut seen: u128 = 0;
    for h in &ev.verdict.hits {
        if let Some(p) = ev.policy.policies.get(h.policy) {
            cond_counters(&p.condition, &mut seen);
        }
    }
    let mut first = true;
    for (i, name) in COUNTERS.iter().enumerate() {
        if seen & (1u128 << i) == 0 {
            continue;
        }
        if !first {
            o.raw(b",");
        }
        first = false;
        o.str(name.as_bytes());
        o.raw(b":");
        o.num(counter_value(ev, i));
    }
}

fn cond_counters(c: &Cond, seen: &mut u128) {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| cond_counters(c, seen)),
        Cond::Not(c) => cond_counters(c, seen),
        Cond::Counter { counter, .. } if (counter.0 as usize) < 128 => {
            *seen |= 1u128 << counter.0;
        }
        _ => {}
    }
}

/// A request measure recomputed from the request (cheap: only for events,
/// only for measures a matching policy reads), or a behaviour counter.
fn counter_value(ev: &Event<'_>, i: usize) -> u64 {
    if i >= REQUEST_MEASURES as usize {
        return ev.counters.get(i).copied().unwrap_or(0);
    }
    let c = Counter(i as u16);
    let path_end = memchr::memchr(b'?', ev.target).unwrap_or(ev.target.len());
    match c {
        Counter::BODY_BYTES => ev.body_len,
        Counter::HEADER_COUNT => ev.headers.len() as u64,
        Counter::HEADER_BYTES => ev
            .headers
            .iter()
            .map(|(n, v)| (n.len() + v.len() + 4) as u64)
            .sum(),
        Counter::ARG_COUNT => ev.target[path_end..].get(1..).map_or(0, |q| {
            q.split(|&b| b == b'&').filter(|p| !p.is_empty()).count() as u64
        }),
        Counter::PATH_DEPTH => ev.target[..path_end]
            .split(|&b| b == b'/')
            .filter(|s| !s.is_empty())
            .count() as u64,
        Counter::TARGET_BYTES => ev.target.len() as u64,
        Counter::JSON_DEPTH => u64::from(ev.matches.json_depth),
        _ => 0,
    }
}

/// What [`format_summary`] says: one policy's events left out by the
/// per-policy limit (see `events::limit`) over the last interval.
pub struct Summary<'a> {
    pub policy: &'a rampart_policy_loader::Policy,
    /// Events not logged.
    pub suppressed: u64,
    /// When the first of them was judged.
    pub since: SystemTime,
    pub time: SystemTime,
    /// The limit in force (events a second, per policy, per core).
    pub limit: u32,
}

/// Formats a summary line for events the per-policy limit left out:
/// `{"summary":"suppressed_events","time":…,"since":…,"policy":{"id","name",
/// "mode","action"},"suppressed":N,"limit_per_second":L}` (the policy's
/// configured mode and action). Returns `false` when it did not fit.
pub fn format_summary(s: &Summary<'_>, buf: &mut Vec<u8>) -> bool {
    let mut o = Out::start(buf);
    o.raw(b"{");
    o.key("summary");
    o.raw(b"\"suppressed_events\",");
    o.key("time");
    o.raw(b"\"");
    timestamp(&mut o, s.time);
    o.raw(b"\",");
    o.key("since");
    o.raw(b"\"");
    timestamp(&mut o, s.since);
    o.raw(b"\",");
    o.key("policy");
    o.raw(b"{");
    o.key("id");
    o.str(cap_name(&s.policy.id));
    o.raw(b",");
    o.key("name");
    o.str(cap_name(&s.policy.name));
    o.raw(b",");
    o.key("mode");
    o.str(s.policy.mode.as_str().as_bytes());
    o.raw(b",");
    o.key("action");
    o.str(s.policy.action.name().as_bytes());
    o.raw(b"},");
    o.key("suppressed");
    o.num(s.suppressed);
    o.raw(b",");
    o.key("limit_per_second");
    o.num(u64::from(s.limit));
    o.raw(b"}\n");
    !o.over
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), computed without allocating.
fn timestamp(o: &mut Out<'_>, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = crate::enforce::date::civil_from_days((secs / 86_400) as i64);
    let (m, day) = (u64::from(m), u64::from(day));
    let rem = secs % 86_400;
    let two = |o: &mut Out<'_>, n: u64| o.raw(&[b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
    o.num(y as u64);
    o.raw(b"-");
    two(o, m);
    o.raw(b"-");
    two(o, day);
    o.raw(b"T");
    two(o, rem / 3600);
    o.raw(b":");
    two(o, rem / 60 % 60);
    o.raw(b":");
    two(o, rem % 60);
    let ms = u64::from(d.subsec_millis());
    o.raw(&[
        b'.',
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
        b'Z',
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &[u8]) -> String {
        let mut buf = Vec::with_capacity(1024);
        let mut o = Out {
            cap: buf.capacity(),
            buf: &mut buf,
            over: false,
        };
        o.str(s);
        assert!(!o.over);
        String::from_utf8(buf).expect("escaped output is UTF-8")
    }

    #[test]
    fn strings_are_escaped_for_json() {
        assert_eq!(esc(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(esc(b"l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(esc(b"\x00\x1f\x7f"), r#""\u0000\u001f\u007f""#);
        assert_eq!(esc("héllo ✓".as_bytes()), "\"héllo ✓\"");
        // Not UTF-8: shown as text, the line stays valid JSON.
        assert_eq!(esc(b"a\xffb\xc3"), r#""a\\xffb\\xc3""#);
        for s in [&b"x\xff\"\n"[..], b"\xe2\x9c", "✓\u{1}".as_bytes()] {
            let j = esc(s);
            serde_json::from_str::<String>(&j).expect("valid JSON");
        }
    }

    #[test]
    fn capped_strings_end_on_a_character() {
        let mut buf = Vec::with_capacity(256);
        let mut o = Out {
            cap: buf.capacity(),
            buf: &mut buf,
            over: false,
        };
        o.esc_capped("aé✓✓✓".as_bytes(), 5);
        assert_eq!(String::from_utf8(buf).unwrap(), "aé…");
    }

    #[test]
    fn writes_never_grow_the_buffer() {
        let mut buf = Vec::with_capacity(8);
        let cap = buf.capacity();
        let mut o = Out {
            cap,
            buf: &mut buf,
            over: false,
        };
        o.raw(b"12345678");
        o.raw(b"9");
        assert!(o.over);
        assert_eq!(buf.capacity(), cap);
    }

    /// A whole event from the embedded default pack judging a real request.
    #[test]
    fn a_whole_event_is_one_valid_json_line_without_secrets() {
        let cfg = crate::policy::PolicyConfig::default();
        let loaded = rampart_policy_loader::load(&cfg.load_options()).expect("default pack");
        let mut kit =
            crate::policy::CoreKit::new(loaded.policy, 1, rampart_matcher::ScanLimits::default())
                .expect("kit");
        let mut target = b"/search?q=1%27%20UNION%20SELECT%20username,password%20FROM%20users--&password=SECRETPW1&x=\xff\"".to_vec();
        target.extend(std::iter::repeat_n(b'a', 2000));
        let headers: Vec<(&[u8], &[u8])> = vec![
            (b"Host", b"api.test"),
            (b"Authorization", b"Bearer SECRETAUTH2"),
            (b"Cookie", b"sid=SECRETCOOKIE3"),
        ];
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        kit.judge(
            b"GET",
            &target,
            &headers,
            b"",
            false,
            crate::policy::Peer::plain(ip),
            0,
            None,
        )
        .expect("judge");
        assert!(!kit.verdict.hits.is_empty(), "the default pack matches");
        let ev = Event {
            id: b"0123456789abcdef",
            time: UNIX_EPOCH,
            client: ip,
            forwarded_for: Some(b"198.51.100.7, 10.0.0.2"),
            route: "/",
            upstream: "app",
            method: b"GET",
            target: &target,
            headers: &headers,
            body_len: 0,
            action: "block",
            enforced: true,
            policy: &kit.policy,
            verdict: &kit.verdict,
            matches: kit.matches(),
            counters: kit.counters(),
            identity: None,
            tls: None,
        };
        let mut buf = Vec::with_capacity(EVENT_BUF);
        assert!(format(&ev, &Redactor::new(&[]), &mut buf));
        assert_eq!(
            buf.capacity(),
            EVENT_BUF,
            "formatting never grows the buffer"
        );
        assert_eq!(buf.last(), Some(&b'\n'));
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        let text = std::str::from_utf8(&buf).expect("UTF-8");
        for s in ["SECRETPW1", "SECRETAUTH2", "SECRETCOOKIE3"] {
            assert!(!text.contains(s), "{s} leaked: {text}");
        }
        let v: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["client"]["ip"], "2001:db8::1");
        assert_eq!(v["client"]["forwarded_for"], "198.51.100.7, 10.0.0.2");
        let path = v["path"].as_str().unwrap();
        assert!(path.contains("&password=[redacted]&x=\\xff\""), "{path}");
        assert!(path.ends_with('…'), "cut at {PATH_MAX} bytes: {path}");
        assert!(path.len() < PATH_MAX + 16);
        assert!(!v["matches"].as_array().unwrap().is_empty());
        for m in v["matches"].as_array().unwrap() {
            assert!(
                m["fragment"].as_str().unwrap().len() <= FRAGMENT_MAX + 3,
                "{m}"
            );
        }
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        let mut buf = Vec::with_capacity(64);
        let mut o = Out {
            cap: 64,
            buf: &mut buf,
            over: false,
        };
        // 2024-02-29T12:34:56.789Z
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_709_210_096_789);
        timestamp(&mut o, t);
        assert_eq!(String::from_utf8(buf).unwrap(), "2024-02-29T12:34:56.789Z");
    }
}
