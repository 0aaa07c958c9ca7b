//! The `rampart` command: run the gateway from a config file, check a config,
//! proxy in quick mode without a config, or start the demo.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use rampart_dataplane::config::{self, Config, ConfigError, Workers};
use rampart_dataplane::policy::PolicyConfig;
use rampart_dataplane::server::Server;

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "Inline API threat-prevention gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway from a TOML config file.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file: every error with file:line:col, exit 1 if any.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Quick mode without a config file: one listener, one upstream.
    Proxy {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Upstream URL, e.g. http://127.0.0.1:18080 (https://host:port: TLS to it,
        /// verified against the system CA roots)
        #[arg(long)]
        upstream: String,
        /// "auto" (one per core) or a number.
        #[arg(long, default_value = "auto")]
        workers: String,
        /// Admin listener (metrics, health).
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: SocketAddr,
        #[arg(long)]
        no_admin: bool,
        /// Policy pack directory (repeatable, loaded in order; `default` is the
        /// embedded pack). Without any, the embedded default pack is used.
        #[arg(long = "pack", conflicts_with = "no_policy")]
        packs: Vec<PathBuf>,
        /// Local overlay tuning the packs' policies.
        #[arg(long, conflicts_with = "no_policy")]
        overlay: Option<PathBuf>,
        /// Inspect nothing: a plain reverse proxy.
        #[arg(long)]
        no_policy: bool,
        /// Dry run: judge and count every request, change none (no block,
        /// no tag headers, no escalation, no deception).
        #[arg(long, conflicts_with = "no_policy")]
        monitor: bool,
        /// Where security events go: a file path, or `-` for stdout (the default).
        #[arg(long, value_name = "PATH|-", conflicts_with = "no_policy")]
        events: Option<PathBuf>,
        /// Also terminate TLS on this address (needs --cert and --key).
        #[arg(long, requires_all = ["cert", "key"])]
        tls_listen: Option<SocketAddr>,
        /// PEM certificate chain for --tls-listen.
        #[arg(long, requires = "tls_listen")]
        cert: Option<PathBuf>,
        /// PEM private key for --tls-listen.
        #[arg(long, requires = "tls_listen")]
        key: Option<PathBuf>,
    },
    /// Start the demo: the gateway on 127.0.0.1:8080 in front of a small built-in API.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8081")]
        api: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: SocketAddr,
    },
}

/// Logs go to stderr through `tracing-appender`'s background writer: a worker
/// that logs only queues the line (bounded; lines are dropped, never waited for,
/// when the queue is full), so a slow or blocked stderr never stalls a core.
/// The returned guard flushes the queue when dropped at exit.
fn init_logging() -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .init();
    guard
}

fn parse_workers(s: &str) -> Result<Workers> {
    if s == "auto" {
        return Ok(Workers::Auto);
    }
    let n: usize = s
        .parse()
        .with_context(|| format!("--workers must be \"auto\" or a number, got {s:?}"))?;
    anyhow::ensure!(
        (1..=1024).contains(&n),
        "--workers must be between 1 and 1024"
    );
    Ok(Workers::Count(n))
}

/// Blocks SIGTERM/SIGINT/SIGHUP in this thread and so in every thread spawned after it:
/// they are read from a signalfd on worker 0's ring instead of interrupting
/// whatever thread the kernel picks.
fn block_signals() {
    // SAFETY: sigset manipulation on a local set; pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn announce(listen: &[SocketAddr], admin: Option<SocketAddr>) {
    let mut out = std::io::stdout().lock();
    for a in listen {
        let _ = writeln!(out, "rampart: listening on {a}");
    }
    if let Some(a) = admin {
        let _ = writeln!(out, "rampart: admin listening on {a}");
    }
    let _ = out.flush();
}

/// Runs the gateway until SIGTERM/SIGINT has drained it; `after_start` runs once
/// everything listens (the demo prints its curl lines there).
fn serve(
    config: Config,
    after_start: impl FnOnce(&[SocketAddr], Option<SocketAddr>),
) -> Result<()> {
    let workers = config.workers.resolve();
    Server::run(config, |listen, admin| {
        tracing::info!(workers, listeners = ?listen, admin = ?admin, "rampart started");
        announce(listen, admin);
        after_start(listen, admin);
    })
    .context("cannot start the gateway")?;
    // Bounded: events may share stdout, and a stdout nobody reads must not
    // keep the process from exiting.
    let _ = std::io::stdout().flush();
    let _ = rampart_dataplane::events::sink::write_stdout(
        b"rampart: stopped\n",
        std::time::Duration::from_secs(1),
    );
    Ok(())
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    match config::load_file(path) {
        Ok(c) => Ok(c),
        Err(ConfigError::Invalid(d)) => {
            eprintln!("{d}");
            eprintln!("rampart: {} error(s) in {}", d.0.len(), path.display());
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("rampart: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread exists (the demo API spawns some before the gateway
    // starts): a thread with SIGTERM unblocked would take the default action and
    // kill the process instead of draining it.
    block_signals();
    let _log_guard = init_logging();
    let result = match cli.command {
        Command::Check { config } => {
            return match load(&config) {
                Ok(c) => {
                    // The packs are part of the config: a config whose packs do
                    // not load would not start.
                    if c.policy.enabled && c.events.enabled {
                        if let Err(e) = c.events.check_sink() {
                            eprintln!("{}: [events] {e}", config.display());
                            return ExitCode::from(1);
                        }
                    }
                    let policy = if c.policy.enabled {
                        match rampart_policy_loader::load(&c.intel.apply(c.policy.load_options())) {
                            Ok(l) => format!(
                                ", policy {} with {} policies, {} list(s) ({} from intel directories)",
                                l.policy.version(),
                                l.policy.stats.policies,
                                l.policy.stats.lists.len(),
                                l.policy.stats.lists.iter().filter(|s| s.external).count()
                            ),
                            Err(errs) => {
                                for d in &errs.0 {
                                    eprintln!("{d}");
                                }
                                eprintln!(
                                    "rampart: {} problem(s) in the policy packs of {}",
                                    errs.0.len(),
                                    config.display()
                                );
                                return ExitCode::from(1);
                            }
                        }
                    } else {
                        ", policy off".to_owned()
                    };
                    println!(
                        "ok: {} ({} listener(s), {} upstream(s), {} route(s){policy})",
                        config.display(),
                        c.listeners.len(),
                        c.upstreams.len(),
                        c.routes.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            };
        }
        Command::Run { config } => match load(&config) {
            Ok(c) => serve(c, |_, _| {}),
            Err(code) => return code,
        },
        Command::Proxy {
            listen,
            upstream,
            workers,
            admin,
            no_admin,
            packs,
            overlay,
            no_policy,
            monitor,
            events,
            tls_listen,
            cert,
            key,
        } => parse_workers(&workers).and_then(|w| {
            let mut c = Config::quick(listen, &upstream, w).map_err(|d| anyhow::anyhow!("{d}"))?;
            if let (Some(addr), Some(cert), Some(key)) = (tls_listen, cert, key) {
                c.tls_listeners = vec![addr];
                c.tls = Some(rampart_dataplane::tls::TlsConfig {
                    certificates: vec![rampart_dataplane::tls::CertSpec {
                        cert,
                        key,
                        server_names: Vec::new(),
                        at: [(0, 0); 2],
                    }],
                    ..Default::default()
                });
            }
            c.admin = (!no_admin).then_some(admin);
            c.policy = if no_policy {
                PolicyConfig::disabled()
            } else {
                PolicyConfig {
                    packs,
                    overlay,
                    monitor,
                    ..PolicyConfig::default()
                }
            };
            if let Some(p) = events.filter(|p| p.as_os_str() != "-") {
                c.events.sink = rampart_dataplane::events::SinkKind::File(p);
            }
            serve(c, |_, _| {})
        }),
        Command::Demo { listen, api, admin } => demo(listen, api, admin),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn demo(listen: SocketAddr, api: SocketAddr, admin: SocketAddr) -> Result<()> {
    let (api_addr, _api_thread) = rampart_dataplane::demo::spawn_demo_api(api)
        .with_context(|| format!("cannot start the demo API on {api}"))?;
    let mut c = Config::quick(listen, &format!("http://{api_addr}"), Workers::Auto)
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    c.admin = Some(admin);
    serve(c, |addrs, admin| {
        let gw = addrs.first().copied().unwrap_or(listen);
        println!("\nRampart demo: gateway http://{gw} -> demo API http://{api_addr}");
        println!("Try these (Ctrl-C to stop):\n");
        for line in rampart_dataplane::demo::demo_curl_lines_with_admin(gw, admin) {
            println!("  {line}");
        }
        println!();
    })
}
