//! The loads, as `rampart-bench run` command lines: the peers kit's GET and
//! 2 KiB JSON POST (the same headers as its `get.lua`/`post.lua`), the GET
//! from many client addresses, and HTTPS keep-alive and handshake loads
//! (the request of perf/tls.sh).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// One kind of load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    pub id: &'static str,
    pub title: &'static str,
    /// The setup whose median req/s is the ratio's denominator.
    pub base: &'static str,
}

/// Source range of the `many` load and how many requests a connection
/// carries before it reconnects from the next address. 65,536 addresses
/// at ~40k req/s with 20 requests per connection: each address sends a
/// burst of 20 about every 30 s — under every per-address threshold of the
/// default pack's behaviour policies (50 in 1 s, 300 in 10 s, 1,200 a
/// minute), so a correct gateway blocks nothing while its counters see
/// tens of thousands of clients.
pub const MANY_SOURCES: &str = "127.2.0.0/16";
pub const MANY_RECONNECT: u64 = 20;

/// Connections of the handshake load (as perf/tls.sh: a handshake per
/// request saturates the server long before 64 connections).
pub const HANDSHAKE_CONNS: usize = 16;

pub const LOADS: &[Load] = &[
    Load {
        id: "get",
        title: "GET / (the peers kit's request)",
        base: "B",
    },
    Load {
        id: "post",
        title: "POST 2 KiB JSON",
        base: "B",
    },
    Load {
        id: "many",
        title: "GET / from 65,536 client addresses",
        base: "B",
    },
    Load {
        id: "tls",
        title: "HTTPS GET, keep-alive",
        base: "HT",
    },
    Load {
        id: "tls-handshake",
        title: "HTTPS GET, new connection + full handshake per request",
        base: "HT",
    },
];

/// Looks a load up by ID.
pub fn load(id: &str) -> Option<&'static Load> {
    LOADS.iter().find(|l| l.id == id)
}

/// What every run shares.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub connections: usize,
    pub threads: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Per-request timeout (the kit's 10 s: ModSecurity's POSTs are slow).
    pub timeout: Duration,
    /// The kit's 2 KiB JSON body (`$PEERS_WORK/wrk/body.json`).
    pub body_file: PathBuf,
    /// Open loop at this many requests per second (closed loop if `None`).
    pub rate: Option<f64>,
}

/// A duration as the generator's CLI reads it.
pub fn dur(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `rampart-bench run` arguments (after `run`) for `load` against a server
/// on 127.0.0.1:`port`, writing its report to `json`.
pub fn run_args(load: &str, port: u16, spec: &LoadSpec, json: &Path) -> Vec<String> {
    let tls = load.starts_with("tls");
    let scheme = if tls { "https" } else { "http" };
    let mut a: Vec<String> = vec![format!("{scheme}://127.0.0.1:{port}/")];
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|x| x.to_string()));
    let conns = if load == "tls-handshake" {
        spec.connections.min(HANDSHAKE_CONNS)
    } else {
        spec.connections
    };
    push(&["-c", &conns.to_string(), "-t", &spec.threads.to_string()]);
    push(&["-d", &dur(spec.duration), "--warmup", &dur(spec.warmup)]);
    push(&["--timeout", &dur(spec.timeout)]);
    if let Some(r) = spec.rate {
        push(&["-R", &format!("{r:.0}")]);
    }
    // The kit's headers: a normal API client (wrk's defaults make CRS log a
    // warning per request). HTTPS as perf/tls.sh: Host names the API, SNI
    // is `localhost`.
    let host = if tls { "bench.test" } else { "localhost" };
    push(&["-H", &format!("Host: {host}")]);
    push(&[
        "-H",
        "User-Agent: peers-bench/1.0",
        "-H",
        "Accept: application/json",
    ]);
    match load {
        "post" => push(&[
            "-m",
            "POST",
            "--body-file",
            &spec.body_file.display().to_string(),
            "-H",
            "Content-Type: application/json",
        ]),
        "many" => push(&[
            "--sources",
            MANY_SOURCES,
            "--reconnect-every",
            &MANY_RECONNECT.to_string(),
        ]),
        "tls" => push(&["--sni", "localhost"]),
        "tls-handshake" => push(&[
            "--sni",
            "localhost",
            "--reconnect-every",
            "1",
            "--no-tls-resume",
        ]),
        _ => {}
    }
    push(&["--json", &json.display().to_string(), "-q"]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LoadSpec {
        LoadSpec {
            connections: 64,
            threads: 1,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(10),
            body_file: "/w/wrk/body.json".into(),
            rate: None,
        }
    }

    #[test]
    fn durations_as_the_cli_reads_them() {
        assert_eq!(dur(Duration::from_secs(10)), "10s");
        assert_eq!(dur(Duration::from_millis(1500)), "1500ms");
        assert_eq!(dur(Duration::ZERO), "0s");
    }

    #[test]
    fn get_and_post_mirror_the_kit() {
        let j = Path::new("/o/x.json");
        let g = run_args("get", 18081, &spec(), j).join(" ");
        assert_eq!(
            g,
            "http://127.0.0.1:18081/ -c 64 -t 1 -d 10s --warmup 0s --timeout 10s -H Host: localhost -H User-Agent: peers-bench/1.0 -H Accept: application/json --json /o/x.json -q"
        );
        let p = run_args("post", 18091, &spec(), j).join(" ");
        assert!(
            p.contains("-m POST --body-file /w/wrk/body.json -H Content-Type: application/json")
        );
    }

    #[test]
    fn many_tls_and_open_loop() {
        let j = Path::new("/o/x.json");
        let m = run_args("many", 18092, &spec(), j).join(" ");
        assert!(m.contains("--sources 127.2.0.0/16 --reconnect-every 20"));
        let t = run_args("tls", 18443, &spec(), j).join(" ");
        assert!(t.starts_with("https://127.0.0.1:18443/ "));
        assert!(t.contains("Host: bench.test") && t.contains("--sni localhost"));
        let h = run_args("tls-handshake", 18445, &spec(), j).join(" ");
        assert!(h.contains("-c 16 ") && h.contains("--reconnect-every 1 --no-tls-resume"));
        let mut open = spec();
        open.rate = Some(12345.4);
        assert!(run_args("get", 1, &open, j).join(" ").contains("-R 12345"));
        for l in LOADS {
            assert!(crate::compare::setups::setup(l.base).is_some());
        }
    }
}
