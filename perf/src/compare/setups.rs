//! The setups under test — the peers kit's servers, Rampart in its modes,
//! HAProxy with TLS — with their ports and the command lines and config
//! files that start them; and the plan of which load runs on which setup in
//! the short and full modes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What policy a Rampart instance runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `enabled = false`: a plain reverse proxy.
    None,
    /// The embedded default pack with the behaviour policies in monitor mode
    /// (`perf/overlays/single-client-load.toml`): the load comes from one
    /// address, which is exactly what they would stop.
    PackMonitorBehaviour,
    /// The embedded default pack as shipped, behaviour policies enforcing.
    PackEnforce,
}

/// How a setup is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// The kit's `conf/nginx-NAME.conf`.
    Nginx(&'static str),
    /// The kit's `conf/haproxy-NAME.cfg`.
    Haproxy(&'static str),
    /// The kit's `conf/apache-d.conf` (ModSecurity 2 + CRS).
    Apache,
    /// HAProxy terminating TLS with the run's certificate, in front of A.
    HaproxyTls,
    /// `rampart run --config` with a generated config.
    Rampart {
        policy: Policy,
        /// Worker threads; 0 is `"auto"`, one per core.
        workers: u32,
        /// A plain listener next to the TLS one (the config needs one of
        /// either; it keeps the TLS instances' plain ports apart).
        plain_port: Option<u16>,
    },
}

/// One server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    pub id: &'static str,
    pub name: &'static str,
    pub port: u16,
    pub tls: bool,
    /// Pinned to the server CPUs (all but the cores-scaling instances).
    pub pinned: bool,
    pub program: Program,
}

/// The backend every proxy forwards to.
pub const BACKEND: &str = "A";
/// The setup every ratio is taken against (HAProxy; for HTTPS, [`HAPROXY_TLS`]).
pub const HAPROXY: &str = "B";
pub const HAPROXY_TLS: &str = "HT";
/// Rampart with the default pack: the one plotted against HAProxy.
pub const RAMPART_PACK: &str = "RP";

const fn peer(id: &'static str, name: &'static str, port: u16, program: Program) -> Setup {
    Setup {
        id,
        name,
        port,
        tls: false,
        pinned: true,
        program,
    }
}

const fn rampart(
    id: &'static str,
    name: &'static str,
    port: u16,
    policy: Policy,
    workers: u32,
    tls: Option<u16>,
    pinned: bool,
) -> Setup {
    Setup {
        id,
        name,
        port,
        tls: tls.is_some(),
        pinned,
        program: Program::Rampart {
            policy,
            workers,
            plain_port: tls,
        },
    }
}

/// Every setup the harness knows, in table order.
pub const SETUPS: &[Setup] = &[
    peer("A", "A nginx backend (ceiling)", 18080, Program::Nginx("a")),
    peer("B", "B HAProxy", 18081, Program::Haproxy("b")),
    peer("C", "C nginx proxy", 18082, Program::Nginx("c")),
    peer(
        "D",
        "D Apache + ModSecurity 2 + CRS",
        18083,
        Program::Apache,
    ),
    peer(
        "D2",
        "D2 nginx + ModSecurity 3 + CRS",
        18084,
        Program::Nginx("modsec"),
    ),
    peer("E", "E HAProxy + stick table", 18085, Program::Haproxy("e")),
    rampart(
        "R0",
        "Rampart, no policy",
        18090,
        Policy::None,
        1,
        None,
        true,
    ),
    rampart(
        "RP",
        "Rampart, default pack",
        18091,
        Policy::PackMonitorBehaviour,
        1,
        None,
        true,
    ),
    rampart(
        "RB",
        "Rampart, default pack + behaviour",
        18092,
        Policy::PackEnforce,
        1,
        None,
        true,
    ),
    Setup {
        id: "HT",
        name: "HAProxy, TLS",
        port: 18443,
        tls: true,
        pinned: true,
        program: Program::HaproxyTls,
    },
    rampart(
        "RT0",
        "Rampart TLS, no policy",
        18444,
        Policy::None,
        1,
        Some(18190),
        true,
    ),
    rampart(
        "RTP",
        "Rampart TLS, default pack",
        18445,
        Policy::PackMonitorBehaviour,
        1,
        Some(18191),
        true,
    ),
    rampart(
        "RS1",
        "Rampart, default pack, 1 worker",
        18093,
        Policy::PackMonitorBehaviour,
        1,
        None,
        false,
    ),
    rampart(
        "RS2",
        "Rampart, default pack, a worker per core",
        18094,
        Policy::PackMonitorBehaviour,
        0,
        None,
        false,
    ),
];

impl Setup {
    /// The same setup with every port moved up by `offset` (to run beside
    /// servers that already hold the usual ports).
    pub fn shifted(mut self, offset: u16) -> Setup {
        self.port += offset;
        if let Program::Rampart {
            plain_port: Some(p),
            ..
        } = &mut self.program
        {
            *p += offset;
        }
        self
    }
}

/// The backend's port in the kit's configs.
pub const BACKEND_PORT: u16 = 18080;

/// Looks a setup up by ID.
pub fn setup(id: &str) -> Option<&'static Setup> {
    SETUPS.iter().find(|s| s.id == id)
}

/// Which setups each load runs on: `(load, [(setup, also in short mode)])`.
/// The cores-scaling pair (RS1, RS2) runs in its own phase.
pub const MATRIX: &[(&str, &[(&str, bool)])] = &[
    (
        "get",
        &[
            ("A", false),
            ("B", true),
            ("C", true),
            ("D", true),
            ("D2", false),
            ("E", true),
            ("R0", true),
            ("RP", true),
        ],
    ),
    (
        "post",
        &[
            ("A", false),
            ("B", true),
            ("C", false),
            ("D", true),
            ("D2", false),
            ("E", false),
            ("R0", true),
            ("RP", true),
        ],
    ),
    ("many", &[("B", true), ("E", true), ("RB", true)]),
    ("tls", &[("HT", true), ("RT0", false), ("RTP", true)]),
    ("tls-handshake", &[("HT", false), ("RTP", false)]),
];

/// The scaling pair.
pub const SCALING: &[&str] = &["RS1", "RS2"];

/// The `(load, setup)` cells to measure, in interleaving order.
pub fn plan(full: bool, have: impl Fn(&str) -> bool) -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    for (load, cells) in MATRIX {
        for (id, short) in *cells {
            if (full || *short) && have(id) {
                v.push((*load, *id));
            }
        }
    }
    v
}

/// Where the run's generated files live.
pub struct Paths {
    /// The peers kit's work dir (`conf/`, `logs/`, `wrk/`).
    pub peers_work: PathBuf,
    /// The run's own files: configs, certificate, events.
    pub out: PathBuf,
    pub rampart: PathBuf,
    /// `perf/overlays/single-client-load.toml`.
    pub overlay: PathBuf,
    /// Compiled-database cache shared by the Rampart instances (and runs).
    pub cache_dir: PathBuf,
    /// Added to every port (the kit's configs are relocated accordingly).
    pub port_offset: u16,
}

impl Paths {
    pub fn cert(&self) -> PathBuf {
        self.out.join("tls/cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.out.join("tls/key.pem")
    }
    pub fn config(&self, id: &str) -> PathBuf {
        self.out.join(format!("conf/{id}.toml"))
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The command line that starts `setup` (without pinning).
pub fn argv(setup: &Setup, p: &Paths) -> Vec<String> {
    let w = &p.peers_work;
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match setup.program {
        Program::Nginx(cfg) => v(&[
            "nginx",
            "-p",
            &s(w),
            "-e",
            &s(&w.join(format!("logs/nginx-{cfg}.error.log"))),
            "-c",
            &s(&w.join(format!("conf/nginx-{cfg}.conf"))),
            "-g",
            "daemon off;",
        ]),
        Program::Haproxy(cfg) => v(&[
            "haproxy",
            "-db",
            "-f",
            &s(&w.join(format!("conf/haproxy-{cfg}.cfg"))),
        ]),
        Program::Apache => v(&[
            "apache2",
            "-f",
            &s(&w.join("conf/apache-d.conf")),
            "-DFOREGROUND",
        ]),
        Program::HaproxyTls => v(&[
            "haproxy",
            "-db",
            "-f",
            &s(&p.out.join("conf/haproxy-tls.cfg")),
        ]),
        Program::Rampart { .. } => v(&[&s(&p.rampart), "run", "--config", &s(&p.config(setup.id))]),
    }
}

/// Every port the setup listens on (the measured one first).
pub fn ports(setup: &Setup) -> Vec<u16> {
    let mut v = vec![setup.port];
    if let Program::Rampart {
        plain_port: Some(p),
        ..
    } = setup.program
    {
        v.push(p);
    }
    v
}

/// The generated config of a Rampart setup; `None` for the others.
pub fn rampart_config(setup: &Setup, p: &Paths) -> Option<String> {
    let Program::Rampart {
        policy,
        workers,
        plain_port,
    } = setup.program
    else {
        return None;
    };
    let q = |p: &Path| toml_str(&s(p));
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# Generated by `rampart-bench compare` for setup {} ({}).",
        setup.id, setup.name
    );
    let workers = if workers == 0 {
        "\"auto\"".to_string()
    } else {
        workers.to_string()
    };
    let _ = writeln!(c, "[server]\nworkers = {workers}\npin_workers = true");
    if setup.tls {
        let plain = plain_port.unwrap_or(setup.port + 1000);
        let _ = writeln!(c, "listen = [\"127.0.0.1:{plain}\"]");
        let _ = writeln!(c, "tls_listen = [\"127.0.0.1:{}\"]", setup.port);
    } else {
        let _ = writeln!(c, "listen = [\"127.0.0.1:{}\"]", setup.port);
    }
    let _ = writeln!(c, "\n[admin]\nenabled = false");
    if setup.tls {
        let _ = writeln!(
            c,
            "\n[tls]\n[[tls.certificate]]\ncert = {}\nkey = {}",
            q(&p.cert()),
            q(&p.key())
        );
    }
    let _ = writeln!(
        c,
        "\n[[upstream]]\nname = \"backend\"\nservers = [\"127.0.0.1:{}\"]",
        BACKEND_PORT + p.port_offset
    );
    match policy {
        Policy::None => {
            let _ = writeln!(c, "\n[policy]\nenabled = false");
        }
        Policy::PackMonitorBehaviour | Policy::PackEnforce => {
            let _ = writeln!(
                c,
                "\n[policy]\nenabled = true\npacks = [\"default\"]\nwatch = false\ncache_dir = {}",
                q(&p.cache_dir)
            );
            if policy == Policy::PackMonitorBehaviour {
                let _ = writeln!(c, "overlay = {}", q(&p.overlay));
            }
            // Events go to a bounded file in the run's directory: the writer
            // thread's work is part of the pack's cost. (Never /dev/null: the
            // sink rotates its file by renaming it.)
            let _ = writeln!(
                c,
                "\n[events]\nsink = \"file\"\npath = {}\nrotate_bytes = \"64MiB\"\nkeep = 1",
                q(&p.out.join(format!("events/{}.log", setup.id)))
            );
        }
    }
    Some(c)
}

/// HAProxy with TLS on the run's certificate (cert and key in one file),
/// as perf/tls.sh configures it: one thread, in front of A.
pub fn haproxy_tls_config(pem: &Path, port: u16, backend: u16) -> String {
    format!(
        "global
  nbthread 1
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 65s
  timeout server 65s
  timeout http-keep-alive 65s
  option http-keep-alive
  http-reuse safe
frontend fe_tls
  bind 127.0.0.1:{port} ssl crt {} alpn http/1.1
  default_backend be_a
backend be_a
  server a 127.0.0.1:{backend}
",
        pem.display()
    )
}

/// A TOML basic string.
fn toml_str(v: &str) -> String {
    let mut o = String::with_capacity(v.len() + 2);
    o.push('"');
    for ch in v.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        Paths {
            peers_work: "/tmp/peers/work".into(),
            out: "/tmp/out".into(),
            rampart: "/bin/rampart".into(),
            overlay: "/repo/perf/overlays/single-client-load.toml".into(),
            cache_dir: "/var/tmp/cache".into(),
            port_offset: 0,
        }
    }

    #[test]
    fn ids_and_ports_are_unique_and_every_planned_setup_exists() {
        let mut ports: Vec<u16> = SETUPS.iter().flat_map(ports).collect();
        ports.sort_unstable();
        let n = ports.len();
        ports.dedup();
        assert_eq!(ports.len(), n, "duplicate port");
        for (_, cells) in MATRIX {
            for (id, _) in *cells {
                assert!(setup(id).is_some(), "{id}");
            }
        }
        for id in SCALING {
            assert!(!setup(id).unwrap().pinned);
        }
    }

    #[test]
    fn short_plan_is_a_subset_of_the_full_one() {
        let full = plan(true, |_| true);
        let short = plan(false, |_| true);
        assert!(short.len() < full.len());
        assert!(short.iter().all(|c| full.contains(c)));
        assert!(short.contains(&("get", "B")) && short.contains(&("get", "RP")));
        let no_d2 = plan(true, |id| id != "D2");
        assert!(!no_d2.iter().any(|(_, id)| *id == "D2"));
    }

    #[test]
    fn rampart_configs() {
        let p = paths();
        let r0 = rampart_config(setup("R0").unwrap(), &p).unwrap();
        assert!(r0.contains("listen = [\"127.0.0.1:18090\"]"));
        assert!(r0.contains("[policy]\nenabled = false"));
        assert!(!r0.contains("[events]"));
        let rp = rampart_config(setup("RP").unwrap(), &p).unwrap();
        assert!(rp.contains("overlay = \"/repo/perf/overlays/single-client-load.toml\""));
        assert!(rp.contains("cache_dir = \"/var/tmp/cache\""));
        assert!(rp.contains("path = \"/tmp/out/events/RP.log\""));
        let rb = rampart_config(setup("RB").unwrap(), &p).unwrap();
        assert!(rb.contains("packs = [\"default\"]") && !rb.contains("overlay"));
        let rtp = rampart_config(setup("RTP").unwrap(), &p).unwrap();
        assert!(rtp.contains("listen = [\"127.0.0.1:18191\"]"));
        assert!(rtp.contains("tls_listen = [\"127.0.0.1:18445\"]"));
        assert!(rtp.contains("cert = \"/tmp/out/tls/cert.pem\""));
        let rs2 = rampart_config(setup("RS2").unwrap(), &p).unwrap();
        assert!(rs2.contains("workers = \"auto\""));
        assert_eq!(rampart_config(setup("B").unwrap(), &p), None);
        assert_eq!(toml_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }

    #[test]
    fn command_lines() {
        let p = paths();
        assert_eq!(
            argv(setup("B").unwrap(), &p),
            ["haproxy", "-db", "-f", "/tmp/peers/work/conf/haproxy-b.cfg"]
        );
        assert_eq!(
            argv(setup("RP").unwrap(), &p),
            ["/bin/rampart", "run", "--config", "/tmp/out/conf/RP.toml"]
        );
        assert_eq!(argv(setup("A").unwrap(), &p)[8], "daemon off;");
        assert_eq!(ports(setup("RT0").unwrap()), [18444, 18190]);
        let h = haproxy_tls_config(Path::new("/x/h.pem"), 18443, 18080);
        assert!(h.contains("bind 127.0.0.1:18443 ssl crt /x/h.pem alpn http/1.1"));
        assert!(h.contains("server a 127.0.0.1:18080"));
    }

    #[test]
    fn shifted_ports() {
        let mut p = paths();
        p.port_offset = 1000;
        let rt = setup("RT0").unwrap().shifted(1000);
        assert_eq!(ports(&rt), [19444, 19190]);
        let c = rampart_config(&rt, &p).unwrap();
        assert!(c.contains("tls_listen = [\"127.0.0.1:19444\"]"));
        assert!(c.contains("servers = [\"127.0.0.1:19080\"]"));
    }
}
