//! The borrowed view of a parsed request that the scanner inspects.

/// A request as the dataplane parsed it: every slice borrows the connection's buffers.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestView<'a> {
    /// Method token.
    pub method: &'a [u8],
    /// Request target as received (origin form: path and query).
    pub target: &'a [u8],
    /// Header (name, value) pairs in arrival order.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The body bytes available for inspection (at most the inspection limit).
    pub body: &'a [u8],
}

impl<'a> RequestView<'a> {
    /// The path part of the target (before `?` or `#`).
    pub fn path(&self) -> &'a [u8] {
        let end = memchr::memchr2(b'?', b'#', self.target).unwrap_or(self.target.len());
        &self.target[..end]
    }

    /// The query string (after `?`, before `#`), if any.
    pub fn query(&self) -> Option<&'a [u8]> {
        let q = memchr::memchr(b'?', self.target)?;
        let rest = &self.target[q + 1..];
        let end = memchr::memchr(b'#', rest).unwrap_or(rest.len());
        Some(&rest[..end])
    }

    /// The first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}
