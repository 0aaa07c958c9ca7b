//! The compiled, immutable policy every core shares, and what changed between two.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use rampart_matcher::Matcher;

use crate::gate::Gates;
use crate::lists::List;
use crate::model::{Cond, PackInfo, Policy, SignatureInfo};
use crate::parse::Template;
use crate::source::PackFiles;

/// Facts about a load, for logs, `/admin/policy` and the tools.
#[derive(Clone, Debug)]
pub struct LoadStats {
    /// Policies loaded.
    pub policies: usize,
    /// Of which in enforce mode.
    pub enforce: usize,
    /// Of which in monitor mode.
    pub monitor: usize,
    /// Signatures compiled.
    pub signatures: usize,
    /// Signatures compiled in prefilter mode.
    pub prefiltered: Vec<String>,
    /// Hyperscan databases built.
    pub databases: usize,
    /// Databases came from the cache.
    pub from_cache: bool,
    /// Every list (packs' and intel directories'), in load order.
    pub lists: Vec<crate::lists::ListStats>,
    /// Timed client blocks from the overlay in force, and when the next lifts.
    pub client_blocks: crate::client_block::Blocks,
    /// Wall time of the whole load.
    pub elapsed: Duration,
}

/// Policies added, removed and changed between two loads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Ids only in the new policy.
    pub added: Vec<String>,
    /// Ids only in the old policy.
    pub removed: Vec<String>,
    /// Ids in both whose definition (condition, action, mode, …) differs.
    pub changed: Vec<String>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Everything loaded from the packs, compiled. Immutable: a reload builds a new one.
#[derive(Debug)]
pub struct CompiledPolicy {
    /// Loaded packs, in order.
    pub packs: Vec<PackInfo>,
    /// Policies in evaluation order.
    pub policies: Vec<Policy>,
    /// Signatures, indexed like the matcher's.
    pub signatures: Vec<SignatureInfo>,
    /// Lists.
    pub lists: Vec<List>,
    /// Response templates.
    pub templates: Vec<Template>,
    /// The compiled signatures.
    pub matcher: Matcher,
    /// Load facts.
    pub stats: LoadStats,
    version: String,
    fingerprints: HashMap<String, u64>,
    /// Per policy: a verdict it decides on the head alone is final.
    head_final: Vec<bool>,
    gates: Gates,
    /// Indices of the response-phase policies, in evaluation order: a
    /// response is judged by these few, without walking every request
    /// policy to skip it.
    response_policies: Vec<usize>,
}

impl CompiledPolicy {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        packs: Vec<PackInfo>,
        policies: Vec<Policy>,
        signatures: Vec<SignatureInfo>,
        lists: Vec<List>,
        templates: Vec<Template>,
        matcher: Matcher,
        files: &[PackFiles],
        stats: LoadStats,
    ) -> CompiledPolicy {
        let mut sha = sha1_smol::Sha1::new();
        for f in files {
            for (name, bytes) in &f.files {
                sha.update(name.as_bytes());
                sha.update(&(bytes.len() as u64).to_le_bytes());
                sha.update(bytes);
            }
        }
        for l in lists.iter().filter(|l| l.pack == List::EXTERNAL) {
            sha.update(l.source.as_bytes());
            sha.update(&l.content_hash.to_le_bytes());
        }
        let digest = sha.digest().to_string();
        let names: Vec<String> = packs
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect();
        let version = format!("{} ({})", names.join("+"), &digest[..12]);
        let fingerprints = policies
            .iter()
            .map(|p| (p.id.clone(), fingerprint(p, &signatures)))
            .collect();
        let head_final = crate::head_only::decided_by_head(&policies, &signatures);
        let gates = Gates::of(&policies, signatures.len());
        let response_policies = (0..policies.len())
            .filter(|&i| policies[i].phase == crate::PolicyPhase::Response)
            .collect();
        CompiledPolicy {
            head_final,
            gates,
            response_policies,
            packs,
            policies,
            signatures,
            lists,
            templates,
            matcher,
            stats,
            version,
            fingerprints,
        }
    }

    /// Which policies can hold given the matched signatures.
    pub(crate) fn gates(&self) -> &Gates {
        &self.gates
    }

    /// The response-phase policies' indices, in evaluation order.
    pub(crate) fn response_policies(&self) -> &[usize] {
        &self.response_policies
    }

    /// `pack@version+… (content hash)`: changes whenever any pack file changes.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The policy called `id`, with its index in evaluation order.
    pub fn policy(&self, id: &str) -> Option<(usize, &Policy)> {
        self.policies.iter().enumerate().find(|(_, p)| p.id == id)
    }

    /// Whether a verdict decided by policy `i` from the request head alone
    /// (no body yet) is final: no enforce policy evaluated up to it can see
    /// the body, so reading the body could not change the answer.
    pub fn decided_by_head(&self, i: usize) -> bool {
        self.head_final.get(i).copied().unwrap_or(false)
    }

    /// The template called `name`.
    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.name == name)
    }

    /// What differs from an older policy.
    pub fn changes_since(&self, old: &CompiledPolicy) -> Changes {
        let mut c = Changes::default();
        for p in &self.policies {
            match old.fingerprints.get(&p.id) {
                None => c.added.push(p.id.clone()),
                Some(f) if *f != self.fingerprints[&p.id] => c.changed.push(p.id.clone()),
                Some(_) => {}
            }
        }
        for p in &old.policies {
            if !self.fingerprints.contains_key(&p.id) {
                c.removed.push(p.id.clone());
            }
        }
        c.added.sort();
        c.removed.sort();
        c.changed.sort();
        c
    }
}

/// Hash of what a policy does (not where it is written or its examples),
/// including the definitions of the signatures its condition uses.
fn fingerprint(p: &Policy, signatures: &[SignatureInfo]) -> u64 {
    let mut h = DefaultHasher::new();
    let mut used = Vec::new();
    used_signatures(&p.condition, &mut used);
    used.sort_unstable();
    used.dedup();
    for i in used {
        if let Some(info) = signatures.get(i as usize) {
            let mut sig = info.signature.clone();
            sig.origin = None;
            sig.hash(&mut h);
        }
    }
    let exclusions: Vec<String> = p
        .exclusions
        .iter()
        .map(|e| {
            let paths: Vec<&str> = e.paths.iter().map(|g| g.as_str()).collect();
            format!("{paths:?}{:?}{:?}{:?}", e.methods, e.clients, e.field)
        })
        .collect();
    (
        crate::describe::condition(&p.condition),
        crate::describe::action(&p.action),
        p.mode.as_str(),
        p.priority,
        p.score,
        exclusions,
        p.severity,
        &p.tags,
        &p.name,
    )
        .hash(&mut h);
    h.finish()
}

fn used_signatures(c: &Cond, out: &mut Vec<u32>) {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| used_signatures(c, out)),
        Cond::Not(c) => used_signatures(c, out),
        Cond::Signature { resolved, .. } | Cond::SignatureTag { resolved, .. } => {
            out.extend_from_slice(resolved)
        }
        _ => {}
    }
}
