//! The report as markdown — the tables with ratios to HAProxy, the method,
//! the machine and versions — and its place in docs/BENCHMARKS.md: the
//! section between the `rampart-bench compare` markers is replaced, the
//! rest of the file is left as it was.

use std::fmt::Write as _;

use anyhow::{bail, Result};

use super::loads;
use super::results::Results;
use super::setups;
use super::stats::Row;

pub const BEGIN: &str = "<!-- rampart-bench compare: begin -->";
pub const END: &str = "<!-- rampart-bench compare: end -->";

/// Replaces the marked section of `doc` with `section` (which carries its
/// own markers), or appends it if the document has none. A document with
/// only one marker, or with them out of order, is refused rather than
/// guessed at.
pub fn replace_section(doc: &str, section: &str) -> Result<String> {
    let b = doc.find(BEGIN);
    let e = doc.find(END);
    match (b, e) {
        (None, None) => {
            let mut out = doc.trim_end().to_string();
            out.push_str("\n\n");
            out.push_str(section.trim_end());
            out.push('\n');
            Ok(out)
        }
        (Some(b), Some(e)) if b < e => {
            if doc[b + BEGIN.len()..].matches(BEGIN).count() > 0 {
                bail!("docs/BENCHMARKS.md has two `{BEGIN}` markers");
            }
            let mut out = String::with_capacity(doc.len() + section.len());
            out.push_str(&doc[..b]);
            out.push_str(section.trim_end());
            out.push_str(&doc[e + END.len()..]);
            Ok(out)
        }
        _ => bail!(
            "docs/BENCHMARKS.md: the markers `{BEGIN}` and `{END}` must both be there, begin first"
        ),
    }
}

/// `39722.4` → `39,722`.
pub fn thousands(v: f64) -> String {
    let n = v.round().max(0.0) as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A ratio with enough digits for the small ones (ModSecurity's 0.0011).
pub fn ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r < 0.1 => format!("{r:.4}"),
        Some(r) => format!("{r:.2}"),
        None => "—".into(),
    }
}

fn ms(us: f64) -> String {
    if us >= 100_000.0 {
        format!("{:.0}", us / 1000.0)
    } else if us >= 10_000.0 {
        format!("{:.1}", us / 1000.0)
    } else {
        format!("{:.2}", us / 1000.0)
    }
}

fn cpu(us: f64) -> String {
    if us >= 1000.0 {
        format!("{us:.0}")
    } else {
        format!("{us:.1}")
    }
}

fn name(id: &str) -> String {
    setups::setup(id)
        .map(|s| s.name.to_string())
        .unwrap_or_else(|| id.to_string())
}

fn load_title(id: &str) -> &str {
    loads::load(id).map(|l| l.title).unwrap_or(id)
}

fn instr_for(res: &Results, setup: &str, load: &str) -> String {
    res.instr
        .iter()
        .find(|i| i.setup == setup && i.load == load)
        .and_then(|i| i.ir_per_request)
        .map(thousands)
        .unwrap_or_default()
}

fn main_table(res: &Results, out: &mut String) {
    let _ = writeln!(
        out,
        "| load | setup | req/s | min..max | vs HAProxy | p50 ms | p99 ms | p99.9 ms | CPU µs/req | backend CPU µs/req | Ir/req | errors | non-2xx | foreign CPU % | rounds |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in &res.rows {
        let bold = r.setup.starts_with('R');
        let n = if bold {
            format!("**{}**", name(&r.setup))
        } else {
            name(&r.setup)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}..{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} |",
            r.load,
            n,
            thousands(r.rps),
            thousands(r.rps_min),
            thousands(r.rps_max),
            ratio(r.vs_base),
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.p999_us),
            cpu(r.server_cpu_us),
            r.backend_cpu_us.map(cpu).unwrap_or_else(|| "—".into()),
            instr_for(res, &r.setup, &r.load),
            r.errors,
            r.non_2xx,
            r.foreign_cpu_pct_max,
            rounds(r)
        );
    }
}

/// `3`, or `2 of 3` when a disturbed round was left out.
fn rounds(r: &Row) -> String {
    if r.dropped == 0 {
        r.rounds.to_string()
    } else {
        format!("{} of {}", r.rounds, r.rounds + r.dropped)
    }
}

fn scaling_table(rows: &[Row], out: &mut String) {
    let _ = writeln!(
        out,
        "| setup | req/s | min..max | vs 1 worker | p50 ms | p99 ms | CPU µs/req | errors |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let one = rows.first().map(|r| r.rps).filter(|v| *v > 0.0);
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {}..{} | {} | {} | {} | {} | {} |",
            name(&r.setup),
            thousands(r.rps),
            thousands(r.rps_min),
            thousands(r.rps_max),
            ratio(one.map(|o| r.rps / o)),
            ms(r.p50_us),
            ms(r.p99_us),
            cpu(r.server_cpu_us),
            r.errors + r.non_2xx
        );
    }
}

/// The generated section (markers included). `svg_dir` is where the plots
/// are, relative to the markdown file (`bench` for docs/BENCHMARKS.md).
pub fn section(res: &Results, svg_dir: &str) -> String {
    let m = &res.meta;
    let mut o = String::new();
    let _ = writeln!(o, "{BEGIN}");
    let _ = writeln!(
        o,
        "## Rampart against its peers in one run (`perf/run`, issue 8)\n"
    );
    let _ = writeln!(
        o,
        "*Generated by `rampart-bench compare` ({} mode); rerun `perf/run --full` to refresh this section, \
         edits inside it are overwritten.*\n",
        m.mode
    );
    let _ = writeln!(o, "```sh\n{}\n```\n", m.command);
    let versions: Vec<String> = m.versions.iter().map(|(n, v)| format!("{n} {v}")).collect();
    let _ = writeln!(
        o,
        "Run of {} – {} UTC ({:.1} min), commit `{}`; {}, {} × {}, load average {} at the start. Versions: {}.\n",
        m.started_utc,
        m.finished_utc,
        m.elapsed_s / 60.0,
        m.commit,
        m.host,
        m.cpus,
        if m.cpu.is_empty() { "CPU" } else { &m.cpu },
        m.load_avg_start,
        versions.join(", ")
    );
    let _ = writeln!(
        o,
        "Method: every proxy forwards to the same nginx backend (A, 127.0.0.1:18080, `return 200 '{{\"ok\":true}}'`). \
         Servers and the backend are pinned to CPU {}, the load generator (`rampart-bench run`, one thread, {} connections, \
         closed loop, keep-alive) to CPU {}; one worker / one thread per server. {} interleaved round(s) of {} s per cell \
         after a warm-up pass; the table shows medians. *vs HAProxy* is req/s over HAProxy's (B; for HTTPS, HAProxy with \
         TLS on the same certificate) under the same load. *CPU µs/req* is the user + system time of the server's processes \
         (all threads, from /proc) per response; *backend* the same for A. *Ir/req*: user-space instructions per request \
         (callgrind, full mode). *errors* are failed requests, *non-2xx* responses outside 2xx (blocked ones included); \
         *foreign CPU* is machine CPU used by anything else, % of one CPU in the worst round counted (above 15 the \
         round was disturbed: such a run is repeated once when the machine is quiet, and disturbed rounds are left out of \
         the medians while a clean one remains — *rounds* says how many were used).\n",
        m.srv_cpus,
        m.connections,
        m.load_cpus,
        m.rounds,
        m.duration_s
    );
    let _ = writeln!(o, "Setups: the peers kit's servers (`../shared/bench/peers`, configs in `$PEERS_WORK/conf`); \
        Rampart with a generated config (`rampart run --config`, one worker, events to a file): no policy; the embedded \
        default pack with the behaviour policies in monitor mode (`perf/overlays/single-client-load.toml`: the load comes \
        from one address); the default pack as shipped, behaviour enforcing, under the *many* load; the same over TLS. \
        Loads: *get* and *post* are the kit's `GET /` and 2 KiB JSON POST with its headers; *many* is the GET from the 65,536 \
        source addresses of {} ({} requests per connection, then a new connection from the next address), where HAProxy's \
        stick table (E) and Rampart's behaviour counters track tens of thousands of clients; *tls* is perf/tls.sh's HTTPS \
        GET over keep-alive connections, *tls-handshake* a new connection and full handshake per request ({} connections).\n",
        loads::MANY_SOURCES, loads::MANY_RECONNECT, loads::HANDSHAKE_CONNS);
    let _ = writeln!(o, "### Throughput, latency and CPU per request\n");
    main_table(res, &mut o);
    let _ = writeln!(o);
    let _ = writeln!(o, "![Throughput per setup]({svg_dir}/throughput.svg)\n");
    let _ = writeln!(
        o,
        "![Latency percentiles per setup]({svg_dir}/latency.svg)\n"
    );
    if !res.waf.is_empty() {
        let _ = writeln!(o, "WAF check before the load (an inspecting setup must block, or its numbers mean nothing): \
            SQL injection and XSS in the query must get 403, `GET /` 200.\n");
        let _ = writeln!(
            o,
            "| setup | SQLi | XSS | GET / | verdict |\n|---|---:|---:|---:|---|"
        );
        for w in &res.waf {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                name(&w.setup),
                w.sqli,
                w.xss,
                w.benign,
                if w.passed() { "PASS" } else { "FAIL" }
            );
        }
        let _ = writeln!(o);
    }
    if !res.latency_vs_load.is_empty() {
        let _ = writeln!(o, "### Latency against offered load\n");
        let _ = writeln!(o, "Open loop (`rampart-bench run -R RATE`): requests are sent on a fixed schedule at a fraction \
            of HAProxy's closed-loop maximum above, and latency is measured from when each request was due, so \
            queueing behind a saturated server shows (coordinated omission corrected, as wrk2 does). Same pinning and \
            connections; one run per point.\n");
        let _ = writeln!(o, "| offered req/s | of HAProxy's max | setup | answered req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors |");
        let _ = writeln!(o, "|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        for p in &res.latency_vs_load {
            let _ = writeln!(
                o,
                "| {} | {:.0} % | {} | {} | {} | {} | {} | {} | {} |",
                thousands(p.offered_rps),
                p.fraction * 100.0,
                name(&p.setup),
                thousands(p.rps),
                ms(p.p50_us),
                ms(p.p90_us),
                ms(p.p99_us),
                ms(p.p999_us),
                p.errors
            );
        }
        let _ = writeln!(
            o,
            "\n![Latency against offered load]({svg_dir}/latency-vs-load.svg)\n"
        );
    }
    if !res.scaling.is_empty() {
        let _ = writeln!(o, "### Cores: one worker against one per core\n");
        let _ = writeln!(o, "Rampart with the default pack (monitor-mode behaviour overlay), `workers = 1` against \
            `workers = \"auto\"` (one per core: {} here), the kit's GET; nothing pinned by taskset (each worker pins \
            itself to a core), the backend allowed on every CPU. On this {}-CPU machine the load generator and the \
            backend share the cores with the workers, so this shows what more workers buy when the cores are already \
            shared, not linear scaling.\n", m.cpus, m.cpus);
        scaling_table(&res.scaling, &mut o);
        let _ = writeln!(o);
    }
    if let Some(mr) = &res.matcher {
        let _ = writeln!(o, "### Matcher, one core\n");
        let _ = writeln!(
            o,
            "`{}` (signatures: {}), pinned to the server CPU with no server running:\n",
            mr.command, mr.signatures
        );
        let _ = writeln!(
            o,
            "| engine | GB/s per core | ns/request |\n|---|---:|---:|"
        );
        for e in &mr.engines {
            let _ = writeln!(
                o,
                "| {} | {:.3} | {} |",
                e.name,
                e.gbps,
                thousands(e.ns_per_request)
            );
        }
        let _ = writeln!(
            o,
            "\n`Matcher::compile` median {}; from a warm cache {}; allocations per scanned request {}.\n",
            mr.compile_ms.map(|v| format!("{v:.0} ms")).unwrap_or_else(|| "—".into()),
            mr.cached_ms.map(|v| format!("{v:.1} ms")).unwrap_or_else(|| "—".into()),
            mr.allocations_per_request.map(|v| format!("{v:.3}")).unwrap_or_else(|| "—".into()),
        );
    }
    if !res.instr.is_empty() {
        let _ = writeln!(o, "### Instructions per request\n");
        let _ = writeln!(o, "User-space instructions per request (callgrind through the kit's `instr.sh`: a short and a \
            long session under valgrind, the difference in instructions over the difference in requests; kernel work \
            excluded for everyone). The default pack is not run under valgrind here (compiling it there takes minutes); \
            `perf/examples/pack_judge.rs` counts what judging adds (section \"Inspection cost with the default pack\").\n");
        let _ = writeln!(
            o,
            "| setup | load | requests short/long | Ir/request |\n|---|---|---:|---:|"
        );
        for i in &res.instr {
            let _ = writeln!(
                o,
                "| {} | {} | {}/{} | {} |",
                name(&i.setup),
                i.load,
                i.requests.0,
                i.requests.1,
                i.ir_per_request
                    .map(thousands)
                    .unwrap_or_else(|| "n/a".into())
            );
        }
        let _ = writeln!(o);
    }
    if !res.example_config.is_empty() {
        let _ = writeln!(o, "<details><summary>Config of the default-pack instance (RP)</summary>\n\n```toml\n{}```\n\n</details>\n", res.example_config);
    }
    let _ = writeln!(
        o,
        "Loads: {}.\n",
        loads::LOADS
            .iter()
            .map(|l| format!("*{}* — {}", l.id, l.title))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if !res.notes.is_empty() || !res.health.is_empty() {
        let _ = writeln!(o, "Notes from the run:\n");
        for n in res.notes.iter().chain(&res.health) {
            let _ = writeln!(o, "- {n}");
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "{END}");
    o
}

/// The load IDs as titles, for the plots' legends.
pub fn title_of(load: &str) -> String {
    load_title(load).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::instr::InstrRow;
    use crate::compare::stats::{rows, tests::sample};

    #[test]
    fn numbers() {
        assert_eq!(thousands(39722.4), "39,722");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(ratio(Some(0.00113)), "0.0011");
        assert_eq!(ratio(Some(1.234)), "1.23");
        assert_eq!(ratio(None), "—");
        assert_eq!(ms(1234.0), "1.23");
        assert_eq!(ms(225_083.0), "225");
    }

    #[test]
    fn section_replacement() {
        let s = format!("{BEGIN}\nnew\n{END}\n");
        let doc = "# B\n\n## Old\ntext\n";
        let appended = replace_section(doc, &s).unwrap();
        assert_eq!(
            appended,
            format!("# B\n\n## Old\ntext\n\n{BEGIN}\nnew\n{END}\n")
        );
        // Replacing again keeps everything around the section.
        let doc2 = appended.replace("new", "old stuff\nmore") + "\n## After\nkept\n";
        let replaced = replace_section(&doc2, &s).unwrap();
        assert!(replaced.starts_with("# B\n\n## Old\ntext\n\n"));
        assert!(replaced.contains(&format!("{BEGIN}\nnew\n{END}")));
        assert!(!replaced.contains("old stuff"));
        assert!(replaced.ends_with("## After\nkept\n"));
        // Idempotent.
        assert_eq!(replace_section(&replaced, &s).unwrap(), replaced);
        // Broken markers are refused.
        assert!(replace_section(&format!("x {BEGIN} y"), &s).is_err());
        assert!(replace_section(&format!("{END} x {BEGIN}"), &s).is_err());
        assert!(replace_section(&format!("{BEGIN} {BEGIN} {END}"), &s).is_err());
    }

    #[test]
    fn the_section_has_every_table() {
        let samples = vec![
            sample("B", "get", 1, 40_000.0, 1500),
            sample("RP", "get", 1, 36_000.0, 1700),
            sample("D", "get", 1, 1_100.0, 50_000),
        ];
        let order = [("get", "B"), ("get", "RP"), ("get", "D")];
        let mut res = Results {
            rows: rows(&samples, &order, |_| "B"),
            ..Results::default()
        };
        res.meta.mode = "short".into();
        res.meta.command = "perf/run".into();
        res.instr.push(InstrRow {
            setup: "B".into(),
            load: "get".into(),
            requests: (1, 2),
            ir_per_request: Some(29028.0),
        });
        res.notes.push("something odd".into());
        let s = section(&res, "bench");
        assert!(s.starts_with(BEGIN) && s.trim_end().ends_with(END));
        assert!(
            s.contains("| get | B HAProxy | 40,000 | 40,000..40,000 | 1.00 |"),
            "{s}"
        );
        assert!(s.contains("| get | **Rampart, default pack** | 36,000 | 36,000..36,000 | 0.90 |"));
        assert!(
            s.contains("| 0.0275 |"),
            "ModSecurity's ratio keeps its digits"
        );
        assert!(s.contains("| 29,028 |"));
        assert!(s.contains("![Throughput per setup](bench/throughput.svg)"));
        assert!(s.contains("- something odd"));
        assert!(!s.contains("### Cores"), "no empty sections");
        // Every table's rows have as many cells as its header.
        let mut cols = None;
        for line in s.lines() {
            if line.starts_with('|') {
                let n = line.matches('|').count();
                assert_eq!(*cols.get_or_insert(n), n, "{line}");
            } else {
                cols = None;
            }
        }
    }
}
