//! The README's demo: `rampart demo` starts the demo API and the gateway in front
//! of it, prints curl lines, serves normal API calls, stops a smuggling attempt,
//! and drains cleanly on SIGTERM (the demo API's threads must not take the signal).

use rampart_tests::gateway::rampart_bin;
use rampart_tests::RawConn;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_serves_blocks_and_drains() {
    let mut child = Command::new(rampart_bin())
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rampart demo");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut gw: Option<SocketAddr> = None;
    let mut curl_lines = 0;
    while Instant::now() < deadline && curl_lines < 3 {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        if let Some(a) = line.strip_prefix("rampart: listening on ") {
            gw = a.trim().parse().ok();
        }
        if line.trim_start().starts_with("curl ") {
            curl_lines += 1;
        }
    }
    let gw = gw.expect("the demo never printed its listening address");
    assert!(curl_lines >= 3, "the demo printed no curl lines to try");

    let mut c = RawConn::open(gw);
    let r = c.roundtrip(b"GET /api/users/42 HTTP/1.1\r\nHost: demo\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("\"id\":42"), "{}", r.text());
    // The embedded default pack stops an attack the demo prints a curl line for.
    let r = RawConn::open(gw).roundtrip(
        b"GET /api/products?q=1%27%20UNION%20SELECT%20username,password%20FROM%20users-- HTTP/1.1\r\nHost: demo\r\n\r\n",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("event_id"), "{}", r.text());
    let r = RawConn::open(gw).roundtrip(
        b"POST /api/orders HTTP/1.1\r\nHost: demo\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 400, "the smuggling attempt was not stopped");
    // The login line passes; a vendor default account's password does not
    // reach the API (the pair is on the pack's default-credentials list).
    for (creds, status) in [
        (r#"{"username":"alice","password":"wonderland-42"}"#, 200),
        (r#"{"username":"admin","password":"admin"}"#, 403),
    ] {
        let r = RawConn::open(gw).roundtrip(
            format!(
                "POST /api/login HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{creds}",
                creds.len()
            )
            .as_bytes(),
        );
        assert_eq!(r.status, status, "{creds}: {}", r.text());
    }

    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let mut stopped = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line == "rampart: stopped" => stopped = true,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(_) => {}
        }
    }
    let status = child.wait().expect("wait");
    assert!(
        stopped,
        "no `rampart: stopped`: SIGTERM killed the demo instead of draining it"
    );
    assert!(status.success(), "exit status {status:?}");
}
