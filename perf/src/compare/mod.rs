//! `rampart-bench compare`: the one-command benchmark of Rampart against
//! its peers (issue 8). It starts the peers kit's backend and servers,
//! Rampart in its modes and HAProxy with TLS, all pinned to the server
//! CPUs; runs the same loads against each (`rampart-bench run` pinned to the
//! load CPUs) in interleaved rounds; sweeps the offered load for HAProxy
//! and Rampart; compares one worker with one per core; runs the matcher benchmark
//! and (full mode) callgrind; then writes the report, `results.json` and
//! SVG plots, and optionally the generated section of docs/BENCHMARKS.md.
//! `perf/run` builds the binaries and calls it; see perf/README.md.
//!
//! Modules: [`setups`] (what runs where), [`loads`] (the generator's
//! command lines), [`servers`] (processes), [`procfs`] (ports, PIDs, CPU
//! time), [`measure`] (one run), [`stats`] (rounds → rows), [`check`] (do the
//! WAFs block), [`matcher`], [`instr`], [`machine`], [`results`],
//! [`writer`] (markdown, docs section), [`plots`] (SVG), [`interrupt`],
//! [`kit`] (the kit's configs moved to other ports).

pub mod check;
pub mod instr;
pub mod interrupt;
pub mod kit;
pub mod loads;
pub mod machine;
pub mod matcher;
pub mod measure;
pub mod plots;
pub mod procfs;
pub mod results;
pub mod servers;
pub mod setups;
pub mod stats;
pub mod writer;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::loadgen::args::parse_duration;
use loads::LoadSpec;
use measure::{Runner, Sample};
use results::{LoadPoint, Results};
use servers::Servers;
use setups::{Paths, Program, Setup};

/// `rampart-bench compare [OPTIONS]`
#[derive(Args, Clone, Debug)]
pub struct CompareArgs {
    /// Full mode: every setup, 3 rounds of 10 s, 5 offered loads, the
    /// matcher at full length and instructions per request (~20 min).
    /// Without it: the short mode (≤ 2 min), for quick checks.
    #[arg(long)]
    pub full: bool,

    /// Rounds per cell (default: 1 short, 3 full).
    #[arg(long)]
    pub rounds: Option<u32>,

    /// Measured duration of each closed-loop run (default: 2s short, 10s full).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Connections of every load (the kit's 64).
    #[arg(short = 'c', long, default_value_t = 64)]
    pub connections: usize,

    /// CPUs the servers and the backend are pinned to (taskset list).
    #[arg(long, default_value = "0")]
    pub srv_cpus: String,

    /// CPUs the load generator is pinned to (taskset list).
    #[arg(long, default_value = "1")]
    pub load_cpus: String,

    /// Only these setups (IDs: A B C D D2 E R0 RP RB HT RT0 RTP; HAProxy is
    /// always kept, it is the ratio's base).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,

    /// Leave parts out: latency, scaling, matcher, instr, tls, many.
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,

    /// Write the report into docs/BENCHMARKS.md (the generated section) and
    /// docs/bench/*.svg. Default: on in full mode, off in short mode.
    #[arg(long, conflicts_with = "no_docs")]
    pub docs: bool,

    /// Do not touch docs/ (the report still goes to --out).
    #[arg(long)]
    pub no_docs: bool,

    /// Where results go (default /tmp/peers/results/compare-<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// The `rampart` binary (default: beside this one).
    #[arg(long)]
    pub rampart: Option<PathBuf>,

    /// The `matcher-bench` binary (default: beside this one).
    #[arg(long)]
    pub matcher_bench: Option<PathBuf>,

    /// The checkout (docs/, perf/overlays/); default: the git top level of
    /// the current directory.
    #[arg(long)]
    pub repo: Option<PathBuf>,

    /// The peers kit (default: $PEERS, else REPO/../shared/bench/peers).
    #[arg(long)]
    pub peers_kit: Option<PathBuf>,

    /// The kit's work dir with its configs (default: $PEERS_WORK, else /tmp/peers/work).
    #[arg(long)]
    pub peers_work: Option<PathBuf>,

    /// Move every port up by this much and run on relocated copies of the
    /// kit's configs: for a machine where something already holds the kit's
    /// ports (callgrind is skipped then: the kit's instr.sh uses them).
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,

    /// Compiled-database cache of the Rampart instances (kept between runs).
    #[arg(long, default_value = "/var/tmp/rampart-bench-cache")]
    pub cache_dir: PathBuf,

    /// Render the report, plots (and docs with --docs) again from the
    /// results.json of an earlier run, without measuring.
    #[arg(long)]
    pub from: Option<PathBuf>,
}

/// The durations and sizes of a mode.
#[derive(Clone, Debug)]
struct Plan {
    full: bool,
    rounds: u32,
    duration: Duration,
    /// Warm-up pass per cell before round 1.
    warm: Duration,
    /// Offered-load sweep: fractions of HAProxy's closed-loop GET maximum.
    fractions: Vec<f64>,
    open_duration: Duration,
    open_warmup: Duration,
    /// matcher-bench arguments.
    matcher: Vec<String>,
    /// Longest wait for a server to go idle after a run.
    settle: Duration,
}

impl Plan {
    fn new(a: &CompareArgs) -> Plan {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        if a.full {
            Plan {
                full: true,
                rounds: a.rounds.unwrap_or(3),
                duration: a.duration.unwrap_or(Duration::from_secs(10)),
                warm: Duration::from_secs(2),
                fractions: vec![0.25, 0.5, 0.75, 0.9, 1.0],
                open_duration: Duration::from_secs(8),
                open_warmup: Duration::from_secs(1),
                matcher: s(&[
                    "--signatures",
                    "1000",
                    "--requests",
                    "20000",
                    "--seconds",
                    "3",
                    "--only",
                    "rampart,raw",
                ]),
                settle: Duration::from_secs(5),
            }
        } else {
            Plan {
                full: false,
                rounds: a.rounds.unwrap_or(1),
                duration: a.duration.unwrap_or(Duration::from_secs(2)),
                warm: Duration::from_millis(500),
                fractions: vec![0.5, 0.9],
                open_duration: Duration::from_millis(1500),
                open_warmup: Duration::from_millis(500),
                matcher: s(&[
                    "--signatures",
                    "1000",
                    "--requests",
                    "2000",
                    "--seconds",
                    "0.5",
                    "--only",
                    "rampart,raw",
                ]),
                settle: Duration::from_secs(1),
            }
        }
    }
}

fn log(msg: impl AsRef<str>) {
    let t = machine::format_utc(machine::now_secs());
    eprintln!("[compare {}] {}", &t[11..], msg.as_ref());
}

/// The command as the user typed it to perf/run: without the paths the
/// wrapper adds.
fn user_command(args: impl Iterator<Item = String>) -> String {
    const WRAPPER: [&str; 5] = [
        "--rampart",
        "--matcher-bench",
        "--repo",
        "--peers-kit",
        "--peers-work",
    ];
    let mut out = String::from("perf/run");
    let mut skip_value = false;
    for a in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        if WRAPPER.contains(&a.as_str()) {
            skip_value = true;
            continue;
        }
        if WRAPPER.iter().any(|w| a.starts_with(&format!("{w}="))) {
            continue;
        }
        out.push(' ');
        out.push_str(&a);
    }
    out
}

fn git_toplevel() -> Option<PathBuf> {
    let o = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}

fn beside_me(name: &str) -> Option<PathBuf> {
    Some(std::env::current_exe().ok()?.parent()?.join(name))
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Runs the comparison (or re-renders one with `--from`).
pub fn run(args: &CompareArgs) -> Result<()> {
    interrupt::install();
    let repo = match &args.repo {
        Some(r) => r.clone(),
        None => git_toplevel()
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))),
    };
    let write_docs = args.docs || (args.full && !args.no_docs);
    if let Some(from) = &args.from {
        let text =
            std::fs::read_to_string(from).with_context(|| format!("reading {}", from.display()))?;
        let res: Results =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", from.display()))?;
        let dir = from.parent().unwrap_or(Path::new(".")).to_path_buf();
        let res = reaggregate(res);
        return render(&res, &dir, &repo, args.docs);
    }
    let started = machine::now_secs();
    let t0 = Instant::now();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "/tmp/peers/results/compare-{}",
            machine::stamp(started)
        ))
    });
    for sub in ["conf", "tls", "events", "runs", "logs"] {
        std::fs::create_dir_all(out.join(sub))
            .with_context(|| format!("creating {}", out.display()))?;
    }
    let kit_dir = args
        .peers_kit
        .clone()
        .or_else(|| env_path("PEERS"))
        .unwrap_or_else(|| repo.join("../shared/bench/peers"));
    let kit_work = args
        .peers_work
        .clone()
        .or_else(|| env_path("PEERS_WORK"))
        .unwrap_or_else(|| PathBuf::from("/tmp/peers/work"));
    if !kit_work.join("conf/nginx-a.conf").is_file() {
        bail!(
            "no peers configs in {} — run the kit's setup.sh first (perf/run does: {}/setup.sh)",
            kit_work.display(),
            kit_dir.display()
        );
    }
    let work = if args.port_offset > 0 {
        let moved = out.join("kit");
        kit::relocate(&kit_work, &moved, args.port_offset)?;
        log(format!(
            "ports moved up by {}: the kit's configs relocated to {}",
            args.port_offset,
            moved.display()
        ));
        moved
    } else {
        kit_work.clone()
    };
    let rampart = args
        .rampart
        .clone()
        .or_else(|| beside_me("rampart"))
        .unwrap_or_default();
    let matcher_bin = args
        .matcher_bench
        .clone()
        .or_else(|| beside_me("matcher-bench"))
        .unwrap_or_default();
    let bench = std::env::current_exe().context("locating rampart-bench")?;
    if !rampart.is_file() {
        bail!(
            "no rampart binary at {} (build it: cargo build --release -p rampart-dataplane --bin rampart, or pass --rampart)",
            rampart.display()
        );
    }
    let have_d2 = std::fs::read_to_string(work.join("features.env"))
        .map(|t| t.contains("HAVE_NGX_MODSEC=1"))
        .unwrap_or(false);
    let plan = Plan::new(args);
    let skip = |part: &str| args.skip.iter().any(|s| s == part);
    let wanted = |id: &str| {
        (args.only.is_empty()
            || args.only.iter().any(|o| o == id)
            || id == setups::HAPROXY
            || id == setups::HAPROXY_TLS)
            && (id != "D2" || have_d2)
    };
    let cells: Vec<(&str, &str)> = setups::plan(plan.full, wanted)
        .into_iter()
        .filter(|(load, _)| {
            !((load.starts_with("tls") && skip("tls")) || (*load == "many" && skip("many")))
        })
        .collect();
    let latency_ids: Vec<&str> = if skip("latency") {
        Vec::new()
    } else {
        [setups::HAPROXY, setups::RAMPART_PACK]
            .into_iter()
            .filter(|id| wanted(id))
            .collect()
    };
    let scaling_ids: Vec<&str> = if skip("scaling") {
        Vec::new()
    } else {
        setups::SCALING.to_vec()
    };

    let all: Vec<Setup> = setups::SETUPS
        .iter()
        .map(|s| s.shifted(args.port_offset))
        .collect();
    let backend_port = setups::BACKEND_PORT + args.port_offset;
    let paths = Paths {
        peers_work: work.clone(),
        out: out.clone(),
        rampart: rampart.clone(),
        overlay: repo.join("perf/overlays/single-client-load.toml"),
        cache_dir: args.cache_dir.clone(),
        port_offset: args.port_offset,
    };
    let mut meta = machine::describe(&repo, &kit_work, &rampart);
    meta.started_utc = machine::format_utc(started)[..16].to_string();
    meta.mode = if plan.full { "full" } else { "short" }.into();
    meta.command = user_command(std::env::args().skip(2));
    meta.srv_cpus = args.srv_cpus.clone();
    meta.load_cpus = args.load_cpus.clone();
    meta.rounds = plan.rounds;
    meta.duration_s = plan.duration.as_secs_f64();
    meta.connections = args.connections;
    log(format!(
        "{} mode: {} cells × {} round(s) of {:?}, results in {}",
        meta.mode,
        cells.len(),
        plan.rounds,
        plan.duration,
        out.display()
    ));

    // Which servers: the backend, every setup of the plan, the sweep's and
    // the scaling pair.
    let mut ids: Vec<&str> = vec![setups::BACKEND];
    for id in cells
        .iter()
        .map(|c| c.1)
        .chain(latency_ids.iter().copied())
        .chain(scaling_ids.iter().copied())
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let to_start: Vec<&Setup> = all.iter().filter(|s| ids.contains(&s.id)).collect();
    prepare_files(&to_start, &paths, backend_port)?;
    let find = |id: &str| all.iter().find(|s| s.id == id);

    let mut res = Results {
        meta,
        example_config: std::fs::read_to_string(paths.config(setups::RAMPART_PACK))
            .unwrap_or_default(),
        ..Results::default()
    };
    let runner = Runner {
        bench: bench.clone(),
        load_cpus: Some(args.load_cpus.clone()),
        dir: out.join("runs"),
        clk_tck: procfs::clk_tck(),
    };
    let spec = LoadSpec {
        connections: args.connections,
        threads: 1,
        duration: plan.duration,
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(10),
        body_file: work.join("wrk/body.json"),
        rate: None,
    };
    // A tenth of the runs (and two more) may be repeated for other
    // processes' load: each costs a run and up to 15 s of waiting.
    let retries = Cell::new((cells.len() as u32 * plan.rounds).div_ceil(10) + 2);
    let ctx = Ctx {
        runner: &runner,
        plan: &plan,
        backend_port,
        retries: &retries,
    };

    {
        let mut srv = Servers::new(&out.join("logs"))?;
        for s in &to_start {
            interrupt::check()?;
            let cpus = s.pinned.then_some(args.srv_cpus.as_str());
            let t = Instant::now();
            srv.start(
                s.id,
                cpus,
                &setups::argv(s, &paths),
                &setups::ports(s),
                Duration::from_secs(180),
            )
            .with_context(|| format!("starting {}", s.name))?;
            log(format!(
                "started {} on 127.0.0.1:{} in {:.1} s",
                s.name,
                s.port,
                t.elapsed().as_secs_f64()
            ));
        }
        waf_checks(&to_start, &mut res);
        let busy = measure::wait_quiet(
            measure::DISTURBED_PCT,
            Duration::from_secs(60),
            runner.clk_tck,
        )?;
        if busy >= measure::DISTURBED_PCT {
            let msg = format!(
                "the machine was busy before the run ({busy:.0} % of a CPU after waiting 60 s)"
            );
            log(&msg);
            res.notes.push(msg);
        }

        // Warm-up pass, then interleaved rounds.
        let warm_spec = LoadSpec {
            duration: plan.warm,
            ..spec.clone()
        };
        for (load, id) in &cells {
            if let Some(s) = find(id) {
                ctx.one(s, load, 0, &warm_spec, &mut res.notes, "warm")?;
            }
        }
        let mut samples: Vec<Sample> = Vec::new();
        for round in 1..=plan.rounds {
            for (load, id) in &cells {
                if let Some(s) = find(id) {
                    samples.extend(ctx.one(s, load, round, &spec, &mut res.notes, "run")?);
                }
            }
        }
        res.rows = stats::rows(&samples, &cells, |l| {
            loads::load(l).map(|l| l.base).unwrap_or(setups::HAPROXY)
        });
        res.samples = samples;

        // Offered-load sweep against HAProxy's measured GET maximum.
        let base = res
            .rows
            .iter()
            .find(|r| r.load == "get" && r.setup == setups::HAPROXY)
            .map(|r| r.rps);
        if let (Some(base), false) = (base, latency_ids.is_empty()) {
            let open = LoadSpec {
                duration: plan.open_duration,
                warmup: plan.open_warmup,
                ..spec.clone()
            };
            for &f in &plan.fractions {
                for s in latency_ids.iter().filter_map(|id| find(id)) {
                    let rate = (base * f).round().max(1.0);
                    let spec = LoadSpec {
                        rate: Some(rate),
                        ..open.clone()
                    };
                    let what = format!("open {:.0}%", f * 100.0);
                    if let Some(sample) = ctx.one(s, "get", 0, &spec, &mut res.notes, &what)? {
                        res.latency_vs_load
                            .push(LoadPoint::from_sample(&sample, f, rate));
                        res.samples.push(Sample {
                            load: format!("get@{:.0}%", f * 100.0),
                            ..sample
                        });
                    }
                }
            }
        }

        // One worker against one per core: nothing pinned by taskset, the backend
        // allowed on every CPU for the phase.
        if !scaling_ids.is_empty() {
            let all_cpus = format!("0-{}", res.meta.cpus.saturating_sub(1));
            repin(backend_port, &all_cpus);
            let unpinned = Ctx {
                runner: &Runner {
                    load_cpus: None,
                    ..runner.clone()
                },
                ..ctx
            };
            let mut samples = Vec::new();
            for round in 1..=plan.rounds {
                for s in scaling_ids.iter().filter_map(|id| find(id)) {
                    samples.extend(unpinned.one(
                        s,
                        "get",
                        round,
                        &spec,
                        &mut res.notes,
                        "scaling",
                    )?);
                }
            }
            repin(backend_port, &args.srv_cpus);
            let order: Vec<(&str, &str)> = scaling_ids.iter().map(|id| ("get", *id)).collect();
            res.scaling = stats::rows(&samples, &order, |_| "RS1");
            res.samples.extend(samples);
        }
        log("stopping the servers");
        srv.stop_all();
    }
    trim_events(&out.join("events"));

    if !skip("matcher") {
        if matcher_bin.is_file() {
            log("matcher benchmark");
            match matcher::run(
                &matcher_bin,
                Some(&args.srv_cpus),
                &plan.matcher,
                Duration::from_secs(300),
            ) {
                Ok(m) => res.matcher = Some(m),
                Err(e) => {
                    interrupt::check()?;
                    res.notes.push(format!("matcher benchmark failed: {e:#}"));
                }
            }
        } else {
            res.notes.push(format!(
                "matcher benchmark skipped: no binary at {}",
                matcher_bin.display()
            ));
        }
    }
    if plan.full && !skip("instr") {
        if args.port_offset > 0 {
            res.notes.push(
                "instructions per request skipped: the kit's instr.sh needs its own ports (--port-offset)"
                    .into(),
            );
        } else if Command::new("valgrind").arg("--version").output().is_ok() {
            log("instructions per request (callgrind via the kit's instr.sh; a few minutes)");
            let dir = out.join("instr");
            std::fs::create_dir_all(&dir)?;
            let cmd = format!(
                "{} proxy --listen 127.0.0.1:18090 --upstream http://127.0.0.1:18080 --workers 1 --no-admin --no-policy",
                rampart.display()
            );
            let job = instr::Job {
                targets: "B C E",
                cmd: &cmd,
                port: 18090,
                id: "R0",
            };
            match instr::run(&kit_dir, &kit_work, &job, &dir, Duration::from_secs(1200)) {
                Ok(rows) => res.instr = rows,
                Err(e) => {
                    interrupt::check()?;
                    res.notes
                        .push(format!("instructions per request failed: {e:#}"));
                }
            }
            // Not the pack instances: under valgrind Hyperscan sees no
            // AVX-512, so the compiled-pack cache (built for the host's CPU)
            // misses and the pack compiles under valgrind for many minutes.
            // Their inspection cost is counted in process by
            // `perf/examples/pack_judge.rs` (docs/BENCHMARKS.md).
        } else {
            res.notes
                .push("instructions per request skipped: valgrind is not installed".into());
        }
    }

    add_health_notes(&mut res);
    res.meta.finished_utc = machine::format_utc(machine::now_secs())[..16].to_string();
    res.meta.elapsed_s = t0.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&res)?;
    std::fs::write(out.join("results.json"), json)?;
    render(&res, &out, &repo, write_docs)?;
    log(format!(
        "done in {:.0} s; results in {}",
        res.meta.elapsed_s,
        out.display()
    ));
    Ok(())
}

/// The WAF check of every inspecting plain-HTTP setup.
fn waf_checks(started: &[&Setup], res: &mut Results) {
    for s in started {
        let inspects = matches!(s.program, Program::Apache | Program::Nginx("modsec"))
            || matches!(s.program, Program::Rampart { policy, .. } if policy != setups::Policy::None);
        if inspects && !s.tls && s.pinned {
            let w = check::waf(s.id, s.port);
            if !w.passed() {
                res.notes.push(format!(
                    "WAF check FAILED for {}: SQLi {}, XSS {}, GET / {} (expected 403, 403, 200)",
                    s.name, w.sqli, w.xss, w.benign
                ));
            }
            log(format!(
                "WAF check {}: {} {} {}",
                s.id, w.sqli, w.xss, w.benign
            ));
            res.waf.push(w);
        }
    }
}

/// What every run of a phase shares.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    runner: &'a Runner,
    plan: &'a Plan,
    backend_port: u16,
    /// Repeats left for runs another process disturbed.
    retries: &'a Cell<u32>,
}

impl Ctx<'_> {
    /// One run of `load` against `setup`; a failed run is a note, not the
    /// end of the comparison (a stop signal is). A run that other processes
    /// disturbed (foreign CPU above [`measure::DISTURBED_PCT`]) is repeated
    /// once the machine is quiet, while the retry budget lasts, and the less
    /// disturbed of the two kept.
    fn one(
        &self,
        setup: &Setup,
        load: &str,
        round: u32,
        spec: &LoadSpec,
        notes: &mut Vec<String>,
        what: &str,
    ) -> Result<Option<Sample>> {
        let first = self.attempt(setup, load, round, spec, notes, what, "")?;
        let Some(s) = first else {
            return Ok(None);
        };
        if what == "warm" || s.foreign_cpu_pct <= measure::DISTURBED_PCT || self.retries.get() == 0
        {
            return Ok(Some(s));
        }
        self.retries.set(self.retries.get() - 1);
        let busy = measure::wait_quiet(
            measure::DISTURBED_PCT,
            Duration::from_secs(15),
            self.runner.clk_tck,
        )?;
        log(format!(
            "{} / {load}: {:.0} % of a CPU used by other processes; again (machine now {busy:.0} %)",
            setup.name, s.foreign_cpu_pct
        ));
        let again = self.attempt(setup, load, round, spec, notes, what, "-again")?;
        Ok(Some(match again {
            Some(a) if a.foreign_cpu_pct < s.foreign_cpu_pct => a,
            _ => s,
        }))
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &self,
        setup: &Setup,
        load: &str,
        round: u32,
        spec: &LoadSpec,
        notes: &mut Vec<String>,
        what: &str,
        suffix: &str,
    ) -> Result<Option<Sample>> {
        interrupt::check()?;
        let id = setup.id;
        let tag = format!("{}{}{suffix}", what.replace([' ', '%'], ""), round);
        let json = self.runner.dir.join(format!("{id}_{load}_{tag}.json"));
        let args = loads::run_args(load, setup.port, spec, &json);
        let backend = (id != setups::BACKEND).then_some(self.backend_port);
        let limit = spec.duration + spec.warmup + Duration::from_secs(60);
        let r = self.runner.run(&measure::Job {
            setup: id,
            load,
            round,
            port: setup.port,
            backend,
            args: &args,
            json: &json,
            limit,
        });
        self.runner.settle(setup.port, self.plan.settle)?;
        match r {
            Ok(s) => {
                if what != "warm" {
                    let rep = &s.report;
                    log(format!(
                        "{what} r{round} {load:<13} {:<36} {:>8.0} req/s  p50 {:>7} p99 {:>7}  cpu {:>6.1} µs/req  err {} non-2xx {}  foreign {:.0}%",
                        setup.name,
                        rep.throughput_rps,
                        crate::loadgen::report::us(rep.latency_us.p50),
                        crate::loadgen::report::us(rep.latency_us.p99),
                        s.server_cpu_us,
                        rep.errors.total(),
                        rep.status
                            .iter()
                            .filter(|(c, _)| !c.starts_with('2'))
                            .map(|(_, n)| n)
                            .sum::<u64>(),
                        s.foreign_cpu_pct
                    ));
                }
                Ok(Some(s))
            }
            Err(e) => {
                interrupt::check()?;
                let msg = format!("{what} run {id}/{load} round {round} failed: {e:#}");
                log(&msg);
                // A warm-up too short for the slowest peer (ModSecurity's
                // POSTs take seconds) proves nothing; a measured run does.
                if what != "warm" {
                    notes.push(msg);
                }
                Ok(None)
            }
        }
    }
}

/// The pack instances log an event per request under these loads (the
/// monitor-mode behaviour policies match every request): hundreds of MB per
/// run. Keep the first lines of each log as a sample, drop the rest.
fn trim_events(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    for path in paths {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if name.ends_with(".head.jsonl") {
            continue;
        }
        if name.ends_with(".log") {
            if let Ok(f) = std::fs::File::open(&path) {
                use std::io::{BufRead, BufReader};
                let head: Vec<String> = BufReader::new(f)
                    .lines()
                    .take(20)
                    .map_while(|l| l.ok())
                    .collect();
                let _ = std::fs::write(path.with_extension("head.jsonl"), head.join("\n") + "\n");
            }
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// Moves every thread of the processes listening on `port` to `cpus`.
fn repin(port: u16, cpus: &str) {
    for pid in procfs::pids_on_port(port) {
        let ok = Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &pid.to_string()])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            log(format!("could not move pid {pid} to CPUs {cpus}"));
        }
    }
}

/// Configs, certificate and HAProxy's TLS config for the setups to start.
fn prepare_files(to_start: &[&Setup], p: &Paths, backend_port: u16) -> Result<()> {
    if to_start.iter().any(|s| s.tls) {
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "7",
            ])
            .args([
                "-subj",
                "/CN=bench.test",
                "-addext",
                "subjectAltName=DNS:bench.test",
            ])
            .arg("-keyout")
            .arg(p.key())
            .arg("-out")
            .arg(p.cert())
            .output()
            .context("running openssl to make the test certificate")?;
        if !st.status.success() {
            bail!(
                "openssl req failed: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        }
        let pem = p.out.join("tls/haproxy.pem");
        let both = std::fs::read_to_string(p.cert())? + &std::fs::read_to_string(p.key())?;
        std::fs::write(&pem, both)?;
        if let Some(ht) = to_start.iter().find(|s| s.id == setups::HAPROXY_TLS) {
            std::fs::write(
                p.out.join("conf/haproxy-tls.cfg"),
                setups::haproxy_tls_config(&pem, ht.port, backend_port),
            )?;
        }
    }
    std::fs::create_dir_all(&p.cache_dir)
        .with_context(|| format!("creating {}", p.cache_dir.display()))?;
    for s in to_start {
        if let Some(c) = setups::rampart_config(s, p) {
            std::fs::write(p.config(s.id), c)?;
        }
    }
    Ok(())
}

/// The rows and health notes computed again from the raw samples (with the
/// current aggregation rules), in the saved rows' order.
fn reaggregate(mut res: Results) -> Results {
    let base = |l: &str| loads::load(l).map(|l| l.base).unwrap_or(setups::HAPROXY);
    let order: Vec<(String, String)> = res
        .rows
        .iter()
        .map(|r| (r.load.clone(), r.setup.clone()))
        .collect();
    let order: Vec<(&str, &str)> = order
        .iter()
        .map(|(l, s)| (l.as_str(), s.as_str()))
        .collect();
    let rows = stats::rows(&res.samples, &order, base);
    let order: Vec<(String, String)> = res
        .scaling
        .iter()
        .map(|r| (r.load.clone(), r.setup.clone()))
        .collect();
    let order: Vec<(&str, &str)> = order
        .iter()
        .map(|(l, s)| (l.as_str(), s.as_str()))
        .collect();
    let scaling = stats::rows(&res.samples, &order, |_| "RS1");
    res.rows = rows;
    res.scaling = scaling;
    add_health_notes(&mut res);
    res
}

/// Notes on anything in the numbers that makes them suspect.
fn add_health_notes(res: &mut Results) {
    res.health.clear();
    let mut disturbed = Vec::new();
    let mut dropped = Vec::new();
    for r in res.rows.iter().chain(&res.scaling) {
        let n = setups::setup(&r.setup).map(|s| s.name).unwrap_or(&r.setup);
        if r.errors > 0 {
            res.health
                .push(format!("{n} / {}: {} failed requests", r.load, r.errors));
        }
        if r.dropped > 0 {
            dropped.push(format!("{n} / {} ({})", r.load, r.dropped));
        }
        if r.non_2xx > 0 {
            res.health.push(format!(
                "{n} / {}: {} responses outside 2xx ({} blocked) — a benign load should pass",
                r.load, r.non_2xx, r.blocked
            ));
        }
        if r.foreign_cpu_pct_max > measure::DISTURBED_PCT {
            disturbed.push(format!("{n} / {} ({:.0} %)", r.load, r.foreign_cpu_pct_max));
        }
    }
    let open: Vec<String> = res
        .samples
        .iter()
        .filter(|s| s.load.contains('@') && s.foreign_cpu_pct > measure::DISTURBED_PCT)
        .map(|s| format!("{} / {} ({:.0} %)", s.setup, s.load, s.foreign_cpu_pct))
        .collect();
    disturbed.extend(open);
    if !dropped.is_empty() {
        res.health.push(format!(
            "disturbed rounds left out of the medians (other processes used more than {:.0} % of a CPU): {}",
            measure::DISTURBED_PCT,
            dropped.join(", ")
        ));
    }
    if !disturbed.is_empty() {
        res.health.push(format!(
            "every round disturbed (other processes used more than {:.0} % of a CPU; worst round in brackets), \
             so these numbers are less reliable: {}",
            measure::DISTURBED_PCT,
            disturbed.join(", ")
        ));
    }
}

/// Writes report.md and the SVGs into `dir`; with `docs`, also the
/// generated section of REPO/docs/BENCHMARKS.md and REPO/docs/bench/*.svg.
fn render(res: &Results, dir: &Path, repo: &Path, docs: bool) -> Result<()> {
    let plots = plots::all(res)?;
    let bench_dir = dir.join("bench");
    std::fs::create_dir_all(&bench_dir)?;
    for (name, svg) in &plots {
        std::fs::write(bench_dir.join(name), svg)?;
    }
    let section = writer::section(res, "bench");
    std::fs::write(dir.join("report.md"), &section)?;
    println!("{section}");
    if docs {
        let doc_path = repo.join("docs/BENCHMARKS.md");
        let doc = std::fs::read_to_string(&doc_path)
            .with_context(|| format!("reading {}", doc_path.display()))?;
        let new = writer::replace_section(&doc, &section)?;
        std::fs::write(&doc_path, new)?;
        let svg_dir = repo.join("docs/bench");
        std::fs::create_dir_all(&svg_dir)?;
        for (name, svg) in &plots {
            std::fs::write(svg_dir.join(name), svg)?;
        }
        log(format!(
            "wrote {} and {}/",
            doc_path.display(),
            svg_dir.display()
        ));
    }
    log(format!(
        "report: {} (plots in {})",
        dir.join("report.md").display(),
        bench_dir.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reported_command_is_the_users() {
        let args = [
            "--rampart",
            "/t/rampart",
            "--full",
            "--repo=/r",
            "--only",
            "B,RP",
            "--peers-work",
            "/w",
        ];
        assert_eq!(
            user_command(args.iter().map(|s| s.to_string())),
            "perf/run --full --only B,RP"
        );
    }

    #[test]
    fn event_logs_are_trimmed_to_a_sample() {
        let dir = tempfile::tempdir().unwrap();
        let lines: String = (0..30).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        std::fs::write(dir.path().join("RP.log"), &lines).unwrap();
        std::fs::write(dir.path().join("RP.log.1"), &lines).unwrap();
        trim_events(dir.path());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["RP.head.jsonl"]);
        let head = std::fs::read_to_string(dir.path().join("RP.head.jsonl")).unwrap();
        assert_eq!(head.lines().count(), 20);
        trim_events(&dir.path().join("missing"));
    }

    #[test]
    fn modes() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            c: CompareArgs,
        }
        let short = Plan::new(&Cli::parse_from(["x"]).c);
        assert!(!short.full && short.rounds == 1 && short.duration == Duration::from_secs(2));
        let full =
            Plan::new(&Cli::parse_from(["x", "--full", "--rounds", "5", "--duration", "4s"]).c);
        assert!(full.full && full.rounds == 5 && full.duration == Duration::from_secs(4));
        assert_eq!(full.fractions.len(), 5);
        assert!(Cli::try_parse_from(["x", "--docs", "--no-docs"]).is_err());
    }
}
