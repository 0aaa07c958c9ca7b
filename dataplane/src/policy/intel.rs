//! External threat-intelligence list directories (`[intel] lists`): their
//! list files load beside the packs' lists on the hub thread, reload with
//! the packs, and every load reports each list's entries and load time in
//! the log and as metrics.

use std::path::PathBuf;

use metrics::{describe_gauge, Unit};
use rampart_policy_loader::{CompiledPolicy, ListStats};

/// Entries per list: `rampart_list_entries{list}`.
pub const LIST_ENTRIES: &str = "rampart_list_entries";
/// Seconds the last load of a list took: `rampart_list_load_seconds{list}`.
pub const LIST_LOAD_SECONDS: &str = "rampart_list_load_seconds";

/// The `[intel]` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntelConfig {
    /// Directories of list files (`.cidr`, `.sha1`, `.sha1pair`, `.hfp`, …),
    /// loaded like a pack's `lists/` and referred to by file stem.
    pub lists: Vec<PathBuf>,
}

impl IntelConfig {
    /// `opts` with these directories added.
    pub fn apply(
        &self,
        mut opts: rampart_policy_loader::LoadOptions,
    ) -> rampart_policy_loader::LoadOptions {
        opts.intel_lists.clone_from(&self.lists);
        opts
    }
}

/// HELP/TYPE text for the list metrics.
pub fn describe_metrics() {
    describe_gauge!(
        LIST_ENTRIES,
        "Entries of each loaded list (pack lists and intel directories), by list name."
    );
    describe_gauge!(
        LIST_LOAD_SECONDS,
        Unit::Seconds,
        "Time the last load took to parse and build each list, by list name."
    );
}

/// Logs and publishes the lists of a policy now serving. Lists the previous
/// policy had and this one lacks are set to 0 entries (a gauge cannot be
/// withdrawn from the registry).
pub fn report(new: &CompiledPolicy, old: Option<&CompiledPolicy>) {
    for l in &new.stats.lists {
        tracing::info!(
            list = %l.name,
            kind = l.kind.as_str(),
            source = %l.source,
            external = l.external,
            entries = l.entries,
            bytes = l.bytes,
            ms = l.load_time.as_secs_f64() * 1e3,
            "list loaded"
        );
        metrics::gauge!(LIST_ENTRIES, "list" => l.name.clone()).set(l.entries as f64);
        metrics::gauge!(LIST_LOAD_SECONDS, "list" => l.name.clone()).set(l.load_time.as_secs_f64());
    }
    if let Some(old) = old {
        for l in &old.stats.lists {
            if !new.stats.lists.iter().any(|n| n.name == l.name) {
                metrics::gauge!(LIST_ENTRIES, "list" => l.name.clone()).set(0.0);
            }
        }
    }
}

/// Lists as JSON for the admin API and reload records.
pub fn lists_json(lists: &[ListStats]) -> serde_json::Value {
    lists
        .iter()
        .map(|l| {
            serde_json::json!({
                "name": l.name,
                "kind": l.kind.as_str(),
                "source": l.source,
                "external": l.external,
                "entries": l.entries,
                "bytes": l.bytes,
                "load_ms": l.load_time.as_secs_f64() * 1e3,
            })
        })
        .collect()
}
