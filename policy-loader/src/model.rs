//! The parsed, validated contents of policy packs: what a policy says, before
//! and after its references are resolved.

use std::net::IpAddr;

use rampart_matcher::{FieldKind, Signature};

use crate::diag::Loc;
use crate::glob::Glob;
use crate::measures::{Anomaly, Counter, IdentityProp};

/// How bad a matching request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Unusual.
    Low,
    /// Suspicious.
    Medium,
    /// Likely an attack.
    High,
    /// An attack with serious impact.
    Critical,
}

impl Severity {
    /// The pack spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// Whether a policy acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Matches act.
    Enforce,
    /// Matches are logged, never acted on.
    Monitor,
    /// Not evaluated.
    Off,
}

impl Mode {
    /// The pack spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
            Mode::Off => "off",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "enforce" => Mode::Enforce,
            "monitor" => Mode::Monitor,
            "off" => Mode::Off,
            _ => return None,
        })
    }
}

/// What a matching enforce policy does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Answer with an error status and a templated body.
    Block {
        /// 400–599.
        status: u16,
        /// Template name (from `responses/`).
        template: String,
        /// Extra response headers.
        headers: Vec<(String, String)>,
    },
    /// Answer 429 with `Retry-After`.
    RateLimit {
        /// Seconds for `Retry-After`.
        retry_after_s: u64,
    },
    /// Answer with a plausible fake response.
    Deceive {
        /// Template name.
        template: String,
        /// Status of the fake response.
        status: u16,
    },
    /// Hold the request, then act.
    Tarpit {
        /// How long to hold it.
        delay_ms: u64,
        /// What to do after the delay (block, deceive or drop).
        then: Box<Action>,
    },
    /// Close the connection without answering.
    Drop,
    /// Forward with extra headers.
    Tag {
        /// Headers added to the upstream request.
        headers: Vec<(String, String)>,
    },
    /// Response policies: replace every matched fragment of the response
    /// body with `*` of the same length (framing stays valid).
    Mask,
    /// Forward and skip every later policy.
    Allow,
    /// Only record (score-only policies).
    None,
}

impl Action {
    /// Whether the action decides the response (the first such policy wins).
    pub fn terminates(&self) -> bool {
        matches!(
            self,
            Action::Block { .. }
                | Action::RateLimit { .. }
                | Action::Deceive { .. }
                | Action::Tarpit { .. }
                | Action::Drop
        )
    }

    /// The pack spelling of the action's kind.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Block { .. } => "block",
            Action::RateLimit { .. } => "rate_limit",
            Action::Deceive { .. } => "deceive",
            Action::Tarpit { .. } => "tarpit",
            Action::Drop => "drop",
            Action::Tag { .. } => "tag",
            Action::Mask => "mask",
            Action::Allow => "allow",
            Action::None => "none",
        }
    }
}

/// When a policy is evaluated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PolicyPhase {
    /// On the request, before it is forwarded (the default).
    #[default]
    Request,
    /// On the upstream's response head and body prefix, before it is sent
    /// to the client.
    Response,
}

impl PolicyPhase {
    /// The pack spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyPhase::Request => "request",
            PolicyPhase::Response => "response",
        }
    }
}

/// A field selector in a condition or exclusion: a kind and optionally a name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldSel {
    /// Field kind.
    pub kind: FieldKind,
    /// Lowercase name, if restricted to one.
    pub name: Option<Vec<u8>>,
}

impl FieldSel {
    /// Whether a match in `(kind, name)` is selected.
    pub fn selects(&self, kind: FieldKind, name: &[u8]) -> bool {
        self.kind == kind
            && self
                .name
                .as_ref()
                .is_none_or(|n| n.eq_ignore_ascii_case(name))
    }
}

/// A test on a string value (header, argument, cookie, identity).
#[derive(Clone, Debug)]
pub enum ValueTest {
    /// Present at all.
    Present,
    /// Equal, ASCII case-insensitive.
    Equals(Vec<u8>),
    /// Contains, ASCII case-insensitive.
    Contains(Vec<u8>),
    /// Starts with, ASCII case-insensitive.
    Prefix(Vec<u8>),
    /// Matches a regex (`regex` crate syntax).
    Matches(regex::bytes::Regex),
}

/// Numeric comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `==`
    Eq,
}

impl Cmp {
    /// Applies the comparison.
    pub fn test(self, a: u64, b: u64) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Gte => a >= b,
            Cmp::Lt => a < b,
            Cmp::Lte => a <= b,
            Cmp::Eq => a == b,
        }
    }
}

/// What a list condition looks up.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListKey {
    /// The client address.
    ClientIp,
    /// TLS JA4 fingerprint.
    Ja4,
    /// TLS JA3 fingerprint.
    Ja3,
    /// The password a login carried (SHA-1 compared).
    Password,
    /// The login's user name and password (SHA-1 of `lowercase(user):password`).
    UserPassword,
    /// The request's header fingerprint (`request.header_fingerprint`).
    HeaderFingerprint,
    /// A header's value.
    Header(Vec<u8>),
    /// A query argument's value.
    Arg(Vec<u8>),
    /// An identity property.
    Identity(IdentityProp),
}

/// A policy condition. Parsed with references by name; `resolved` fields are
/// filled when every pack is loaded.
#[derive(Clone, Debug)]
pub enum Cond {
    /// All must hold.
    All(Vec<Cond>),
    /// One must hold.
    Any(Vec<Cond>),
    /// Must not hold.
    Not(Box<Cond>),
    /// Signatures by id (any of them), optionally only in some fields.
    Signature {
        /// Ids as written.
        ids: Vec<(String, Loc)>,
        /// Matcher indexes, once resolved.
        resolved: Vec<u32>,
        /// Only matches in these fields count (empty: anywhere).
        fields: Vec<FieldSel>,
    },
    /// Signatures by tag.
    SignatureTag {
        /// Tag as written.
        tag: (String, Loc),
        /// Matcher indexes of every signature with the tag.
        resolved: Vec<u32>,
        /// Only matches in these fields count.
        fields: Vec<FieldSel>,
    },
    /// Method in a set.
    Method(Vec<Vec<u8>>),
    /// Normalised path matches a glob.
    Path(Vec<Glob>),
    /// Normalised path matches a regex.
    PathRegex(regex::bytes::Regex),
    /// Host matches a glob.
    Host(Vec<Glob>),
    /// Path matches a route template.
    Route(Vec<Glob>),
    /// Header test.
    Header(Vec<u8>, ValueTest),
    /// Query argument test.
    Arg(Vec<u8>, ValueTest),
    /// Cookie test.
    Cookie(Vec<u8>, ValueTest),
    /// Test of a TLS handshake fact (never true on a plain connection).
    Tls(crate::measures::TlsProp, ValueTest),
    /// List membership.
    List {
        /// List name and where it was referenced.
        name: (String, Loc),
        /// Index into the loaded lists, once resolved.
        resolved: usize,
        /// What to look up.
        key: ListKey,
    },
    /// Counter or request measure comparison.
    Counter {
        /// Which number.
        counter: Counter,
        /// How to compare.
        cmp: Cmp,
        /// With what.
        value: u64,
        /// Where the threshold is written.
        loc: Loc,
    },
    /// Identity property test.
    Identity(IdentityProp, ValueTest),
    /// Evasion indicator present.
    Anomaly(Anomaly),
    /// Another policy matched.
    Policy {
        /// Its id.
        id: (String, Loc),
        /// Its index, once resolved.
        resolved: usize,
    },
    /// The anomaly score of the other policies reached a threshold.
    ScoreAtLeast(u64, Loc),
    /// Response policies: the upstream's status is in one of these
    /// inclusive ranges.
    ResponseStatus(Vec<(u16, u16)>),
    /// Response policies: a response header test.
    ResponseHeader(Vec<u8>, ValueTest),
}

/// One example request stored with a policy.
#[derive(Clone, Debug)]
pub struct Example {
    /// Whether the policy must match it.
    pub expect_match: bool,
    /// The raw HTTP/1.1 request (empty for a response policy's example).
    pub request: String,
    /// A response policy's example: the raw HTTP/1.1 response (status line,
    /// headers, body).
    pub response: Option<String>,
    /// Client address (default 203.0.113.10).
    pub client_ip: Option<IpAddr>,
    /// Behaviour counters as the engine would see them.
    pub counters: Vec<(Counter, u64)>,
    /// Identity properties.
    pub identity: Vec<(IdentityProp, String)>,
    /// TLS JA4 fingerprint.
    pub ja4: Option<String>,
    /// TLS JA3 fingerprint.
    pub ja3: Option<String>,
    /// TLS version, SNI, ALPN, client subject and CN (`tls = { version,
    /// sni, alpn, client_subject, client_cn }`).
    pub tls: [Option<String>; crate::measures::TLS_FACTS],
    /// Password the login carried.
    pub password: Option<String>,
    /// Why the example exists.
    pub note: Option<String>,
    /// Where it is written.
    pub loc: Loc,
}

/// A loaded policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Unique id.
    pub id: String,
    /// Short title.
    pub name: String,
    /// What it detects and why.
    pub description: String,
    /// How bad a match is.
    pub severity: Severity,
    /// Free-form tags (OWASP categories, attack classes).
    pub tags: Vec<String>,
    /// Enforce, monitor or off (after overrides).
    pub mode: Mode,
    /// Lower runs first.
    pub priority: i64,
    /// Added to the anomaly score on a match.
    pub score: u32,
    /// Request or response.
    pub phase: PolicyPhase,
    /// When it matches.
    pub condition: Cond,
    /// What it does (after overrides).
    pub action: Action,
    /// After stopping a client's request (enforce mode), deny that client's
    /// next requests with the same action for this long (`escalate = "10m"`).
    pub escalate_ms: Option<u64>,
    /// Stored example requests.
    pub examples: Vec<Example>,
    /// Overlay exclusions.
    pub exclusions: Vec<Exclusion>,
    /// Pack it came from (index into the loaded packs).
    pub pack: usize,
    /// Where it is defined.
    pub loc: Loc,
}

/// Where an overlay stops a policy from applying.
#[derive(Clone, Debug)]
pub struct Exclusion {
    /// Path globs (any); empty: every path.
    pub paths: Vec<Glob>,
    /// Methods (any); empty: every method.
    pub methods: Vec<Vec<u8>>,
    /// Client networks (any); empty: every client.
    pub clients: Vec<ipnet::IpNet>,
    /// With a field: only signature matches there stop counting.
    pub field: Option<FieldSel>,
}

/// A loaded signature and its policy-facing facts.
#[derive(Clone, Debug)]
pub struct SignatureInfo {
    /// The signature as handed to the matcher.
    pub signature: Signature,
    /// Tags policies select it by.
    pub tags: Vec<String>,
    /// Description.
    pub description: String,
    /// Pack it came from.
    pub pack: usize,
}

/// A pack's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackInfo {
    /// Name from pack.toml.
    pub name: String,
    /// Version from pack.toml.
    pub version: String,
    /// Description.
    pub description: String,
    /// Where it was loaded from (directory, or `embedded:default`).
    pub source: String,
}
