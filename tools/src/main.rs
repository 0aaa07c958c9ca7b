//! `rampart-policy`: check, compile, dry-run, list, explain and diff policy packs.

mod request_input;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rampart_policy_loader::{
    describe, load, measures::COUNTERS, self_test, CompiledPolicy, DryFacts, DryRunner,
    LoadOptions, PackSource, RawRequest,
};

#[derive(Parser)]
#[command(
    name = "rampart-policy",
    version,
    about = "Check, compile, test and explain Rampart policy packs"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Packs {
    /// Pack directories, in load order (`default` = the embedded default pack; none = the embedded default).
    packs: Vec<String>,
    /// Local overlay file.
    #[arg(long)]
    overlay: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate packs; every problem is printed with file:line:col.
    Check(Packs),
    /// Compile packs and print statistics.
    Compile {
        #[command(flatten)]
        packs: Packs,
        /// Compiled-database cache directory.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Dry-run requests through packs and explain the verdict.
    Test {
        #[command(flatten)]
        packs: Packs,
        /// A raw HTTP/1.1 request file.
        #[arg(long, conflicts_with_all = ["har", "curl", "self_test"])]
        request: Option<PathBuf>,
        /// A HAR capture: every request in it.
        #[arg(long, conflicts_with_all = ["curl", "self_test"])]
        har: Option<PathBuf>,
        /// A curl command line.
        #[arg(long, conflicts_with = "self_test")]
        curl: Option<String>,
        /// Run every example stored in the packs and fail on any wrong verdict.
        #[arg(long = "self")]
        self_test: bool,
        /// Client address for the dry run.
        #[arg(long)]
        client_ip: Option<std::net::IpAddr>,
        /// Behaviour counter values, `name=value` (repeatable).
        #[arg(long = "counter")]
        counters: Vec<String>,
    },
    /// List policies.
    List(Packs),
    /// Show one policy: condition, action, signatures, examples.
    Explain {
        /// Policy id.
        id: String,
        #[command(flatten)]
        packs: Packs,
    },
    /// Policies added, removed and changed between two pack sets.
    Diff {
        /// The old pack directory (or `default`).
        old: String,
        /// The new pack directory (or `default`).
        new: String,
    },
}

fn sources(p: &Packs) -> Vec<PackSource> {
    if p.packs.is_empty() {
        return vec![PackSource::EmbeddedDefault];
    }
    p.packs
        .iter()
        .map(|s| {
            if s == "default" {
                PackSource::EmbeddedDefault
            } else {
                PackSource::Dir(PathBuf::from(s))
            }
        })
        .collect()
}

/// Loads packs, printing every problem; `None` when they do not load.
fn load_or_report(p: &Packs, cache: Option<PathBuf>) -> Option<std::sync::Arc<CompiledPolicy>> {
    match load(&LoadOptions {
        packs: sources(p),
        overlay: p.overlay.clone(),
        cache_dir: cache,
        ..LoadOptions::default()
    }) {
        Ok(l) => {
            for w in &l.warnings {
                eprintln!("warning: {w}");
            }
            Some(l.policy)
        }
        Err(errs) => {
            for d in &errs.0 {
                eprintln!("{d}");
            }
            eprintln!("{} problem(s); nothing loaded", errs.0.len());
            None
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rampart-policy: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Check(p) => Ok(match load_or_report(&p, None) {
            Some(pol) => {
                println!(
                    "ok: {} — {} policies ({} enforce, {} monitor), {} signatures",
                    pol.version(),
                    pol.stats.policies,
                    pol.stats.enforce,
                    pol.stats.monitor,
                    pol.stats.signatures
                );
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        }),
        Cmd::Compile { packs, cache } => {
            let Some(pol) = load_or_report(&packs, cache) else {
                return Ok(ExitCode::FAILURE);
            };
            let s = &pol.stats;
            let r = pol.matcher.report();
            println!("version:       {}", pol.version());
            println!(
                "policies:      {} ({} enforce, {} monitor, {} off)",
                s.policies,
                s.enforce,
                s.monitor,
                s.policies - s.enforce - s.monitor
            );
            println!(
                "signatures:    {} in {} transform groups, {} Hyperscan databases ({} KiB)",
                s.signatures,
                r.groups,
                r.databases,
                r.database_bytes / 1024
            );
            println!(
                "prefiltered:   {}{}",
                s.prefiltered.len(),
                if s.prefiltered.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", s.prefiltered.join(", "))
                }
            );
            println!(
                "not streamed:  {} body signatures need the whole value",
                r.not_streamed.len()
            );
            println!(
                "lists:         {}",
                pol.lists
                    .iter()
                    .map(|l| format!("{} ({} {})", l.name, l.len(), l.kind.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "compile time:  {:.0} ms{}",
                s.elapsed.as_secs_f64() * 1000.0,
                if s.from_cache {
                    " (databases from cache)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test {
            packs,
            request,
            har,
            curl,
            self_test: run_self,
            client_ip,
            counters,
        } => {
            let Some(pol) = load_or_report(&packs, None) else {
                return Ok(ExitCode::FAILURE);
            };
            if run_self {
                let r = self_test(&pol).map_err(anyhow::Error::msg)?;
                for f in &r.failures {
                    println!("FAIL {} ({}): {}", f.policy, f.at, f.message);
                }
                for m in &r.missing {
                    println!("MISSING {m}: needs at least one `match` and one `no_match` example");
                }
                println!(
                    "{} examples of {} policies: {} failed, {} policies without both kinds of example",
                    r.examples,
                    pol.policies.len(),
                    r.failures.len(),
                    r.missing.len()
                );
                return Ok(if r.failures.is_empty() && r.missing.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            let reqs: Vec<RawRequest> = if let Some(f) = request {
                let bytes =
                    std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
                vec![RawRequest::parse(&bytes)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("{} is not an HTTP/1.1 request", f.display()))?]
            } else if let Some(f) = har {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                request_input::from_har(&text).with_context(|| format!("{}", f.display()))?
            } else if let Some(c) = curl {
                vec![request_input::from_curl(&c)?]
            } else {
                bail!("give --request FILE, --har FILE, --curl '…' or --self");
            };
            let mut facts = DryFacts {
                client_ip,
                counters: vec![0; COUNTERS.len()],
                ..DryFacts::default()
            };
            for c in &counters {
                let (name, value) = c
                    .split_once('=')
                    .with_context(|| format!("--counter wants name=value, got {c}"))?;
                let idx = COUNTERS
                    .iter()
                    .position(|n| *n == name)
                    .with_context(|| format!("unknown counter {name}"))?;
                facts.counters[idx] = value
                    .parse()
                    .with_context(|| format!("--counter {name}: not a number"))?;
            }
            let mut runner = DryRunner::new(&pol).map_err(anyhow::Error::msg)?;
            let mut blocked = 0;
            for (n, req) in reqs.iter().enumerate() {
                let run = runner.run(req, &facts, false).map_err(anyhow::Error::msg)?;
                println!(
                    "request {}: {} {}",
                    n + 1,
                    String::from_utf8_lossy(&req.method),
                    String::from_utf8_lossy(&req.target)
                );
                for s in &run.signatures {
                    let at = match s.start {
                        Some(st) => format!("{st}..{}", s.end),
                        None => format!("..{}", s.end),
                    };
                    println!(
                        "  signature {} in {}{} at {at}: {:?}",
                        s.signature,
                        s.kind,
                        if s.name.is_empty() {
                            String::new()
                        } else {
                            format!(":{}", s.name)
                        },
                        s.fragment
                    );
                }
                let client = facts
                    .client_ip
                    .unwrap_or(rampart_policy_loader::EXAMPLE_CLIENT);
                for l in &pol.lists {
                    if let Some(entry) = l.lookup_ip(client) {
                        println!("  list {}: client {client} matches entry {entry}", l.name);
                    }
                }
                // Shown when a list could use it, so it can be copied into one.
                if pol
                    .lists
                    .iter()
                    .any(|l| l.kind == rampart_policy_loader::ListKind::HeaderFingerprint)
                {
                    let mut fp = [0u8; rampart_policy_loader::lists::fingerprint::HFP_LEN];
                    let headers = req.header_pairs();
                    let fp = rampart_policy_loader::lists::fingerprint::header_fingerprint(
                        &req.method,
                        11,
                        &headers,
                        &mut fp,
                    );
                    println!("  header fingerprint: {}", String::from_utf8_lossy(fp));
                }
                for h in &run.verdict.hits {
                    let p = &pol.policies[h.policy];
                    println!(
                        "  policy {} [{}{}] {} -> {}",
                        p.id,
                        p.severity.as_str(),
                        if h.monitor { ", monitor" } else { "" },
                        p.name,
                        describe::action(&p.action)
                    );
                }
                match run.verdict.action(&pol) {
                    Some(a) => {
                        blocked += 1;
                        let id = run
                            .verdict
                            .decision
                            .map(|i| pol.policies[i].id.as_str())
                            .unwrap_or("?");
                        println!(
                            "  verdict: {} (policy {id}), score {}",
                            describe::action(a),
                            run.verdict.score
                        );
                    }
                    None => println!(
                        "  verdict: forward{}, score {}",
                        run.verdict
                            .allowed_by
                            .map(|i| format!(" (allowed by {})", pol.policies[i].id))
                            .unwrap_or_default(),
                        run.verdict.score
                    ),
                }
            }
            if reqs.len() > 1 {
                println!("{} requests, {blocked} stopped", reqs.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::List(p) => {
            let Some(pol) = load_or_report(&p, None) else {
                return Ok(ExitCode::FAILURE);
            };
            for p in &pol.policies {
                println!(
                    "{:<16} {:<8} {:<7} {:<10} {}",
                    p.id,
                    p.severity.as_str(),
                    p.mode.as_str(),
                    p.action.name(),
                    p.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explain { id, packs } => {
            let Some(pol) = load_or_report(&packs, None) else {
                return Ok(ExitCode::FAILURE);
            };
            let Some((_, p)) = pol.policy(&id) else {
                bail!("no policy `{id}` in these packs")
            };
            println!("{} — {}", p.id, p.name);
            println!(
                "  severity:  {}   mode: {}   priority: {}   score: {}",
                p.severity.as_str(),
                p.mode.as_str(),
                p.priority,
                p.score
            );
            println!("  tags:      {}", p.tags.join(", "));
            println!("  from:      {} ({})", p.loc, pol.packs[p.pack].name);
            if !p.description.is_empty() {
                println!("  about:     {}", p.description);
            }
            if p.phase != rampart_policy_loader::PolicyPhase::Request {
                println!("  phase:     {}", p.phase.as_str());
            }
            println!("  condition: {}", describe::condition(&p.condition));
            println!("  action:    {}", describe::action(&p.action));
            for e in &p.exclusions {
                let paths: Vec<&str> = e.paths.iter().map(|g| g.as_str()).collect();
                println!(
                    "  excluded:  paths {paths:?} methods {:?} clients {:?} field {:?}",
                    e.methods
                        .iter()
                        .map(|m| String::from_utf8_lossy(m).into_owned())
                        .collect::<Vec<_>>(),
                    e.clients,
                    e.field.as_ref().map(|f| match &f.name {
                        Some(n) => format!("{}:{}", f.kind, String::from_utf8_lossy(n)),
                        None => f.kind.to_string(),
                    })
                );
            }
            let mut sigs = Vec::new();
            collect_sigs(&p.condition, &mut sigs);
            sigs.sort_unstable();
            sigs.dedup();
            for s in sigs {
                let info = &pol.signatures[s as usize];
                let pat = match &info.signature.pattern {
                    rampart_matcher::Pattern::Regex(r) => format!("/{r}/"),
                    rampart_matcher::Pattern::Literal(l) => {
                        format!("{:?}", String::from_utf8_lossy(l))
                    }
                    rampart_matcher::Pattern::Literals(v) => {
                        format!("list of {} literals", v.len())
                    }
                };
                let fields: Vec<String> = info
                    .signature
                    .targets
                    .iter()
                    .map(|t| match &t.name {
                        Some(n) => format!("{}:{n}", t.kind),
                        None => t.kind.to_string(),
                    })
                    .collect();
                let tr: Vec<&str> = info.signature.transforms.iter().map(|t| t.name()).collect();
                println!(
                    "  signature {}: {pat} in [{}] after [{}]",
                    info.signature.id,
                    fields.join(", "),
                    tr.join(", ")
                );
            }
            println!(
                "  examples:  {} ({} match, {} no_match)",
                p.examples.len(),
                p.examples.iter().filter(|e| e.expect_match).count(),
                p.examples.iter().filter(|e| !e.expect_match).count()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Diff { old, new } => {
            let one = |s: &str| Packs {
                packs: vec![s.to_owned()],
                overlay: None,
            };
            let (Some(a), Some(b)) = (
                load_or_report(&one(&old), None),
                load_or_report(&one(&new), None),
            ) else {
                return Ok(ExitCode::FAILURE);
            };
            let c = b.changes_since(&a);
            println!("{} -> {}", a.version(), b.version());
            for id in &c.added {
                println!("+ {id}");
            }
            for id in &c.removed {
                println!("- {id}");
            }
            for id in &c.changed {
                println!("~ {id}");
            }
            println!(
                "{} added, {} removed, {} changed",
                c.added.len(),
                c.removed.len(),
                c.changed.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn collect_sigs(c: &rampart_policy_loader::Cond, out: &mut Vec<u32>) {
    use rampart_policy_loader::Cond;
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| collect_sigs(c, out)),
        Cond::Not(c) => collect_sigs(c, out),
        Cond::Signature { resolved, .. } | Cond::SignatureTag { resolved, .. } => {
            out.extend(resolved)
        }
        _ => {}
    }
}
