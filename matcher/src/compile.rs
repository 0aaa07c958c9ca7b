//! Turning a signature set into the immutable [`Matcher`] every core shares.
//!
//! Signatures are grouped by transform chain: a request's fields go through
//! each chain once and are scanned once per group, whatever the number of
//! signatures. Each group has up to two databases:
//!
//! - `joined`: regex signatures, compiled with `^`/`$` in line mode, and
//!   literal and literal-list signatures (escaped, as regexes), scanned over
//!   all of the group's fields joined by `\n` in one call (one call rather
//!   than a second one with Hyperscan's literal API: the literals then cost
//!   neither a call's fixed work nor a second pass over the bytes);
//! - `per_field`: signatures whose meaning depends on field edges (anchors,
//!   `\A`/`\z`), with their original flags, scanned field by field only where
//!   the joined scan could be wrong.
//!
//! Patterns Hyperscan cannot compile exactly are compiled in prefilter mode
//! and confirmed with `fancy-regex` on the candidate field.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analyze;
use crate::engine::{Database, Mode, PatternSpec};
use crate::error::{CompileError, CompileErrors, Problem};
use crate::signature::{Origin, Pattern, Signature};
use crate::{FieldKind, FieldSet, Transform};

use hyperscan_sys as hs;

/// Compiled facts about one signature.
#[derive(Debug)]
pub(crate) struct SigMeta {
    pub id: String,
    /// Kinds targeted without a name filter.
    pub any_name: FieldSet,
    /// (kind, lowercase name) targets.
    pub named: Vec<(FieldKind, Vec<u8>)>,
    pub min_width: u32,
    pub max_width: Option<u32>,
    /// Hyperscan matches a superset; every candidate is confirmed.
    pub prefilter: bool,
    /// `fancy-regex` source used to confirm a prefiltered match.
    pub confirm: Option<String>,
    /// `regex` source used to find the start of a match (start_of_match signatures).
    pub locate: Option<String>,
    /// Scanned per field (edge assertions), never in the joined buffer.
    pub edge: bool,
    /// Uses `^`/`$` without multiline: per field where the field has a newline.
    pub anchored: bool,
    pub group: u16,
    /// Matched with the literal database (literal or literal list).
    pub literal: bool,
    /// Index of the stream group, when body streaming covers it.
    pub stream_group: Option<u16>,
    /// It could match a value made only of number bytes (see `numeric`).
    pub numeric: bool,
}

impl SigMeta {
    /// Whether the signature looks at the field `(kind, name)`.
    pub fn targets(&self, kind: FieldKind, name: &[u8]) -> bool {
        self.any_name.contains(kind)
            || self
                .named
                .iter()
                .any(|(k, n)| *k == kind && n.eq_ignore_ascii_case(name))
    }

    /// Whether the signature looks at any field of `kind`.
    pub fn targets_kind(&self, kind: FieldKind) -> bool {
        self.any_name.contains(kind) || self.named.iter().any(|(k, _)| *k == kind)
    }
}

/// One transform chain's databases.
#[derive(Debug)]
pub(crate) struct Group {
    pub chain: Vec<Transform>,
    pub kinds: FieldSet,
    pub joined: Option<Database>,
    /// Not built any more (the literals are in `joined`); kept `None`.
    pub literals: Option<Database>,
    pub per_field: Option<Database>,
    /// The per-field database has edge-assertion signatures: scan every field with it.
    pub has_edge: bool,
    /// The per-field database has anchored signatures: scan fields that contain a newline with it.
    pub has_anchored: bool,
    /// Per field kind: `None` when some member wants every field of that
    /// kind, else the only (lowercase) names any member wants. A SAML-only
    /// base64 chain then decodes the `SAMLResponse` argument, not every one.
    pub names: Vec<Option<Vec<Vec<u8>>>>,
}

/// Groups whose chains cannot change a plain value, or can only lowercase
/// it: their signatures are also compiled into one merged database per class.
///
/// Why: the default pack has seven chains for a JSON value, so every value
/// was copied into seven buffers and scanned seven times, although for almost
/// every benign value all seven chains leave it as it is (nothing to decode)
/// or only lowercase it. A value that no member chain can change beyond case
/// is scanned once as it is and once lowercased, with the merged databases,
/// instead of once per chain; any other value takes the per-chain path. The
/// matches are the same: each merged signature still sees exactly the bytes
/// its own chain would have produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MergeClass {
    /// The members' chains contain `Lowercase` (the value is lowercased first).
    pub lower: bool,
    /// Serves the kinds a request has one value of (method, target, path).
    pub single: bool,
    /// Member group indexes (all below 64, so a kind's members fit a `u64`).
    pub groups: Vec<usize>,
    /// The field kinds it serves.
    pub kinds: FieldSet,
    /// The twin for number values: only the members' signatures that could
    /// match a value made of number bytes (see `crate::numeric`) and look at
    /// every name of the kind. (A number whose field name such a signature
    /// names takes the full merged groups instead.)
    pub numeric: bool,
}

/// How one field kind uses the merged groups.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KindMerge {
    /// Merged group fed a plain value as it is.
    pub raw: Option<u16>,
    /// Merged group fed a plain value lowercased.
    pub lower: Option<u16>,
    /// Merged groups fed a plain number value (as it is, lowercased) in
    /// place of `raw` and `lower`; `None`: nothing there can match a number.
    pub num_raw: Option<u16>,
    pub num_lower: Option<u16>,
    /// Shortest match of any signature in those two: a shorter number is
    /// scanned by neither (`u32::MAX` when they are empty).
    pub num_min: u32,
    /// The kind's groups the merged ones stand in for (bit per group index).
    pub members: u64,
    /// [`crate::transform::Features`] bits that make a member chain change a
    /// value beyond its case (or report a NUL): such a value is not plain.
    pub blocking: u16,
}

/// The merge classes of a signature set: per field kind, the kind's groups
/// whose chains never lowercase, and those that do, each set merged only if
/// it has two groups or more (one group's own database is as good). Kinds
/// with the same member set share one merged group; a merged group holds
/// exactly its members' signatures, so a kind never scans signatures it
/// would not have scanned anyway.
pub(crate) fn merge_classes(metas: &[SigMeta], chains: &[Vec<Transform>]) -> Vec<MergeClass> {
    let mut classes: Vec<MergeClass> = Vec::new();
    // A request has one method, target and path. Their chains are merged too
    // (a plain path was scanned once per chain, each call costing more than
    // the few bytes it reads), but never into a group that also serves the
    // kinds with many values: their signatures (a newline in the path, say)
    // would fire on every field separator there.
    let single = [FieldKind::Method, FieldKind::Target, FieldKind::Path];
    for kind in FieldKind::ALL {
        let one = single.contains(&kind);
        let mut in_kind: Vec<usize> = metas
            .iter()
            .filter(|m| m.targets_kind(kind))
            .map(|m| m.group as usize)
            .collect();
        in_kind.sort_unstable();
        in_kind.dedup();
        for lower in [false, true] {
            let groups: Vec<usize> = in_kind
                .iter()
                .copied()
                .filter(|&g| {
                    let chain = &chains[g];
                    // A step that may change any value (base64) leaves
                    // nothing plain.
                    g < 64
                        && chain.contains(&Transform::Lowercase) == lower
                        && chain
                            .iter()
                            .all(|&t| crate::transform::Features::need(t) != u16::MAX)
                })
                .collect();
            if groups.len() < 2 {
                continue;
            }
            match classes
                .iter_mut()
                .find(|c| c.lower == lower && c.single == one && c.groups == groups)
            {
                Some(c) => c.kinds.insert(kind),
                None => {
                    let mut kinds = FieldSet::default();
                    kinds.insert(kind);
                    classes.push(MergeClass {
                        lower,
                        single: one,
                        groups,
                        kinds,
                        numeric: false,
                    });
                }
            }
        }
    }
    // Each class's twin for number values, when some member could match one.
    let twins: Vec<MergeClass> = classes
        .iter()
        .filter(|c| {
            metas.iter().any(|m| {
                m.numeric
                    && c.groups.contains(&(m.group as usize))
                    && c.kinds.iter().any(|k| m.any_name.contains(k))
            })
        })
        .map(|c| MergeClass {
            numeric: true,
            ..c.clone()
        })
        .collect();
    classes.extend(twins);
    classes
}

/// Signature indexes of every group, then of every merged group.
pub(crate) fn group_members(
    metas: &[SigMeta],
    chains: usize,
    merges: &[MergeClass],
) -> Vec<Vec<usize>> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); chains];
    for (i, m) in metas.iter().enumerate() {
        members[m.group as usize].push(i);
    }
    for class in merges {
        // Only the signatures that look at a kind the merged group serves.
        let mut all: Vec<usize> = class
            .groups
            .iter()
            .flat_map(|&g| members[g].iter().copied())
            .filter(|&i| class.kinds.iter().any(|k| metas[i].targets_kind(k)))
            .filter(|&i| {
                !class.numeric
                    || (metas[i].numeric
                        && class.kinds.iter().any(|k| metas[i].any_name.contains(k)))
            })
            .collect();
        all.sort_unstable();
        members.push(all);
    }
    members
}

/// A small set of lowercase field names, asked once per number field: a
/// 256-bit filter on (length, first and last letter) answers most misses
/// without comparing names (the default pack names ~50 for JSON values).
#[derive(Debug, Clone, Default)]
pub(crate) struct NameSet {
    filter: [u64; 4],
    names: Vec<Vec<u8>>,
}

impl NameSet {
    fn slot(name: &[u8]) -> usize {
        let (Some(f), Some(l)) = (name.first(), name.last()) else {
            return 0;
        };
        let h = (name.len() as u32)
            .wrapping_mul(31)
            .wrapping_add(u32::from(f.to_ascii_lowercase()))
            .wrapping_mul(31)
            .wrapping_add(u32::from(l.to_ascii_lowercase()));
        (h.wrapping_mul(0x9e37_79b9) >> 24) as usize
    }

    fn insert(&mut self, lower: &[u8]) {
        if !self.names.iter().any(|n| n == lower) {
            let s = NameSet::slot(lower);
            self.filter[s / 64] |= 1 << (s % 64);
            self.names.push(lower.to_vec());
        }
    }

    /// Whether `name` is in the set, ignoring ASCII case.
    pub(crate) fn contains(&self, name: &[u8]) -> bool {
        let s = NameSet::slot(name);
        self.filter[s / 64] & (1 << (s % 64)) != 0
            && self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// Body signatures whose chain works byte by byte, scanned as a stream over the whole body.
#[derive(Debug)]
pub(crate) struct StreamGroup {
    pub chain: Vec<Transform>,
    /// `None` when every member ended up prefiltered (streams cannot confirm).
    pub db: Option<Arc<Database>>,
}

/// What compilation did, for the load log and `rampart check`.
#[derive(Debug, Clone, Default)]
pub struct CompileReport {
    /// Signatures compiled.
    pub signatures: usize,
    /// Transform-chain groups (one scan each per request).
    pub groups: usize,
    /// Hyperscan databases built.
    pub databases: usize,
    /// Bytes of compiled databases.
    pub database_bytes: usize,
    /// Ids of signatures compiled in prefilter mode (confirmed with `fancy-regex`).
    pub prefiltered: Vec<String>,
    /// Ids of body signatures not covered beyond the inspection buffer
    /// (their transforms need the whole value, or they are prefiltered).
    pub not_streamed: Vec<String>,
    /// Loaded from the compiled-database cache instead of compiled.
    pub from_cache: bool,
    /// Wall time spent.
    pub elapsed: Duration,
}

pub(crate) struct Compiled {
    pub sigs: Vec<SigMeta>,
    pub groups: Vec<Group>,
    pub streams: Vec<StreamGroup>,
    /// Groups to feed for each field kind.
    pub kind_groups: [Vec<u16>; FieldKind::ALL.len()],
    /// Per field kind, the merged groups that stand in for several of its
    /// groups when a value is plain (see [`KindMerge`]).
    pub kind_merge: [KindMerge; FieldKind::ALL.len()],
    /// Per field kind, its groups that no merged group stands in for: what
    /// a plain value still goes to besides the merged groups.
    pub kind_unmerged: [Vec<u16>; FieldKind::ALL.len()],
    /// Per field kind, the (lowercase) field names that signatures able to
    /// match a number name: a number under one of them takes the full
    /// merged groups, not the number ones.
    pub kind_number_names: [NameSet; FieldKind::ALL.len()],
    /// Longest transform chain + 1 and similar sizing facts for scanners.
    pub report: CompileReport,
}

/// A compiled signature set: immutable, shared read-only by every core.
#[derive(Clone)]
pub struct Matcher {
    pub(crate) inner: Arc<Compiled>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("report", &self.inner.report)
            .finish()
    }
}

fn err(sig: &Signature, problem: Problem) -> CompileError {
    CompileError {
        id: Some(sig.id.clone()),
        origin: sig.origin.clone(),
        problem,
    }
}

pub(crate) fn hs_flags(sig: &Signature) -> u32 {
    let f = sig.flags;
    let mut bits = 0;
    if f.caseless {
        bits |= hs::HS_FLAG_CASELESS;
    }
    if f.dotall {
        bits |= hs::HS_FLAG_DOTALL;
    }
    if f.multiline {
        bits |= hs::HS_FLAG_MULTILINE;
    }
    if f.utf8 {
        bits |= hs::HS_FLAG_UTF8;
    }
    bits
}

/// Per-signature facts that are expensive to compute; cached with the databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Analysis {
    pub min_width: u32,
    pub max_width: Option<u32>,
    pub prefilter: bool,
}

/// Validates every signature, collecting all problems, and analyses the good ones.
pub(crate) fn validate(sigs: &[Signature]) -> Result<Vec<Analysis>, CompileErrors> {
    let mut errors = Vec::new();
    let mut seen: HashMap<&str, Option<&Origin>> = HashMap::new();
    let mut out = Vec::with_capacity(sigs.len());
    if u32::try_from(sigs.len()).is_err() {
        return Err(CompileErrors(vec![CompileError {
            id: None,
            origin: None,
            problem: Problem::TooMany(sigs.len()),
        }]));
    }
    for sig in sigs {
        if let Some(first) = seen.get(sig.id.as_str()) {
            let first = first
                .map(|o| o.to_string())
                .unwrap_or_else(|| "earlier in the set".into());
            errors.push(err(sig, Problem::DuplicateId { first }));
        } else {
            seen.insert(&sig.id, sig.origin.as_ref());
        }
        if sig.targets.is_empty() {
            errors.push(err(sig, Problem::NoTargets));
        }
        match analyse(sig) {
            Ok(a) => out.push(a),
            Err(p) => {
                errors.push(err(sig, p));
                out.push(Analysis {
                    min_width: 0,
                    max_width: None,
                    prefilter: false,
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(CompileErrors(errors))
    }
}

fn analyse(sig: &Signature) -> Result<Analysis, Problem> {
    match &sig.pattern {
        Pattern::Literal(l) => {
            if l.is_empty() {
                return Err(Problem::EmptyPattern);
            }
            let w = u32::try_from(l.len())
                .map_err(|_| Problem::InvalidPattern("literal too long".into()))?;
            Ok(Analysis {
                min_width: w,
                max_width: Some(w),
                prefilter: false,
            })
        }
        Pattern::Literals(list) => {
            if list.is_empty() {
                return Err(Problem::EmptyPattern);
            }
            if list.iter().any(|l| l.is_empty()) {
                return Err(Problem::InvalidPattern(
                    "the list contains an empty entry".into(),
                ));
            }
            let min = list.iter().map(|l| l.len()).min().unwrap_or(0);
            let max = list.iter().map(|l| l.len()).max().unwrap_or(0);
            Ok(Analysis {
                min_width: u32::try_from(min).unwrap_or(u32::MAX),
                max_width: u32::try_from(max).ok(),
                prefilter: false,
            })
        }
        Pattern::Regex(src) => {
            if src.is_empty() {
                return Err(Problem::EmptyPattern);
            }
            let flags = hs_flags(sig);
            let (info, prefilter) = match Database::expression_info(src.as_bytes(), flags) {
                Ok(info) => (info, false),
                Err(exact) => {
                    match Database::expression_info(src.as_bytes(), flags | hs::HS_FLAG_PREFILTER) {
                        Ok(info) => {
                            let confirm = confirm_source(sig, src);
                            if let Err(e) = fancy_regex::Regex::new(&confirm) {
                                return Err(Problem::Unconfirmable {
                                    hyperscan: exact.to_string(),
                                    confirm: e.to_string(),
                                });
                            }
                            (info, true)
                        }
                        Err(_) => return Err(Problem::InvalidPattern(exact.to_string())),
                    }
                }
            };
            if info.min_width == 0 {
                return Err(Problem::MatchesEmpty);
            }
            if sig.flags.start_of_match && !prefilter {
                let locate = analyze::to_rust_regex(
                    src,
                    sig.flags.caseless,
                    sig.flags.dotall,
                    sig.flags.multiline,
                );
                if let Err(e) = regex::bytes::Regex::new(&locate) {
                    if fancy_regex::Regex::new(&locate).is_err() {
                        return Err(Problem::Unlocatable(e.to_string()));
                    }
                }
            }
            Ok(Analysis {
                min_width: info.min_width,
                max_width: info.max_width,
                prefilter,
            })
        }
    }
}

fn confirm_source(sig: &Signature, src: &str) -> String {
    analyze::to_rust_regex(
        src,
        sig.flags.caseless,
        sig.flags.dotall,
        sig.flags.multiline,
    )
}

/// Transforms that work byte by byte, so a body can be transformed piece by piece.
fn streamable_chain(chain: &[Transform]) -> bool {
    chain.iter().all(|t| {
        matches!(
            t,
            Transform::Lowercase | Transform::PlusToSpace | Transform::RemoveNulls
        )
    })
}

/// Builds signature metadata and groups from validated signatures.
pub(crate) fn plan(
    sigs: &[Signature],
    analysis: &[Analysis],
) -> (Vec<SigMeta>, Vec<Vec<Transform>>, Vec<Vec<Transform>>) {
    let mut chains: Vec<Vec<Transform>> = Vec::new();
    let mut stream_chains: Vec<Vec<Transform>> = Vec::new();
    let mut metas = Vec::with_capacity(sigs.len());
    for (sig, a) in sigs.iter().zip(analysis) {
        let group = match chains.iter().position(|c| *c == sig.transforms) {
            Some(g) => g,
            None => {
                chains.push(sig.transforms.clone());
                chains.len() - 1
            }
        };
        let mut any_name = FieldSet::default();
        let mut named = Vec::new();
        for t in &sig.targets {
            match &t.name {
                None => any_name.insert(t.kind),
                Some(n) => named.push((t.kind, n.to_ascii_lowercase().into_bytes())),
            }
        }
        let (syntax, regex_src) = match &sig.pattern {
            Pattern::Regex(src) => (analyze::syntax(src), Some(src.as_str())),
            _ => (analyze::Syntax::default(), None),
        };
        let targets_body =
            any_name.contains(FieldKind::Body) || named.iter().any(|(k, _)| *k == FieldKind::Body);
        let stream_group = if targets_body && !a.prefilter && streamable_chain(&sig.transforms) {
            Some(
                match stream_chains.iter().position(|c| *c == sig.transforms) {
                    Some(g) => g as u16,
                    None => {
                        stream_chains.push(sig.transforms.clone());
                        (stream_chains.len() - 1) as u16
                    }
                },
            )
        } else {
            None
        };
        metas.push(SigMeta {
            id: sig.id.clone(),
            any_name,
            named,
            min_width: a.min_width,
            max_width: a.max_width,
            prefilter: a.prefilter,
            confirm: regex_src
                .filter(|_| a.prefilter)
                .map(|s| confirm_source(sig, s)),
            locate: regex_src
                .filter(|_| sig.flags.start_of_match && !a.prefilter)
                .map(|s| {
                    analyze::to_rust_regex(
                        s,
                        sig.flags.caseless,
                        sig.flags.dotall,
                        sig.flags.multiline,
                    )
                }),
            edge: syntax.edge_anchors,
            anchored: syntax.line_anchors && !sig.flags.multiline,
            group: group as u16,
            literal: !matches!(sig.pattern, Pattern::Regex(_)),
            stream_group,
            numeric: crate::numeric::can_match_number(sig),
        });
    }
    (metas, chains, stream_chains)
}

impl Matcher {
    /// Compiles a signature set. Every invalid signature is reported, not only the first.
    pub fn compile(sigs: &[Signature]) -> Result<Matcher, CompileErrors> {
        Matcher::compile_folded(&crate::fold_case::fold_trailing_lowercase(sigs))
    }

    /// [`Matcher::compile`] of signatures already through
    /// [`crate::fold_case::fold_trailing_lowercase`].
    pub(crate) fn compile_folded(sigs: &[Signature]) -> Result<Matcher, CompileErrors> {
        let started = Instant::now();
        let analysis = validate(sigs)?;
        let (metas, chains, stream_chains) = plan(sigs, &analysis);
        let mut prefilter: Vec<bool> = metas.iter().map(|m| m.prefilter).collect();
        let merges = merge_classes(&metas, &chains);
        let members = group_members(&metas, chains.len(), &merges);
        let groups = compile_groups(sigs, &metas, &members, &mut prefilter)?;
        let streams = compile_streams(sigs, &metas, &stream_chains, &prefilter)?;
        Ok(Matcher::assemble(
            metas,
            prefilter,
            chains,
            groups,
            stream_chains,
            streams,
            started,
            false,
            sigs,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        mut metas: Vec<SigMeta>,
        prefilter: Vec<bool>,
        chains: Vec<Vec<Transform>>,
        dbs: Vec<GroupDbs>,
        stream_chains: Vec<Vec<Transform>>,
        streams: Vec<Option<Arc<Database>>>,
        started: Instant,
        from_cache: bool,
        sigs: &[Signature],
    ) -> Matcher {
        // Compilation may have demoted a pattern to prefilter mode after the
        // first analysis; its metadata follows.
        for ((m, p), sig) in metas.iter_mut().zip(&prefilter).zip(sigs) {
            if *p && !m.prefilter {
                m.prefilter = true;
                m.stream_group = None;
                if let Pattern::Regex(src) = &sig.pattern {
                    m.confirm = Some(confirm_source(sig, src));
                    m.locate = None;
                }
            }
        }
        let merges = merge_classes(&metas, &chains);
        let members = group_members(&metas, chains.len(), &merges);
        let n = chains.len();
        let mut groups = Vec::with_capacity(members.len());
        for (gi, d) in dbs.into_iter().enumerate() {
            let Some(member_sigs) = members.get(gi) else {
                break;
            };
            let merged = gi.checked_sub(n).map(|ci| &merges[ci]);
            let chain = match merged {
                None => chains[gi].clone(),
                Some(class) if class.lower => vec![Transform::Lowercase],
                Some(_) => Vec::new(),
            };
            let mut names: Vec<Option<Vec<Vec<u8>>>> = vec![Some(Vec::new()); FieldKind::ALL.len()];
            let mut kinds = FieldSet::default();
            let (mut has_edge, mut has_anchored) = (false, false);
            for &i in member_sigs {
                let m = &metas[i];
                for k in m.any_name.iter() {
                    names[k as usize] = None;
                }
                for (k, nm) in &m.named {
                    if let Some(list) = names[*k as usize].as_mut() {
                        if !list.contains(nm) {
                            list.push(nm.clone());
                        }
                    }
                }
                kinds.0 |= m.any_name.0;
                for (k, _) in &m.named {
                    kinds.insert(*k);
                }
                has_edge |= m.edge;
                has_anchored |= m.anchored;
            }
            if merged.is_some() {
                // Fed only through `kind_merge`, for every name: the
                // members' signatures filter kinds and names per match.
                kinds = FieldSet::default();
                names = vec![None; FieldKind::ALL.len()];
            }
            groups.push(Group {
                chain,
                kinds,
                joined: d.joined,
                literals: d.literals,
                per_field: d.per_field,
                has_edge,
                has_anchored,
                names,
            });
        }
        let mut kind_groups: [Vec<u16>; FieldKind::ALL.len()] = Default::default();
        for (gi, g) in groups.iter().enumerate() {
            for k in g.kinds.iter() {
                kind_groups[k as usize].push(gi as u16);
            }
        }
        let mut kind_merge = [KindMerge {
            num_min: u32::MAX,
            ..KindMerge::default()
        }; FieldKind::ALL.len()];
        for (ci, class) in merges.iter().enumerate() {
            if n + ci >= groups.len() {
                break;
            }
            for kind in class.kinds.iter() {
                let km = &mut kind_merge[kind as usize];
                let gi = Some((n + ci) as u16);
                match (class.numeric, class.lower) {
                    (false, false) => km.raw = gi,
                    (false, true) => km.lower = gi,
                    (true, false) => km.num_raw = gi,
                    (true, true) => km.num_lower = gi,
                }
                if class.numeric {
                    let shortest = members[n + ci].iter().map(|&i| metas[i].min_width).min();
                    km.num_min = km.num_min.min(shortest.unwrap_or(u32::MAX));
                }
                for &g in &class.groups {
                    km.members |= 1 << g;
                    for &t in &chains[g] {
                        if t != Transform::Lowercase {
                            km.blocking |= crate::transform::Features::need(t);
                        }
                    }
                }
                km.blocking |= crate::transform::Features::NUL;
            }
        }
        let kind_unmerged: [Vec<u16>; FieldKind::ALL.len()] = std::array::from_fn(|k| {
            let members = kind_merge[k].members;
            kind_groups[k]
                .iter()
                .copied()
                .filter(|&g| !(g < 64 && members & (1u64 << g) != 0))
                .collect()
        });
        let mut kind_number_names: [NameSet; FieldKind::ALL.len()] = Default::default();
        for m in metas.iter().filter(|m| m.numeric) {
            for (k, name) in &m.named {
                kind_number_names[*k as usize].insert(name);
            }
        }
        let stream_groups: Vec<StreamGroup> = stream_chains
            .into_iter()
            .zip(streams)
            .map(|(chain, db)| StreamGroup { chain, db })
            .collect();
        let all_dbs = groups
            .iter()
            .flat_map(|g| [&g.joined, &g.literals, &g.per_field])
            .flatten()
            .chain(stream_groups.iter().filter_map(|s| s.db.as_deref()));
        let (mut databases, mut database_bytes) = (0, 0);
        for db in all_dbs {
            databases += 1;
            database_bytes += db.size();
        }
        let report = CompileReport {
            signatures: metas.len(),
            groups: n,
            databases,
            database_bytes,
            prefiltered: metas
                .iter()
                .filter(|m| m.prefilter)
                .map(|m| m.id.clone())
                .collect(),
            not_streamed: metas
                .iter()
                .filter(|m| m.targets_kind(FieldKind::Body) && m.stream_group.is_none())
                .map(|m| m.id.clone())
                .collect(),
            from_cache,
            elapsed: started.elapsed(),
        };
        Matcher {
            inner: Arc::new(Compiled {
                sigs: metas,
                groups,
                streams: stream_groups,
                kind_groups,
                kind_merge,
                kind_unmerged,
                kind_number_names,
                report,
            }),
        }
    }

    /// Checks a signature set without building databases (fast; for `check` tools).
    ///
    /// A few patterns pass this and still fail in full compilation (Hyperscan's
    /// analysis is not its compiler), so `compile` remains the final word.
    pub fn validate(sigs: &[Signature]) -> Result<(), CompileErrors> {
        validate(sigs).map(|_| ())
    }

    /// What compilation did.
    pub fn report(&self) -> &CompileReport {
        &self.inner.report
    }

    /// Number of signatures.
    pub fn len(&self) -> usize {
        self.inner.sigs.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.sigs.is_empty()
    }

    /// The id of signature number `index` (as reported in a [`crate::Match`]).
    pub fn signature_id(&self, index: u32) -> Option<&str> {
        self.inner.sigs.get(index as usize).map(|m| m.id.as_str())
    }

    /// The index of the signature called `id`.
    pub fn signature_index(&self, id: &str) -> Option<u32> {
        self.inner
            .sigs
            .iter()
            .position(|m| m.id == id)
            .map(|i| i as u32)
    }
}

/// The databases of one group, before assembly.
#[derive(Default)]
pub(crate) struct GroupDbs {
    pub joined: Option<Database>,
    pub literals: Option<Database>,
    pub per_field: Option<Database>,
}

/// One database to build: (group, which database).
#[derive(Clone, Copy)]
enum Job {
    Joined(usize),
    PerField(usize),
}

/// Builds every group's databases, several at once: Hyperscan compiles one
/// database on one thread, and a pack has a handful of chains with two or
/// three databases each, so a reload takes the longest database instead of
/// their sum. Each job demotes patterns to prefilter mode in its own copy;
/// the demotions are merged afterwards (a pattern Hyperscan cannot compile
/// exactly fails the same way in every database it is in).
fn compile_groups(
    sigs: &[Signature],
    metas: &[SigMeta],
    members: &[Vec<usize>],
    prefilter: &mut [bool],
) -> Result<Vec<GroupDbs>, CompileErrors> {
    // Longest first, so the two or three big databases start at once
    // instead of one waiting behind the small ones (the wall time is then
    // about the biggest database, or the sum over the threads). A
    // database's compile time grows with its pattern count; a literal list
    // is a pattern per entry.
    let patterns = |g: usize| -> usize {
        members[g]
            .iter()
            .map(|&i| match &sigs[i].pattern {
                Pattern::Literals(list) => list.len(),
                _ => 1,
            })
            .sum()
    };
    let mut jobs: Vec<(usize, Job)> = (0..members.len())
        .flat_map(|g| [(patterns(g), Job::Joined(g)), (0, Job::PerField(g))])
        .collect();
    jobs.sort_by_key(|&(cost, _)| std::cmp::Reverse(cost));
    let jobs: Vec<Job> = jobs.into_iter().map(|(_, job)| job).collect();
    let initial: Vec<bool> = prefilter.to_vec();
    let run = |job: Job| -> (Job, Result<Option<Database>, CompileErrors>, Vec<bool>) {
        let mut local = initial.clone();
        let r = match job {
            // Literals join the regexes (escaped): one Hyperscan call per
            // group instead of two, and each byte is read once per group.
            Job::Joined(g) => compile_regex_set_with(
                sigs,
                &members[g],
                |i| matches!(sigs[i].pattern, Pattern::Regex(_)) && !metas[i].edge,
                hs::HS_FLAG_MULTILINE,
                Mode::Block,
                &mut local,
                true,
            ),
            Job::PerField(g) => compile_regex_set(
                sigs,
                &members[g],
                |i| {
                    matches!(sigs[i].pattern, Pattern::Regex(_))
                        && (metas[i].edge || metas[i].anchored)
                },
                0,
                Mode::Block,
                &mut local,
            ),
        };
        (job, r, local)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(jobs.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&job) = jobs.get(k) else { break };
                let r = run(job);
                if let Ok(mut v) = results.lock() {
                    v.push((k, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(k, _)| *k);
    let mut out: Vec<GroupDbs> = (0..members.len()).map(|_| GroupDbs::default()).collect();
    let mut errors = Vec::new();
    for (_, (job, r, local)) in results {
        for (p, l) in prefilter.iter_mut().zip(local) {
            *p |= l;
        }
        match (job, r) {
            (_, Err(e)) => errors.extend(e.0),
            (Job::Joined(g), Ok(db)) => out[g].joined = db,
            (Job::PerField(g), Ok(db)) => out[g].per_field = db,
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(CompileErrors(errors))
    }
}

fn compile_streams(
    sigs: &[Signature],
    metas: &[SigMeta],
    chains: &[Vec<Transform>],
    prefilter: &[bool],
) -> Result<Vec<Option<Arc<Database>>>, CompileErrors> {
    let mut out = Vec::with_capacity(chains.len());
    for si in 0..chains.len() {
        let members: Vec<usize> = (0..sigs.len())
            .filter(|&i| metas[i].stream_group == Some(si as u16) && !prefilter[i])
            .collect();
        let mut never_prefilter = vec![false; sigs.len()];
        let regex = compile_regex_set(
            sigs,
            &members,
            |i| matches!(sigs[i].pattern, Pattern::Regex(_)),
            0,
            Mode::Stream,
            &mut never_prefilter,
        )?;
        // Literals go into the same streaming database as regexes (escaped),
        // so one stream per chain covers both.
        let lits = compile_stream_literals(sigs, &members)?;
        out.push(match (regex, lits) {
            (Some(db), None) | (None, Some(db)) => Some(Arc::new(db)),
            // Both kinds: one stream per chain is cheaper than two, so
            // compile the literals as escaped regexes beside the others.
            (Some(_), Some(_)) => Some(Arc::new(compile_stream_mixed(sigs, &members)?)),
            (None, None) => None,
        });
    }
    Ok(out)
}

/// Escapes bytes as a Hyperscan regex matching them literally.
fn escape_literal(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    for &b in bytes {
        out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
    }
    out
}

fn literal_parts(sig: &Signature) -> Vec<&[u8]> {
    match &sig.pattern {
        Pattern::Literal(l) => vec![l.as_slice()],
        Pattern::Literals(list) => list.iter().map(|l| l.as_slice()).collect(),
        Pattern::Regex(_) => Vec::new(),
    }
}

fn compile_stream_mixed(sigs: &[Signature], members: &[usize]) -> Result<Database, CompileErrors> {
    let mut owned: Vec<(Vec<u8>, u32, u32)> = Vec::new();
    for &i in members {
        match &sigs[i].pattern {
            Pattern::Regex(src) => {
                owned.push((src.as_bytes().to_vec(), hs_flags(&sigs[i]), i as u32))
            }
            _ => {
                let flags = if sigs[i].flags.caseless {
                    hs::HS_FLAG_CASELESS
                } else {
                    0
                };
                for part in literal_parts(&sigs[i]) {
                    owned.push((escape_literal(part), flags, i as u32));
                }
            }
        }
    }
    let specs: Vec<PatternSpec<'_>> = owned
        .iter()
        .map(|(e, f, id)| PatternSpec {
            expr: e,
            flags: *f,
            id: *id,
        })
        .collect();
    Database::compile(&specs, Mode::Stream).map_err(|e| CompileErrors(vec![e.into()]))
}

fn compile_stream_literals(
    sigs: &[Signature],
    members: &[usize],
) -> Result<Option<Database>, CompileErrors> {
    compile_literal_set(sigs, members, Mode::Stream)
}

fn compile_literal_set(
    sigs: &[Signature],
    members: &[usize],
    mode: Mode,
) -> Result<Option<Database>, CompileErrors> {
    let mut specs = Vec::new();
    for &i in members {
        let flags = if sigs[i].flags.caseless {
            hs::HS_FLAG_CASELESS
        } else {
            0
        };
        for part in literal_parts(&sigs[i]) {
            specs.push(PatternSpec {
                expr: part,
                flags,
                id: i as u32,
            });
        }
    }
    if specs.is_empty() {
        return Ok(None);
    }
    Database::compile_literals(&specs, mode)
        .map(Some)
        .map_err(|e| {
            let id = match &e {
                crate::engine::EngineError::Compile { index: Some(x), .. } => {
                    specs.get(*x).map(|s| s.id as usize)
                }
                _ => None,
            };
            CompileErrors(vec![match id {
                Some(i) => err(&sigs[i], Problem::InvalidPattern(e.to_string())),
                None => e.into(),
            }])
        })
}

/// Compiles the selected regex members; a member Hyperscan rejects is retried
/// in prefilter mode (when it can be confirmed) before giving up.
fn compile_regex_set(
    sigs: &[Signature],
    members: &[usize],
    select: impl Fn(usize) -> bool,
    extra_flags: u32,
    mode: Mode,
    prefilter: &mut [bool],
) -> Result<Option<Database>, CompileErrors> {
    compile_regex_set_with(sigs, members, select, extra_flags, mode, prefilter, false)
}

/// [`compile_regex_set`], with the members' literal signatures added as
/// escaped regexes when `with_literals`.
fn compile_regex_set_with(
    sigs: &[Signature],
    members: &[usize],
    select: impl Fn(usize) -> bool,
    extra_flags: u32,
    mode: Mode,
    prefilter: &mut [bool],
    with_literals: bool,
) -> Result<Option<Database>, CompileErrors> {
    let chosen: Vec<usize> = members.iter().copied().filter(|&i| select(i)).collect();
    let mut escaped: Vec<(Vec<u8>, u32, u32)> = Vec::new();
    if with_literals {
        for &i in members {
            let flags = if sigs[i].flags.caseless {
                hs::HS_FLAG_CASELESS
            } else {
                0
            };
            for part in literal_parts(&sigs[i]) {
                escaped.push((escape_literal(part), flags, i as u32));
            }
        }
    }
    if chosen.is_empty() && escaped.is_empty() {
        return Ok(None);
    }
    let mut attempts = 0;
    loop {
        let specs: Vec<PatternSpec<'_>> = chosen
            .iter()
            .map(|&i| {
                let src = match &sigs[i].pattern {
                    Pattern::Regex(s) => s.as_bytes(),
                    _ => &[][..],
                };
                let mut flags = hs_flags(&sigs[i]) | extra_flags;
                if prefilter[i] {
                    flags |= hs::HS_FLAG_PREFILTER;
                }
                PatternSpec {
                    expr: src,
                    flags,
                    id: i as u32,
                }
            })
            .chain(escaped.iter().map(|(e, f, id)| PatternSpec {
                expr: e,
                flags: *f,
                id: *id,
            }))
            .collect();
        match Database::compile(&specs, mode) {
            Ok(db) => return Ok(Some(db)),
            Err(e) => {
                let at = match &e {
                    crate::engine::EngineError::Compile { index: Some(x), .. } => Some(*x),
                    _ => None,
                };
                if let Some(lit) = at.and_then(|x| x.checked_sub(chosen.len())) {
                    // A literal: nothing to retry.
                    return Err(CompileErrors(vec![match escaped.get(lit) {
                        Some(&(_, _, i)) => {
                            err(&sigs[i as usize], Problem::InvalidPattern(e.to_string()))
                        }
                        None => e.into(),
                    }]));
                }
                let Some(i) = at.and_then(|x| chosen.get(x).copied()) else {
                    return Err(CompileErrors(vec![e.into()]));
                };
                let sig = &sigs[i];
                let confirmable = match &sig.pattern {
                    Pattern::Regex(src) => {
                        fancy_regex::Regex::new(&confirm_source(sig, src)).is_ok()
                    }
                    _ => false,
                };
                // Streams cannot confirm (no whole value), so no prefilter there.
                if prefilter[i] || !confirmable || mode == Mode::Stream || attempts > chosen.len() {
                    return Err(CompileErrors(vec![err(
                        sig,
                        Problem::InvalidPattern(e.to_string()),
                    )]));
                }
                prefilter[i] = true;
                attempts += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_sets_find_names_in_any_case_and_nothing_else() {
        let mut set = NameSet::default();
        let names: Vec<String> = (0..60).map(|i| format!("field_{i}")).collect();
        for n in &names {
            set.insert(n.as_bytes());
        }
        set.insert(b"limit");
        for n in &names {
            assert!(set.contains(n.as_bytes()));
            assert!(set.contains(n.to_ascii_uppercase().as_bytes()));
        }
        assert!(set.contains(b"LiMiT"));
        for miss in [
            &b"limits"[..],
            b"limi",
            b"qty",
            b"field_60",
            b"",
            b"field_1 ",
        ] {
            assert!(!set.contains(miss), "{}", String::from_utf8_lossy(miss));
        }
        assert!(!NameSet::default().contains(b"limit"));
    }
}
