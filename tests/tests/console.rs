//! The operator console end to end, in headless Chromium: the real gateway
//! with a pack whose SQL-injection policy runs in monitor mode, an attacker
//! sending injections while the console is open, the attacker showing up
//! (by events and by requests), its route and upstream listed,
//! the operator switching the policy to enforce from the console, and the
//! next attack blocked.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart_tests::browser::Browser;
use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};

const TOKEN: &str = "console-token-0123456789abcdef";
const ATTACKER: [u8; 4] = [127, 0, 0, 77];
const ATTACK: &str = "GET /search?q=1%20UNION%20SELECT%20password HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n";

const SIGNATURES: &str = r#"
[[signature]]
id = "sqli.union"
pattern = 'union\s+select'
fields = ["@values"]
transforms = ["url_decode", "plus_to_space", "lowercase"]
"#;

const POLICIES: &str = r#"
[[policy]]
id = "T-SQLI"
name = "union select injection"
severity = "critical"
tags = ["sqli"]
mode = "monitor"
priority = 10
condition = { signature = "sqli.union" }
action = "block"
"#;

fn attack_status() -> u16 {
    let mut c =
        RawConn::connect_from(std::net::Ipv4Addr::from(ATTACKER), gateway_addr()).expect("connect");
    c.roundtrip(ATTACK.as_bytes()).status
}

static GW_ADDR: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();
fn gateway_addr() -> std::net::SocketAddr {
    *GW_ADDR.get().expect("gateway started")
}

#[test]
fn an_operator_sees_the_attacker_and_switches_the_policy_to_enforce() {
    let dir = tempfile::tempdir().expect("tmp");
    let pack = dir.path().join("pack");
    for d in ["signatures", "policies", "responses"] {
        std::fs::create_dir_all(pack.join(d)).expect("mkdir");
    }
    std::fs::write(
        pack.join("pack.toml"),
        "name = \"console-e2e\"\nversion = \"1.0.0\"\n",
    )
    .expect("w");
    std::fs::write(pack.join("signatures/s.toml"), SIGNATURES).expect("w");
    std::fs::write(pack.join("policies/p.toml"), POLICIES).expect("w");
    std::fs::write(pack.join("responses/block.json"), "{\"blocked\":true}").expect("w");
    let overlay = dir.path().join("overlay.toml");
    std::fs::write(&overlay, "# the operator's overlay\n").expect("w");
    let tokens = dir.path().join("admin.tokens");
    std::fs::write(&tokens, format!("console-operator {TOKEN}\n")).expect("w");
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .policy(&format!(
                "packs = [{:?}]\noverlay = {:?}\nwatch = false",
                pack.display().to_string(),
                overlay.display().to_string()
            ))
            .events(&format!(
                "path = {:?}",
                dir.path().join("events.log").display().to_string()
            ))
            .admin(&format!("token_file = {:?}", tokens.display().to_string()))
            .render(),
    );
    GW_ADDR.set(gw.addr()).expect("one gateway");

    // Attack traffic runs the whole time; in monitor mode it goes through.
    assert_eq!(attack_status(), 200, "monitor mode lets the attack through");
    let stop = Arc::new(AtomicBool::new(false));
    let blocked = Arc::new(AtomicU64::new(0));
    let attacker = {
        let (stop, blocked) = (stop.clone(), blocked.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if attack_status() == 403 {
                    blocked.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let mut b = Browser::launch().expect("launch chromium");
    b.goto(&format!("http://{}/", gw.admin_addr()))
        .expect("load the console");
    // The header shows the running gateway and its pack.
    let version = b.wait_for("document.getElementById('s-policy').textContent.includes('monitor') && document.getElementById('s-policy').textContent", Duration::from_secs(15)).expect("status");
    assert!(
        version.as_str().unwrap_or_default().contains("1 monitor"),
        "{version}"
    );

    // The attacker appears among the top attackers, and the policy among those with hits.
    b.wait_for("document.querySelector('#top-by').value = 'events'; document.querySelector('#top-by').dispatchEvent(new Event('change')); !!document.querySelector('#attackers tr[data-client=\"127.0.0.77\"]')", Duration::from_secs(20))
        .expect("the attacker is listed");
    b.wait_for(
        "!!document.querySelector('#policies tr[data-policy=\"T-SQLI\"]')",
        Duration::from_secs(20),
    )
    .expect("the policy is listed");
    // Routes and upstreams come from /api/traffic; by requests, the attacker
    // is among the busiest clients.
    b.wait_for(
        "Number(document.querySelector('#routes tr[data-route=\"/\"] td[data-requests]')?.textContent || 0) > 0 \
         && (document.querySelector('#upstreams tr[data-upstream=\"app\"]')?.innerText || '').includes('healthy')",
        Duration::from_secs(15),
    )
    .expect("the route and its upstream are listed");
    b.wait_for("document.querySelector('#top-by').value = 'requests'; document.querySelector('#top-by').dispatchEvent(new Event('change')); !!document.querySelector('#attackers tr[data-client=\"127.0.0.77\"]')", Duration::from_secs(15))
        .expect("the attacker is listed by requests");
    // Live events arrive over the stream.
    b.wait_for(
        "document.getElementById('events').innerText.includes('T-SQLI')",
        Duration::from_secs(20),
    )
    .expect("live events");

    // Drill down, then switch to enforce (the operator confirms the dialog).
    b.eval("document.querySelector('#policies tr[data-policy=\"T-SQLI\"]').click()")
        .expect("open the policy");
    b.wait_for("document.getElementById('d-mode').textContent === 'monitor' && document.getElementById('d-fields').innerText.includes('sqli.union')", Duration::from_secs(10))
        .expect("the drill-down shows the mode and the matched field");
    b.eval(&format!(
        "window.confirm = () => true; const t = document.getElementById('token'); t.value = '{TOKEN}'; t.dispatchEvent(new Event('change')); \
         document.querySelector('#detail button[data-mode=\"enforce\"]').click()"
    ))
    .expect("click enforce");
    b.wait_for(
        "document.getElementById('d-mode').textContent === 'enforce'",
        Duration::from_secs(15),
    )
    .expect("the console shows enforce");
    b.wait_for(
        "document.getElementById('audit').innerText.includes('console-operator')",
        Duration::from_secs(15),
    )
    .expect("the change is in the audit log");

    // `CONSOLE_SCREENSHOT=file.png` keeps a picture of the console at this point.
    if let Some(path) = std::env::var_os("CONSOLE_SCREENSHOT") {
        std::fs::write(path, b.screenshot().expect("screenshot")).expect("write the screenshot");
    }

    // The next attack is blocked, and the attacker's ongoing requests too.
    assert_eq!(attack_status(), 403, "the policy now enforces");
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);
    attacker.join().expect("attacker thread");
    assert!(
        blocked.load(Ordering::Relaxed) > 0,
        "the running attack was not blocked"
    );
    // The change is in the overlay file, where it survives restarts.
    let text = std::fs::read_to_string(&overlay).expect("overlay");
    assert!(
        text.contains("T-SQLI")
            && text.contains("enforce")
            && text.contains("# the operator's overlay"),
        "{text}"
    );

    // Block the attacker outright from the top-clients table: even its
    // harmless requests are refused; unblocking from the console lifts it.
    assert_eq!(benign_status(), 200);
    b.eval("document.querySelector('#attackers button[data-block=\"127.0.0.77\"]').click()")
        .expect("click block");
    b.wait_for(
        "document.getElementById('blocks').innerText.includes('127.0.0.77')",
        Duration::from_secs(15),
    )
    .expect("the block is listed");
    assert_eq!(benign_status(), 403, "a blocked client is refused");
    b.eval("document.querySelector('#blocks button[data-unblock=\"127.0.0.77\"]').click()")
        .expect("click unblock");
    b.wait_for(
        "!document.getElementById('blocks').innerText.includes('127.0.0.77')",
        Duration::from_secs(15),
    )
    .expect("the block is gone");
    assert_eq!(benign_status(), 200, "unblocked");

    // The live events can be narrowed to one client.
    b.eval("const c = document.getElementById('ev-client'); c.value = '127.0.0.1'; c.dispatchEvent(new Event('change'))")
        .expect("filter");
    b.wait_for(
        "!document.getElementById('events').innerText.includes('127.0.0.77')",
        Duration::from_secs(10),
    )
    .expect("the filter hides the attacker's events");
}

fn benign_status() -> u16 {
    let mut c =
        RawConn::connect_from(std::net::Ipv4Addr::from(ATTACKER), gateway_addr()).expect("connect");
    c.roundtrip(b"GET /home HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n")
        .status
}

#[test]
fn the_console_page_is_served_with_a_strict_policy() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::proxy(up.addr(), &[]);
    let r = rampart_tests::client::get(gw.admin_addr(), "/").expect("GET /");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<title>Rampart console</title>"));
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    // No third-party origin anywhere in the page: it works offline.
    let page = r.text();
    assert!(
        !page.contains("https://") && !page.contains("http://"),
        "the page loads something remote"
    );
    let post = RawConn::open(gw.admin_addr())
        .roundtrip(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(post.status, 405);
}
