//! The request fields a signature can target, named the way policies name them.
//!
//! A field is a (kind, name, value) triple: the kind says where the bytes came
//! from, the name says which one (header name, argument name, JSON key…; empty
//! where a kind has no name), the value is the bytes signatures are matched on.

/// Where a field's bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum FieldKind {
    /// The request method (`GET`).
    Method = 0,
    /// The whole request target as received (`/a/b?x=1`).
    Target,
    /// The path part of the target, as received (no query).
    Path,
    /// The query string as received, without the `?`.
    Query,
    /// A query argument's name (raw; decode with transforms). Name: the name itself.
    ArgName,
    /// A query argument's value (raw; decode with transforms). Name: the argument name.
    ArgValue,
    /// A header name. Name: the name itself.
    HeaderName,
    /// A header value. Name: the header name.
    HeaderValue,
    /// A cookie name. Name: the name itself.
    CookieName,
    /// A cookie value. Name: the cookie name.
    CookieValue,
    /// An `application/x-www-form-urlencoded` body field name (raw). Name: the name itself.
    FormName,
    /// An urlencoded body field value (raw). Name: the field name.
    FormValue,
    /// A JSON object key, with JSON string escapes decoded. Name: the key itself.
    JsonKey,
    /// A JSON string (or number/literal) value, escapes decoded. Name: the innermost key.
    JsonValue,
    /// A multipart part's field name (`Content-Disposition: form-data; name=…`).
    MultipartName,
    /// A multipart part's body. Name: the part's field name.
    MultipartValue,
    /// A multipart part's file name. Name: the part's field name.
    MultipartFilename,
    /// A multipart part header value. Name: the header name.
    MultipartHeader,
    /// XML text or attribute value. Name: the element or attribute name.
    XmlText,
    /// The body bytes as received (up to the inspection limit).
    Body,
    /// The upstream response's body (its first `inspect_response_bytes`),
    /// scanned only by response policies.
    ResponseBody,
}

impl FieldKind {
    /// Every kind, in declaration order.
    pub const ALL: [FieldKind; 21] = [
        FieldKind::Method,
        FieldKind::Target,
        FieldKind::Path,
        FieldKind::Query,
        FieldKind::ArgName,
        FieldKind::ArgValue,
        FieldKind::HeaderName,
        FieldKind::HeaderValue,
        FieldKind::CookieName,
        FieldKind::CookieValue,
        FieldKind::FormName,
        FieldKind::FormValue,
        FieldKind::JsonKey,
        FieldKind::JsonValue,
        FieldKind::MultipartName,
        FieldKind::MultipartValue,
        FieldKind::MultipartFilename,
        FieldKind::MultipartHeader,
        FieldKind::XmlText,
        FieldKind::Body,
        FieldKind::ResponseBody,
    ];

    /// The name policies use for this kind (`args.value`, `headers.value`…).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Method => "method",
            FieldKind::Target => "target",
            FieldKind::Path => "path",
            FieldKind::Query => "query",
            FieldKind::ArgName => "args.name",
            FieldKind::ArgValue => "args.value",
            FieldKind::HeaderName => "headers.name",
            FieldKind::HeaderValue => "headers.value",
            FieldKind::CookieName => "cookies.name",
            FieldKind::CookieValue => "cookies.value",
            FieldKind::FormName => "form.name",
            FieldKind::FormValue => "form.value",
            FieldKind::JsonKey => "json.key",
            FieldKind::JsonValue => "json.value",
            FieldKind::MultipartName => "multipart.name",
            FieldKind::MultipartValue => "multipart.value",
            FieldKind::MultipartFilename => "multipart.filename",
            FieldKind::MultipartHeader => "multipart.header",
            FieldKind::XmlText => "xml.text",
            FieldKind::Body => "body",
            FieldKind::ResponseBody => "response.body",
        }
    }

    /// Parses a policy's name for a kind.
    pub fn parse(s: &str) -> Option<FieldKind> {
        FieldKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Bit of this kind in a [`FieldSet`].
    pub fn bit(self) -> u32 {
        1 << self as u8
    }
}

impl std::fmt::Display for FieldKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of field kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSet(pub u32);

impl FieldSet {
    /// Whether `kind` is in the set.
    pub fn contains(self, kind: FieldKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Adds `kind`.
    pub fn insert(&mut self, kind: FieldKind) {
        self.0 |= kind.bit();
    }

    /// The kinds in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = FieldKind> {
        FieldKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<FieldKind> for FieldSet {
    fn from_iter<I: IntoIterator<Item = FieldKind>>(iter: I) -> Self {
        let mut s = FieldSet::default();
        for k in iter {
            s.insert(k);
        }
        s
    }
}
