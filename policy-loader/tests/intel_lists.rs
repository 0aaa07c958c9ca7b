//! Threat-intelligence lists at scale: IP lists against an independent
//! reference on a million generated entries, the credential filter's
//! false-positive rate, the new list keys in policies, and intel list
//! directories beside packs.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{hits, request, run, Fixture};
use rampart_policy_loader::lists::credentials::{pair_digest, CredentialFilter};
use rampart_policy_loader::lists::fingerprint::{header_fingerprint, HFP_LEN};
use rampart_policy_loader::measures::{IdentityProp, COUNTERS};
use rampart_policy_loader::{DryFacts, List, ListKind};

/// splitmix64: deterministic test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn mask4(a: u32, p: u32) -> u32 {
    if p == 0 {
        0
    } else {
        a & (u32::MAX << (32 - p))
    }
}

fn mask6(a: u128, p: u32) -> u128 {
    if p == 0 {
        0
    } else {
        a & (u128::MAX << (128 - p))
    }
}

/// Longest-prefix match by hashing the probe at every prefix length: a
/// different algorithm from the list's sorted segments.
struct Reference {
    v4: Vec<HashSet<u32>>,
    v6: Vec<HashSet<u128>>,
}

impl Reference {
    fn lookup(&self, ip: IpAddr) -> Option<String> {
        // The list's rule: an IPv4-mapped IPv6 address is an IPv4 client.
        let ip = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                (0..=32u32).rev().find_map(|p| {
                    let n = mask4(a, p);
                    self.v4[p as usize]
                        .contains(&n)
                        .then(|| show(IpAddr::V4(Ipv4Addr::from(n)), p, 32))
                })
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                (0..=128u32).rev().find_map(|p| {
                    let n = mask6(a, p);
                    self.v6[p as usize]
                        .contains(&n)
                        .then(|| show(IpAddr::V6(Ipv6Addr::from(n)), p, 128))
                })
            }
        }
    }
}

fn show(a: IpAddr, p: u32, full: u32) -> String {
    if p == full {
        a.to_string()
    } else {
        format!("{a}/{p}")
    }
}

#[test]
fn million_entry_ip_list_agrees_with_a_reference() {
    let mut rng = Rng(42);
    let mut text = String::with_capacity(24 << 20);
    let mut reference = Reference {
        v4: vec![HashSet::new(); 33],
        v6: vec![HashSet::new(); 129],
    };
    let mut written: Vec<(IpAddr, u32)> = Vec::new();
    for i in 0..1_000_000u32 {
        if rng.below(10) < 8 {
            // Mostly long prefixes (as in real feeds), some wide ones that
            // nest many others; host bits left set on some lines.
            let p = match rng.below(10) {
                0 => 8 + rng.below(9) as u32,
                1..=3 => 17 + rng.below(8) as u32,
                _ => 25 + rng.below(8) as u32,
            };
            let a = rng.next() as u32;
            let a = if i % 7 == 0 { a } else { mask4(a, p) };
            text.push_str(&format!("{}/{p}\n", Ipv4Addr::from(a)));
            reference.v4[p as usize].insert(mask4(a, p));
            written.push((IpAddr::V4(Ipv4Addr::from(mask4(a, p))), p));
        } else {
            let p = 16 + rng.below(113) as u32;
            // Inside 2001:db8::/32 and 2a00::/16 so entries nest and collide.
            let a = if rng.below(2) == 0 {
                (0x2001_0db8u128 << 96) | (u128::from(rng.next()) << 32 >> 32 & (u128::MAX >> 32))
            } else {
                (0x2a00u128 << 112) | (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 16
            };
            text.push_str(&format!("{}/{p}\n", Ipv6Addr::from(a)));
            reference.v6[p as usize].insert(mask6(a, p));
            written.push((IpAddr::V6(Ipv6Addr::from(mask6(a, p))), p));
        }
        if i % 100_000 == 0 {
            text.push_str("# a comment line\n\n");
        }
    }
    let list = List::parse_file("big", ListKind::Ip, &text, "big.cidr").expect("parses");
    assert_eq!(list.len(), 1_000_000);
    let mut probes: Vec<IpAddr> = Vec::new();
    for _ in 0..100_000 {
        probes.push(IpAddr::V4(Ipv4Addr::from(rng.next() as u32)));
    }
    for _ in 0..20_000 {
        let (net, p) = written[rng.below(written.len() as u64) as usize];
        match net {
            IpAddr::V4(a) => {
                let first = u32::from(a);
                let last = first | (u32::MAX.checked_shr(p).unwrap_or(0));
                for x in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                    probes.push(IpAddr::V4(Ipv4Addr::from(x)));
                    probes.push(IpAddr::V6(Ipv4Addr::from(x).to_ipv6_mapped()));
                }
            }
            IpAddr::V6(a) => {
                let first = u128::from(a);
                let last = first | (u128::MAX.checked_shr(p).unwrap_or(0));
                for x in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                    probes.push(IpAddr::V6(Ipv6Addr::from(x)));
                }
            }
        }
    }
    let mut found = 0;
    for ip in probes {
        let want = reference.lookup(ip);
        let got = list.lookup_ip(ip).map(|e| e.to_string());
        assert_eq!(got, want, "{ip}");
        assert_eq!(list.contains_ip(ip), want.is_some(), "{ip}");
        found += usize::from(want.is_some());
    }
    assert!(found > 50_000, "only {found} probes hit");
}

#[test]
fn credential_filter_has_no_false_negatives_and_a_bounded_fp_rate() {
    let mut rng = Rng(7);
    let members: Vec<u64> = (0..1_000_000).map(|_| rng.next()).collect();
    let member_set: HashSet<u64> = members.iter().copied().collect();
    let filter = CredentialFilter::unconfirmed(members.clone());
    assert!(!filter.confirmed());
    assert!(members.iter().all(|k| filter.contains_key(*k)));
    let confirmed = CredentialFilter::from_keys(members.clone());
    assert!(confirmed.confirmed());
    assert!(members.iter().all(|k| confirmed.contains_key(*k)));
    let (mut probes, mut fp, mut fp_confirmed) = (0u64, 0u64, 0u64);
    while probes < 2_000_000 {
        let k = rng.next();
        if member_set.contains(&k) {
            continue;
        }
        probes += 1;
        fp += u64::from(filter.contains_key(k));
        fp_confirmed += u64::from(confirmed.contains_key(k));
    }
    let rate = fp as f64 / probes as f64;
    eprintln!(
        "false positives: {fp} of {probes} ({:.4} %), bound 1/256 = 0.3906 %; confirmed: {fp_confirmed}",
        rate * 100.0
    );
    // 1/256 is the filter's expected rate; 1.1x leaves > 6 standard
    // deviations for 2 M probes.
    assert!(rate < 1.1 / 256.0, "rate {rate}");
    assert!(
        rate > 0.5 / 256.0,
        "rate {rate}: the measurement is not measuring"
    );
    assert_eq!(fp_confirmed, 0);
    // ~9 bits per entry.
    let bits = filter.heap_bytes() as f64 * 8.0 / 1e6;
    assert!(bits < 9.5, "{bits} bits per entry");
}

const SIGS: &str = r#"
    [[signature]]
    id = "t.never"
    literal = "never-matches-anything-here"
    fields = ["@values"]
"#;

fn facts() -> DryFacts {
    DryFacts {
        counters: vec![0; COUNTERS.len()],
        ..DryFacts::default()
    }
}

fn fp_of(method: &str, names: &[&str]) -> String {
    let headers: Vec<(&[u8], &[u8])> = names.iter().map(|n| (n.as_bytes(), &b"v"[..])).collect();
    let mut out = [0u8; HFP_LEN];
    String::from_utf8(header_fingerprint(method.as_bytes(), 11, &headers, &mut out).to_vec())
        .expect("ascii")
}

#[test]
fn policies_look_up_fingerprints_pairs_and_intel_directories() {
    let f = Fixture::new();
    let curl = fp_of("GET", &["Host", "User-Agent", "Accept"]);
    assert_eq!(curl, "ge11nn03_e89050d54621");
    f.pack(
        "p",
        &[
            ("signatures/core.toml", SIGS),
            (
                "lists/tools.hfp",
                &format!("# curl 7.88 default GET\n{}\n", curl.to_uppercase()),
            ),
            (
                "policies/p.toml",
                r#"
                [[policy]]
                id = "I-TOOL"
                name = "tool"
                severity = "medium"
                condition = { list = "tools", key = "request.header_fingerprint" }
                action = "block"

                [[policy]]
                id = "I-PAIR"
                name = "pair"
                severity = "high"
                condition = { list = "stolen-pairs", key = "credential.user_password" }
                action = "block"

                [[policy]]
                id = "I-IP"
                name = "ip"
                severity = "high"
                condition = { list = "attackers", key = "client.ip" }
                action = "block"
                "#,
            ),
        ],
    );
    // printf '%s' 'alice@example.com:Secret1' | sha1sum
    f.file(
        "intel/stolen-pairs.sha1pair",
        "0D019BC5DB4CE1DFBDFEAAE94FBA68262A5EE566:3\n",
    );
    f.file("intel/attackers.cidr", "198.51.100.0/24\n198.51.100.7\n");
    let p = match f.load_intel(&["p"], &["intel"]) {
        Ok(l) => l.policy,
        Err(e) => panic!("{e}"),
    };
    let ids = |facts: &DryFacts, req: &str| hits(&p, &run(&p, &request(req), facts, false));
    let curl_req = "GET / HTTP/1.1\nHost: a\nUser-Agent: x\nAccept: */*\n";
    assert_eq!(ids(&facts(), curl_req), ["I-TOOL"]);
    // Another order or case is another tool.
    assert!(ids(
        &facts(),
        "GET / HTTP/1.1\nhost: a\nuser-agent: x\naccept: */*\n"
    )
    .is_empty());
    assert!(ids(
        &facts(),
        "GET / HTTP/1.1\nUser-Agent: x\nHost: a\nAccept: */*\n"
    )
    .is_empty());
    // A cookie changes the fingerprint's flags but not the name hash.
    assert!(ids(
        &facts(),
        "GET / HTTP/1.1\nHost: a\nUser-Agent: x\nAccept: */*\nCookie: s=1\n"
    )
    .is_empty());
    // One evaluator across requests (a core's): the fingerprint it
    // remembers follows the method and the header names.
    let mut runner = rampart_policy_loader::DryRunner::new(&p).expect("runner");
    for (req, tool) in [
        (curl_req, true),
        (
            "GET / HTTP/1.1\nUser-Agent: x\nHost: a\nAccept: */*\n",
            false,
        ),
        (curl_req, true),
        (
            "GET / HTTP/1.1\nHost: a\nUser-Agent: x\nAccept: */*\nX-Extra: 1\n",
            false,
        ),
        (
            "HEAD / HTTP/1.1\nHost: a\nUser-Agent: x\nAccept: */*\n",
            false,
        ),
        (
            "GET / HTTP/1.1\nHost: a\nUser-Agent: x\nAccepT: */*\n",
            false,
        ),
        (curl_req, true),
    ] {
        let out = runner.run(&request(req), &facts(), false).expect("run");
        assert_eq!(hits(&p, &out) == ["I-TOOL"], tool, "{req}");
    }

    let mut login = facts();
    login.identity[IdentityProp::User.index()] = Some(b"ALICE@example.com".to_vec());
    login.password = Some(b"Secret1".to_vec());
    assert_eq!(ids(&login, "POST /login HTTP/1.1\nHost: a\n"), ["I-PAIR"]);
    login.password = Some(b"secret1".to_vec());
    assert!(ids(&login, "POST /login HTTP/1.1\nHost: a\n").is_empty());

    let mut client = facts();
    client.client_ip = Some("198.51.100.7".parse().expect("ip"));
    assert_eq!(ids(&client, "GET /x HTTP/1.1\nHost: a\n"), ["I-IP"]);
    let list = &p.lists[p
        .lists
        .iter()
        .position(|l| l.name == "attackers")
        .expect("list")];
    assert_eq!(
        list.lookup_ip("198.51.100.7".parse().expect("ip"))
            .map(|e| e.to_string()),
        Some("198.51.100.7".into())
    );
    assert_eq!(
        list.lookup_ip("198.51.100.8".parse().expect("ip"))
            .map(|e| e.to_string()),
        Some("198.51.100.0/24".into())
    );

    // Every list is reported with its entries, origin and load time.
    let stats: Vec<(String, usize, bool)> = p
        .stats
        .lists
        .iter()
        .map(|s| (s.name.clone(), s.entries, s.external))
        .collect();
    assert_eq!(
        stats,
        [
            ("tools".to_owned(), 1, false),
            ("attackers".to_owned(), 2, true),
            ("stolen-pairs".to_owned(), 1, true),
        ]
    );
    // The version changes when an intel file changes.
    let v1 = p.version().to_owned();
    f.file("intel/attackers.cidr", "198.51.100.0/24\n");
    let p2 = f.load_intel(&["p"], &["intel"]).expect("loads").policy;
    assert_ne!(p2.version(), v1);
}

#[test]
fn pair_rule_matches_an_independent_hash() {
    // The documented rule, spelled out with the standard library's view of
    // lowercase: ASCII letters only.
    let user = "Bob.Smith@Example.ORG";
    let joined = format!("{}:{}", user.to_ascii_lowercase(), "hunter2");
    let want = sha1_hex(joined.as_bytes());
    let got: String = pair_digest(user.as_bytes(), b"hunter2")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got, want);
}

fn sha1_hex(b: &[u8]) -> String {
    // printf '%s' 'bob.smith@example.org:hunter2' | sha1sum
    assert_eq!(b, b"bob.smith@example.org:hunter2");
    "16df5b9158fb30d8073b2431a061f26c07d02bae".to_owned()
}

/// The header sets the default pack's fingerprint lists were derived from:
/// (list, tool, method, header names in order and case as sent). All but Go
/// were captured from the tool's own request to a local listener (see the
/// comments in the list files); Go's is read off net/http's source.
const DERIVED: &[(&str, &str, &str, &[&str])] = &[
    (
        "intel-tool-header-fingerprints",
        "sqlmap 1.7.2 GET",
        "GET",
        &[
            "Cache-control",
            "User-agent",
            "Host",
            "Accept",
            "Accept-encoding",
            "Connection",
        ],
    ),
    (
        "intel-tool-header-fingerprints",
        "sqlmap 1.7.2 HEAD",
        "HEAD",
        &[
            "Cache-control",
            "User-agent",
            "Host",
            "Accept",
            "Accept-encoding",
            "Connection",
        ],
    ),
    (
        "intel-tool-header-fingerprints",
        "sqlmap 1.7.2 POST",
        "POST",
        &[
            "Content-Length",
            "Cache-Control",
            "User-Agent",
            "Host",
            "Accept",
            "Accept-Encoding",
            "Content-Type",
            "Connection",
        ],
    ),
    (
        "intel-scripting-header-fingerprints",
        "curl 7.88.1 GET",
        "GET",
        &["Host", "User-Agent", "Accept"],
    ),
    (
        "intel-scripting-header-fingerprints",
        "curl 7.88.1 POST -d",
        "POST",
        &[
            "Host",
            "User-Agent",
            "Accept",
            "Content-Length",
            "Content-Type",
        ],
    ),
    (
        "intel-scripting-header-fingerprints",
        "curl 7.88.1 POST -H Content-Type -d",
        "POST",
        &[
            "Host",
            "User-Agent",
            "Accept",
            "Content-Type",
            "Content-Length",
        ],
    ),
    (
        "intel-scripting-header-fingerprints",
        "python-requests 2.34.2 GET",
        "GET",
        &[
            "Host",
            "User-Agent",
            "Accept-Encoding",
            "Accept",
            "Connection",
        ],
    ),
    (
        "intel-scripting-header-fingerprints",
        "python-requests 2.34.2 POST",
        "POST",
        &[
            "Host",
            "User-Agent",
            "Accept-Encoding",
            "Accept",
            "Connection",
            "Content-Length",
            "Content-Type",
        ],
    ),
    (
        "intel-scripting-header-fingerprints",
        "Python-urllib 3.11 GET",
        "GET",
        &["Accept-Encoding", "Host", "User-Agent", "Connection"],
    ),
    (
        "intel-scripting-header-fingerprints",
        "Wget 1.21.3 GET",
        "GET",
        &[
            "Host",
            "User-Agent",
            "Accept",
            "Accept-Encoding",
            "Connection",
        ],
    ),
    (
        "intel-scripting-header-fingerprints",
        "Go-http-client/1.1 GET",
        "GET",
        &["Host", "User-Agent", "Accept-Encoding"],
    ),
];

#[test]
fn default_pack_fingerprints_are_the_derived_header_sets() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packs/default/lists");
    let mut missing = Vec::new();
    for (list, tool, method, names) in DERIVED {
        let want = fp_of(method, names);
        let text = std::fs::read_to_string(dir.join(format!("{list}.hfp"))).expect("list file");
        if !text
            .lines()
            .any(|l| l.split('#').next().unwrap_or("").trim() == want)
        {
            missing.push(format!("{list}.hfp: {want}  # {tool}"));
        }
    }
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
}
