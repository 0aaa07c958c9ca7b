//! Starting, pinning and stopping the servers under test.
//!
//! Every server runs in its own process group (so nginx's workers and
//! Apache's children stop with their parent), with `PR_SET_PDEATHSIG` so it
//! dies if the harness is killed outright, and is stopped by
//! [`Servers::stop_all`] or the registry's `Drop` on every exit path —
//! success, error or Ctrl-C. Only processes this registry started are ever
//! signalled. A server counts as up once its ports accept connections, and
//! it is refused if any of them listens on a non-loopback address.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{interrupt, procfs};

struct Proc {
    name: String,
    child: Child,
}

/// The servers started by this run.
pub struct Servers {
    procs: Vec<Proc>,
    log_dir: PathBuf,
}

/// `taskset -c CPUS PROGRAM ARGS...` when `cpus` is set (taskset execs the
/// program, so the child's PID is the server's), else `PROGRAM ARGS...`.
pub fn pinned_argv(cpus: Option<&str>, argv: &[String]) -> Vec<String> {
    let mut v = Vec::with_capacity(argv.len() + 3);
    if let Some(c) = cpus {
        v.extend(["taskset".to_string(), "-c".to_string(), c.to_string()]);
    }
    v.extend(argv.iter().cloned());
    v
}

/// A command that runs in its own process group and receives SIGTERM when
/// the harness dies.
pub fn owned_command(argv: &[String]) -> Result<Command> {
    let Some((prog, args)) = argv.split_first() else {
        bail!("empty command line");
    };
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent;
    // it runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    Ok(cmd)
}

fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Errors if anything listens on `port` (a leftover run, another service).
pub fn ensure_free(port: u16) -> Result<()> {
    if !procfs::listeners(port).is_empty() {
        bail!(
            "port {port} is already in use (pids {:?}); a leftover run? stop it first",
            procfs::pids_on_port(port)
        );
    }
    Ok(())
}

/// Errors if a listener on `port` is bound to a non-loopback address.
pub fn ensure_loopback(port: u16) -> Result<()> {
    for s in procfs::listeners(port) {
        if !procfs::is_loopback(&s.addr) {
            bail!(
                "port {port} listens on {} — servers must bind loopback only",
                s.addr
            );
        }
    }
    Ok(())
}

fn tail(path: &Path, bytes: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

impl Servers {
    /// A registry whose servers write their output to `log_dir/NAME.log`.
    pub fn new(log_dir: &Path) -> Result<Servers> {
        fs::create_dir_all(log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
        Ok(Servers {
            procs: Vec::new(),
            log_dir: log_dir.to_path_buf(),
        })
    }

    /// Starts `argv` (pinned to `cpus` if given) and waits up to `wait` until
    /// every one of `ports` accepts connections on loopback.
    pub fn start(
        &mut self,
        name: &str,
        cpus: Option<&str>,
        argv: &[String],
        ports: &[u16],
        wait: Duration,
    ) -> Result<()> {
        for &p in ports {
            ensure_free(p)?;
        }
        let log = self.log_dir.join(format!("{name}.log"));
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let full = pinned_argv(cpus, argv);
        let mut cmd = owned_command(&full)?;
        cmd.stdout(out.try_clone()?).stderr(out);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {}", full.join(" ")))?;
        self.procs.push(Proc {
            name: name.to_string(),
            child,
        });
        let end = Instant::now() + wait;
        for &port in ports {
            loop {
                interrupt::check()?;
                if port_open(port) {
                    break;
                }
                let proc = self.procs.last_mut().expect("just pushed");
                if let Ok(Some(status)) = proc.child.try_wait() {
                    bail!(
                        "{name} exited ({status}) before listening on 127.0.0.1:{port}; {}:\n{}",
                        log.display(),
                        tail(&log, 2000)
                    );
                }
                if Instant::now() > end {
                    bail!(
                        "{name} not listening on 127.0.0.1:{port} after {wait:?}; {}:\n{}",
                        log.display(),
                        tail(&log, 2000)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            ensure_loopback(port)?;
        }
        Ok(())
    }

    /// Names and PIDs of the servers started so far.
    pub fn list(&self) -> Vec<(String, u32)> {
        self.procs
            .iter()
            .map(|p| (p.name.clone(), p.child.id()))
            .collect()
    }

    /// Stops every server, newest first: SIGTERM to its process group, a
    /// second SIGTERM after 2 s (Rampart's "stop without draining"), SIGKILL
    /// after 5 s. The leader is reaped last, so its PID (the group's ID)
    /// cannot be reused while we still signal the group.
    pub fn stop_all(&mut self) {
        while let Some(mut p) = self.procs.pop() {
            let pgid = p.child.id() as i32;
            let group = |sig| {
                // SAFETY: kill(2) with a negative PID signals only the process
                // group we created for this child; its leader is unreaped, so
                // the group ID still belongs to it.
                unsafe { libc::kill(-pgid, sig) };
            };
            group(libc::SIGTERM);
            let start = Instant::now();
            let mut second = false;
            while group_alive(pgid) {
                let t = start.elapsed();
                if t > Duration::from_secs(5) {
                    eprintln!("[compare] {} did not stop on SIGTERM: SIGKILL", p.name);
                    group(libc::SIGKILL);
                    break;
                }
                if t > Duration::from_secs(2) && !second {
                    group(libc::SIGTERM);
                    second = true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = p.child.wait();
        }
    }
}

/// Whether any process of group `pgid` is still running (zombies do not count).
fn group_alive(pgid: i32) -> bool {
    let Ok(dir) = fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            return false;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // state(0) ppid(1) pgrp(2)
        f.first().is_some_and(|s| *s != "Z" && *s != "X")
            && f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
    })
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_with_taskset_only_when_asked() {
        let argv = vec!["nginx".to_string(), "-g".to_string()];
        assert_eq!(pinned_argv(None, &argv), argv);
        assert_eq!(
            pinned_argv(Some("0"), &argv),
            ["taskset", "-c", "0", "nginx", "-g"]
        );
    }

    #[test]
    fn starts_waits_and_stops_a_real_server() {
        let dir = tempfile::tempdir().unwrap();
        // A free port: bind, note, release.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = format!(
            "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen()\ntime.sleep(60)\n"
        );
        let mut servers = Servers::new(dir.path()).unwrap();
        let argv = vec!["python3".to_string(), "-c".to_string(), script];
        if Command::new("python3").arg("-V").output().is_err() {
            return; // no interpreter to play the server
        }
        servers
            .start("py", None, &argv, &[port], Duration::from_secs(10))
            .unwrap();
        let pid = servers.list()[0].1;
        assert_eq!(procfs::pids_on_port(port), vec![pid]);
        // The same port again is refused before anything is spawned.
        let err = servers
            .start("again", None, &argv, &[port], Duration::from_secs(1))
            .unwrap_err();
        assert!(err.to_string().contains("already in use"), "{err}");
        servers.stop_all();
        assert!(servers.list().is_empty());
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        assert!(procfs::listeners(port).is_empty());
    }

    #[test]
    fn a_server_that_exits_is_reported_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut servers = Servers::new(dir.path()).unwrap();
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo config broken; exit 3".to_string(),
        ];
        let err = servers
            .start("broken", None, &argv, &[1], Duration::from_secs(10))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exited") && err.contains("config broken"),
            "{err}"
        );
    }
}
