//! Lists from a pack's `lists/` directory: IP/CIDR sets, TLS fingerprints,
//! breached-password hashes and plain strings, each with a lookup that does
//! not allocate.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::diag::{Loc, Sink};

/// What a list holds (from its file extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `.cidr`: IPv4/IPv6 addresses and networks.
    Ip,
    /// `.ja4`: JA4 TLS fingerprints.
    Ja4,
    /// `.ja3`: JA3 TLS fingerprints (MD5 hex).
    Ja3,
    /// `.sha1`: SHA-1 hex of breached passwords.
    Sha1,
    /// `.txt`: strings, matched exactly ignoring ASCII case.
    Text,
}

impl ListKind {
    /// The kind for a file extension.
    pub fn from_extension(ext: &str) -> Option<ListKind> {
        Some(match ext {
            "cidr" => ListKind::Ip,
            "ja4" => ListKind::Ja4,
            "ja3" => ListKind::Ja3,
            "sha1" => ListKind::Sha1,
            "txt" => ListKind::Text,
            _ => return None,
        })
    }

    /// The extension spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Ip => "cidr",
            ListKind::Ja4 => "ja4",
            ListKind::Ja3 => "ja3",
            ListKind::Sha1 => "sha1",
            ListKind::Text => "txt",
        }
    }
}

/// A loaded list.
#[derive(Clone, Debug)]
pub struct List {
    /// File stem.
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// Pack it came from.
    pub pack: usize,
    ips: IpRanges,
    hashes: Vec<[u8; 20]>,
    strings: HashSet<Vec<u8>>,
}

/// Address ranges as sorted, merged, inclusive `u128` intervals (IPv4 mapped
/// into `::ffff:0:0/96`), so a lookup is one binary search at any list size.
#[derive(Clone, Debug, Default)]
struct IpRanges(Vec<(u128, u128)>);

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6),
        },
    }
}

impl IpRanges {
    fn build(mut v: Vec<(u128, u128)>) -> IpRanges {
        v.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match out.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        IpRanges(out)
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let k = key(ip);
        let i = self.0.partition_point(|(s, _)| *s <= k);
        i > 0 && self.0[i - 1].1 >= k
    }
}

fn parse_net(s: &str) -> Option<(u128, u128)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        let k = key(ip);
        return Some((k, k));
    }
    let net: ipnet::IpNet = s.parse().ok()?;
    let (lo, hi) = (key(net.network()), key(net.broadcast()));
    Some((lo, hi))
}

impl List {
    /// Parses a list file; bad lines are reported with their line number.
    pub(crate) fn parse(
        name: &str,
        kind: ListKind,
        pack: usize,
        text: &str,
        file: &str,
        sink: &mut Sink,
    ) -> List {
        let mut list = List {
            name: name.to_owned(),
            kind,
            pack,
            ips: IpRanges::default(),
            hashes: Vec::new(),
            strings: HashSet::new(),
        };
        let mut ranges = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let loc = Loc {
                file: file.to_owned(),
                line: i + 1,
                col: raw.find(line).unwrap_or(0) + 1,
            };
            match kind {
                ListKind::Ip => match parse_net(line) {
                    Some(r) => ranges.push(r),
                    None => sink.at(
                        &loc,
                        None,
                        format!("`{line}` is not an IP address or CIDR network"),
                    ),
                },
                ListKind::Sha1 => match hex20(line) {
                    Some(h) => list.hashes.push(h),
                    None => sink.at(
                        &loc,
                        None,
                        format!("`{line}` is not a SHA-1 hash (40 hex digits)"),
                    ),
                },
                ListKind::Ja3 => {
                    if line.len() == 32 && line.bytes().all(|b| b.is_ascii_hexdigit()) {
                        list.strings.insert(line.to_ascii_lowercase().into_bytes());
                    } else {
                        sink.at(
                            &loc,
                            None,
                            format!("`{line}` is not a JA3 hash (32 hex digits)"),
                        );
                    }
                }
                ListKind::Ja4 => {
                    if is_ja4(line) {
                        list.strings.insert(line.to_ascii_lowercase().into_bytes());
                    } else {
                        sink.at(&loc, None, format!("`{line}` is not a JA4 fingerprint (like t13d1516h2_8daaf6152771_02713d6af862)"));
                    }
                }
                ListKind::Text => {
                    list.strings.insert(line.to_ascii_lowercase().into_bytes());
                }
            }
        }
        list.ips = IpRanges::build(ranges);
        list.hashes.sort_unstable();
        list.hashes.dedup();
        list
    }

    /// Entries in the list (merged ranges for IP lists).
    pub fn len(&self) -> usize {
        match self.kind {
            ListKind::Ip => self.ips.0.len(),
            ListKind::Sha1 => self.hashes.len(),
            _ => self.strings.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the address is in an IP list.
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        self.ips.contains(ip)
    }

    /// Whether the password's SHA-1 is in a `.sha1` list.
    pub fn contains_password(&self, password: &[u8]) -> bool {
        let digest = sha1_smol::Sha1::from(password).digest().bytes();
        self.hashes.binary_search(&digest).is_ok()
    }

    /// Whether the string is in a text or fingerprint list (ASCII case-insensitive).
    ///
    /// Entries are stored lowercase; values that are already lowercase (the
    /// common case) are looked up without copying.
    pub fn contains_str(&self, value: &[u8], buf: &mut Vec<u8>) -> bool {
        if !value.iter().any(u8::is_ascii_uppercase) {
            return self.strings.contains(value);
        }
        buf.clear();
        buf.extend(value.iter().map(u8::to_ascii_lowercase));
        self.strings.contains(buf.as_slice())
    }
}

fn hex20(s: &str) -> Option<[u8; 20]> {
    let b = s.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in b.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

fn is_ja4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('_').collect();
    parts.len() == 3
        && parts[0].len() == 10
        && parts[0].bytes().all(|b| b.is_ascii_alphanumeric())
        && parts[1..]
            .iter()
            .all(|p| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_lists_merge_and_look_up() {
        let mut sink = Sink::default();
        let l = List::parse(
            "x",
            ListKind::Ip,
            0,
            "10.0.0.0/8\n# c\n192.0.2.7\n2001:db8::/32\n10.1.0.0/16\nbad\n",
            "f",
            &mut sink,
        );
        assert_eq!(sink.diags.len(), 1);
        assert_eq!(sink.diags[0].line, 6);
        assert!(l.contains_ip("10.2.3.4".parse().unwrap()));
        assert!(l.contains_ip("192.0.2.7".parse().unwrap()));
        assert!(!l.contains_ip("192.0.2.8".parse().unwrap()));
        assert!(l.contains_ip("2001:db8::1".parse().unwrap()));
        assert!(l.contains_ip("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!l.contains_ip("11.0.0.0".parse().unwrap()));
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn breached_passwords() {
        let mut sink = Sink::default();
        // sha1("123456")
        let l = List::parse(
            "p",
            ListKind::Sha1,
            0,
            "7C4A8D09CA3762AF61E59520943DC26494F8941B\n",
            "f",
            &mut sink,
        );
        assert!(sink.diags.is_empty());
        assert!(l.contains_password(b"123456"));
        assert!(!l.contains_password(b"1234567"));
    }
}
