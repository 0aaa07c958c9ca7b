//! Before any load: do the inspecting setups inspect? The peers kit's WAF
//! check, in short — a SQL injection and an XSS must get 403, the benign
//! GET 200 — so a WAF that silently passes everything cannot post a
//! flattering number.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The outcome for one setup.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WafCheck {
    pub setup: String,
    /// Status codes of: SQLi, XSS, benign GET (0: no answer).
    pub sqli: u16,
    pub xss: u16,
    pub benign: u16,
}

impl WafCheck {
    pub fn passed(&self) -> bool {
        self.sqli == 403 && self.xss == 403 && self.benign == 200
    }
}

/// The status code of an HTTP/1.x response's status line.
pub fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// One request with the kit's headers; 0 when nothing sensible came back.
pub fn status(port: u16, target: &str) -> u16 {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: peers-bench/1.0\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut buf = [0u8; 256];
    let mut n = 0;
    while n < buf.len() {
        match s.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
        if buf[..n].contains(&b'\n') {
            break;
        }
    }
    parse_status(&buf[..n]).unwrap_or(0)
}

/// Runs the three requests against the setup on `port`.
pub fn waf(setup: &str, port: u16) -> WafCheck {
    WafCheck {
        setup: setup.to_string(),
        sqli: status(port, "/?id=1%27%20OR%20%271%27=%271"),
        xss: status(port, "/?q=%3Cscript%3Ealert(1)%3C/script%3E"),
        benign: status(port, "/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 403 Forbidden\r\n"), Some(403));
        assert_eq!(parse_status(b"HTTP/1.0 200 OK\r\nx"), Some(200));
        assert_eq!(parse_status(b"SSH-2.0\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }

    #[test]
    fn against_a_real_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            for code in ["403 Forbidden", "403 Forbidden", "200 OK"] {
                let (mut c, _) = l.accept().unwrap();
                let mut b = [0u8; 1024];
                let _ = c.read(&mut b);
                let _ = write!(c, "HTTP/1.1 {code}\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let w = waf("X", port);
        t.join().unwrap();
        assert!(w.passed(), "{w:?}");
        assert_eq!(status(1, "/"), 0);
    }
}
