//! The TOML walker: turns config text into a [`Config`] or into every diagnostic it can
//! find.
//!
//! We walk toml's span-carrying document by hand instead of deriving serde structs,
//! because serde stops at the first error and loses positions for semantic checks.
//! Each check records a byte span; spans become `line:col` only at the end, after a
//! stable sort puts the diagnostics in file order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::units::{format_size, parse_duration, parse_server, parse_size};
use super::{
    Balance, Config, Diagnostic, Diagnostics, Forwarding, IoTuning, Limits, Route, Timeouts,
    UpstreamCluster, Workers, DEFAULT_ADMIN,
};

mod identity;
mod tls;

type Span = Range<usize>;
type Value<'i> = Spanned<DeValue<'i>>;

/// Where "missing" things are reported when there is nothing better to point at.
const TOP: Span = 0..0;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

const TOP_KEYS: &[&str] = &[
    "server",
    "admin",
    "limits",
    "timeouts",
    "forwarding",
    "io",
    "upstream",
    "route",
    "policy",
    "enforcement",
    "events",
    "intel",
    "behaviour",
    "tls",
];
const EVENTS_KEYS: &[&str] = &[
    "enabled",
    "sink",
    "path",
    "rotate_bytes",
    "rotate_every",
    "keep",
    "queue_bytes",
    "sample_allowed",
    "per_policy_per_second",
    "redact",
];
const INTEL_KEYS: &[&str] = &["lists"];
const POLICY_KEYS: &[&str] = &["enabled", "packs", "overlay", "cache_dir", "watch", "mode"];
const ENFORCEMENT_KEYS: &[&str] = &[
    "tarpit_max_per_core",
    "denylist_capacity",
    "deceive_remember",
    "deceive_max_delay",
    "learn_every",
    "decoy_secret_file",
    "close_after_stop",
];
const SERVER_KEYS: &[&str] = &["workers", "pin_workers", "listen", "tls_listen"];
const TLS_KEYS: &[&str] = &[
    "certificate",
    "min_version",
    "alpn",
    "session_tickets",
    "ticket_lifetime",
    "watch",
    "client_auth",
    "client_ca",
];
const TLS_CERT_KEYS: &[&str] = &["cert", "key", "server_names"];
const ADMIN_KEYS: &[&str] = &[
    "listen",
    "enabled",
    "token_file",
    "audit_log",
    "recent_events",
    "max_streams",
    "stream_keepalive",
];
const LIMITS_KEYS: &[&str] = &[
    "max_header_bytes",
    "max_headers",
    "max_target_bytes",
    "max_body_bytes",
    "inspect_body_bytes",
    "max_connections_per_worker",
    "stream_inspect",
    "stream_inspect_per_worker",
    "inspect_response_bytes",
];
const TIMEOUTS_KEYS: &[&str] = &[
    "header_read",
    "idle_keepalive",
    "body_read",
    "client_write",
    "upstream_connect",
    "upstream_read",
    "upstream_write",
    "shutdown_grace",
];
const FORWARDING_KEYS: &[&str] = &["trusted_proxies", "add_forwarded"];
const IO_KEYS: &[&str] = &["ring_entries", "recv_buffer_bytes", "recv_buffers"];
const UPSTREAM_KEYS: &[&str] = &[
    "name",
    "servers",
    "balance",
    "max_idle_per_server",
    "max_fails",
    "fail_timeout",
    "retry_idempotent",
    "tls",
];
const UPSTREAM_TLS_KEYS: &[&str] = &["server_name", "ca", "client_cert", "client_key", "verify"];
const ROUTE_KEYS: &[&str] = &["host", "path_prefix", "upstream"];
/// Identity keys (read by `identity::parse`), then the counters' keys (read
/// by `counters`).
const BEHAVIOUR_KEYS: &[&str] = &[
    "api_key_headers",
    "api_key_args",
    "session_cookies",
    "client_ip_header",
    "jwt",
    "login",
    "enabled",
    "memory_per_core",
    "steer_by_address",
    "key_sync_interval",
];
const JWT_KEYS: &[&str] = &["verify", "hs256_secret_file", "public_keys", "leeway"];
const LOGIN_KEYS: &[&str] = &[
    "path",
    "method",
    "user_fields",
    "password_fields",
    "failure_status",
];

pub(super) fn parse(src: &str, origin: &str) -> Result<Config, Diagnostics> {
    let mut cx = Ctx::new(src, origin);
    let (doc, syntax_errors) = DeTable::parse_recoverable(src);
    if !syntax_errors.is_empty() {
        // The recovered document is missing whatever did not parse, so semantic checks
        // on it would report phantom problems ("no listener"); syntax errors only.
        for e in &syntax_errors {
            cx.err(
                e.span().unwrap_or(TOP),
                format!("syntax error: {}", e.message()),
            );
        }
        return Err(cx.finish());
    }
    let config = build(&mut cx, doc.get_ref());
    if cx.diags.is_empty() {
        Ok(config)
    } else {
        Err(cx.finish())
    }
}

/// Collects diagnostics as (byte span, message) and converts positions at the end.
struct Ctx<'s> {
    src: &'s str,
    origin: &'s str,
    line_starts: Vec<usize>,
    diags: Vec<(usize, String)>,
}

impl<'s> Ctx<'s> {
    fn new(src: &'s str, origin: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ctx {
            src,
            origin,
            line_starts,
            diags: Vec::new(),
        }
    }

    fn err(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push((span.start, message.into()));
    }

    /// 1-based line and character column of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = match self.src.get(start..offset) {
            Some(text) => text.chars().count(),
            // Spans from the parser are char-aligned; fall back to bytes just in case.
            None => offset - start,
        };
        (line, col + 1)
    }

    fn at(&self, span: &Span) -> String {
        let (line, col) = self.line_col(span.start);
        format!("line {line}, column {col}")
    }

    fn finish(mut self) -> Diagnostics {
        // Stable: diagnostics at the same spot keep the order the checks ran in.
        self.diags.sort_by_key(|(offset, _)| *offset);
        let diags = std::mem::take(&mut self.diags);
        Diagnostics(
            diags
                .into_iter()
                .map(|(offset, message)| {
                    let (line, col) = self.line_col(offset);
                    Diagnostic {
                        file: self.origin.to_owned(),
                        line,
                        col,
                        message,
                    }
                })
                .collect(),
        )
    }

    // ---- typed accessors: each reports its own error and returns None on failure ----

    fn type_err(&mut self, f: &Field<'_, '_>, expected: &str) {
        let found = f.v.get_ref().type_str();
        self.err(
            f.v.span(),
            format!("{} must be {expected}, found {found}", f.name),
        );
    }

    fn bool(&mut self, f: &Field<'_, '_>) -> Option<bool> {
        let b = f.v.get_ref().as_bool();
        if b.is_none() {
            self.type_err(f, "a boolean (true or false)");
        }
        b
    }

    fn str<'a>(&mut self, f: &Field<'a, '_>) -> Option<&'a str> {
        let s = f.v.get_ref().as_str();
        if s.is_none() {
            self.type_err(f, "a string");
        }
        s
    }

    fn array<'a, 'i>(&mut self, f: &Field<'a, 'i>, expected: &str) -> Option<&'a DeArray<'i>> {
        let a = f.v.get_ref().as_array();
        if a.is_none() {
            self.type_err(f, expected);
        }
        a
    }

    fn integer_value(&mut self, f: &Field<'_, '_>) -> Option<i64> {
        match f.v.get_ref() {
            DeValue::Integer(i) => {
                let n = i64::from_str_radix(i.as_str(), i.radix()).ok();
                if n.is_none() {
                    self.err(f.v.span(), format!("{}: integer out of range", f.name));
                }
                n
            }
            _ => {
                self.type_err(f, "an integer");
                None
            }
        }
    }

    fn int_in(&mut self, f: &Field<'_, '_>, lo: i64, hi: i64) -> Option<i64> {
        let n = self.integer_value(f)?;
        if n < lo || n > hi {
            self.err(
                f.v.span(),
                format!("{} must be between {lo} and {hi}, got {n}", f.name),
            );
            return None;
        }
        Some(n)
    }

    /// A byte size: non-negative integer or a string such as "16KiB".
    fn size(&mut self, f: &Field<'_, '_>) -> Option<u64> {
        let parsed = match f.v.get_ref() {
            DeValue::Integer(_) => {
                let n = self.integer_value(f)?;
                u64::try_from(n).map_err(|_| format!("{} must not be negative, got {n}", f.name))
            }
            DeValue::String(s) => parse_size(s).map_err(|e| format!("{}: {e}", f.name)),
            _ => {
                self.type_err(
                    f,
                    "a size (bytes as an integer, or a string like \"16KiB\")",
                );
                return None;
            }
        };
        parsed.map_err(|e| self.err(f.v.span(), e)).ok()
    }

    fn size_in(&mut self, f: &Field<'_, '_>, lo: u64, hi: u64) -> Option<u64> {
        let n = self.size(f)?;
        if n < lo || n > hi {
            self.err(
                f.v.span(),
                format!(
                    "{} must be between {} and {}, got {}",
                    f.name,
                    format_size(lo),
                    format_size(hi),
                    format_size(n)
                ),
            );
            return None;
        }
        Some(n)
    }

    /// A duration: a string such as "10s", or an integer number of milliseconds.
    fn duration(&mut self, f: &Field<'_, '_>, allow_zero: bool) -> Option<Duration> {
        let parsed = match f.v.get_ref() {
            DeValue::Integer(_) => {
                let n = self.integer_value(f)?;
                u64::try_from(n)
                    .map(Duration::from_millis)
                    .map_err(|_| format!("{} must not be negative, got {n}", f.name))
            }
            DeValue::String(s) => parse_duration(s).map_err(|e| format!("{}: {e}", f.name)),
            _ => {
                self.type_err(
                    f,
                    "a duration (a string like \"10s\", or an integer of milliseconds)",
                );
                return None;
            }
        };
        match parsed {
            Ok(d) if d.is_zero() && !allow_zero => {
                self.err(f.v.span(), format!("{} must be greater than zero", f.name));
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.err(f.v.span(), e);
                None
            }
        }
    }

    fn socket_addr(&mut self, f: &Field<'_, '_>) -> Option<SocketAddr> {
        let s = self.str(f)?;
        match s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    f.v.span(),
                    format!(
                        "{}: invalid socket address {s:?}: expected IP:PORT such as \
                         \"0.0.0.0:8080\" or \"[::]:8080\"",
                        f.name
                    ),
                );
                None
            }
        }
    }
}

/// A value together with the dotted name used for it in messages.
struct Field<'a, 'i> {
    name: String,
    v: &'a Value<'i>,
}

/// A table of the config (a section or one `[[upstream]]`/`[[route]]` entry), with its
/// keys already checked against the allowed set.
struct Section<'a, 'i> {
    name: &'static str,
    /// `None` when the section is absent: every key then takes its default.
    table: Option<&'a DeTable<'i>>,
    span: Span,
    /// Present but not a table (already reported): "missing key" errors would be noise.
    broken: bool,
}

impl<'a, 'i> Section<'a, 'i> {
    fn new(cx: &mut Ctx<'_>, name: &'static str, v: &'a Value<'i>, allowed: &[&str]) -> Self {
        let table = v.get_ref().as_table();
        match table {
            Some(t) => {
                // Name the table the way it is written in the file.
                let what = if matches!(name, "upstream" | "route" | "behaviour.login") {
                    format!("[[{name}]]")
                } else {
                    format!("[{name}]")
                };
                check_keys(cx, t, &what, allowed);
            }
            None => cx.err(
                v.span(),
                format!("{name} must be a table, found {}", v.get_ref().type_str()),
            ),
        }
        Section {
            name,
            table,
            span: v.span(),
            broken: table.is_none(),
        }
    }

    fn from_doc(
        cx: &mut Ctx<'_>,
        doc: &'a DeTable<'i>,
        name: &'static str,
        allowed: &[&str],
    ) -> Self {
        match doc.get(name) {
            Some(v) => Section::new(cx, name, v, allowed),
            None => Section {
                name,
                table: None,
                span: TOP,
                broken: false,
            },
        }
    }

    fn get(&self, key: &str) -> Option<Field<'a, 'i>> {
        let v = self.table?.get(key)?;
        Some(Field {
            name: format!("{}.{key}", self.name),
            v,
        })
    }
}

fn check_keys(cx: &mut Ctx<'_>, table: &DeTable<'_>, what: &str, allowed: &[&str]) {
    for key in table.keys() {
        if !allowed.contains(&key.get_ref().as_ref()) {
            cx.err(
                key.span(),
                format!(
                    "unknown key `{}` in {what}; allowed keys: {}",
                    key.get_ref(),
                    allowed.join(", ")
                ),
            );
        }
    }
}

// Section builders fall back to defaults after reporting a problem: the caller rejects
// the config whenever any diagnostic exists, and carrying on finds the remaining errors.

fn build(cx: &mut Ctx<'_>, doc: &DeTable<'_>) -> Config {
    for key in doc.keys() {
        if !TOP_KEYS.contains(&key.get_ref().as_ref()) {
            cx.err(
                key.span(),
                format!(
                    "unknown table `{}`; allowed tables: [server], [admin], [limits], \
                     [timeouts], [forwarding], [io], [policy], [enforcement], [events], [intel], \
                     [behaviour], [tls], [[upstream]], [[route]]",
                    key.get_ref()
                ),
            );
        }
    }

    let server = Section::from_doc(cx, doc, "server", SERVER_KEYS);
    let workers = server
        .get("workers")
        .and_then(|f| workers(cx, &f))
        .unwrap_or(Workers::Auto);
    let pin_workers = server
        .get("pin_workers")
        .and_then(|f| cx.bool(&f))
        .unwrap_or(true);
    let tls_listeners = server
        .get("tls_listen")
        .map(|f| addresses(cx, &f, &[]))
        .unwrap_or_default();
    let listeners = listeners(cx, &server, &tls_listeners);
    let sec_tls = Section::from_doc(cx, doc, "tls", TLS_KEYS);
    let tls = tls::parse(cx, &sec_tls, &tls_listeners);
    let sec_admin = Section::from_doc(cx, doc, "admin", ADMIN_KEYS);
    let all_listeners: Vec<SocketAddr> = listeners
        .iter()
        .copied()
        .chain(tls_listeners.iter().map(|(a, _)| *a))
        .collect();
    let admin = admin(cx, &sec_admin, &all_listeners);
    let admin_api = admin_api(cx, &sec_admin);
    let sec_limits = Section::from_doc(cx, doc, "limits", LIMITS_KEYS);
    let limits = limits(cx, &sec_limits);
    let sec_timeouts = Section::from_doc(cx, doc, "timeouts", TIMEOUTS_KEYS);
    let timeouts = timeouts(cx, &sec_timeouts);
    let sec_forwarding = Section::from_doc(cx, doc, "forwarding", FORWARDING_KEYS);
    let forwarding = forwarding(cx, &sec_forwarding);
    let sec_io = Section::from_doc(cx, doc, "io", IO_KEYS);
    let io = io(cx, &sec_io);
    let upstreams = upstreams(cx, doc.get("upstream"));
    let routes = routes(cx, doc.get("route"), &upstreams);
    let sec_policy = Section::from_doc(cx, doc, "policy", POLICY_KEYS);
    let policy = policy(cx, &sec_policy);
    let sec_events = Section::from_doc(cx, doc, "events", EVENTS_KEYS);
    let events = events(cx, &sec_events);
    let sec_enforcement = Section::from_doc(cx, doc, "enforcement", ENFORCEMENT_KEYS);
    let enforcement = enforcement(cx, &sec_enforcement);
    let sec_intel = Section::from_doc(cx, doc, "intel", INTEL_KEYS);
    let intel = intel(cx, &sec_intel);
    let sec_behaviour = Section::from_doc(cx, doc, "behaviour", BEHAVIOUR_KEYS);
    let identity = identity::parse(cx, &sec_behaviour);
    let counters = counters(cx, &sec_behaviour);

    Config {
        workers,
        pin_workers,
        listeners,
        tls_listeners: tls_listeners.into_iter().map(|(a, _)| a).collect(),
        tls,
        admin,
        admin_api,
        limits,
        timeouts,
        forwarding,
        io,
        upstreams: upstreams.into_iter().map(|(u, _)| u).collect(),
        routes,
        policy,
        enforcement,
        events,
        intel,
        identity,
        counters,
    }
}

/// The counters' `[behaviour]` keys (the identity keys are read elsewhere).
fn counters(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> crate::behaviour::CounterConfig {
    let d = crate::behaviour::CounterConfig::default();
    let enabled = s
        .get("enabled")
        .and_then(|f| cx.bool(&f))
        .unwrap_or(d.enabled);
    let memory_per_core = s
        .get("memory_per_core")
        .and_then(|f| cx.size_in(&f, MIB, 64 * 1024 * MIB))
        .map_or(d.memory_per_core, |n| n as usize);
    let key_sync_interval_ms = s
        .get("key_sync_interval")
        .and_then(|f| {
            let v = cx.duration(&f, false)?;
            if v < Duration::from_millis(1) || v > Duration::from_secs(10) {
                cx.err(
                    f.v.span(),
                    format!("{} must be between 1ms and 10s, got {v:?}", f.name),
                );
                return None;
            }
            Some(v.as_millis() as u64)
        })
        .unwrap_or(d.key_sync_interval_ms);
    // Steering only serves the counters: it follows `enabled` unless set.
    let steer_by_address = s
        .get("steer_by_address")
        .and_then(|f| cx.bool(&f))
        .unwrap_or(enabled);
    crate::behaviour::CounterConfig {
        enabled,
        memory_per_core,
        steer_by_address,
        key_sync_interval_ms,
    }
}

/// `[intel] lists = ["dir", …]`: directories of threat-intelligence list
/// files. Whether they exist and load is checked with the packs (at
/// `rampart check`, start and every reload), not here.
fn intel(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> crate::policy::IntelConfig {
    let mut lists = Vec::new();
    if let Some(f) = s.get("lists") {
        let expected = "an array of directories like [\"/var/lib/rampart/intel\"]";
        for v in cx.array(&f, expected).into_iter().flat_map(|a| a.iter()) {
            let item = Field {
                name: "intel.lists".to_owned(),
                v,
            };
            match cx.str(&item) {
                Some(p) if p.trim().is_empty() => {
                    cx.err(item.v.span(), "intel.lists: a directory must not be empty")
                }
                Some(p) => lists.push(std::path::PathBuf::from(p)),
                None => {}
            }
        }
    }
    crate::policy::IntelConfig { lists }
}

fn events(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> crate::events::EventsConfig {
    use crate::events::{EventsConfig, SinkKind};
    let d = EventsConfig::default();
    let path = s.get("path").and_then(|f| {
        let v = cx.str(&f)?;
        if v.trim().is_empty() {
            cx.err(f.v.span(), format!("{} must not be empty", f.name));
            return None;
        }
        Some(std::path::PathBuf::from(v))
    });
    let sink = match s.get("sink") {
        None => path.clone().map_or(SinkKind::Stdout, SinkKind::File),
        Some(f) => match cx.str(&f) {
            Some("stdout") => SinkKind::Stdout,
            Some("file") => match &path {
                Some(p) => SinkKind::File(p.clone()),
                None => {
                    if s.get("path").is_none() {
                        cx.err(
                            f.v.span(),
                            "events.sink = \"file\" needs events.path (the log file)",
                        );
                    }
                    SinkKind::Stdout
                }
            },
            Some(other) => {
                cx.err(
                    f.v.span(),
                    format!("events.sink must be \"file\" or \"stdout\", got {other:?}"),
                );
                SinkKind::Stdout
            }
            None => SinkKind::Stdout,
        },
    };
    if let (SinkKind::Stdout, Some(f)) = (&sink, s.get("path")) {
        if s.get("sink").and_then(|f| f.v.get_ref().as_str()) == Some("stdout") {
            cx.err(
                f.v.span(),
                "events.path is set but events.sink is \"stdout\"; remove one of them",
            );
        }
    }
    let sample_allowed = match s.get("sample_allowed") {
        None => d.sample_allowed,
        Some(f) => {
            let v = match f.v.get_ref() {
                DeValue::Float(x) => x.as_str().replace('_', "").parse::<f64>().ok(),
                DeValue::Integer(_) => cx.integer_value(&f).map(|n| n as f64),
                _ => {
                    cx.type_err(&f, "a number between 0.0 and 1.0");
                    None
                }
            };
            match v {
                Some(x) if (0.0..=1.0).contains(&x) => x,
                Some(x) => {
                    cx.err(
                        f.v.span(),
                        format!("events.sample_allowed must be between 0.0 and 1.0, got {x}"),
                    );
                    d.sample_allowed
                }
                None => d.sample_allowed,
            }
        }
    };
    let mut redact = Vec::new();
    if let Some(f) = s.get("redact") {
        if let Some(items) = cx.array(&f, "an array of field names like [\"ssn\", \"pin\"]") {
            for v in items.iter() {
                let item = Field {
                    name: "events.redact".to_owned(),
                    v,
                };
                if let Some(n) = cx.str(&item) {
                    if n.trim().is_empty() {
                        cx.err(v.span(), "events.redact: names must not be empty");
                    } else {
                        redact.push(n.to_owned());
                    }
                }
            }
        }
    }
    EventsConfig {
        enabled: s
            .get("enabled")
            .and_then(|f| cx.bool(&f))
            .unwrap_or(d.enabled),
        sink,
        rotate_bytes: s
            .get("rotate_bytes")
            .and_then(|f| {
                let n = cx.size(&f)?;
                if n != 0 && n < 4 * KIB {
                    cx.err(
                        f.v.span(),
                        format!(
                            "events.rotate_bytes must be 0 (never) or at least 4KiB, got {}",
                            format_size(n)
                        ),
                    );
                    return None;
                }
                Some(n)
            })
            .unwrap_or(d.rotate_bytes),
        rotate_every: s
            .get("rotate_every")
            .and_then(|f| {
                let v = cx.duration(&f, true)?;
                if !v.is_zero() && v < Duration::from_secs(1) {
                    cx.err(
                        f.v.span(),
                        "events.rotate_every must be 0 (never) or at least 1s",
                    );
                    return None;
                }
                Some((!v.is_zero()).then_some(v))
            })
            .unwrap_or(d.rotate_every),
        keep: s
            .get("keep")
            .and_then(|f| cx.int_in(&f, 0, 1000))
            .map_or(d.keep, |n| n as u32),
        queue_bytes: s
            .get("queue_bytes")
            .and_then(|f| cx.size_in(&f, 128 * KIB, 1024 * MIB))
            .map_or(d.queue_bytes, |n| n as usize),
        sample_allowed,
        per_policy_per_second: s
            .get("per_policy_per_second")
            .and_then(|f| cx.int_in(&f, 0, 1_000_000))
            .map_or(d.per_policy_per_second, |n| n as u32),
        redact,
    }
}

fn enforcement(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> crate::enforce::EnforcementConfig {
    let d = crate::enforce::EnforcementConfig::default();
    let int = |cx: &mut Ctx<'_>, key: &str, lo: i64, hi: i64| {
        s.get(key)
            .and_then(|f| cx.int_in(&f, lo, hi))
            .and_then(|n| usize::try_from(n).ok())
    };
    let tarpit_max_per_core = int(cx, "tarpit_max_per_core", 0, 1_000_000);
    let denylist_capacity = int(cx, "denylist_capacity", 8, 16_777_216);
    let learn_every = int(cx, "learn_every", 1, 1_000_000);
    let deceive_remember = s
        .get("deceive_remember")
        .and_then(|f| cx.duration(&f, true));
    let deceive_max_delay = s.get("deceive_max_delay").and_then(|f| {
        let v = cx.duration(&f, true)?;
        if v > Duration::from_secs(60) {
            cx.err(f.v.span(), format!("{} must be at most 60s", f.name));
            return None;
        }
        Some(v)
    });
    let decoy_secret_file = s.get("decoy_secret_file").and_then(|f| {
        let v = cx.str(&f)?;
        if v.trim().is_empty() {
            cx.err(f.v.span(), format!("{} must not be empty", f.name));
            return None;
        }
        Some(std::path::PathBuf::from(v))
    });
    let close_after_stop = s.get("close_after_stop").and_then(|f| cx.bool(&f));
    crate::enforce::EnforcementConfig {
        close_after_stop: close_after_stop.unwrap_or(d.close_after_stop),
        tarpit_max_per_core: tarpit_max_per_core.unwrap_or(d.tarpit_max_per_core),
        denylist_capacity: denylist_capacity.unwrap_or(d.denylist_capacity),
        deceive_remember: deceive_remember.unwrap_or(d.deceive_remember),
        deceive_max_delay: deceive_max_delay.unwrap_or(d.deceive_max_delay),
        learn_every: learn_every.map_or(d.learn_every, |n| n as u32),
        decoy_secret_file,
    }
}

fn policy(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> crate::policy::PolicyConfig {
    let d = crate::policy::PolicyConfig::default();
    let path = |cx: &mut Ctx<'_>, key: &str| -> Option<std::path::PathBuf> {
        let f = s.get(key)?;
        let v = cx.str(&f)?;
        if v.trim().is_empty() {
            cx.err(f.v.span(), format!("{} must not be empty", f.name));
            return None;
        }
        Some(std::path::PathBuf::from(v))
    };
    let mut packs = Vec::new();
    if let Some(f) = s.get("packs") {
        if let Some(items) = cx.array(
            &f,
            "an array of pack directories like [\"/etc/rampart/packs/default\"]",
        ) {
            for v in items.iter() {
                let item = Field {
                    name: "policy.packs".to_owned(),
                    v,
                };
                if let Some(p) = cx.str(&item) {
                    packs.push(std::path::PathBuf::from(p));
                }
            }
        }
    }
    crate::policy::PolicyConfig {
        enabled: s
            .get("enabled")
            .and_then(|f| cx.bool(&f))
            .unwrap_or(d.enabled),
        packs,
        overlay: path(cx, "overlay"),
        cache_dir: path(cx, "cache_dir"),
        watch: s.get("watch").and_then(|f| cx.bool(&f)).unwrap_or(d.watch),
        monitor: s
            .get("mode")
            .and_then(|f| match cx.str(&f)? {
                "enforce" => Some(false),
                "monitor" => Some(true),
                other => {
                    cx.err(
                        f.v.span(),
                        format!(
                            "{}: unknown mode {other:?}; use \"enforce\" or \"monitor\"",
                            f.name
                        ),
                    );
                    None
                }
            })
            .unwrap_or(d.monitor),
    }
}

fn workers(cx: &mut Ctx<'_>, f: &Field<'_, '_>) -> Option<Workers> {
    let max = Workers::MAX as i64;
    match f.v.get_ref() {
        DeValue::String(s) if s == "auto" => Some(Workers::Auto),
        DeValue::Integer(_) => cx
            .int_in(f, 1, max)
            .and_then(|n| usize::try_from(n).ok())
            .map(Workers::Count),
        DeValue::String(s) => {
            cx.err(
                f.v.span(),
                format!(
                    "{} must be \"auto\" or an integer 1..={max}, got {s:?}",
                    f.name
                ),
            );
            None
        }
        _ => {
            cx.type_err(f, &format!("\"auto\" or an integer 1..={max}"));
            None
        }
    }
}

fn listeners(
    cx: &mut Ctx<'_>,
    server: &Section<'_, '_>,
    tls: &[(SocketAddr, Span)],
) -> Vec<SocketAddr> {
    let Some(f) = server.get("listen") else {
        if server.broken || !tls.is_empty() {
            return Vec::new();
        }
        cx.err(
            server.span.clone(),
            "no listener: set server.listen, e.g. [server] listen = [\"0.0.0.0:8080\"]",
        );
        return Vec::new();
    };
    let out = addresses(cx, &f, tls);
    if out.is_empty() && tls.is_empty() && f.v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
        cx.err(f.v.span(), "no listener: server.listen is empty");
    }
    out.into_iter().map(|(a, _)| a).collect()
}

/// A list of listen addresses, none repeated here or in `others`.
fn addresses(
    cx: &mut Ctx<'_>,
    f: &Field<'_, '_>,
    others: &[(SocketAddr, Span)],
) -> Vec<(SocketAddr, Span)> {
    let Some(items) = cx.array(f, "an array of addresses like [\"0.0.0.0:8080\"]") else {
        return Vec::new();
    };
    let mut seen: Vec<(SocketAddr, Span)> = Vec::new();
    for v in items.iter() {
        let item = Field {
            name: f.name.clone(),
            v,
        };
        let Some(addr) = cx.socket_addr(&item) else {
            continue;
        };
        // Port 0 binds a fresh ephemeral port each time, so repeats are not conflicts.
        let dup = addr.port() != 0;
        if let Some((_, first)) = others
            .iter()
            .chain(seen.iter())
            .find(|(a, _)| dup && *a == addr)
        {
            let first = cx.at(first);
            cx.err(
                v.span(),
                format!("duplicate listen address {addr} (first listed at {first})"),
            );
            continue;
        }
        seen.push((addr, v.span()));
    }
    seen
}

fn admin(
    cx: &mut Ctx<'_>,
    admin: &Section<'_, '_>,
    listeners: &[SocketAddr],
) -> Option<SocketAddr> {
    let enabled = admin
        .get("enabled")
        .and_then(|f| cx.bool(&f))
        .unwrap_or(true);
    let addr = match admin.get("listen") {
        Some(f) => {
            let addr = cx.socket_addr(&f).unwrap_or(DEFAULT_ADMIN);
            if enabled && addr.port() != 0 && listeners.contains(&addr) {
                cx.err(
                    f.v.span(),
                    format!("admin.listen {addr} is also a proxy listener (server.listen)"),
                );
            }
            addr
        }
        None => DEFAULT_ADMIN,
    };
    enabled.then_some(addr)
}

/// The admin API's keys of `[admin]`.
fn admin_api(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> crate::admin_api::ApiConfig {
    let d = crate::admin_api::ApiConfig::default();
    let path = |cx: &mut Ctx<'_>, key: &str| -> Option<std::path::PathBuf> {
        let f = s.get(key)?;
        let v = cx.str(&f)?;
        if v.trim().is_empty() {
            cx.err(f.v.span(), format!("{} must not be empty", f.name));
            return None;
        }
        Some(std::path::PathBuf::from(v))
    };
    let int = |cx: &mut Ctx<'_>, key: &str, lo: i64, hi: i64, default: usize| {
        s.get(key)
            .and_then(|f| cx.int_in(&f, lo, hi))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(default)
    };
    crate::admin_api::ApiConfig {
        token_file: path(cx, "token_file"),
        audit_log: path(cx, "audit_log"),
        recent_events: int(cx, "recent_events", 0, 1_000_000, d.recent_events),
        max_streams: int(cx, "max_streams", 1, 64, d.max_streams),
        stream_keepalive: s
            .get("stream_keepalive")
            .and_then(|f| cx.duration(&f, false))
            .unwrap_or(d.stream_keepalive),
    }
}

fn limits(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> Limits {
    let d = Limits::default();
    let size = |cx: &mut Ctx<'_>, key: &str, lo: u64, hi: u64| {
        s.get(key).map(|f| (cx.size_in(&f, lo, hi), f.v.span()))
    };
    let int = |cx: &mut Ctx<'_>, key: &str, lo: i64, hi: i64, default: usize| {
        s.get(key)
            .and_then(|f| cx.int_in(&f, lo, hi))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(default)
    };
    let header = size(cx, "max_header_bytes", KIB, MIB);
    let target = size(cx, "max_target_bytes", 1, MIB);
    let body = size(cx, "max_body_bytes", 0, u64::MAX);
    let inspect = size(cx, "inspect_body_bytes", 0, u64::MAX);
    let stream_inspect = s
        .get("stream_inspect")
        .and_then(|f| cx.bool(&f))
        .unwrap_or(d.stream_inspect);
    let stream_inspect_per_worker = int(
        cx,
        "stream_inspect_per_worker",
        1,
        1 << 16,
        d.stream_inspect_per_worker,
    );
    let inspect_response_bytes = size(cx, "inspect_response_bytes", 0, 16 * MIB)
        .and_then(|(n, _)| n)
        .map_or(d.inspect_response_bytes, |n| n as usize);
    let max_headers = int(cx, "max_headers", 1, 1000, d.max_headers);
    let max_connections_per_worker = int(
        cx,
        "max_connections_per_worker",
        1,
        1 << 20,
        d.max_connections_per_worker,
    );

    let max_header_bytes = header
        .as_ref()
        .and_then(|(n, _)| *n)
        .map_or(d.max_header_bytes as u64, |n| n);
    let max_body_bytes = body
        .as_ref()
        .and_then(|(n, _)| *n)
        .unwrap_or(d.max_body_bytes);
    // Unset dependent limits shrink to fit a smaller explicit parent rather than error:
    // "max_header_bytes = 4KiB" alone should just work.
    let max_target_bytes = match &target {
        Some((Some(t), span)) if *t > max_header_bytes => {
            cx.err(
                span.clone(),
                format!(
                    "limits.max_target_bytes ({}) must not exceed limits.max_header_bytes ({})",
                    format_size(*t),
                    format_size(max_header_bytes)
                ),
            );
            *t
        }
        Some((Some(t), _)) => *t,
        _ => (d.max_target_bytes as u64).min(max_header_bytes),
    };
    let inspect_body_bytes = match &inspect {
        Some((Some(i), span)) if *i > max_body_bytes => {
            cx.err(
                span.clone(),
                format!(
                    "limits.inspect_body_bytes ({}) must not exceed limits.max_body_bytes ({})",
                    format_size(*i),
                    format_size(max_body_bytes)
                ),
            );
            *i
        }
        Some((Some(i), _)) => *i,
        _ => (d.inspect_body_bytes as u64).min(max_body_bytes),
    };
    let to_usize = |cx: &mut Ctx<'_>, n: u64, span: Option<Span>, key: &str, default: usize| {
        usize::try_from(n).unwrap_or_else(|_| {
            // Only reachable on 32-bit targets with multi-GiB settings.
            cx.err(
                span.unwrap_or(TOP),
                format!("limits.{key} is too large for this platform"),
            );
            default
        })
    };
    Limits {
        max_header_bytes: to_usize(
            cx,
            max_header_bytes,
            header.map(|(_, s)| s),
            "max_header_bytes",
            d.max_header_bytes,
        ),
        max_headers,
        max_target_bytes: to_usize(
            cx,
            max_target_bytes,
            target.map(|(_, s)| s),
            "max_target_bytes",
            d.max_target_bytes,
        ),
        max_body_bytes,
        inspect_body_bytes: to_usize(
            cx,
            inspect_body_bytes,
            inspect.map(|(_, s)| s),
            "inspect_body_bytes",
            d.inspect_body_bytes,
        ),
        max_connections_per_worker,
        stream_inspect,
        stream_inspect_per_worker,
        inspect_response_bytes,
    }
}

fn timeouts(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> Timeouts {
    let d = Timeouts::default();
    let mut get = |key: &str, default: Duration| {
        s.get(key)
            // Zero grace means "stop now", which is legitimate; a zero read/write timeout
            // would fail every request.
            .and_then(|f| cx.duration(&f, key == "shutdown_grace"))
            .unwrap_or(default)
    };
    Timeouts {
        header_read: get("header_read", d.header_read),
        idle_keepalive: get("idle_keepalive", d.idle_keepalive),
        body_read: get("body_read", d.body_read),
        client_write: get("client_write", d.client_write),
        upstream_connect: get("upstream_connect", d.upstream_connect),
        upstream_read: get("upstream_read", d.upstream_read),
        upstream_write: get("upstream_write", d.upstream_write),
        shutdown_grace: get("shutdown_grace", d.shutdown_grace),
    }
}

fn forwarding(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> Forwarding {
    let d = Forwarding::default();
    let add_forwarded = s
        .get("add_forwarded")
        .and_then(|f| cx.bool(&f))
        .unwrap_or(d.add_forwarded);
    let mut trusted_proxies = Vec::new();
    let field = s.get("trusted_proxies");
    let items = field
        .as_ref()
        .and_then(|f| cx.array(f, "an array of CIDRs like [\"10.0.0.0/8\"]"));
    for v in items.into_iter().flat_map(|a| a.iter()) {
        let item = Field {
            name: "forwarding.trusted_proxies".to_owned(),
            v,
        };
        match cx.str(&item).map(parse_cidr) {
            Some(Ok(net)) => trusted_proxies.push(net),
            Some(Err(e)) => cx.err(v.span(), format!("{}: {e}", item.name)),
            None => {}
        }
    }
    Forwarding {
        trusted_proxies,
        add_forwarded,
    }
}

/// "10.0.0.0/8", or a bare address meaning just that host.
fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<ipnet::IpNet>() {
        return Ok(net);
    }
    s.parse::<std::net::IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| {
            format!("invalid CIDR {s:?}: expected an address or network like \"10.0.0.0/8\"")
        })
}

fn io(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> IoTuning {
    let d = IoTuning::default();
    IoTuning {
        ring_entries: s
            .get("ring_entries")
            .and_then(|f| power_of_two(cx, &f, 64, 32768))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(d.ring_entries),
        recv_buffer_bytes: s
            .get("recv_buffer_bytes")
            .and_then(|f| cx.size_in(&f, 4 * KIB, MIB))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(d.recv_buffer_bytes),
        // The kernel's provided-buffer ring is indexed with a u16 mask, hence the cap.
        recv_buffers: s
            .get("recv_buffers")
            .and_then(|f| power_of_two(cx, &f, 1, 32768))
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(d.recv_buffers),
    }
}

fn power_of_two(cx: &mut Ctx<'_>, f: &Field<'_, '_>, lo: i64, hi: i64) -> Option<i64> {
    let n = cx.int_in(f, lo, hi)?;
    if n.count_ones() != 1 {
        cx.err(
            f.v.span(),
            format!("{} must be a power of two, got {n}", f.name),
        );
        return None;
    }
    Some(n)
}

/// Items of an array-of-tables key (`[[upstream]]`), or reports a clear type error.
fn table_array<'a, 'i>(cx: &mut Ctx<'_>, name: &str, v: &'a Value<'i>) -> Option<&'a DeArray<'i>> {
    let a = v.get_ref().as_array();
    if a.is_none() {
        cx.err(
            v.span(),
            format!(
                "{name} must be an array of tables: write [[{name}]], found {}",
                v.get_ref().type_str()
            ),
        );
    }
    a
}

/// Parsed upstreams with the span of their `name` (for duplicate reporting).
fn upstreams(cx: &mut Ctx<'_>, v: Option<&Value<'_>>) -> Vec<(UpstreamCluster, Span)> {
    let mut out: Vec<(UpstreamCluster, Span)> = Vec::new();
    let Some(items) = v.and_then(|v| table_array(cx, "upstream", v)) else {
        if v.is_none() {
            cx.err(
                TOP,
                "no upstream: add an [[upstream]] table with a name and servers",
            );
        }
        return out;
    };
    if items.is_empty() {
        cx.err(
            TOP,
            "no upstream: add an [[upstream]] table with a name and servers",
        );
    }
    for item in items.iter() {
        let s = Section::new(cx, "upstream", item, UPSTREAM_KEYS);
        if s.broken {
            continue;
        }
        if let Some(u) = upstream(cx, &s, &out) {
            out.push(u);
        }
    }
    out
}

fn upstream(
    cx: &mut Ctx<'_>,
    s: &Section<'_, '_>,
    earlier: &[(UpstreamCluster, Span)],
) -> Option<(UpstreamCluster, Span)> {
    let name = match s.get("name") {
        Some(f) => match cx.str(&f) {
            Some(n) if valid_name(n) => {
                if let Some((_, first)) = earlier.iter().find(|(u, _)| u.name == n) {
                    let first = cx.at(first);
                    cx.err(
                        f.v.span(),
                        format!("duplicate upstream name {n:?} (first defined at {first})"),
                    );
                }
                Some((n.to_owned(), f.v.span()))
            }
            Some(n) => {
                cx.err(
                    f.v.span(),
                    format!("invalid upstream name {n:?}: use letters, digits, '_', '-' and '.'"),
                );
                None
            }
            None => None,
        },
        None => {
            cx.err(s.span.clone(), "upstream is missing its `name`");
            None
        }
    };

    let mut servers = Vec::new();
    // The first server's host name, the default name to verify over TLS.
    let mut first_host: Option<String> = None;
    match s.get("servers") {
        Some(f) => {
            if let Some(items) = cx.array(&f, "an array of \"host:port\" strings") {
                if items.is_empty() {
                    cx.err(
                        f.v.span(),
                        "upstream.servers is empty: list at least one server",
                    );
                }
                for v in items.iter() {
                    let item = Field {
                        name: f.name.clone(),
                        v,
                    };
                    if first_host.is_none() {
                        first_host = cx.str(&item).and_then(super::units::host_name_of);
                    }
                    match cx.str(&item).map(parse_server) {
                        Some(Ok(addr)) if !servers.contains(&addr) => servers.push(addr),
                        Some(Ok(addr)) => {
                            cx.err(v.span(), format!("duplicate upstream server {addr}"));
                        }
                        Some(Err(e)) => cx.err(v.span(), e),
                        None => {}
                    }
                }
            }
        }
        None => {
            cx.err(
                s.span.clone(),
                "upstream has no servers: set servers = [\"host:port\", ...]",
            );
        }
    }

    let balance = match s.get("balance") {
        Some(f) => match cx.str(&f) {
            Some("round_robin") => Some(Balance::RoundRobin),
            Some("least_connections") => Some(Balance::LeastConnections),
            Some(other) => {
                cx.err(
                    f.v.span(),
                    format!(
                        "upstream.balance must be \"round_robin\" or \"least_connections\", \
                         got {other:?}"
                    ),
                );
                None
            }
            None => None,
        },
        None => Some(Balance::RoundRobin),
    };
    let d = UpstreamCluster::new(String::new(), Vec::new());
    let max_idle = match s.get("max_idle_per_server") {
        Some(f) => cx
            .int_in(&f, 0, 65_536)
            .and_then(|n| usize::try_from(n).ok()),
        None => Some(d.max_idle_per_server),
    };
    let max_fails = match s.get("max_fails") {
        Some(f) => cx
            .int_in(&f, 0, 1_000_000)
            .and_then(|n| u32::try_from(n).ok()),
        None => Some(d.max_fails),
    };
    let fail_timeout = match s.get("fail_timeout") {
        Some(f) => cx.duration(&f, false),
        None => Some(d.fail_timeout),
    };
    let retry_idempotent = match s.get("retry_idempotent") {
        Some(f) => cx.bool(&f),
        None => Some(d.retry_idempotent),
    };
    let tls = s.get("tls").and_then(|f| upstream_tls(cx, &f, first_host));

    // Return the name even when other keys are broken so routes naming it are not
    // additionally reported as unknown; the caller discards the whole config anyway.
    let (name, span) = name?;
    Some((
        UpstreamCluster {
            name,
            servers,
            balance: balance.unwrap_or(Balance::RoundRobin),
            max_idle_per_server: max_idle.unwrap_or(d.max_idle_per_server),
            max_fails: max_fails.unwrap_or(d.max_fails),
            fail_timeout: fail_timeout.unwrap_or(d.fail_timeout),
            retry_idempotent: retry_idempotent.unwrap_or(d.retry_idempotent),
            tls,
        },
        span,
    ))
}

/// `tls = true` or `tls = { server_name, ca, client_cert, client_key, verify }`.
fn upstream_tls(
    cx: &mut Ctx<'_>,
    f: &Field<'_, '_>,
    first_host: Option<String>,
) -> Option<crate::tls::upstream::UpstreamTls> {
    let (line, col) = cx.line_col(f.v.span().start);
    let mut t = crate::tls::upstream::UpstreamTls::new(first_host);
    t.at = (line, col);
    if let Some(b) = f.v.get_ref().as_bool() {
        return b.then_some(t);
    }
    let Some(table) = f.v.get_ref().as_table() else {
        cx.type_err(
            f,
            "true, false or a table { server_name, ca, client_cert, client_key, verify }",
        );
        return None;
    };
    check_keys(cx, table, "upstream.tls", UPSTREAM_TLS_KEYS);
    let get = |key: &str| {
        table.get(key).map(|v| Field {
            name: format!("upstream.tls.{key}"),
            v,
        })
    };
    if let Some(g) = get("server_name") {
        match cx.str(&g) {
            Some(n) if rustls::pki_types::ServerName::try_from(n).is_ok() => {
                t.server_name = Some(n.to_owned())
            }
            Some(n) => cx.err(
                g.v.span(),
                format!("{}: {n:?} is not a host name or address", g.name),
            ),
            None => {}
        }
    }
    let path = |cx: &mut Ctx<'_>, key: &str| -> Option<std::path::PathBuf> {
        let g = get(key)?;
        let v = cx.str(&g)?;
        if v.is_empty() {
            cx.err(g.v.span(), format!("{} must not be empty", g.name));
            return None;
        }
        Some(std::path::PathBuf::from(v))
    };
    t.ca = path(cx, "ca");
    match (path(cx, "client_cert"), path(cx, "client_key")) {
        (Some(c), Some(k)) => t.client_cert = Some((c, k)),
        (None, None) => {}
        _ => cx.err(
            f.v.span(),
            "upstream.tls: client_cert and client_key go together",
        ),
    }
    if let Some(g) = get("verify") {
        t.verify = cx.bool(&g).unwrap_or(true);
    }
    Some(t)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn routes(
    cx: &mut Ctx<'_>,
    v: Option<&Value<'_>>,
    upstreams: &[(UpstreamCluster, Span)],
) -> Vec<Route> {
    let mut out = Vec::new();
    let Some(v) = v else {
        match upstreams.len() {
            // "no upstream" was already reported; a second error would be noise.
            0 => {}
            1 => out.push(Route {
                host: None,
                path_prefix: "/".to_owned(),
                upstream: 0,
            }),
            n => cx.err(
                TOP,
                format!(
                    "no [[route]] defined and there are {n} upstreams: add [[route]] tables \
                     saying which upstream serves which requests"
                ),
            ),
        }
        return out;
    };
    let Some(items) = table_array(cx, "route", v) else {
        return out;
    };
    let mut seen: HashMap<(Option<String>, String), Span> = HashMap::new();
    for item in items.iter() {
        let s = Section::new(cx, "route", item, ROUTE_KEYS);
        if s.broken {
            continue;
        }
        let host = match s.get("host") {
            Some(f) => match cx.str(&f).map(|h| normalize_host(&f, h)) {
                Some(Ok(h)) => Some(Some(h)),
                Some(Err(e)) => {
                    cx.err(f.v.span(), e);
                    None
                }
                None => None,
            },
            None => Some(None),
        };
        let prefix_field = s.get("path_prefix");
        let path_prefix = match &prefix_field {
            Some(f) => match cx.str(f) {
                Some(p) if p.starts_with('/') => Some(p.to_owned()),
                Some(p) => {
                    cx.err(
                        f.v.span(),
                        format!("route.path_prefix must start with '/', got {p:?}"),
                    );
                    None
                }
                None => None,
            },
            None => Some("/".to_owned()),
        };
        let upstream = match s.get("upstream") {
            Some(f) => match cx.str(&f) {
                Some(name) => match upstreams.iter().position(|(u, _)| u.name == name) {
                    Some(i) => Some(i),
                    None => {
                        let known: Vec<&str> =
                            upstreams.iter().map(|(u, _)| u.name.as_str()).collect();
                        cx.err(
                            f.v.span(),
                            format!(
                                "route.upstream {name:?} is not a defined upstream; defined: {}",
                                if known.is_empty() {
                                    "none".to_owned()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                        None
                    }
                },
                None => None,
            },
            None => {
                cx.err(
                    s.span.clone(),
                    "route is missing `upstream` (the name of an [[upstream]])",
                );
                None
            }
        };
        let (Some(host), Some(path_prefix)) = (host, path_prefix) else {
            continue;
        };
        let key = (host.clone(), path_prefix.clone());
        let here = prefix_field
            .as_ref()
            .map_or_else(|| s.span.clone(), |f| f.v.span());
        if let Some(first) = seen.get(&key) {
            let first = cx.at(first);
            cx.err(
                here,
                format!(
                    "duplicate route for host {} and path_prefix {path_prefix:?} \
                     (first defined at {first})",
                    host.as_deref()
                        .map_or("(any)".to_owned(), |h| format!("{h:?}"))
                ),
            );
            continue;
        }
        seen.insert(key, here);
        if let Some(upstream) = upstream {
            out.push(Route {
                host,
                path_prefix,
                upstream,
            });
        }
    }
    out
}

/// Lowercases and validates a route host; ports are rejected because routing ignores them.
fn normalize_host(f: &Field<'_, '_>, h: &str) -> Result<String, String> {
    if h.is_empty() {
        return Err(format!(
            "{}: host must not be empty (omit the key to match any host)",
            f.name
        ));
    }
    if h.contains(':') {
        return Err(format!(
            "{}: host {h:?} must not include a port (routes match the host name only)",
            f.name
        ));
    }
    if !h
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(format!("{}: invalid host name {h:?}", f.name));
    }
    Ok(h.to_ascii_lowercase())
}
