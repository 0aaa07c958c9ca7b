//! `rampart-bench`: Rampart's load generator (`run`) and the one-command
//! benchmark against the peers (`compare`). See perf/README.md.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rampart_perf::{compare, loadgen};

#[derive(Parser)]
#[command(
    name = "rampart-bench",
    version,
    about = "Rampart's load generator and peer benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send load to one target and report throughput, latency, statuses and errors.
    Run(Box<loadgen::RunArgs>),
    /// Benchmark Rampart against the peers (nginx, HAProxy, ModSecurity) and write the report.
    Compare(compare::CompareArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => loadgen::main(args),
        Command::Compare(args) => compare::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
