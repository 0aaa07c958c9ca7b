//! Parsers for the human-friendly scalar notations the config accepts: byte sizes
//! ("16KiB"), durations ("500ms") and upstream server addresses ("http://host:port").
//!
//! They are pure string functions returning a message on failure, so the TOML walker
//! and quick mode share them and attach positions themselves.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// Parses "4096", "16KiB", "128 KiB", "1MiB", "10MB" (KB/MB/GB/TB are powers of 1000).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid size {s:?}: expected a byte count with an optional unit \
             B, KiB, MiB, GiB, TiB, KB, MB, GB or TB (e.g. \"16KiB\")"
        )
    };
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits_end == 0 {
        return Err(bad());
    }
    let number: u64 = t[..digits_end].parse().map_err(|_| bad())?;
    // Units are matched case-insensitively: nobody means bits in a proxy config.
    let unit = t[digits_end..].trim_start().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "b" => 1,
        "kib" => KIB,
        "mib" => MIB,
        "gib" => GIB,
        "tib" => TIB,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Renders a byte count the way a user would most likely have written it.
pub(crate) fn format_size(n: u64) -> String {
    for (unit, factor) in [("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
        if n >= factor && n % factor == 0 {
            return format!("{}{unit}", n / factor);
        }
    }
    format!("{n} bytes")
}

/// Parses "500ms", "10s", "2m", "1h".
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?}: expected a whole number followed by ms, s, m or h \
             (e.g. \"500ms\", \"10s\", \"2m\")"
        )
    };
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits_end == 0 {
        return Err(bad());
    }
    let number: u64 = t[..digits_end].parse().map_err(|_| bad())?;
    let millis_per_unit = match t[digits_end..].trim_start() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        // A bare number in a string is ambiguous (seconds? millis?), so insist on a unit;
        // integers (not strings) are documented as milliseconds.
        _ => return Err(bad()),
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {s:?} is too large"))
}

/// Parses an upstream server: "host:port", "http://host:port" or "http://host:port/".
///
/// Hostnames are resolved here, once, at load time; the dataplane never does DNS on the
/// hot path. A name contributes one address, IPv4 preferred, because "localhost" often
/// resolves to ::1 first while test and dev servers listen on 127.0.0.1 only.
/// The host of `host:port` / `http://host:port` when it is a name, not an
/// address literal.
pub(crate) fn host_name_of(server: &str) -> Option<String> {
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.starts_with('[') {
        return None;
    }
    let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
    (host.parse::<std::net::IpAddr>().is_err() && !host.is_empty()).then(|| host.to_owned())
}

pub(crate) fn parse_server(s: &str) -> Result<SocketAddr, String> {
    let (rest, had_scheme) = match s.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (rest, true),
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
            return Err(format!(
                "upstream {s:?}: write host:port and set `tls = true` on the upstream for TLS"
            ))
        }
        Some((scheme, _)) => {
            return Err(format!(
                "upstream {s:?}: unsupported scheme {scheme:?}; use http://host:port or host:port"
            ))
        }
        None => (s, false),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err(format!(
            "upstream {s:?} must not contain a path, query or fragment; \
             expected host:port or http://host:port"
        ));
    }
    if authority.contains('@') {
        return Err(format!("upstream {s:?} must not contain user info"));
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| {
        format!("invalid upstream address {s:?}: expected host:port or http://host:port")
    })?;
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("upstream {s:?}: invalid port {p:?}")),
            Ok(p) => p,
        },
        // With an explicit http:// scheme the port has a well-known default; a bare
        // "host" is more likely a typo, so it must carry its port.
        None if had_scheme => 80,
        None => return Err(format!("upstream {s:?} is missing its port (host:port)")),
    };
    if host.is_empty() {
        return Err(format!("upstream {s:?} is missing its host"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve upstream host {host:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("cannot resolve upstream host {host:?}: no addresses"))
}

/// Splits "host:port", "[v6]:port", "host" or "[v6]"; the port is None when absent.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        // A second colon means an unbracketed IPv6 literal, whose port is ambiguous.
        Some((_, port)) if port.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("16KiB"), Ok(16 * 1024));
        assert_eq!(parse_size("128 KiB"), Ok(128 * 1024));
        assert_eq!(parse_size("1mib"), Ok(1 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10KB"), Ok(10_000));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("12B"), Ok(12));
        for bad in [
            "",
            "KiB",
            "1.5MiB",
            "-1",
            "10 kibibytes",
            "99999999999999TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(format_size(16 * 1024), "16KiB");
        assert_eq!(format_size(1000), "1000 bytes");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1 h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "10", "ten s", "1.5s", "10x", "5 min"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn servers() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(parse_server("127.0.0.1:8080"), Ok(a));
        assert_eq!(parse_server("http://127.0.0.1:8080"), Ok(a));
        assert_eq!(parse_server("HTTP://127.0.0.1:8080/"), Ok(a));
        assert_eq!(
            parse_server("http://[::1]:81"),
            Ok("[::1]:81".parse().unwrap())
        );
        assert_eq!(
            parse_server("http://127.0.0.1"),
            Ok("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            parse_server("localhost:9").map(|a| a.port()),
            Ok(9),
            "localhost must resolve"
        );
        let https = parse_server("https://127.0.0.1:443").unwrap_err();
        assert!(https.contains("set `tls = true`"), "{https}");
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            "http://127.0.0.1:80/api",
            "ftp://x:1",
            "::1:80",
            ":80",
        ] {
            assert!(parse_server(bad).is_err(), "{bad:?} should fail");
        }
    }
}
