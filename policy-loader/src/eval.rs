//! The verdict engine: evaluates a compiled policy against one scanned
//! request. Allocation-free once the per-core [`Evaluator`] is warm.

use std::net::IpAddr;

use rampart_matcher::{apply_chain, Anomalies, BodyParse, Matches, RequestView, Transform};

use crate::gate::{RequestFacts, SetScratch};
use crate::lists::fingerprint::{header_fingerprint, HFP_LEN};
use crate::measures::{Anomaly, Counter, IdentityProp, TlsProp, REQUEST_MEASURES, TLS_FACTS};
use crate::model::{Action, Cond, Exclusion, ListKey, Mode, Policy, PolicyPhase, ValueTest};
use crate::policy::CompiledPolicy;

/// What the request carries beyond its bytes: who sent it, what the behaviour
/// engine counted, what TLS revealed.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// Client address (after trusted-proxy resolution).
    pub client_ip: IpAddr,
    /// Behaviour counters indexed by [`Counter`] id (missing entries read 0).
    pub counters: &'a [u64],
    /// Identity properties indexed by [`IdentityProp::index`].
    pub identity: [Option<&'a [u8]>; 7],
    /// TLS JA4 fingerprint.
    pub ja4: Option<&'a [u8]>,
    /// TLS JA3 fingerprint.
    pub ja3: Option<&'a [u8]>,
    /// TLS version (`1.2`, `1.3`), SNI, ALPN, client certificate subject
    /// and CN, in [`TlsProp`] order less the fingerprints (`None` everywhere
    /// on a plain connection).
    pub tls: [Option<&'a [u8]>; TLS_FACTS],
    /// Password carried by a login request.
    pub password: Option<&'a [u8]>,
    /// Declared body length (may exceed the inspected bytes).
    pub body_len: u64,
    /// HTTP version of the request line: 10, 11 or 20 (for the header fingerprint).
    pub http_version: u8,
}

impl<'a> Facts<'a> {
    /// Facts for a client with nothing else known.
    pub fn client(client_ip: IpAddr) -> Facts<'a> {
        Facts {
            client_ip,
            counters: &[],
            identity: [None; 7],
            ja4: None,
            ja3: None,
            tls: [None; TLS_FACTS],
            password: None,
            body_len: 0,
            http_version: 11,
        }
    }
}

/// One policy that matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Index into [`CompiledPolicy::policies`].
    pub policy: usize,
    /// Matched in monitor mode (or, in a dry run, in mode off): logged, not acted on.
    pub monitor: bool,
}

/// The outcome for one request.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Every matching policy, in evaluation order.
    pub hits: Vec<Hit>,
    /// The policy whose action decides the response, if any.
    pub decision: Option<usize>,
    /// An enforce `allow` policy that stopped the evaluation.
    pub allowed_by: Option<usize>,
    /// Sum of matching policies' scores.
    pub score: u32,
}

impl Verdict {
    /// The deciding action, if the request is not simply forwarded.
    pub fn action<'p>(&self, policy: &'p CompiledPolicy) -> Option<&'p Action> {
        self.decision.map(|i| &policy.policies[i].action)
    }

    /// Whether `policy` (by index) matched.
    pub fn matched(&self, policy: usize) -> bool {
        self.hits.iter().any(|h| h.policy == policy)
    }
}

/// Per-core evaluation scratch.
#[derive(Debug)]
pub struct Evaluator {
    memo: Vec<u8>,
    path_a: Vec<u8>,
    path_b: Vec<u8>,
    buf: Vec<u8>,
    arg_a: Vec<u8>,
    arg_b: Vec<u8>,
    /// Policies to look at (a bitset), from the gates.
    candidates: Vec<u64>,
    /// The gates' path set's search state (made on first use per policy).
    paths: Option<SetScratch>,
    /// The gates' host set's search state.
    hosts: Option<SetScratch>,
    /// The last header fingerprint and what it was computed from (method,
    /// version, header names in order): a keep-alive client sends the same
    /// header names request after request, and the SHA-1 is the dearest part
    /// of a fingerprint lookup.
    hfp_key: Vec<u8>,
    hfp: Option<[u8; HFP_LEN]>,
    /// Use the policy's gates (tests turn them off to compare).
    use_gates: bool,
}

/// Longest header-name list whose fingerprint is remembered (longer ones
/// are fingerprinted every time).
const HFP_KEY_MAX: usize = 2048;

/// Longest path or header value looked at (longer ones are truncated for
/// path tests; the signatures still see them whole).
const MAX_PATH: usize = 16 * 1024;

const UNKNOWN: u8 = 0;
const BUSY: u8 = 1;
const NO: u8 = 2;
const YES: u8 = 3;

/// The upstream's response as response policies see it.
#[derive(Clone, Copy, Debug)]
pub struct ResponseView<'a> {
    /// Status code.
    pub status: u16,
    /// Header fields (name, value).
    pub headers: &'a [(&'a [u8], &'a [u8])],
}

struct Req<'r, 'a> {
    view: &'r RequestView<'a>,
    /// Set when response policies are evaluated (and only then).
    response: Option<&'r ResponseView<'r>>,
    matches: &'r Matches,
    facts: &'r Facts<'r>,
    path: &'r [u8],
    dry_run: bool,
    /// The policy's gates can be trusted (computed for these policies).
    gated: bool,
    /// What the gates read besides the matches.
    gate_facts: RequestFacts<'r>,
}

impl Default for Evaluator {
    fn default() -> Self {
        Evaluator::new()
    }
}

impl Evaluator {
    /// Scratch for one core.
    pub fn new() -> Evaluator {
        Evaluator {
            memo: Vec::new(),
            path_a: Vec::with_capacity(MAX_PATH),
            path_b: Vec::with_capacity(MAX_PATH),
            buf: Vec::with_capacity(1024),
            arg_a: Vec::with_capacity(1024),
            arg_b: Vec::with_capacity(1024),
            candidates: Vec::new(),
            paths: None,
            hosts: None,
            hfp_key: Vec::with_capacity(HFP_KEY_MAX),
            hfp: None,
            use_gates: true,
        }
    }

    /// A verdict holder sized for `policy` (reuse it across requests).
    pub fn new_verdict(policy: &CompiledPolicy) -> Verdict {
        Verdict {
            hits: Vec::with_capacity(policy.policies.len()),
            ..Verdict::default()
        }
    }

    /// Judges one request. With `dry_run`, every policy is evaluated whatever
    /// its mode and `allow` does not stop the evaluation (for tests and tools).
    pub fn evaluate(
        &mut self,
        policy: &CompiledPolicy,
        view: &RequestView<'_>,
        matches: &Matches,
        facts: &Facts<'_>,
        dry_run: bool,
        out: &mut Verdict,
    ) {
        let raw_path = view.path();
        let raw_path = &raw_path[..raw_path.len().min(MAX_PATH)];
        // Taken out of `self` for the evaluation (the path borrows them), put back after.
        let (mut pa, mut pb) = (
            std::mem::take(&mut self.path_a),
            std::mem::take(&mut self.path_b),
        );
        let (path, _) = apply_chain(
            &[Transform::UrlDecode, Transform::NormalizePath],
            raw_path,
            &mut pa,
            &mut pb,
        );
        let gates = policy.gates();
        let gated = self.use_gates && gates.covers(policy.policies.len());
        let (mut paths, mut hosts) = (self.paths.take(), self.hosts.take());
        if gated {
            gates.match_paths(path, &mut paths);
            gates.match_hosts(request_host(view), &mut hosts);
        }
        fn bits(s: &Option<SetScratch>, gated: bool) -> &[u64] {
            match s {
                Some(p) if gated => p.bits(),
                _ => &[],
            }
        }
        let req = Req {
            view,
            response: None,
            matches,
            facts,
            path,
            dry_run,
            gated,
            gate_facts: gates.facts(
                view.method,
                view.headers,
                view.query().is_some_and(|q| !q.is_empty()),
                facts.counters,
                if gated {
                    request_measures(gates.measures_read(), view, path, facts.body_len, matches)
                } else {
                    [0; REQUEST_MEASURES as usize]
                },
                bits(&paths, gated),
                bits(&hosts, gated),
                matches,
            ),
        };
        self.run(policy, &req, PolicyPhase::Request, out);
        self.paths = paths;
        self.hosts = hosts;
        self.path_a = pa;
        self.path_b = pb;
    }

    /// Judges a response by the response policies (`phase = "response"`);
    /// `matches` are the response body's. A deciding policy's action is
    /// `block`; matching enforce `mask` policies are in `out.hits`.
    pub fn evaluate_response(
        &mut self,
        policy: &CompiledPolicy,
        response: &ResponseView<'_>,
        matches: &Matches,
        dry_run: bool,
        out: &mut Verdict,
    ) {
        let view = RequestView {
            method: b"",
            target: b"",
            headers: &[],
            body: b"",
        };
        let facts = Facts::client(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let req = Req {
            view: &view,
            response: Some(response),
            matches,
            facts: &facts,
            path: b"",
            dry_run,
            // Gates index request facts; the few response policies are
            // walked in full.
            gated: false,
            gate_facts: RequestFacts::default(),
        };
        self.run(policy, &req, PolicyPhase::Response, out);
    }

    fn run(
        &mut self,
        policy: &CompiledPolicy,
        req: &Req<'_, '_>,
        phase: PolicyPhase,
        out: &mut Verdict,
    ) {
        out.hits.clear();
        out.decision = None;
        out.allowed_by = None;
        out.score = 0;
        self.memo.clear();
        self.memo.resize(policy.policies.len(), UNKNOWN);
        let mut memo = std::mem::take(&mut self.memo);
        if req.gated {
            // Only policies a gate leaves open can hold: the others are
            // looked at only if an open one refers to them.
            let mut cands = std::mem::take(&mut self.candidates);
            policy
                .gates()
                .candidates(req.matches, req.gate_facts, &mut cands);
            'all: for (w, &bits) in cands.iter().enumerate() {
                let mut left = bits;
                while left != 0 {
                    let i = w * 64 + left.trailing_zeros() as usize;
                    left &= left - 1;
                    if self.consider(policy, i, req, phase, &mut memo, out) {
                        break 'all;
                    }
                }
            }
            self.candidates = cands;
        } else if phase == PolicyPhase::Response {
            for &i in policy.response_policies() {
                if self.consider(policy, i, req, phase, &mut memo, out) {
                    break;
                }
            }
        } else {
            for i in 0..policy.policies.len() {
                if self.consider(policy, i, req, phase, &mut memo, out) {
                    break;
                }
            }
        }
        self.memo = memo;
    }

    /// Evaluates policy `i` in evaluation order and records it if it holds;
    /// `true` when an enforce `allow` stops the evaluation.
    fn consider(
        &mut self,
        policy: &CompiledPolicy,
        i: usize,
        req: &Req<'_, '_>,
        phase: PolicyPhase,
        memo: &mut Vec<u8>,
        out: &mut Verdict,
    ) -> bool {
        let p = &policy.policies[i];
        let dry_run = req.dry_run;
        if (p.mode == Mode::Off && !dry_run) || p.phase != phase {
            return false;
        }
        if !self.policy_holds(policy, i, req, memo, out.score) {
            return false;
        }
        let enforce = p.mode == Mode::Enforce;
        out.hits.push(Hit {
            policy: i,
            monitor: !enforce,
        });
        // A monitor policy is being tried out: it must not tip an enforce
        // score threshold into acting (dry runs count everything).
        if enforce || dry_run {
            out.score = out.score.saturating_add(p.score);
        }
        if !enforce {
            return false;
        }
        if out.decision.is_none() && p.action.terminates() {
            out.decision = Some(i);
        }
        if p.action == Action::Allow && !dry_run {
            // Stops the later policies; an earlier terminating policy
            // has already decided and keeps its decision.
            out.allowed_by = Some(i);
            return true;
        }
        false
    }

    /// The request's header fingerprint, remembered while the method,
    /// version and header names (in order, as sent) stay the same.
    fn header_fingerprint(&mut self, req: &Req<'_, '_>) -> [u8; HFP_LEN] {
        let (method, version, headers) =
            (req.view.method, req.facts.http_version, req.view.headers);
        // The key: version, method, then each name with its length, so no
        // two different inputs give the same key.
        let fits = 1 + method.len() + headers.iter().map(|(n, _)| n.len() + 2).sum::<usize>()
            <= HFP_KEY_MAX;
        let same = fits && {
            let key = &self.hfp_key;
            let mut at = 0;
            let mut take = |bytes: &[u8]| {
                let ok = key.get(at..at + bytes.len()) == Some(bytes);
                at += bytes.len();
                ok
            };
            self.hfp.is_some()
                && take(&[version])
                && take(method)
                && headers
                    .iter()
                    .all(|(n, _)| take(&(n.len() as u16).to_le_bytes()) && take(n))
                && at == key.len()
        };
        if same {
            if let Some(fp) = self.hfp {
                return fp;
            }
        }
        let mut out = [0u8; HFP_LEN];
        header_fingerprint(method, version, headers, &mut out);
        self.hfp = None;
        if fits {
            self.hfp_key.clear();
            self.hfp_key.push(version);
            self.hfp_key.extend_from_slice(method);
            for (n, _) in headers {
                self.hfp_key
                    .extend_from_slice(&(n.len() as u16).to_le_bytes());
                self.hfp_key.extend_from_slice(n);
            }
            self.hfp = Some(out);
        }
        out
    }

    fn policy_holds(
        &mut self,
        policy: &CompiledPolicy,
        i: usize,
        req: &Req<'_, '_>,
        memo: &mut Vec<u8>,
        score: u32,
    ) -> bool {
        match memo[i] {
            YES => return true,
            NO | BUSY => return false,
            _ => {}
        }
        if req.gated && !policy.gates().open(i, req.matches, req.gate_facts) {
            memo[i] = NO;
            return false;
        }
        memo[i] = BUSY;
        let p = &policy.policies[i];
        let excluded = p
            .exclusions
            .iter()
            .any(|e| e.field.is_none() && exclusion_applies(e, req));
        let holds = !excluded && self.cond(policy, p, &p.condition, req, memo, score);
        memo[i] = if holds { YES } else { NO };
        holds
    }

    #[allow(clippy::too_many_arguments)]
    fn cond(
        &mut self,
        policy: &CompiledPolicy,
        p: &Policy,
        c: &Cond,
        req: &Req<'_, '_>,
        memo: &mut Vec<u8>,
        score: u32,
    ) -> bool {
        match c {
            Cond::All(v) => v.iter().all(|c| self.cond(policy, p, c, req, memo, score)),
            Cond::Any(v) => v.iter().any(|c| self.cond(policy, p, c, req, memo, score)),
            Cond::Not(c) => !self.cond(policy, p, c, req, memo, score),
            Cond::Signature {
                resolved, fields, ..
            }
            | Cond::SignatureTag {
                resolved, fields, ..
            } => resolved
                .iter()
                .any(|&s| signature_counts(p, s, fields, req)),
            Cond::Method(m) => m.iter().any(|m| m.as_slice() == req.view.method),
            Cond::Path(globs) => globs.iter().any(|g| g.matches(req.path, b'/')),
            Cond::PathRegex(re) => re.is_match(req.path),
            Cond::Route(globs) => globs.iter().any(|g| g.matches(req.path, b'/')),
            Cond::Host(globs) => {
                let host = request_host(req.view);
                globs.iter().any(|g| g.matches_caseless(host, b'.'))
            }
            Cond::Header(name, t) => {
                let mut any = false;
                for (n, v) in req.view.headers {
                    if n.eq_ignore_ascii_case(name) {
                        any = true;
                        if value_test(t, v) {
                            return true;
                        }
                    }
                }
                any && matches!(t, ValueTest::Present)
            }
            Cond::Arg(name, t) => {
                let q = req.view.query().unwrap_or_default();
                let (a, b) = (&mut self.arg_a, &mut self.arg_b);
                q.split(|&b| b == b'&').any(|pair| {
                    let (n, v) = split_pair(pair);
                    decode_arg(n, a, b).eq_ignore_ascii_case(name)
                        && value_test(t, decode_arg(v, a, b))
                })
            }
            Cond::Cookie(name, t) => req
                .view
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
                .any(|(_, v)| {
                    v.split(|&b| b == b';').any(|pair| {
                        let (n, val) = split_pair(pair.trim_ascii());
                        n.eq_ignore_ascii_case(name) && value_test(t, val.trim_ascii())
                    })
                }),
            Cond::List { resolved, key, .. } => {
                let Some(list) = policy.lists.get(*resolved) else {
                    return false;
                };
                match key {
                    ListKey::ClientIp => list.contains_ip(req.facts.client_ip),
                    ListKey::Password => req
                        .facts
                        .password
                        .is_some_and(|pw| list.contains_password(pw)),
                    ListKey::UserPassword => {
                        match (identity(req, IdentityProp::User), req.facts.password) {
                            (Some(user), Some(pw)) => list.contains_pair(user, pw),
                            _ => false,
                        }
                    }
                    ListKey::HeaderFingerprint => {
                        let fp = self.header_fingerprint(req);
                        list.contains_str(&fp, &mut self.buf)
                    }
                    ListKey::Ja4 => req
                        .facts
                        .ja4
                        .is_some_and(|v| list.contains_str(v, &mut self.buf)),
                    ListKey::Ja3 => req
                        .facts
                        .ja3
                        .is_some_and(|v| list.contains_str(v, &mut self.buf)),
                    ListKey::Header(h) => req
                        .view
                        .headers
                        .iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case(h))
                        .any(|(_, v)| list.contains_str(v.trim_ascii(), &mut self.buf)),
                    ListKey::Arg(arg) => {
                        let (a, b, buf) = (&mut self.arg_a, &mut self.arg_b, &mut self.buf);
                        req.view
                            .query()
                            .unwrap_or_default()
                            .split(|&b| b == b'&')
                            .any(|pair| {
                                let (n, v) = split_pair(pair);
                                decode_arg(n, a, b).eq_ignore_ascii_case(arg)
                                    && list.contains_str(decode_arg(v, a, b), buf)
                            })
                    }
                    ListKey::Identity(prop) => {
                        identity(req, *prop).is_some_and(|v| list.contains_str(v, &mut self.buf))
                    }
                }
            }
            Cond::Counter {
                counter,
                cmp,
                value,
                ..
            } => cmp.test(measure(*counter, req), *value),
            Cond::Identity(prop, t) => identity(req, *prop).is_some_and(|v| value_test(t, v)),
            Cond::Tls(prop, t) => tls_fact(req, *prop).is_some_and(|v| value_test(t, v)),
            Cond::Anomaly(a) => anomaly(*a, req.matches),
            // A policy in mode off is skipped: it never matches (except in
            // a dry run, where every policy is evaluated).
            Cond::Policy { resolved, .. } => policy.policies.get(*resolved).is_some_and(|r| {
                (req.dry_run || r.mode != Mode::Off)
                    && self.policy_holds(policy, *resolved, req, memo, score)
            }),
            Cond::ScoreAtLeast(n, _) => u64::from(score) >= *n,
            Cond::ResponseStatus(ranges) => req
                .response
                .is_some_and(|r| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&r.status))),
            Cond::ResponseHeader(name, t) => req.response.is_some_and(|r| {
                let mut any = false;
                for (n, v) in r.headers {
                    if n.eq_ignore_ascii_case(name) {
                        any = true;
                        if value_test(t, v) {
                            return true;
                        }
                    }
                }
                any && matches!(t, ValueTest::Present)
            }),
        }
    }
}

fn tls_fact<'r>(req: &'r Req<'_, '_>, prop: TlsProp) -> Option<&'r [u8]> {
    let f = &req.facts;
    match prop {
        TlsProp::Version => f.tls[0],
        TlsProp::Sni => f.tls[1],
        TlsProp::Alpn => f.tls[2],
        TlsProp::Ja4 => f.ja4,
        TlsProp::Ja3 => f.ja3,
        TlsProp::ClientSubject => f.tls[3],
        TlsProp::ClientCn => f.tls[4],
    }
}

fn identity<'r>(req: &'r Req<'_, '_>, prop: IdentityProp) -> Option<&'r [u8]> {
    req.facts.identity[prop.index()]
}

/// The host a `host` condition tests: the Host header without its port.
fn request_host<'v>(view: &RequestView<'v>) -> &'v [u8] {
    strip_port(view.header(b"host").unwrap_or_default())
}

fn strip_port(host: &[u8]) -> &[u8] {
    if host.first() == Some(&b'[') {
        return match memchr::memchr(b']', host) {
            Some(e) => &host[..=e],
            None => host,
        };
    }
    match memchr::memrchr(b':', host) {
        Some(i) => &host[..i],
        None => host,
    }
}

/// A query argument's name or value as the application reads it: `+` is a
/// space and `%XX` escapes are decoded (raw, `a%20b` could never equal `a b`,
/// and `%64ebug` would slip past a test on `debug`).
fn decode_arg<'a>(raw: &'a [u8], a: &'a mut Vec<u8>, b: &'a mut Vec<u8>) -> &'a [u8] {
    if !raw.iter().any(|&c| c == b'%' || c == b'+') {
        return raw;
    }
    apply_chain(&[Transform::PlusToSpace, Transform::UrlDecode], raw, a, b).0
}

fn split_pair(pair: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b'=', pair) {
        Some(i) => (&pair[..i], &pair[i + 1..]),
        None => (pair, &[]),
    }
}

fn contains_caseless(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn value_test(t: &ValueTest, v: &[u8]) -> bool {
    match t {
        ValueTest::Present => true,
        ValueTest::Equals(x) => v.eq_ignore_ascii_case(x),
        ValueTest::Contains(x) => contains_caseless(v, x),
        ValueTest::Prefix(x) => v.len() >= x.len() && v[..x.len()].eq_ignore_ascii_case(x),
        ValueTest::Matches(re) => re.is_match(v),
    }
}

pub(crate) fn anomaly(a: Anomaly, m: &Matches) -> bool {
    let bit = match a {
        Anomaly::DoubleEncoded => Anomalies::DOUBLE_ENCODED,
        Anomaly::InvalidEscape => Anomalies::INVALID_ESCAPE,
        Anomaly::InvalidUtf8 => Anomalies::INVALID_UTF8,
        Anomaly::OverlongUtf8 => Anomalies::OVERLONG_UTF8,
        Anomaly::NulByte => Anomalies::NUL_BYTE,
        Anomaly::BodyMalformed => return matches!(m.body, BodyParse::Malformed(_)),
        Anomaly::FieldsTruncated => return m.truncated,
    };
    m.anomalies.contains(bit)
}

fn measure(c: Counter, req: &Req<'_, '_>) -> u64 {
    if c.is_request_measure() {
        request_measure(c, req.view, req.path, req.facts.body_len, req.matches)
    } else {
        req.facts.counters.get(c.0 as usize).copied().unwrap_or(0)
    }
}

/// A measure of the request itself (`request.*`); `path` is the decoded,
/// normalised path.
fn request_measure(
    c: Counter,
    v: &RequestView<'_>,
    path: &[u8],
    body_len: u64,
    matches: &Matches,
) -> u64 {
    match c {
        Counter::BODY_BYTES => body_len.max(v.body.len() as u64),
        Counter::HEADER_COUNT => v.headers.len() as u64,
        Counter::HEADER_BYTES => v
            .headers
            .iter()
            .map(|(n, x)| (n.len() + x.len() + 4) as u64)
            .sum(),
        Counter::ARG_COUNT => v.query().map_or(0, |q| {
            q.split(|&b| b == b'&').filter(|p| !p.is_empty()).count() as u64
        }),
        Counter::PATH_DEPTH => path.split(|&b| b == b'/').filter(|s| !s.is_empty()).count() as u64,
        Counter::TARGET_BYTES => v.target.len() as u64,
        Counter::JSON_DEPTH => u64::from(matches.json_depth),
        _ => 0,
    }
}

/// The request measures whose bit is set in `read`, for the gates.
fn request_measures(
    read: u8,
    v: &RequestView<'_>,
    path: &[u8],
    body_len: u64,
    matches: &Matches,
) -> [u64; REQUEST_MEASURES as usize] {
    let mut out = [0; REQUEST_MEASURES as usize];
    for (i, m) in out.iter_mut().enumerate() {
        if read & (1 << i) != 0 {
            *m = request_measure(Counter(i as u16), v, path, body_len, matches);
        }
    }
    out
}

fn exclusion_applies(e: &Exclusion, req: &Req<'_, '_>) -> bool {
    (e.paths.is_empty() || e.paths.iter().any(|g| g.matches(req.path, b'/')))
        && (e.methods.is_empty() || e.methods.iter().any(|m| m.as_slice() == req.view.method))
        && (e.clients.is_empty() || e.clients.iter().any(|n| n.contains(&req.facts.client_ip)))
}

/// Whether signature `s` matched somewhere that counts for policy `p`.
fn signature_counts(
    p: &Policy,
    s: u32,
    fields: &[crate::model::FieldSel],
    req: &Req<'_, '_>,
) -> bool {
    let m = req.matches;
    if !m.matched(s) {
        return false;
    }
    let has_field_exclusions = p.exclusions.iter().any(|e| e.field.is_some());
    if fields.is_empty() && !has_field_exclusions {
        return true;
    }
    m.iter().filter(|x| x.signature == s).any(|x| {
        let name = m.name(x);
        (fields.is_empty() || fields.iter().any(|f| f.selects(x.kind, name)))
            && !p.exclusions.iter().any(|e| {
                e.field.as_ref().is_some_and(|f| f.selects(x.kind, name))
                    && exclusion_applies(e, req)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::{DryFacts, RawRequest};
    use crate::{load, LoadOptions, PackSource};
    use rampart_matcher::{ScanLimits, Scanner};

    /// Gates only skip policies that cannot hold: on every example of the
    /// default pack (attacks and benign requests, with their facts), the
    /// gated evaluation gives exactly the verdict of evaluating every policy.
    #[test]
    fn gates_never_change_a_verdict() {
        let p = load(&LoadOptions {
            packs: vec![PackSource::EmbeddedDefault],
            ..LoadOptions::default()
        })
        .expect("default pack")
        .policy;
        let mut scanner = Scanner::new(&p.matcher, ScanLimits::default()).expect("scanner");
        let mut matches = scanner.new_matches();
        let (mut gated, mut full) = (Evaluator::new(), Evaluator::new());
        full.use_gates = false;
        let (mut a, mut b) = (Evaluator::new_verdict(&p), Evaluator::new_verdict(&p));
        let mut checked = 0;
        // Response examples are judged by the response policies, ungated.
        let requests = p
            .policies
            .iter()
            .flat_map(|x| &x.examples)
            .filter(|e| e.response.is_none());
        for e in requests {
            let req = RawRequest::parse(e.request.as_bytes()).expect("example parses");
            let facts = DryFacts::from_example(e);
            let headers = req.header_pairs();
            let view = RequestView {
                method: &req.method,
                target: &req.target,
                headers: &headers,
                body: &req.body,
            };
            scanner.scan_request(&view, &mut matches).expect("scan");
            let f = Facts {
                client_ip: facts.client_ip.unwrap_or(IpAddr::from([203, 0, 113, 10])),
                counters: &facts.counters,
                identity: std::array::from_fn(|i| facts.identity[i].as_deref()),
                ja4: facts.ja4.as_deref(),
                ja3: facts.ja3.as_deref(),
                tls: std::array::from_fn(|i| facts.tls[i].as_deref()),
                password: facts.password.as_deref(),
                body_len: req.body.len() as u64,
                http_version: 11,
            };
            for dry_run in [false, true] {
                gated.evaluate(&p, &view, &matches, &f, dry_run, &mut a);
                full.evaluate(&p, &view, &matches, &f, dry_run, &mut b);
                assert_eq!(a.hits, b.hits, "{}", e.request);
                assert_eq!(
                    (a.decision, a.allowed_by, a.score),
                    (b.decision, b.allowed_by, b.score),
                    "{}",
                    e.request
                );
            }
            checked += 1;
        }
        assert!(checked > 800, "only {checked} examples");
    }
}
