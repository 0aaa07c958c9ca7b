//! Rampart's configuration: the runtime [`Config`] the reactor consumes, loaded from one
//! TOML file ([`load_file`], [`parse`]) or built from command-line flags
//! ([`Config::quick`]).
//!
//! Loading never stops at the first problem: every error found is reported as a
//! [`Diagnostic`] (`file:line:col: message`), sorted in file order, so an operator fixes
//! a config in one round trip. See `dataplane/etc/rampart.example.toml` for every key.

mod load;
mod units;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Admin listener used when the config does not name one.
pub const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9901);

/// The validated runtime configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub workers: Workers,
    pub pin_workers: bool,
    /// Plain-HTTP listeners; port 0 is allowed (the kernel picks, which tests
    /// rely on). This and `tls_listeners` together hold at least one.
    pub listeners: Vec<SocketAddr>,
    /// Listeners that terminate TLS (`[server] tls_listen`), with `tls` set.
    pub tls_listeners: Vec<SocketAddr>,
    /// `[tls]`: certificates and protocol settings for `tls_listeners`.
    pub tls: Option<crate::tls::TlsConfig>,
    /// `None` when `admin.enabled = false`.
    pub admin: Option<SocketAddr>,
    /// The admin API's `[admin]` keys (tokens, audit log, event store).
    pub admin_api: crate::admin_api::ApiConfig,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub forwarding: Forwarding,
    pub io: IoTuning,
    /// At least one.
    pub upstreams: Vec<UpstreamCluster>,
    /// At least one, in file order.
    pub routes: Vec<Route>,
    /// Policy packs and reload behaviour.
    pub policy: crate::policy::PolicyConfig,
    /// External threat-intelligence list directories (`[intel]`).
    pub intel: crate::policy::IntelConfig,
    /// Tarpit, deception and escalation settings.
    pub enforcement: crate::enforce::EnforcementConfig,
    /// The security event log.
    pub events: crate::events::EventsConfig,
    /// `[behaviour]` client identity: API keys, sessions, JWTs, login routes.
    pub identity: crate::behaviour::IdentityConfig,
    /// Behaviour counters (`[behaviour]` memory, steering and sync keys).
    pub counters: crate::behaviour::CounterConfig,
}

/// How many worker threads (one io_uring ring each) to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    /// One per available CPU.
    Auto,
    /// Exactly this many, 1..=1024.
    Count(usize),
}

impl Workers {
    /// Upper bound of [`Workers::Count`] accepted from config.
    pub const MAX: usize = 1024;

    /// The concrete thread count.
    pub fn resolve(self) -> usize {
        match self {
            // available_parallelism fails only in exotic sandboxes; one worker still works.
            Workers::Auto => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Workers::Count(n) => n,
        }
    }
}

/// Request size limits enforced while parsing.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_target_bytes: usize,
    pub max_body_bytes: u64,
    pub inspect_body_bytes: usize,
    pub max_connections_per_worker: usize,
    /// Scan request bodies beyond `inspect_body_bytes` as a stream and decide
    /// before the body's last bytes reach the upstream (off: the rest of the
    /// body is forwarded uninspected).
    pub stream_inspect: bool,
    /// Bodies streamed through inspection at once per worker (pre-opened
    /// scanner streams); a further long body is answered 503.
    pub stream_inspect_per_worker: usize,
    /// How much of a text-like response body response policies inspect.
    pub inspect_response_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_target_bytes: 8 * 1024,
            max_body_bytes: 1 << 30,
            inspect_body_bytes: 128 * 1024,
            max_connections_per_worker: 16_384,
            stream_inspect: true,
            stream_inspect_per_worker: 256,
            inspect_response_bytes: 64 * 1024,
        }
    }
}

/// Per-phase timeouts.
#[derive(Clone, Debug)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle_keepalive: Duration,
    pub body_read: Duration,
    pub client_write: Duration,
    pub upstream_connect: Duration,
    pub upstream_read: Duration,
    pub upstream_write: Duration,
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(10),
            idle_keepalive: Duration::from_secs(60),
            body_read: Duration::from_secs(30),
            client_write: Duration::from_secs(30),
            upstream_connect: Duration::from_secs(2),
            upstream_read: Duration::from_secs(60),
            upstream_write: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Client-address forwarding to upstreams.
#[derive(Clone, Debug)]
pub struct Forwarding {
    /// Peers whose `Forwarded`/`X-Forwarded-For` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Append an RFC 7239 `Forwarded` header.
    pub add_forwarded: bool,
}

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding {
            trusted_proxies: Vec::new(),
            add_forwarded: true,
        }
    }
}

/// io_uring sizing, per worker.
#[derive(Clone, Debug)]
pub struct IoTuning {
    /// Submission queue entries; a power of two in 64..=32768.
    pub ring_entries: u32,
    /// Size of each provided receive buffer.
    pub recv_buffer_bytes: usize,
    /// Provided buffers per worker; a power of two (buffer rings require it).
    pub recv_buffers: u16,
}

impl Default for IoTuning {
    fn default() -> Self {
        IoTuning {
            ring_entries: 4096,
            recv_buffer_bytes: 16 * 1024,
            recv_buffers: 512,
        }
    }
}

/// A named group of interchangeable upstream servers.
#[derive(Clone, Debug)]
pub struct UpstreamCluster {
    pub name: String,
    /// Resolved at load time.
    pub servers: Vec<SocketAddr>,
    pub balance: Balance,
    /// Idle keep-alive connections kept per server, per worker.
    pub max_idle_per_server: usize,
    /// Consecutive failures before a server is ejected; 0 never ejects.
    pub max_fails: u32,
    /// How long an ejected server stays out of rotation.
    pub fail_timeout: Duration,
    /// Retry idempotent requests on another server when connecting fails.
    pub retry_idempotent: bool,
    /// Speak TLS to the servers (`None`: plain HTTP).
    pub tls: Option<crate::tls::upstream::UpstreamTls>,
}

impl UpstreamCluster {
    /// A cluster with default tuning.
    pub fn new(name: impl Into<String>, servers: Vec<SocketAddr>) -> Self {
        UpstreamCluster {
            name: name.into(),
            servers,
            balance: Balance::RoundRobin,
            max_idle_per_server: 64,
            max_fails: 3,
            fail_timeout: Duration::from_secs(10),
            retry_idempotent: true,
            tls: None,
        }
    }
}

/// Server selection within a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    LeastConnections,
}

/// Sends requests matching `host` and `path_prefix` to `upstreams[upstream]`.
#[derive(Clone, Debug)]
pub struct Route {
    /// Lowercase, without port; `None` matches any host.
    pub host: Option<String>,
    /// Starts with '/'.
    pub path_prefix: String,
    /// Index into [`Config::upstreams`].
    pub upstream: usize,
}

/// One problem found in a config, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Every problem found in a config, in file order.
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Reads and validates the config file at `path`.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config = parse(&src, &path.display().to_string()).map_err(ConfigError::Invalid)?;
    // Paths in the file are relative to the file, not to wherever rampart runs.
    let base = path.parent().unwrap_or(Path::new("."));
    let rel = |p: &PathBuf| {
        if p.is_relative() && p.as_os_str() != "default" {
            base.join(p)
        } else {
            p.clone()
        }
    };
    config.policy.packs = config.policy.packs.iter().map(rel).collect();
    config.policy.overlay = config.policy.overlay.as_ref().map(rel);
    config.policy.cache_dir = config.policy.cache_dir.as_ref().map(rel);
    config.admin_api.token_file = config.admin_api.token_file.as_ref().map(rel);
    config.admin_api.audit_log = config.admin_api.audit_log.as_ref().map(rel);
    config.intel.lists = config.intel.lists.iter().map(rel).collect();
    let mut cert_errors = Vec::new();
    if let Some(tls) = &mut config.tls {
        for spec in &mut tls.certificates {
            spec.cert = rel(&spec.cert);
            spec.key = rel(&spec.key);
            // Read now so `rampart check` names a bad file at its line.
            if let Err(e) = crate::tls::certs::load_certified_key(spec) {
                let (line, col) = spec.at[usize::from(e.about_key())];
                cert_errors.push(Diagnostic {
                    file: path.display().to_string(),
                    line,
                    col,
                    message: format!("tls.certificate: {e}"),
                });
            }
        }
        if let Some(ca) = &mut tls.client_ca {
            ca.path = rel(&ca.path);
            if let Err(e) = crate::tls::certs::load_client_roots(&ca.path) {
                cert_errors.push(Diagnostic {
                    file: path.display().to_string(),
                    line: ca.at.0,
                    col: ca.at.1,
                    message: format!("tls.client_ca: {e}"),
                });
            }
        }
    }
    for u in &mut config.upstreams {
        if let Some(t) = &mut u.tls {
            t.ca = t.ca.as_ref().map(rel);
            t.client_cert = t.client_cert.as_ref().map(|(c, k)| (rel(c), rel(k)));
            // Built (and thrown away) now so a bad CA or client certificate is
            // reported at the `tls` line; the server builds its own at start.
            if let Err(e) = crate::tls::upstream::client_config(t) {
                cert_errors.push(Diagnostic {
                    file: path.display().to_string(),
                    line: t.at.0,
                    col: t.at.1,
                    message: format!("upstream {:?} tls: {e}", u.name),
                });
            }
        }
    }
    if !cert_errors.is_empty() {
        return Err(ConfigError::Invalid(Diagnostics(cert_errors)));
    }
    if let crate::events::SinkKind::File(p) = &config.events.sink {
        config.events.sink = crate::events::SinkKind::File(rel(p));
    }
    // Key files are read now so `rampart check` reports them like any other
    // config error, at the line naming them.
    if let Err(errors) = config.identity.jwt.load_keys(base) {
        let origin = path.display().to_string();
        return Err(ConfigError::Invalid(Diagnostics(
            errors
                .into_iter()
                .map(|(f, message)| Diagnostic {
                    file: origin.clone(),
                    line: f.line,
                    col: f.col,
                    message: format!("behaviour.jwt: {message}"),
                })
                .collect(),
        )));
    }
    Ok(config)
}

/// Parses and validates config text; `origin` names it in diagnostics (usually the path).
pub fn parse(src: &str, origin: &str) -> Result<Config, Diagnostics> {
    load::parse(src, origin)
}

impl Config {
    /// The config behind `rampart proxy --listen ADDR --upstream URL`: defaults
    /// everywhere, one upstream "default" with one server, one route "/" to it.
    ///
    /// `upstream_url` is `http://host:port[/]` (or `host:port`); hostnames are resolved
    /// now. Errors are reported against the pseudo-file `--upstream`.
    pub fn quick(
        listen: SocketAddr,
        upstream_url: &str,
        workers: Workers,
    ) -> Result<Config, Diagnostics> {
        let diag = |message: String| {
            Diagnostics(vec![Diagnostic {
                file: "--upstream".to_owned(),
                line: 1,
                col: 1,
                message,
            }])
        };
        if let Workers::Count(n) = workers {
            if n == 0 || n > Workers::MAX {
                return Err(Diagnostics(vec![Diagnostic {
                    file: "--workers".to_owned(),
                    line: 1,
                    col: 1,
                    message: format!("workers must be between 1 and {}, got {n}", Workers::MAX),
                }]));
            }
        }
        // `https://host:port` speaks TLS to it, verified against the system's
        // roots for the host's name (or its address).
        let url = upstream_url.trim();
        let tls_url = url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        let server = units::parse_server(if tls_url { &url[8..] } else { url }).map_err(diag)?;
        let mut cluster = UpstreamCluster::new("default", vec![server]);
        if tls_url {
            cluster.tls = Some(crate::tls::upstream::UpstreamTls::new(units::host_name_of(
                &url[8..],
            )));
        }
        Ok(Config {
            workers,
            pin_workers: true,
            listeners: vec![listen],
            tls_listeners: Vec::new(),
            tls: None,
            admin: Some(DEFAULT_ADMIN),
            admin_api: crate::admin_api::ApiConfig::default(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            forwarding: Forwarding::default(),
            io: IoTuning::default(),
            upstreams: vec![cluster],
            routes: vec![Route {
                host: None,
                path_prefix: "/".to_owned(),
                upstream: 0,
            }],
            policy: crate::policy::PolicyConfig::default(),
            enforcement: crate::enforce::EnforcementConfig::default(),
            events: crate::events::EventsConfig::default(),
            intel: crate::policy::IntelConfig::default(),
            identity: crate::behaviour::IdentityConfig::default(),
            counters: crate::behaviour::CounterConfig::default(),
        })
    }
}
