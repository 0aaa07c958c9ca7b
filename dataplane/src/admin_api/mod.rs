//! The admin API (`/api/...` on the admin listener): status, recent events
//! and their aggregates, live event streams, per-policy results, and changes
//! to the local overlay (mode, action, threshold, exclusions) that go
//! through the normal reload path and into an audit log.
//!
//! Everything here runs on the admin threads (and one thread per live
//! stream); the event store is fed by the event writer thread. Nothing runs
//! on a core. JSON field names are stable (the web console reads them);
//! times are Unix milliseconds in fields ending in `_ms`. See
//! docs/OPERATIONS.md, "Admin API".
//!
//! - [`store`]: the bounded event ring and aggregates.
//! - [`auth`]: the bearer tokens of `[admin] token_file`.
//! - [`changes`]: validating a change, editing the overlay, reloading, auditing.
//! - [`stream`]: Server-Sent Events, one thread per subscriber.
//! - [`traffic`]: the cores' traffic snapshots merged: rates, latency,
//!   upstream health, busiest clients, a short history.
//! - [`http`]: the small request/response plumbing.

pub mod auth;
pub mod changes;
mod http;
pub mod store;
mod stream;
pub mod traffic;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::policy::hub::Hub;
use http::{json_reply, percent_decode, ApiError};
pub use store::EventStore;

/// The admin API's settings (`[admin]` keys besides `listen`/`enabled`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// File of bearer tokens that may change policy; `None`: changes are off.
    pub token_file: Option<PathBuf>,
    /// Audit log (JSON lines); default: `<overlay>.audit.jsonl` beside the overlay.
    pub audit_log: Option<PathBuf>,
    /// Recent events kept in memory for `GET /api/events`.
    pub recent_events: usize,
    /// Live event streams at once.
    pub max_streams: usize,
    /// Comment line sent on an idle stream this often.
    pub stream_keepalive: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            token_file: None,
            audit_log: None,
            recent_events: 10_000,
            max_streams: 8,
            stream_keepalive: Duration::from_secs(15),
        }
    }
}

/// Largest request body accepted (a change is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;
/// Most events one `GET /api/events` returns.
pub const MAX_LIMIT: usize = 1000;

/// What the gateway tells the API about itself at start.
pub struct Facts {
    pub workers: usize,
    pub listeners: Vec<SocketAddr>,
    /// The global `[policy] mode = "monitor"`.
    pub monitor: bool,
}

/// The API's shared state.
pub struct Api {
    cfg: ApiConfig,
    store: Arc<EventStore>,
    hub: Hub,
    overlay: Option<PathBuf>,
    audit: Option<PathBuf>,
    tokens: auth::Tokens,
    facts: Facts,
    admin_addr: OnceLock<SocketAddr>,
    started: Instant,
    started_ms: u64,
    streams: AtomicUsize,
    /// One change at a time: edit, reload, audit.
    changing: Mutex<()>,
    /// The merged traffic snapshots (set when the gateway starts its cores).
    traffic: OnceLock<Arc<traffic::Traffic>>,
}

/// Why the API could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ApiSetupError {
    #[error("{0}")]
    Token(String),
}

impl Api {
    /// Reads the token file (if any) and builds the API state.
    pub fn new(
        cfg: ApiConfig,
        hub: Hub,
        overlay: Option<PathBuf>,
        store: Arc<EventStore>,
        facts: Facts,
    ) -> Result<Api, ApiSetupError> {
        let tokens = match &cfg.token_file {
            Some(p) => auth::Tokens::read(p).map_err(ApiSetupError::Token)?,
            None => auth::Tokens::default(),
        };
        let audit = cfg
            .audit_log
            .clone()
            .or_else(|| overlay.as_ref().map(|o| o.with_extension("audit.jsonl")));
        Ok(Api {
            cfg,
            store,
            hub,
            overlay,
            audit,
            tokens,
            facts,
            admin_addr: OnceLock::new(),
            started: Instant::now(),
            started_ms: store::now_ms(),
            streams: AtomicUsize::new(0),
            changing: Mutex::new(()),
            traffic: OnceLock::new(),
        })
    }

    /// Records the admin listener's bound address (for `/api/status`).
    pub fn set_admin_addr(&self, addr: SocketAddr) {
        let _ = self.admin_addr.set(addr);
    }

    /// The event store.
    pub fn store(&self) -> &Arc<EventStore> {
        &self.store
    }
}

/// A parsed request head, owned, as the admin listener hands it over.
pub struct Head {
    pub method: String,
    pub target: String,
    pub authorization: Option<String>,
    pub content_length: Option<usize>,
    pub peer: Option<SocketAddr>,
}

/// Serves one `/api/...` request on `stream`; `pending` holds body bytes
/// already read with the head. A stream request hands the connection to its
/// own thread and returns at once.
pub fn serve(api: &Arc<Api>, mut stream: TcpStream, head: Head, pending: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let body = match read_body(&mut stream, &head, pending) {
        Ok(b) => b,
        Err(e) => {
            stream.write_all(&e.reply())?;
            return stream.flush();
        }
    };
    let path = head.target.split('?').next().unwrap_or("");
    if path == "/api/events/stream" && head.method == "GET" {
        return match query(&head.target).and_then(|q| filter(&q, &[])) {
            Ok(f) => stream::start(api, stream, f),
            Err(e) => {
                stream.write_all(&e.reply())?;
                stream.flush()
            }
        };
    }
    let reply = match route(api, &head, path, &body) {
        Ok((status, v)) => json_reply(status, &v, &[]),
        Err(e) => e.reply(),
    };
    stream.write_all(&reply)?;
    stream.flush()
}

fn read_body(stream: &mut TcpStream, head: &Head, pending: &[u8]) -> Result<Vec<u8>, ApiError> {
    let n = head.content_length.unwrap_or(0);
    if n > MAX_BODY {
        return Err(ApiError::new(
            413,
            format!("body larger than {MAX_BODY} bytes"),
        ));
    }
    let mut body = pending[..pending.len().min(n)].to_vec();
    while body.len() < n {
        let mut chunk = vec![0u8; n - body.len()];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(ApiError::new(400, "request body ended early")),
            Ok(k) => body.extend_from_slice(&chunk[..k]),
        }
    }
    Ok(body)
}

fn route(api: &Arc<Api>, head: &Head, path: &str, body: &[u8]) -> Result<(u16, Value), ApiError> {
    let segs: Vec<&str> = path
        .trim_start_matches("/api/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let m = head.method.as_str();
    let q = query(&head.target)?;
    match (m, segs.as_slice()) {
        ("GET", ["status"]) => Ok((200, status(api))),
        ("GET", ["events"]) => events(api, &q),
        ("GET", ["policies"]) => policies(api),
        ("GET", ["policies", id]) => policy(api, &percent_decode(id)),
        ("POST", ["policies", id, kind]) => {
            changes::policy_change(api, head, &percent_decode(id), kind, body)
        }
        ("GET", ["clients", "top"]) => top_clients(api, &q),
        ("POST", ["clients", "block"]) => changes::client_block(api, head, body),
        // A network's `/` may come unescaped: `/api/clients/block/10.0.0.0/8`.
        ("DELETE", ["clients", "block", ip @ ..]) if !ip.is_empty() => {
            changes::client_unblock(api, head, &percent_decode(&ip.join("/")))
        }
        ("GET", ["clients", "blocks"]) => changes::client_blocks(api),
        ("GET", ["traffic"]) => traffic::traffic(api, &q),
        ("GET", ["traffic", "history"]) => traffic::history(api, &q),
        ("GET", ["routes"]) => Ok((200, json!({ "routes": api.store.routes() }))),
        ("GET", ["audit"]) => changes::audit_read(api, &q),
        (_, ["status" | "events" | "policies" | "routes" | "audit" | "traffic"])
        | (_, ["traffic", "history"])
        | (_, ["clients", "top" | "blocks" | "block"])
        | (_, ["policies", _])
        | (_, ["events", "stream"]) => {
            Err(ApiError::new(405, format!("{m} is not allowed on {path}")))
        }
        (_, ["policies", _, _]) => Err(ApiError::new(
            405,
            format!("{m} is not allowed on {path}; changes are POST"),
        )),
        _ => Err(ApiError::new(404, format!("no such endpoint: {path}"))),
    }
}

/// The query string's parameters, percent-decoded.
fn query(target: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Some((_, q)) = target.split_once('?') else {
        return Ok(Vec::new());
    };
    Ok(q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect())
}

/// The event filter of a query; `extra` names other parameters allowed.
fn filter(q: &[(String, String)], extra: &[&str]) -> Result<store::Filter, ApiError> {
    let mut f = store::Filter::default();
    for (k, v) in q {
        let v = v.clone();
        match k.as_str() {
            "policy" => f.policy = Some(v),
            "client" => f.client = Some(v),
            "route" => f.route = Some(v),
            "action" => f.action = Some(v),
            "since" => {
                f.since = Some(v.parse().map_err(|_| {
                    ApiError::field(400, "since", "`since` is a time in Unix milliseconds")
                })?)
            }
            k if extra.contains(&k) => {}
            k => {
                return Err(ApiError::field(
                    400,
                    "query",
                    format!("unknown query parameter `{k}`; allowed: policy, client, route, action, since{}",
                        extra.iter().map(|e| format!(", {e}")).collect::<String>()),
                ))
            }
        }
    }
    Ok(f)
}

fn limit(q: &[(String, String)], default: usize, max: usize) -> Result<usize, ApiError> {
    match q.iter().find(|(k, _)| k == "limit") {
        None => Ok(default),
        Some((_, v)) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::field(
                400,
                "limit",
                format!("`limit` is a number from 1 to {max}"),
            )),
        },
    }
}

fn status(api: &Api) -> Value {
    let now = store::now_ms();
    let current = api.hub.current();
    let policy = current.as_ref().map(|(p, generation)| {
        let packs: Vec<Value> = p
            .packs
            .iter()
            .enumerate()
            .map(|(i, k)| {
                json!({
                    "name": k.name,
                    "version": k.version,
                    "source": k.source,
                    "policies": p.policies.iter().filter(|x| x.pack == i).count(),
                })
            })
            .collect();
        json!({
            "version": p.version(),
            "generation": generation,
            "packs": packs,
            "policies": p.stats.policies,
            "enforce": p.stats.enforce,
            "monitor": p.stats.monitor,
            "signatures": p.stats.signatures,
            "client_blocks": p.stats.client_blocks.active,
            "next_block_expiry_ms": p.stats.client_blocks.next_expiry_s.map(|s| s * 1000),
        })
    });
    let reloads: Vec<Value> = api
        .hub
        .history()
        .iter()
        .rev()
        .map(|r| {
            json!({
                "time_ms": r.at * 1000,
                "reason": r.reason,
                "ok": r.ok,
                "version": r.version,
                "policies": r.policies,
                "signatures": r.signatures,
                "elapsed_ms": r.elapsed_ms,
                "added": r.changes.added,
                "removed": r.changes.removed,
                "changed": r.changes.changed,
                "errors": r.errors,
            })
        })
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "now_ms": now,
        "started_ms": api.started_ms,
        "uptime_ms": api.started.elapsed().as_millis() as u64,
        "workers": api.facts.workers,
        "listeners": api.facts.listeners.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "admin": api.admin_addr.get().map(ToString::to_string),
        "inspection": api.hub.enabled(),
        "global_mode": if api.facts.monitor { "monitor" } else { "enforce" },
        "policy": policy,
        "overlay": api.overlay.as_ref().map(|p| p.display().to_string()),
        "audit_log": api.audit.as_ref().map(|p| p.display().to_string()),
        "changes": changes::availability(api),
        "reloads": reloads,
        "events": api.store.stats_json(),
    })
}

fn events(api: &Api, q: &[(String, String)]) -> Result<(u16, Value), ApiError> {
    let f = filter(q, &["limit"])?;
    let n = limit(q, 100, MAX_LIMIT)?;
    let found = api.store.events(&f, n);
    let list: Vec<Value> = found
        .iter()
        .filter_map(|e| serde_json::from_str(&e.wrapped()).ok())
        .collect();
    Ok((
        200,
        json!({"count": list.len(), "events": list, "store": api.store.stats_json()}),
    ))
}

fn policy_summary(p: &rampart_policy_loader::Policy, counts: Option<&Value>) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "severity": p.severity.as_str(),
        "tags": p.tags,
        "mode": p.mode.as_str(),
        "action": p.action.name(),
        "phase": p.phase.as_str(),
        "score": p.score,
        "exclusions": p.exclusions.len(),
        "counts": counts.cloned().unwrap_or_else(|| json!({
            "hits": 0, "monitor": 0, "enforce": 0, "blocks": 0, "actions": {}, "last_ms": null
        })),
    })
}

fn policies(api: &Api) -> Result<(u16, Value), ApiError> {
    let Some((p, _)) = api.hub.current() else {
        return Ok((200, json!({"policies": []})));
    };
    let counts = api.store.policy_counts();
    let list: Vec<Value> = p
        .policies
        .iter()
        .map(|x| policy_summary(x, counts.get(&x.id)))
        .collect();
    Ok((200, json!({"count": list.len(), "policies": list})))
}

fn policy(api: &Api, id: &str) -> Result<(u16, Value), ApiError> {
    let (p, _) = api
        .hub
        .current()
        .ok_or_else(|| ApiError::new(404, format!("unknown policy `{id}`: inspection is off")))?;
    let x = p
        .policies
        .iter()
        .find(|x| x.id == id)
        .ok_or_else(|| ApiError::new(404, format!("unknown policy `{id}`")))?;
    let detail = api.store.policy_json(id, store::now_ms());
    let counts = detail.as_ref().map(|d| d["counts"].clone());
    let mut v = policy_summary(x, counts.as_ref());
    v["description"] = json!(x.description);
    v["pack"] = json!(p.packs.get(x.pack).map(|k| k.name.clone()));
    v["minutes"] = detail
        .as_ref()
        .map_or_else(|| json!([]), |d| d["minutes"].clone());
    v["samples"] = detail
        .as_ref()
        .map_or_else(|| json!([]), |d| d["samples"].clone());
    v["fields"] = detail
        .as_ref()
        .map_or_else(|| json!([]), |d| d["fields"].clone());
    v["fields_other"] = detail
        .as_ref()
        .map_or_else(|| json!(0), |d| d["fields_other"].clone());
    Ok((200, v))
}

fn top_clients(api: &Api, q: &[(String, String)]) -> Result<(u16, Value), ApiError> {
    let mut by_blocks = false;
    let mut by_requests = false;
    for (k, v) in q {
        match (k.as_str(), v.as_str()) {
            ("by", "events") => (by_blocks, by_requests) = (false, false),
            ("by", "blocks") => (by_blocks, by_requests) = (true, false),
            ("by", "requests") => (by_blocks, by_requests) = (false, true),
            ("by", _) => {
                return Err(ApiError::field(
                    400,
                    "by",
                    "`by` is `events`, `blocks` or `requests`",
                ));
            }
            ("limit", _) => {}
            (k, _) => {
                return Err(ApiError::field(
                    400,
                    "query",
                    format!("unknown query parameter `{k}`; allowed: by, limit"),
                ))
            }
        }
    }
    let n = limit(q, 10, 100)?;
    if by_requests {
        return Ok((200, traffic::top_clients(api, n)?));
    }
    Ok((
        200,
        json!({
            "by": if by_blocks { "blocks" } else { "events" },
            "clients": api.store.top_clients(by_blocks, n),
        }),
    ))
}

impl Api {
    /// Live streams now open.
    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::Acquire)
    }
}
