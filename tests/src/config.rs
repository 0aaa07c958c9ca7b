//! `GatewayConfig`: builds the TOML text of a `rampart run` config for tests.
//!
//! Every test config goes through here, so the schema lives in one place: `[server]`
//! (workers, listen or tls_listen), `[admin]`, `[tls]`, `[timeouts]`, `[limits]`, `[events]`,
//! `[[upstream]]` with `servers`, `fail_timeout` and `tls`, `[[route]]` — as in
//! `dataplane/etc/rampart.example.toml`.

use std::net::SocketAddr;

/// Builder for a one-listener, one-upstream config on loopback with ephemeral ports.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    upstreams: Vec<SocketAddr>,
    workers: u32,
    timeouts: Vec<(String, String)>,
    limits: Vec<(String, String)>,
    fail_timeout: Option<String>,
    policy: Option<String>,
    events: Option<String>,
    tls: Option<String>,
    upstream_tls: Option<String>,
    admin: String,
    extra: String,
}

impl GatewayConfig {
    /// A config proxying everything to `upstream`, with 2 workers and an admin listener.
    pub fn new(upstream: SocketAddr) -> GatewayConfig {
        GatewayConfig {
            upstreams: vec![upstream],
            workers: 2,
            timeouts: Vec::new(),
            limits: Vec::new(),
            fail_timeout: None,
            events: None,
            policy: None,
            tls: None,
            upstream_tls: None,
            admin: String::new(),
            extra: String::new(),
        }
    }

    /// Sets the body of the `[policy]` table (e.g. `packs = ["/x"]\nwatch = true`).
    /// Without it, policy inspection is off: these tests are about the proxy.
    pub fn policy(mut self, body: &str) -> Self {
        self.policy = Some(body.to_owned());
        self
    }

    /// Adds lines to the `[admin]` table (e.g. `token_file = "/x"`).
    pub fn admin(mut self, lines: &str) -> Self {
        self.admin.push_str(lines);
        self.admin.push('\n');
        self
    }

    /// Appends raw TOML (whole tables, e.g. `[enforcement]\n...`).
    pub fn extra(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    /// Sets the body of the `[events]` table (e.g. `path = "/tmp/e.log"`).
    pub fn events(mut self, body: &str) -> Self {
        self.events = Some(body.to_owned());
        self
    }

    /// Terminates TLS: the one listener becomes a `tls_listen` one, and
    /// `body` is the `[tls]` table's text, `[[tls.certificate]]` tables
    /// included.
    pub fn tls(mut self, body: &str) -> Self {
        self.tls = Some(body.to_owned());
        self
    }

    /// Sets the upstream's `tls` value (TOML text: `true`, `{ ca = "..." }`).
    pub fn upstream_tls(mut self, value: &str) -> Self {
        self.upstream_tls = Some(value.to_owned());
        self
    }

    /// Sets the worker count.
    pub fn workers(mut self, n: u32) -> Self {
        self.workers = n;
        self
    }

    /// Sets `timeouts.KEY = "VALUE"` (e.g. `("header_read", "1s")`).
    pub fn timeout(mut self, key: &str, value: &str) -> Self {
        self.timeouts.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets `limits.KEY = VALUE` (an integer).
    pub fn limit(mut self, key: &str, value: u64) -> Self {
        self.limits.push((key.to_owned(), value.to_string()));
        self
    }

    /// Sets `limits.KEY = VALUE` with VALUE as TOML text (`true`, `"64KiB"`).
    pub fn limit_toml(mut self, key: &str, value: &str) -> Self {
        self.limits.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Sets the upstream's `fail_timeout` (how long a failed server is avoided).
    pub fn fail_timeout(mut self, value: &str) -> Self {
        self.fail_timeout = Some(value.to_owned());
        self
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        let listen = if self.tls.is_some() {
            "listen = []\ntls_listen = [\"127.0.0.1:0\"]"
        } else {
            "listen = [\"127.0.0.1:0\"]"
        };
        let mut s = format!(
            "[server]\nworkers = {}\n{listen}\n\n[admin]\nlisten = \"127.0.0.1:0\"\n{}\n",
            self.workers, self.admin
        );
        if let Some(t) = &self.tls {
            s.push_str("[tls]\n");
            s.push_str(t);
            s.push_str("\n\n");
        }
        s.push_str("[policy]\n");
        s.push_str(self.policy.as_deref().unwrap_or("enabled = false"));
        s.push_str("\n\n");
        if let Some(e) = &self.events {
            s.push_str("[events]\n");
            s.push_str(e);
            s.push_str("\n\n");
        }
        if !self.timeouts.is_empty() {
            s.push_str("[timeouts]\n");
            for (k, v) in &self.timeouts {
                s.push_str(&format!("{k} = \"{v}\"\n"));
            }
            s.push('\n');
        }
        if !self.limits.is_empty() {
            s.push_str("[limits]\n");
            for (k, v) in &self.limits {
                s.push_str(&format!("{k} = {v}\n"));
            }
            s.push('\n');
        }
        let servers: Vec<String> = self
            .upstreams
            .iter()
            .map(|a| format!("\"http://{a}\""))
            .collect();
        s.push_str(&format!(
            "[[upstream]]\nname = \"app\"\nservers = [{}]\n",
            servers.join(", ")
        ));
        if let Some(ft) = &self.fail_timeout {
            s.push_str(&format!("fail_timeout = \"{ft}\"\n"));
        }
        if let Some(t) = &self.upstream_tls {
            s.push_str(&format!("tls = {t}\n"));
        }
        s.push_str("\n[[route]]\npath_prefix = \"/\"\nupstream = \"app\"\n");
        s.push('\n');
        s.push_str(&self.extra);
        s
    }
}
