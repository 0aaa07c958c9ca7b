//! A realistic WAF-style signature set of any size: a quarter regexes (the
//! hand-written rules first, then per-keyword regexes), the rest keyword
//! signatures (a few large literal lists, then single literals).
//!
//! Six transform chains, as a real rule set has: what a signature looks at
//! decides how it is normalised (args through URL decoding and lowercasing,
//! the User-Agent lowercased, the path decoded and normalised, the raw body
//! untouched).

mod rules;
mod vocab;

use rampart_matcher::{FieldKind as K, Pattern, SigFlags, Signature, Target, Transform as T};

pub use rules::RULES;

/// The transform chains of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    /// `[UrlDecode, Lowercase]`: argument, JSON, form and cookie values.
    Args,
    /// `[UrlDecode, HtmlEntityDecode, Lowercase]`: XSS.
    Xss,
    /// `[UrlDecode, CompressWhitespace, Lowercase]`: SQL keyword sequences.
    Sql,
    /// `[Lowercase]`: header values.
    Header,
    /// `[UrlDecode, NormalizePath]`: the path.
    Path,
    /// No transform: raw body and target.
    Raw,
}

impl Chain {
    pub fn transforms(self) -> &'static [T] {
        match self {
            Chain::Args => &[T::UrlDecode, T::Lowercase],
            Chain::Xss => &[T::UrlDecode, T::HtmlEntityDecode, T::Lowercase],
            Chain::Sql => &[T::UrlDecode, T::CompressWhitespace, T::Lowercase],
            Chain::Header => &[T::Lowercase],
            Chain::Path => &[T::UrlDecode, T::NormalizePath],
            Chain::Raw => &[],
        }
    }
}

/// The field sets signatures target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// Query, form, JSON and cookie values.
    Values,
    /// Values and the `Referer` header.
    ValuesReferer,
    /// Values and every header value.
    ValuesHeaders,
    /// Values and multipart part bodies.
    ValuesMultipart,
    /// Values and multipart file names.
    ValuesFilename,
    /// Values and the `Content-Type` header.
    ValuesContentType,
    /// Values and the path.
    ValuesPath,
    /// Values and argument / form / JSON names.
    ValuesNames,
    /// Argument, form and JSON key names.
    Names,
    /// JSON keys only.
    JsonKeys,
    /// The `User-Agent` header.
    UserAgent,
    /// Every header value.
    AllHeaders,
    /// Headers that carry URLs (`Referer`, `X-Forwarded-Host`, `X-Original-Url`).
    UrlHeaders,
    /// The path.
    PathOnly,
    /// The whole raw request target.
    TargetRaw,
    /// The raw body.
    Body,
    /// Multipart file names.
    Filename,
}

const VALUE_KINDS: [K; 4] = [K::ArgValue, K::FormValue, K::JsonValue, K::CookieValue];
const NAME_KINDS: [K; 3] = [K::ArgName, K::FormName, K::JsonKey];

impl Zone {
    pub fn targets(self) -> Vec<Target> {
        let values = || {
            VALUE_KINDS
                .iter()
                .map(|k| Target::all(*k))
                .collect::<Vec<_>>()
        };
        let names = || {
            NAME_KINDS
                .iter()
                .map(|k| Target::all(*k))
                .collect::<Vec<_>>()
        };
        let header = |n: &str| Target::named(K::HeaderValue, n);
        let with = |mut v: Vec<Target>, more: Vec<Target>| {
            v.extend(more);
            v
        };
        match self {
            Zone::Values => values(),
            Zone::ValuesReferer => with(values(), vec![header("referer")]),
            Zone::ValuesHeaders => with(values(), vec![Target::all(K::HeaderValue)]),
            Zone::ValuesMultipart => with(values(), vec![Target::all(K::MultipartValue)]),
            Zone::ValuesFilename => with(values(), vec![Target::all(K::MultipartFilename)]),
            Zone::ValuesContentType => with(values(), vec![header("content-type")]),
            Zone::ValuesPath => with(values(), vec![Target::all(K::Path)]),
            Zone::ValuesNames => with(values(), names()),
            Zone::Names => names(),
            Zone::JsonKeys => vec![Target::all(K::JsonKey)],
            Zone::UserAgent => vec![header("user-agent")],
            Zone::AllHeaders => vec![Target::all(K::HeaderValue)],
            Zone::UrlHeaders => vec![
                header("referer"),
                header("x-forwarded-host"),
                header("x-original-url"),
            ],
            Zone::PathOnly => vec![Target::all(K::Path)],
            Zone::TargetRaw => vec![Target::all(K::Target)],
            Zone::Body => vec![Target::all(K::Body)],
            Zone::Filename => vec![Target::all(K::MultipartFilename)],
        }
    }
}

fn caseless() -> SigFlags {
    SigFlags {
        caseless: true,
        ..SigFlags::default()
    }
}

fn sig(id: String, pattern: Pattern, chain: Chain, zone: Zone, nocase: bool) -> Signature {
    Signature {
        id,
        pattern,
        flags: if nocase {
            caseless()
        } else {
            SigFlags::default()
        },
        targets: zone.targets(),
        transforms: chain.transforms().to_vec(),
        origin: None,
    }
}

/// Escapes a keyword for a regex (`regex::escape`, which Hyperscan reads the same way).
fn esc(s: &str) -> String {
    regex::escape(s)
}

/// The keyword regex families, in the order they are interleaved.
fn keyword_regex(family: usize, i: usize) -> Option<(String, String, Chain, Zone)> {
    let word = |v: &[&str]| v.get(i).map(|w| w.to_string());
    Some(match family {
        0 => {
            let w = word(vocab::SQL_FUNCTIONS)?;
            (
                format!("rx-sqlfn-{w}"),
                format!(r"\b{}\s*\(", esc(&w)),
                Chain::Sql,
                Zone::Values,
            )
        }
        1 => {
            let w = word(vocab::PHP_FUNCTIONS)?;
            (
                format!("rx-phpfn-{w}"),
                format!(r"\b{}\s*\(", esc(&w)),
                Chain::Args,
                Zone::ValuesMultipart,
            )
        }
        2 => {
            let w = word(vocab::SHELL_COMMANDS)?;
            (
                format!("rx-shell-{w}"),
                format!(r"(?:[;&|\x60]|\$\()\s*{}\b", esc(&w)),
                Chain::Args,
                Zone::Values,
            )
        }
        3 => {
            let w = word(vocab::XSS_EVENTS)?;
            (
                format!("rx-event-{w}"),
                format!(r"\b{}\s*=", esc(&w)),
                Chain::Xss,
                Zone::ValuesReferer,
            )
        }
        4 => {
            let w = word(vocab::JAVA_CLASSES)?;
            let p = w.split('.').map(esc).collect::<Vec<_>>().join(r"\s*\.\s*");
            (
                format!("rx-java-{w}"),
                format!(r"\b{p}\b"),
                Chain::Args,
                Zone::ValuesContentType,
            )
        }
        5 => {
            let w = word(vocab::SENSITIVE_FILES)?;
            let p = w.split('/').map(esc).collect::<Vec<_>>().join(r"[/\\]+");
            (format!("rx-file-{w}"), p, Chain::Args, Zone::Values)
        }
        6 => {
            let w = word(vocab::SCANNER_AGENTS)?;
            (
                format!("rx-agent-{w}"),
                format!(r"\b{}", esc(&w)),
                Chain::Header,
                Zone::UserAgent,
            )
        }
        _ => return None,
    })
}

const REGEX_FAMILIES: usize = 7;

fn regexes(n: usize) -> Vec<Signature> {
    let mut out = Vec::with_capacity(n);
    let mut per_cat = std::collections::HashMap::new();
    for (cat, chain, zone, nocase, pattern) in RULES.iter().take(n) {
        let k = per_cat.entry(*cat).or_insert(0);
        *k += 1;
        out.push(sig(
            format!("rx-{cat}-{k:03}"),
            Pattern::Regex(pattern.to_string()),
            *chain,
            *zone,
            *nocase,
        ));
    }
    let mut i = 0;
    while out.len() < n {
        let mut any = false;
        for f in 0..REGEX_FAMILIES {
            if out.len() == n {
                break;
            }
            if let Some((id, p, chain, zone)) = keyword_regex(f, i) {
                any = true;
                out.push(sig(id, Pattern::Regex(p), chain, zone, false));
            }
        }
        if !any {
            break;
        }
        i += 1;
    }
    out
}

fn list(entries: impl IntoIterator<Item = String>) -> Pattern {
    let mut v: Vec<Vec<u8>> = entries.into_iter().map(String::into_bytes).collect();
    v.sort();
    v.dedup();
    Pattern::Literals(v)
}

/// The large `.data`-style lists (one signature each).
fn lists() -> Vec<Signature> {
    let calls = |v: &[&str], prefix: &str| {
        v.iter()
            .map(|w| format!("{prefix}{w}("))
            .collect::<Vec<_>>()
    };
    let shell: Vec<String> = vocab::SHELL_COMMANDS
        .iter()
        .flat_map(|c| {
            [
                "/bin/",
                "/usr/bin/",
                ";",
                "; ",
                "|",
                "| ",
                "`",
                "$(",
                "&&",
                "&& ",
                "||",
            ]
            .iter()
            .map(move |p| {
                if p.ends_with('/') {
                    format!("{p}{c}")
                } else {
                    format!("{p}{c} ")
                }
            })
        })
        .collect();
    let java: Vec<String> = vocab::JAVA_CLASSES
        .iter()
        .flat_map(|c| [c.to_string(), c.replace('.', "/")])
        .collect();
    let xss: Vec<String> = vocab::XSS_TOKENS
        .iter()
        .map(|t| t.to_string())
        .chain(vocab::XSS_EVENTS.iter().map(|e| format!("{e}=")))
        .collect();
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        sig(
            "list-sql-functions".into(),
            list(calls(vocab::SQL_FUNCTIONS, "")),
            Chain::Args,
            Zone::Values,
            false,
        ),
        sig(
            "list-php-functions".into(),
            list(calls(vocab::PHP_FUNCTIONS, "")),
            Chain::Args,
            Zone::ValuesMultipart,
            false,
        ),
        sig(
            "list-unix-shell".into(),
            list(shell),
            Chain::Sql,
            Zone::Values,
            false,
        ),
        sig(
            "list-java-classes".into(),
            list(java),
            Chain::Args,
            Zone::ValuesContentType,
            false,
        ),
        sig(
            "list-lfi-files-path".into(),
            list(own(vocab::SENSITIVE_FILES)),
            Chain::Path,
            Zone::PathOnly,
            true,
        ),
        sig(
            "list-lfi-files-args".into(),
            list(own(vocab::SENSITIVE_FILES)),
            Chain::Args,
            Zone::Values,
            false,
        ),
        sig(
            "list-scanner-agents".into(),
            list(own(vocab::SCANNER_AGENTS)),
            Chain::Header,
            Zone::UserAgent,
            false,
        ),
        sig(
            "list-xss-tokens".into(),
            list(xss),
            Chain::Xss,
            Zone::ValuesReferer,
            false,
        ),
        sig(
            "list-nosql-operators".into(),
            list(own(vocab::NOSQL_OPERATORS)),
            Chain::Args,
            Zone::Names,
            false,
        ),
        sig(
            "list-ssrf".into(),
            list(own(vocab::SSRF_TOKENS)),
            Chain::Args,
            Zone::Values,
            false,
        ),
    ]
}

/// Single-keyword signatures: vocabulary `family`, entry `i`, variant `v`.
fn single(family: usize, i: usize, v: usize) -> Option<(String, String, Chain, Zone, bool)> {
    let w = |voc: &[&str]| voc.get(i).map(|s| s.to_string());
    Some(match (family, v) {
        (0, 0) => {
            let w = w(vocab::SQL_FUNCTIONS)?;
            (
                format!("kw-sqlfn-{w}"),
                format!("{w}("),
                Chain::Args,
                Zone::Values,
                false,
            )
        }
        (0, _) => {
            let w = w(vocab::SQL_FUNCTIONS)?;
            (
                format!("kw-sqlfn-sp-{w}"),
                format!("{w} ("),
                Chain::Sql,
                Zone::Values,
                false,
            )
        }
        (1, 0) => {
            let w = w(vocab::PHP_FUNCTIONS)?;
            (
                format!("kw-phpfn-{w}"),
                format!("{w}("),
                Chain::Args,
                Zone::ValuesMultipart,
                false,
            )
        }
        (1, _) => {
            let w = w(vocab::PHP_FUNCTIONS)?;
            (
                format!("kw-phpfn-at-{w}"),
                format!("@{w}("),
                Chain::Args,
                Zone::ValuesMultipart,
                false,
            )
        }
        (2, 0) => {
            let w = w(vocab::SHELL_COMMANDS)?;
            (
                format!("kw-shell-bin-{w}"),
                format!("/bin/{w}"),
                Chain::Args,
                Zone::Values,
                false,
            )
        }
        (2, _) => {
            let w = w(vocab::SHELL_COMMANDS)?;
            (
                format!("kw-shell-usrbin-{w}"),
                format!("/usr/bin/{w}"),
                Chain::Args,
                Zone::Values,
                false,
            )
        }
        (3, 0) => {
            let w = w(vocab::JAVA_CLASSES)?;
            (
                format!("kw-java-{w}"),
                w,
                Chain::Args,
                Zone::ValuesContentType,
                false,
            )
        }
        (3, _) => {
            let w = w(vocab::JAVA_CLASSES)?;
            (
                format!("kw-java-path-{w}"),
                w.replace('.', "/"),
                Chain::Args,
                Zone::Values,
                false,
            )
        }
        (4, 0) => {
            let w = w(vocab::SENSITIVE_FILES)?;
            (
                format!("kw-file-path-{w}"),
                w,
                Chain::Path,
                Zone::PathOnly,
                true,
            )
        }
        (4, _) => {
            let w = w(vocab::SENSITIVE_FILES)?;
            (
                format!("kw-file-arg-{w}"),
                w,
                Chain::Args,
                Zone::Values,
                false,
            )
        }
        (5, 0) => {
            let w = w(vocab::SCANNER_AGENTS)?;
            (
                format!("kw-agent-{w}"),
                w,
                Chain::Header,
                Zone::UserAgent,
                false,
            )
        }
        (5, _) => {
            let w = w(vocab::SCANNER_AGENTS)?;
            (
                format!("kw-agent-any-{w}"),
                w,
                Chain::Header,
                Zone::AllHeaders,
                false,
            )
        }
        (6, 0) => {
            let w = w(vocab::XSS_EVENTS)?;
            (
                format!("kw-event-{w}"),
                format!("{w}="),
                Chain::Xss,
                Zone::ValuesReferer,
                false,
            )
        }
        (6, _) => {
            let w = w(vocab::XSS_EVENTS)?;
            (
                format!("kw-event-sp-{w}"),
                format!("{w} ="),
                Chain::Xss,
                Zone::ValuesReferer,
                false,
            )
        }
        (7, 0) => {
            let w = w(vocab::XSS_TOKENS)?;
            (
                format!("kw-xss-{w}"),
                w,
                Chain::Xss,
                Zone::ValuesReferer,
                false,
            )
        }
        (7, _) => {
            let w = w(vocab::XSS_TOKENS)?;
            (
                format!("kw-xss-raw-{w}"),
                w,
                Chain::Args,
                Zone::Values,
                false,
            )
        }
        (8, 0) => {
            let w = w(vocab::NOSQL_OPERATORS)?;
            (format!("kw-nosql-{w}"), w, Chain::Args, Zone::Names, false)
        }
        (8, _) => {
            let w = w(vocab::NOSQL_OPERATORS)?;
            (
                format!("kw-nosql-br-{w}"),
                format!("[{w}]"),
                Chain::Args,
                Zone::Names,
                false,
            )
        }
        (9, 0) => {
            let w = w(vocab::SSRF_TOKENS)?;
            (format!("kw-ssrf-{w}"), w, Chain::Args, Zone::Values, false)
        }
        (9, _) => {
            let w = w(vocab::SSRF_TOKENS)?;
            (
                format!("kw-ssrf-hdr-{w}"),
                w,
                Chain::Header,
                Zone::UrlHeaders,
                false,
            )
        }
        _ => return None,
    })
}

const SINGLE_FAMILIES: usize = 10;
const VARIANTS: usize = 2;

fn literals(n: usize) -> Vec<Signature> {
    let mut out: Vec<Signature> = lists().into_iter().take(n).collect();
    'outer: for v in 0..VARIANTS {
        let mut i = 0;
        loop {
            let mut any = false;
            for f in 0..SINGLE_FAMILIES {
                if out.len() >= n {
                    break 'outer;
                }
                if let Some((id, lit, chain, zone, nocase)) = single(f, i, v) {
                    any = true;
                    out.push(sig(
                        id,
                        Pattern::Literal(lit.into_bytes()),
                        chain,
                        zone,
                        nocase,
                    ));
                }
            }
            if !any {
                break;
            }
            i += 1;
        }
    }
    out
}

/// Most signatures [`signatures`] can make (its vocabularies are finite).
pub fn max_signatures() -> usize {
    let regex_capacity = RULES.len()
        + (0..REGEX_FAMILIES)
            .map(|f| (0..).take_while(|&i| keyword_regex(f, i).is_some()).count())
            .sum::<usize>();
    let literal_capacity = lists().len()
        + (0..VARIANTS)
            .flat_map(|v| (0..SINGLE_FAMILIES).map(move |f| (f, v)))
            .map(|(f, v)| (0..).take_while(|&i| single(f, i, v).is_some()).count())
            .sum::<usize>();
    (regex_capacity * 4).min(literal_capacity * 4 / 3)
}

/// A signature set of exactly `n` signatures (any `n` up to [`max_signatures`],
/// meant for 100..=2000): `n / 4` regexes, the rest keyword signatures.
/// Deterministic; ids are unique.
pub fn signatures(n: usize) -> Vec<Signature> {
    let n_regex = n / 4;
    let mut out = regexes(n_regex);
    out.extend(literals(n - out.len()));
    out
}

/// The distinct transform chains of a set.
pub fn chains(sigs: &[Signature]) -> Vec<Vec<T>> {
    let mut v: Vec<Vec<T>> = Vec::new();
    for s in sigs {
        if !v.contains(&s.transforms) {
            v.push(s.transforms.clone());
        }
    }
    v
}

#[cfg(test)]
mod tests;
