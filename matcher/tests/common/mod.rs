//! Helpers shared by the matcher's integration tests.
#![allow(dead_code)]

use rampart_matcher::{FieldKind, Matcher, Matches, RequestView, ScanLimits, Scanner, Signature};

/// (signature id, field kind, field name) of every listed match, sorted.
pub type Found = Vec<(String, FieldKind, String)>;

pub fn found(scanner: &Scanner, m: &Matches) -> Found {
    let mut v: Found = m
        .iter()
        .map(|x| {
            (
                scanner
                    .matcher()
                    .signature_id(x.signature)
                    .unwrap_or("?")
                    .to_string(),
                x.kind,
                String::from_utf8_lossy(m.name(x)).into_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

pub fn scanner(sigs: &[Signature]) -> Scanner {
    let m = Matcher::compile(sigs).unwrap_or_else(|e| panic!("compile: {e}"));
    Scanner::new(&m, ScanLimits::default()).expect("scanner")
}

/// A request from a method, target, headers and body.
pub struct Req {
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn get(target: &str) -> Req {
        Req {
            method: b"GET".to_vec(),
            target: target.as_bytes().to_vec(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn post(target: &str, content_type: &str, body: &[u8]) -> Req {
        Req {
            method: b"POST".to_vec(),
            target: target.as_bytes().to_vec(),
            headers: vec![(b"Content-Type".to_vec(), content_type.as_bytes().to_vec())],
            body: body.to_vec(),
        }
    }

    pub fn header(mut self, name: &str, value: &[u8]) -> Req {
        self.headers
            .push((name.as_bytes().to_vec(), value.to_vec()));
        self
    }

    /// Scans this request and returns what matched.
    pub fn scan(&self, scanner: &mut Scanner) -> Found {
        let mut m = scanner.new_matches();
        self.scan_into(scanner, &mut m);
        found(scanner, &m)
    }

    pub fn scan_into(&self, scanner: &mut Scanner, m: &mut Matches) {
        self.scan_with(&self.header_pairs(), scanner, m);
    }

    /// The headers as the borrowed pairs a [`RequestView`] takes.
    pub fn header_pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers.iter().map(|(n, v)| (&n[..], &v[..])).collect()
    }

    /// Scans with prebuilt header pairs (no allocation in the caller).
    pub fn scan_with(&self, headers: &[(&[u8], &[u8])], scanner: &mut Scanner, m: &mut Matches) {
        let view = RequestView {
            method: &self.method,
            target: &self.target,
            headers,
            body: &self.body,
        };
        scanner.scan_request(&view, m).expect("scan");
    }
}

pub fn hit(id: &str, kind: FieldKind, name: &str) -> (String, FieldKind, String) {
    (id.to_string(), kind, name.to_string())
}
