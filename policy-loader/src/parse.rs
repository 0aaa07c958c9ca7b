//! Reading pack files into signatures, policies, lists and templates, with
//! every problem reported at its place. References between them are checked
//! later, in `resolve`, once every pack is read.

use std::net::IpAddr;

use rampart_matcher::{FieldKind, Origin, Pattern, SigFlags, Signature, Target, Transform};

use crate::diag::{Loc, Sink};
use crate::glob::Glob;
use crate::lists::{List, ListKind};
use crate::measures::{Anomaly, Counter, IdentityProp, ANOMALIES, COUNTERS, IDENTITY_PROPS};
use crate::model::*;
use crate::source::PackFiles;
use crate::tree::{self, duration_ms, Kind, Node, Reader};

/// A response template.
#[derive(Clone, Debug)]
pub struct Template {
    /// File stem.
    pub name: String,
    /// Content type from the extension.
    pub content_type: &'static str,
    /// Body with `{{placeholders}}`.
    pub body: String,
    /// Pack it came from.
    pub pack: usize,
}

/// Everything read from the packs, before references are resolved.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub packs: Vec<PackInfo>,
    pub signatures: Vec<(SignatureInfo, Loc)>,
    pub policies: Vec<Policy>,
    pub lists: Vec<(List, Loc)>,
    pub templates: Vec<(Template, Loc)>,
}

const MAX_DEPTH: usize = 32;
/// Largest response template (it must fit the gateway's per-connection head buffer with headers).
pub const MAX_TEMPLATE: usize = 8 * 1024;

fn valid_id(id: &str) -> bool {
    let mut b = id.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        && id.len() <= 128
}

fn version_tuple(v: &str) -> Option<Vec<u64>> {
    v.split('.').map(|p| p.parse().ok()).collect()
}

/// Reads one pack into `out`.
pub(crate) fn pack(files: &PackFiles, index: usize, out: &mut Parsed, sink: &mut Sink) {
    let manifest = files.display("pack.toml");
    let mut info = PackInfo {
        name: String::new(),
        version: String::new(),
        description: String::new(),
        source: files.origin.clone(),
    };
    if let Some(bytes) = files.files.get("pack.toml") {
        if let Some(doc) =
            text(&manifest, bytes, sink).and_then(|t| tree::parse(&manifest, &t, sink))
        {
            let mut r = Reader { sink, id: None };
            r.keys(
                &doc,
                "pack.toml",
                &["name", "version", "description", "min_rampart"],
            );
            info.name = r
                .required_string(&doc, "name", "pack.toml")
                .unwrap_or_default();
            info.version = r
                .required_string(&doc, "version", "pack.toml")
                .unwrap_or_default();
            info.description = r.optional_string(&doc, "description").unwrap_or_default();
            if let Some(n) = doc.get("min_rampart") {
                if let Some(v) = r.string(n, "`min_rampart`") {
                    match (version_tuple(&v), version_tuple(env!("CARGO_PKG_VERSION"))) {
                        (Some(need), Some(have)) if need > have => r.err(
                            &n.loc,
                            format!(
                                "this pack needs Rampart {v} or newer; this is {}",
                                env!("CARGO_PKG_VERSION")
                            ),
                        ),
                        (None, _) => r.err(
                            &n.loc,
                            format!("`min_rampart` must be a version like 0.1.0, got `{v}`"),
                        ),
                        _ => {}
                    }
                }
            }
        }
    }
    out.packs.push(info);
    for (rel, bytes) in files.in_dir("signatures", "toml") {
        let name = files.display(rel);
        if let Some(doc) = text(&name, bytes, sink).and_then(|t| tree::parse(&name, &t, sink)) {
            signatures(&doc, files, index, out, sink);
        }
    }
    for (rel, bytes) in files.in_dir("policies", "toml") {
        let name = files.display(rel);
        if let Some(doc) = text(&name, bytes, sink).and_then(|t| tree::parse(&name, &t, sink)) {
            policies(&doc, index, out, sink);
        }
    }
    for (rel, bytes) in files.files.iter().filter(|(k, _)| k.starts_with("lists/")) {
        let name = files.display(rel);
        let file = rel.trim_start_matches("lists/");
        let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
        let Some(kind) = ListKind::from_extension(ext) else {
            let exts = crate::lists::EXTENSIONS;
            sink.file(&name, format!("unknown list type: use {exts}"));
            continue;
        };
        if let Some(t) = text(&name, bytes, sink) {
            let list = List::parse(stem, kind, index, &t, &name, sink);
            out.lists.push((
                list,
                Loc {
                    file: name,
                    line: 0,
                    col: 0,
                },
            ));
        }
    }
    for (rel, bytes) in files
        .files
        .iter()
        .filter(|(k, _)| k.starts_with("responses/"))
    {
        let name = files.display(rel);
        let file = rel.trim_start_matches("responses/");
        let (stem, ext) = file.rsplit_once('.').unwrap_or((file, ""));
        let content_type = match ext {
            "json" => "application/json",
            "html" => "text/html; charset=utf-8",
            "txt" => "text/plain; charset=utf-8",
            _ => {
                sink.file(&name, "unknown template type: use .json, .html or .txt");
                continue;
            }
        };
        if bytes.len() > MAX_TEMPLATE {
            sink.file(&name, format!("template is {} bytes; responses are written into one head-sized buffer, so at most {MAX_TEMPLATE}", bytes.len()));
            continue;
        }
        if let Some(body) = text(&name, bytes, sink) {
            out.templates.push((
                Template {
                    name: stem.to_owned(),
                    content_type,
                    body,
                    pack: index,
                },
                Loc {
                    file: name,
                    line: 0,
                    col: 0,
                },
            ));
        }
    }
}

fn text(name: &str, bytes: &[u8], sink: &mut Sink) -> Option<String> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Some(t.to_owned()),
        Err(e) => {
            sink.file(name, format!("not UTF-8 text (byte {})", e.valid_up_to()));
            None
        }
    }
}

const SIG_KEYS: &[&str] = &[
    "id",
    "description",
    "pattern",
    "literal",
    "list",
    "flags",
    "fields",
    "transforms",
    "tags",
];

fn signatures(doc: &Node, files: &PackFiles, pack: usize, out: &mut Parsed, sink: &mut Sink) {
    let mut r = Reader { sink, id: None };
    r.keys(doc, "a signatures file", &["signature"]);
    let Some(arr) = doc.get("signature") else {
        return;
    };
    for t in r.array(arr, "`signature`").to_vec() {
        let mut r = Reader {
            sink: r.sink,
            id: None,
        };
        let Some(t) = r.table(&t, "a [[signature]]").cloned() else {
            continue;
        };
        let id = r.required_string(&t, "id", "this [[signature]]");
        if let Some(id) = &id {
            if !valid_id(id) {
                r.err(
                    &t.get("id").map_or(t.loc.clone(), |n| n.loc.clone()),
                    format!("`{id}` is not a valid id: letters, digits, then also `.`, `_`, `-`"),
                );
            }
        }
        r.id = id.clone();
        r.keys(&t, "a [[signature]]", SIG_KEYS);
        let sources: Vec<&str> = ["pattern", "literal", "list"]
            .into_iter()
            .filter(|k| t.get(k).is_some())
            .collect();
        let pattern = match sources.as_slice() {
            ["pattern"] => t
                .get("pattern")
                .and_then(|n| r.string(n, "`pattern`"))
                .map(Pattern::Regex),
            ["literal"] => t
                .get("literal")
                .and_then(|n| r.string(n, "`literal`"))
                .map(|s| Pattern::Literal(s.into_bytes())),
            ["list"] => t.get("list").and_then(|n| {
                let file = r.string(n, "`list`")?;
                let rel = format!("signatures/{file}");
                match files.files.get(&rel) {
                    None => {
                        r.err(
                            &n.loc,
                            format!("list file `{rel}` does not exist in the pack"),
                        );
                        None
                    }
                    Some(bytes) => {
                        let entries: Vec<Vec<u8>> = String::from_utf8_lossy(bytes)
                            .lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty() && !l.starts_with('#'))
                            .map(|l| l.as_bytes().to_vec())
                            .collect();
                        if entries.is_empty() {
                            r.err(&n.loc, format!("list file `{rel}` has no entries"));
                            None
                        } else {
                            Some(Pattern::Literals(entries))
                        }
                    }
                }
            }),
            [] => {
                r.err(
                    &t.loc,
                    "a signature needs one of `pattern`, `literal` or `list`",
                );
                None
            }
            _ => {
                r.err(
                    &t.loc,
                    format!(
                        "a signature takes exactly one of `pattern`, `literal`, `list`; found {}",
                        sources.join(", ")
                    ),
                );
                None
            }
        };
        let mut flags = SigFlags::default();
        if let Some(n) = t.get("flags") {
            for (f, loc) in r.strings(n, "`flags`") {
                match f.as_str() {
                    "caseless" => flags.caseless = true,
                    "dotall" => flags.dotall = true,
                    "multiline" => flags.multiline = true,
                    "utf8" => flags.utf8 = true,
                    "single_match" => flags.single_match = true,
                    "start_of_match" => flags.start_of_match = true,
                    other => r.err(&loc, format!("unknown flag `{other}`; flags: caseless, dotall, multiline, utf8, single_match, start_of_match")),
                }
            }
        }
        let targets = match t.get("fields") {
            Some(n) => fields(&mut r, n)
                .into_iter()
                .map(|f| Target {
                    kind: f.kind,
                    name: f.name.map(|n| String::from_utf8_lossy(&n).into_owned()),
                })
                .collect(),
            None => {
                r.err(
                    &t.loc,
                    "a signature needs `fields` (where to look), e.g. fields = [\"@values\"]",
                );
                Vec::new()
            }
        };
        let mut transforms = Vec::new();
        if let Some(n) = t.get("transforms") {
            for (name, loc) in r.strings(n, "`transforms`") {
                match Transform::parse(&name) {
                    Some(x) => transforms.push(x),
                    None => {
                        let names: Vec<&str> = Transform::ALL.iter().map(|t| t.name()).collect();
                        let hint = tree::closest(&name, &names)
                            .map(|c| format!(" (did you mean `{c}`?)"))
                            .unwrap_or_default();
                        r.err(&loc, format!("unknown transform `{name}`{hint}"));
                    }
                }
            }
        }
        let tags = t
            .get("tags")
            .map(|n| r.strings(n, "`tags`").into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default();
        let description = r.optional_string(&t, "description").unwrap_or_default();
        if let (Some(id), Some(pattern)) = (id, pattern) {
            let loc = t.loc.clone();
            let signature = Signature {
                id,
                pattern,
                flags,
                targets,
                transforms,
                origin: Some(Origin {
                    file: loc.file.clone(),
                    line: loc.line as u32,
                    column: loc.col as u32,
                }),
            };
            out.signatures.push((
                SignatureInfo {
                    signature,
                    tags,
                    description,
                    pack,
                },
                loc,
            ));
        }
    }
}

/// Parses `fields` entries: kinds, `kind:name`, `@values`, `@names`.
pub(crate) fn fields(r: &mut Reader<'_>, n: &Node) -> Vec<FieldSel> {
    let mut out = Vec::new();
    for (s, loc) in r.strings(n, "`fields`") {
        match s.as_str() {
            "@values" => out.extend(
                [
                    FieldKind::ArgValue,
                    FieldKind::FormValue,
                    FieldKind::JsonValue,
                    FieldKind::MultipartValue,
                    FieldKind::XmlText,
                    FieldKind::CookieValue,
                ]
                .map(|kind| FieldSel { kind, name: None }),
            ),
            "@names" => out.extend(
                [
                    FieldKind::ArgName,
                    FieldKind::FormName,
                    FieldKind::JsonKey,
                    FieldKind::MultipartName,
                    FieldKind::CookieName,
                ]
                .map(|kind| FieldSel { kind, name: None }),
            ),
            _ => {
                let (kind, name) = match s.split_once(':') {
                    Some((k, n)) => (k, Some(n.to_ascii_lowercase().into_bytes())),
                    None => (s.as_str(), None),
                };
                match FieldKind::parse(kind) {
                    Some(kind) => out.push(FieldSel { kind, name }),
                    None => {
                        let names: Vec<&str> = FieldKind::ALL.iter().map(|k| k.as_str()).collect();
                        let hint = tree::closest(kind, &names)
                            .map(|c| format!(" (did you mean `{c}`?)"))
                            .unwrap_or_default();
                        r.err(&loc, format!("unknown field `{kind}`{hint}; see docs/POLICY.md for the field names"));
                    }
                }
            }
        }
    }
    out
}

const POLICY_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "severity",
    "tags",
    "mode",
    "priority",
    "score",
    "phase",
    "condition",
    "action",
    "escalate",
    "example",
];

fn policies(doc: &Node, pack: usize, out: &mut Parsed, sink: &mut Sink) {
    let mut r = Reader { sink, id: None };
    r.keys(doc, "a policies file", &["policy"]);
    let Some(arr) = doc.get("policy") else { return };
    for t in r.array(arr, "`policy`").to_vec() {
        let mut r = Reader {
            sink: r.sink,
            id: None,
        };
        let Some(t) = r.table(&t, "a [[policy]]").cloned() else {
            continue;
        };
        let id = r.required_string(&t, "id", "this [[policy]]");
        if let Some(id) = &id {
            if !valid_id(id) {
                r.err(
                    &t.get("id").map_or(t.loc.clone(), |n| n.loc.clone()),
                    format!("`{id}` is not a valid id: letters, digits, then also `.`, `_`, `-`"),
                );
            }
        }
        r.id = id.clone();
        r.keys(&t, "a [[policy]]", POLICY_KEYS);
        let name = r
            .required_string(&t, "name", "this policy")
            .unwrap_or_default();
        let description = r.optional_string(&t, "description").unwrap_or_default();
        let severity = match t.get("severity") {
            Some(n) => r.string(n, "`severity`").and_then(|s| {
                let v = Severity::parse(&s);
                if v.is_none() {
                    r.err(
                        &n.loc,
                        format!("unknown severity `{s}`; use info, low, medium, high or critical"),
                    );
                }
                v
            }),
            None => {
                r.err(
                    &t.loc,
                    "a policy needs a `severity` (info, low, medium, high, critical)",
                );
                None
            }
        };
        let mode = t
            .get("mode")
            .map_or(Some(Mode::Enforce), |n| mode(&mut r, n));
        let priority = t.get("priority").map_or(Some(1000), |n| {
            r.int(n, "`priority`", -1_000_000, 1_000_000)
        });
        let score = t
            .get("score")
            .map_or(Some(0), |n| r.int(n, "`score`", 0, 1000));
        let tags = t
            .get("tags")
            .map(|n| r.strings(n, "`tags`").into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default();
        let phase = match t.get("phase") {
            None => Some(PolicyPhase::Request),
            Some(n) => match r.string(n, "`phase`").as_deref() {
                Some("request") => Some(PolicyPhase::Request),
                Some("response") => Some(PolicyPhase::Response),
                Some(other) => {
                    r.err(
                        &n.loc,
                        format!("unknown phase `{other}`; use request or response"),
                    );
                    None
                }
                None => None,
            },
        };
        if let (Some(p), Some(n)) = (phase, t.get("condition")) {
            crate::response_policy::check_condition(&mut r, n, p);
        }
        let condition = match t.get("condition") {
            Some(n) => condition(&mut r, n, 0),
            None => {
                r.err(&t.loc, "a policy needs a `condition`");
                None
            }
        };
        let action = match t.get("action") {
            Some(n) => action(&mut r, n),
            None => {
                r.err(
                    &t.loc,
                    "a policy needs an `action` (\"none\" to only score)",
                );
                None
            }
        };
        let action = match (phase, action, t.get("action")) {
            (Some(p), Some(a), Some(n)) => crate::response_policy::check_action(&mut r, n, p, a),
            (_, a, _) => a,
        };
        let escalate_ms = match t.get("escalate") {
            Some(n) => escalate(&mut r, n, action.as_ref()).map(Some),
            None => Some(None),
        };
        let examples = t
            .get("example")
            .map(|n| examples(&mut r, n))
            .unwrap_or_default();
        if let Some(p) = phase {
            crate::response_policy::check_examples(&mut r, t.get("example"), p);
        }
        if let (
            Some(id),
            Some(severity),
            Some(mode),
            Some(priority),
            Some(score),
            Some(condition),
            Some(action),
            Some(escalate_ms),
            Some(phase),
        ) = (
            id,
            severity,
            mode,
            priority,
            score,
            condition,
            action,
            escalate_ms,
            phase,
        ) {
            out.policies.push(Policy {
                id,
                name,
                description,
                severity,
                tags,
                mode,
                priority,
                score: score as u32,
                phase,
                condition,
                action,
                escalate_ms,
                examples,
                exclusions: Vec::new(),
                pack,
                loc: t.loc.clone(),
            });
        }
    }
}

/// `escalate = "10m"`: how long a client this policy stopped stays denied.
/// Only a policy that stops requests can escalate (`action` is the parsed
/// action, if it parsed, to say so at the right place).
pub(crate) fn escalate(r: &mut Reader<'_>, n: &Node, action: Option<&Action>) -> Option<u64> {
    const LO: u64 = 1000;
    const HI: u64 = 7 * 86_400_000;
    let s = r.string(n, "`escalate`")?;
    let ms = match duration_ms(&s) {
        Some(ms) if (LO..=HI).contains(&ms) => ms,
        Some(_) => {
            r.err(
                &n.loc,
                format!(
                    "`escalate` must be between {} and {}, got {s}",
                    fmt_ms(LO),
                    fmt_ms(HI)
                ),
            );
            return None;
        }
        None => {
            r.err(
                &n.loc,
                format!("`escalate` must be a duration like 30s, 10m, 1h; got `{s}`"),
            );
            return None;
        }
    };
    if let Some(a) = action {
        if !a.terminates() {
            r.err(
                &n.loc,
                format!(
                    "`escalate` needs an action that stops the request (block, rate_limit, deceive, tarpit, drop); `{}` forwards it",
                    a.name()
                ),
            );
            return None;
        }
    }
    Some(ms)
}

pub(crate) fn mode(r: &mut Reader<'_>, n: &Node) -> Option<Mode> {
    let s = r.string(n, "`mode`")?;
    let m = Mode::parse(&s);
    if m.is_none() {
        r.err(
            &n.loc,
            format!("unknown mode `{s}`; use enforce, monitor or off"),
        );
    }
    m
}

const COND_MAIN: &[&str] = &[
    "all",
    "any",
    "not",
    "signature",
    "signature_tag",
    "method",
    "path",
    "path_regex",
    "host",
    "route",
    "header",
    "arg",
    "cookie",
    "tls",
    "list",
    "counter",
    "identity",
    "anomaly",
    "policy",
    "score_at_least",
    "response_status",
    "response_header",
];
const VALUE_TESTS: &[&str] = &["equals", "contains", "prefix", "matches"];

/// Whether `k` names a condition.
pub(crate) fn is_condition(k: &str) -> bool {
    COND_MAIN.contains(&k)
}
const CMPS: &[&str] = &["gt", "gte", "lt", "lte", "eq"];

pub(crate) fn condition(r: &mut Reader<'_>, n: &Node, depth: usize) -> Option<Cond> {
    if depth > MAX_DEPTH {
        r.err(
            &n.loc,
            format!("conditions nest deeper than {MAX_DEPTH} levels"),
        );
        return None;
    }
    let t = r.table(n, "a condition")?;
    let mains: Vec<&str> = t
        .entries()
        .iter()
        .map(|(k, _, _)| k.as_str())
        .filter(|k| COND_MAIN.contains(k))
        .collect();
    let main = match mains.as_slice() {
        [one] => *one,
        [] => {
            let first = t.entries().first().map(|(k, l, _)| (k.clone(), l.clone()));
            match first {
                Some((k, l)) => {
                    let hint = tree::closest(&k, COND_MAIN)
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    r.err(
                        &l,
                        format!(
                            "unknown condition `{k}`{hint}; conditions: {}",
                            COND_MAIN.join(", ")
                        ),
                    );
                }
                None => r.err(&t.loc, "empty condition"),
            }
            return None;
        }
        many => {
            r.err(
                &t.loc,
                format!(
                    "a condition tests one thing; this one has {} (wrap them in `all` or `any`)",
                    many.join(", ")
                ),
            );
            return None;
        }
    };
    let v = t.get(main)?;
    let allowed: &[&str] = match main {
        "signature" | "signature_tag" => &["fields"],
        "header" | "arg" | "cookie" | "identity" | "tls" | "response_header" => VALUE_TESTS,
        "list" => &["key"],
        "counter" => CMPS,
        _ => &[],
    };
    for (k, loc, _) in t.entries() {
        if k != main && !allowed.contains(&k.as_str()) {
            let msg = if allowed.is_empty() {
                format!("`{k}` does not go with `{main}`")
            } else {
                format!(
                    "`{k}` does not go with `{main}`; it takes {}",
                    allowed.join(", ")
                )
            };
            r.err(loc, msg);
        }
    }
    let sel = |r: &mut Reader<'_>| t.get("fields").map(|f| fields(r, f)).unwrap_or_default();
    Some(match main {
        "all" | "any" => {
            let items: Vec<Cond> = r
                .array(v, &format!("`{main}`"))
                .iter()
                .filter_map(|c| condition(r, c, depth + 1))
                .collect();
            if items.is_empty() {
                r.err(&v.loc, format!("`{main}` needs at least one condition"));
                return None;
            }
            if main == "all" {
                Cond::All(items)
            } else {
                Cond::Any(items)
            }
        }
        "not" => Cond::Not(Box::new(condition(r, v, depth + 1)?)),
        "signature" => {
            let ids = r.strings(v, "`signature`");
            Cond::Signature {
                ids,
                resolved: Vec::new(),
                fields: sel(r),
            }
        }
        "signature_tag" => {
            let tag = r.string(v, "`signature_tag`")?;
            Cond::SignatureTag {
                tag: (tag, v.loc.clone()),
                resolved: Vec::new(),
                fields: sel(r),
            }
        }
        "method" => Cond::Method(
            r.strings(v, "`method`")
                .into_iter()
                .map(|(s, _)| s.into_bytes())
                .collect(),
        ),
        "path" => Cond::Path(
            r.strings(v, "`path`")
                .into_iter()
                .map(|(s, _)| Glob::path(&s))
                .collect(),
        ),
        "host" => Cond::Host(
            r.strings(v, "`host`")
                .into_iter()
                .map(|(s, _)| Glob::path(&s))
                .collect(),
        ),
        "route" => Cond::Route(
            r.strings(v, "`route`")
                .into_iter()
                .map(|(s, _)| Glob::route(&s))
                .collect(),
        ),
        "path_regex" => Cond::PathRegex(regex(r, v)?),
        "header" | "arg" | "cookie" => {
            let name = r
                .string(v, &format!("`{main}`"))?
                .to_ascii_lowercase()
                .into_bytes();
            let test = value_test(r, t)?;
            match main {
                "header" => Cond::Header(name, test),
                "arg" => Cond::Arg(name, test),
                _ => Cond::Cookie(name, test),
            }
        }
        "identity" => {
            let name = r.string(v, "`identity`")?;
            let Some(prop) = IdentityProp::parse(&name) else {
                r.err(
                    &v.loc,
                    format!(
                        "unknown identity property `{name}`; properties: {}",
                        IDENTITY_PROPS.join(", ")
                    ),
                );
                return None;
            };
            Cond::Identity(prop, value_test(r, t)?)
        }
        "tls" => {
            let name = r.string(v, "`tls`")?;
            let Some(prop) = crate::measures::TlsProp::parse(&name) else {
                r.err(
                    &v.loc,
                    format!(
                        "unknown TLS property `{name}`; properties: {}",
                        crate::measures::TLS_PROPS.join(", ")
                    ),
                );
                return None;
            };
            Cond::Tls(prop, value_test(r, t)?)
        }
        "list" => {
            let name = r.string(v, "`list`")?;
            let key = match t.get("key") {
                Some(k) => list_key(r, k)?,
                None => {
                    r.err(
                        &t.loc,
                        "a list condition needs a `key`, e.g. key = \"client.ip\"",
                    );
                    return None;
                }
            };
            Cond::List {
                name: (name, v.loc.clone()),
                resolved: usize::MAX,
                key,
            }
        }
        "counter" => {
            let name = r.string(v, "`counter`")?;
            let Some(counter) = Counter::parse(&name) else {
                let hint = tree::closest(&name, COUNTERS)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                r.err(
                    &v.loc,
                    format!("unknown counter `{name}`{hint}; see docs/POLICY.md for counter names"),
                );
                return None;
            };
            let present: Vec<&str> = CMPS
                .iter()
                .copied()
                .filter(|c| t.get(c).is_some())
                .collect();
            let [cmp] = present.as_slice() else {
                r.err(
                    &t.loc,
                    "a counter condition needs exactly one of gt, gte, lt, lte, eq",
                );
                return None;
            };
            let n = t.get(cmp)?;
            let value = r.int(n, &format!("`{cmp}`"), 0, i64::MAX)? as u64;
            let cmp = match *cmp {
                "gt" => Cmp::Gt,
                "gte" => Cmp::Gte,
                "lt" => Cmp::Lt,
                "lte" => Cmp::Lte,
                _ => Cmp::Eq,
            };
            Cond::Counter {
                counter,
                cmp,
                value,
                loc: n.loc.clone(),
            }
        }
        "anomaly" => {
            let name = r.string(v, "`anomaly`")?;
            let Some(a) = Anomaly::parse(&name) else {
                r.err(
                    &v.loc,
                    format!(
                        "unknown anomaly `{name}`; anomalies: {}",
                        ANOMALIES.join(", ")
                    ),
                );
                return None;
            };
            Cond::Anomaly(a)
        }
        "policy" => {
            let id = r.string(v, "`policy`")?;
            Cond::Policy {
                id: (id, v.loc.clone()),
                resolved: usize::MAX,
            }
        }
        "response_status" => Cond::ResponseStatus(crate::response_policy::status_ranges(r, v)?),
        "response_header" => {
            let name = r
                .string(v, "`response_header`")?
                .to_ascii_lowercase()
                .into_bytes();
            Cond::ResponseHeader(name, value_test(r, t)?)
        }
        "score_at_least" => Cond::ScoreAtLeast(
            r.int(v, "`score_at_least`", 1, 1_000_000)? as u64,
            v.loc.clone(),
        ),
        _ => return None,
    })
}

fn regex(r: &mut Reader<'_>, n: &Node) -> Option<regex::bytes::Regex> {
    let s = r.string(n, "a regex")?;
    match regex::bytes::Regex::new(&s) {
        Ok(re) => Some(re),
        Err(e) => {
            r.err(
                &n.loc,
                format!(
                    "bad regex `{s}`: {}",
                    e.to_string().lines().last().unwrap_or("invalid")
                ),
            );
            None
        }
    }
}

fn value_test(r: &mut Reader<'_>, t: &Node) -> Option<ValueTest> {
    let present: Vec<&str> = VALUE_TESTS
        .iter()
        .copied()
        .filter(|k| t.get(k).is_some())
        .collect();
    match present.as_slice() {
        [] => Some(ValueTest::Present),
        [one] => {
            let n = t.get(one)?;
            Some(match *one {
                "matches" => ValueTest::Matches(regex(r, n)?),
                k => {
                    let s = r
                        .string(n, &format!("`{k}`"))?
                        .to_ascii_lowercase()
                        .into_bytes();
                    match k {
                        "equals" => ValueTest::Equals(s),
                        "contains" => ValueTest::Contains(s),
                        _ => ValueTest::Prefix(s),
                    }
                }
            })
        }
        many => {
            r.err(
                &t.loc,
                format!("use one value test, not {}", many.join(" and ")),
            );
            None
        }
    }
}

fn list_key(r: &mut Reader<'_>, n: &Node) -> Option<ListKey> {
    let s = r.string(n, "`key`")?;
    Some(match s.as_str() {
        "client.ip" => ListKey::ClientIp,
        "tls.ja4" => ListKey::Ja4,
        "tls.ja3" => ListKey::Ja3,
        "credential.password" => ListKey::Password,
        "credential.user_password" => ListKey::UserPassword,
        "request.header_fingerprint" => ListKey::HeaderFingerprint,
        _ => {
            if let Some(h) = s.strip_prefix("header:") {
                ListKey::Header(h.to_ascii_lowercase().into_bytes())
            } else if let Some(a) = s.strip_prefix("arg:") {
                ListKey::Arg(a.as_bytes().to_vec())
            } else if let Some(p) = s
                .strip_prefix("identity.")
                .and_then(IdentityProp::parse)
                .or_else(|| IdentityProp::parse(&s))
            {
                ListKey::Identity(p)
            } else {
                r.err(&n.loc, format!("unknown list key `{s}`; keys: client.ip, tls.ja4, tls.ja3, credential.password, credential.user_password, request.header_fingerprint, header:NAME, arg:NAME, identity.user, jwt.sub"));
                return None;
            }
        }
    })
}

fn headers(r: &mut Reader<'_>, n: &Node) -> Vec<(String, String)> {
    let Some(t) = r.table(n, "`headers`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, loc, v) in t.entries() {
        let valid_name = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            r.err(loc, format!("`{k}` is not a valid header name"));
            continue;
        }
        if let Some(s) = r.string(v, &format!("header `{k}`")) {
            if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                r.err(&v.loc, format!("header `{k}` value contains CR, LF or NUL"));
                continue;
            }
            out.push((k.clone(), s));
        }
    }
    out
}

const ACTIONS: &[&str] = &[
    "block",
    "rate_limit",
    "deceive",
    "tarpit",
    "drop",
    "tag",
    "mask",
    "allow",
    "none",
];

pub(crate) fn action(r: &mut Reader<'_>, n: &Node) -> Option<Action> {
    let (name, params, loc) = match &n.kind {
        Kind::Str(s) => (s.clone(), None, n.loc.clone()),
        Kind::Table(e) if e.len() == 1 => (e[0].0.clone(), Some(&e[0].2), e[0].1.clone()),
        Kind::Table(_) => {
            r.err(
                &n.loc,
                format!(
                    "an action is one of {} (a string, or a table with one of them as key)",
                    ACTIONS.join(", ")
                ),
            );
            return None;
        }
        _ => {
            r.err(
                &n.loc,
                format!(
                    "`action` must be a string or a table, found {}",
                    n.type_name()
                ),
            );
            return None;
        }
    };
    let keys: &[&str] = match name.as_str() {
        "block" => &["status", "template", "headers"],
        "rate_limit" => &["retry_after"],
        "deceive" => &["template", "status"],
        "tarpit" => &["delay", "then"],
        "tag" => &["headers"],
        "drop" | "allow" | "none" | "mask" => &[],
        other => {
            let hint = tree::closest(other, ACTIONS)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            r.err(
                &loc,
                format!(
                    "unknown action `{other}`{hint}; actions: {}",
                    ACTIONS.join(", ")
                ),
            );
            return None;
        }
    };
    let empty = Node {
        kind: Kind::Table(Vec::new()),
        loc: loc.clone(),
    };
    let p = match params {
        Some(p) => r.table(p, &format!("the `{name}` parameters"))?,
        None => &empty,
    };
    r.keys(p, &format!("`{name}`"), keys);
    let dur = |r: &mut Reader<'_>, key: &str, lo: u64, hi: u64, default: u64| -> Option<u64> {
        let Some(v) = p.get(key) else {
            return Some(default);
        };
        let s = r.string(v, &format!("`{key}`"))?;
        match duration_ms(&s) {
            Some(ms) if (lo..=hi).contains(&ms) => Some(ms),
            Some(_) => {
                r.err(
                    &v.loc,
                    format!(
                        "`{key}` must be between {} and {}, got {s}",
                        fmt_ms(lo),
                        fmt_ms(hi)
                    ),
                );
                None
            }
            None => {
                r.err(
                    &v.loc,
                    format!("`{key}` must be a duration like 500ms, 30s, 5m; got `{s}`"),
                );
                None
            }
        }
    };
    Some(match name.as_str() {
        "block" => Action::Block {
            status: p
                .get("status")
                .map_or(Some(403), |v| r.int(v, "`status`", 400, 599))? as u16,
            template: p
                .get("template")
                .map_or(Some("block".to_owned()), |v| r.string(v, "`template`"))?,
            headers: p.get("headers").map(|h| headers(r, h)).unwrap_or_default(),
        },
        "rate_limit" => Action::RateLimit {
            retry_after_s: dur(r, "retry_after", 1000, 86_400_000, 60_000)? / 1000,
        },
        "deceive" => Action::Deceive {
            template: match p.get("template") {
                Some(v) => r.string(v, "`template`")?,
                None => {
                    r.err(&loc, "`deceive` needs a `template`");
                    return None;
                }
            },
            status: p
                .get("status")
                .map_or(Some(200), |v| r.int(v, "`status`", 200, 599))? as u16,
        },
        "tarpit" => {
            let delay_ms = dur(r, "delay", 100, 60_000, 5_000)?;
            let then = match p.get("then") {
                None => Action::Block {
                    status: 403,
                    template: "block".into(),
                    headers: Vec::new(),
                },
                Some(v) => {
                    let a = action(r, v)?;
                    if !matches!(
                        a,
                        Action::Block { .. } | Action::Deceive { .. } | Action::Drop
                    ) {
                        r.err(&v.loc, "a tarpit's `then` must be block, deceive or drop");
                        return None;
                    }
                    a
                }
            };
            Action::Tarpit {
                delay_ms,
                then: Box::new(then),
            }
        }
        "tag" => Action::Tag {
            headers: p.get("headers").map(|h| headers(r, h)).unwrap_or_default(),
        },
        "drop" => Action::Drop,
        "mask" => Action::Mask,
        "allow" => Action::Allow,
        _ => Action::None,
    })
}

fn fmt_ms(ms: u64) -> String {
    if ms % 86_400_000 == 0 {
        format!("{}d", ms / 86_400_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

const EXAMPLE_KEYS: &[&str] = &[
    "expect",
    "request",
    "client_ip",
    "counters",
    "identity",
    "tls",
    "credential",
    "note",
    "response",
];

fn examples(r: &mut Reader<'_>, n: &Node) -> Vec<Example> {
    let mut out = Vec::new();
    for t in r.array(n, "`example`").to_vec() {
        let Some(t) = r.table(&t, "a [[policy.example]]").cloned() else {
            continue;
        };
        r.keys(&t, "a [[policy.example]]", EXAMPLE_KEYS);
        let expect = match r.required_string(&t, "expect", "this example").as_deref() {
            Some("match") => Some(true),
            Some("no_match") => Some(false),
            Some(other) => {
                r.err(
                    &t.get("expect").map_or(t.loc.clone(), |n| n.loc.clone()),
                    format!("`expect` must be \"match\" or \"no_match\", got `{other}`"),
                );
                None
            }
            None => None,
        };
        let response = r.optional_string(&t, "response");
        // A response policy's example gives a response instead (checked
        // against the policy's phase by `response_policy::check_examples`).
        let request = if response.is_some() {
            Some(r.optional_string(&t, "request").unwrap_or_default())
        } else {
            r.required_string(&t, "request", "this example")
        };
        let client_ip = t.get("client_ip").and_then(|v| {
            let s = r.string(v, "`client_ip`")?;
            let ip = s.parse::<IpAddr>().ok();
            if ip.is_none() {
                r.err(&v.loc, format!("`{s}` is not an IP address"));
            }
            ip
        });
        let mut counters = Vec::new();
        if let Some(c) = t
            .get("counters")
            .and_then(|c| r.table(c, "`counters`").cloned())
        {
            for (k, loc, v) in c.entries() {
                match Counter::parse(k) {
                    Some(counter) if !counter.is_request_measure() => {
                        if let Some(n) = r.int(v, &format!("counter `{k}`"), 0, i64::MAX) {
                            counters.push((counter, n as u64));
                        }
                    }
                    Some(_) => r.err(
                        loc,
                        format!("`{k}` is measured from the request; it cannot be set"),
                    ),
                    None => r.err(loc, format!("unknown counter `{k}`")),
                }
            }
        }
        let mut identity = Vec::new();
        if let Some(c) = t
            .get("identity")
            .and_then(|c| r.table(c, "`identity`").cloned())
        {
            for (k, loc, v) in c.entries() {
                match IdentityProp::parse(k) {
                    Some(p) => {
                        if let Some(s) = r.string(v, &format!("identity `{k}`")) {
                            identity.push((p, s));
                        }
                    }
                    None => r.err(loc, format!("unknown identity property `{k}`")),
                }
            }
        }
        let (mut ja4, mut ja3) = (None, None);
        let mut tls: [Option<String>; crate::measures::TLS_FACTS] = Default::default();
        if let Some(c) = t.get("tls").and_then(|c| r.table(c, "`tls`").cloned()) {
            let facts = ["version", "sni", "alpn", "client_subject", "client_cn"];
            r.keys(
                &c,
                "`tls`",
                &[
                    "ja4", "ja3", facts[0], facts[1], facts[2], facts[3], facts[4],
                ],
            );
            ja4 = r.optional_string(&c, "ja4");
            ja3 = r.optional_string(&c, "ja3");
            for (i, k) in facts.iter().enumerate() {
                tls[i] = r.optional_string(&c, k);
            }
        }
        let password = t
            .get("credential")
            .and_then(|c| r.table(c, "`credential`").cloned())
            .and_then(|c| {
                r.keys(&c, "`credential`", &["password"]);
                r.optional_string(&c, "password")
            });
        let note = r.optional_string(&t, "note");
        if let (Some(expect_match), Some(request)) = (expect, request) {
            out.push(Example {
                expect_match,
                request,
                response,
                client_ip,
                counters,
                identity,
                ja4,
                ja3,
                tls,
                password,
                note,
                loc: t.loc.clone(),
            });
        }
    }
    out
}
