//! Lists from a pack's `lists/` directory or an external intel directory:
//! IP/CIDR sets ([`ip_set`]), compromised-credential filters
//! ([`credentials`]), header fingerprints ([`fingerprint`]), TLS
//! fingerprints and plain strings, each with a lookup that does not allocate.
//! Files are parsed line by line without a copy; bad lines are reported at
//! their `file:line:col`.

pub mod credentials;
pub(crate) mod external;
pub mod fingerprint;
pub mod ip_set;

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::diag::{LoadErrors, Loc, Sink};
use credentials::{CredentialFilter, HashError};
use ip_set::{IpEntry, IpSet, IpSetBuilder, NetError};

/// What a list holds (from its file extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `.cidr`: IPv4/IPv6 addresses and networks.
    Ip,
    /// `.ja4`: JA4 TLS fingerprints.
    Ja4,
    /// `.ja3`: JA3 TLS fingerprints (MD5 hex).
    Ja3,
    /// `.sha1`: SHA-1 hex of breached passwords (`HASH` or `HASH:count`).
    Sha1,
    /// `.sha1pair`: SHA-1 hex of `lowercase(user):password` pairs.
    Sha1Pair,
    /// `.hfp`: request header fingerprints ([`fingerprint`]).
    HeaderFingerprint,
    /// `.txt`: strings, matched exactly ignoring ASCII case.
    Text,
}

/// The extensions, for messages.
pub const EXTENSIONS: &str = ".cidr, .ja4, .ja3, .sha1, .sha1pair, .hfp or .txt";

impl ListKind {
    /// The kind for a file extension.
    pub fn from_extension(ext: &str) -> Option<ListKind> {
        Some(match ext {
            "cidr" => ListKind::Ip,
            "ja4" => ListKind::Ja4,
            "ja3" => ListKind::Ja3,
            "sha1" => ListKind::Sha1,
            "sha1pair" => ListKind::Sha1Pair,
            "hfp" => ListKind::HeaderFingerprint,
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
            ListKind::Sha1Pair => "sha1pair",
            ListKind::HeaderFingerprint => "hfp",
            ListKind::Text => "txt",
        }
    }
}

#[derive(Clone, Debug)]
enum Data {
    Ip(IpSet),
    Credentials(CredentialFilter),
    Strings(HashSet<Vec<u8>>),
}

/// A loaded list.
#[derive(Clone, Debug)]
pub struct List {
    /// File stem.
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// Pack it came from ([`List::EXTERNAL`] for an intel directory).
    pub pack: usize,
    /// The file, as diagnostics name it.
    pub source: String,
    /// Time to parse and build it.
    pub load_time: Duration,
    /// Hash of an intel directory file's bytes (0 for pack lists, which the
    /// pack's own content hash covers): the policy version changes with it.
    pub(crate) content_hash: u64,
    entries: usize,
    data: Data,
}

/// Bad lines reported per file; a wrong file would otherwise give one
/// message per line.
const MAX_LINE_ERRORS: usize = 20;

/// Longest excerpt of a bad line quoted in a message.
const QUOTE: usize = 60;

fn quote(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(&line[..line.len().min(QUOTE)]);
    if line.len() > QUOTE {
        format!("{s}…")
    } else {
        s.into_owned()
    }
}

/// Calls `f(line_number, column, content)` for every line with content:
/// `#` starts a comment, surrounding whitespace (and `\r`) is ignored.
fn for_each_line(text: &[u8], mut f: impl FnMut(usize, usize, &[u8])) {
    let mut start = 0;
    let mut n = 0;
    while start < text.len() {
        n += 1;
        let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
        let raw = &text[start..end];
        let content = match memchr::memchr(b'#', raw) {
            Some(i) => &raw[..i],
            None => raw,
        };
        let lead = content
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        let line = content[lead..].trim_ascii_end();
        if !line.is_empty() {
            f(n, lead + 1, line);
        }
        start = end + 1;
    }
}

impl List {
    /// `pack` of a list from an intel directory.
    pub const EXTERNAL: usize = usize::MAX;

    /// Parses a list file; bad lines are reported with their line number.
    pub(crate) fn parse(
        name: &str,
        kind: ListKind,
        pack: usize,
        text: &str,
        file: &str,
        sink: &mut Sink,
    ) -> List {
        let started = Instant::now();
        let mut bad = 0usize;
        let mut report = |line: usize, col: usize, message: String| {
            bad += 1;
            if bad <= MAX_LINE_ERRORS {
                let loc = Loc {
                    file: file.to_owned(),
                    line,
                    col,
                };
                sink.at(&loc, None, message);
            }
        };
        let text = text.as_bytes();
        let mut entries = 0usize;
        let data = match kind {
            ListKind::Ip => {
                let mut b = IpSetBuilder::default();
                for_each_line(text, |n, col, line| {
                    match ip_set::parse_net(line) {
                    Ok(net) => {
                        b.push(net);
                        entries += 1;
                    }
                    Err(NetError::NotAnAddress) => report(
                        n,
                        col,
                        format!("`{}` is not an IP address or CIDR network", quote(line)),
                    ),
                    Err(NetError::Prefix { max }) => report(
                        n,
                        col,
                        format!(
                            "`{}`: the prefix length is too long (at most /{max} for an IPv{} network)",
                            quote(line),
                            if max == 32 { 4 } else { 6 }
                        ),
                    ),
                }
                });
                Data::Ip(b.build())
            }
            ListKind::Sha1 | ListKind::Sha1Pair => {
                let mut keys = Vec::with_capacity(text.len() / 41);
                for_each_line(text, |n, col, line| {
                    match credentials::parse_hash_line(line) {
                    Ok(k) => keys.push(k),
                    Err(HashError::NotHex) => report(
                        n,
                        col,
                        format!(
                            "`{}` is not a SHA-1 hash (40 hex digits, optionally followed by `:count`)",
                            quote(line)
                        ),
                    ),
                    Err(HashError::Count) => report(
                        n,
                        col,
                        format!(
                            "`{}`: the count after `:` must be a whole number",
                            quote(line)
                        ),
                    ),
                }
                });
                let f = CredentialFilter::from_keys(keys);
                entries = f.len();
                Data::Credentials(f)
            }
            ListKind::Ja3 | ListKind::Ja4 | ListKind::HeaderFingerprint | ListKind::Text => {
                let mut set = HashSet::new();
                for_each_line(text, |n, col, line| {
                    let ok = match kind {
                        ListKind::Ja3 => line.len() == 32 && line.iter().all(u8::is_ascii_hexdigit),
                        ListKind::Ja4 => is_ja4(line),
                        ListKind::HeaderFingerprint => fingerprint::is_fingerprint(line),
                        _ => true,
                    };
                    if ok {
                        set.insert(line.to_ascii_lowercase());
                    } else {
                        let what = match kind {
                            ListKind::Ja3 => "a JA3 hash (32 hex digits)",
                            ListKind::Ja4 => {
                                "a JA4 fingerprint (like t13d1516h2_8daaf6152771_02713d6af862)"
                            }
                            _ => "a header fingerprint (like ge11nn05_0123456789ab; see docs/POLICY.md)",
                        };
                        report(n, col, format!("`{}` is not {what}", quote(line)));
                    }
                });
                entries = set.len();
                Data::Strings(set)
            }
        };
        if bad > MAX_LINE_ERRORS {
            sink.file(
                file,
                format!(
                    "{} more bad lines not shown ({bad} in all)",
                    bad - MAX_LINE_ERRORS
                ),
            );
        }
        List {
            name: name.to_owned(),
            kind,
            pack,
            source: file.to_owned(),
            load_time: started.elapsed(),
            content_hash: 0,
            entries,
            data,
        }
    }

    /// Parses one list file outside a pack (tools, benchmarks): every bad
    /// line is an error.
    pub fn parse_file(
        name: &str,
        kind: ListKind,
        text: &str,
        file: &str,
    ) -> Result<List, LoadErrors> {
        let mut sink = Sink::default();
        let list = List::parse(name, kind, List::EXTERNAL, text, file, &mut sink);
        if sink.diags.is_empty() {
            Ok(list)
        } else {
            Err(LoadErrors(sink.diags))
        }
    }

    /// Entries: networks as written for IP lists (nested and duplicate ones
    /// included), distinct values otherwise.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory the list holds, in bytes (approximate for string lists).
    pub fn heap_bytes(&self) -> usize {
        match &self.data {
            Data::Ip(s) => s.heap_bytes(),
            Data::Credentials(c) => c.heap_bytes(),
            Data::Strings(s) => s.iter().map(|v| v.len() + 24 + 8).sum(),
        }
    }

    /// The IP set of a `.cidr` list.
    pub fn ip_set(&self) -> Option<&IpSet> {
        match &self.data {
            Data::Ip(s) => Some(s),
            _ => None,
        }
    }

    /// The filter of a `.sha1` or `.sha1pair` list.
    pub fn credentials(&self) -> Option<&CredentialFilter> {
        match &self.data {
            Data::Credentials(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the address is in an IP list.
    #[inline]
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        self.lookup_ip(ip).is_some()
    }

    /// The most specific entry of an IP list containing the address.
    #[inline]
    pub fn lookup_ip(&self, ip: IpAddr) -> Option<IpEntry> {
        self.ip_set()?.lookup(ip)
    }

    /// Whether the password's SHA-1 is in a `.sha1` list.
    #[inline]
    pub fn contains_password(&self, password: &[u8]) -> bool {
        self.kind == ListKind::Sha1
            && self
                .credentials()
                .is_some_and(|c| c.contains_digest(&credentials::password_digest(password)))
    }

    /// Whether SHA-1 of `lowercase(user):password` is in a `.sha1pair` list.
    #[inline]
    pub fn contains_pair(&self, user: &[u8], password: &[u8]) -> bool {
        self.kind == ListKind::Sha1Pair
            && self
                .credentials()
                .is_some_and(|c| c.contains_digest(&credentials::pair_digest(user, password)))
    }

    /// Whether the string is in a text or fingerprint list (ASCII case-insensitive).
    ///
    /// Entries are stored lowercase; values that are already lowercase (the
    /// common case) are looked up without copying.
    pub fn contains_str(&self, value: &[u8], buf: &mut Vec<u8>) -> bool {
        let Data::Strings(strings) = &self.data else {
            return false;
        };
        if !value.iter().any(u8::is_ascii_uppercase) {
            return strings.contains(value);
        }
        buf.clear();
        buf.extend(value.iter().map(u8::to_ascii_lowercase));
        strings.contains(buf.as_slice())
    }
}

fn is_ja4(s: &[u8]) -> bool {
    let mut parts = s.split(|&b| b == b'_');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    a.len() == 10
        && a.iter().all(u8::is_ascii_alphanumeric)
        && [b, c]
            .iter()
            .all(|p| p.len() == 12 && p.iter().all(u8::is_ascii_hexdigit))
}

/// What a load reports about one list (logs, metrics, the admin API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListStats {
    /// List name.
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// The file it came from.
    pub source: String,
    /// From an intel directory (not a pack).
    pub external: bool,
    /// Entries ([`List::len`]).
    pub entries: usize,
    /// Memory held, in bytes.
    pub bytes: usize,
    /// Time to parse and build it.
    pub load_time: Duration,
}

impl ListStats {
    /// The stats of a loaded list.
    pub fn of(l: &List) -> ListStats {
        ListStats {
            name: l.name.clone(),
            kind: l.kind,
            source: l.source.clone(),
            external: l.pack == List::EXTERNAL,
            entries: l.len(),
            bytes: l.heap_bytes(),
            load_time: l.load_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: ListKind, text: &str) -> (List, Vec<String>) {
        let mut sink = Sink::default();
        let l = List::parse("x", kind, 0, text, "lists/x", &mut sink);
        (l, sink.diags.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn ip_lists_look_up_with_their_entry() {
        let (l, errs) = parse(
            ListKind::Ip,
            "10.0.0.0/8\n# c\n192.0.2.7   # one host\n\n2001:db8::/32\r\n  10.1.0.0/16\nbad\n",
        );
        assert_eq!(
            errs,
            ["lists/x:7:1: `bad` is not an IP address or CIDR network"]
        );
        assert!(l.contains_ip("10.2.3.4".parse().unwrap()));
        assert_eq!(
            l.lookup_ip("10.1.3.4".parse().unwrap())
                .map(|e| e.to_string()),
            Some("10.1.0.0/16".into())
        );
        assert!(l.contains_ip("192.0.2.7".parse().unwrap()));
        assert!(!l.contains_ip("192.0.2.8".parse().unwrap()));
        assert!(l.contains_ip("2001:db8::1".parse().unwrap()));
        assert!(l.contains_ip("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!l.contains_ip("11.0.0.0".parse().unwrap()));
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn bad_lines_are_capped() {
        let text = "nope\n".repeat(30);
        let (_, errs) = parse(ListKind::Ip, &text);
        assert_eq!(errs.len(), MAX_LINE_ERRORS + 1);
        assert_eq!(errs[20], "lists/x: 10 more bad lines not shown (30 in all)");
    }

    #[test]
    fn breached_passwords() {
        // sha1("123456"), with a count and one lowercase line
        let (l, errs) = parse(
            ListKind::Sha1,
            "7C4A8D09CA3762AF61E59520943DC26494F8941B:24230577\n5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert!(l.contains_password(b"123456"));
        assert!(l.contains_password(b"password"));
        assert!(!l.contains_password(b"1234567"));
        assert!(!l.contains_pair(b"x", b"123456"));
    }

    #[test]
    fn breached_pairs() {
        // printf '%s' 'alice@example.com:Secret1' | sha1sum
        let (l, errs) = parse(
            ListKind::Sha1Pair,
            "0D019BC5DB4CE1DFBDFEAAE94FBA68262A5EE566:3\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert!(l.contains_pair(b"Alice@example.com", b"Secret1"));
        assert!(!l.contains_pair(b"alice@example.com", b"secret1"));
        assert!(!l.contains_pair(b"bob@example.com", b"Secret1"));
        assert!(!l.contains_password(b"Secret1"));
    }
}
