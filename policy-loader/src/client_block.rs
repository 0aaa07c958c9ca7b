//! Timed client blocks from the overlay (`[[block]]`, written by the admin
//! API's `POST /api/clients/block` or by hand):
//!
//! ```toml
//! [[block]]
//! client = "203.0.113.7"          # an address or a CIDR network
//! until = "2026-11-25T07:10:00Z"  # UTC, RFC 3339 with `Z`
//! reason = "credential stuffing"  # optional
//! ```
//!
//! At load time the blocks still in force become one ordinary policy,
//! [`POLICY_ID`], that runs first and blocks (403, the `block` template) any
//! request from those clients, matched through an ordinary CIDR list,
//! [`LIST_NAME`]: the cores judge it like any pack policy, events and
//! metrics name it, and nothing on the request path knows about blocks.
//! Expired entries are ignored; the earliest expiry still ahead is reported
//! ([`Blocks::next_expiry_s`]) so the reloader can load again when it
//! passes and the block lifts.

use std::net::IpAddr;

use crate::diag::{Loc, Sink};
use crate::lists::{List, ListKind};
use crate::model::{Action, Cond, ListKey, Mode, Policy, PolicyPhase, Severity};
use crate::tree::{Node, Reader};

/// Id of the policy the blocks become.
pub const POLICY_ID: &str = "rampart.client-block";
/// Name of the list of blocked networks.
pub const LIST_NAME: &str = "rampart-client-blocks";
const KEYS: &[&str] = &["client", "until", "reason"];

/// One `[[block]]`.
#[derive(Clone, Debug)]
pub(crate) struct ClientBlock {
    pub net: ipnet::IpNet,
    pub until_s: u64,
    pub loc: Loc,
}

/// Parses the overlay's `block` array.
pub(crate) fn parse(r: &mut Reader<'_>, n: &Node) -> Vec<ClientBlock> {
    let mut out = Vec::new();
    for t in r.array(n, "`block`").to_vec() {
        let Some(t) = r.table(&t, "a [[block]]").cloned() else {
            continue;
        };
        r.keys(&t, "a [[block]]", KEYS);
        let net = t.get("client").and_then(|c| {
            let s = r.string(c, "`client`")?;
            match s
                .parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
            {
                Ok(net) => Some(net.trunc()),
                Err(_) => {
                    r.err(
                        &c.loc,
                        format!("`{s}` is not an IP address or CIDR network"),
                    );
                    None
                }
            }
        });
        if t.get("client").is_none() {
            r.err(&t.loc, "a [[block]] needs `client`");
        }
        let until = match t.get("until") {
            Some(u) => r.string(u, "`until`").and_then(|s| match rfc3339_s(&s) {
                Some(v) => Some(v),
                None => {
                    r.err(
                        &u.loc,
                        format!("`until` is a UTC time like \"2026-11-25T07:10:00Z\", got `{s}`"),
                    );
                    None
                }
            }),
            None => {
                r.err(&t.loc, "a [[block]] needs `until`");
                None
            }
        };
        if let Some(reason) = t.get("reason") {
            r.string(reason, "`reason`");
        }
        if let (Some(net), Some(until_s)) = (net, until) {
            out.push(ClientBlock {
                net,
                until_s,
                loc: t.loc.clone(),
            });
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` in Unix seconds.
pub fn rfc3339_s(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let frac = &s[19..s.len() - 1];
    if !(frac.is_empty()
        || (frac.len() > 1
            && frac.starts_with('.')
            && frac[1..].bytes().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = y as i64 - i64::from(mo <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// Unix seconds `t` as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let rem = t % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// What the blocks added to a load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blocks {
    /// Blocks in force.
    pub active: usize,
    /// Unix seconds of the earliest expiry still ahead (load again then).
    pub next_expiry_s: Option<u64>,
}

/// Adds the block policy and its list when some block is still in force at
/// `now_s`. `has_block_template`: whether a pack has the `block` response.
pub(crate) fn add_policy(
    blocks: &[ClientBlock],
    now_s: u64,
    has_block_template: bool,
    lists: &mut Vec<(List, Loc)>,
    policies: &mut Vec<Policy>,
    sink: &mut Sink,
) -> Blocks {
    let active: Vec<&ClientBlock> = blocks.iter().filter(|b| b.until_s > now_s).collect();
    let Some(first) = active.first() else {
        return Blocks::default();
    };
    if !has_block_template {
        sink.at(
            &first.loc,
            None,
            "a [[block]] answers with the `block` response template, and no pack has one (responses/block.*)",
        );
        return Blocks::default();
    }
    let text: String = active.iter().map(|b| format!("{}\n", b.net)).collect();
    let list = List::parse(
        LIST_NAME,
        ListKind::Ip,
        List::EXTERNAL,
        &text,
        &first.loc.file,
        sink,
    );
    let index = lists.len();
    lists.push((list, first.loc.clone()));
    policies.push(Policy {
        id: POLICY_ID.to_owned(),
        name: "Client blocked by the operator".to_owned(),
        description: "A client address listed in the overlay's [[block]] entries (POST /api/clients/block), until its block expires.".to_owned(),
        severity: Severity::High,
        tags: vec!["operator".to_owned()],
        mode: Mode::Enforce,
        priority: i64::MIN,
        score: 0,
        phase: PolicyPhase::Request,
        condition: Cond::List {
            name: (LIST_NAME.to_owned(), first.loc.clone()),
            resolved: index,
            key: ListKey::ClientIp,
        },
        action: Action::Block {
            status: 403,
            template: "block".to_owned(),
            headers: Vec::new(),
        },
        escalate_ms: None,
        examples: Vec::new(),
        exclusions: Vec::new(),
        pack: 0,
        loc: first.loc.clone(),
    });
    Blocks {
        active: active.len(),
        next_expiry_s: active.iter().map(|b| b.until_s).min(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(rfc3339_s("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_s("2024-02-29T12:34:56Z"), Some(1_709_210_096));
        assert_eq!(rfc3339_s("2024-02-29T12:34:56.789Z"), Some(1_709_210_096));
        assert_eq!(rfc3339_s("2024-02-29 12:34:56Z"), None);
        assert_eq!(rfc3339_s("2024-02-29T12:34:56+01:00"), None);
        assert_eq!(rfc3339_s("2024-02-29T12:34:56.Z"), None);
        assert_eq!(format_rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        for t in [0, 951_782_400, 1_709_210_096, 4_102_444_800] {
            assert_eq!(rfc3339_s(&format_rfc3339(t)), Some(t));
        }
    }
}
