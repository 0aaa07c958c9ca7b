//! The names policies use for numbers (behaviour counters, request measures),
//! identity properties and evasion indicators.

/// A number a `counter` condition compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Counter(pub u16);

/// Every counter name; the index is the [`Counter`] id. Names starting with
/// `request.` are measured from the request itself; the others come from the
/// behaviour engine (0 until it has computed them).
pub const COUNTERS: &[&str] = &[
    "request.body_bytes",
    "request.header_count",
    "request.header_bytes",
    "request.arg_count",
    "request.path_depth",
    "request.target_bytes",
    "request.json_depth",
    "client.ip.rate_1s",
    "client.ip.rate_10s",
    "client.ip.rate_1m",
    "client.ip.rate_10m",
    "client.ip.errors_4xx_1m",
    "client.ip.not_found_ratio_1m",
    "client.ip.distinct_paths_1m",
    "client.ip.auth_failures_5m",
    "client.ip.auth_failure_ratio_5m",
    "client.ip.distinct_users_10m",
    "client.ip.distinct_object_ids_1m",
    "client.ip.pagination_depth_10m",
    "client.ip.timing_regularity_1m",
    "client.key.rate_1m",
    "client.token.rate_1m",
    "client.user.rate_1m",
    "user.auth_failures_10m",
    "user.distinct_ips_1h",
    "password.distinct_users_10m",
    "route.rate_1s",
    "route.rate_1m",
];

/// Number of request measures at the start of [`COUNTERS`].
pub const REQUEST_MEASURES: u16 = 7;

impl Counter {
    /// `request.body_bytes`
    pub const BODY_BYTES: Counter = Counter(0);
    /// `request.header_count`
    pub const HEADER_COUNT: Counter = Counter(1);
    /// `request.header_bytes`
    pub const HEADER_BYTES: Counter = Counter(2);
    /// `request.arg_count`
    pub const ARG_COUNT: Counter = Counter(3);
    /// `request.path_depth`
    pub const PATH_DEPTH: Counter = Counter(4);
    /// `request.target_bytes`
    pub const TARGET_BYTES: Counter = Counter(5);
    /// `request.json_depth`
    pub const JSON_DEPTH: Counter = Counter(6);
}

impl Counter {
    /// Looks a name up.
    pub fn parse(name: &str) -> Option<Counter> {
        COUNTERS
            .iter()
            .position(|c| *c == name)
            .map(|i| Counter(i as u16))
    }

    /// The counter's name.
    pub fn name(self) -> &'static str {
        COUNTERS.get(self.0 as usize).copied().unwrap_or("?")
    }

    /// Whether the request itself gives this number.
    pub fn is_request_measure(self) -> bool {
        self.0 < REQUEST_MEASURES
    }
}

/// A fact of the connection's TLS handshake, for `{ tls = "...", ... }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsProp {
    /// Protocol version: `1.2` or `1.3`.
    Version,
    /// Server name the client asked for (SNI).
    Sni,
    /// Negotiated ALPN protocol (`http/1.1`).
    Alpn,
    /// JA4 fingerprint of the ClientHello.
    Ja4,
    /// JA3 fingerprint (MD5 hex) of the ClientHello.
    Ja3,
    /// Subject of the verified client certificate, as an RFC 4514 string
    /// (`CN=partner-a,O=Example`).
    ClientSubject,
    /// Common name of the verified client certificate's subject.
    ClientCn,
}

/// Every TLS property name, in [`TlsProp`] order.
pub const TLS_PROPS: &[&str] = &[
    "version",
    "sni",
    "alpn",
    "ja4",
    "ja3",
    "client_subject",
    "client_cn",
];

/// How many TLS facts besides the fingerprints `Facts::tls` carries:
/// version, SNI, ALPN, client subject, client CN.
pub const TLS_FACTS: usize = 5;

impl TlsProp {
    /// Looks a name up.
    pub fn parse(name: &str) -> Option<TlsProp> {
        Some(match name {
            "version" => TlsProp::Version,
            "sni" => TlsProp::Sni,
            "alpn" => TlsProp::Alpn,
            "ja4" => TlsProp::Ja4,
            "ja3" => TlsProp::Ja3,
            "client_subject" => TlsProp::ClientSubject,
            "client_cn" => TlsProp::ClientCn,
            _ => return None,
        })
    }

    /// The name, as written in packs.
    pub fn name(self) -> &'static str {
        TLS_PROPS[self as usize]
    }
}

/// A client identity property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentityProp {
    /// Client address.
    ClientIp,
    /// API key.
    ApiKey,
    /// Hashed bearer token.
    Token,
    /// JWT subject.
    JwtSub,
    /// JWT issuer.
    JwtIss,
    /// Session cookie.
    Session,
    /// Username from a login.
    User,
}

/// Every identity property name, in [`IdentityProp`] order.
pub const IDENTITY_PROPS: &[&str] = &[
    "client.ip",
    "api_key",
    "token",
    "jwt.sub",
    "jwt.iss",
    "session",
    "user",
];

impl IdentityProp {
    /// Looks a name up.
    pub fn parse(name: &str) -> Option<IdentityProp> {
        use IdentityProp::*;
        Some(match name {
            "client.ip" => ClientIp,
            "api_key" => ApiKey,
            "token" => Token,
            "jwt.sub" => JwtSub,
            "jwt.iss" => JwtIss,
            "session" => Session,
            "user" => User,
            _ => return None,
        })
    }

    /// Index for per-request identity arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// An evasion or parsing indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// A value decoded to another escape.
    DoubleEncoded,
    /// A malformed escape.
    InvalidEscape,
    /// Invalid UTF-8.
    InvalidUtf8,
    /// Overlong UTF-8.
    OverlongUtf8,
    /// A NUL byte.
    NulByte,
    /// A structured body that does not parse.
    BodyMalformed,
    /// More fields than the scanner keeps.
    FieldsTruncated,
}

/// Every anomaly name.
pub const ANOMALIES: &[&str] = &[
    "double_encoded",
    "invalid_escape",
    "invalid_utf8",
    "overlong_utf8",
    "nul_byte",
    "body_malformed",
    "fields_truncated",
];

impl Anomaly {
    /// Looks a name up.
    pub fn parse(name: &str) -> Option<Anomaly> {
        use Anomaly::*;
        Some(match name {
            "double_encoded" => DoubleEncoded,
            "invalid_escape" => InvalidEscape,
            "invalid_utf8" => InvalidUtf8,
            "overlong_utf8" => OverlongUtf8,
            "nul_byte" => NulByte,
            "body_malformed" => BodyMalformed,
            "fields_truncated" => FieldsTruncated,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_constants_name_their_counters() {
        let named = [
            (Counter::BODY_BYTES, "request.body_bytes"),
            (Counter::HEADER_COUNT, "request.header_count"),
            (Counter::HEADER_BYTES, "request.header_bytes"),
            (Counter::ARG_COUNT, "request.arg_count"),
            (Counter::PATH_DEPTH, "request.path_depth"),
            (Counter::TARGET_BYTES, "request.target_bytes"),
            (Counter::JSON_DEPTH, "request.json_depth"),
        ];
        for (c, name) in named {
            assert_eq!(c.name(), name);
            assert!(c.is_request_measure());
        }
        assert_eq!(named.len(), REQUEST_MEASURES as usize);
    }
}
