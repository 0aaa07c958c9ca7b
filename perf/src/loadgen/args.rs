//! The command line of `rampart-bench run`: what load to send, where, and
//! how to report it.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// `rampart-bench run [OPTIONS] URL`
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Where to send the load: `http://HOST:PORT/PATH` or `https://...`.
    /// The path is the request target of the single-request mode; a mix
    /// brings its own paths and uses only the scheme, host and port.
    pub url: String,

    /// Connections kept open, spread over the threads.
    #[arg(short = 'c', long, default_value_t = 64)]
    pub connections: usize,

    /// Event-loop threads (each owns connections / threads connections).
    #[arg(short = 't', long, default_value_t = 1)]
    pub threads: usize,

    /// How long to measure after the warm-up (`10s`, `500ms`, `2m`);
    /// 10 s unless `--requests` is given. With both, whichever comes first.
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many responses.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,

    /// Load sent before measuring starts; nothing from it is counted.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,

    /// Requests in flight per connection (HTTP/1.1 pipelining depth).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,

    /// Open loop: send this many requests per second in total on a fixed
    /// schedule, and measure latency from when each request was due
    /// (coordinated-omission corrected). Without it: closed loop, as fast as
    /// responses come back.
    #[arg(short = 'R', long)]
    pub rate: Option<f64>,

    /// A request with no complete response after this long fails as `timeout`
    /// and its connection is closed and reopened.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,

    /// Method of the single request (ignored with `--mix`).
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,

    /// Extra header of the single request, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,

    /// Body of the single request (sets Content-Length).
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,

    /// Body of the single request, read from a file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,

    /// Request mix: a TOML mix file, or a built-in name (`api`,
    /// `credential-stuffing`, `enumeration`, `corpus`). See perf/README.md.
    #[arg(long)]
    pub mix: Option<String>,

    /// Share of requests drawn from the mix's `attack` class (0.0-1.0); the
    /// rest come from the other classes by their weights.
    #[arg(long)]
    pub attack_ratio: Option<f64>,

    /// Bind connections to source addresses from this range, round-robin
    /// (`127.0.0.0/24`, `127.1.0.1-127.1.0.200`, or one address), so the
    /// gateway sees many clients.
    #[arg(long)]
    pub sources: Option<String>,

    /// Close and reopen each connection after this many requests (0: never);
    /// with `--sources`, the new connection takes the next source address.
    /// `1` measures a new connection (and TLS handshake) per request.
    #[arg(long, default_value_t = 0)]
    pub reconnect_every: u64,

    /// Distinct identities (`{user}`, `{token}`, `{apikey}`, `{session}` in the mix).
    #[arg(long, default_value_t = 1000)]
    pub identities: usize,

    /// Seed of the mix's random choices: same seed, same request sequence.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Statuses counted as `blocked` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "403,429")]
    pub blocked_status: Vec<u16>,

    /// TLS: trust this CA bundle (PEM). Without it the server's certificate is
    /// not verified (a benchmark measures, it does not authenticate).
    #[arg(long)]
    pub ca: Option<PathBuf>,

    /// TLS: server name to send (default: the URL's host).
    #[arg(long)]
    pub sni: Option<String>,

    /// TLS: do not resume sessions; every new connection makes a full handshake.
    #[arg(long)]
    pub no_tls_resume: bool,

    /// Write the report as JSON to this file (`-` for stdout, which then
    /// carries only the JSON).
    #[arg(long)]
    pub json: Option<String>,

    /// Print nothing but errors (and the JSON if `--json -`).
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `10s`, `250ms`, `2m`, `1h`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (try 10s, 500ms, 2m)"))?;
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (us, ms, s, m, h)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("`{s}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}
