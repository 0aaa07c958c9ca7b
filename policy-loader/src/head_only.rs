//! Which verdicts are already certain from a request's head: the gateway
//! answers an attack in the headers without waiting for (or reading) a body
//! that could not save it.
//!
//! Evaluation goes in order and the first enforce policy with a stopping
//! action decides. A head-only verdict stopping the request by policy `d`
//! stands when what the body adds cannot unmatch `d` (signature matches only
//! add up, so a positive match on a query argument holds whatever the body
//! holds; a `not` around a body match could flip) and no enforce `allow`
//! policy before `d` can see the body (only an allow can let a request
//! through that a later policy stops). A body-reading
//! *stopping* policy before `d` could at most have stopped the request with
//! its own action instead: the request is stopped either way, and the gateway
//! acts on what it knows without reading an attacker's body.
//!
//! What counts as "from the body" is decided conservatively: body-derived
//! signature fields (form, JSON, multipart, XML, raw body) unless the
//! condition restricts the match to head fields, evasion anomalies, identity
//! properties (a login body may carry the username), the login password,
//! scores of other policies, and references to policies that read the body.

use rampart_matcher::FieldKind;

use crate::model::{Action, Cond, FieldSel, ListKey, Mode, Policy, PolicyPhase, SignatureInfo};

/// Field kinds whose values come from the request body.
fn from_body(kind: FieldKind) -> bool {
    matches!(
        kind,
        FieldKind::FormName
            | FieldKind::FormValue
            | FieldKind::JsonKey
            | FieldKind::JsonValue
            | FieldKind::MultipartName
            | FieldKind::MultipartValue
            | FieldKind::MultipartFilename
            | FieldKind::MultipartHeader
            | FieldKind::XmlText
            | FieldKind::Body
    )
}

/// For each policy (in evaluation order): a verdict stopping the request by
/// it, decided on the head alone, is final.
pub(crate) fn decided_by_head(policies: &[Policy], signatures: &[SignatureInfo]) -> Vec<bool> {
    let mut reads = vec![None; policies.len()];
    let mut out = Vec::with_capacity(policies.len());
    // A body-reading enforce allow seen so far: it could save any later stop.
    let mut saving_allow = false;
    for i in 0..policies.len() {
        let p = &policies[i];
        let live = p.mode == Mode::Enforce && p.phase == PolicyPhase::Request;
        let stays = live && !may_unmatch(&p.condition, true, policies, signatures, 0);
        out.push(stays && !saving_allow);
        if live
            && matches!(p.action, Action::Allow)
            && reads_body(i, policies, signatures, &mut reads, 0)
        {
            saving_allow = true;
        }
    }
    out
}

/// Whether policy `i`'s condition can depend on the body (memoised; a
/// reference chain deeper than the policy count is a cycle the loader
/// refused already, answered conservatively).
fn reads_body(
    i: usize,
    policies: &[Policy],
    signatures: &[SignatureInfo],
    memo: &mut [Option<bool>],
    depth: usize,
) -> bool {
    if let Some(r) = memo[i] {
        return r;
    }
    if depth > policies.len() {
        return true;
    }
    let r = cond_reads_body(
        &policies[i].condition,
        policies,
        signatures,
        memo,
        depth + 1,
    );
    memo[i] = Some(r);
    r
}

fn cond_reads_body(
    c: &Cond,
    policies: &[Policy],
    signatures: &[SignatureInfo],
    memo: &mut [Option<bool>],
    depth: usize,
) -> bool {
    let sigs = |resolved: &[u32], fields: &[FieldSel]| {
        if !fields.is_empty() {
            return fields.iter().any(|f| from_body(f.kind));
        }
        resolved.iter().any(|&s| {
            signatures
                .get(s as usize)
                .is_none_or(|info| info.signature.targets.iter().any(|t| from_body(t.kind)))
        })
    };
    match c {
        Cond::All(v) | Cond::Any(v) => v
            .iter()
            .any(|c| cond_reads_body(c, policies, signatures, memo, depth)),
        Cond::Not(c) => cond_reads_body(c, policies, signatures, memo, depth),
        Cond::Signature {
            resolved, fields, ..
        }
        | Cond::SignatureTag {
            resolved, fields, ..
        } => sigs(resolved, fields),
        Cond::Method(_)
        | Cond::Path(_)
        | Cond::PathRegex(_)
        | Cond::Host(_)
        | Cond::Route(_)
        | Cond::Header(..)
        | Cond::Arg(..)
        | Cond::Cookie(..)
        // The handshake is over before the head arrives.
        | Cond::Tls(..)
        // Request measures (the declared body length included) and
        // behaviour counters are known from the head.
        | Cond::Counter { .. } => false,
        Cond::List { key, .. } => matches!(
            key,
            ListKey::Password | ListKey::UserPassword | ListKey::Identity(_)
        ),
        Cond::Identity(..) | Cond::Anomaly(_) | Cond::ScoreAtLeast(..) => true,
        Cond::Policy { resolved, .. } => {
            *resolved >= policies.len() || reads_body(*resolved, policies, signatures, memo, depth)
        }
        // Response conditions are never in request policies.
        Cond::ResponseStatus(_) | Cond::ResponseHeader(..) => false,
    }
}

/// Whether facts the body adds could turn `c` (evaluated with `positive`
/// polarity: false under an odd number of `not`s) from true to false.
/// Signature matches and anomalies only accumulate, so they threaten only
/// under negation; identity and list lookups on body-derived values can go
/// either way.
fn may_unmatch(
    c: &Cond,
    positive: bool,
    policies: &[Policy],
    signatures: &[SignatureInfo],
    depth: usize,
) -> bool {
    if depth > policies.len() {
        return true;
    }
    match c {
        Cond::All(v) | Cond::Any(v) => v
            .iter()
            .any(|c| may_unmatch(c, positive, policies, signatures, depth)),
        Cond::Not(c) => may_unmatch(c, !positive, policies, signatures, depth),
        Cond::Signature { .. }
        | Cond::SignatureTag { .. }
        | Cond::Anomaly(_)
        | Cond::ScoreAtLeast(..) => {
            !positive && {
                let mut memo = vec![None; policies.len()];
                cond_reads_body(c, policies, signatures, &mut memo, depth)
            }
        }
        Cond::Identity(..) | Cond::List { .. } => {
            let mut memo = vec![None; policies.len()];
            cond_reads_body(c, policies, signatures, &mut memo, depth)
        }
        Cond::Policy { resolved, .. } => match policies.get(*resolved) {
            Some(p) => may_unmatch(&p.condition, positive, policies, signatures, depth + 1),
            None => true,
        },
        _ => false,
    }
}
