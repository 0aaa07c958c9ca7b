//! Walks the span-carrying TOML tree, building a [`Config`] and collecting every
//! problem with its position.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::units::{parse_duration, parse_size};
use super::{
    resolve_server, Balance, Config, Diagnostic, Diagnostics, Route, UpstreamCluster, Workers,
};

struct Ctx<'s> {
    src: &'s str,
    file: &'s str,
    diags: Vec<(usize, Diagnostic)>,
}

type V<'i> = Spanned<DeValue<'i>>;

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        let at = span.start.min(self.src.len());
        let before = &self.src[..at];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map(|i| before[i + 1..].chars().count() + 1)
            .unwrap_or_else(|| before.chars().count() + 1);
        self.diags.push((
            at,
            Diagnostic {
                file: self.file.to_string(),
                line,
                col,
                message: message.into(),
            },
        ));
    }

    fn table<'a, 'i>(&mut self, v: &'a V<'i>, what: &str) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.err(v.span(), format!("{what} must be a table"));
                None
            }
        }
    }

    fn str<'a>(&mut self, v: &'a V<'_>, what: &str) -> Option<&'a str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.err(v.span(), format!("{what} must be a string"));
                None
            }
        }
    }

    fn bool(&mut self, v: &V<'_>, what: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.err(v.span(), format!("{what} must be true or false"));
                None
            }
        }
    }

    fn int(&mut self, v: &V<'_>, what: &str) -> Option<i64> {
        match v.get_ref() {
            DeValue::Integer(i) => {
                let digits = i.as_str().replace('_', "");
                match i64::from_str_radix(digits.trim_start_matches('+'), i.radix()) {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.err(v.span(), format!("{what}: integer out of range"));
                        None
                    }
                }
            }
            _ => {
                self.err(v.span(), format!("{what} must be an integer"));
                None
            }
        }
    }

    fn int_in(
        &mut self,
        v: &V<'_>,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let n = self.int(v, what)?;
        if !range.contains(&n) {
            self.err(
                v.span(),
                format!(
                    "{what} = {n} is out of range ({}..={})",
                    range.start(),
                    range.end()
                ),
            );
            return None;
        }
        Some(n)
    }

    fn size(&mut self, v: &V<'_>, what: &str, range: std::ops::RangeInclusive<u64>) -> Option<u64> {
        let n = match v.get_ref() {
            DeValue::Integer(_) => {
                let n = self.int(v, what)?;
                if n < 0 {
                    self.err(v.span(), format!("{what} cannot be negative"));
                    return None;
                }
                n as u64
            }
            DeValue::String(s) => match parse_size(s) {
                Ok(n) => n,
                Err(e) => {
                    self.err(v.span(), format!("{what}: {e}"));
                    return None;
                }
            },
            _ => {
                self.err(
                    v.span(),
                    format!("{what} must be a size: bytes or a string like \"16KiB\""),
                );
                return None;
            }
        };
        if !range.contains(&n) {
            self.err(
                v.span(),
                format!(
                    "{what} = {n} bytes is out of range ({}..={})",
                    range.start(),
                    range.end()
                ),
            );
            return None;
        }
        Some(n)
    }

    fn duration(&mut self, v: &V<'_>, what: &str) -> Option<Duration> {
        let d = match v.get_ref() {
            DeValue::Integer(_) => {
                let n = self.int(v, what)?;
                if n < 0 {
                    self.err(v.span(), format!("{what} cannot be negative"));
                    return None;
                }
                Duration::from_millis(n as u64)
            }
            DeValue::String(s) => match parse_duration(s) {
                Ok(d) => d,
                Err(e) => {
                    self.err(v.span(), format!("{what}: {e}"));
                    return None;
                }
            },
            _ => {
                self.err(v.span(), format!("{what} must be a duration like \"10s\""));
                return None;
            }
        };
        if d.is_zero() {
            self.err(v.span(), format!("{what} must be greater than zero"));
            return None;
        }
        Some(d)
    }

    fn addr(&mut self, v: &V<'_>, what: &str) -> Option<SocketAddr> {
        let s = self.str(v, what)?;
        match s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    v.span(),
                    format!("{what}: {s:?} is not an IP:port address (e.g. \"127.0.0.1:8080\")"),
                );
                None
            }
        }
    }

    fn array<'a, 'i>(&mut self, v: &'a V<'i>, what: &str) -> Option<&'a [V<'i>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(&a[..]),
            _ => {
                self.err(v.span(), format!("{what} must be an array"));
                None
            }
        }
    }

    fn unknown(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        section: &str,
        allowed: &[&str],
    ) {
        self.err(
            key.span(),
            format!(
                "unknown key {:?} in {section} (allowed: {})",
                key.get_ref(),
                allowed.join(", ")
            ),
        );
    }
}

const TOP: &[&str] = &[
    "server",
    "admin",
    "limits",
    "timeouts",
    "forwarding",
    "io",
    "upstream",
    "route",
];

/// Parses and validates a config. `origin` names the file in diagnostics.
pub fn parse(src: &str, origin: &str) -> Result<Config, Diagnostics> {
    let mut cx = Ctx {
        src,
        file: origin,
        diags: Vec::new(),
    };
    let root = match DeTable::parse(src) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            cx.err(span, format!("TOML syntax error: {}", e.message().trim()));
            return Err(finish(cx));
        }
    };
    let mut c = Config::defaults();
    let mut upstream_items: Vec<&V<'_>> = Vec::new();
    let mut route_items: Vec<&V<'_>> = Vec::new();
    let mut saw_listen = false;
    for (k, v) in root.get_ref().iter() {
        match k.get_ref().as_ref() {
            "server" => {
                if let Some(t) = cx.table(v, "[server]") {
                    saw_listen |= server(&mut cx, t, &mut c);
                }
            }
            "admin" => {
                if let Some(t) = cx.table(v, "[admin]") {
                    admin(&mut cx, t, &mut c);
                }
            }
            "limits" => {
                if let Some(t) = cx.table(v, "[limits]") {
                    limits(&mut cx, t, &mut c);
                }
            }
            "timeouts" => {
                if let Some(t) = cx.table(v, "[timeouts]") {
                    timeouts(&mut cx, t, &mut c);
                }
            }
            "forwarding" => {
                if let Some(t) = cx.table(v, "[forwarding]") {
                    forwarding(&mut cx, t, &mut c);
                }
            }
            "io" => {
                if let Some(t) = cx.table(v, "[io]") {
                    io(&mut cx, t, &mut c);
                }
            }
            "upstream" => {
                if let Some(a) = cx.array(v, "[[upstream]]") {
                    upstream_items.extend(a.iter());
                }
            }
            "route" => {
                if let Some(a) = cx.array(v, "[[route]]") {
                    route_items.extend(a.iter());
                }
            }
            _ => cx.unknown(k, "the top level", TOP),
        }
    }
    if !saw_listen {
        cx.err(
            0..0,
            "no listener: set [server] listen = [\"127.0.0.1:8080\"]",
        );
    }
    if c.limits.inspect_body_bytes as u64 > c.limits.max_body_bytes {
        cx.err(
            0..0,
            format!(
                "limits.inspect_body_bytes ({}) is larger than limits.max_body_bytes ({})",
                c.limits.inspect_body_bytes, c.limits.max_body_bytes
            ),
        );
    }
    let mut names: Vec<(String, Range<usize>)> = Vec::new();
    for item in upstream_items {
        if let Some(u) = upstream(&mut cx, item) {
            if names.iter().any(|(n, _)| *n == u.name) {
                cx.err(item.span(), format!("duplicate upstream name {:?}", u.name));
                continue;
            }
            names.push((u.name.clone(), item.span()));
            c.upstreams.push(u);
        }
    }
    if names.is_empty() {
        cx.err(
            src.len()..src.len(),
            "no upstream: add an [[upstream]] with name and servers",
        );
    }
    let mut seen_routes = HashSet::new();
    let mut route_count = 0;
    for item in &route_items {
        route_count += 1;
        if let Some(r) = route(&mut cx, item, &names) {
            if !seen_routes.insert((r.host.clone(), r.path_prefix.clone())) {
                cx.err(
                    item.span(),
                    format!(
                        "duplicate route for host {:?} and path_prefix {:?}",
                        r.host, r.path_prefix
                    ),
                );
                continue;
            }
            c.routes.push(r);
        }
    }
    if route_count == 0 {
        match c.upstreams.len() {
            1 => c.routes.push(Route {
                host: None,
                path_prefix: "/".into(),
                upstream: 0,
            }),
            0 => {}
            _ => cx.err(
                src.len()..src.len(),
                "several upstreams but no [[route]]: say which requests go where",
            ),
        }
    }
    if cx.diags.is_empty() {
        Ok(c)
    } else {
        Err(finish(cx))
    }
}

fn finish(cx: Ctx<'_>) -> Diagnostics {
    let mut d = cx.diags;
    d.sort_by_key(|(at, _)| *at);
    Diagnostics(d.into_iter().map(|(_, d)| d).collect())
}

fn server(cx: &mut Ctx<'_>, t: &DeTable<'_>, c: &mut Config) -> bool {
    const KEYS: &[&str] = &["workers", "pin_workers", "listen"];
    let mut saw_listen = false;
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "workers" => match v.get_ref() {
                DeValue::String(s) if s == "auto" => c.workers = Workers::Auto,
                DeValue::Integer(_) => {
                    if let Some(n) = cx.int_in(v, "server.workers", 1..=1024) {
                        c.workers = Workers::Count(n as usize);
                    }
                }
                _ => cx.err(
                    v.span(),
                    "server.workers must be \"auto\" or a number 1..=1024",
                ),
            },
            "pin_workers" => {
                if let Some(b) = cx.bool(v, "server.pin_workers") {
                    c.pin_workers = b;
                }
            }
            "listen" => {
                saw_listen = true;
                let items: Vec<&V<'_>> = match v.get_ref() {
                    DeValue::Array(a) => a.iter().collect(),
                    DeValue::String(_) => vec![v],
                    _ => {
                        cx.err(
                            v.span(),
                            "server.listen must be an array of \"IP:port\" strings",
                        );
                        continue;
                    }
                };
                if items.is_empty() {
                    cx.err(
                        v.span(),
                        "server.listen is empty: give at least one \"IP:port\"",
                    );
                }
                for item in items {
                    if let Some(a) = cx.addr(item, "server.listen") {
                        if a.port() != 0 && c.listeners.contains(&a) {
                            cx.err(item.span(), format!("duplicate listener {a}"));
                        } else {
                            c.listeners.push(a);
                        }
                    }
                }
            }
            _ => cx.unknown(k, "[server]", KEYS),
        }
    }
    saw_listen
}

fn admin(cx: &mut Ctx<'_>, t: &DeTable<'_>, c: &mut Config) {
    const KEYS: &[&str] = &["listen", "enabled"];
    let mut enabled = true;
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "listen" => {
                if let Some(a) = cx.addr(v, "admin.listen") {
                    c.admin = Some(a);
                }
            }
            "enabled" => {
                if let Some(b) = cx.bool(v, "admin.enabled") {
                    enabled = b;
                }
            }
            _ => cx.unknown(k, "[admin]", KEYS),
        }
    }
    if !enabled {
        c.admin = None;
    }
}

fn limits(cx: &mut Ctx<'_>, t: &DeTable<'_>, c: &mut Config) {
    const KEYS: &[&str] = &[
        "max_header_bytes",
        "max_headers",
        "max_target_bytes",
        "max_body_bytes",
        "inspect_body_bytes",
        "max_connections_per_worker",
    ];
    let l = &mut c.limits;
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "max_header_bytes" => {
                if let Some(n) = cx.size(v, "limits.max_header_bytes", 1024..=1 << 20) {
                    l.max_header_bytes = n as usize;
                }
            }
            "max_headers" => {
                if let Some(n) = cx.int_in(v, "limits.max_headers", 1..=1000) {
                    l.max_headers = n as usize;
                }
            }
            "max_target_bytes" => {
                if let Some(n) = cx.size(v, "limits.max_target_bytes", 256..=1 << 20) {
                    l.max_target_bytes = n as usize;
                }
            }
            "max_body_bytes" => {
                if let Some(n) = cx.size(v, "limits.max_body_bytes", 0..=1 << 50) {
                    l.max_body_bytes = n;
                }
            }
            "inspect_body_bytes" => {
                if let Some(n) = cx.size(v, "limits.inspect_body_bytes", 0..=64 << 20) {
                    l.inspect_body_bytes = n as usize;
                }
            }
            "max_connections_per_worker" => {
                if let Some(n) = cx.int_in(v, "limits.max_connections_per_worker", 1..=1_000_000) {
                    l.max_connections_per_worker = n as usize;
                }
            }
            _ => cx.unknown(k, "[limits]", KEYS),
        }
    }
}

fn timeouts(cx: &mut Ctx<'_>, t: &DeTable<'_>, c: &mut Config) {
    const KEYS: &[&str] = &[
        "header_read",
        "idle_keepalive",
        "body_read",
        "client_write",
        "upstream_connect",
        "upstream_read",
        "upstream_write",
        "shutdown_grace",
    ];
    let to = &mut c.timeouts;
    for (k, v) in t.iter() {
        let key = k.get_ref().as_ref();
        let slot = match key {
            "header_read" => &mut to.header_read,
            "idle_keepalive" => &mut to.idle_keepalive,
            "body_read" => &mut to.body_read,
            "client_write" => &mut to.client_write,
            "upstream_connect" => &mut to.upstream_connect,
            "upstream_read" => &mut to.upstream_read,
            "upstream_write" => &mut to.upstream_write,
            "shutdown_grace" => &mut to.shutdown_grace,
            _ => {
                cx.unknown(k, "[timeouts]", KEYS);
                continue;
            }
        };
        if let Some(d) = cx.duration(v, &format!("timeouts.{key}")) {
            *slot = d;
        }
    }
}

fn forwarding(cx: &mut Ctx<'_>, t: &DeTable<'_>, c: &mut Config) {
    const KEYS: &[&str] = &["trusted_proxies", "add_forwarded"];
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "trusted_proxies" => {
                let Some(items) = cx.array(v, "forwarding.trusted_proxies") else {
                    continue;
                };
                for item in items {
                    let Some(s) = cx.str(item, "forwarding.trusted_proxies") else {
                        continue;
                    };
                    let parsed = s
                        .parse::<ipnet::IpNet>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
                    match parsed {
                        Ok(n) => c.forwarding.trusted_proxies.push(n),
                        Err(_) => cx.err(
                            item.span(),
                            format!(
                                "forwarding.trusted_proxies: {s:?} is not a CIDR or IP address"
                            ),
                        ),
                    }
                }
            }
            "add_forwarded" => {
                if let Some(b) = cx.bool(v, "forwarding.add_forwarded") {
                    c.forwarding.add_forwarded = b;
                }
            }
            _ => cx.unknown(k, "[forwarding]", KEYS),
        }
    }
}

fn io(cx: &mut Ctx<'_>, t: &DeTable<'_>, c: &mut Config) {
    const KEYS: &[&str] = &["ring_entries", "recv_buffer_bytes", "recv_buffers"];
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "ring_entries" => {
                if let Some(n) = cx.int_in(v, "io.ring_entries", 64..=32768) {
                    if (n as u32).is_power_of_two() {
                        c.io.ring_entries = n as u32;
                    } else {
                        cx.err(
                            v.span(),
                            format!("io.ring_entries = {n} must be a power of two"),
                        );
                    }
                }
            }
            "recv_buffer_bytes" => {
                if let Some(n) = cx.size(v, "io.recv_buffer_bytes", 4096..=1 << 20) {
                    c.io.recv_buffer_bytes = n as usize;
                }
            }
            "recv_buffers" => {
                if let Some(n) = cx.int_in(v, "io.recv_buffers", 16..=32768) {
                    if (n as u32).is_power_of_two() {
                        c.io.recv_buffers = n as u16;
                    } else {
                        cx.err(
                            v.span(),
                            format!("io.recv_buffers = {n} must be a power of two"),
                        );
                    }
                }
            }
            _ => cx.unknown(k, "[io]", KEYS),
        }
    }
}

fn upstream(cx: &mut Ctx<'_>, item: &V<'_>) -> Option<UpstreamCluster> {
    const KEYS: &[&str] = &[
        "name",
        "servers",
        "balance",
        "max_idle_per_server",
        "max_fails",
        "fail_timeout",
        "retry_idempotent",
    ];
    let t = cx.table(item, "[[upstream]]")?;
    let mut u = UpstreamCluster::with_defaults(String::new(), Vec::new());
    let mut ok = true;
    let mut saw_servers = false;
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "name" => match cx.str(v, "upstream.name") {
                Some(s) if !s.is_empty() => u.name = s.to_string(),
                Some(_) => {
                    cx.err(v.span(), "upstream.name cannot be empty");
                    ok = false;
                }
                None => ok = false,
            },
            "servers" => {
                saw_servers = true;
                let Some(items) = cx.array(v, "upstream.servers") else {
                    ok = false;
                    continue;
                };
                if items.is_empty() {
                    cx.err(v.span(), "upstream.servers is empty");
                    ok = false;
                }
                for s in items {
                    let Some(text) = cx.str(s, "upstream.servers") else {
                        ok = false;
                        continue;
                    };
                    match resolve_server(text) {
                        Ok(a) => u.servers.push(a),
                        Err(e) => {
                            cx.err(s.span(), format!("upstream.servers: {e}"));
                            ok = false;
                        }
                    }
                }
            }
            "balance" => match cx.str(v, "upstream.balance") {
                Some("round_robin") => u.balance = Balance::RoundRobin,
                Some("least_connections") => u.balance = Balance::LeastConnections,
                Some(other) => {
                    cx.err(
                        v.span(),
                        format!("upstream.balance: {other:?} is not one of round_robin, least_connections"),
                    );
                }
                None => {}
            },
            "max_idle_per_server" => {
                if let Some(n) = cx.int_in(v, "upstream.max_idle_per_server", 0..=100_000) {
                    u.max_idle_per_server = n as usize;
                }
            }
            "max_fails" => {
                if let Some(n) = cx.int_in(v, "upstream.max_fails", 1..=1000) {
                    u.max_fails = n as u32;
                }
            }
            "fail_timeout" => {
                if let Some(d) = cx.duration(v, "upstream.fail_timeout") {
                    u.fail_timeout = d;
                }
            }
            "retry_idempotent" => {
                if let Some(b) = cx.bool(v, "upstream.retry_idempotent") {
                    u.retry_idempotent = b;
                }
            }
            _ => cx.unknown(k, "[[upstream]]", KEYS),
        }
    }
    if u.name.is_empty() && ok {
        cx.err(item.span(), "[[upstream]] needs a name");
        ok = false;
    }
    if !saw_servers {
        cx.err(
            item.span(),
            "[[upstream]] needs servers = [\"host:port\", ...]",
        );
        ok = false;
    }
    ok.then_some(u)
}

fn route(cx: &mut Ctx<'_>, item: &V<'_>, names: &[(String, Range<usize>)]) -> Option<Route> {
    const KEYS: &[&str] = &["host", "path_prefix", "upstream"];
    let t = cx.table(item, "[[route]]")?;
    let mut r = Route {
        host: None,
        path_prefix: "/".into(),
        upstream: usize::MAX,
    };
    let mut ok = true;
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "host" => match cx.str(v, "route.host") {
                Some(h)
                    if !h.is_empty() && !h.contains(|c: char| c.is_whitespace() || c == '/') =>
                {
                    let h = h.to_ascii_lowercase();
                    r.host = if h == "*" { None } else { Some(h) };
                }
                Some(h) => {
                    cx.err(v.span(), format!("route.host: {h:?} is not a host name"));
                    ok = false;
                }
                None => ok = false,
            },
            "path_prefix" => match cx.str(v, "route.path_prefix") {
                Some(p) if p.starts_with('/') => r.path_prefix = p.to_string(),
                Some(p) => {
                    cx.err(
                        v.span(),
                        format!("route.path_prefix {p:?} must start with '/'"),
                    );
                    ok = false;
                }
                None => ok = false,
            },
            "upstream" => match cx.str(v, "route.upstream") {
                Some(name) => match names.iter().position(|(n, _)| n == name) {
                    Some(i) => r.upstream = i,
                    None => {
                        cx.err(
                            v.span(),
                            format!("route.upstream: no [[upstream]] named {name:?}"),
                        );
                        ok = false;
                    }
                },
                None => ok = false,
            },
            _ => cx.unknown(k, "[[route]]", KEYS),
        }
    }
    if r.upstream == usize::MAX && ok {
        cx.err(item.span(), "[[route]] needs upstream = \"<name>\"");
        ok = false;
    }
    ok.then_some(r)
}
