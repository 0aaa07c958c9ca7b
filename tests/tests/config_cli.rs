//! The operator CLI: `rampart check` on good and bad configs (every error reported as
//! `FILE:LINE:COL: message`), `rampart run` refusing a bad config, unreadable files.

use rampart_tests::gateway::run_to_exit;
use rampart_tests::{dead_addr, GatewayConfig};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

const CLI_TIMEOUT: Duration = Duration::from_secs(10);

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write config");
    p.to_str().expect("UTF-8 temp path").to_owned()
}

/// A config with three distinct errors, on known lines:
/// line 2 an unknown key, line 9 a bad listen address, line 17 a route to an unknown
/// upstream.
fn three_errors(listen_port: u16) -> String {
    format!(
        "[admin]\n\
         bogus_key = true\n\
         listen = \"127.0.0.1:0\"\n\
         \n\
         # three errors: line 2, line 9, line 17\n\
         \n\
         [server]\n\
         workers = 2\n\
         listen = [\"not-an-address:{listen_port}\"]\n\
         \n\
         [[upstream]]\n\
         name = \"app\"\n\
         servers = [\"http://127.0.0.1:9\"]\n\
         \n\
         [[route]]\n\
         path_prefix = \"/\"\n\
         upstream = \"nope\"\n"
    )
}

/// Finds the stderr line `FILE:LINE:COL: ...` for `line`; returns it.
fn error_line<'a>(stderr: &'a str, file: &str, line: u32) -> Option<&'a str> {
    let prefix = format!("{file}:{line}:");
    stderr.lines().find(|l| {
        l.strip_prefix(&prefix).is_some_and(|rest| {
            let (col, msg) = rest.split_once(':').unwrap_or(("", ""));
            col.parse::<u32>().is_ok_and(|c| c >= 1) && !msg.trim().is_empty()
        })
    })
}

#[test]
fn check_accepts_a_good_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = GatewayConfig::new(dead_addr())
        .timeout("header_read", "1s")
        .limit("max_body_bytes", 1024 * 1024)
        .render();
    let path = write(dir.path(), "good.toml", &cfg);
    let out = run_to_exit(&["check", "--config", &path], CLI_TIMEOUT);
    assert!(
        out.status.success(),
        "check failed on a good config: {:?}\nstderr:\n{}\nconfig:\n{cfg}",
        out.status,
        out.stderr
    );
    assert!(
        out.stdout.lines().any(|l| l.starts_with("ok: ")),
        "stdout lacks `ok: ...`:\n{}",
        out.stdout
    );
}

#[test]
fn check_reports_every_error_with_its_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "bad.toml", &three_errors(dead_addr().port()));
    let out = run_to_exit(&["check", "--config", &path], CLI_TIMEOUT);
    assert!(!out.status.success(), "check accepted a bad config");
    for (line, what) in [(2, "bogus_key"), (9, "not-an-address"), (17, "nope")] {
        let l = error_line(&out.stderr, &path, line).unwrap_or_else(|| {
            panic!(
                "no `{path}:{line}:COL: message` line for {what}; stderr:\n{}",
                out.stderr
            )
        });
        println!("{l}");
    }
    let unknown = error_line(&out.stderr, &path, 2).expect("line 2 error");
    assert!(
        unknown.contains("bogus_key"),
        "unknown-key error does not name the key: {unknown}"
    );
    let route = error_line(&out.stderr, &path, 17).expect("line 17 error");
    assert!(
        route.contains("nope"),
        "route error does not name the missing upstream: {route}"
    );
}

#[test]
fn run_refuses_a_bad_config_and_listens_nowhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Valid listen address on a known free port, but an unknown upstream in the route:
    // nothing may be bound on that port.
    let port = dead_addr().port();
    let cfg = format!(
        "[server]\nworkers = 1\nlisten = [\"127.0.0.1:{port}\"]\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[[upstream]]\nname = \"app\"\nservers = [\"http://127.0.0.1:9\"]\n\n[[route]]\npath_prefix = \"/\"\nupstream = \"missing\"\n"
    );
    let path = write(dir.path(), "bad-run.toml", &cfg);
    let out = run_to_exit(&["run", "--config", &path], CLI_TIMEOUT);
    assert!(!out.status.success(), "run accepted a bad config");
    assert!(
        out.stderr.contains("missing"),
        "stderr does not explain the error:\n{}",
        out.stderr
    );
    assert!(
        !out.stdout.contains("listening on"),
        "printed a listening line:\n{}",
        out.stdout
    );
    assert!(
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_err(),
        "something listens on the configured port"
    );
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("does-not-exist.toml");
    let path = path.to_str().expect("UTF-8 path");
    for cmd in ["check", "run"] {
        let out = run_to_exit(&[cmd, "--config", path], CLI_TIMEOUT);
        assert!(!out.status.success(), "`{cmd}` succeeded without a config");
        assert!(
            out.stderr.contains("does-not-exist.toml"),
            "`{cmd}` stderr does not name the file:\n{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("panicked"),
            "`{cmd}` panicked instead of reporting:\n{}",
            out.stderr
        );
    }
}

#[test]
fn directory_as_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_str().expect("UTF-8 path");
    let out = run_to_exit(&["check", "--config", path], CLI_TIMEOUT);
    assert!(!out.status.success(), "check accepted a directory");
    assert!(
        out.stderr.contains(path),
        "stderr does not name the path:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn an_event_log_that_cannot_be_created_is_refused_by_check_and_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-dir").join("events.log");
    let cfg = GatewayConfig::new(dead_addr())
        .policy("enabled = true")
        .events(&format!("path = {:?}", missing.display().to_string()))
        .render();
    let path = write(dir.path(), "events.toml", &cfg);
    for cmd in ["check", "run"] {
        let out = run_to_exit(&[cmd, "--config", &path], CLI_TIMEOUT);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{cmd}: {:?}\n{}",
            out.status,
            out.stderr
        );
        assert!(
            out.stderr.contains("cannot create event log")
                && out.stderr.contains("no-such-dir")
                && out.stderr.contains("does not exist"),
            "{cmd} stderr:\n{}",
            out.stderr
        );
    }
    // A writable directory is fine (the file is created at start, not by check).
    let ok = dir.path().join("events.log");
    let cfg = GatewayConfig::new(dead_addr())
        .policy("enabled = true")
        .events(&format!("path = {:?}", ok.display().to_string()))
        .render();
    let path = write(dir.path(), "ok.toml", &cfg);
    let out = run_to_exit(&["check", "--config", &path], CLI_TIMEOUT);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!ok.exists(), "check does not create the log");
}

#[test]
fn check_reports_bad_jwt_key_files_at_their_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = GatewayConfig::new(dead_addr()).render();
    std::fs::write(dir.path().join("short.key"), "too short\n").expect("write key");
    std::fs::write(
        dir.path().join("rsa.pem"),
        "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
    )
    .expect("write key");
    let cfg = format!(
        "{base}\n[behaviour.jwt]\nverify = true\nhs256_secret_file = \"short.key\"\n\
         public_keys = [\"rsa.pem\", \"missing.pem\"]\n"
    );
    let first = base.lines().count() + 4;
    let path = write(dir.path(), "jwt.toml", &cfg);
    let out = run_to_exit(&["check", "--config", &path], CLI_TIMEOUT);
    assert!(!out.status.success(), "check accepted bad key files");
    let secret = error_line(&out.stderr, &path, first as u32)
        .unwrap_or_else(|| panic!("no error at line {first}; stderr:\n{}", out.stderr));
    assert!(secret.contains("HS256 needs at least 32"), "{secret}");
    let keys = error_line(&out.stderr, &path, first as u32 + 1)
        .unwrap_or_else(|| panic!("no error at line {}; stderr:\n{}", first + 1, out.stderr));
    assert!(keys.contains("rsa.pem: not an RSA public key"), "{keys}");
    assert!(
        out.stderr.contains("cannot read public key"),
        "missing file not reported:\n{}",
        out.stderr
    );
    // With good keys the same config is accepted.
    std::fs::write(dir.path().join("short.key"), [b'k'; 32]).expect("write key");
    let cfg =
        format!("{base}\n[behaviour.jwt]\nverify = true\nhs256_secret_file = \"short.key\"\n");
    let path = write(dir.path(), "jwt-ok.toml", &cfg);
    let out = run_to_exit(&["check", "--config", &path], CLI_TIMEOUT);
    assert!(out.status.success(), "stderr:\n{}", out.stderr);
}
