//! Dry runs: a raw HTTP/1.1 request (an example from a pack, a file, a curl
//! line) through the matcher and the verdict engine, with the explanation a
//! security engineer needs (which policy, which field, where, what).

use std::net::{IpAddr, Ipv4Addr};

use rampart_matcher::{FieldKind, Matches, RequestView, ScanLimits, Scanner};

use crate::eval::{Evaluator, Facts, ResponseView, Verdict};
use crate::measures::COUNTERS;
use crate::model::Example;
use crate::policy::CompiledPolicy;

/// The default client address of examples (TEST-NET-3).
pub const EXAMPLE_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10));

/// A request parsed leniently from text (bare `\n` line ends allowed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRequest {
    /// Method.
    pub method: Vec<u8>,
    /// Target.
    pub target: Vec<u8>,
    /// Headers in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Parses `METHOD target HTTP/1.x`, header lines, a blank line, a body.
    pub fn parse(text: &[u8]) -> Result<RawRequest, String> {
        let text = trim_leading_newlines(text);
        let (head, body) = split_head(text);
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().ok_or("empty request")?;
        let mut parts = first.split(|&b| b == b' ').filter(|p| !p.is_empty());
        let method = parts
            .next()
            .ok_or("no method on the request line")?
            .to_vec();
        let target = parts
            .next()
            .ok_or("no target on the request line")?
            .to_vec();
        match parts.next() {
            Some(v) if v.starts_with(b"HTTP/1.") => {}
            Some(v) => {
                return Err(format!(
                    "unsupported version `{}` (HTTP/1.0 or HTTP/1.1)",
                    String::from_utf8_lossy(v)
                ))
            }
            None => {
                return Err("no HTTP version on the request line (e.g. `GET / HTTP/1.1`)".into())
            }
        }
        let mut headers = Vec::new();
        for l in lines {
            if l.is_empty() {
                continue;
            }
            let colon = memchr::memchr(b':', l).ok_or_else(|| {
                format!("header line without `:`: {}", String::from_utf8_lossy(l))
            })?;
            let name = l[..colon].to_vec();
            let value = l[colon + 1..].trim_ascii().to_vec();
            headers.push((name, value));
        }
        let mut body = body.to_vec();
        // Examples in TOML end their body with the closing line break of the string.
        if body.ends_with(b"\n")
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
        {
            body.pop();
            if body.ends_with(b"\r") {
                body.pop();
            }
        }
        // docs/POLICY.md: `Content-Length` is added when a body has none.
        if !body.is_empty()
            && !headers.iter().any(|(n, _)| {
                n.eq_ignore_ascii_case(b"content-length")
                    || n.eq_ignore_ascii_case(b"transfer-encoding")
            })
        {
            headers.push((
                b"Content-Length".to_vec(),
                body.len().to_string().into_bytes(),
            ));
        }
        Ok(RawRequest {
            method,
            target,
            headers,
            body,
        })
    }

    /// The header pairs a [`RequestView`] borrows.
    pub fn header_pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect()
    }
}

/// A response parsed leniently from text (a response policy's example).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Parses `HTTP/1.x STATUS reason`, header lines, a blank line, a body.
    pub fn parse(text: &[u8]) -> Result<RawResponse, String> {
        let text = trim_leading_newlines(text);
        let (head, body) = split_head(text);
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().ok_or("empty response")?;
        let mut parts = first.split(|&b| b == b' ').filter(|p| !p.is_empty());
        match parts.next() {
            Some(v) if v.starts_with(b"HTTP/1.") => {}
            _ => return Err("a response starts with `HTTP/1.1 STATUS`".into()),
        }
        let status = parts
            .next()
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|s| (100..=599).contains(s))
            .ok_or("no status (100 to 599) on the status line")?;
        let mut headers = Vec::new();
        for l in lines {
            if l.is_empty() {
                continue;
            }
            let colon = memchr::memchr(b':', l).ok_or_else(|| {
                format!("header line without `:`: {}", String::from_utf8_lossy(l))
            })?;
            headers.push((l[..colon].to_vec(), l[colon + 1..].trim_ascii().to_vec()));
        }
        let mut body = body.to_vec();
        if body.ends_with(b"\n") {
            body.pop();
            if body.ends_with(b"\r") {
                body.pop();
            }
        }
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }
}

fn trim_leading_newlines(t: &[u8]) -> &[u8] {
    let start = t
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(t.len());
    &t[start..]
}

fn split_head(t: &[u8]) -> (&[u8], &[u8]) {
    for (i, w) in t.windows(2).enumerate() {
        if w == b"\n\n" {
            return (&t[..i], &t[i + 2..]);
        }
        if w == b"\n\r" && t.get(i + 2) == Some(&b'\n') {
            return (&t[..i], &t[i + 3..]);
        }
    }
    (t, &[])
}

/// What an example or a dry run supplies beyond the request.
#[derive(Clone, Debug, Default)]
pub struct DryFacts {
    /// Client address.
    pub client_ip: Option<IpAddr>,
    /// Counter values by name index.
    pub counters: Vec<u64>,
    /// Identity properties.
    pub identity: [Option<Vec<u8>>; 7],
    /// JA4.
    pub ja4: Option<Vec<u8>>,
    /// JA3.
    pub ja3: Option<Vec<u8>>,
    /// TLS version, SNI, ALPN, client subject, client CN.
    pub tls: [Option<Vec<u8>>; crate::measures::TLS_FACTS],
    /// Login password.
    pub password: Option<Vec<u8>>,
}

impl DryFacts {
    /// The facts an example sets.
    pub fn from_example(e: &Example) -> DryFacts {
        let mut f = DryFacts {
            client_ip: e.client_ip,
            counters: vec![0; COUNTERS.len()],
            ..DryFacts::default()
        };
        for (c, v) in &e.counters {
            f.counters[c.0 as usize] = *v;
        }
        for (p, v) in &e.identity {
            f.identity[p.index()] = Some(v.as_bytes().to_vec());
        }
        f.ja4 = e.ja4.as_ref().map(|s| s.as_bytes().to_vec());
        f.ja3 = e.ja3.as_ref().map(|s| s.as_bytes().to_vec());
        f.tls = std::array::from_fn(|i| e.tls[i].as_ref().map(|s| s.as_bytes().to_vec()));
        f.password = e.password.as_ref().map(|s| s.as_bytes().to_vec());
        f
    }
}

/// A matcher hit, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHit {
    /// Signature id.
    pub signature: String,
    /// Field kind.
    pub kind: FieldKind,
    /// Field name.
    pub name: String,
    /// Start offset in the normalised value, when known.
    pub start: Option<u32>,
    /// End offset.
    pub end: u32,
    /// Redacted fragment.
    pub fragment: String,
}

/// Everything a dry run found.
#[derive(Debug)]
pub struct DryRun {
    /// The verdict.
    pub verdict: Verdict,
    /// Every signature match.
    pub signatures: Vec<SignatureHit>,
}

/// Runs requests through a compiled policy outside the gateway.
pub struct DryRunner<'p> {
    policy: &'p CompiledPolicy,
    scanner: Scanner,
    matches: Matches,
    evaluator: Evaluator,
}

impl<'p> DryRunner<'p> {
    /// A runner for `policy`.
    pub fn new(policy: &'p CompiledPolicy) -> Result<DryRunner<'p>, String> {
        let scanner =
            Scanner::new(&policy.matcher, ScanLimits::default()).map_err(|e| e.to_string())?;
        let matches = scanner.new_matches();
        Ok(DryRunner {
            policy,
            scanner,
            matches,
            evaluator: Evaluator::new(),
        })
    }

    /// Scans and judges one request; `dry_run` evaluates every policy whatever its mode.
    pub fn run(
        &mut self,
        req: &RawRequest,
        facts: &DryFacts,
        dry_run: bool,
    ) -> Result<DryRun, String> {
        let headers = req.header_pairs();
        let view = RequestView {
            method: &req.method,
            target: &req.target,
            headers: &headers,
            body: &req.body,
        };
        self.scanner
            .scan_request(&view, &mut self.matches)
            .map_err(|e| e.to_string())?;
        let f = Facts {
            client_ip: facts.client_ip.unwrap_or(EXAMPLE_CLIENT),
            counters: &facts.counters,
            identity: std::array::from_fn(|i| facts.identity[i].as_deref()),
            ja4: facts.ja4.as_deref(),
            ja3: facts.ja3.as_deref(),
            tls: std::array::from_fn(|i| facts.tls[i].as_deref()),
            password: facts.password.as_deref(),
            body_len: req.body.len() as u64,
            http_version: 11,
        };
        let mut verdict = Evaluator::new_verdict(self.policy);
        self.evaluator
            .evaluate(self.policy, &view, &self.matches, &f, dry_run, &mut verdict);
        let m = &self.matches;
        let signatures = m
            .iter()
            .map(|x| SignatureHit {
                signature: self
                    .policy
                    .matcher
                    .signature_id(x.signature)
                    .unwrap_or("?")
                    .to_owned(),
                kind: x.kind,
                name: String::from_utf8_lossy(m.name(x)).into_owned(),
                start: x.start,
                end: x.end,
                fragment: String::from_utf8_lossy(m.fragment(x)).into_owned(),
            })
            .collect();
        Ok(DryRun {
            verdict,
            signatures,
        })
    }
}

impl DryRunner<'_> {
    /// Scans and judges one response by the response policies; `dry_run`
    /// evaluates every policy whatever its mode. `masked` is the body as the
    /// client would get it from the enforce `mask` policies that matched.
    pub fn run_response(
        &mut self,
        resp: &RawResponse,
        dry_run: bool,
    ) -> Result<(DryRun, Vec<u8>), String> {
        self.scanner
            .scan_response(&resp.body, &mut self.matches)
            .map_err(|e| e.to_string())?;
        let headers: Vec<(&[u8], &[u8])> = resp
            .headers
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let view = ResponseView {
            status: resp.status,
            headers: &headers,
        };
        let mut verdict = Evaluator::new_verdict(self.policy);
        self.evaluator
            .evaluate_response(self.policy, &view, &self.matches, dry_run, &mut verdict);
        let mut masked = resp.body.clone();
        crate::mask::Masker::new(self.policy).mask_in_place(&verdict, &self.matches, &mut masked);
        let m = &self.matches;
        let signatures = m
            .iter()
            .map(|x| SignatureHit {
                signature: self
                    .policy
                    .matcher
                    .signature_id(x.signature)
                    .unwrap_or("?")
                    .to_owned(),
                kind: x.kind,
                name: String::from_utf8_lossy(m.name(x)).into_owned(),
                start: x.start,
                end: x.end,
                fragment: String::from_utf8_lossy(m.fragment(x)).into_owned(),
            })
            .collect();
        Ok((
            DryRun {
                verdict,
                signatures,
            },
            masked,
        ))
    }
}

/// One example that did not behave as its policy says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExampleFailure {
    /// Policy id.
    pub policy: String,
    /// Where the example is written.
    pub at: String,
    /// What went wrong.
    pub message: String,
}

/// Results of running every example of a policy set.
#[derive(Clone, Debug, Default)]
pub struct SelfTest {
    /// Examples run.
    pub examples: usize,
    /// Policies that have no `match` example or no `no_match` example.
    pub missing: Vec<String>,
    /// Examples with the wrong outcome.
    pub failures: Vec<ExampleFailure>,
}

/// Runs every stored example against its own policy.
pub fn self_test(policy: &CompiledPolicy) -> Result<SelfTest, String> {
    let mut runner = DryRunner::new(policy)?;
    let mut out = SelfTest::default();
    for (i, p) in policy.policies.iter().enumerate() {
        if !(p.examples.iter().any(|e| e.expect_match)
            && p.examples.iter().any(|e| !e.expect_match))
        {
            out.missing.push(p.id.clone());
        }
        for e in &p.examples {
            out.examples += 1;
            let at = e.loc.to_string();
            let run = if let Some(text) = &e.response {
                match RawResponse::parse(text.as_bytes()) {
                    Ok(r) => runner.run_response(&r, true)?.0,
                    Err(msg) => {
                        out.failures.push(ExampleFailure {
                            policy: p.id.clone(),
                            at,
                            message: format!("unparsable response: {msg}"),
                        });
                        continue;
                    }
                }
            } else {
                let req = match RawRequest::parse(e.request.as_bytes()) {
                    Ok(r) => r,
                    Err(msg) => {
                        out.failures.push(ExampleFailure {
                            policy: p.id.clone(),
                            at,
                            message: format!("unparsable request: {msg}"),
                        });
                        continue;
                    }
                };
                runner.run(&req, &DryFacts::from_example(e), true)?
            };
            let matched = run.verdict.matched(i);
            if matched != e.expect_match {
                let sigs: Vec<String> = run
                    .signatures
                    .iter()
                    .map(|s| format!("{} in {}:{}", s.signature, s.kind, s.name))
                    .collect();
                out.failures.push(ExampleFailure {
                    policy: p.id.clone(),
                    at,
                    message: format!(
                        "expected {}, got {}; signatures that matched: {}",
                        if e.expect_match {
                            "a match"
                        } else {
                            "no match"
                        },
                        if matched { "a match" } else { "no match" },
                        if sigs.is_empty() {
                            "none".to_string()
                        } else {
                            sigs.join(", ")
                        }
                    ),
                });
            }
        }
    }
    Ok(out)
}
