//! Running out of file descriptors: accepts fail with EMFILE while the listen queue
//! is full of waiting clients. The gateway must neither spin on the failing accept
//! nor flood its log, must keep serving the connections it has, and must pick up
//! the queued clients once descriptors are free again.
//!
//! Its own test binary because it points `RAMPART_BIN` at a wrapper that lowers
//! the descriptor limit before exec'ing the real binary (io_uring applies the
//! limit the process started with).

use rampart_tests::client::get_request;
use rampart_tests::gateway::rampart_bin;
use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::Duration;

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

#[test]
fn running_out_of_descriptors_neither_spins_nor_floods_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wrapper = dir.path().join("rampart-lowfd");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nulimit -n 40\nexec '{}' \"$@\"\n",
            rampart_bin().display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // SAFETY (of the test's assumptions): this binary runs this one test only.
    std::env::set_var("RAMPART_BIN", &wrapper);

    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(&GatewayConfig::new(up.addr()).workers(1).render());
    let pid = gw.pid();
    // Far more clients than descriptors: the rest wait in the accept queue and
    // every accept attempt fails with EMFILE.
    let mut conns: Vec<RawConn> = (0..60).map(|_| RawConn::open(gw.addr())).collect();
    thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    let warnings = gw.stderr().matches("accept failed").count();
    println!("cpu ticks in 1 s: {used}, accept warnings: {warnings}");
    assert!(
        warnings >= 1,
        "the descriptor shortage was not reported at all"
    );
    assert!(
        used < 30,
        "the gateway burned {used} ticks in 1 s while out of descriptors (spinning on accept?)"
    );
    assert!(
        warnings <= 5,
        "{warnings} accept warnings in ~1.3 s: not rate limited"
    );
    // A client admitted before the shortage is still served (its upstream
    // connection may itself hit EMFILE: then it gets a clean 502, not a hang).
    let first = conns[0].roundtrip(&get_request("/admitted"));
    assert!(
        first.status == 200 || first.status == 502,
        "admitted client got {}",
        first.status
    );
    // Free descriptors: the queued clients are accepted and served.
    conns.drain(0..40);
    let last = conns.last_mut().expect("queued client");
    last.set_timeout(Duration::from_secs(5)).expect("timeout");
    let r = last.roundtrip(&get_request("/queued"));
    assert_eq!(
        r.status, 200,
        "a client queued during the shortage was not served"
    );
}
