//! Rampart's configuration: one TOML file, validated as a whole.
//!
//! The file is parsed into toml's span-carrying tree and walked by hand rather
//! than deserialised with serde, because serde stops at the first problem while
//! an operator fixing a config wants every problem at once, each as
//! `file:line:col: message`. [`Config`] is the validated runtime form the
//! dataplane reads; [`Config::quick`] builds the one used by `rampart proxy`.

mod read;
mod units;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use read::parse;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    Auto,
    Count(usize),
}

impl Workers {
    /// Auto = one worker per CPU this process may use.
    pub fn resolve(self) -> usize {
        match self {
            Workers::Auto => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            Workers::Count(n) => n,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_target_bytes: usize,
    pub max_body_bytes: u64,
    pub inspect_body_bytes: usize,
    pub max_connections_per_worker: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_target_bytes: 8 * 1024,
            max_body_bytes: 1 << 30,
            inspect_body_bytes: 128 * 1024,
            max_connections_per_worker: 16384,
        }
    }
}

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

#[derive(Clone, Debug)]
pub struct Forwarding {
    pub trusted_proxies: Vec<ipnet::IpNet>,
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

#[derive(Clone, Debug)]
pub struct IoTuning {
    pub ring_entries: u32,
    pub recv_buffer_bytes: usize,
    pub recv_buffers: u16,
}

impl Default for IoTuning {
    fn default() -> Self {
        IoTuning {
            ring_entries: 4096,
            recv_buffer_bytes: 16 * 1024,
            recv_buffers: 2048,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    LeastConnections,
}

#[derive(Clone, Debug)]
pub struct UpstreamCluster {
    pub name: String,
    pub servers: Vec<SocketAddr>,
    pub balance: Balance,
    pub max_idle_per_server: usize,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub retry_idempotent: bool,
}

impl UpstreamCluster {
    fn with_defaults(name: String, servers: Vec<SocketAddr>) -> UpstreamCluster {
        UpstreamCluster {
            name,
            servers,
            balance: Balance::RoundRobin,
            max_idle_per_server: 64,
            max_fails: 3,
            fail_timeout: Duration::from_secs(10),
            retry_idempotent: true,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Route {
    pub host: Option<String>,
    pub path_prefix: String,
    pub upstream: usize,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub workers: Workers,
    pub pin_workers: bool,
    pub listeners: Vec<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub forwarding: Forwarding,
    pub io: IoTuning,
    pub upstreams: Vec<UpstreamCluster>,
    pub routes: Vec<Route>,
}

pub const DEFAULT_ADMIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9901);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

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

pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&src, &path.display().to_string()).map_err(ConfigError::Invalid)
}

/// Resolves "host:port" (or "http://host:port[/]") to one address.
pub(crate) fn resolve_server(s: &str) -> Result<SocketAddr, String> {
    let hostport = if let Some(rest) = s.strip_prefix("http://") {
        rest.trim_end_matches('/')
    } else if s.starts_with("https://") {
        return Err(format!(
            "{s:?}: TLS to upstreams is not supported yet (use http://)"
        ));
    } else if s.contains("://") {
        return Err(format!("{s:?}: only http:// upstreams are supported"));
    } else {
        s
    };
    if hostport.contains('/') {
        return Err(format!("{s:?}: an upstream server has no path"));
    }
    if let Ok(a) = hostport.parse::<SocketAddr>() {
        return Ok(a);
    }
    if !hostport.contains(':') {
        return Err(format!("{s:?}: expected host:port"));
    }
    match hostport.to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .ok_or_else(|| format!("{s:?}: host resolves to no address")),
        Err(e) => Err(format!("{s:?}: cannot resolve host: {e}")),
    }
}

impl Config {
    fn defaults() -> Config {
        Config {
            workers: Workers::Auto,
            pin_workers: true,
            listeners: Vec::new(),
            admin: Some(DEFAULT_ADMIN),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            forwarding: Forwarding::default(),
            io: IoTuning::default(),
            upstreams: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// The config of `rampart proxy`: one listener, one upstream server, one route.
    pub fn quick(
        listen: SocketAddr,
        upstream_url: &str,
        workers: Workers,
    ) -> Result<Config, Diagnostics> {
        let diag = |message: String| {
            Diagnostics(vec![Diagnostic {
                file: "--upstream".into(),
                line: 1,
                col: 1,
                message,
            }])
        };
        if !upstream_url.starts_with("http://") && !upstream_url.starts_with("https://") {
            return Err(diag(format!(
                "{upstream_url:?}: expected a URL like http://127.0.0.1:8080"
            )));
        }
        let addr = resolve_server(upstream_url).map_err(diag)?;
        let mut c = Config::defaults();
        c.workers = workers;
        c.listeners = vec![listen];
        c.upstreams = vec![UpstreamCluster::with_defaults("default".into(), vec![addr])];
        c.routes = vec![Route {
            host: None,
            path_prefix: "/".into(),
            upstream: 0,
        }];
        Ok(c)
    }
}

#[cfg(test)]
mod tests;
