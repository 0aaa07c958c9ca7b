//! Response policies on a core: judging a held response (status, headers,
//! body prefix), masking matched fragments in place, and mapping a chunked
//! prefix's data back to its raw bytes so chunk framing is never touched.

use rampart_matcher::ScanError;
use rampart_policy_loader::ResponseView;

use super::CoreKit;
use crate::http::chunked::ChunkedDecoder;

/// Most chunk-data runs mapped per chunked response prefix; data beyond
/// them is not inspected (a prefix of thousands of tiny chunks is odd).
pub(super) const RESPONSE_SEGMENTS: usize = 4096;

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
