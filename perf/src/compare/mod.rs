//! `rampart-bench compare`: the one-command benchmark of Rampart against its
//! peers (work in progress).

use clap::Args;

/// `rampart-bench compare [OPTIONS]`
#[derive(Args, Clone, Debug)]
pub struct CompareArgs {}

/// Runs the comparison.
pub fn run(_args: &CompareArgs) -> anyhow::Result<()> {
    anyhow::bail!("compare is not implemented yet")
}
