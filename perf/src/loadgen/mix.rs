//! Request mixes: templates from a TOML file (or a built-in one), rendered
//! to wire bytes before the run, and the order connections send them in.
//!
//! Everything per-request is decided here, up front: the run itself only
//! copies prepared bytes, so the generator allocates nothing per request and
//! the same seed sends the same sequence.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::rng::Rng;

use super::target::Target;

/// Entries in the send order; connections start at different offsets of it.
const ORDER_LEN: usize = 1 << 16;
/// Upper bound on the bytes of all rendered variants together.
const MAX_RENDERED: usize = 256 << 20;
/// Passwords for `{password}`: what credential-stuffing lists are full of.
const PASSWORDS: &[&str] = &[
    "123456",
    "password",
    "123456789",
    "qwerty",
    "12345678",
    "111111",
    "letmein",
    "welcome1",
    "Password1",
    "iloveyou",
    "dragon",
    "monkey",
    "sunshine",
    "princess",
    "football",
    "admin123",
];

/// The mixes shipped in the binary, by `--mix` name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("api", include_str!("../../mixes/api.toml")),
    (
        "credential-stuffing",
        include_str!("../../mixes/credential-stuffing.toml"),
    ),
    ("enumeration", include_str!("../../mixes/enumeration.toml")),
];

/// One prepared request: where its bytes are in [`RequestSet::data`].
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub start: u32,
    pub len: u32,
    /// Index into [`RequestSet::classes`].
    pub class: u16,
    /// A HEAD request: its response has no body whatever its headers say.
    pub head: bool,
}

/// Every request of the run, rendered.
#[derive(Debug)]
pub struct RequestSet {
    pub data: Vec<u8>,
    pub spans: Vec<Span>,
    pub classes: Vec<String>,
    /// Indices into `spans`, drawn by weight; connections walk it cyclically.
    pub order: Vec<u32>,
    /// The longest request, for sizing write buffers.
    pub max_len: usize,
}

impl RequestSet {
    /// The bytes of request `span`.
    pub fn bytes(&self, span: &Span) -> &[u8] {
        &self.data[span.start as usize..(span.start + span.len) as usize]
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MixFile {
    request: Vec<TemplateSpec>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct TemplateSpec {
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    method: Option<String>,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
}

/// A piece of a template string.
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Lit(String),
    Seq,
    Num(u64, u64),
    User,
    Token,
    ApiKey,
    Session,
    Password,
    Hex(usize),
}

struct Template {
    class: String,
    weight: f64,
    method: String,
    path: Vec<Piece>,
    headers: Vec<(String, Vec<Piece>)>,
    body: Option<Vec<Piece>>,
}

impl Template {
    fn varies(&self) -> bool {
        let v = |p: &[Piece]| p.iter().any(|x| !matches!(x, Piece::Lit(_)));
        v(&self.path)
            || self.headers.iter().any(|(_, h)| v(h))
            || self.body.as_deref().is_some_and(v)
    }
}

/// How the run's requests are chosen.
pub struct MixOptions<'a> {
    pub mix: Option<&'a str>,
    pub method: &'a str,
    pub headers: &'a [String],
    pub body: Option<Vec<u8>>,
    pub attack_ratio: Option<f64>,
    pub identities: usize,
    pub seed: u64,
}

/// Builds the run's requests: the single request of the command line, a
/// built-in mix, the `corpus`, or a mix file.
pub fn build(target: &Target, o: &MixOptions) -> Result<RequestSet> {
    if o.identities == 0 {
        bail!("--identities must be at least 1");
    }
    if let Some(r) = o.attack_ratio {
        if !(0.0..=1.0).contains(&r) {
            bail!("--attack-ratio {r}: must be between 0 and 1");
        }
    }
    let (templates, name) = match o.mix {
        None => {
            if o.attack_ratio.is_some() {
                bail!("--attack-ratio needs a --mix with an `attack` class");
            }
            (vec![single(target, o)?], "command line".to_string())
        }
        Some("corpus") => return corpus(target, o),
        Some(m) => {
            let (text, name) = match BUILT_IN.iter().find(|(n, _)| *n == m) {
                Some((_, text)) => (text.to_string(), format!("built-in mix `{m}`")),
                None => {
                    let p = Path::new(m);
                    if !p.exists() {
                        let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                        bail!(
                            "--mix `{m}`: no such file, and not a built-in mix ({}, corpus)",
                            names.join(", ")
                        );
                    }
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read mix file `{m}`"))?;
                    (text, format!("mix file `{m}`"))
                }
            };
            (parse_mix(&text).with_context(|| name.clone())?, name)
        }
    };
    render(target, &templates, o).with_context(|| name)
}

fn single(target: &Target, o: &MixOptions) -> Result<Template> {
    let mut headers = Vec::new();
    for h in o.headers {
        let (n, v) = h
            .split_once(':')
            .with_context(|| format!("--header `{h}`: expected `Name: value`"))?;
        check_header(n.trim(), v.trim()).with_context(|| format!("--header `{h}`"))?;
        headers.push((n.trim().to_string(), vec![Piece::Lit(v.trim().to_string())]));
    }
    check_method(o.method)?;
    let body = match &o.body {
        Some(b) => Some(vec![Piece::Lit(
            String::from_utf8(b.clone()).context("the body must be UTF-8 text")?,
        )]),
        None => None,
    };
    Ok(Template {
        class: "default".into(),
        weight: 1.0,
        method: o.method.to_string(),
        path: vec![Piece::Lit(target.path.clone())],
        headers,
        body,
    })
}

fn parse_mix(text: &str) -> Result<Vec<Template>> {
    let file: MixFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if file.request.is_empty() {
        bail!("no [[request]] in the mix");
    }
    let mut out = Vec::with_capacity(file.request.len());
    for (i, t) in file.request.iter().enumerate() {
        let n = i + 1;
        let ctx = || format!("[[request]] #{n} (path `{}`)", t.path);
        let method = t.method.clone().unwrap_or_else(|| "GET".into());
        check_method(&method).with_context(ctx)?;
        if !t.path.starts_with('/') {
            bail!("{}: the path must start with `/`", ctx());
        }
        let weight = t.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            bail!("{}: weight must be a positive number", ctx());
        }
        let mut headers = Vec::new();
        for (k, v) in &t.headers {
            check_header(k, v).with_context(ctx)?;
            headers.push((k.clone(), pieces(v).with_context(ctx)?));
        }
        out.push(Template {
            class: t.class.clone().unwrap_or_else(|| "default".into()),
            weight,
            method,
            path: pieces(&t.path).with_context(ctx)?,
            headers,
            body: t
                .body
                .as_deref()
                .map(pieces)
                .transpose()
                .with_context(ctx)?,
        });
    }
    Ok(out)
}

fn check_method(m: &str) -> Result<()> {
    if m.is_empty()
        || !m
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        bail!("method `{m}`: expected an upper-case token such as GET or POST");
    }
    Ok(())
}

fn check_header(n: &str, v: &str) -> Result<()> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if n.is_empty() || !n.bytes().all(token) {
        bail!("header name `{n}` is not a token");
    }
    if v.bytes().any(|b| b == b'\r' || b == b'\n') {
        bail!("header `{n}`: the value contains a line break");
    }
    if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding") {
        bail!("header `{n}`: framing is set from the body, do not give it");
    }
    Ok(())
}

/// Splits a template string into literals and placeholders. A `{` that does
/// not open a known `{name}` or `{name:args}` is literal (JSON bodies are
/// full of them); an unknown lower-case `{word}` is a typo and an error.
fn pieces(s: &str) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let close = after.find('}');
        let inner = close.map(|c| &after[..c]);
        let placeholder = inner.filter(|x| {
            let name = x.split(':').next().unwrap_or("");
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase())
        });
        match placeholder {
            Some(x) => {
                let (name, args) = match x.split_once(':') {
                    Some((n, a)) => (n, Some(a)),
                    None => (x, None),
                };
                let p = match (name, args) {
                    ("seq", None) => Piece::Seq,
                    ("user", None) => Piece::User,
                    ("token", None) => Piece::Token,
                    ("apikey", None) => Piece::ApiKey,
                    ("session", None) => Piece::Session,
                    ("password", None) => Piece::Password,
                    ("hex", Some(a)) => match a.parse::<usize>() {
                        Ok(n) if (1..=256).contains(&n) => Piece::Hex(n),
                        _ => bail!("`{{{x}}}`: expected {{hex:N}} with N in 1..=256"),
                    },
                    ("n", Some(a)) => {
                        let r = a.split_once('-').and_then(|(lo, hi)| {
                            Some((lo.parse::<u64>().ok()?, hi.parse::<u64>().ok()?))
                        });
                        match r {
                            Some((lo, hi)) if lo <= hi => Piece::Num(lo, hi),
                            _ => bail!("`{{{x}}}`: expected {{n:LOW-HIGH}}"),
                        }
                    }
                    _ => bail!(
                        "unknown placeholder `{{{x}}}` (known: {{seq}} {{n:A-B}} {{user}} {{token}} {{apikey}} {{session}} {{password}} {{hex:N}})"
                    ),
                };
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(p);
                rest = &after[x.len() + 1..];
            }
            None => {
                lit.push('{');
                rest = after;
            }
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

/// Stable per-identity strings: the same identity index always renders the
/// same user, token and key, so behaviour counters see consistent clients.
fn identity_hex(kind: u64, idx: usize, len: usize) -> String {
    let mut r = Rng::new(kind.wrapping_mul(0x9e37_79b9) ^ idx as u64);
    r.hex(len)
}

fn expand(pieces: &[Piece], out: &mut String, seq: usize, ident: usize, rng: &mut Rng) {
    for p in pieces {
        match p {
            Piece::Lit(s) => out.push_str(s),
            Piece::Seq => {
                let _ = write!(out, "{seq}");
            }
            Piece::Num(lo, hi) => {
                let _ = write!(out, "{}", lo + rng.next_u64() % (hi - lo + 1));
            }
            Piece::User => {
                let _ = write!(out, "user{ident:06}");
            }
            Piece::Token => out.push_str(&identity_hex(1, ident, 32)),
            Piece::ApiKey => {
                out.push_str("key-");
                out.push_str(&identity_hex(2, ident, 24));
            }
            Piece::Session => out.push_str(&identity_hex(3, ident, 32)),
            Piece::Password => out.push_str(PASSWORDS[rng.below(PASSWORDS.len())]),
            Piece::Hex(n) => out.push_str(&rng.hex(*n)),
        }
    }
}

fn render(target: &Target, templates: &[Template], o: &MixOptions) -> Result<RequestSet> {
    let mut classes: Vec<String> = Vec::new();
    for t in templates {
        if !classes.contains(&t.class) {
            classes.push(t.class.clone());
        }
    }
    let shares = shares(templates, o.attack_ratio)?;
    let variants_each = (ORDER_LEN / templates.len()).clamp(64, 4096);
    let mut rng = Rng::new(o.seed);
    let mut data = Vec::new();
    let mut spans = Vec::new();
    // first span index and variant count of each template
    let mut ranges = Vec::with_capacity(templates.len());
    let mut text = String::new();
    let mut body = String::new();
    for t in templates {
        let n = if t.varies() { variants_each } else { 1 };
        ranges.push((spans.len(), n));
        let class = classes.iter().position(|c| *c == t.class).unwrap_or(0) as u16;
        for k in 0..n {
            let ident = rng.below(o.identities);
            text.clear();
            body.clear();
            text.push_str(&t.method);
            text.push(' ');
            expand(&t.path, &mut text, k + 1, ident, &mut rng);
            text.push_str(" HTTP/1.1\r\n");
            let has = |name: &str| t.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(name));
            if !has("host") {
                let _ = write!(text, "Host: {}\r\n", target.authority);
            }
            if !has("user-agent") {
                let _ = write!(
                    text,
                    "User-Agent: rampart-bench/{}\r\n",
                    env!("CARGO_PKG_VERSION")
                );
            }
            for (name, v) in &t.headers {
                text.push_str(name);
                text.push_str(": ");
                expand(v, &mut text, k + 1, ident, &mut rng);
                text.push_str("\r\n");
            }
            if let Some(b) = &t.body {
                expand(b, &mut body, k + 1, ident, &mut rng);
                let _ = write!(text, "Content-Length: {}\r\n", body.len());
            }
            text.push_str("\r\n");
            text.push_str(&body);
            push_span(
                &mut data,
                &mut spans,
                text.as_bytes(),
                class,
                t.method == "HEAD",
            )?;
        }
    }
    let order = draw_order(&shares, &ranges, &mut rng);
    let max_len = spans.iter().map(|s| s.len as usize).max().unwrap_or(0);
    Ok(RequestSet {
        data,
        spans,
        classes,
        order,
        max_len,
    })
}

fn push_span(
    data: &mut Vec<u8>,
    spans: &mut Vec<Span>,
    bytes: &[u8],
    class: u16,
    head: bool,
) -> Result<()> {
    if data.len() + bytes.len() > MAX_RENDERED {
        bail!(
            "the rendered requests exceed {} MiB: use fewer or smaller requests",
            MAX_RENDERED >> 20
        );
    }
    spans.push(Span {
        start: data.len() as u32,
        len: bytes.len() as u32,
        class,
        head,
    });
    data.extend_from_slice(bytes);
    Ok(())
}

/// Each template's share of the traffic: its weight, rescaled so the
/// `attack` class gets `attack_ratio` of it when that is set.
fn shares(templates: &[Template], attack_ratio: Option<f64>) -> Result<Vec<f64>> {
    let w: Vec<f64> = templates.iter().map(|t| t.weight).collect();
    let Some(r) = attack_ratio else { return Ok(w) };
    let is_attack = |t: &Template| t.class == "attack";
    let attack: f64 = templates
        .iter()
        .zip(&w)
        .filter(|(t, _)| is_attack(t))
        .map(|(_, w)| w)
        .sum();
    let other: f64 = templates
        .iter()
        .zip(&w)
        .filter(|(t, _)| !is_attack(t))
        .map(|(_, w)| w)
        .sum();
    if attack == 0.0 && r > 0.0 {
        bail!("--attack-ratio: the mix has no request of class `attack`");
    }
    if other == 0.0 && r < 1.0 {
        bail!("--attack-ratio: the mix has only `attack` requests");
    }
    Ok(templates
        .iter()
        .zip(&w)
        .map(|(t, w)| {
            if is_attack(t) {
                r * w / attack
            } else {
                (1.0 - r) * w / other
            }
        })
        .collect())
}

/// The send order: each entry picks a template by share, then that
/// template's next variant (so `{seq}` counts up as the run goes).
fn draw_order(shares: &[f64], ranges: &[(usize, usize)], rng: &mut Rng) -> Vec<u32> {
    let total: f64 = shares.iter().sum();
    let mut cumulative = Vec::with_capacity(shares.len());
    let mut acc = 0.0;
    for s in shares {
        acc += s / total;
        cumulative.push(acc);
    }
    let mut next = vec![0usize; ranges.len()];
    let mut order = Vec::with_capacity(ORDER_LEN);
    for _ in 0..ORDER_LEN {
        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let t = cumulative
            .iter()
            .position(|c| x < *c)
            .unwrap_or(ranges.len() - 1);
        // zero-share templates (attack_ratio 0 or 1) are never drawn
        let t = if shares[t] == 0.0 {
            shares.iter().position(|s| *s > 0.0).unwrap_or(t)
        } else {
            t
        };
        let (first, n) = ranges[t];
        order.push((first + next[t] % n) as u32);
        next[t] += 1;
    }
    order
}

/// The `corpus` mix: perf's deterministic request corpus (benign API traffic
/// and attacks in varied fields and encodings), classes `benign`/`attack`.
fn corpus(target: &Target, o: &MixOptions) -> Result<RequestSet> {
    let reqs = crate::corpus::corpus(o.seed, 4000);
    let classes = vec!["benign".to_string(), "attack".to_string()];
    let mut data = Vec::new();
    let mut spans = Vec::new();
    let mut bytes = Vec::new();
    for r in &reqs {
        bytes.clear();
        bytes.extend_from_slice(r.method.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(&r.target);
        bytes.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        bytes.extend_from_slice(target.authority.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        for (n, v) in &r.headers {
            if n.eq_ignore_ascii_case(b"host") {
                continue;
            }
            bytes.extend_from_slice(n);
            bytes.extend_from_slice(b": ");
            bytes.extend_from_slice(v);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(&r.body);
        push_span(
            &mut data,
            &mut spans,
            &bytes,
            u16::from(r.attack.is_some()),
            r.method == "HEAD",
        )?;
    }
    let attack_w = match o.attack_ratio {
        Some(r) => r / spans.iter().filter(|s| s.class == 1).count().max(1) as f64,
        None => 1.0,
    };
    let benign_w = match o.attack_ratio {
        Some(r) => (1.0 - r) / spans.iter().filter(|s| s.class == 0).count().max(1) as f64,
        None => 1.0,
    };
    let shares: Vec<f64> = spans
        .iter()
        .map(|s| if s.class == 1 { attack_w } else { benign_w })
        .collect();
    let ranges: Vec<(usize, usize)> = (0..spans.len()).map(|i| (i, 1)).collect();
    let mut rng = Rng::new(o.seed ^ 0xc0);
    let order = draw_order(&shares, &ranges, &mut rng);
    let max_len = spans.iter().map(|s| s.len as usize).max().unwrap_or(0);
    Ok(RequestSet {
        data,
        spans,
        classes,
        order,
        max_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::parse("http://127.0.0.1:18090/x").unwrap()
    }

    fn opts(mix: Option<&str>) -> MixOptions<'_> {
        MixOptions {
            mix,
            method: "GET",
            headers: &[],
            body: None,
            attack_ratio: None,
            identities: 10,
            seed: 1,
        }
    }

    #[test]
    fn placeholders_and_literal_braces() {
        let p = pieces(r#"{"u":"{user}","n":{n:1-5},"x":{}}"#).unwrap();
        assert_eq!(p[0], Piece::Lit(r#"{"u":""#.into()));
        assert_eq!(p[1], Piece::User);
        assert_eq!(p[3], Piece::Num(1, 5));
        assert_eq!(p.last().unwrap(), &Piece::Lit(r#","x":{}}"#.into()));
        for bad in ["/a/{sek}", "{hex:0}", "{n:5-1}", "{n:x}"] {
            assert!(pieces(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn single_request_is_framed() {
        let o = MixOptions {
            method: "POST",
            body: Some(b"{\"a\":1}".to_vec()),
            ..opts(None)
        };
        let set = build(&target(), &o).unwrap();
        assert_eq!(set.spans.len(), 1);
        let text = String::from_utf8(set.bytes(&set.spans[0]).to_vec()).unwrap();
        assert!(
            text.starts_with("POST /x HTTP/1.1\r\nHost: 127.0.0.1:18090\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("Content-Length: 7\r\n\r\n{\"a\":1}"),
            "{text}"
        );
    }

    #[test]
    fn attack_ratio_sets_the_share() {
        let o = MixOptions {
            attack_ratio: Some(0.25),
            ..opts(Some("api"))
        };
        let set = build(&target(), &o).unwrap();
        let attack = set.classes.iter().position(|c| c == "attack").unwrap() as u16;
        let n = set
            .order
            .iter()
            .filter(|&&i| set.spans[i as usize].class == attack)
            .count();
        let share = n as f64 / set.order.len() as f64;
        assert!((share - 0.25).abs() < 0.01, "{share}");
    }

    #[test]
    fn every_built_in_mix_renders() {
        for (name, _) in BUILT_IN {
            let set = build(&target(), &opts(Some(name))).unwrap();
            for s in &set.spans {
                let mut h = [httparse::EMPTY_HEADER; 32];
                let mut r = httparse::Request::new(&mut h);
                let n = match r.parse(set.bytes(s)).unwrap() {
                    httparse::Status::Complete(n) => n,
                    httparse::Status::Partial => panic!("{name}: partial request"),
                };
                let cl = r.headers.iter().find(|h| h.name == "Content-Length");
                let body = s.len as usize - n;
                assert_eq!(
                    cl.map_or(0, |h| std::str::from_utf8(h.value)
                        .unwrap()
                        .parse()
                        .unwrap()),
                    body
                );
            }
        }
        assert!(
            build(&target(), &opts(Some("corpus")))
                .unwrap()
                .classes
                .len()
                == 2
        );
    }

    #[test]
    fn bad_mixes_say_what_is_wrong() {
        let e = parse_mix("[[request]]\npath = \"x\"\n").err().unwrap();
        assert!(format!("{e:#}").contains("must start with `/`"), "{e:#}");
        let e = parse_mix("[[request]]\npath = \"/\"\nmethd = \"GET\"\n")
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("methd"), "{e:#}");
        let e = parse_mix("[[request]]\npath = \"/\"\nweight = 0\n")
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("weight"), "{e:#}");
        let e = build(&target(), &opts(Some("no-such-mix"))).err().unwrap();
        assert!(format!("{e:#}").contains("not a built-in mix"), "{e:#}");
    }
}
