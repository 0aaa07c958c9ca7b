//! The admin API's event store: the most recent security events and running
//! aggregates (per policy per minute, per client, per route), fed by the
//! event writer thread and read by the admin threads.
//!
//! The writer hands over each drained batch of JSON lines ([`EventStore::ingest`]);
//! the store parses the few fields it needs, keeps the line itself for
//! queries and forwards it to live subscribers (Server-Sent Events). The one
//! mutex is taken by the writer thread and the admin threads only; cores
//! never see the store, so the hot path is untouched. Every collection is
//! bounded: the ring by `capacity`, the per-policy minutes by an hour, the
//! samples and matched fields per policy, the clients and routes tracked.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Deserialize;
use serde_json::{json, Value};

/// Minutes of per-policy history kept (the last hour).
pub const MINUTES: usize = 60;
/// Sample events kept per policy.
pub const SAMPLES: usize = 10;
/// Distinct matched (signature, field, name) kept per policy.
const FIELDS: usize = 32;
/// Clients tracked; beyond it the least recently seen tenth is forgotten.
const CLIENTS: usize = 10_000;
/// Policies named per client.
const CLIENT_POLICIES: usize = 16;
/// Routes tracked (a config has few; this bounds garbage).
const ROUTES: usize = 1024;
/// Policies tracked (a loaded policy set has at most a few thousand).
const POLICIES: usize = 8192;
/// Events queued to one live subscriber before it is dropped as too slow.
pub const SUBSCRIBER_QUEUE: usize = 1024;

/// Actions that stop a request when enforced (a "block" in the counts).
const STOPPING: &[&str] = &["block", "rate_limit", "deceive", "tarpit", "drop"];

/// The fields of an event line the store reads (serde ignores the rest).
#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    time: String,
    client: LineClient,
    #[serde(default)]
    route: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    enforced: bool,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    policies: Vec<LinePolicy>,
    #[serde(default)]
    matches: Vec<LineMatch>,
}

#[derive(Deserialize)]
struct LineClient {
    ip: String,
    #[serde(default)]
    user: Option<String>,
}

/// A summary of events the per-policy limit left out (`events::limit`):
/// counted into the policy's aggregates, not stored as an event.
#[derive(Deserialize)]
struct SummaryLine {
    summary: String,
    #[serde(default)]
    time: String,
    policy: LinePolicy,
    suppressed: u64,
}

#[derive(Deserialize)]
struct LinePolicy {
    id: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    action: String,
}

#[derive(Deserialize)]
struct LineMatch {
    #[serde(default)]
    signature: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    fragment: String,
}

/// One stored event: the line as written (redacted) and what queries filter on.
#[derive(Debug)]
pub struct StoredEvent {
    /// Unix milliseconds, from the event's `time`.
    pub time_ms: u64,
    pub id: String,
    pub client: String,
    pub route: String,
    pub action: String,
    pub enforced: bool,
    /// `enforce`, `monitor` or `none` (no policy hit).
    pub mode: String,
    /// Ids of the policies that matched.
    pub policies: Vec<String>,
    /// The JSON line without its newline.
    pub line: Arc<str>,
}

impl StoredEvent {
    /// Whether the gateway stopped this request.
    pub fn blocked(&self) -> bool {
        self.enforced && STOPPING.contains(&self.action.as_str())
    }

    /// `{"time_ms":..,"event":{..the line..}}` as JSON text.
    pub fn wrapped(&self) -> String {
        format!("{{\"time_ms\":{},\"event\":{}}}", self.time_ms, self.line)
    }
}

/// Which events a query or a stream wants; empty fields match everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub policy: Option<String>,
    pub client: Option<String>,
    pub route: Option<String>,
    pub action: Option<String>,
    /// Unix milliseconds; events at or after it.
    pub since: Option<u64>,
}

impl Filter {
    pub fn matches(&self, e: &StoredEvent) -> bool {
        self.policy
            .as_ref()
            .is_none_or(|p| e.policies.iter().any(|x| x == p))
            && self.client.as_ref().is_none_or(|c| *c == e.client)
            && self.route.as_ref().is_none_or(|r| *r == e.route)
            && self.action.as_ref().is_none_or(|a| *a == e.action)
            && self.since.is_none_or(|s| e.time_ms >= s)
    }
}

#[derive(Clone, Debug, Default)]
struct Minute {
    /// Unix minute.
    at: u64,
    monitor: u64,
    enforce: u64,
    actions: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct FieldAgg {
    signature: String,
    field: String,
    name: Option<String>,
    count: u64,
    last_fragment: String,
}

#[derive(Debug, Default)]
struct PolicyAgg {
    hits: u64,
    monitor: u64,
    enforce: u64,
    blocks: u64,
    actions: BTreeMap<String, u64>,
    last_ms: u64,
    minutes: VecDeque<Minute>,
    samples: VecDeque<Arc<StoredEvent>>,
    fields: Vec<FieldAgg>,
    /// Matches not kept because `fields` was full.
    fields_other: u64,
}

#[derive(Debug, Default)]
struct ClientAgg {
    events: u64,
    blocks: u64,
    first_ms: u64,
    last_ms: u64,
    user: Option<String>,
    policies: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct RouteAgg {
    events: u64,
    blocks: u64,
}

struct Subscriber {
    filter: Filter,
    tx: SyncSender<Arc<StoredEvent>>,
}

#[derive(Default)]
struct Inner {
    ring: VecDeque<Arc<StoredEvent>>,
    total: u64,
    unparsed: u64,
    /// Events the per-policy limit left out, from summary lines.
    suppressed: u64,
    policies: HashMap<String, PolicyAgg>,
    clients: HashMap<String, ClientAgg>,
    routes: HashMap<String, RouteAgg>,
    subscribers: Vec<Subscriber>,
    dropped_subscribers: u64,
}

/// The store; share it in an `Arc`.
pub struct EventStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl EventStore {
    /// Keeps the last `capacity` events (0: keeps none, aggregates still run).
    pub fn new(capacity: usize) -> EventStore {
        EventStore {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves counts, not invariants, behind.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a batch of `\n`-terminated event lines (the writer thread).
    pub fn ingest(&self, batch: &[u8]) {
        let mut parsed = Vec::new();
        let mut summaries = Vec::new();
        let mut bad = 0u64;
        for l in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if let Some(p) = parse(l) {
                parsed.push(p);
            } else if let Some(s) = parse_summary(l) {
                summaries.push(s);
            } else {
                bad += 1;
            }
        }
        let mut g = self.lock();
        g.unparsed += bad;
        for e in parsed {
            g.add(e, self.capacity);
        }
        for s in summaries {
            g.add_summary(s);
        }
    }

    /// A live feed of the events matching `filter`, in a bounded queue:
    /// when it is full the subscriber is dropped (its receiver then sees
    /// the channel closed), never waited for.
    pub fn subscribe(&self, filter: Filter) -> Receiver<Arc<StoredEvent>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(SUBSCRIBER_QUEUE);
        self.lock().subscribers.push(Subscriber { filter, tx });
        rx
    }

    /// Live subscribers now.
    pub fn subscribers(&self) -> usize {
        self.lock().subscribers.len()
    }

    /// Events matching `f`, newest first, at most `limit`.
    pub fn events(&self, f: &Filter, limit: usize) -> Vec<Arc<StoredEvent>> {
        let g = self.lock();
        g.ring
            .iter()
            .rev()
            .filter(|e| f.matches(e))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Totals for `GET /api/events` and `/api/status`.
    pub fn stats_json(&self) -> Value {
        let g = self.lock();
        json!({
            "capacity": self.capacity,
            "stored": g.ring.len(),
            "seen": g.total,
            "unparsed": g.unparsed,
            "suppressed": g.suppressed,
            "subscribers": g.subscribers.len(),
            "dropped_subscribers": g.dropped_subscribers,
        })
    }

    /// Hit counts of one policy (for `GET /api/policies`).
    pub fn policy_counts(&self) -> HashMap<String, Value> {
        let g = self.lock();
        g.policies
            .iter()
            .map(|(id, a)| (id.clone(), counts_json(a)))
            .collect()
    }

    /// One policy's detail: per-minute hits over the last hour, samples,
    /// matched fields. `None` when it has no hits yet.
    pub fn policy_json(&self, id: &str, now_ms: u64) -> Option<Value> {
        let g = self.lock();
        let a = g.policies.get(id)?;
        let now_min = now_ms / 60_000;
        let minutes: Vec<Value> = a
            .minutes
            .iter()
            .filter(|m| m.at + MINUTES as u64 > now_min)
            .map(|m| {
                json!({
                    "time_ms": m.at * 60_000,
                    "monitor": m.monitor,
                    "enforce": m.enforce,
                    "actions": m.actions,
                })
            })
            .collect();
        let samples: Vec<Value> = a
            .samples
            .iter()
            .rev()
            .filter_map(|e| serde_json::from_str::<Value>(&e.wrapped()).ok())
            .collect();
        let mut fields: Vec<&FieldAgg> = a.fields.iter().collect();
        fields.sort_by_key(|f| std::cmp::Reverse(f.count));
        let fields: Vec<Value> = fields
            .iter()
            .map(|f| {
                json!({
                    "signature": f.signature,
                    "field": f.field,
                    "name": f.name,
                    "count": f.count,
                    "last_fragment": f.last_fragment,
                })
            })
            .collect();
        Some(json!({
            "counts": counts_json(a),
            "minutes": minutes,
            "samples": samples,
            "fields": fields,
            "fields_other": a.fields_other,
        }))
    }

    /// The top clients by `events` or `blocks`.
    pub fn top_clients(&self, by_blocks: bool, limit: usize) -> Vec<Value> {
        let g = self.lock();
        let mut all: Vec<(&String, &ClientAgg)> = g.clients.iter().collect();
        all.sort_by(|a, b| {
            let k = |c: &ClientAgg| if by_blocks { c.blocks } else { c.events };
            k(b.1)
                .cmp(&k(a.1))
                .then(b.1.last_ms.cmp(&a.1.last_ms))
                .then(a.0.cmp(b.0))
        });
        all.into_iter()
            .filter(|(_, c)| !by_blocks || c.blocks > 0)
            .take(limit)
            .map(|(ip, c)| {
                json!({
                    "client": ip,
                    "user": c.user,
                    "events": c.events,
                    "blocks": c.blocks,
                    "first_ms": c.first_ms,
                    "last_ms": c.last_ms,
                    "policies": c.policies,
                })
            })
            .collect()
    }

    /// What the store knows of one client address (`None`: no event).
    pub fn client_json(&self, ip: &str) -> Option<Value> {
        let g = self.lock();
        g.clients.get(ip).map(|c| {
            json!({
                "user": c.user,
                "events": c.events,
                "blocks": c.blocks,
                "first_ms": c.first_ms,
                "last_ms": c.last_ms,
                "policies": c.policies,
            })
        })
    }

    /// Every route seen, most events first.
    pub fn routes(&self) -> Vec<Value> {
        let g = self.lock();
        let mut all: Vec<(&String, &RouteAgg)> = g.routes.iter().collect();
        all.sort_by(|a, b| b.1.events.cmp(&a.1.events).then(a.0.cmp(b.0)));
        all.into_iter()
            .map(|(r, a)| json!({"route": r, "events": a.events, "blocks": a.blocks}))
            .collect()
    }
}

fn counts_json(a: &PolicyAgg) -> Value {
    json!({
        "hits": a.hits,
        "monitor": a.monitor,
        "enforce": a.enforce,
        "blocks": a.blocks,
        "actions": a.actions,
        "last_ms": if a.hits == 0 { None } else { Some(a.last_ms) },
    })
}

impl Inner {
    /// Counts a summary's suppressed events into its policy's hits, by the
    /// policy's configured mode and action (the events themselves, with
    /// their clients and fields, were not logged).
    fn add_summary(&mut self, s: SummaryLine) {
        let n = s.suppressed;
        self.suppressed += n;
        let LinePolicy { id, mode, action } = s.policy;
        if !self.policies.contains_key(&id) && self.policies.len() >= POLICIES {
            return;
        }
        let time_ms = rfc3339_ms(&s.time).unwrap_or_else(now_ms);
        let a = self.policies.entry(id).or_default();
        let monitor = mode == "monitor";
        a.hits += n;
        if monitor {
            a.monitor += n;
        } else {
            a.enforce += n;
            if STOPPING.contains(&action.as_str()) {
                a.blocks += n;
            }
        }
        *a.actions.entry(action.clone()).or_default() += n;
        a.last_ms = a.last_ms.max(time_ms);
        if let Some(slot) = minute_slot(&mut a.minutes, time_ms / 60_000) {
            if monitor {
                slot.monitor += n;
            } else {
                slot.enforce += n;
            }
            *slot.actions.entry(action).or_default() += n;
        }
    }

    fn add(&mut self, p: Parsed, capacity: usize) {
        let Parsed {
            event: e,
            policies: per_policy,
            matches,
            user,
        } = p;
        self.total += 1;
        let blocked = e.blocked();
        let minute = e.time_ms / 60_000;
        for LinePolicy { id, mode, action } in per_policy {
            if !self.policies.contains_key(&id) && self.policies.len() >= POLICIES {
                continue;
            }
            let a = self.policies.entry(id).or_default();
            a.hits += 1;
            let monitor = mode == "monitor";
            if monitor {
                a.monitor += 1;
            } else {
                a.enforce += 1;
            }
            if blocked && !monitor {
                a.blocks += 1;
            }
            *a.actions.entry(action.clone()).or_default() += 1;
            a.last_ms = a.last_ms.max(e.time_ms);
            if let Some(slot) = minute_slot(&mut a.minutes, minute) {
                if monitor {
                    slot.monitor += 1;
                } else {
                    slot.enforce += 1;
                }
                *slot.actions.entry(action).or_default() += 1;
            }
            if a.samples.len() == SAMPLES {
                a.samples.pop_front();
            }
            a.samples.push_back(Arc::clone(&e));
            for m in &matches {
                let known = a.fields.iter().position(|f| {
                    f.signature == m.signature && f.field == m.field && f.name == m.name
                });
                match known {
                    Some(i) => {
                        let f = &mut a.fields[i];
                        f.count += 1;
                        f.last_fragment.clone_from(&m.fragment);
                    }
                    None if a.fields.len() < FIELDS => a.fields.push(FieldAgg {
                        signature: m.signature.clone(),
                        field: m.field.clone(),
                        name: m.name.clone(),
                        count: 1,
                        last_fragment: m.fragment.clone(),
                    }),
                    None => a.fields_other += 1,
                }
            }
        }
        if !self.clients.contains_key(&e.client) && self.clients.len() >= CLIENTS {
            self.forget_old_clients();
        }
        let c = self.clients.entry(e.client.clone()).or_default();
        if c.events == 0 {
            c.first_ms = e.time_ms;
        }
        c.events += 1;
        c.blocks += u64::from(blocked);
        c.last_ms = c.last_ms.max(e.time_ms);
        for p in &e.policies {
            if let Some(n) = c.policies.get_mut(p) {
                *n += 1;
            } else if c.policies.len() < CLIENT_POLICIES {
                c.policies.insert(p.clone(), 1);
            }
        }
        if user.is_some() {
            c.user = user;
        }
        if self.routes.contains_key(&e.route) || self.routes.len() < ROUTES {
            let r = self.routes.entry(e.route.clone()).or_default();
            r.events += 1;
            r.blocks += u64::from(blocked);
        }
        let before = self.subscribers.len();
        self.subscribers.retain(|s| {
            match s.filter.matches(&e).then(|| s.tx.try_send(Arc::clone(&e))) {
                None | Some(Ok(())) => true,
                // Too slow: dropped, never waited for. Gone: its stream ended.
                Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) => false,
            }
        });
        self.dropped_subscribers += (before - self.subscribers.len()) as u64;
        if capacity > 0 {
            if self.ring.len() == capacity {
                self.ring.pop_front();
            }
            self.ring.push_back(e);
        }
    }

    /// Drops the least recently seen tenth of the clients (amortised: one
    /// sort per `CLIENTS / 10` new clients, not a scan per event).
    fn forget_old_clients(&mut self) {
        let mut seen: Vec<(u64, String)> = self
            .clients
            .iter()
            .map(|(k, c)| (c.last_ms, k.clone()))
            .collect();
        seen.sort_unstable();
        for (_, k) in seen.iter().take(self.clients.len() / 10 + 1) {
            self.clients.remove(k);
        }
    }
}

/// The entry of `minute`, appended when it is the newest. Lines arrive
/// nearly in order (each core's in order); a late one for an older minute
/// is counted there if that minute has an entry, else only in the totals.
fn minute_slot(minutes: &mut VecDeque<Minute>, minute: u64) -> Option<&mut Minute> {
    match minutes.back() {
        Some(m) if m.at == minute => {}
        Some(m) if m.at > minute => return minutes.iter_mut().rev().find(|m| m.at == minute),
        _ => {
            minutes.push_back(Minute {
                at: minute,
                ..Minute::default()
            });
            while minutes.len() > MINUTES {
                minutes.pop_front();
            }
        }
    }
    minutes.back_mut()
}

/// A line parsed: the stored event and what only the aggregates need.
struct Parsed {
    event: Arc<StoredEvent>,
    policies: Vec<LinePolicy>,
    matches: Vec<LineMatch>,
    user: Option<String>,
}

fn parse_summary(line: &[u8]) -> Option<SummaryLine> {
    let s: SummaryLine = serde_json::from_slice(line).ok()?;
    (s.summary == "suppressed_events").then_some(s)
}

fn parse(line: &[u8]) -> Option<Parsed> {
    let text = std::str::from_utf8(line).ok()?;
    let l: Line = serde_json::from_str(text).ok()?;
    let event = Arc::new(StoredEvent {
        time_ms: rfc3339_ms(&l.time).unwrap_or_else(now_ms),
        id: l.event_id,
        client: l.client.ip,
        route: l.route,
        action: l.action,
        enforced: l.enforced,
        mode: l.mode,
        policies: l.policies.iter().map(|p| p.id.clone()).collect(),
        line: Arc::from(text),
    });
    Some(Parsed {
        event,
        policies: l.policies,
        matches: l.matches,
        user: l.client.user,
    })
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `2024-02-29T12:34:56.789Z` (the event log's format) in Unix milliseconds.
pub fn rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[23] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = y as i64 - i64::from(mo <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + se;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, ip: &str, policy: &str, mode: &str, action: &str, enforced: bool) -> String {
        format!(
            r#"{{"event_id":"{id}","time":"2024-02-29T12:34:56.789Z","client":{{"ip":"{ip}"}},"route":"/","upstream":"u","method":"GET","path":"/x","action":"{action}","enforced":{enforced},"mode":"{mode}","score":0,"decided_by":null,"allowed_by":null,"policies":[{{"id":"{policy}","name":"n","mode":"{mode}","action":"{action}","severity":"high","score":5}}],"matches":[{{"signature":"sig.a","field":"args.value","name":"q","end":9,"fragment":"union select"}}],"counters":{{}}}}"#
        ) + "\n"
    }

    #[test]
    fn timestamps_parse_to_unix_ms() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            rfc3339_ms("2024-02-29T12:34:56.789Z"),
            Some(1_709_210_096_789)
        );
        assert_eq!(rfc3339_ms("2024-13-01T00:00:00.000Z"), None);
        assert_eq!(rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn ring_is_bounded_and_newest_first_with_filters() {
        let s = EventStore::new(3);
        let mut batch = String::new();
        for i in 0..5 {
            let ip = if i % 2 == 0 { "10.0.0.1" } else { "10.0.0.2" };
            batch.push_str(&line(&format!("e{i}"), ip, "P1", "enforce", "block", true));
        }
        batch.push_str("not json\n");
        s.ingest(batch.as_bytes());
        let all = s.events(&Filter::default(), 10);
        let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e4", "e3", "e2"]);
        let f = Filter {
            client: Some("10.0.0.2".into()),
            ..Filter::default()
        };
        assert_eq!(s.events(&f, 10).len(), 1);
        let f = Filter {
            policy: Some("P2".into()),
            ..Filter::default()
        };
        assert!(s.events(&f, 10).is_empty());
        let st = s.stats_json();
        assert_eq!(st["seen"], 5);
        assert_eq!(st["unparsed"], 1);
        assert_eq!(st["stored"], 3);
        let w: Value = serde_json::from_str(&all[0].wrapped()).unwrap();
        assert_eq!(w["time_ms"], 1_709_210_096_789u64);
        assert_eq!(w["event"]["event_id"], "e4");
    }

    #[test]
    fn aggregates_split_by_mode_action_client_and_route() {
        let s = EventStore::new(100);
        let mut batch = String::new();
        batch.push_str(&line("a", "10.0.0.1", "P1", "monitor", "block", false));
        batch.push_str(&line("b", "10.0.0.1", "P1", "enforce", "block", true));
        batch.push_str(&line("c", "10.0.0.2", "P1", "enforce", "block", true));
        batch.push_str(&line("d", "10.0.0.2", "P2", "enforce", "tag", true));
        s.ingest(batch.as_bytes());
        let counts = s.policy_counts();
        assert_eq!(counts["P1"]["hits"], 3);
        assert_eq!(counts["P1"]["monitor"], 1);
        assert_eq!(counts["P1"]["enforce"], 2);
        assert_eq!(counts["P1"]["blocks"], 2);
        assert_eq!(counts["P2"]["blocks"], 0, "tag does not stop a request");
        let now = rfc3339_ms("2024-02-29T12:40:00.000Z").unwrap();
        let p = s.policy_json("P1", now).unwrap();
        assert_eq!(p["minutes"].as_array().unwrap().len(), 1);
        assert_eq!(p["minutes"][0]["monitor"], 1);
        assert_eq!(p["minutes"][0]["enforce"], 2);
        assert_eq!(p["minutes"][0]["actions"]["block"], 3);
        assert_eq!(p["samples"].as_array().unwrap().len(), 3);
        assert_eq!(p["samples"][0]["event"]["event_id"], "c");
        assert_eq!(p["fields"][0]["count"], 3);
        assert_eq!(p["fields"][0]["last_fragment"], "union select");
        // An hour later the minutes have aged out of the window.
        let later = now + 2 * 3600 * 1000;
        assert!(s.policy_json("P1", later).unwrap()["minutes"]
            .as_array()
            .unwrap()
            .is_empty());
        assert!(s.policy_json("P3", now).is_none());
        let top = s.top_clients(false, 10);
        assert_eq!(top.len(), 2);
        let by_blocks = s.top_clients(true, 1);
        assert_eq!(by_blocks.len(), 1);
        assert_eq!(by_blocks[0]["blocks"], 1);
        assert_eq!(s.routes()[0]["events"], 4);
    }

    #[test]
    fn summaries_of_suppressed_events_count_into_their_policy() {
        let s = EventStore::new(100);
        let mut batch = line("a", "10.0.0.1", "P1", "enforce", "block", true);
        let summary = |id: &str, mode: &str, action: &str, n: u64| {
            format!(
                r#"{{"summary":"suppressed_events","time":"2024-02-29T12:35:01.000Z","since":"2024-02-29T12:35:00.100Z","policy":{{"id":"{id}","name":"n","mode":"{mode}","action":"{action}"}},"suppressed":{n},"limit_per_second":100}}"#
            ) + "\n"
        };
        batch.push_str(&summary("P1", "enforce", "block", 250));
        batch.push_str(&summary("P2", "monitor", "tag", 40));
        s.ingest(batch.as_bytes());
        let counts = s.policy_counts();
        assert_eq!(counts["P1"]["hits"], 251);
        assert_eq!(counts["P1"]["blocks"], 251);
        assert_eq!(counts["P2"]["hits"], 40);
        assert_eq!(counts["P2"]["monitor"], 40);
        assert_eq!(counts["P2"]["blocks"], 0);
        let st = s.stats_json();
        // Summaries are neither events nor garbage.
        assert_eq!(st["seen"], 1);
        assert_eq!(st["unparsed"], 0);
        assert_eq!(st["suppressed"], 290);
        let now = rfc3339_ms("2024-02-29T12:40:00.000Z").unwrap();
        let p = s.policy_json("P1", now).unwrap();
        assert_eq!(p["minutes"][0]["enforce"], 1);
        assert_eq!(p["minutes"][1]["enforce"], 250);
        assert_eq!(p["samples"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn late_lines_count_in_their_minute_and_keep_their_samples() {
        let s = EventStore::new(10);
        let at = |t: &str, id: &str| {
            line(id, "10.0.0.1", "P1", "enforce", "block", true)
                .replace("2024-02-29T12:34:56.789Z", t)
        };
        s.ingest(at("2024-02-29T12:34:10.000Z", "a").as_bytes());
        s.ingest(at("2024-02-29T12:36:10.000Z", "b").as_bytes());
        s.ingest(at("2024-02-29T12:34:50.000Z", "late").as_bytes());
        s.ingest(at("2024-02-29T12:35:50.000Z", "gap").as_bytes());
        let now = rfc3339_ms("2024-02-29T12:40:00.000Z").unwrap();
        let p = s.policy_json("P1", now).unwrap();
        let m = p["minutes"].as_array().unwrap();
        assert_eq!(m.len(), 2, "{p}");
        assert_eq!(m[0]["enforce"], 2, "the late line joins 12:34");
        assert_eq!(m[1]["enforce"], 1);
        assert_eq!(
            p["counts"]["hits"], 4,
            "the gap minute still counts in the totals"
        );
        assert_eq!(p["samples"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn slow_subscribers_are_dropped_not_waited_for() {
        let s = EventStore::new(10);
        let fast = s.subscribe(Filter::default());
        let _slow = s.subscribe(Filter::default());
        let picky = s.subscribe(Filter {
            policy: Some("P9".into()),
            ..Filter::default()
        });
        let mut n = 0;
        for i in 0..SUBSCRIBER_QUEUE + 5 {
            s.ingest(line(&format!("e{i}"), "10.0.0.1", "P1", "enforce", "block", true).as_bytes());
            while fast.try_recv().is_ok() {
                n += 1;
            }
        }
        assert_eq!(n, SUBSCRIBER_QUEUE + 5);
        // The slow one overflowed and was dropped; the filtered one saw nothing
        // and stays.
        assert_eq!(s.subscribers(), 2);
        assert!(picky.try_recv().is_err());
        assert_eq!(s.stats_json()["dropped_subscribers"], 1);
    }

    #[test]
    fn clients_are_bounded() {
        let s = EventStore::new(0);
        for i in 0..(CLIENTS + 10) {
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            s.ingest(line("x", &ip, "P1", "enforce", "block", true).as_bytes());
        }
        assert!(s.lock().clients.len() <= CLIENTS);
        assert_eq!(s.stats_json()["stored"], 0);
    }
}
