//! What deception imitates, learned per route from the upstream's own answers:
//! the stable, non-sensitive response header lines (names, case and order as
//! the client saw them) and a histogram of the upstream's latency.
//!
//! Values that differ per response but whose presence is part of the route's
//! look — a `Set-Cookie` value, an `ETag` — are kept with the value masked
//! ([`MASK`] and its length), and a deception fills in fresh random characters.
//!
//! Storage is fixed per route and allocated at start; the header lines are
//! copied only when a route has not been learned yet and then every
//! `learn_every` successful responses (the copy costs a pass over the head).

use super::Rng;

/// Bytes of header lines kept per route.
pub const HEADER_ROOM: usize = 1024;
const BUCKETS: usize = 16;

/// Marks a masked value in learned lines: `MASK`, then its length (1..=64).
pub const MASK: u8 = 0;
const MAX_MASK: usize = 64;

/// Headers never imitated: per-response values, framing, connection
/// management, and anything carrying state or identity.
const SKIP: &[&[u8]] = &[
    b"date",
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"keep-alive",
    b"x-request-id",
    b"last-modified",
    b"age",
    b"expires",
    b"content-encoding",
    b"content-range",
    b"content-md5",
    b"content-disposition",
    b"location",
    b"www-authenticate",
    b"proxy-authenticate",
    b"upgrade",
    b"trailer",
    b"te",
];

/// One route's learned response shape.
pub struct RouteShape {
    lines: Box<[u8]>,
    len: usize,
    learned: bool,
    /// The upstream sends `Date` on this route.
    pub has_date: bool,
    seen: u32,
    hist: [u32; BUCKETS],
    total: u32,
}

impl RouteShape {
    fn new() -> RouteShape {
        RouteShape {
            lines: vec![0; HEADER_ROOM].into_boxed_slice(),
            len: 0,
            learned: false,
            has_date: false,
            seen: 0,
            hist: [0; BUCKETS],
            total: 0,
        }
    }

    /// The learned header lines (`Name: value\r\n` each), if any were learned.
    pub fn lines(&self) -> Option<&[u8]> {
        self.learned.then_some(&self.lines[..self.len])
    }
}

/// Every route's shape on one core.
pub struct Learning {
    routes: Box<[RouteShape]>,
    every: u32,
}

fn skipped(name: &[u8]) -> bool {
    SKIP.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The part of a header line whose value changes per response and is masked:
/// a cookie's value, an entity tag's opaque part.
fn masked_part(name: &[u8], line: &[u8]) -> Option<(usize, usize)> {
    if name.eq_ignore_ascii_case(b"set-cookie") {
        let eq = name.len() + 1 + memchr::memchr(b'=', &line[name.len() + 1..])?;
        let end = memchr::memchr(b';', &line[eq..]).map_or(line.len(), |i| eq + i);
        return Some((eq + 1, end));
    }
    if name.eq_ignore_ascii_case(b"etag") {
        let open = memchr::memchr(b'"', line)?;
        let close = memchr::memrchr(b'"', line)?;
        return (close > open).then_some((open + 1, close));
    }
    None
}

impl Learning {
    pub fn new(routes: usize, every: u32) -> Learning {
        Learning {
            routes: (0..routes.max(1)).map(|_| RouteShape::new()).collect(),
            every: every.max(1),
        }
    }

    pub fn route(&self, route: usize) -> Option<&RouteShape> {
        self.routes.get(route)
    }

    /// Records a final response on `route`: `head` is the response head as
    /// relayed to the client (status line, header lines, blank line).
    pub fn observe(&mut self, route: usize, status: u16, head: &[u8], latency_us: u64) {
        let Some(r) = self.routes.get_mut(route) else {
            return;
        };
        if !(200..300).contains(&status) {
            return;
        }
        let ms = latency_us / 1000;
        let b = ((64 - ms.leading_zeros()) as usize).min(BUCKETS - 1);
        r.hist[b] += 1;
        r.total += 1;
        if r.total >= 1 << 20 {
            // Ages old observations out without a time base.
            r.total = 0;
            for h in r.hist.iter_mut() {
                *h /= 2;
                r.total += *h;
            }
        }
        r.seen = r.seen.wrapping_add(1);
        if r.learned && r.seen % self.every != 0 {
            return;
        }
        let mut len = 0;
        let mut has_date = false;
        // Skip the status line; stop at the blank line.
        let mut lines = head.split(|&b| b == b'\n').skip(1);
        for line in lines.by_ref() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let name = &line[..colon];
            if name.eq_ignore_ascii_case(b"date") {
                has_date = true;
            }
            if skipped(name) || len + line.len() + 4 > HEADER_ROOM {
                continue;
            }
            match masked_part(name, line) {
                Some((a, b)) if b > a => {
                    let n = (b - a).min(MAX_MASK);
                    let (head, tail) = (&line[..a], &line[b..]);
                    r.lines[len..len + a].copy_from_slice(head);
                    len += a;
                    r.lines[len] = MASK;
                    r.lines[len + 1] = n as u8;
                    len += 2;
                    r.lines[len..len + tail.len()].copy_from_slice(tail);
                    len += tail.len();
                }
                _ => {
                    r.lines[len..len + line.len()].copy_from_slice(line);
                    len += line.len();
                }
            }
            r.lines[len..len + 2].copy_from_slice(b"\r\n");
            len += 2;
        }
        r.len = len;
        r.has_date = has_date;
        r.learned = true;
    }

    /// A latency in milliseconds drawn from the route's observed
    /// distribution, at most `cap_ms` (0 before anything was observed).
    pub fn sample_delay_ms(&self, route: usize, rng: &mut Rng, cap_ms: u64) -> u64 {
        let Some(r) = self.routes.get(route) else {
            return 0;
        };
        if r.total == 0 {
            return 0;
        }
        let mut pick = rng.below(u64::from(r.total));
        for (b, &n) in r.hist.iter().enumerate() {
            if pick < u64::from(n) {
                let (lo, hi) = if b == 0 {
                    (0, 1)
                } else {
                    (1u64 << (b - 1), 1u64 << b)
                };
                return (lo + rng.below(hi - lo)).min(cap_ms);
            }
            pick -= u64::from(n);
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 11\r\nSet-Cookie: s=1abc; HttpOnly\r\nX-Powered-By: Express\r\nETag: W/\"xyz\"\r\nX-Request-Id: abc\r\n\r\n";

    #[test]
    fn learns_stable_headers_in_order_and_skips_the_rest() {
        let mut l = Learning::new(2, 3);
        assert!(l.route(0).and_then(|r| r.lines()).is_none());
        l.observe(0, 404, HEAD, 1000);
        assert!(l.route(0).and_then(|r| r.lines()).is_none(), "only 2xx");
        l.observe(0, 200, HEAD, 1000);
        let r = l.route(0).expect("route");
        assert_eq!(
            r.lines().expect("learned"),
            b"Server: nginx\r\nContent-Type: application/json\r\nSet-Cookie: s=\0\x04; HttpOnly\r\nX-Powered-By: Express\r\nETag: W/\"\0\x03\"\r\n"
        );
        assert!(r.has_date);
        // Not re-learned on every response.
        l.observe(0, 200, b"HTTP/1.1 200 OK\r\nServer: other\r\n\r\n", 1000);
        assert!(l
            .route(0)
            .expect("route")
            .lines()
            .expect("l")
            .starts_with(b"Server: nginx"));
        l.observe(0, 200, b"HTTP/1.1 200 OK\r\nServer: other\r\n\r\n", 1000);
        assert_eq!(
            l.route(0).expect("route").lines(),
            Some(&b"Server: other\r\n"[..])
        );
        assert!(l.route(1).expect("route").lines().is_none());
    }

    #[test]
    fn delays_follow_the_observed_latency_and_respect_the_cap() {
        let mut l = Learning::new(1, 1);
        let mut rng = Rng::new(42);
        assert_eq!(l.sample_delay_ms(0, &mut rng, 1000), 0);
        for _ in 0..100 {
            l.observe(0, 200, HEAD, 40_000);
        }
        for _ in 0..50 {
            let d = l.sample_delay_ms(0, &mut rng, 1000);
            assert!((32..64).contains(&d), "{d}");
            assert!(l.sample_delay_ms(0, &mut rng, 10) <= 10);
        }
    }
}
