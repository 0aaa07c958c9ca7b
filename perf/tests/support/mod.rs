//! What the load generator's tests share: the test server it is pointed at
//! (`test_server`), a CA and certificates for the TLS tests (`pki`), and
//! running the real `rampart-bench` binary with a deadline and reading back
//! its JSON report.

pub mod pki;
pub mod test_server;

#[cfg(test)]
mod server_tests;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rampart_perf::loadgen::Report;

/// The binary under test.
pub const BENCH: &str = env!("CARGO_BIN_EXE_rampart-bench");

/// No run in these tests should take more than a few seconds; a generator
/// that hangs is killed here so the test fails instead of hanging the suite.
const DEADLINE: Duration = Duration::from_secs(40);

/// How one `rampart-bench run` ended.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `rampart-bench run ARGS...` to the end (killed after [`DEADLINE`]).
pub fn bench(args: &[&str]) -> Outcome {
    let mut child = Command::new(BENCH)
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rampart-bench");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "rampart-bench run {args:?} still running after {DEADLINE:?}; stderr:\n{stderr}"
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Runs `rampart-bench run ARGS... --json - -q`, which must succeed, and
/// returns its report.
pub fn report(args: &[&str]) -> Report {
    let mut all = args.to_vec();
    all.extend(["--json", "-", "-q"]);
    let o = bench(&all);
    assert!(
        o.status.success(),
        "rampart-bench run {all:?} failed ({}); stderr:\n{}",
        o.status,
        o.stderr
    );
    parse_report(&o.stdout, &o.stderr)
}

/// Runs like [`report`] but does not require a zero exit status (a run in
/// which every connection fails may exit non-zero and still report).
pub fn report_any_exit(args: &[&str]) -> Report {
    let mut all = args.to_vec();
    all.extend(["--json", "-", "-q"]);
    let o = bench(&all);
    parse_report(&o.stdout, &o.stderr)
}

fn parse_report(stdout: &str, stderr: &str) -> Report {
    serde_json::from_str(stdout).unwrap_or_else(|e| {
        panic!("report is not JSON ({e}); stdout:\n{stdout}\nstderr:\n{stderr}")
    })
}

/// Runs a command that must fail: non-zero exit, a message on stderr.
/// Returns stderr.
pub fn bench_fails(args: &[&str]) -> String {
    let o = bench(args);
    assert!(
        !o.status.success(),
        "rampart-bench run {args:?} succeeded; stdout:\n{}",
        o.stdout
    );
    assert!(
        !o.stderr.trim().is_empty(),
        "rampart-bench run {args:?} failed without a message"
    );
    o.stderr
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

/// A path as a `&str` argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
