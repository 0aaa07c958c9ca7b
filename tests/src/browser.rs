//! Headless Chromium (the Debian `chromium` package) driven over the
//! DevTools protocol, for end-to-end tests of the operator console: load a
//! page, run JavaScript in it, wait for what it shows.
//!
//! The protocol is JSON over a WebSocket, so a small synchronous client
//! (`tungstenite`) is all it takes; no Node, no Playwright, no browser
//! download.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// One headless browser with one page.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("chromium not found (apt-get install chromium, or set CHROMIUM=/path/to/it)");
}

impl Browser {
    /// Starts Chromium headless on a private profile and attaches to its page.
    pub fn launch() -> io::Result<Browser> {
        let profile = tempfile::tempdir()?;
        let child = Command::new(chromium())
            .args([
                "--headless=new",
                "--no-sandbox", // tests run as root in CI containers
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut b = Browser::attach(child, profile)?;
        b.call("Page.enable", json!({}))?;
        b.call("Runtime.enable", json!({}))?;
        Ok(b)
    }

    fn attach(mut child: Child, profile: tempfile::TempDir) -> io::Result<Browser> {
        // Chromium writes the port it chose to DevToolsActivePort.
        let file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port: u16 = loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                if let Some(p) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                    break p;
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                return Err(io::Error::other(format!("chromium exited at start: {st}")));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(io::Error::other(
                    "chromium did not open its DevTools port in 30 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let list = crate::client::get(addr, "/json/list")?;
        let targets: Value = serde_json::from_slice(&list.body).map_err(io::Error::other)?;
        let url = targets
            .as_array()
            .and_then(|a| a.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .ok_or_else(|| io::Error::other(format!("no page target in {targets}")))?
            .to_string();
        let (ws, _) = tungstenite::connect(url.as_str()).map_err(io::Error::other)?;
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
        }
        Ok(Browser {
            child,
            _profile: profile,
            ws,
            next_id: 1,
        })
    }

    /// Sends one protocol command and returns its `result` (events that
    /// arrive meanwhile are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> io::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({ "id": id, "method": method, "params": params });
        self.ws
            .send(Message::text(msg.to_string()))
            .map_err(io::Error::other)?;
        loop {
            let m = self.ws.read().map_err(io::Error::other)?;
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(text.as_str()).map_err(io::Error::other)?;
            if v["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(e) = v.get("error") {
                return Err(io::Error::other(format!("{method}: {e}")));
            }
            return Ok(v["result"].clone());
        }
    }

    /// Loads `url` and waits until the document has loaded.
    pub fn goto(&mut self, url: &str) -> io::Result<()> {
        self.call("Page.navigate", json!({ "url": url }))?;
        self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            Duration::from_secs(20),
        )?;
        Ok(())
    }

    /// Evaluates `js` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, js: &str) -> io::Result<Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(io::Error::other(format!("`{js}` threw: {ex}")));
        }
        Ok(r["result"]["value"].clone())
    }

    /// A PNG of the page as it is now.
    pub fn screenshot(&mut self) -> io::Result<Vec<u8>> {
        use base64::Engine as _;
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let data = r["data"]
            .as_str()
            .ok_or_else(|| io::Error::other("no screenshot data"))?;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(io::Error::other)
    }

    /// Polls `js` until it returns something truthy; returns that value.
    pub fn wait_for(&mut self, js: &str, timeout: Duration) -> io::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(js)?;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(v);
            }
            if Instant::now() > deadline {
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .unwrap_or_default();
                return Err(io::Error::other(format!(
                    "timed out waiting for `{js}`; the page shows:\n{}",
                    text.as_str().unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.ws.close(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_loaded_scripted_and_read_back() {
        let mut b = Browser::launch().expect("launch chromium");
        b.goto("data:text/html,<button id=b onclick=\"this.textContent='clicked'\">click</button>")
            .expect("load");
        b.eval("document.getElementById('b').click()")
            .expect("click");
        let text = b
            .wait_for(
                "document.getElementById('b').textContent === 'clicked' && 'ok'",
                Duration::from_secs(5),
            )
            .expect("wait");
        assert_eq!(text, "ok");
        assert!(
            b.eval("nosuchvariable").is_err(),
            "a throwing script is an error"
        );
    }
}
