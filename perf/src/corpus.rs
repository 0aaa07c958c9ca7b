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
