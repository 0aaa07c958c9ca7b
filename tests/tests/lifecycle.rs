//! Process lifecycle and observability: SIGTERM drains in-flight requests and exits 0;
//! the admin listener exposes Prometheus metrics.

use rampart_tests::client::{get, get_request};
use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let up = TestUpstream::start(Behaviour::Delay(1000));
    let mut gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .timeout("shutdown_grace", "5s")
            .render(),
    );
    let addr = gw.addr();
    let clients: Vec<_> = (0..5)
        .map(|i| {
            thread::spawn(move || {
                let mut c = RawConn::open(addr);
                c.roundtrip(&get_request(&format!("/drain/{i}")))
            })
        })
        .collect();
    // Let all five reach the upstream, then ask the gateway to stop.
    assert!(
        wait_until(Duration::from_secs(2), || up.heads_received() >= 5),
        "only {} of 5 requests reached the upstream",
        up.heads_received()
    );
    thread::sleep(Duration::from_millis(100));
    gw.sigterm();

    // New connections are refused (or closed unanswered) while draining.
    thread::sleep(Duration::from_millis(200));
    assert!(
        refuses_new_connection(addr),
        "a new connection was served after SIGTERM"
    );

    for (i, h) in clients.into_iter().enumerate() {
        let r = h.join().expect("client thread");
        assert_eq!(r.status, 200, "in-flight request {i} was not drained");
    }
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{}",
        gw.stderr()
    );
    assert!(
        gw.stdout().lines().any(|l| l == "rampart: stopped"),
        "stdout lacks `rampart: stopped`:\n{}",
        gw.stdout()
    );
    assert!(refuses_new_connection(addr), "still accepting after exit");
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// True when a connection is refused, or accepted and closed without a response.
fn refuses_new_connection(addr: std::net::SocketAddr) -> bool {
    let Ok(mut c) = RawConn::connect(addr) else {
        return true;
    };
    if c.set_timeout(Duration::from_secs(2)).is_err()
        || c.send(&get_request("/after-term")).is_err()
    {
        return true;
    }
    match c.read_response() {
        Err(_) => true,
        // A polite 503 + close during drain is acceptable; a 200 is not.
        Ok(r) => r.status == 503,
    }
}

/// Sums every sample of `name` (any labels) whose label set contains `label` (if given).
fn metric_sum(text: &str, name: &str, label: Option<&str>) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.find('}') else { continue };
            (&r[..end], r[end + 1..].trim())
        } else if rest.starts_with(' ') {
            ("", rest.trim())
        } else {
            continue; // a longer metric name with this prefix
        };
        if label.is_some_and(|l| !labels.contains(l)) {
            continue;
        }
        let v: f64 = value.split_whitespace().next()?.parse().ok()?;
        *found.get_or_insert(0.0) += v;
    }
    found
}

#[test]
fn admin_metrics_count_requests() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::proxy(up.addr(), &[]);
    const SENT: usize = 25;
    let mut c = RawConn::open(gw.addr());
    for i in 0..SENT {
        assert_eq!(c.roundtrip(&get_request(&format!("/m/{i}"))).status, 200);
    }
    // Metrics are flushed from the cores at least once per second.
    let deadline = Instant::now() + Duration::from_secs(3);
    let text = loop {
        let r = get(gw.admin_addr(), "/metrics").expect("GET /metrics on the admin listener");
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        let text = r.text();
        let total = metric_sum(&text, "rampart_requests_total", None).unwrap_or(0.0);
        if total >= SENT as f64 || Instant::now() >= deadline {
            break text;
        }
        thread::sleep(Duration::from_millis(200));
    };
    let total = metric_sum(&text, "rampart_requests_total", None);
    assert!(
        total.is_some_and(|t| t >= SENT as f64),
        "rampart_requests_total {total:?} < {SENT}:\n{text}"
    );
    let ok = metric_sum(&text, "rampart_responses_total", Some("class=\"2xx\""));
    assert!(
        ok.is_some_and(|t| t >= SENT as f64),
        "rampart_responses_total{{class=\"2xx\"}} {ok:?} < {SENT}:\n{text}"
    );
    for name in [
        "rampart_active_connections",
        "rampart_upstream_errors_total",
        "rampart_request_duration_seconds_bucket",
    ] {
        assert!(
            metric_sum(&text, name, None).is_some(),
            "{name} missing from /metrics:\n{text}"
        );
    }
}

#[test]
fn second_sigterm_stops_without_waiting_for_the_drain() {
    let up = TestUpstream::start(Behaviour::Delay(5000));
    let mut gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .timeout("shutdown_grace", "30s")
            .render(),
    );
    let addr = gw.addr();
    let slow = thread::spawn(move || {
        let mut c = RawConn::open(addr);
        c.set_timeout(Duration::from_secs(10)).expect("timeout");
        c.send(&get_request("/slow")).expect("send");
        c.read_response().is_ok()
    });
    assert!(
        wait_until(Duration::from_secs(2), || up.heads_received() >= 1),
        "the request never reached the upstream"
    );
    gw.sigterm();
    thread::sleep(Duration::from_millis(300));
    assert!(
        gw.is_running(),
        "the first SIGTERM did not wait for the in-flight request"
    );
    let start = Instant::now();
    gw.sigterm();
    let status = gw.wait_exit(Duration::from_secs(4));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the second SIGTERM did not stop the drain"
    );
    assert!(status.success(), "exit status {status:?}");
    assert!(
        !slow.join().expect("client"),
        "the cut request still got a response"
    );
}
