//! Per-core scanning of one request: extract fields, normalise them once per
//! transform chain, scan each chain's joined fields in one Hyperscan call,
//! then settle the few candidates that need a second look.
//!
//! Why joined buffers: a Hyperscan call costs ~30 ns before it reads a byte,
//! and a typical API request has 30–60 fields, so scanning field by field
//! costs 3–5× a single scan of the same bytes (measured: 1.35 µs vs 0.38 µs
//! for a 763-byte request and 3,642 literals). Joining a chain's fields with
//! `\n` gives one call per chain; what joining could get wrong is settled
//! per candidate, never by giving up exactness:
//!
//! - a match that could have started in the previous field (its end is
//!   closer to the field start than the pattern's longest match) is rescanned
//!   on its field alone;
//! - patterns using `^`/`$` are compiled in line mode so they anchor at field
//!   edges; in a field that itself contains a newline they are decided by a
//!   per-field scan with their original flags instead;
//! - patterns using `\A`/`\z` are only ever scanned per field;
//! - prefiltered patterns are confirmed by `fancy-regex` on their field.

use std::sync::Arc;

use crate::compile::{Compiled, Group};
use crate::engine::{Database, EngineError, Scratch, Stream};
use crate::extract::{self, BodyKind, JsonScratch};
use crate::matches::{BodyParse, Matches};
use crate::request::RequestView;
use crate::transform::{apply_chain as run_chain, apply_chain_with, Features};
use crate::Transform;
use crate::{Anomalies, FieldKind, Matcher};

/// Per-request limits that bound a scanner's memory and work.
#[derive(Clone, Copy, Debug)]
pub struct ScanLimits {
    /// Largest request (head + inspected body) the scanner sizes its buffers for.
    pub max_request_bytes: usize,
    /// Fields beyond this many are not scanned (and the result says so).
    pub max_fields: usize,
    /// Matches listed per request (the hit set stays exact beyond it).
    pub max_matches: usize,
    /// JSON nesting depth accepted.
    pub max_json_depth: usize,
    /// Bodies streamed at once by the scanner's owner; not used by the
    /// scanner itself, but sizes the pool of pre-opened body streams a
    /// per-core kit keeps (0: bodies are not streamed).
    pub body_streams: usize,
    /// Largest response body prefix the scanner's owner inspects (sizes its
    /// response buffers; the scanner's own buffers must cover it too).
    pub max_response_bytes: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_request_bytes: 16 * 1024 + 128 * 1024,
            max_fields: 4096,
            max_matches: 256,
            max_json_depth: 64,
            body_streams: 0,
            max_response_bytes: 64 * 1024,
        }
    }
}

/// Scanning failed inside the engine (not a property of the request).
#[derive(Debug, thiserror::Error)]
#[error("scan failed: {0}")]
pub struct ScanError(#[from] EngineError);

#[derive(Clone, Copy, Debug)]
struct FieldRec {
    kind: FieldKind,
    name: (u32, u32),
}

#[derive(Clone, Copy, Debug)]
struct Span {
    field: u32,
    start: u32,
    end: u32,
    newline: bool,
}

#[derive(Debug)]
struct GroupBuf {
    joined: Vec<u8>,
    spans: Vec<Span>,
}

/// How a candidate is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Exact as found.
    None,
    /// Could have started in the previous field: rescan its field alone.
    Rescan,
    /// Prefiltered: confirm with the regex engine.
    Confirm,
}

#[derive(Clone, Copy, Debug)]
struct Cand {
    sig: u32,
    span: u32,
    end: u32,
    check: Check,
}

/// Most candidates kept per group per request; a request producing more is
/// hostile or pathological, and the rest of it is reported as truncated.
const MAX_CANDIDATES: usize = 4096;

/// Distinct JSON keys remembered per request for de-duplication (a linear
/// search: API objects have few distinct keys; beyond this, keys are just
/// scanned again).
const JSON_KEYS_REMEMBERED: usize = 64;

/// Field collection state, separate from the JSON scratch so extractor
/// callbacks can borrow both.
struct Collect {
    bufs: Vec<GroupBuf>,
    fields: Vec<FieldRec>,
    names: Vec<u8>,
    /// JSON keys already collected in this request (ranges in `names`, where
    /// a key's name is the key itself). Arrays of objects repeat the same
    /// keys; scanning a repeat would find exactly what the first scan found.
    json_keys: Vec<(u32, u32)>,
    /// Per remembered key, the index of the key that came after it last
    /// time (`u16::MAX`: none yet), and the last key seen: the keys of an
    /// array of objects come round in the same order, so the next one is
    /// found with one comparison instead of a search.
    json_follow: Vec<u16>,
    json_last: Option<u16>,
    t1: Vec<u8>,
    t2: Vec<u8>,
    anomalies: Anomalies,
    truncated: bool,
    limits: ScanLimits,
}

impl Collect {
    fn clear(&mut self) {
        for b in &mut self.bufs {
            b.joined.clear();
            b.spans.clear();
        }
        self.fields.clear();
        self.names.clear();
        self.json_keys.clear();
        self.json_follow.clear();
        self.json_last = None;
        self.anomalies = Anomalies::default();
        self.truncated = false;
    }

    /// Normalises one field for every chain that wants its kind and appends it
    /// to that chain's joined buffer. Inlined into the extractors' callbacks:
    /// many fields are of a kind no group wants, and they cost one test.
    #[inline(always)]
    fn add(&mut self, compiled: &Compiled, kind: FieldKind, name: &[u8], value: &[u8]) {
        if value.is_empty() || compiled.kind_groups[kind as usize].is_empty() {
            return;
        }
        self.add_wanted(compiled, kind, name, value);
    }

    /// [`Collect::add`] for a non-empty field some group wants.
    fn add_wanted(&mut self, compiled: &Compiled, kind: FieldKind, name: &[u8], value: &[u8]) {
        let groups = &compiled.kind_groups[kind as usize];
        if self.fields.len() >= self.limits.max_fields || value.len() > self.t1.capacity() {
            self.truncated = true;
            return;
        }
        if kind == FieldKind::JsonKey && self.seen_json_key(value) {
            return;
        }
        let field = self.fields.len() as u32;
        let n0 = self.names.len();
        let keep = name.len().min(self.names.capacity().saturating_sub(n0));
        self.names.extend_from_slice(&name[..keep]);
        if kind == FieldKind::JsonKey
            && keep == name.len()
            && name == value
            && self.json_keys.len() < self.json_keys.capacity()
        {
            let i = self.json_keys.len() as u16;
            self.json_keys.push((n0 as u32, self.names.len() as u32));
            self.json_follow.push(u16::MAX);
            self.follow(i);
        }
        self.fields.push(FieldRec {
            kind,
            name: (n0 as u32, self.names.len() as u32),
        });
        let merge = &compiled.kind_merge[kind as usize];
        // One pass over the value tells every chain which steps can be
        // skipped (none needed when every chain for this kind is empty).
        let known = merge.members != 0
            || groups
                .iter()
                .any(|&g| !compiled.groups[g as usize].chain.is_empty());
        let features = if known {
            Features::of(value)
        } else {
            Features::default()
        };
        // Whether the value has a line feed, when the features tell
        // (lowercasing keeps it; a chain that changed nothing too).
        let lf = known.then(|| features.has_newline());
        // A plain value goes to the merged groups instead of their members.
        let merged = if merge.members != 0 && !features.any(merge.blocking) {
            merge.members
        } else {
            0
        };
        if merged != 0 {
            // A number goes only to the signatures that could match one
            // (none when it is shorter than all of them), unless its name is
            // one a signature able to match a number looks at by name.
            let number =
                features.number() && !compiled.kind_number_names[kind as usize].contains(name);
            let (raw, lower) = match number {
                false => (merge.raw, merge.lower),
                true if (value.len() as u64) < u64::from(merge.num_min) => (None, None),
                true => (merge.num_raw, merge.num_lower),
            };
            if let Some(gi) = raw {
                let (bufs, truncated) = (&mut self.bufs, &mut self.truncated);
                push_span(bufs, truncated, field, gi, value, lf, compiled);
            }
            if let Some(gi) = lower {
                let out = if features.changes(Transform::Lowercase) {
                    Transform::Lowercase.apply_raw(value, &mut self.t1);
                    &self.t1[..]
                } else {
                    value
                };
                let (bufs, truncated) = (&mut self.bufs, &mut self.truncated);
                push_span(bufs, truncated, field, gi, out, lf, compiled);
            }
        }
        // A plain value went to the merged groups: only the others are left.
        let rest = if merged != 0 {
            &compiled.kind_unmerged[kind as usize][..]
        } else {
            &groups[..]
        };
        for &gi in rest {
            let g: &Group = &compiled.groups[gi as usize];
            if let Some(wanted) = &g.names[kind as usize] {
                if !wanted.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    continue;
                }
            }
            let (out, anomalies) =
                apply_chain_with(&g.chain, value, features, &mut self.t1, &mut self.t2);
            self.anomalies |= anomalies;
            let same = std::ptr::eq(out, value);
            push_span(
                &mut self.bufs,
                &mut self.truncated,
                field,
                gi,
                out,
                lf.filter(|_| same),
                compiled,
            );
        }
    }

    /// Whether the JSON key `key` was collected already in this request
    /// (and, if so, it becomes the last key seen).
    fn seen_json_key(&mut self, key: &[u8]) -> bool {
        let is = |i: usize| {
            self.json_keys
                .get(i)
                .is_some_and(|&(s, e)| self.names.get(s as usize..e as usize) == Some(key))
        };
        let guess = self
            .json_last
            .and_then(|l| self.json_follow.get(usize::from(l)).copied())
            .filter(|&g| g != u16::MAX);
        let found = match guess {
            Some(g) if is(usize::from(g)) => Some(g),
            _ => (0..self.json_keys.len()).find(|&i| is(i)).map(|i| i as u16),
        };
        if let Some(i) = found {
            self.follow(i);
        }
        found.is_some()
    }

    /// Key `i` came after the last key seen.
    fn follow(&mut self, i: u16) {
        if let Some(f) = self
            .json_last
            .and_then(|l| self.json_follow.get_mut(usize::from(l)))
        {
            *f = i;
        }
        self.json_last = Some(i);
    }
}

/// Appends one normalised field to group `gi`'s joined buffer (or marks the
/// request truncated when the buffer is full). `lf` says whether `out` has a
/// line feed when the caller knows (its features were computed), which
/// spares a search per field for groups with `^`/`$` signatures.
fn push_span(
    bufs: &mut [GroupBuf],
    truncated: &mut bool,
    field: u32,
    gi: u16,
    out: &[u8],
    lf: Option<bool>,
    compiled: &Compiled,
) {
    let g: &Group = &compiled.groups[gi as usize];
    let buf = &mut bufs[gi as usize];
    if buf.joined.len() + out.len() + 1 > buf.joined.capacity()
        || buf.spans.len() == buf.spans.capacity()
    {
        *truncated = true;
        return;
    }
    let start = buf.joined.len() as u32;
    buf.joined.extend_from_slice(out);
    let end = buf.joined.len() as u32;
    buf.joined.push(b'\n');
    let newline = g.has_anchored && lf.unwrap_or_else(|| memchr::memchr(b'\n', out).is_some());
    buf.spans.push(Span {
        field,
        start,
        end,
        newline,
    });
}

/// Everything one core needs to scan requests: scratch, buffers, per-core
/// regex copies. Not shared; create one per worker.
pub struct Scanner {
    matcher: Matcher,
    work: Work,
    stream_pool: Vec<Vec<Stream>>,
    stream_buf: Vec<u8>,
    limits: ScanLimits,
}

/// What a scan mutates, apart from the matcher it reads: kept in its own
/// struct so a scan can borrow the shared compiled set next to it instead of
/// cloning its `Arc` — that would touch a reference count every core shares,
/// twice per request.
struct Work {
    scratch: Option<Scratch>,
    collect: Collect,
    json: JsonScratch,
    cands: Vec<Cand>,
    confirm: Vec<Option<fancy_regex::Regex>>,
    locate: Vec<Option<regex::bytes::Regex>>,
    lossy: String,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Scanner {
    /// A scanner for `matcher`, with buffers sized by `limits`.
    ///
    /// Regexes used to confirm or locate matches are compiled here, per
    /// scanner, so cores never contend on a shared regex cache.
    pub fn new(matcher: &Matcher, limits: ScanLimits) -> Result<Scanner, ScanError> {
        let c = &matcher.inner;
        let dbs: Vec<&Database> = c
            .groups
            .iter()
            .flat_map(|g| [&g.joined, &g.literals, &g.per_field])
            .flatten()
            .chain(c.streams.iter().filter_map(|s| s.db.as_deref()))
            .collect();
        let scratch = if dbs.is_empty() {
            None
        } else {
            Some(Scratch::for_databases(dbs)?)
        };
        // Joined buffers hold every field once per chain; structured bodies
        // are reported both raw and field by field, hence the factor 2.
        let joined_cap = limits.max_request_bytes * 2 + limits.max_fields;
        let bufs = c
            .groups
            .iter()
            .map(|_| GroupBuf {
                joined: Vec::with_capacity(joined_cap),
                spans: Vec::with_capacity(limits.max_fields),
            })
            .collect();
        let confirm = c
            .sigs
            .iter()
            .map(|m| {
                m.confirm
                    .as_deref()
                    .and_then(|s| fancy_regex::Regex::new(s).ok())
            })
            .collect();
        let locate = c
            .sigs
            .iter()
            .map(|m| {
                m.locate
                    .as_deref()
                    .and_then(|s| regex::bytes::Regex::new(s).ok())
            })
            .collect();
        Ok(Scanner {
            matcher: matcher.clone(),
            work: Work {
                scratch,
                collect: Collect {
                    bufs,
                    fields: Vec::with_capacity(limits.max_fields),
                    names: Vec::with_capacity(limits.max_request_bytes),
                    json_keys: Vec::with_capacity(JSON_KEYS_REMEMBERED),
                    json_follow: Vec::with_capacity(JSON_KEYS_REMEMBERED),
                    json_last: None,
                    t1: Vec::with_capacity(limits.max_request_bytes),
                    t2: Vec::with_capacity(limits.max_request_bytes),
                    anomalies: Anomalies::default(),
                    truncated: false,
                    limits,
                },
                json: JsonScratch::with_capacity(limits.max_request_bytes, limits.max_json_depth),
                cands: Vec::with_capacity(MAX_CANDIDATES),
                confirm,
                locate,
                lossy: String::with_capacity(limits.max_request_bytes * 3),
            },
            stream_pool: c.streams.iter().map(|_| Vec::new()).collect(),
            stream_buf: Vec::with_capacity(64 * 1024),
            limits,
        })
    }

    /// The matcher this scanner runs.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// A result holder sized for this scanner's matcher and limits.
    pub fn new_matches(&self) -> Matches {
        Matches::new(self.matcher.len(), self.limits.max_matches)
    }

    /// Scans every field of `req`, replacing the contents of `out`.
    pub fn scan_request(
        &mut self,
        req: &RequestView<'_>,
        out: &mut Matches,
    ) -> Result<(), ScanError> {
        let c: &Compiled = &self.matcher.inner;
        let w = &mut self.work;
        out.reset(c.sigs.len());
        w.collect.clear();
        w.collect_fields(c, req, out);
        out.anomalies = w.collect.anomalies;
        out.truncated = w.collect.truncated;
        for gi in 0..c.groups.len() {
            w.scan_group(c, gi, out)?;
        }
        Ok(())
    }

    /// Scans an upstream response's body (kind `response.body`), replacing
    /// the contents of `out`. Only signatures targeting `response.body` can
    /// match; a body longer than the scanner's buffers is reported truncated.
    pub fn scan_response(&mut self, body: &[u8], out: &mut Matches) -> Result<(), ScanError> {
        let c: &Compiled = &self.matcher.inner;
        let w = &mut self.work;
        out.reset(c.sigs.len());
        w.collect.clear();
        w.collect.add(c, FieldKind::ResponseBody, b"", body);
        out.anomalies = w.collect.anomalies;
        out.truncated = w.collect.truncated;
        let merge = &c.kind_merge[FieldKind::ResponseBody as usize];
        let merged = [merge.raw, merge.lower].into_iter().flatten();
        for gi in c.kind_groups[FieldKind::ResponseBody as usize]
            .iter()
            .copied()
            .chain(merged)
        {
            w.scan_group(c, gi as usize, out)?;
        }
        Ok(())
    }

    /// Whether any signature targets response bodies.
    pub fn scans_responses(&self) -> bool {
        !self.matcher.inner.kind_groups[FieldKind::ResponseBody as usize].is_empty()
    }

    /// Starts scanning a body as a stream (for bodies longer than the
    /// inspection buffer): feed it from its first byte with [`Scanner::feed_body`].
    pub fn start_body(&mut self) -> Result<BodyStream, ScanError> {
        let c: &Compiled = &self.matcher.inner;
        let mut streams = Vec::with_capacity(c.streams.len());
        for (si, sg) in c.streams.iter().enumerate() {
            streams.push(match &sg.db {
                None => None,
                Some(db) => Some(match self.stream_pool[si].pop() {
                    Some(s) => s,
                    None => Stream::open(db)?,
                }),
            });
        }
        Ok(BodyStream { streams })
    }

    /// Whether any body signature is scanned as a stream (when none is,
    /// streaming a body finds nothing and can be skipped).
    pub fn streams_bodies(&self) -> bool {
        self.matcher.inner.streams.iter().any(|s| s.db.is_some())
    }

    /// Feeds the next piece of a streamed body; matches are added to `out`
    /// (kind `body`, offsets from the body's start).
    pub fn feed_body(
        &mut self,
        body: &mut BodyStream,
        chunk: &[u8],
        out: &mut Matches,
    ) -> Result<(), ScanError> {
        // Pieces no larger than the transform buffer, so a long chunk never
        // grows it (the streams carry state across the pieces).
        let piece = self.stream_buf.capacity().max(1);
        for part in chunk.chunks(piece) {
            self.feed_piece(body, part, out)?;
        }
        Ok(())
    }

    fn feed_piece(
        &mut self,
        body: &mut BodyStream,
        chunk: &[u8],
        out: &mut Matches,
    ) -> Result<(), ScanError> {
        // A body started under a replaced matcher keeps its streams: they
        // hold their own database, which stays valid.
        let c: &Compiled = &self.matcher.inner;
        let Some(scratch) = self.work.scratch.as_mut() else {
            return Ok(());
        };
        for (si, stream) in body.streams.iter_mut().enumerate() {
            let Some(stream) = stream else { continue };
            let Some(sg) = c.streams.get(si) else {
                continue;
            };
            let base = stream.offset();
            let (data, _) = run_chain(
                &sg.chain,
                chunk,
                &mut self.stream_buf,
                &mut self.work.collect.t2,
            );
            stream.scan(data, scratch, |id, end| {
                if !out.matched(id) {
                    let rel = end.saturating_sub(base) as usize;
                    let local = &data[..rel.min(data.len())];
                    out.push(id, FieldKind::Body, b"", local, None, local.len() as u32);
                }
                true
            })?;
        }
        Ok(())
    }

    /// Ends a streamed body (end-anchored patterns report here) and recycles its streams.
    pub fn finish_body(
        &mut self,
        mut body: BodyStream,
        out: &mut Matches,
    ) -> Result<(), ScanError> {
        self.end_body(&mut body, out)?;
        for (si, stream) in body.streams.iter_mut().enumerate() {
            let Some(s) = stream.take() else { continue };
            // Streams of a replaced matcher are dropped (closed) instead of pooled.
            if si < self.stream_pool.len()
                && Arc::ptr_eq(
                    s.database(),
                    self.matcher.inner.streams[si]
                        .db
                        .as_ref()
                        .unwrap_or(s.database()),
                )
            {
                self.stream_pool[si].push(s);
            }
        }
        Ok(())
    }

    /// Ends a streamed body in place: end-anchored patterns report, and the
    /// streams are reset so `body` can carry the next body (a caller that
    /// pools [`BodyStream`]s never opens or frees a stream per request).
    pub fn end_body(&mut self, body: &mut BodyStream, out: &mut Matches) -> Result<(), ScanError> {
        let Some(scratch) = self.work.scratch.as_mut() else {
            return Ok(());
        };
        for s in body.streams.iter_mut().flatten() {
            let end = s.offset();
            s.finish(scratch, |id, _| {
                if !out.matched(id) {
                    out.push(id, FieldKind::Body, b"", b"", None, end as u32);
                }
                true
            })?;
        }
        Ok(())
    }

    /// Forgets what was fed to `body` without reporting anything (a body
    /// abandoned halfway), so the next body starts clean.
    pub fn abandon_body(&mut self, body: &mut BodyStream) -> Result<(), ScanError> {
        for s in body.streams.iter_mut().flatten() {
            s.reset()?;
        }
        Ok(())
    }
}

impl Work {
    fn wants(c: &Compiled, kind: FieldKind) -> bool {
        !c.kind_groups[kind as usize].is_empty()
    }

    fn collect_fields(&mut self, c: &Compiled, req: &RequestView<'_>, out: &mut Matches) {
        let col = &mut self.collect;
        col.add(c, FieldKind::Method, b"", req.method);
        col.add(c, FieldKind::Target, b"", req.target);
        col.add(c, FieldKind::Path, b"", req.path());
        if let Some(q) = req.query() {
            col.add(c, FieldKind::Query, b"", q);
            if Self::wants(c, FieldKind::ArgName) || Self::wants(c, FieldKind::ArgValue) {
                extract::urlencoded(
                    q,
                    FieldKind::ArgName,
                    FieldKind::ArgValue,
                    &mut |k, n, v| col.add(c, k, n, v),
                );
            }
        }
        let cookies =
            Self::wants(c, FieldKind::CookieName) || Self::wants(c, FieldKind::CookieValue);
        for (name, value) in req.headers {
            col.add(c, FieldKind::HeaderName, name, name);
            col.add(c, FieldKind::HeaderValue, name, value);
            if cookies && name.eq_ignore_ascii_case(b"cookie") {
                extract::cookies(value, &mut |k, n, v| col.add(c, k, n, v));
            }
        }
        let body = req.body;
        if body.is_empty() {
            return;
        }
        col.add(c, FieldKind::Body, b"", body);
        let ct = req.header(b"content-type").unwrap_or_default();
        let any = |kinds: &[FieldKind]| kinds.iter().any(|k| Self::wants(c, *k));
        let parsed = match BodyKind::from_content_type(ct) {
            BodyKind::Json if any(&[FieldKind::JsonKey, FieldKind::JsonValue]) => Some(
                match extract::json(body, &mut self.json, &mut |k, n, v| col.add(c, k, n, v)) {
                    Ok(summary) => {
                        out.json_depth = summary.max_depth as u32;
                        Ok(())
                    }
                    Err(e) => {
                        if let extract::ExtractError::TooDeep { max, .. } = e {
                            out.json_depth = max as u32 + 1;
                        }
                        Err(e.offset())
                    }
                },
            ),
            BodyKind::Form if any(&[FieldKind::FormName, FieldKind::FormValue]) => {
                extract::urlencoded(
                    body,
                    FieldKind::FormName,
                    FieldKind::FormValue,
                    &mut |k, n, v| col.add(c, k, n, v),
                );
                Some(Ok(()))
            }
            BodyKind::Multipart
                if any(&[
                    FieldKind::MultipartName,
                    FieldKind::MultipartValue,
                    FieldKind::MultipartFilename,
                    FieldKind::MultipartHeader,
                ]) =>
            {
                match extract::boundary(ct) {
                    Some(b) => Some(
                        extract::multipart(body, b, &mut |k, n, v| col.add(c, k, n, v))
                            .map(|_| ())
                            .map_err(|e| e.offset()),
                    ),
                    None => Some(Err(0usize)),
                }
            }
            BodyKind::Xml if any(&[FieldKind::XmlText]) => Some(
                extract::xml(body, &mut |k, n, v| col.add(c, k, n, v))
                    .map(|_| ())
                    .map_err(|e| e.offset()),
            ),
            _ => None,
        };
        out.body = match parsed {
            None => BodyParse::None,
            Some(Ok(())) => BodyParse::Parsed,
            Some(Err(offset)) => BodyParse::Malformed(u32::try_from(offset).unwrap_or(u32::MAX)),
        };
    }

    fn scan_group(&mut self, c: &Compiled, gi: usize, out: &mut Matches) -> Result<(), ScanError> {
        let g = &c.groups[gi];
        let buf = &self.collect.bufs[gi];
        if buf.spans.is_empty() {
            return Ok(());
        }
        let Some(scratch) = self.scratch.as_mut() else {
            return Ok(());
        };
        let fields = &self.collect.fields;
        let names = &self.collect.names;
        let name_of = |f: &FieldRec| &names[f.name.0 as usize..f.name.1 as usize];
        let per_field =
            |s: &Span| g.per_field.is_some() && (g.has_edge || (g.has_anchored && s.newline));
        let cands = &mut self.cands;
        cands.clear();
        let mut overflow = false;
        for db in [&g.joined, &g.literals].into_iter().flatten() {
            db.scan(&buf.joined, scratch, |id, end| {
                let end = end as usize;
                let Some(last) = end.checked_sub(1) else {
                    return true;
                };
                let i = buf.spans.partition_point(|s| (s.end as usize) <= last);
                let Some(span) = buf.spans.get(i) else {
                    return true;
                };
                if span.start as usize > last {
                    // The match ends on a separator: it cannot exist in one field.
                    return true;
                }
                let meta = &c.sigs[id as usize];
                let f = &fields[span.field as usize];
                if !meta.targets(f.kind, name_of(f)) || (meta.anchored && per_field(span)) {
                    return true;
                }
                let rel = end - span.start as usize;
                let check = if meta.prefilter {
                    Check::Confirm
                } else if meta.max_width.is_none_or(|w| w as usize > rel) {
                    Check::Rescan
                } else {
                    Check::None
                };
                push_cand(
                    cands,
                    Cand {
                        sig: id,
                        span: i as u32,
                        end: rel as u32,
                        check,
                    },
                    &mut overflow,
                )
            })?;
        }
        if let Some(pf) = &g.per_field {
            for (i, span) in buf.spans.iter().enumerate() {
                if !per_field(span) {
                    continue;
                }
                let f = &fields[span.field as usize];
                let value = &buf.joined[span.start as usize..span.end as usize];
                pf.scan(value, scratch, |id, end| {
                    let meta = &c.sigs[id as usize];
                    if !meta.targets(f.kind, name_of(f)) {
                        return true;
                    }
                    let check = if meta.prefilter {
                        Check::Confirm
                    } else {
                        Check::None
                    };
                    push_cand(
                        cands,
                        Cand {
                            sig: id,
                            span: i as u32,
                            end: end as u32,
                            check,
                        },
                        &mut overflow,
                    )
                })?;
            }
        }
        if overflow {
            out.truncated = true;
        }
        for &cand in cands.iter() {
            let span = buf.spans[cand.span as usize];
            let value = &buf.joined[span.start as usize..span.end as usize];
            let meta = &c.sigs[cand.sig as usize];
            let end = match cand.check {
                Check::None => Some(cand.end),
                Check::Rescan => {
                    // Literals are in the joined database (see `compile`),
                    // unless a cached set from before put them apart.
                    let db = if meta.literal && g.literals.is_some() {
                        &g.literals
                    } else {
                        &g.joined
                    };
                    let mut found = None;
                    if let Some(db) = db {
                        db.scan(value, scratch, |id, end| {
                            if id == cand.sig {
                                found = Some(end as u32);
                                false
                            } else {
                                true
                            }
                        })?;
                    }
                    found
                }
                Check::Confirm => confirm(
                    self.confirm[cand.sig as usize].as_ref(),
                    value,
                    &mut self.lossy,
                )
                .then_some(cand.end),
            };
            let Some(end) = end else { continue };
            let f = &fields[span.field as usize];
            let name = name_of(f);
            if out.has(cand.sig, f.kind, name) {
                continue;
            }
            let (start, end) = match (meta.max_width, &self.locate[cand.sig as usize]) {
                (Some(w), _) if w == meta.min_width => (Some(end.saturating_sub(w)), end),
                // Hyperscan reports the earliest end; the located match is
                // the leftmost-longest one a reader expects to see.
                (_, Some(re)) => match re.find(value) {
                    Some(m) => (Some(m.start() as u32), m.end() as u32),
                    None => (None, end),
                },
                _ => (None, end),
            };
            out.push(cand.sig, f.kind, name, value, start, end);
        }
        Ok(())
    }
}

fn push_cand(cands: &mut Vec<Cand>, cand: Cand, overflow: &mut bool) -> bool {
    // Hyperscan reports every end of a match; keep one candidate per
    // (signature, field), preferring one that needs no second look.
    for prev in cands.iter_mut().rev() {
        if prev.span != cand.span {
            break;
        }
        if prev.sig == cand.sig {
            if prev.check == Check::Rescan && cand.check == Check::None {
                *prev = cand;
            }
            return true;
        }
    }
    if cands.len() >= MAX_CANDIDATES {
        *overflow = true;
        return false;
    }
    cands.push(cand);
    true
}

/// Runs a confirming regex on a field that may not be UTF-8 (invalid bytes
/// become U+FFFD in a reused buffer, so no allocation).
fn confirm(re: Option<&fancy_regex::Regex>, value: &[u8], lossy: &mut String) -> bool {
    let Some(re) = re else { return false };
    let text = match std::str::from_utf8(value) {
        Ok(s) => s,
        Err(_) => {
            lossy.clear();
            for chunk in value.utf8_chunks() {
                lossy.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    lossy.push('\u{FFFD}');
                }
            }
            lossy.as_str()
        }
    };
    re.is_match(text).unwrap_or(false)
}

/// Streams of one body being scanned beyond the inspection buffer.
pub struct BodyStream {
    streams: Vec<Option<Stream>>,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream")
            .field("streams", &self.streams.len())
            .finish()
    }
}
