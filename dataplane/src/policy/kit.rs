//! One core's policy kit: the shared compiled policy plus everything the core
//! needs to judge a request without allocating (scanner scratch and buffers,
//! match storage, evaluator scratch, verdict storage).

use std::sync::Arc;

use rampart_matcher::{Matches, RequestView, ScanLimits, Scanner};

use crate::http::chunked::ChunkedDecoder;
use rampart_policy_loader::mask::Masker;
use rampart_policy_loader::{CompiledPolicy, Evaluator, Facts, Mode, PolicyPhase, Verdict};

mod body_scan;
mod response;

pub use body_scan::BodyScan;
pub use response::ResponseVerdict;
use response::RESPONSE_SEGMENTS;

/// The behaviour engine's part in one judging: the core's engine, what is
/// tracked of the request, whether this judging counts it (a request judged
/// on its head, whole and at its body's end is counted once), and whether
/// its peer is a trusted proxy (whose forwarding headers name the client).
/// What the connection tells about the client: its address and, over TLS,
/// the ClientHello's fingerprints.
#[derive(Clone, Copy, Debug)]
pub struct Peer<'a> {
    pub ip: std::net::IpAddr,
    pub ja4: Option<&'a [u8]>,
    pub ja3: Option<&'a [u8]>,
    /// TLS version, SNI, ALPN, client subject and CN (see `Facts::tls`).
    pub tls: [Option<&'a [u8]>; rampart_policy_loader::measures::TLS_FACTS],
}

impl<'a> Peer<'a> {
    /// A client on a plain connection.
    pub fn plain(ip: std::net::IpAddr) -> Peer<'a> {
        Peer {
            ip,
            ja4: None,
            ja3: None,
            tls: [None; rampart_policy_loader::measures::TLS_FACTS],
        }
    }

    /// Fills the facts the connection knows.
    pub(crate) fn apply(&self, facts: &mut Facts<'a>) {
        facts.ja4 = self.ja4;
        facts.ja3 = self.ja3;
        facts.tls = self.tls;
    }
}

pub struct Behave<'a> {
    pub engine: &'a mut crate::behaviour::Engine,
    pub tracked: &'a mut crate::behaviour::Tracked,
    pub count: bool,
    pub peer_trusted: bool,
}

impl<'a> Behave<'a> {
    /// Reads the request's identity and counters.
    fn observe(
        self,
        view: &RequestView<'a>,
        peer: std::net::IpAddr,
    ) -> crate::behaviour::Observed<'a> {
        let parts = crate::behaviour::RequestParts {
            method: view.method,
            target: view.target,
            headers: view.headers,
            body: view.body,
            peer,
            peer_trusted: self.peer_trusted,
        };
        self.engine.observe(&parts, self.count, self.tracked)
    }
}

impl crate::behaviour::Observed<'_> {
    /// Puts the identity and counters into an evaluation's facts: the client
    /// address becomes the one behind trusted proxies.
    fn apply<'f>(&'f self, facts: &mut Facts<'f>) {
        facts.client_ip = self.identity.client_ip;
        facts.identity = self.identity.facts();
        facts.password = self.identity.password;
        facts.counters = self.counters;
    }
}

/// A core's policy and its scratch; built by the hub, used by one worker.
pub struct CoreKit {
    /// The policy this kit judges by.
    pub policy: Arc<CompiledPolicy>,
    /// Reload generation (1 = the policy loaded at start).
    pub generation: u64,
    scanner: Scanner,
    matches: Matches,
    evaluator: Evaluator,
    /// The last request's verdict.
    pub verdict: Verdict,
    /// Per-policy verdict counters of this core (flushed with its stats).
    pub metrics: super::metrics::PolicyMetrics,
    /// Per-policy event limits of this core (indexed like `policy.policies`).
    pub event_limit: crate::events::limit::EventLimiter,
    counters: Vec<u64>,
    dechunked: Vec<u8>,
    /// Pre-opened body streams (bounded: `ScanLimits::body_streams`); empty
    /// when streaming is off or no signature can be streamed.
    // Boxed on purpose: a scan moves into the connection slot that uses it
    // and back, a pointer's worth instead of the whole struct.
    #[allow(clippy::vec_box)]
    bodies: Vec<Box<BodyScan>>,
    /// Some response policy is not off: responses are inspected.
    responses: bool,
    masker: Masker,
    /// A chunked response prefix's data, and where each run of it sits in
    /// the raw bytes (raw offset, data offset, length) for masking.
    resp_data: Vec<u8>,
    resp_segs: Vec<(u32, u32, u32)>,
}

impl CoreKit {
    /// Builds a kit (off the hot path: this allocates the scanner's buffers).
    pub fn new(
        policy: Arc<CompiledPolicy>,
        generation: u64,
        limits: ScanLimits,
    ) -> Result<CoreKit, String> {
        let mut scanner = Scanner::new(&policy.matcher, limits).map_err(|e| e.to_string())?;
        let matches = scanner.new_matches();
        let verdict = Evaluator::new_verdict(&policy);
        let streams = if scanner.streams_bodies() {
            limits.body_streams
        } else {
            0
        };
        let mut bodies = Vec::with_capacity(streams);
        for _ in 0..streams {
            bodies.push(Box::new(
                BodyScan::open(&mut scanner, generation).map_err(|e| e.to_string())?,
            ));
        }
        let responses = policy
            .policies
            .iter()
            .any(|p| p.phase == PolicyPhase::Response && p.mode != Mode::Off);
        let masker = Masker::new(&policy);
        Ok(CoreKit {
            bodies,
            responses,
            masker,
            resp_data: Vec::with_capacity(if responses {
                limits.max_response_bytes
            } else {
                0
            }),
            resp_segs: Vec::with_capacity(if responses { RESPONSE_SEGMENTS } else { 0 }),
            metrics: super::metrics::PolicyMetrics::new(&policy),
            event_limit: crate::events::limit::EventLimiter::new(policy.policies.len()),
            scanner,
            matches,
            evaluator: Evaluator::new(),
            verdict,
            counters: vec![0; rampart_policy_loader::measures::COUNTERS.len()],
            dechunked: Vec::with_capacity(limits.max_request_bytes),
            policy,
            generation,
        })
    }

    /// Records a request answered without a scan (an escalated client, a
    /// decoy token): no matches, and `policy` as the only hit and decision.
    /// What the event log then reads is about this request, not the last one
    /// scanned.
    pub fn unscanned(&mut self, policy: Option<usize>) {
        self.matches.clear();
        let v = &mut self.verdict;
        v.hits.clear();
        if let Some(i) = policy {
            v.hits.push(rampart_policy_loader::Hit {
                policy: i,
                monitor: false,
            });
        }
        v.decision = policy;
        v.allowed_by = None;
        v.score = 0;
    }

    /// The last request's scan results (for the event log).
    pub fn matches(&self) -> &Matches {
        &self.matches
    }

    /// Behaviour counters as the last request's evaluation saw them.
    pub fn counters(&self) -> &[u64] {
        &self.counters
    }

    /// Judges one request; the verdict is left in `self.verdict`.
    // The request's parts arrive separately from the worker's parser; a
    // struct for them would only be built and taken apart again here.
    #[allow(clippy::too_many_arguments)]
    ///
    /// `body` is the inspected prefix as it arrived; `chunked` says whether it
    /// still carries chunked framing, which is removed first (into a reused
    /// buffer) so signatures see the data the upstream will decode.
    pub fn judge(
        &mut self,
        method: &[u8],
        target: &[u8],
        headers: &[(&[u8], &[u8])],
        body: &[u8],
        chunked: bool,
        peer: Peer<'_>,
        body_len: u64,
        behave: Option<Behave<'_>>,
    ) -> Result<(), rampart_matcher::ScanError> {
        let client_ip = peer.ip;
        let body = if chunked {
            dechunk(body, &mut self.dechunked);
            &self.dechunked[..]
        } else {
            body
        };
        let view = RequestView {
            method,
            target,
            headers,
            body,
        };
        self.scanner.scan_request(&view, &mut self.matches)?;
        let mut facts = Facts::client(client_ip);
        peer.apply(&mut facts);
        facts.counters = &self.counters;
        facts.body_len = body_len;
        let observed;
        if let Some(b) = behave {
            observed = b.observe(&view, client_ip);
            observed.apply(&mut facts);
        }
        self.evaluator.evaluate(
            &self.policy,
            &view,
            &self.matches,
            &facts,
            false,
            &mut self.verdict,
        );
        Ok(())
    }
}

/// Copies the chunk data of a chunked body prefix into `out` (capacity
/// permitting), with the same decoder the framing check used: the prefix was
/// validated by it already, so an error here only ends the copy.
fn dechunk(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let _ = ChunkedDecoder::new().feed(raw, |data| {
        let room = out.capacity() - out.len();
        out.extend_from_slice(&data[..data.len().min(room)]);
    });
}

#[cfg(test)]
mod tests {
    use super::dechunk;

    #[test]
    fn chunked_prefixes_are_decoded() {
        let mut out = Vec::with_capacity(64);
        dechunk(b"5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n", &mut out);
        assert_eq!(out, b"hello world");
        dechunk(b"5\r\nhello\r\na\r\n par", &mut out);
        assert_eq!(out, b"hello par");
        dechunk(b"zz\r\n", &mut out);
        assert!(out.is_empty());
    }
}
