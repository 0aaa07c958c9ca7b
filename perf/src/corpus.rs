//! A deterministic mixed corpus of API requests: ~95% realistic benign REST
//! and JSON traffic, ~5% attacks in varied fields and encodings.
//!
//! Same `(seed, n)`, same bytes, on every machine: benchmarks compare engines
//! on exactly the same input.

mod attack;
mod benign;
pub mod encode;
mod words;

use rampart_matcher::RequestView;

use crate::rng::Rng;

/// Share of attack requests.
pub const ATTACK_RATE: f64 = 0.05;

/// One request of the corpus.
#[derive(Clone, Debug)]
pub struct CorpusRequest {
    /// Method token.
    pub method: &'static str,
    /// Request target (origin form).
    pub target: Vec<u8>,
    /// Header (name, value) pairs in order, `Host` first.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Body bytes (Content-Length framed).
    pub body: Vec<u8>,
    /// The attack family, for attack requests.
    pub attack: Option<&'static str>,
}

impl CorpusRequest {
    /// The request as HTTP/1.1 bytes on the wire.
    pub fn raw(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw_len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// Length of [`CorpusRequest::raw`] without building it.
    pub fn raw_len(&self) -> usize {
        self.method.len()
            + 1
            + self.target.len()
            + 11
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>()
            + 2
            + self.body.len()
    }

    /// Borrowed header pairs, as a [`RequestView`] wants them.
    pub fn header_refs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect()
    }

    /// The request as the dataplane would hand it to the matcher; `headers`
    /// comes from [`CorpusRequest::header_refs`] (kept by the caller so
    /// scanning allocates nothing).
    pub fn view<'a>(&'a self, headers: &'a [(&'a [u8], &'a [u8])]) -> RequestView<'a> {
        RequestView {
            method: self.method.as_bytes(),
            target: &self.target,
            headers,
            body: &self.body,
        }
    }
}

/// A request's wire bytes ([`CorpusRequest::raw`]) with its fields as
/// slices of them, the way the dataplane hands a parsed request to the
/// matcher: the fields of one request lie together in one buffer, not in an
/// allocation each (which would add cache misses the gateway does not have).
pub struct WireRequest {
    /// The bytes on the wire.
    pub raw: Vec<u8>,
    method: (usize, usize),
    target: (usize, usize),
    headers: Vec<((usize, usize), (usize, usize))>,
    body: usize,
}

impl WireRequest {
    /// Lays `r` out as on the wire and records where each field is.
    pub fn new(r: &CorpusRequest) -> WireRequest {
        let raw = r.raw();
        let method = (0, r.method.len());
        let target = (method.1 + 1, method.1 + 1 + r.target.len());
        let mut at = target.1 + b" HTTP/1.1\r\n".len();
        let mut headers = Vec::with_capacity(r.headers.len());
        for (n, v) in &r.headers {
            let name = (at, at + n.len());
            let value = (name.1 + 2, name.1 + 2 + v.len());
            headers.push((name, value));
            at = value.1 + 2;
        }
        let body = at + 2;
        debug_assert_eq!(&raw[body..], &r.body[..]);
        WireRequest {
            raw,
            method,
            target,
            headers,
            body,
        }
    }

    /// Header pairs as slices of the wire bytes (kept by the caller, so
    /// scanning allocates nothing).
    pub fn header_refs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|&((a, b), (c, d))| (&self.raw[a..b], &self.raw[c..d]))
            .collect()
    }

    /// The request as the matcher sees it; `headers` from
    /// [`WireRequest::header_refs`].
    pub fn view<'a>(&'a self, headers: &'a [(&'a [u8], &'a [u8])]) -> RequestView<'a> {
        RequestView {
            method: &self.raw[self.method.0..self.method.1],
            target: &self.raw[self.target.0..self.target.1],
            headers,
            body: &self.raw[self.body..],
        }
    }
}

/// `n` requests generated from `seed`.
pub fn corpus(seed: u64, n: usize) -> Vec<CorpusRequest> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            if rng.chance(ATTACK_RATE) {
                attack::request(&mut rng)
            } else {
                benign::request(&mut rng)
            }
        })
        .collect()
}

/// Header refs for every request of a corpus (index-aligned).
pub fn header_refs(corpus: &[CorpusRequest]) -> Vec<Vec<(&[u8], &[u8])>> {
    corpus.iter().map(CorpusRequest::header_refs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_views_show_the_same_fields() {
        for r in corpus(7, 300) {
            let w = WireRequest::new(&r);
            let (a, b) = (r.header_refs(), w.header_refs());
            let (x, y) = (r.view(&a), w.view(&b));
            assert_eq!(x.method, y.method);
            assert_eq!(x.target, y.target);
            assert_eq!(x.headers, y.headers);
            assert_eq!(x.body, y.body);
            assert_eq!(w.raw.len(), r.raw_len());
        }
    }

    #[test]
    fn deterministic_and_mixed() {
        let a = corpus(42, 2000);
        let b = corpus(42, 2000);
        assert_eq!(
            a.iter().map(CorpusRequest::raw).collect::<Vec<_>>(),
            b.iter().map(CorpusRequest::raw).collect::<Vec<_>>()
        );
        assert_ne!(corpus(43, 10)[0].raw(), a[0].raw());
        let attacks = a.iter().filter(|r| r.attack.is_some()).count();
        assert!((60..=140).contains(&attacks), "{attacks} attacks in 2000");
        let families: std::collections::BTreeSet<_> = a.iter().filter_map(|r| r.attack).collect();
        assert!(families.len() >= 10, "{families:?}");
        for r in &a {
            assert_eq!(r.raw().len(), r.raw_len());
            let cl = r
                .headers
                .iter()
                .find(|(n, _)| n == b"Content-Length")
                .map(|(_, v)| String::from_utf8_lossy(v).parse::<usize>().expect("number"));
            assert_eq!(cl.unwrap_or(0), r.body.len());
            assert!(r.target.starts_with(b"/"));
            assert!(
                r.target.iter().all(|b| b.is_ascii_graphic()),
                "{}",
                r.target.escape_ascii()
            );
        }
        let methods: std::collections::BTreeSet<_> = a.iter().map(|r| r.method).collect();
        assert!(methods.len() >= 5, "{methods:?}");
        let json: Vec<usize> = a
            .iter()
            .filter(|r| r.attack.is_none() && r.body.first() == Some(&b'{'))
            .map(|r| r.body.len())
            .collect();
        assert!(
            json.iter().all(|&n| (200..=4096).contains(&n)),
            "{:?} {:?}",
            json.iter().min(),
            json.iter().max()
        );
        assert!(json.iter().any(|&n| n > 3072));
    }
}
