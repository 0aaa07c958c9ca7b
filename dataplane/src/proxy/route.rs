//! Route selection: the most specific (host, path prefix) rule wins.

use crate::config::Route;

/// Routes in match order: host-specific before host-agnostic, longer prefixes first.
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(routes: &[Route]) -> Router {
        let mut routes = routes.to_vec();
        routes.sort_by(|a, b| {
            b.host
                .is_some()
                .cmp(&a.host.is_some())
                .then(b.path_prefix.len().cmp(&a.path_prefix.len()))
        });
        Router { routes }
    }

    /// Picks the upstream cluster index for a request. `host` is the raw Host value
    /// (any case, maybe with a port); `target` the request target. Allocation-free.
    pub fn pick(&self, host: &[u8], target: &str) -> Option<usize> {
        self.pick_route(host, target).map(|(_, upstream)| upstream)
    }

    /// Like [`Router::pick`], also returning which route matched (an index
    /// below [`Router::len`]; what is learned per route is kept by it).
    pub fn pick_route(&self, host: &[u8], target: &str) -> Option<(usize, usize)> {
        let host = strip_port(host);
        let path = path_of(target);
        self.routes
            .iter()
            .position(|r| {
                r.host
                    .as_deref()
                    .is_none_or(|h| h.as_bytes().eq_ignore_ascii_case(host))
                    && path.starts_with(r.path_prefix.as_str())
            })
            .map(|i| (i, self.routes[i].upstream))
    }

    /// Route `i` (as numbered by [`Router::pick_route`]).
    pub fn route(&self, i: usize) -> Option<&Route> {
        self.routes.get(i)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// No routes at all.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn strip_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        // IPv6 literal: keep through the closing bracket.
        return match host.iter().position(|&c| c == b']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.iter().rposition(|&c| c == b':') {
        Some(i) => &host[..i],
        None => host,
    }
}

/// The path of an origin- or absolute-form target, without the query.
fn path_of(target: &str) -> &str {
    let t = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        }
    } else {
        target
    };
    match t.find('?') {
        Some(i) => &t[..i],
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: Option<&str>, prefix: &str, upstream: usize) -> Route {
        Route {
            host: host.map(str::to_string),
            path_prefix: prefix.to_string(),
            upstream,
        }
    }

    #[test]
    fn most_specific_wins() {
        let r = Router::new(&[
            route(None, "/", 0),
            route(None, "/api/", 1),
            route(Some("admin.example.com"), "/", 2),
        ]);
        assert_eq!(r.pick(b"x", "/"), Some(0));
        assert_eq!(r.pick(b"x", "/api/users?id=1"), Some(1));
        assert_eq!(r.pick(b"ADMIN.example.com:8443", "/api/users"), Some(2));
        assert_eq!(r.pick(b"x", "http://x/api/v"), Some(1));
        assert_eq!(r.pick(b"[::1]:80", "/a"), Some(0));
    }

    #[test]
    fn no_match_is_none() {
        let r = Router::new(&[route(Some("a.example"), "/v1/", 0)]);
        assert_eq!(r.pick(b"b.example", "/v1/x"), None);
        assert_eq!(r.pick(b"a.example", "/v2/x"), None);
    }
}
