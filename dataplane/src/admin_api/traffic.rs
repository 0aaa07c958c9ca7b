//! The traffic view: merges the cores' snapshots (see `crate::traffic`) once a
//! second on its own thread, keeps a short fixed-size history, and answers
//! `GET /api/traffic`, `GET /api/traffic/history` and the `by=requests` kind of
//! `GET /api/clients/top`. Nothing here runs on a core.
//!
//! Rates are over the last [`RATE_WINDOW`] merges (about ten seconds);
//! latency percentiles come from the merged log-spaced histograms, over the
//! same window (`latency_recent`) and since start (`latency`).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use super::http::ApiError;
use super::Api;
use crate::config::Config;
use crate::traffic::hist::{self, BUCKETS};
use crate::traffic::{ClusterTally, CoreSnapshot, Feed, RouteTally, TopClient};

/// How often the cores' snapshots are merged.
const MERGE_EVERY: Duration = Duration::from_secs(1);
/// Merges kept for rates: the rate window is the span between the oldest
/// and the newest (about ten seconds).
const RATE_WINDOW: usize = 11;
/// One history point per this many merges (5 s)...
const HISTORY_EVERY: u32 = 5;
/// ...for an hour.
pub const HISTORY_POINTS: usize = 720;
/// Most routes listed in `top_routes`.
const TOP_ROUTES: usize = 10;

/// Names of what the cores count, from the config.
struct Meta {
    routes: Vec<Value>,
    clusters: Vec<(String, Vec<String>)>,
}

/// The cores' counts added up at one moment.
#[derive(Clone)]
struct Merged {
    at_ms: u64,
    cores: usize,
    routes: Vec<RouteTally>,
    clusters: Vec<ClusterTally>,
    /// Per server: (cores ejecting it, longest ejection left ms, most
    /// consecutive failures, in flight, idle).
    servers: Vec<(usize, u64, u32, u32, u32)>,
    top: Vec<TopClient>,
}

/// One history point: what happened in the step that ended at `time_ms`.
#[derive(Clone, Copy)]
struct Point {
    time_ms: u64,
    requests: u64,
    classes: [u64; 5],
    blocked: u64,
    upstream_errors: u64,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
}

struct State {
    latest: Vec<Option<Box<CoreSnapshot>>>,
    window: VecDeque<Merged>,
    history: VecDeque<Point>,
    at_last_point: Option<Merged>,
    ticks: u32,
}

/// The API's traffic view.
pub struct Traffic {
    meta: Meta,
    state: Mutex<State>,
}

/// Starts merging `feed` for `api` (a thread that lives as long as the process).
pub fn start(api: &Arc<Api>, feed: Feed, config: &Config) {
    let router = crate::proxy::route::Router::new(&config.routes);
    let meta = Meta {
        // Numbered as the cores number them: in match order.
        routes: (0..router.len())
            .filter_map(|i| router.route(i).map(|r| (i, r)))
            .map(|(i, r)| {
                json!({
                    "route": i,
                    "name": format!("{}{}", r.host.as_deref().unwrap_or(""), r.path_prefix),
                    "host": r.host,
                    "path_prefix": r.path_prefix,
                    "upstream": config.upstreams.get(r.upstream).map(|u| u.name.clone()),
                })
            })
            .collect(),
        clusters: config
            .upstreams
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    u.servers.iter().map(ToString::to_string).collect(),
                )
            })
            .collect(),
    };
    let t = Arc::new(Traffic::new(meta, feed.cores.len()));
    if api.traffic.set(t.clone()).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("rampart-traffic".into())
        .spawn(move || loop {
            std::thread::sleep(MERGE_EVERY);
            t.tick(&feed);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the traffic view's thread; /api/traffic stays empty");
    }
}

impl Traffic {
    fn new(meta: Meta, cores: usize) -> Traffic {
        Traffic {
            meta,
            state: Mutex::new(State {
                latest: (0..cores).map(|_| None).collect(),
                window: VecDeque::with_capacity(RATE_WINDOW + 1),
                history: VecDeque::with_capacity(HISTORY_POINTS),
                at_last_point: None,
                ticks: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the cores' newest snapshots, merges them, and records rates and
    /// history.
    fn tick(&self, feed: &Feed) {
        let mut st = self.lock();
        for (i, core) in feed.cores.iter().enumerate() {
            while let Ok(s) = core.rx.try_recv() {
                if let Some(old) = st.latest[i].replace(s) {
                    core.give_back(old);
                }
            }
        }
        let Some(m) = self.merge(&st.latest) else {
            return;
        };
        st.window.push_back(m.clone());
        while st.window.len() > RATE_WINDOW {
            st.window.pop_front();
        }
        st.ticks += 1;
        if st.ticks % HISTORY_EVERY == 0 {
            let p = point(st.at_last_point.as_ref(), &m);
            if st.history.len() == HISTORY_POINTS {
                st.history.pop_front();
            }
            st.history.push_back(p);
            st.at_last_point = Some(m);
        }
    }

    fn merge(&self, latest: &[Option<Box<CoreSnapshot>>]) -> Option<Merged> {
        let first = latest.iter().flatten().next()?;
        let mut m = Merged {
            at_ms: 0,
            cores: 0,
            routes: vec![RouteTally::default(); first.routes.len()],
            clusters: vec![ClusterTally::default(); first.clusters.len()],
            servers: vec![(0, 0, 0, 0, 0); first.servers.len()],
            top: Vec::new(),
        };
        let mut top: HashMap<IpAddr, TopClient> = HashMap::new();
        for s in latest.iter().flatten() {
            m.cores += 1;
            m.at_ms = m.at_ms.max(s.at_ms);
            for (a, b) in m.routes.iter_mut().zip(&s.routes) {
                a.requests += b.requests;
                for k in 0..5 {
                    a.classes[k] += b.classes[k];
                }
                a.blocked += b.blocked;
                hist::add(&mut a.latency, &b.latency);
                a.latency_sum_us += b.latency_sum_us;
            }
            for (a, b) in m.clusters.iter_mut().zip(&s.clusters) {
                a.responses += b.responses;
                a.connect_errors += b.connect_errors;
                a.timeouts += b.timeouts;
                a.protocol_errors += b.protocol_errors;
            }
            for (a, b) in m.servers.iter_mut().zip(&s.servers) {
                a.0 += usize::from(b.ejected);
                a.1 = a.1.max(b.ejected_for_ms);
                a.2 = a.2.max(b.fails);
                a.3 += b.active;
                a.4 += b.idle;
            }
            // Without steering by address a client's requests spread over
            // cores: its counts add up.
            for c in &s.top {
                top.entry(c.addr)
                    .and_modify(|t| {
                        t.rate_1s += c.rate_1s;
                        t.requests_1m += c.requests_1m;
                        t.requests_10m += c.requests_10m;
                    })
                    .or_insert(*c);
            }
        }
        m.top = top.into_values().collect();
        m.top.sort_by(|a, b| {
            b.requests_1m
                .cmp(&a.requests_1m)
                .then(b.requests_10m.cmp(&a.requests_10m))
                .then(a.addr.cmp(&b.addr))
        });
        Some(m)
    }

    /// `GET /api/traffic`.
    pub fn json(&self, workers: usize) -> Value {
        let st = self.lock();
        let now = super::store::now_ms();
        let (Some(new), Some(old)) = (st.window.back(), st.window.front()) else {
            return json!({
                "now_ms": now, "workers": workers, "cores_reporting": 0, "updated_ms": null,
                "window_ms": 0, "totals": null, "routes": [], "unrouted": null,
                "top_routes": [], "upstreams": [],
            });
        };
        let secs = (new.at_ms.saturating_sub(old.at_ms)) as f64 / 1000.0;
        let per_s = |a: u64, b: u64| -> f64 {
            if secs <= 0.0 {
                0.0
            } else {
                (a.saturating_sub(b) as f64 / secs * 10.0).round() / 10.0
            }
        };
        let n = self.meta.routes.len();
        let route_json = |i: usize| -> Value {
            let (a, b) = (&new.routes[i], &old.routes[i]);
            let recent = hist::sub(&a.latency, &b.latency);
            json!({
                "requests": a.requests,
                "requests_per_s": per_s(a.requests, b.requests),
                "responses": classes_json(&a.classes),
                "responses_per_s": {
                    "1xx": per_s(a.classes[0], b.classes[0]),
                    "2xx": per_s(a.classes[1], b.classes[1]),
                    "3xx": per_s(a.classes[2], b.classes[2]),
                    "4xx": per_s(a.classes[3], b.classes[3]),
                    "5xx": per_s(a.classes[4], b.classes[4]),
                },
                "blocked": a.blocked,
                "blocked_per_s": per_s(a.blocked, b.blocked),
                "latency": latency_json(&a.latency, a.latency_sum_us),
                "latency_recent": latency_json(&recent, a.latency_sum_us.saturating_sub(b.latency_sum_us)),
            })
        };
        let routes: Vec<Value> = (0..n)
            .map(|i| {
                let mut v = route_json(i);
                if let (Some(o), Some(meta)) = (v.as_object_mut(), self.meta.routes[i].as_object())
                {
                    for (k, x) in meta {
                        o.insert(k.clone(), x.clone());
                    }
                }
                v
            })
            .collect();
        let unrouted = route_json(n);
        // Totals over every row, the unrouted one included.
        let (mut ta, mut tb) = (RouteTally::default(), RouteTally::default());
        for (a, b) in new.routes.iter().zip(&old.routes) {
            for (t, r) in [(&mut ta, a), (&mut tb, b)] {
                t.requests += r.requests;
                for k in 0..5 {
                    t.classes[k] += r.classes[k];
                }
                t.blocked += r.blocked;
                hist::add(&mut t.latency, &r.latency);
                t.latency_sum_us += r.latency_sum_us;
            }
        }
        let up_errors = |c: &ClusterTally| c.connect_errors + c.timeouts + c.protocol_errors;
        let total_errors: u64 = new.clusters.iter().map(up_errors).sum();
        let total_errors_then: u64 = old.clusters.iter().map(up_errors).sum();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&x, &y| {
            let r = |i: usize| {
                new.routes[i]
                    .requests
                    .saturating_sub(old.routes[i].requests)
            };
            r(y).cmp(&r(x))
                .then(new.routes[y].requests.cmp(&new.routes[x].requests))
                .then(x.cmp(&y))
        });
        let top_routes: Vec<Value> = order
            .iter()
            .filter(|&&i| new.routes[i].requests > 0)
            .take(TOP_ROUTES)
            .map(|&i| {
                json!({
                    "route": i,
                    "name": self.meta.routes[i]["name"],
                    "requests": new.routes[i].requests,
                    "requests_per_s": routes[i]["requests_per_s"],
                })
            })
            .collect();
        let mut server = 0;
        let upstreams: Vec<Value> = self
            .meta
            .clusters
            .iter()
            .enumerate()
            .map(|(ci, (name, addrs))| {
                let (a, b) = (&new.clusters[ci], &old.clusters[ci]);
                let servers: Vec<Value> = addrs
                    .iter()
                    .map(|addr| {
                        let (ej, left, fails, active, idle) =
                            new.servers.get(server).copied().unwrap_or_default();
                        server += 1;
                        json!({
                            "address": addr,
                            "healthy": ej == 0,
                            "ejected_cores": ej,
                            "ejected_for_ms": left,
                            "consecutive_failures": fails,
                            "in_flight": active,
                            "idle_connections": idle,
                        })
                    })
                    .collect();
                let healthy = servers.iter().filter(|s| s["healthy"] == true).count();
                json!({
                    "name": name,
                    "healthy": healthy == servers.len(),
                    "servers_healthy": healthy,
                    "responses": a.responses,
                    "responses_per_s": per_s(a.responses, b.responses),
                    "connect_errors": a.connect_errors,
                    "timeouts": a.timeouts,
                    "protocol_errors": a.protocol_errors,
                    "errors": up_errors(a),
                    "errors_per_s": per_s(up_errors(a), up_errors(b)),
                    "servers": servers,
                })
            })
            .collect();
        let recent = hist::sub(&ta.latency, &tb.latency);
        json!({
            "now_ms": now,
            "updated_ms": new.at_ms,
            "workers": workers,
            "cores_reporting": new.cores,
            "window_ms": new.at_ms.saturating_sub(old.at_ms),
            "totals": {
                "requests": ta.requests,
                "requests_per_s": per_s(ta.requests, tb.requests),
                "responses": classes_json(&ta.classes),
                "blocked": ta.blocked,
                "blocked_per_s": per_s(ta.blocked, tb.blocked),
                "upstream_errors": total_errors,
                "upstream_errors_per_s": per_s(total_errors, total_errors_then),
                "latency": latency_json(&ta.latency, ta.latency_sum_us),
                "latency_recent": latency_json(&recent, ta.latency_sum_us.saturating_sub(tb.latency_sum_us)),
            },
            "routes": routes,
            "unrouted": unrouted,
            "top_routes": top_routes,
            "upstreams": upstreams,
        })
    }

    /// `GET /api/traffic/history`: points after `since` (Unix ms).
    pub fn history_json(&self, since: Option<u64>) -> Value {
        let st = self.lock();
        let points: Vec<Value> = st
            .history
            .iter()
            .filter(|p| since.is_none_or(|s| p.time_ms > s))
            .map(|p| {
                json!({
                    "time_ms": p.time_ms,
                    "requests": p.requests,
                    "responses": classes_json(&p.classes),
                    "blocked": p.blocked,
                    "upstream_errors": p.upstream_errors,
                    "p50_us": p.p50_us,
                    "p99_us": p.p99_us,
                })
            })
            .collect();
        json!({
            "step_ms": MERGE_EVERY.as_millis() as u64 * u64::from(HISTORY_EVERY),
            "capacity": HISTORY_POINTS,
            "points": points,
        })
    }

    /// The busiest client addresses (merged over cores), busiest first.
    pub fn top_clients(&self, limit: usize) -> Vec<TopClient> {
        let st = self.lock();
        st.window
            .back()
            .map(|m| m.top.iter().take(limit).copied().collect())
            .unwrap_or_default()
    }
}

/// The step from `prev` (nothing: process start) to `m`.
fn point(prev: Option<&Merged>, m: &Merged) -> Point {
    let mut p = Point {
        time_ms: m.at_ms,
        requests: 0,
        classes: [0; 5],
        blocked: 0,
        upstream_errors: 0,
        p50_us: None,
        p99_us: None,
    };
    let mut lat = [0u64; BUCKETS];
    for (i, r) in m.routes.iter().enumerate() {
        let o = prev.and_then(|x| x.routes.get(i));
        p.requests += r.requests - o.map_or(0, |o| o.requests.min(r.requests));
        for k in 0..5 {
            p.classes[k] += r.classes[k].saturating_sub(o.map_or(0, |o| o.classes[k]));
        }
        p.blocked += r.blocked.saturating_sub(o.map_or(0, |o| o.blocked));
        let d = match o {
            Some(o) => hist::sub(&r.latency, &o.latency),
            None => r.latency,
        };
        hist::add(&mut lat, &d);
    }
    for (i, c) in m.clusters.iter().enumerate() {
        let e = |c: &ClusterTally| c.connect_errors + c.timeouts + c.protocol_errors;
        let o = prev.and_then(|x| x.clusters.get(i)).map_or(0, e);
        p.upstream_errors += e(c).saturating_sub(o);
    }
    p.p50_us = hist::percentile(&lat, 0.5);
    p.p99_us = hist::percentile(&lat, 0.99);
    p
}

fn classes_json(c: &[u64; 5]) -> Value {
    json!({"1xx": c[0], "2xx": c[1], "3xx": c[2], "4xx": c[3], "5xx": c[4]})
}

fn latency_json(b: &[u64; BUCKETS], sum_us: u64) -> Value {
    let count: u64 = b.iter().sum();
    json!({
        "count": count,
        "mean_us": sum_us.checked_div(count),
        "p50_us": hist::percentile(b, 0.5),
        "p90_us": hist::percentile(b, 0.9),
        "p99_us": hist::percentile(b, 0.99),
    })
}

/// `GET /api/traffic`: no query parameters.
pub fn traffic(api: &Api, q: &[(String, String)]) -> Result<(u16, Value), ApiError> {
    if let Some((k, _)) = q.first() {
        return Err(ApiError::field(
            400,
            "query",
            format!("unknown query parameter `{k}`; /api/traffic takes none"),
        ));
    }
    Ok((200, view(api)?.json(api.facts.workers)))
}

/// `GET /api/traffic/history[?since=MS]`.
pub fn history(api: &Api, q: &[(String, String)]) -> Result<(u16, Value), ApiError> {
    let mut since = None;
    for (k, v) in q {
        match k.as_str() {
            "since" => {
                since = Some(v.parse::<u64>().map_err(|_| {
                    ApiError::field(400, "since", "`since` is a time in Unix milliseconds")
                })?)
            }
            k => {
                return Err(ApiError::field(
                    400,
                    "query",
                    format!("unknown query parameter `{k}`; allowed: since"),
                ))
            }
        }
    }
    Ok((200, view(api)?.history_json(since)))
}

/// The `by=requests` answer of `GET /api/clients/top`: the busiest addresses
/// joined with what the event store knows of them.
pub fn top_clients(api: &Api, limit: usize) -> Result<Value, ApiError> {
    let list: Vec<Value> = view(api)?
        .top_clients(limit)
        .into_iter()
        .map(|c| {
            let ip = c.addr.to_string();
            let known = api.store.client_json(&ip);
            let get = |k: &str, d: Value| known.as_ref().map_or(d.clone(), |v| v[k].clone());
            json!({
                "client": ip,
                "rate_1s": c.rate_1s,
                "requests_1m": c.requests_1m,
                "requests_10m": c.requests_10m,
                "user": get("user", Value::Null),
                "events": get("events", json!(0)),
                "blocks": get("blocks", json!(0)),
                "first_ms": get("first_ms", Value::Null),
                "last_ms": get("last_ms", Value::Null),
                "policies": get("policies", json!({})),
            })
        })
        .collect();
    Ok(json!({"by": "requests", "clients": list}))
}

fn view(api: &Api) -> Result<&Traffic, ApiError> {
    api.traffic
        .get()
        .map(|t| t.as_ref())
        .ok_or_else(|| ApiError::new(503, "the traffic view is not running"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::channels;

    fn meta() -> Meta {
        Meta {
            routes: vec![
                json!({"route": 0, "name": "/a/"}),
                json!({"route": 1, "name": "/b/"}),
            ],
            clusters: vec![("app".into(), vec!["127.0.0.1:1".into()])],
        }
    }

    /// Each core publishes cumulative counts; the view adds the newest of
    /// each, and a history point holds what happened in its step.
    #[test]
    fn cores_add_up_and_history_points_hold_their_step() {
        let (mut pubs, feed) = channels(2, 2, &[1]);
        let t = Traffic::new(meta(), 2);
        let mut sent = [0u64; 2];
        for tick in 1..=10u64 {
            for (core, p) in pubs.iter_mut().enumerate() {
                let mut s = p.buffer().expect("a free buffer");
                sent[core] += core as u64 + 1;
                s.at_ms = tick * 1000;
                s.routes[0].requests = sent[core];
                s.routes[0].classes[1] = sent[core];
                s.routes[0].latency[hist::bucket(100 * (core as u64 + 1))] = sent[core];
                s.clusters[0].connect_errors = core as u64;
                s.servers[0].ejected = core == 1;
                p.publish(s);
            }
            t.tick(&feed);
        }
        let v = t.json(2);
        assert_eq!(v["cores_reporting"], 2);
        assert_eq!(v["routes"][0]["requests"], 30, "{v}");
        assert_eq!(v["routes"][0]["name"], "/a/");
        assert_eq!(v["routes"][1]["requests"], 0);
        assert_eq!(v["totals"]["responses"]["2xx"], 30);
        // 3 a second over the window.
        assert_eq!(v["routes"][0]["requests_per_s"], 3.0, "{v}");
        let lat = &v["routes"][0]["latency"];
        assert!(lat["p50_us"].as_u64().unwrap() <= lat["p99_us"].as_u64().unwrap());
        assert_eq!(v["upstreams"][0]["connect_errors"], 1);
        assert_eq!(v["upstreams"][0]["healthy"], false);
        assert_eq!(v["upstreams"][0]["servers"][0]["ejected_cores"], 1);
        let h = t.history_json(None);
        let points = h["points"].as_array().unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0]["requests"], 15);
        assert_eq!(points[1]["requests"], 15);
        assert_eq!(points[1]["time_ms"], 10_000);
        assert_eq!(
            t.history_json(Some(5000))["points"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn the_history_keeps_the_last_hour_only() {
        let (mut pubs, feed) = channels(1, 1, &[]);
        let t = Traffic::new(meta(), 1);
        let ticks = (HISTORY_POINTS as u64 + 10) * u64::from(HISTORY_EVERY);
        for tick in 1..=ticks {
            let p = &mut pubs[0];
            let mut s = p.buffer().expect("buffer");
            s.at_ms = tick * 1000;
            s.routes[0].requests = tick;
            p.publish(s);
            t.tick(&feed);
        }
        let h = t.history_json(None);
        let points = h["points"].as_array().unwrap();
        assert_eq!(points.len(), HISTORY_POINTS);
        assert_eq!(points.last().unwrap()["time_ms"], ticks * 1000);
        assert_eq!(points[0]["requests"], u64::from(HISTORY_EVERY));
        assert_eq!(t.lock().window.len(), RATE_WINDOW);
    }
}
