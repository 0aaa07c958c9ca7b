//! Where the load goes: the URL taken apart, the address it resolves to, and
//! the source addresses connections are bound to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context, Result};

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub tls: bool,
    /// Host as written in the URL (the `Host` header and the TLS server name).
    pub host: String,
    pub port: u16,
    /// Origin-form request target of the single-request mode (`/` if empty).
    pub path: String,
    /// The `Host` header value: `host`, plus `:port` when not the scheme's default.
    pub authority: String,
    pub addr: SocketAddr,
}

impl Target {
    /// Parses and resolves `url`. Resolution happens once, before the run.
    pub fn parse(url: &str) -> Result<Target> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            bail!("`{url}`: the URL must start with http:// or https://");
        };
        let (auth, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if auth.is_empty() {
            bail!("`{url}`: no host");
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
            let end = v6
                .find(']')
                .with_context(|| format!("`{url}`: unterminated [IPv6] host"))?;
            let port = match &v6[end + 1..] {
                "" => default_port,
                p => parse_port(url, p.strip_prefix(':').unwrap_or(p))?,
            };
            (v6[..end].to_string(), port)
        } else {
            match auth.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(url, p)?),
                None => (auth.to_string(), default_port),
            }
        };
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .with_context(|| format!("`{url}`: cannot resolve `{host}`"))?
            .next()
            .with_context(|| format!("`{url}`: `{host}` resolves to no address"))?;
        let authority = if port == default_port {
            auth.split(':').next().unwrap_or(auth).to_string()
        } else {
            auth.to_string()
        };
        Ok(Target {
            tls,
            host,
            port,
            path: path.to_string(),
            authority,
            addr,
        })
    }
}

fn parse_port(url: &str, p: &str) -> Result<u16> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("`{url}`: `{p}` is not a port"),
    }
}

/// The source addresses of `--sources`: one address, `A-B` (inclusive) or
/// a CIDR block (every address in it, network and broadcast included: on
/// 127.0.0.0/8 they are ordinary addresses).
pub fn parse_sources(spec: &str) -> Result<Vec<IpAddr>> {
    const MAX: u64 = 1 << 20;
    let spec = spec.trim();
    let v4 = |s: &str| -> Result<u32> {
        let a: Ipv4Addr = s
            .trim()
            .parse()
            .with_context(|| format!("--sources `{spec}`: `{s}` is not an IPv4 address"))?;
        Ok(u32::from(a))
    };
    let (lo, hi) = if let Some((a, b)) = spec.split_once('-') {
        (v4(a)?, v4(b)?)
    } else if let Some((a, bits)) = spec.split_once('/') {
        let bits: u32 = bits
            .parse()
            .ok()
            .filter(|b| *b <= 32)
            .with_context(|| format!("--sources `{spec}`: `/{bits}` is not a prefix length"))?;
        let base = v4(a)?;
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        (base & mask, (base & mask) | !mask)
    } else if let Ok(ip) = spec.parse::<IpAddr>() {
        return Ok(vec![ip]);
    } else {
        bail!("--sources `{spec}`: expected an address, A-B or a CIDR block");
    };
    if hi < lo {
        bail!("--sources `{spec}`: the range ends before it starts");
    }
    if u64::from(hi - lo) + 1 > MAX {
        bail!("--sources `{spec}`: more than {MAX} addresses");
    }
    Ok((lo..=hi).map(|a| IpAddr::V4(Ipv4Addr::from(a))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_path() {
        let t = Target::parse("http://127.0.0.1:18090/api/x?y=1").unwrap();
        assert_eq!(
            (t.tls, t.port, t.path.as_str()),
            (false, 18090, "/api/x?y=1")
        );
        assert_eq!(t.authority, "127.0.0.1:18090");
        let t = Target::parse("https://localhost").unwrap();
        assert_eq!(
            (t.tls, t.port, t.path.as_str(), t.authority.as_str()),
            (true, 443, "/", "localhost")
        );
        let t = Target::parse("http://[::1]:8080/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        for bad in [
            "ftp://x/",
            "http://",
            "http://h:0/",
            "http://h:99999/",
            "127.0.0.1:80",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sources_from_ranges_and_blocks() {
        assert_eq!(parse_sources("127.0.0.2-127.0.0.5").unwrap().len(), 4);
        let b = parse_sources("127.1.0.0/30").unwrap();
        assert_eq!(b.first().unwrap().to_string(), "127.1.0.0");
        assert_eq!(b.last().unwrap().to_string(), "127.1.0.3");
        assert_eq!(parse_sources("127.0.0.9").unwrap().len(), 1);
        for bad in ["127.0.0.5-127.0.0.2", "127.0.0.0/33", "nope", "10.0.0.0/8"] {
            assert!(parse_sources(bad).is_err(), "{bad}");
        }
    }
}
