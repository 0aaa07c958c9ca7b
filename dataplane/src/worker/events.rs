//! The worker's side of the security event log and policy metrics: the hook
//! `judge` calls once a request is judged, and the stats flush that also
//! publishes the kit's per-policy counters and the events the ring dropped.

use std::time::{Instant, SystemTime};

use rampart_policy_loader::Action;

use super::conn::Client;
use super::stats::Stats;
use super::{Shared, Worker};
use crate::events::{CoreEvents, Event};
use crate::policy::CoreKit;

/// What the gateway does with the request just judged, and whether that is
/// an enforced decision (false: forwarded, monitor hits only or none).
pub(super) fn decided_action(kit: &CoreKit) -> (&'static str, bool) {
    let v = &kit.verdict;
    let pols = &kit.policy.policies;
    if let Some(p) = v.decision.and_then(|i| pols.get(i)) {
        return (p.action.name(), true);
    }
    if v.allowed_by.is_some() {
        return ("allow", true);
    }
    let tagged = v.hits.iter().any(|h| {
        !h.monitor
            && pols
                .get(h.policy)
                .is_some_and(|p| matches!(p.action, Action::Tag { .. }))
    });
    if tagged {
        ("tag", true)
    } else {
        ("allow", false)
    }
}

/// The request `judge` just judged.
pub(super) struct Judged<'a> {
    pub client: &'a Client,
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub headers: &'a [(&'a [u8], &'a [u8])],
    pub body_len: u64,
    /// When judging began (for the inspection-time histogram); `None` for a
    /// request answered without a scan.
    pub started: Option<Instant>,
    /// The identity and counters the judging read (`None`: not read).
    pub behaviour: Option<(crate::events::record::EventIdentity<'a>, &'a [u64])>,
}

/// Everything done once a request is judged: inspection time, per-policy
/// counters, and the event (when it had hits or is sampled). `action` and
/// `enforced` are what the gateway does with it. Fields of the worker are
/// passed apart so the kit can stay borrowed.
#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    kit: &mut CoreKit,
    req: &Judged<'_>,
    action: &str,
    enforced: bool,
    stats: &mut Stats,
    events: Option<&mut CoreEvents>,
    shared: &Shared,
    now_ms: u64,
) {
    if let Some(t) = req.started {
        stats.inspection(t.elapsed());
    }
    kit.metrics.count(&kit.verdict);
    if let Some(events) = events {
        emit(events, kit, shared, req, action, enforced, now_ms);
    }
}

/// The policy an event is limited by: the one that decided, else the
/// `allow` that stopped evaluation, else the first non-`allow` hit (a
/// monitor-only event). `None` (a decoy refusal, a sampled allow): not
/// limited.
fn limit_key(kit: &CoreKit) -> Option<usize> {
    let v = &kit.verdict;
    v.decision.or(v.allowed_by).or_else(|| {
        v.hits
            .iter()
            .find(|h| {
                kit.policy
                    .policies
                    .get(h.policy)
                    .is_some_and(|p| !matches!(p.action, Action::Allow))
            })
            .map(|h| h.policy)
    })
}

/// Logs the judged request when it had policy hits or is sampled.
fn emit(
    events: &mut CoreEvents,
    kit: &mut CoreKit,
    shared: &Shared,
    req: &Judged<'_>,
    action: &str,
    enforced: bool,
    now_ms: u64,
) {
    let (client, method, target, headers, body_len) = (
        req.client,
        req.method,
        req.target,
        req.headers,
        req.body_len,
    );
    // Hits of `allow` policies alone (an allowlisted health check, say) are
    // not security events; any other hit is.
    let pols = &kit.policy.policies;
    let notable = (enforced && action != "allow")
        || kit.verdict.hits.iter().any(|h| {
            pols.get(h.policy)
                .is_some_and(|p| !matches!(p.action, Action::Allow))
        });
    if !events.wants(notable) {
        return;
    }
    // Checked before anything is formatted: that is the cost it saves.
    if notable {
        if let Some(key) = limit_key(kit) {
            if !kit
                .event_limit
                .admit(key, now_ms, events.per_policy_per_second)
            {
                events.suppressed += 1;
                return;
            }
        }
    }
    let host = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
        .map_or(&b""[..], |(_, v)| v);
    let route = shared
        .router
        .pick_route(host, std::str::from_utf8(target).unwrap_or("/"))
        .and_then(|(i, _)| shared.router.route(i))
        .map_or("", |r| r.path_prefix.as_str());
    // Behind a trusted proxy the peer is the proxy: the client it reports
    // is worth having in the event (as received, not interpreted).
    let trusted = shared
        .config
        .forwarding
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&client.peer));
    let forwarded_for = trusted
        .then(|| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"x-forwarded-for"))
                .map(|(_, v)| *v)
        })
        .flatten();
    let upstream = shared
        .config
        .upstreams
        .get(client.cluster)
        .map_or("", |u| u.name.as_str());
    events.emit(&Event {
        id: &client.request_id,
        time: SystemTime::now(),
        client: client.peer,
        forwarded_for,
        route,
        upstream,
        method,
        target,
        headers,
        body_len,
        action,
        enforced,
        policy: &kit.policy,
        verdict: &kit.verdict,
        matches: kit.matches(),
        counters: req.behaviour.map_or(kit.counters(), |(_, c)| c),
        identity: req.behaviour.map(|(id, _)| id),
        tls: client.tls.as_ref().map(|t| &t.session.facts),
    });
}

impl Worker {
    /// The event log and policy metrics for the request the current kit has
    /// just judged, with what the gateway decided (in the global dry run
    /// nothing is enforced: the event says what would have been done).
    pub(super) fn record_judged(
        &mut self,
        slot: u32,
        method: &[u8],
        target: &[u8],
        headers: &[(&[u8], &[u8])],
        body_len: u64,
        started: Instant,
    ) {
        let Some(kit) = self.kit.as_mut() else {
            return;
        };
        let (action, enforced) = decided_action(kit);
        let enforced = enforced && !self.enf.monitoring_only();
        let req = Judged {
            client: &self.clients[slot as usize],
            method,
            target,
            headers,
            body_len,
            started: Some(started),
            behaviour: self
                .beh
                .as_ref()
                .map(|b| (b.last_identity(), b.last_counters())),
        };
        record(
            kit,
            &req,
            action,
            enforced,
            &mut self.stats,
            self.events.as_mut(),
            &self.shared,
            self.now_ms,
        );
    }

    /// Writes a summary line for each policy whose events the per-policy
    /// limit left out since the last one (every stats flush, and when a
    /// reloaded kit is retired).
    pub(super) fn summarise_suppressed(&mut self, old: bool) {
        let (Some(events), Some(kit)) = (
            self.events.as_mut(),
            if old {
                self.old_kit.as_mut()
            } else {
                self.kit.as_mut()
            },
        ) else {
            return;
        };
        summarise(events, kit, self.now_ms);
    }

    /// Publishes this core's counters (stats, policy verdicts, dropped events).
    pub(super) fn flush_stats(&mut self) {
        self.summarise_suppressed(false);
        self.summarise_suppressed(true);
        if let Some(e) = &self.events {
            self.stats.now.events_dropped = e.dropped;
            self.stats.now.events_suppressed = e.suppressed;
        }
        if let Some(k) = self.kit.as_mut() {
            k.metrics.flush();
        }
        if let Some(k) = self.old_kit.as_mut() {
            k.metrics.flush();
        }
        self.stats.flush();
        self.publish_traffic();
        self.enf.stats.flush();
        if let Some(b) = self.beh.as_mut() {
            b.flush_metrics();
        }
    }
}

/// See [`Worker::summarise_suppressed`]; `now_ms` is the worker's clock.
fn summarise(events: &mut CoreEvents, kit: &mut CoreKit, now_ms: u64) {
    let now = SystemTime::now();
    let limit = events.per_policy_per_second;
    let policy = &kit.policy;
    kit.event_limit.drain(|i, suppressed, first_ms| {
        let Some(p) = policy.policies.get(i) else {
            return;
        };
        let ago = std::time::Duration::from_millis(now_ms.saturating_sub(first_ms));
        events.emit_summary(&crate::events::record::Summary {
            policy: p,
            suppressed,
            since: now.checked_sub(ago).unwrap_or(now),
            time: now,
            limit,
        });
    });
}
