//! The local overlay: per-policy (or per-tag) mode, action, score, threshold
//! and exclusions, applied over the vendor packs without editing them.

use crate::diag::{Loc, Sink};
use crate::glob::Glob;
use crate::model::{Action, Exclusion, Mode};
use crate::parse::{action, escalate, fields, mode};
use crate::tree::{self, Node, Reader};

/// Which policies an override applies to.
#[derive(Clone, Debug)]
pub(crate) enum Selector {
    Policy(String),
    Tag(String),
}

/// One `[[override]]`.
#[derive(Clone, Debug)]
pub(crate) struct Override {
    pub select: Selector,
    pub mode: Option<Mode>,
    pub action: Option<(Action, Loc)>,
    pub score: Option<u32>,
    pub threshold: Option<(u64, Loc)>,
    /// `escalate = "10m"`, or `"off"` (`None`) to remove a pack's escalation.
    pub escalate: Option<(Option<u64>, Loc)>,
    pub exclusions: Vec<Exclusion>,
    pub loc: Loc,
}

const KEYS: &[&str] = &[
    "policy",
    "policy_tag",
    "mode",
    "action",
    "score",
    "threshold",
    "escalate",
    "exclude",
];
const EXCLUDE_KEYS: &[&str] = &["path", "method", "client", "field"];

/// Parses an overlay file's text: its overrides and its timed client
/// blocks (`[[block]]`, see [`crate::client_block`]).
pub(crate) fn parse(
    file: &str,
    text: &str,
    sink: &mut Sink,
) -> (Vec<Override>, Vec<crate::client_block::ClientBlock>) {
    let Some(doc) = tree::parse(file, text, sink) else {
        return (Vec::new(), Vec::new());
    };
    let mut r = Reader { sink, id: None };
    r.keys(&doc, "an overlay file", &["override", "block"]);
    let blocks = doc
        .get("block")
        .map(|b| crate::client_block::parse(&mut r, b))
        .unwrap_or_default();
    (overrides(&mut r, &doc), blocks)
}

fn overrides(r: &mut Reader<'_>, doc: &Node) -> Vec<Override> {
    let Some(arr) = doc.get("override") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in r.array(arr, "`override`").to_vec() {
        let mut r = Reader {
            sink: &mut *r.sink,
            id: None,
        };
        let Some(t) = r.table(&t, "an [[override]]").cloned() else {
            continue;
        };
        r.keys(&t, "an [[override]]", KEYS);
        let select = match (t.get("policy"), t.get("policy_tag")) {
            (Some(p), None) => r.string(p, "`policy`").map(Selector::Policy),
            (None, Some(g)) => r.string(g, "`policy_tag`").map(Selector::Tag),
            _ => {
                r.err(
                    &t.loc,
                    "an override needs exactly one of `policy` or `policy_tag`",
                );
                None
            }
        };
        if let Some(Selector::Policy(id)) = &select {
            r.id = Some(id.clone());
        }
        let mode = t.get("mode").and_then(|n| mode(&mut r, n));
        let action = t
            .get("action")
            .and_then(|n| action(&mut r, n).map(|a| (a, n.loc.clone())));
        let score = t
            .get("score")
            .and_then(|n| r.int(n, "`score`", 0, 1000))
            .map(|s| s as u32);
        let threshold = t.get("threshold").and_then(|n| {
            r.int(n, "`threshold`", 0, i64::MAX)
                .map(|v| (v as u64, n.loc.clone()))
        });
        // Whether the (possibly overridden) action stops requests is checked
        // where the override is applied.
        let escalate = t.get("escalate").and_then(|n| {
            if matches!(&n.kind, tree::Kind::Str(s) if s == "off") {
                return Some((None, n.loc.clone()));
            }
            escalate(&mut r, n, None).map(|ms| (Some(ms), n.loc.clone()))
        });
        let exclusions = t
            .get("exclude")
            .map(|n| exclusions(&mut r, n))
            .unwrap_or_default();
        if let Some(select) = select {
            out.push(Override {
                select,
                mode,
                action,
                score,
                threshold,
                escalate,
                exclusions,
                loc: t.loc.clone(),
            });
        }
    }
    out
}

fn exclusions(r: &mut Reader<'_>, n: &Node) -> Vec<Exclusion> {
    let mut out = Vec::new();
    for t in r.array(n, "`exclude`").to_vec() {
        let Some(t) = r.table(&t, "an [[override.exclude]]").cloned() else {
            continue;
        };
        r.keys(&t, "an [[override.exclude]]", EXCLUDE_KEYS);
        if t.entries().is_empty() {
            r.err(&t.loc, "an empty exclusion would disable the policy everywhere; use mode = \"off\" for that");
            continue;
        }
        let paths = t
            .get("path")
            .map(|p| {
                r.strings(p, "`path`")
                    .into_iter()
                    .map(|(s, _)| Glob::path(&s))
                    .collect()
            })
            .unwrap_or_default();
        let methods = t
            .get("method")
            .map(|p| {
                r.strings(p, "`method`")
                    .into_iter()
                    .map(|(s, _)| s.into_bytes())
                    .collect()
            })
            .unwrap_or_default();
        let mut clients = Vec::new();
        if let Some(c) = t.get("client") {
            for (s, loc) in r.strings(c, "`client`") {
                match s
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                {
                    Ok(net) => clients.push(net),
                    Err(_) => r.err(&loc, format!("`{s}` is not an IP address or CIDR network")),
                }
            }
        }
        let field = match t.get("field") {
            Some(f) => {
                let sel = fields(r, f);
                if sel.len() != 1 {
                    r.err(
                        &f.loc,
                        "an exclusion names one field, like \"args.value:q\"",
                    );
                    continue;
                }
                sel.into_iter().next()
            }
            None => None,
        };
        out.push(Exclusion {
            paths,
            methods,
            clients,
            field,
        });
    }
    out
}
