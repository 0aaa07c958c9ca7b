//! Shared helpers for the policy-loader integration tests: real pack
//! directories written into a temporary directory from string literals.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_policy_loader::{
    load, CompiledPolicy, DryFacts, DryRun, DryRunner, LoadErrors, LoadOptions, Loaded, PackSource,
    RawRequest,
};

/// Strips a leading newline and the indentation common to every non-blank
/// line, so pack files can be written as indented literals in the tests and
/// still start at line 1, column 1.
pub fn dedent(s: &str) -> String {
    let s = s.strip_prefix('\n').unwrap_or(s);
    let indent = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for l in s.lines() {
        out.push_str(if l.len() >= indent { &l[indent..] } else { "" });
        out.push('\n');
    }
    out
}

/// A temporary directory holding packs and overlays.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `rel` (relative to the root) with dedented `text`.
    pub fn file(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, dedent(text)).expect("write");
        p
    }

    /// Writes a pack directory `name` with `files` (relative path, text).
    /// Unless given, `pack.toml` (name, version 1.0.0) and
    /// `responses/block.json` are added.
    pub fn pack(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.root().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        if !files.iter().any(|(f, _)| *f == "pack.toml") {
            self.file(
                &format!("{name}/pack.toml"),
                &format!("name = \"{name}\"\nversion = \"1.0.0\"\n"),
            );
        }
        if !files.iter().any(|(f, _)| *f == "responses/block.json") {
            self.file(
                &format!("{name}/responses/block.json"),
                r#"{"error":"blocked","event_id":"{{event_id}}"}"#,
            );
        }
        for (rel, text) in files {
            self.file(&format!("{name}/{rel}"), text);
        }
        dir
    }

    /// Loads packs (directory names under the root, in order) and an overlay
    /// (a file name under the root).
    pub fn load(&self, packs: &[&str], overlay: Option<&str>) -> Result<Loaded, LoadErrors> {
        load(&LoadOptions {
            packs: packs
                .iter()
                .map(|p| PackSource::Dir(self.root().join(p)))
                .collect(),
            overlay: overlay.map(|o| self.root().join(o)),
            cache_dir: None,
            intel_lists: Vec::new(),
        })
    }

    /// Loads packs with intel list directories (names under the root).
    pub fn load_intel(&self, packs: &[&str], intel: &[&str]) -> Result<Loaded, LoadErrors> {
        load(&LoadOptions {
            packs: packs
                .iter()
                .map(|p| PackSource::Dir(self.root().join(p)))
                .collect(),
            intel_lists: intel.iter().map(|d| self.root().join(d)).collect(),
            ..LoadOptions::default()
        })
    }

    /// Loads with intel directories and expects failure (paths relative to the root).
    pub fn intel_errors(&self, packs: &[&str], intel: &[&str]) -> Vec<String> {
        match self.load_intel(packs, intel) {
            Ok(_) => panic!("expected load errors, but the packs loaded"),
            Err(e) => e.0.iter().map(|d| self.normalise(&d.to_string())).collect(),
        }
    }

    /// Loads and expects success.
    pub fn policy(&self, packs: &[&str], overlay: Option<&str>) -> Arc<CompiledPolicy> {
        match self.load(packs, overlay) {
            Ok(l) => l.policy,
            Err(e) => panic!("expected the packs to load:\n{e}"),
        }
    }

    /// Removes the temporary root from a diagnostic line.
    pub fn normalise(&self, line: &str) -> String {
        let root = format!("{}/", self.root().display());
        line.replace(&root, "")
    }

    /// Loads and expects failure: every diagnostic's Display, with paths
    /// relative to the root.
    pub fn errors(&self, packs: &[&str], overlay: Option<&str>) -> Vec<String> {
        match self.load(packs, overlay) {
            Ok(_) => panic!("expected load errors, but the packs loaded"),
            Err(e) => e.0.iter().map(|d| self.normalise(&d.to_string())).collect(),
        }
    }
}

/// Compares lines; on a mismatch prints the actual ones as Rust literals.
#[track_caller]
pub fn assert_lines(actual: &[String], expected: &[&str]) {
    if actual != expected {
        let mut s = String::new();
        for l in actual {
            s.push_str(&format!("        {l:?},\n"));
        }
        panic!(
            "lines differ\n--- expected ---\n{}\n--- actual (as literals) ---\n{s}",
            expected.join("\n")
        );
    }
}

/// Parses a raw request written as an indented literal.
pub fn request(text: &str) -> RawRequest {
    RawRequest::parse(dedent(text).as_bytes()).expect("request parses")
}

/// A dry runner's result for one request.
pub fn run(policy: &CompiledPolicy, req: &RawRequest, facts: &DryFacts, dry_run: bool) -> DryRun {
    let mut r = DryRunner::new(policy).expect("runner");
    r.run(req, facts, dry_run).expect("run")
}

/// Ids of the policies that matched, in evaluation order, with `(monitor)`
/// after those that only matched in monitor (or off, in a dry run) mode.
pub fn hits(policy: &CompiledPolicy, run: &DryRun) -> Vec<String> {
    run.verdict
        .hits
        .iter()
        .map(|h| {
            let id = &policy.policies[h.policy].id;
            if h.monitor {
                format!("{id}(monitor)")
            } else {
                id.clone()
            }
        })
        .collect()
}

/// The id of the deciding policy, if any.
pub fn decision(policy: &CompiledPolicy, run: &DryRun) -> Option<String> {
    run.verdict.decision.map(|i| policy.policies[i].id.clone())
}
