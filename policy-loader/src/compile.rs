//! Resolving references across packs, applying the overlay, and compiling the
//! signatures: the step that turns parsed packs into a [`CompiledPolicy`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rampart_matcher::Matcher;

use crate::diag::{Diagnostic, LoadErrors, Loc, Sink};
use crate::lists::{ListKind, ListStats};
use crate::model::*;
use crate::overlay::{self, Selector};
use crate::parse::{self, Parsed};
use crate::policy::{CompiledPolicy, LoadStats};
use crate::source::PackFiles;
use crate::tree;

/// Where a pack comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackSource {
    /// A pack directory.
    Dir(PathBuf),
    /// The default pack compiled into the binary.
    EmbeddedDefault,
}

/// What to load.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Packs, in order.
    pub packs: Vec<PackSource>,
    /// The local overlay file, if any.
    pub overlay: Option<PathBuf>,
    /// Where compiled signature databases are cached, if anywhere.
    pub cache_dir: Option<PathBuf>,
    /// External intel list directories (the gateway's `[intel] lists`):
    /// their lists join the packs' lists, by file stem.
    pub intel_lists: Vec<PathBuf>,
}

/// A successful load.
#[derive(Debug)]
pub struct Loaded {
    /// The compiled policy, ready to publish.
    pub policy: Arc<CompiledPolicy>,
    /// Problems that did not stop the load (e.g. an unwritable cache).
    pub warnings: Vec<String>,
}

/// Reads, validates and compiles packs. Every problem is reported; any
/// problem means no policy (the caller keeps serving the previous one).
pub fn load(opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    let started = Instant::now();
    let mut sink = Sink::default();
    let files: Vec<PackFiles> = opts
        .packs
        .iter()
        .map(|p| match p {
            PackSource::Dir(d) => PackFiles::read_dir(d, &mut sink),
            PackSource::EmbeddedDefault => PackFiles::embedded_default(),
        })
        .collect();
    let overlay = opts.overlay.as_ref().map(|path| {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => (name, Some(text)),
            Err(e) => {
                sink.file(&name, format!("cannot read the overlay: {e}"));
                (name, None)
            }
        }
    });
    let intel = crate::lists::external::read(&opts.intel_lists, &mut sink);
    load_parts(
        &files,
        intel,
        overlay
            .as_ref()
            .and_then(|(n, t)| t.as_deref().map(|t| (n.as_str(), t))),
        opts.cache_dir.as_deref(),
        sink,
        started,
    )
}

/// Loads from files already in memory (the dataplane reads them off the hot
/// path, the tools from arguments).
pub fn load_files(
    files: &[PackFiles],
    overlay: Option<(&str, &str)>,
    cache_dir: Option<&std::path::Path>,
    sink: Sink,
    started: Instant,
) -> Result<Loaded, LoadErrors> {
    load_parts(files, Vec::new(), overlay, cache_dir, sink, started)
}

fn load_parts(
    files: &[PackFiles],
    intel: Vec<(crate::lists::List, Loc)>,
    overlay: Option<(&str, &str)>,
    cache_dir: Option<&std::path::Path>,
    mut sink: Sink,
    started: Instant,
) -> Result<Loaded, LoadErrors> {
    if files.is_empty() {
        sink.file("packs", "no policy pack to load");
    }
    let mut parsed = Parsed::default();
    for (i, f) in files.iter().enumerate() {
        parse::pack(f, i, &mut parsed, &mut sink);
    }
    parsed.lists.extend(intel);
    let (overrides, blocks) = overlay
        .map(|(name, text)| overlay::parse(name, text, &mut sink))
        .unwrap_or_default();
    let mut policies = std::mem::take(&mut parsed.policies);
    resolve(&parsed, &mut policies, &mut sink);
    apply_overrides(&parsed, &mut policies, &overrides, &mut sink);
    let client_blocks = crate::client_block::add_policy(
        &blocks,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        parsed.templates.iter().any(|(t, _)| t.name == "block"),
        &mut parsed.lists,
        &mut policies,
        &mut sink,
    );
    check_cycles(&policies, &mut sink);
    crate::response_policy::check_masks(&policies, &parsed.signatures, &mut sink);
    crate::response_policy::check_policy_refs(&policies, &mut sink);
    add_internal_signatures(&mut parsed, &policies);
    let signatures: Vec<_> = parsed
        .signatures
        .iter()
        .map(|(s, _)| s.signature.clone())
        .collect();
    if !sink.diags.is_empty() {
        // Still check the patterns, so one run shows every problem; duplicate
        // ids were already reported with better positions, and a signature
        // left without targets because its `fields` were missing or wrong
        // already has that error.
        let reported: HashSet<&str> = sink.diags.iter().filter_map(|d| d.id.as_deref()).collect();
        if let Err(errs) = Matcher::validate(&signatures) {
            let errs: Vec<_> = errs
                .0
                .into_iter()
                .filter(|e| match e.problem {
                    rampart_matcher::Problem::DuplicateId { .. } => false,
                    rampart_matcher::Problem::NoTargets => {
                        !e.id.as_deref().is_some_and(|id| reported.contains(id))
                    }
                    _ => true,
                })
                .collect();
            push_matcher_errors(&mut sink, errs.into_iter());
        }
        return Err(finish(sink));
    }
    let mut warnings = Vec::new();
    let matcher = match cache_dir {
        Some(dir) => Matcher::compile_cached(&signatures, dir).map(|(m, outcome)| {
            if let Some(w) = outcome.warning {
                warnings.push(w);
            }
            m
        }),
        None => Matcher::compile(&signatures),
    };
    let matcher = match matcher {
        Ok(m) => m,
        Err(errs) => {
            push_matcher_errors(&mut sink, errs.0.into_iter());
            return Err(finish(sink));
        }
    };
    // Score thresholds depend on every other policy: they run last, and so
    // do the policies that refer to one (they would evaluate it, and memoise
    // its outcome, before the score is complete).
    let scored = score_dependent(&policies);
    policies.sort_by(|a, b| {
        (scored.contains(&a.id), a.priority, &a.id).cmp(&(
            scored.contains(&b.id),
            b.priority,
            &b.id,
        ))
    });
    // Policy references were resolved against the parse order; re-point them.
    let order: HashMap<String, usize> = policies
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    for p in &mut policies {
        repoint(&mut p.condition, &order);
    }
    let stats = LoadStats {
        policies: policies.len(),
        enforce: policies.iter().filter(|p| p.mode == Mode::Enforce).count(),
        monitor: policies.iter().filter(|p| p.mode == Mode::Monitor).count(),
        signatures: signatures.len(),
        prefiltered: matcher.report().prefiltered.clone(),
        databases: matcher.report().databases,
        from_cache: matcher.report().from_cache,
        lists: parsed.lists.iter().map(|(l, _)| ListStats::of(l)).collect(),
        client_blocks,
        elapsed: started.elapsed(),
    };
    let policy = CompiledPolicy::new(
        parsed.packs,
        policies,
        parsed.signatures.into_iter().map(|(s, _)| s).collect(),
        parsed.lists.into_iter().map(|(l, _)| l).collect(),
        parsed.templates.into_iter().map(|(t, _)| t).collect(),
        matcher,
        files,
        stats,
    );
    Ok(Loaded {
        policy: Arc::new(policy),
        warnings,
    })
}

/// Bytes no request carries in practice (invalid UTF-8 around text): the
/// internal signatures below exist to make the scanner extract and decode
/// fields, never to match.
const NEVER: &[u8] = b"\xff\xfe\x00rampart: internal, never matches\x00\xfe\xff";

/// Request measures and anomalies come from the scanner's field extraction
/// and decoding, which only run for field kinds some signature targets. When
/// policies test them, internal signatures make sure the work happens whatever
/// the pack's own signatures look at. They are added after every reference
/// was resolved, so user signature indexes do not move.
fn add_internal_signatures(parsed: &mut Parsed, policies: &[Policy]) {
    use rampart_matcher::{FieldKind as K, Pattern, Signature, Target, Transform as T};
    let (mut bodies, mut decoding) = (false, false);
    for p in policies {
        visit(&p.condition, &mut |c| match c {
            Cond::Counter { counter, .. } if counter.name() == "request.json_depth" => {
                bodies = true
            }
            Cond::Anomaly(crate::measures::Anomaly::BodyMalformed) => bodies = true,
            Cond::Anomaly(crate::measures::Anomaly::FieldsTruncated) => {}
            Cond::Anomaly(_) => decoding = true,
            _ => {}
        });
    }
    let mut add = |id: &str, kinds: &[K], transforms: &[T]| {
        let signature = Signature {
            id: id.to_owned(),
            pattern: Pattern::Literal(NEVER.to_vec()),
            flags: Default::default(),
            targets: kinds.iter().map(|k| Target::all(*k)).collect(),
            transforms: transforms.to_vec(),
            origin: None,
        };
        let info = SignatureInfo {
            signature,
            tags: Vec::new(),
            description: "internal: makes the scanner extract or decode fields for request measures and anomalies".into(),
            pack: 0,
        };
        parsed.signatures.push((
            info,
            Loc {
                file: "internal".into(),
                line: 0,
                col: 0,
            },
        ));
    };
    if bodies {
        add(
            "rampart.internal.bodies",
            &[K::JsonKey, K::FormName, K::MultipartName, K::XmlText],
            &[],
        );
    }
    if decoding {
        add(
            "rampart.internal.decoding",
            &[
                K::Path,
                K::ArgName,
                K::ArgValue,
                K::FormValue,
                K::CookieValue,
                K::JsonValue,
                K::HeaderValue,
            ],
            &[T::UrlDecode, T::Utf8Normalize],
        );
    }
}

fn visit(c: &Cond, f: &mut dyn FnMut(&Cond)) {
    f(c);
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| visit(c, f)),
        Cond::Not(c) => visit(c, f),
        _ => {}
    }
}

fn push_matcher_errors(sink: &mut Sink, errs: impl Iterator<Item = rampart_matcher::CompileError>) {
    for e in errs {
        let (file, line, col) = e
            .origin
            .as_ref()
            .map_or((String::from("signatures"), 0, 0), |o| {
                (o.file.clone(), o.line as usize, o.column as usize)
            });
        sink.diags.push(Diagnostic {
            file,
            line,
            col,
            id: e.id.clone(),
            message: e.problem.to_string(),
        });
    }
}

fn finish(mut sink: Sink) -> LoadErrors {
    sink.diags
        .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    sink.diags.dedup();
    LoadErrors(sink.diags)
}

fn uses_score(c: &Cond) -> bool {
    match c {
        Cond::ScoreAtLeast(..) => true,
        Cond::All(v) | Cond::Any(v) => v.iter().any(uses_score),
        Cond::Not(c) => uses_score(c),
        _ => false,
    }
}

/// Ids of the policies whose outcome depends on the anomaly score: those with
/// a `score_at_least` test and, transitively, those that refer to one.
fn score_dependent(policies: &[Policy]) -> HashSet<String> {
    let mut out: HashSet<String> = policies
        .iter()
        .filter(|p| uses_score(&p.condition))
        .map(|p| p.id.clone())
        .collect();
    loop {
        let before = out.len();
        for p in policies {
            if !out.contains(&p.id) && refers_to_any(&p.condition, &out) {
                out.insert(p.id.clone());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

fn refers_to_any(c: &Cond, ids: &HashSet<String>) -> bool {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter().any(|c| refers_to_any(c, ids)),
        Cond::Not(c) => refers_to_any(c, ids),
        Cond::Policy { id, .. } => ids.contains(&id.0),
        _ => false,
    }
}

fn repoint(c: &mut Cond, order: &HashMap<String, usize>) {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter_mut().for_each(|c| repoint(c, order)),
        Cond::Not(c) => repoint(c, order),
        Cond::Policy { id, resolved } => {
            *resolved = order.get(&id.0).copied().unwrap_or(usize::MAX)
        }
        _ => {}
    }
}

fn hint(word: &str, known: &[&str]) -> String {
    tree::closest(word, known)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Checks uniqueness and every reference; fills `resolved` indexes.
fn resolve(parsed: &Parsed, policies: &mut [Policy], sink: &mut Sink) {
    let mut sig_index: HashMap<&str, (u32, &Loc)> = HashMap::new();
    let mut tags: HashMap<&str, Vec<u32>> = HashMap::new();
    for (i, (s, loc)) in parsed.signatures.iter().enumerate() {
        if let Some((_, first)) = sig_index.get(s.signature.id.as_str()) {
            sink.at(
                loc,
                Some(&s.signature.id),
                format!("duplicate signature id (first defined at {first})"),
            );
        } else {
            sig_index.insert(&s.signature.id, (i as u32, loc));
        }
        for t in &s.tags {
            tags.entry(t).or_default().push(i as u32);
        }
    }
    let mut policy_ids: HashMap<String, Loc> = HashMap::new();
    for p in policies.iter() {
        if let Some(first) = policy_ids.get(&p.id) {
            sink.at(
                &p.loc,
                Some(&p.id),
                format!("duplicate policy id (first defined at {first})"),
            );
        } else {
            policy_ids.insert(p.id.clone(), p.loc.clone());
        }
    }
    let mut list_index: HashMap<&str, (usize, ListKind)> = HashMap::new();
    for (i, (l, loc)) in parsed.lists.iter().enumerate() {
        if let Some((first, _)) = list_index.insert(&l.name, (i, l.kind)) {
            sink.at(
                loc,
                None,
                format!(
                    "duplicate list name `{}` (also {}; list names must be unique across packs and intel directories)",
                    l.name, parsed.lists[first].1.file
                ),
            );
        }
    }
    let mut template_names = HashSet::new();
    for (t, loc) in &parsed.templates {
        if !template_names.insert(t.name.as_str()) {
            sink.at(loc, None, format!("duplicate template name `{}`", t.name));
        }
    }
    let sig_names: Vec<&str> = sig_index.keys().copied().collect();
    let tag_names: Vec<&str> = tags.keys().copied().collect();
    let list_names: Vec<&str> = list_index.keys().copied().collect();
    let policy_names: Vec<String> = policy_ids.keys().cloned().collect();
    let policy_names: Vec<&str> = policy_names.iter().map(String::as_str).collect();
    let cx = RefCx {
        sig_index: &sig_index,
        tags: &tags,
        list_index: &list_index,
        sig_names: &sig_names,
        tag_names: &tag_names,
        list_names: &list_names,
        policy_names: &policy_names,
    };
    for p in policies.iter_mut() {
        let id = p.id.clone();
        resolve_cond(&mut p.condition, &cx, &id, sink);
        check_templates(&p.action, &template_names, &p.loc, &id, sink);
    }
}

struct RefCx<'a> {
    sig_index: &'a HashMap<&'a str, (u32, &'a Loc)>,
    tags: &'a HashMap<&'a str, Vec<u32>>,
    list_index: &'a HashMap<&'a str, (usize, ListKind)>,
    sig_names: &'a [&'a str],
    tag_names: &'a [&'a str],
    list_names: &'a [&'a str],
    policy_names: &'a [&'a str],
}

fn resolve_cond(c: &mut Cond, cx: &RefCx<'_>, id: &str, sink: &mut Sink) {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter_mut().for_each(|c| resolve_cond(c, cx, id, sink)),
        Cond::Not(c) => resolve_cond(c, cx, id, sink),
        Cond::Signature { ids, resolved, .. } => {
            for (name, loc) in ids.iter() {
                match cx.sig_index.get(name.as_str()) {
                    Some((i, _)) => resolved.push(*i),
                    None => sink.at(
                        loc,
                        Some(id),
                        format!("unknown signature `{name}`{}", hint(name, cx.sig_names)),
                    ),
                }
            }
        }
        Cond::SignatureTag { tag, resolved, .. } => match cx.tags.get(tag.0.as_str()) {
            Some(v) => resolved.clone_from(v),
            None => sink.at(
                &tag.1,
                Some(id),
                format!(
                    "no signature has the tag `{}`{}",
                    tag.0,
                    hint(&tag.0, cx.tag_names)
                ),
            ),
        },
        Cond::List {
            name,
            resolved,
            key,
        } => {
            match cx.list_index.get(name.0.as_str()) {
                None => sink.at(
                    &name.1,
                    Some(id),
                    format!("unknown list `{}`{}", name.0, hint(&name.0, cx.list_names)),
                ),
                Some((i, kind)) => {
                    let ok = matches!(
                        (kind, &*key),
                        (ListKind::Ip, ListKey::ClientIp)
                            | (ListKind::Ja4, ListKey::Ja4)
                            | (ListKind::Ja3, ListKey::Ja3)
                            | (ListKind::Sha1, ListKey::Password)
                            | (ListKind::Sha1Pair, ListKey::UserPassword)
                            | (ListKind::HeaderFingerprint, ListKey::HeaderFingerprint)
                            | (
                                ListKind::Text,
                                ListKey::Header(_) | ListKey::Arg(_) | ListKey::Identity(_)
                            )
                    );
                    if ok {
                        *resolved = *i;
                    } else {
                        sink.at(&name.1, Some(id), format!("list `{}` holds .{} entries, which cannot be looked up by this key", name.0, kind.as_str()));
                    }
                }
            }
        }
        Cond::Policy { id: (pid, loc), .. } if !cx.policy_names.contains(&pid.as_str()) => {
            sink.at(
                loc,
                Some(id),
                format!("unknown policy `{pid}`{}", hint(pid, cx.policy_names)),
            );
        }
        _ => {}
    }
}

fn check_templates(a: &Action, names: &HashSet<&str>, loc: &Loc, id: &str, sink: &mut Sink) {
    let t = match a {
        Action::Block { template, .. } | Action::Deceive { template, .. } => Some(template),
        Action::Tarpit { then, .. } => return check_templates(then, names, loc, id, sink),
        _ => None,
    };
    if let Some(t) = t {
        if !names.contains(t.as_str()) {
            let known: Vec<&str> = names.iter().copied().collect();
            sink.at(
                loc,
                Some(id),
                format!(
                    "unknown response template `{t}`{}; templates come from a pack's responses/",
                    hint(t, &known)
                ),
            );
        }
    }
}

fn apply_overrides(
    parsed: &Parsed,
    policies: &mut [Policy],
    overrides: &[overlay::Override],
    sink: &mut Sink,
) {
    let templates: HashSet<&str> = parsed
        .templates
        .iter()
        .map(|(t, _)| t.name.as_str())
        .collect();
    let ids: Vec<String> = policies.iter().map(|p| p.id.clone()).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    for o in overrides {
        let targets: Vec<usize> = match &o.select {
            Selector::Policy(id) => policies
                .iter()
                .position(|p| &p.id == id)
                .into_iter()
                .collect(),
            Selector::Tag(tag) => policies
                .iter()
                .enumerate()
                .filter(|(_, p)| p.tags.contains(tag))
                .map(|(i, _)| i)
                .collect(),
        };
        if targets.is_empty() {
            match &o.select {
                Selector::Policy(id) => sink.at(
                    &o.loc,
                    Some(id),
                    format!("override of unknown policy `{id}`{}", hint(id, &id_refs)),
                ),
                Selector::Tag(tag) => {
                    sink.at(&o.loc, None, format!("no policy has the tag `{tag}`"))
                }
            }
            continue;
        }
        for i in targets {
            let p = &mut policies[i];
            if let Some(m) = o.mode {
                p.mode = m;
            }
            if let Some((a, loc)) = &o.action {
                check_templates(a, &templates, loc, &p.id, sink);
                if let Some(msg) = crate::response_policy::action_misfit(p.phase, a) {
                    sink.at(loc, Some(&p.id), msg);
                }
                p.action = a.clone();
            }
            if let Some(s) = o.score {
                p.score = s;
            }
            if let Some((e, loc)) = &o.escalate {
                if e.is_some() && !p.action.terminates() {
                    sink.at(
                        loc,
                        Some(&p.id),
                        format!(
                            "`escalate` needs an action that stops the request (block, rate_limit, deceive, tarpit, drop); `{}` forwards it",
                            p.action.name()
                        ),
                    );
                } else {
                    p.escalate_ms = *e;
                }
            }
            if let Some((t, loc)) = &o.threshold {
                let mut slots = Vec::new();
                thresholds(&mut p.condition, &mut slots);
                match slots.len() {
                    1 => *slots[0] = *t,
                    0 => sink.at(loc, Some(&p.id), "`threshold` needs a policy with a counter or score_at_least condition; this one has none"),
                    n => sink.at(loc, Some(&p.id), format!("`threshold` is ambiguous: the policy has {n} counter/score tests")),
                }
            }
            p.exclusions.extend(o.exclusions.iter().cloned());
        }
    }
}

fn thresholds<'a>(c: &'a mut Cond, out: &mut Vec<&'a mut u64>) {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter_mut().for_each(|c| thresholds(c, out)),
        Cond::Not(c) => thresholds(c, out),
        Cond::Counter { value, .. } => out.push(value),
        Cond::ScoreAtLeast(v, _) => out.push(v),
        _ => {}
    }
}

/// Reports `policy` references that form a cycle.
fn check_cycles(policies: &[Policy], sink: &mut Sink) {
    let index: HashMap<&str, usize> = policies
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = policies
        .iter()
        .map(|p| {
            let mut out = Vec::new();
            refs(&p.condition, &index, &mut out);
            out
        })
        .collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; policies.len()];
    let mut reported = HashSet::new();
    for start in 0..policies.len() {
        let mut stack = vec![(start, 0usize)];
        while let Some((node, edge)) = stack.pop() {
            if edge == 0 {
                if state[node] == 2 {
                    continue;
                }
                state[node] = 1;
            }
            if let Some(&next) = edges[node].get(edge) {
                stack.push((node, edge + 1));
                match state[next] {
                    0 => stack.push((next, 0)),
                    1 => {
                        let cycle_start = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut names: Vec<&str> = stack[cycle_start..]
                            .iter()
                            .map(|(n, _)| policies[*n].id.as_str())
                            .collect();
                        names.push(&policies[next].id);
                        if reported.insert(next) {
                            sink.at(
                                &policies[next].loc,
                                Some(&policies[next].id),
                                format!("policy references form a cycle: {}", names.join(" -> ")),
                            );
                        }
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
            }
        }
    }
}

fn refs(c: &Cond, index: &HashMap<&str, usize>, out: &mut Vec<usize>) {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| refs(c, index, out)),
        Cond::Not(c) => refs(c, index, out),
        Cond::Policy { id, .. } => out.extend(index.get(id.0.as_str())),
        _ => {}
    }
}
