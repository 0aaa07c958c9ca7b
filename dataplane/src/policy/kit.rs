//! One core's policy kit: the shared compiled policy plus everything the core
//! needs to judge a request without allocating (scanner scratch and buffers,
//! match storage, evaluator scratch, verdict storage).

use std::sync::Arc;

use rampart_matcher::{BodyStream, Matches, RequestView, ScanError, ScanLimits, Scanner};

use crate::http::chunked::ChunkedDecoder;
use rampart_policy_loader::mask::Masker;
use rampart_policy_loader::{
    CompiledPolicy, Evaluator, Facts, Mode, PolicyPhase, ResponseView, Verdict,
};

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

/// Most chunk-data runs mapped per chunked response prefix; data beyond
/// them is not inspected (a prefix of thousands of tiny chunks is odd).
const RESPONSE_SEGMENTS: usize = 4096;

/// What response policies decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// Send it, with this many fragments masked.
    Pass {
        /// Fragments overwritten with `*`.
        masked: usize,
    },
    /// Replace it with the answer of the policy at this index.
    Block(usize),
}

/// One request body being scanned as a stream beyond its inspected prefix:
/// the scanner's streams and the request's matches (the prefix's, then the
/// stream's). Taken from a kit's pool and given back to the kit it came from.
pub struct BodyScan {
    body: BodyStream,
    matches: Matches,
    generation: u64,
    /// Hits of the prefix verdict (counted already).
    prefix_hits: usize,
}

impl BodyScan {
    /// Generation of the kit this scan belongs to.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Hits already counted when the prefix was judged.
    pub fn prefix_hits(&self) -> usize {
        self.prefix_hits
    }
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
            bodies.push(Box::new(BodyScan {
                body: scanner.start_body().map_err(|e| e.to_string())?,
                matches: scanner.new_matches(),
                generation,
                prefix_hits: 0,
            }));
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
        client_ip: std::net::IpAddr,
        body_len: u64,
    ) -> Result<(), rampart_matcher::ScanError> {
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
        facts.counters = &self.counters;
        facts.body_len = body_len;
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

impl CoreKit {
    /// Whether long bodies are streamed under this kit (streaming is on and
    /// some body signature can be streamed).
    pub fn streams_bodies(&self) -> bool {
        self.bodies.capacity() > 0
    }

    /// Starts streaming the body of the request just judged (its verdict
    /// and matches are this kit's current ones): the prefix's matches are
    /// kept and the prefix is fed first, so a pattern straddling the end of
    /// the prefix is found. `None` when every body stream is in use.
    pub fn begin_body(
        &mut self,
        prefix: &[u8],
        chunked: bool,
    ) -> Result<Option<Box<BodyScan>>, ScanError> {
        let Some(mut scan) = self.bodies.pop() else {
            return Ok(None);
        };
        scan.matches.copy_from(&self.matches);
        scan.prefix_hits = self.verdict.hits.len();
        // `judge` left a chunked prefix's data in `dechunked`.
        let data = if chunked { &self.dechunked[..] } else { prefix };
        let fed = self
            .scanner
            .feed_body(&mut scan.body, data, &mut scan.matches);
        if let Err(e) = fed {
            self.end_body(scan, true);
            return Err(e);
        }
        Ok(Some(scan))
    }

    /// Feeds the next run of body data (de-chunked).
    pub fn feed_body(&mut self, scan: &mut BodyScan, data: &[u8]) -> Result<(), ScanError> {
        self.scanner
            .feed_body(&mut scan.body, data, &mut scan.matches)
    }

    /// The body ended: finishes its scan and judges the request again with
    /// every match (head, prefix, stream); the verdict is left in
    /// `self.verdict`. `body_len` is the whole body's length.
    #[allow(clippy::too_many_arguments)]
    pub fn judge_body_end(
        &mut self,
        scan: &mut BodyScan,
        method: &[u8],
        target: &[u8],
        headers: &[(&[u8], &[u8])],
        client_ip: std::net::IpAddr,
        body_len: u64,
    ) -> Result<(), ScanError> {
        let ended = self.scanner.end_body(&mut scan.body, &mut scan.matches);
        let view = RequestView {
            method,
            target,
            headers,
            body: &[],
        };
        let mut facts = Facts::client(client_ip);
        facts.counters = &self.counters;
        facts.body_len = body_len;
        self.evaluator.evaluate(
            &self.policy,
            &view,
            &scan.matches,
            &facts,
            false,
            &mut self.verdict,
        );
        ended
    }

    /// Gives a body scan back to the pool; `abandoned` when its body did not
    /// end (the stream is reset so the next body starts clean). A scan from
    /// another kit is dropped (only after a reload).
    pub fn end_body(&mut self, mut scan: Box<BodyScan>, abandoned: bool) {
        if scan.generation != self.generation || self.bodies.len() == self.bodies.capacity() {
            return;
        }
        if abandoned && self.scanner.abandon_body(&mut scan.body).is_err() {
            // A stream that cannot be reset is closed rather than reused.
            return;
        }
        self.bodies.push(scan);
    }
}

impl CoreKit {
    /// Whether responses are inspected under this kit.
    pub fn inspects_responses(&self) -> bool {
        self.responses
    }

    /// Judges a response by the response policies: its status, headers and
    /// the body prefix `raw` (as received: still chunk-framed when
    /// `chunked`). Enforce `mask` policies overwrite their fragments in
    /// `raw` in place; chunk framing is never touched.
    pub fn judge_response(
        &mut self,
        status: u16,
        headers: &[(&[u8], &[u8])],
        raw: &mut [u8],
        chunked: bool,
    ) -> Result<ResponseVerdict, ScanError> {
        if chunked {
            self.map_chunks(raw);
        }
        let data: &[u8] = if chunked { &self.resp_data } else { raw };
        self.scanner.scan_response(data, &mut self.matches)?;
        let view = ResponseView { status, headers };
        self.evaluator.evaluate_response(
            &self.policy,
            &view,
            &self.matches,
            false,
            &mut self.verdict,
        );
        if let Some(i) = self.verdict.decision {
            return Ok(ResponseVerdict::Block(i));
        }
        let masked = if chunked {
            let (segs, data) = (&self.resp_segs, &self.resp_data);
            self.masker
                .fragments(&self.verdict, &self.matches, data, |s, e| {
                    mask_mapped(raw, segs, s, e)
                })
        } else {
            self.masker.mask_in_place(&self.verdict, &self.matches, raw)
        };
        Ok(ResponseVerdict::Pass { masked })
    }

    /// De-chunks a response prefix into `resp_data`, remembering where each
    /// run of data came from in `raw`.
    fn map_chunks(&mut self, raw: &[u8]) {
        self.resp_data.clear();
        self.resp_segs.clear();
        let (data, segs) = (&mut self.resp_data, &mut self.resp_segs);
        let base = raw.as_ptr() as usize;
        // The prefix was validated by the relay's decoder already; an error
        // here only ends the mapping.
        let _ = ChunkedDecoder::new().feed(raw, |run| {
            let room = data.capacity() - data.len();
            if room == 0 || segs.len() == segs.capacity() {
                return;
            }
            let run = &run[..run.len().min(room)];
            // The decoder hands out sub-slices of `raw`.
            let at = run.as_ptr() as usize - base;
            segs.push((at as u32, data.len() as u32, run.len() as u32));
            data.extend_from_slice(run);
        });
    }
}

/// Overwrites the raw bytes behind data range `[s, e)` of a de-chunked prefix.
fn mask_mapped(raw: &mut [u8], segs: &[(u32, u32, u32)], s: usize, e: usize) {
    for &(r, d, len) in segs {
        let (r, d, len) = (r as usize, d as usize, len as usize);
        let (lo, hi) = (s.max(d), e.min(d + len));
        if lo < hi {
            raw[r + lo - d..r + hi - d].fill(b'*');
        }
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
