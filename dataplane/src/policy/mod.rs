//! Policy on the dataplane: which packs to load ([`PolicyConfig`]), the per-core
//! kit that judges requests ([`CoreKit`]), and the hub thread that loads,
//! reloads and publishes policies to the cores ([`hub`]).
//!
//! The cores never load or compile anything: the hub does it on its own
//! thread, builds one kit per core (scanner scratch and buffers included) and
//! hands each core its kit through a bounded channel, waking it with an
//! eventfd. A core switches between two requests, so every request is judged
//! by exactly one policy, and old kits go back to the hub to be freed.

pub mod hub;
pub mod intel;
mod kit;
pub mod metrics;

use std::path::PathBuf;

pub use intel::IntelConfig;
pub use kit::{Behave, BodyScan, CoreKit, Peer, ResponseVerdict};

/// Policy settings from the config file or the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Inspect requests at all (`--no-policy` / `enabled = false` turn it off).
    pub enabled: bool,
    /// Pack directories in load order; empty means the embedded default pack.
    /// `default` names the embedded pack explicitly (to layer packs over it).
    pub packs: Vec<PathBuf>,
    /// The local overlay file.
    pub overlay: Option<PathBuf>,
    /// Where compiled signature databases are cached between restarts.
    pub cache_dir: Option<PathBuf>,
    /// Reload when a pack file or the overlay changes.
    pub watch: bool,
    /// Global dry run (`mode = "monitor"`, `--monitor`): every verdict is
    /// computed and counted, nothing is changed (no block, no tag headers,
    /// no escalation, no deception).
    pub monitor: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            enabled: true,
            packs: Vec::new(),
            overlay: None,
            cache_dir: None,
            watch: true,
            monitor: false,
        }
    }
}

impl PolicyConfig {
    /// Inspection off.
    pub fn disabled() -> PolicyConfig {
        PolicyConfig {
            enabled: false,
            ..PolicyConfig::default()
        }
    }

    /// What the loader should read.
    pub fn load_options(&self) -> rampart_policy_loader::LoadOptions {
        use rampart_policy_loader::PackSource;
        let packs = if self.packs.is_empty() {
            vec![PackSource::EmbeddedDefault]
        } else {
            self.packs
                .iter()
                .map(|p| {
                    if p.as_os_str() == "default" {
                        PackSource::EmbeddedDefault
                    } else {
                        PackSource::Dir(p.clone())
                    }
                })
                .collect()
        };
        rampart_policy_loader::LoadOptions {
            packs,
            overlay: self.overlay.clone(),
            cache_dir: self.cache_dir.clone(),
            ..Default::default()
        }
    }
}
