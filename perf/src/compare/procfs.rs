//! What the harness reads from `/proc`: which sockets listen on a port and
//! on which address, which processes hold them, and how much CPU time a
//! process, the whole machine and our reaped children have used.
//!
//! The parsers are pure functions over the file's text (unit-tested); the
//! thin readers around them return empty results for processes that have
//! gone away, since a server may exit between two reads.

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One socket line of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSocket {
    pub addr: IpAddr,
    pub port: u16,
    /// Kernel TCP state (`0x0A` is LISTEN).
    pub state: u8,
    pub inode: u64,
}

const TCP_LISTEN: u8 = 0x0A;

/// Parses `/proc/net/tcp` (v4) or `/proc/net/tcp6` (v6) text.
pub fn parse_net_tcp(text: &str, v6: bool) -> Vec<TcpSocket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
            let (a, p) = local.split_once(':')?;
            Some(TcpSocket {
                addr: parse_hex_addr(a, v6)?,
                port: u16::from_str_radix(p, 16).ok()?,
                state: u8::from_str_radix(state, 16).ok()?,
                inode: inode.parse().ok()?,
            })
        })
        .collect()
}

/// The kernel prints addresses as 32-bit words in host (little-endian on
/// the machines we run on) byte order.
fn parse_hex_addr(hex: &str, v6: bool) -> Option<IpAddr> {
    if !v6 {
        let w = u32::from_str_radix(hex, 16).ok()?;
        return Some(IpAddr::V4(Ipv4Addr::from(w.to_le_bytes())));
    }
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for i in 0..4 {
        let w = u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok()?;
        bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    Some(IpAddr::V6(Ipv6Addr::from(bytes)))
}

/// Loopback in every spelling the kernel may show: 127/8, ::1, ::ffff:127.x.
pub fn is_loopback(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
    }
}

/// Listening sockets on `port`, v4 and v6.
pub fn listeners(port: u16) -> Vec<TcpSocket> {
    let mut out = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = fs::read_to_string(path) {
            out.extend(
                parse_net_tcp(&text, v6)
                    .into_iter()
                    .filter(|s| s.port == port && s.state == TCP_LISTEN),
            );
        }
    }
    out
}

/// Processes holding any of these socket inodes (every process of a
/// multi-process server: nginx's master and workers, Apache's children).
pub fn pids_holding(inodes: &BTreeSet<u64>) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path())
                .ok()
                .and_then(|l| socket_inode(l.to_str()?))
                .is_some_and(|i| inodes.contains(&i))
        });
        if holds {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The processes listening on `port` (what the kit's `pids_on_port` finds).
pub fn pids_on_port(port: u16) -> Vec<u32> {
    let inodes: BTreeSet<u64> = listeners(port).iter().map(|s| s.inode).collect();
    if inodes.is_empty() {
        return Vec::new();
    }
    pids_holding(&inodes)
}

/// CPU times from a `/proc/PID/stat` line, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatTimes {
    /// utime + stime of the process (all its threads).
    pub own: u64,
    /// cutime + cstime: its children that it has waited for.
    pub children: u64,
}

/// Parses `/proc/PID/stat`. The command name may contain spaces and
/// parentheses, so fields are counted after the last `)`.
pub fn parse_stat(text: &str) -> Option<StatTimes> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(StatTimes {
        own: n(11)? + n(12)?,
        children: n(13)? + n(14)?,
    })
}

/// Summed utime + stime (ticks) of these processes; gone ones count 0.
pub fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|t| parse_stat(&t))
        .map(|s| s.own)
        .sum()
}

/// CPU ticks of this process's reaped children (the load generator runs).
pub fn children_ticks() -> u64 {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| parse_stat(&t))
        .map(|s| s.children)
        .unwrap_or(0)
}

/// Busy ticks of the whole machine (user + nice + system of `/proc/stat`'s
/// `cpu` line, as the peers kit counts them).
pub fn parse_system_busy(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    (f.len() == 3).then(|| f.iter().sum())
}

/// See [`parse_system_busy`]; 0 if `/proc/stat` cannot be read.
pub fn system_busy() -> u64 {
    fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_system_busy(&t))
        .unwrap_or(0)
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
   2: 0100007F:46A0 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn parses_v4_sockets() {
        let s = parse_net_tcp(TCP, false);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].addr, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(s[0].port, 18080);
        assert_eq!(s[0].state, TCP_LISTEN);
        assert_eq!(s[0].inode, 123456);
        assert_eq!(s[1].addr, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(s[1].port, 8080);
        assert!(is_loopback(&s[0].addr));
        assert!(!is_loopback(&s[1].addr));
    }

    #[test]
    fn parses_v6_sockets() {
        let text = "header\n   0: 00000000000000000000000001000000:46A0 00000000000000000000000000000000:0000 0A 0 0 0 0 0 42 1\n   1: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0 43 1\n";
        let s = parse_net_tcp(text, true);
        assert_eq!(s[0].addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert!(is_loopback(&s[0].addr));
        assert_eq!(s[1].addr.to_string(), "::ffff:127.0.0.1");
        assert!(is_loopback(&s[1].addr));
        assert!(parse_net_tcp("h\n 0: zz:1 0 0A\n", true).is_empty());
    }

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 12 3 20 0 1 0 100 0 0";
        let t = parse_stat(line).unwrap();
        assert_eq!(t.own, 325);
        assert_eq!(t.children, 15);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn parses_system_busy() {
        let text = "cpu  100 5 50 1000 7 0 3 0 0 0\ncpu0 50 2 25 500 3 0 1 0 0 0\n";
        assert_eq!(parse_system_busy(text), Some(155));
        assert_eq!(parse_system_busy("intr 1 2\n"), None);
    }

    #[test]
    fn finds_our_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let socks = listeners(port);
        assert_eq!(socks.len(), 1);
        assert!(is_loopback(&socks[0].addr));
        assert_eq!(pids_on_port(port), vec![std::process::id()]);
        assert!(cpu_ticks(&[std::process::id()]) < u64::MAX);
        assert!(clk_tck() > 0);
    }
}
