//! Request bodies streamed beyond the inspected prefix: the kit's bounded
//! pool of pre-opened scanner streams, feeding them, and judging the request
//! again with every match when the body ends.

use rampart_matcher::{BodyStream, Matches, RequestView, ScanError, Scanner};
use rampart_policy_loader::Facts;

use super::CoreKit;

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
    /// Opens a body's streams and its match storage (at kit build time).
    pub(super) fn open(scanner: &mut Scanner, generation: u64) -> Result<BodyScan, ScanError> {
        Ok(BodyScan {
            body: scanner.start_body()?,
            matches: scanner.new_matches(),
            generation,
            prefix_hits: 0,
        })
    }

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
        peer: super::Peer<'_>,
        body_len: u64,
        behave: Option<super::Behave<'_>>,
    ) -> Result<(), ScanError> {
        let client_ip = peer.ip;
        let ended = self.scanner.end_body(&mut scan.body, &mut scan.matches);
        let view = RequestView {
            method,
            target,
            headers,
            body: &[],
        };
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
