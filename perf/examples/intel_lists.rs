//! Threat-intelligence lists at scale (issue 6): load time and lookup cost
//! of a 10 M-entry IP/CIDR list, and memory and check cost of a
//! 100 M-entry compromised-credential filter. Prints numbers; asserts
//! nothing about time.
//!
//! ```sh
//! cargo run --release -p rampart-perf --example intel_lists            # everything
//! cargo run --release -p rampart-perf --example intel_lists -- ip      # IP list only
//! cargo run --release -p rampart-perf --example intel_lists -- creds   # credentials only
//! ```
//!
//! Sizes can be changed with `IP_ENTRIES` and `CRED_ENTRIES` (environment).
//! The 100 M credential build needs about 2.5 GiB of memory at its peak.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use rampart_policy_loader::lists::credentials::{password_digest, CredentialFilter};
use rampart_policy_loader::lists::fingerprint::{header_fingerprint, HFP_LEN};
use rampart_policy_loader::{List, ListKind};

/// splitmix64: reproducible data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Time this thread has run on a CPU, in ns (the machine may be shared:
/// wall time would count the time other processes had the core).
fn cpu_ns() -> u128 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Memory of this process backed by transparent huge pages, MiB.
fn huge_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("AnonHugePages:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if what == "all" || what == "ip" {
        ip(env("IP_ENTRIES", 10_000_000));
    }
    if what == "all" || what == "creds" {
        creds(env("CRED_ENTRIES", 100_000_000));
    }
    if what == "all" || what == "hfp" {
        hfp();
    }
}

/// A 10 M-line `.cidr` file: 70 % IPv4 (/16../32, most /24../32), 30 %
/// IPv6 (/32../128), random, so entries nest and overlap.
fn ip(n: usize) {
    let mut rng = Rng(1);
    let mut text = String::with_capacity(n * 26);
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for _ in 0..n {
        let r = rng.next();
        if r % 10 < 7 {
            let p = match (r >> 8) % 8 {
                0 => 16 + (r >> 16) % 8,
                _ => 24 + (r >> 16) % 9,
            } as u8;
            let a = Ipv4Addr::from(rng.next() as u32);
            text.push_str(&format!("{a}/{p}\n"));
            if v4.len() < 1_000_000 {
                v4.push(u32::from(a));
            }
        } else {
            let p = 32 + ((r >> 8) % 97) as u8;
            let a = Ipv6Addr::from(
                (0x2000u128 << 112) | (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 4,
            );
            text.push_str(&format!("{a}/{p}\n"));
            if v6.len() < 1_000_000 {
                v6.push(u128::from(a));
            }
        }
    }
    let bytes = text.len();
    let before = rss_mib();
    let (t, c) = (Instant::now(), cpu_ns());
    let list = match List::parse_file("bench", ListKind::Ip, &text, "bench.cidr") {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let (load, load_cpu) = (t.elapsed(), cpu_ns() - c);
    drop(text);
    let set = list.ip_set().expect("ip list");
    let (s4, s6) = set.segments();
    println!(
        "ip list: {n} entries ({:.0} MiB of text) parsed and built in {:.2} s on CPU ({:.2} s wall, {:.0} ns/line on CPU); \
         {s4} IPv4 + {s6} IPv6 segments, {:.0} MiB held (RSS +{:.0} MiB after the text was freed; {:.0} MiB in huge pages)",
        mib(bytes),
        load_cpu as f64 / 1e9,
        load.as_secs_f64(),
        load_cpu as f64 / n as f64,
        mib(list.heap_bytes()),
        rss_mib() - before,
        huge_mib(),
    );
    // Probes, 2.5 M of each kind: random IPv4 addresses; addresses next to
    // written IPv4 entries (inside or just outside); the same for IPv6; and
    // random IPv6 addresses in the entries' /3.
    let per = 2_500_000;
    let mut kinds: Vec<(&str, Vec<IpAddr>)> = Vec::new();
    let mut gen = |name, f: &mut dyn FnMut(u64) -> IpAddr| {
        let v: Vec<IpAddr> = (0..per).map(|_| f(rng.next())).collect();
        kinds.push((name, v));
    };
    gen("random IPv4", &mut |r| IpAddr::V4(Ipv4Addr::from(r as u32)));
    gen("near IPv4 entries", &mut |r| {
        IpAddr::V4(Ipv4Addr::from(
            v4[(r >> 1) as usize % v4.len()] ^ (r >> 40) as u32 & 0xff,
        ))
    });
    gen("near IPv6 entries", &mut |r| {
        IpAddr::V6(Ipv6Addr::from(
            v6[(r >> 1) as usize % v6.len()] ^ u128::from(r >> 40 & 0xffff),
        ))
    });
    gen("random IPv6 in 2000::/3", &mut |r| {
        IpAddr::V6(Ipv6Addr::from(
            (0x2000u128 << 112) | (u128::from(r) << 64 | u128::from(r.rotate_left(17))) >> 4,
        ))
    });
    let mut all: Vec<IpAddr> = kinds.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    // Shuffled, so the kinds interleave as they would in traffic.
    for i in (1..all.len()).rev() {
        all.swap(i, rng.next() as usize % (i + 1));
    }
    kinds.push(("all four, interleaved", all));
    let only = std::env::var("PROBES").unwrap_or_default();
    for round in 0..2 {
        for (name, probes) in kinds.iter().filter(|(n, _)| n.contains(only.as_str())) {
            let (t, c) = (Instant::now(), cpu_ns());
            let mut hits = 0usize;
            for ip in probes {
                hits += usize::from(black_box(list.lookup_ip(black_box(*ip))).is_some());
            }
            let (el, cpu) = (t.elapsed(), cpu_ns() - c);
            // The same probes, each chosen through the previous answer: the
            // CPU cannot overlap one lookup's cache misses with the next
            // one's, as a gateway doing one lookup per request cannot.
            let zero = black_box(0usize);
            let (t2, c2) = (Instant::now(), cpu_ns());
            let mut dep = 0usize;
            for i in 0..probes.len() {
                let r = list.lookup_ip(probes[(i + dep) % probes.len()]);
                dep = black_box(r.map_or(1, |e| usize::from(e.prefix))) * zero;
            }
            let (el2, cpu2) = (t2.elapsed(), cpu_ns() - c2);
            println!(
                "ip lookup (round {round}, {name}): {:.1} ns per lookup on CPU ({:.1} ns wall) back to back; \
                 {:.1} ns on CPU ({:.1} wall) one after another; {:.1} % hits",
                cpu as f64 / probes.len() as f64,
                el.as_nanos() as f64 / probes.len() as f64,
                cpu2 as f64 / probes.len() as f64,
                el2.as_nanos() as f64 / probes.len() as f64,
                hits as f64 * 100.0 / probes.len() as f64
            );
        }
    }
    // A working set that stays in cache (10,000 client addresses, as a
    // gateway's clients repeat): the cost without cache misses.
    let hot: Vec<IpAddr> = kinds[4].1[..10_000].to_vec();
    let (t, c) = (Instant::now(), cpu_ns());
    let mut hits = 0usize;
    for _ in 0..1000 {
        for ip in &hot {
            hits += usize::from(black_box(list.lookup_ip(black_box(*ip))).is_some());
        }
    }
    let (el, cpu) = (t.elapsed(), cpu_ns() - c);
    println!(
        "ip lookup (10,000 repeating clients): {:.1} ns per lookup on CPU ({:.1} ns wall), {:.1} % hits",
        cpu as f64 / 1e7,
        el.as_nanos() as f64 / 1e7,
        hits as f64 * 100.0 / 1e7
    );
}

fn creds(n: usize) {
    // Load time of the text format (10 M lines of HASH:count) first.
    let lines = n.min(10_000_000);
    let mut rng = Rng(2);
    let mut text = String::with_capacity(lines * 48);
    for _ in 0..lines {
        let (a, b, c) = (rng.next(), rng.next(), rng.next() as u32);
        text.push_str(&format!("{a:016X}{b:016X}{c:08X}:{}\n", c % 1000));
    }
    let (t, c) = (Instant::now(), cpu_ns());
    let list = match List::parse_file("bench", ListKind::Sha1, &text, "bench.sha1") {
        Ok(l) => l,
        Err(e) => panic!("{e}"),
    };
    let (el, cpu) = (t.elapsed(), cpu_ns() - c);
    println!(
        "sha1 list: {lines} lines of HASH:count ({:.0} MiB) parsed and built in {:.2} s on CPU ({:.2} s wall); {:.1} MiB held (confirmed: {})",
        mib(text.len()),
        cpu as f64 / 1e9,
        el.as_secs_f64(),
        mib(list.heap_bytes()),
        list.credentials().is_some_and(CredentialFilter::confirmed),
    );
    drop(text);
    drop(list);

    // The 100 M filter from hash prefixes (the text would be 4.6 GB).
    let mut rng = Rng(3);
    let keys: Vec<u64> = (0..n).map(|_| rng.next()).collect();
    let members: Vec<u64> = keys[..1_000_000.min(n)].to_vec();
    let before = rss_mib();
    let (t, c) = (Instant::now(), cpu_ns());
    let filter = CredentialFilter::from_keys(keys);
    let (build, build_cpu) = (t.elapsed(), cpu_ns() - c);
    println!(
        "credential filter: {n} entries built in {:.1} s on CPU ({:.1} s wall); {:.1} MiB ({:.2} bits/entry, confirmed: {}); RSS after build {:.0} MiB (was {:.0})",
        build_cpu as f64 / 1e9,
        build.as_secs_f64(),
        mib(filter.heap_bytes()),
        filter.heap_bytes() as f64 * 8.0 / n as f64,
        filter.confirmed(),
        rss_mib(),
        before,
    );
    let probes_n = 10_000_000usize;
    let probes: Vec<u64> = (0..probes_n)
        .map(|i| {
            if i % 2 == 0 {
                members[i / 2 % members.len()]
            } else {
                rng.next()
            }
        })
        .collect();
    // Contiguous, so reading a password is not itself a cache miss.
    let passwords: Vec<[u8; 11]> = (0..1_000_000)
        .map(|i| {
            let mut p = [0u8; 11];
            p.copy_from_slice(format!("pw{i:08}x").as_bytes());
            p
        })
        .collect();
    for round in 0..3 {
        let (t, c) = (Instant::now(), cpu_ns());
        let mut hits = 0usize;
        for k in &probes {
            hits += usize::from(filter.contains_key(black_box(*k)));
        }
        let (el, cpu) = (t.elapsed(), cpu_ns() - c);
        let zero = black_box(0usize);
        let (t3, c3) = (Instant::now(), cpu_ns());
        let mut dep = 0usize;
        for i in 0..probes.len() {
            let hit = filter.contains_key(probes[(i + dep) % probes.len()]);
            // Through black_box: a data dependency, not a branch the CPU
            // could predict past.
            dep = black_box(usize::from(hit)) * zero;
        }
        let (el3, cpu3) = (t3.elapsed(), cpu_ns() - c3);
        println!(
            "credential check (round {round}): {:.1} ns per filter probe on CPU ({:.1} wall) one after another",
            cpu3 as f64 / probes.len() as f64,
            el3.as_nanos() as f64 / probes.len() as f64,
        );
        let (t, c) = (Instant::now(), cpu_ns());
        let mut phits = 0usize;
        for p in passwords.iter().cycle().take(probes_n) {
            phits += usize::from(filter.contains_digest(&password_digest(black_box(&p[..]))));
        }
        let (el2, cpu2) = (t.elapsed(), cpu_ns() - c);
        println!(
            "credential check (round {round}): {:.1} ns per filter probe on CPU ({:.1} wall) back to back (half members, {hits} hits); \
             {:.1} ns per password check incl. SHA-1 of an 11-byte password on CPU ({:.1} wall; {phits} hits)",
            cpu as f64 / probes_n as f64,
            el.as_nanos() as f64 / probes_n as f64,
            cpu2 as f64 / probes_n as f64,
            el2.as_nanos() as f64 / probes_n as f64,
        );
    }
    let mut fp = 0usize;
    let mut tried = 0usize;
    // Odd probes are random keys (a member with chance 10^8 / 2^64).
    for k in probes.iter().skip(1).step_by(2) {
        tried += 1;
        fp += usize::from(filter.contains_key(*k));
    }
    println!(
        "credential filter false positives: {fp} of {tried} random non-members ({:.4} %, bound 1/256 = 0.3906 %)",
        fp as f64 * 100.0 / tried as f64
    );
}

fn hfp() {
    let names: [&[u8]; 7] = [
        b"Host",
        b"User-Agent",
        b"Accept-Encoding",
        b"Accept",
        b"Connection",
        b"Content-Length",
        b"Content-Type",
    ];
    let headers: Vec<(&[u8], &[u8])> = names.iter().map(|n| (*n, &b"v"[..])).collect();
    let n = 10_000_000;
    let c = cpu_ns();
    let mut out = [0u8; HFP_LEN];
    let mut x = 0u8;
    for _ in 0..n {
        x ^= header_fingerprint(b"POST", 11, black_box(&headers), &mut out)[10];
    }
    black_box(x);
    println!(
        "header fingerprint: {:.1} ns on CPU per request with 7 headers",
        (cpu_ns() - c) as f64 / n as f64
    );
    let c = cpu_ns();
    let mut x = 0u8;
    for i in 0..n {
        let mut pw = *b"pw00000000x";
        pw[9] = i as u8;
        x ^= password_digest(black_box(&pw))[0];
    }
    black_box(x);
    println!(
        "SHA-1 of an 11-byte password: {:.1} ns on CPU",
        (cpu_ns() - c) as f64 / n as f64
    );
    let c = cpu_ns();
    for i in 0..n {
        let mut pw = *b"pw00000000x";
        pw[9] = i as u8;
        x ^= sha1_smol::Sha1::from(black_box(&pw[..])).digest().bytes()[0];
    }
    black_box(x);
    println!(
        "SHA-1 of an 11-byte password with sha1_smol (portable code, for comparison): {:.1} ns on CPU",
        (cpu_ns() - c) as f64 / n as f64
    );
}
