//! `Gateway`: the real `rampart` binary as a child process, started the way an operator
//! runs it, with its stdout/stderr captured by background threads.
//!
//! Contract relied on: one `rampart: listening on ADDR` stdout line per listener, then
//! `rampart: admin listening on ADDR` once ready; logs on stderr; on SIGTERM it drains,
//! prints `rampart: stopped` and exits 0.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long startup may take before the test fails (a debug build compiling
/// the default pack on a loaded 2-core CI machine needs more than 10 s).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the `rampart` binary: `$RAMPART_BIN`, else `<dir of test exe>/../rampart`.
/// Panics with a build hint when it does not exist.
pub fn rampart_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("RAMPART_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "RAMPART_BIN={} is not a file; build it first: cargo build -p rampart-dataplane",
            p.display()
        );
        return p;
    }
    let exe = std::env::current_exe().expect("current_exe of the test binary");
    // target/<profile>/deps/<test> -> target/<profile>/rampart
    let candidate = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("rampart"));
    match candidate {
        Some(p) if p.is_file() => p,
        other => panic!(
            "rampart binary not found (looked at {:?}, RAMPART_BIN unset); \
             build it first: cargo build -p rampart-dataplane",
            other
        ),
    }
}

/// Result of running `rampart` to completion.
#[derive(Debug)]
pub struct Finished {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

/// Runs `rampart ARGS` to completion within `timeout` (killed and panics past it).
pub fn run_to_exit(args: &[&str], timeout: Duration) -> Finished {
    let mut child = Command::new(rampart_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rampart");
    let out = capture(child.stdout.take().expect("piped stdout"));
    let err = capture(child.stderr.take().expect("piped stderr"));
    let status = wait_bounded(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "rampart {args:?} did not exit within {timeout:?}; stderr:\n{}",
            snapshot(&err)
        )
    });
    Finished {
        status,
        stdout: join_capture(out),
        stderr: join_capture(err),
    }
}

type Captured = (Arc<Mutex<String>>, thread::JoinHandle<()>);

fn capture(mut r: impl Read + Send + 'static) -> Captured {
    let text = Arc::new(Mutex::new(String::new()));
    let t = Arc::clone(&text);
    let h = thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            t.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (text, h)
}

fn snapshot(c: &Captured) -> String {
    c.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn join_capture(c: Captured) -> String {
    let (text, handle) = c;
    let _ = handle.join();
    let s = text.lock().unwrap_or_else(|e| e.into_inner()).clone();
    s
}

fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

/// A running `rampart` process; killed on drop.
pub struct Gateway {
    child: Child,
    listen: Vec<SocketAddr>,
    admin: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stdout_thread: Option<thread::JoinHandle<()>>,
    stderr: Captured,
    exited: Option<ExitStatus>,
    _config: Option<tempfile::TempDir>,
    config_path: Option<PathBuf>,
}

impl Gateway {
    /// `rampart proxy --listen 127.0.0.1:0 --upstream http://UPSTREAM --workers 2
    /// --admin 127.0.0.1:0 --no-policy EXTRA...`: the plain proxy, for tests of
    /// the dataplane itself.
    pub fn proxy(upstream: SocketAddr, extra_args: &[&str]) -> Gateway {
        let mut args = vec!["--no-policy"];
        args.extend_from_slice(extra_args);
        Self::proxy_with_policy(upstream, &args)
    }

    /// Like [`Gateway::proxy`] without `--no-policy`: the embedded default pack
    /// unless `extra_args` name packs with `--pack`.
    pub fn proxy_with_policy(upstream: SocketAddr, extra_args: &[&str]) -> Gateway {
        let up = format!("http://{upstream}");
        let mut args = vec![
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &up,
            "--workers",
            "2",
            "--admin",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra_args);
        Self::spawn(&args, None)
    }

    /// Writes `toml_text` to a temporary `rampart.toml` and runs `rampart run --config FILE`.
    pub fn run_config(toml_text: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("create temp dir for the config");
        let path = dir.path().join("rampart.toml");
        std::fs::write(&path, toml_text).expect("write config file");
        let p = path.to_str().expect("temp path is UTF-8").to_owned();
        let mut g = Self::spawn(&["run", "--config", &p], Some(dir));
        g.config_path = Some(path);
        g
    }

    fn spawn(args: &[&str], dir: Option<tempfile::TempDir>) -> Gateway {
        let bin = rampart_bin();
        let mut child = Command::new(&bin)
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} {args:?}: {e}", bin.display()));
        let stderr = capture(child.stderr.take().expect("piped stderr"));
        let stdout_text = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let out = child.stdout.take().expect("piped stdout");
        let st = Arc::clone(&stdout_text);
        let stdout_thread = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                {
                    let mut s = st.lock().unwrap_or_else(|e| e.into_inner());
                    s.push_str(&line);
                    s.push('\n');
                }
                let _ = tx.send(line);
            }
        });

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut listen = Vec::new();
        let admin = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    thread::sleep(Duration::from_millis(50));
                    panic!(
                        "rampart {args:?} never printed `rampart: admin listening on ..` \
                         ({}; exit {status:?}); stdout:\n{}\nstderr:\n{}",
                        match e {
                            mpsc::RecvTimeoutError::Timeout => "timed out after 10 s",
                            mpsc::RecvTimeoutError::Disconnected => "stdout closed",
                        },
                        stdout_text.lock().unwrap_or_else(|e| e.into_inner()),
                        snapshot(&stderr)
                    );
                }
            };
            if let Some(a) = line.strip_prefix("rampart: admin listening on ") {
                break parse_addr(a, &line);
            }
            if let Some(a) = line.strip_prefix("rampart: listening on ") {
                listen.push(parse_addr(a, &line));
            }
        };
        assert!(
            !listen.is_empty(),
            "rampart printed its admin line before any `rampart: listening on` line"
        );
        Gateway {
            child,
            listen,
            admin,
            stdout: stdout_text,
            stdout_thread: Some(stdout_thread),
            stderr,
            exited: None,
            _config: dir,
            config_path: None,
        }
    }

    /// The first (usually only) proxy listener.
    pub fn addr(&self) -> SocketAddr {
        self.listen[0]
    }

    /// Every proxy listener, in the order printed.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.listen
    }

    /// The admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of the config file written by [`Gateway::run_config`].
    pub fn config_path(&self) -> Option<&PathBuf> {
        self.config_path.as_ref()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(
            rc,
            0,
            "kill(SIGTERM) failed: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Waits for the process to exit (panics, after killing it, past `timeout`).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        let Some(status) = wait_bounded(&mut self.child, timeout) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "rampart did not exit within {timeout:?}; stderr:\n{}",
                self.stderr()
            );
        };
        self.exited = Some(status);
        if let Some(h) = self.stdout_thread.take() {
            let _ = h.join();
        }
        status
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        snapshot(&self.stderr)
    }

    /// `VmRSS` of the process in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// `VmHWM` (peak RSS) of the process in KiB.
    pub fn hwm_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn parse_addr(text: &str, line: &str) -> SocketAddr {
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("bad address in rampart output line {line:?}: {e}"))
}

/// Reads field `key` (e.g. `VmRSS:`) of `/proc/PID/status` in KiB.
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} missing in /proc/{pid}/status"))
}
