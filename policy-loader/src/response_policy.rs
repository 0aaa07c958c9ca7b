//! The pack rules of response policies (`phase = "response"`): which
//! conditions, actions and examples go with which phase, and how response
//! status ranges are written. Every error carries the location of the key
//! that breaks the rule.

use crate::diag::Sink;
use crate::model::{Action, Policy, PolicyPhase, SignatureInfo};
use crate::tree::{Kind, Node, Reader};

/// Conditions a response policy can use: the response is all it sees (the
/// request's bytes are gone by the time the response arrives).
const RESPONSE_CONDS: &[&str] = &[
    "all",
    "any",
    "not",
    "signature",
    "signature_tag",
    "response_status",
    "response_header",
];

/// Conditions that only make sense on a response.
const RESPONSE_ONLY: &[&str] = &["response_status", "response_header"];

/// Reports every condition key that does not belong to `phase`, walking
/// `all`/`any`/`not` (shape errors are the condition parser's to report).
pub(crate) fn check_condition(r: &mut Reader<'_>, n: &Node, phase: PolicyPhase) {
    let Kind::Table(entries) = &n.kind else {
        return;
    };
    for (k, loc, v) in entries {
        let k = k.as_str();
        match phase {
            PolicyPhase::Request if RESPONSE_ONLY.contains(&k) => r.err(
                loc,
                format!("`{k}` tests the upstream's response; it needs phase = \"response\""),
            ),
            PolicyPhase::Response
                if !RESPONSE_CONDS.contains(&k)
                    && crate::parse::is_condition(k)
                    && !is_parameter(k) =>
            {
                r.err(
                    loc,
                    format!(
                        "`{k}` tests the request; a response policy can test {}",
                        RESPONSE_CONDS.join(", ")
                    ),
                )
            }
            _ => {}
        }
        match (k, &v.kind) {
            ("all" | "any", Kind::Array(items)) => {
                for c in items {
                    check_condition(r, c, phase);
                }
            }
            ("not", _) => check_condition(r, v, phase),
            _ => {}
        }
    }
}

/// Keys that qualify a condition rather than being one.
fn is_parameter(k: &str) -> bool {
    matches!(
        k,
        "fields" | "equals" | "contains" | "prefix" | "matches" | "key"
    )
}

/// The actions each phase allows; a response `block` without a status
/// answers 502 (the upstream's answer was withheld, not the request refused).
pub(crate) fn check_action(
    r: &mut Reader<'_>,
    n: &Node,
    phase: PolicyPhase,
    a: Action,
) -> Option<Action> {
    let loc = match &n.kind {
        Kind::Table(e) if e.len() == 1 => e[0].1.clone(),
        _ => n.loc.clone(),
    };
    match (phase, a) {
        (PolicyPhase::Request, Action::Mask) => {
            r.err(
                &loc,
                "`mask` rewrites a response body; it needs phase = \"response\"",
            );
            None
        }
        (
            PolicyPhase::Response,
            Action::Block {
                status,
                template,
                headers,
            },
        ) => {
            let explicit = matches!(&n.kind, Kind::Table(e) if e.len() == 1
                && e[0].2.get("status").is_some());
            Some(Action::Block {
                status: if explicit { status } else { 502 },
                template,
                headers,
            })
        }
        (PolicyPhase::Response, a @ (Action::Mask | Action::None)) => Some(a),
        (PolicyPhase::Response, a) => {
            r.err(
                &loc,
                format!(
                    "a response policy's action is mask, block or none, not `{}`",
                    a.name()
                ),
            );
            None
        }
        (_, a) => Some(a),
    }
}

/// Why `a` cannot be the action of a `phase` policy (for overlay overrides).
pub(crate) fn action_misfit(phase: PolicyPhase, a: &Action) -> Option<String> {
    match (phase, a) {
        (PolicyPhase::Request, Action::Mask) => {
            Some("`mask` rewrites a response body; this policy judges requests".into())
        }
        (PolicyPhase::Response, Action::Mask | Action::Block { .. } | Action::None) => None,
        (PolicyPhase::Response, a) => Some(format!(
            "a response policy's action is mask, block or none, not `{}`",
            a.name()
        )),
        _ => None,
    }
}

/// After references are resolved: a mask policy needs signatures, and each
/// must have a regex twin to find the fragments with.
pub(crate) fn check_masks(
    policies: &[Policy],
    sigs: &[(SignatureInfo, crate::diag::Loc)],
    sink: &mut Sink,
) {
    for p in policies {
        if p.phase != PolicyPhase::Response || p.action != Action::Mask {
            continue;
        }
        let mut list = Vec::new();
        crate::mask::condition_signatures(&p.condition, &mut list);
        if list.is_empty() {
            sink.at(
                &p.loc,
                Some(&p.id),
                "a `mask` policy needs a signature condition: its matches are what is masked",
            );
        }
        list.sort_unstable();
        list.dedup();
        for s in list {
            let Some((info, _)) = sigs.get(s as usize) else {
                continue;
            };
            if let Err(e) = crate::mask::mask_regex(&info.signature) {
                sink.at(
                    &p.loc,
                    Some(&p.id),
                    format!(
                        "signature `{}` cannot locate fragments to mask (its pattern is not valid `regex` syntax: {e})",
                        info.signature.id
                    ),
                );
            }
        }
    }
}

/// `{ policy = "X" }` must name a policy of the same phase: a request is
/// judged before its response exists, and a response after the request's
/// verdict is gone.
pub(crate) fn check_policy_refs(policies: &[Policy], sink: &mut Sink) {
    fn walk(c: &crate::model::Cond, out: &mut Vec<(String, crate::diag::Loc)>) {
        use crate::model::Cond;
        match c {
            Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| walk(c, out)),
            Cond::Not(c) => walk(c, out),
            Cond::Policy { id, .. } => out.push(id.clone()),
            _ => {}
        }
    }
    for p in policies {
        let mut refs = Vec::new();
        walk(&p.condition, &mut refs);
        for (id, loc) in refs {
            if let Some(other) = policies.iter().find(|o| o.id == id) {
                if other.phase != p.phase {
                    sink.at(
                        &loc,
                        Some(&p.id),
                        format!(
                            "`{id}` is a {} policy; a {} policy can only refer to {} policies",
                            other.phase.as_str(),
                            p.phase.as_str(),
                            p.phase.as_str()
                        ),
                    );
                }
            }
        }
    }
}

/// A response policy's examples give a `response`; a request policy's a `request`.
pub(crate) fn check_examples(r: &mut Reader<'_>, n: Option<&Node>, phase: PolicyPhase) {
    let Some(Node {
        kind: Kind::Array(items),
        ..
    }) = n
    else {
        return;
    };
    for t in items {
        match phase {
            PolicyPhase::Request => {
                if let Some(v) = t.get("response") {
                    r.err(
                        &v.loc,
                        "`response` examples are for phase = \"response\" policies; give a `request`",
                    );
                }
            }
            PolicyPhase::Response => {
                if t.get("response").is_none() {
                    r.err(
                        &t.loc,
                        "an example of a response policy needs a `response` (the raw HTTP response)",
                    );
                }
                if let Some(v) = t.get("request") {
                    r.err(
                        &v.loc,
                        "a response policy sees only the response; drop the example's `request`",
                    );
                }
            }
        }
    }
}

/// `response_status`: a status (`404`), a range (`"500-599"`), a class
/// (`"5xx"`), or an array of those.
pub(crate) fn status_ranges(r: &mut Reader<'_>, v: &Node) -> Option<Vec<(u16, u16)>> {
    let items: Vec<&Node> = match &v.kind {
        Kind::Array(items) => items.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::new();
    let mut ok = true;
    for n in items {
        let range = match &n.kind {
            Kind::Int(_) => r
                .int(n, "a `response_status`", 100, 599)
                .map(|s| (s as u16, s as u16)),
            Kind::Str(s) => {
                let parsed = parse_range(s);
                if parsed.is_none() {
                    r.err(
                        &n.loc,
                        format!("`{s}` is not a status range; write 404, \"500-599\" or \"5xx\" (100 to 599)"),
                    );
                }
                parsed
            }
            _ => {
                r.err(
                    &n.loc,
                    format!(
                        "`response_status` entries are statuses or ranges, found {}",
                        n.type_name()
                    ),
                );
                None
            }
        };
        match range {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    if out.is_empty() && ok {
        r.err(&v.loc, "`response_status` needs at least one status");
        return None;
    }
    ok.then_some(out)
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    let valid = |x: u16| (100..=599).contains(&x);
    if let Some(class) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
        let c: u16 = class.parse().ok()?;
        return (1..=5).contains(&c).then_some((c * 100, c * 100 + 99));
    }
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let x = s.parse().ok()?;
            (x, x)
        }
    };
    (valid(lo) && valid(hi) && lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn status_ranges_parse() {
        assert_eq!(parse_range("5xx"), Some((500, 599)));
        assert_eq!(parse_range("200-299"), Some((200, 299)));
        assert_eq!(parse_range(" 404 "), Some((404, 404)));
        assert_eq!(parse_range("6xx"), None);
        assert_eq!(parse_range("300-200"), None);
        assert_eq!(parse_range("99"), None);
        assert_eq!(parse_range("abc"), None);
    }
}
