//! Behaviour: who a request comes from (client identity) — and, merged from
//! the counters work, how often they do what.
//!
//! - [`identity`]: per-request client identity (address behind trusted
//!   proxies, API key, hashed bearer token, JWT `sub`/`iss`, session cookie,
//!   login username and password), allocation-free, one extractor per core.

pub mod b64;
pub mod forwarded;
pub mod identity;
mod json;
pub mod jwt;
pub mod login;

pub use forwarded::ClientIpHeader;
pub use identity::{Identity, IdentityConfig, IdentityExtractor, RequestParts};
pub use jwt::{JwtConfig, KeyFile};
pub use login::LoginRoute;

/// Which of an extractor's buffers a value sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    /// Decoded JWT payload.
    Jwt,
    /// Decoded `Authorization: Basic` credentials.
    Basic,
    /// Everything derived: token hash, unescaped and normalised values.
    Scratch,
}

/// Where an identity value is while the extractor is still writing: in the
/// request, or at (start, len) of one of its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc<'r> {
    Req(&'r [u8]),
    In(Buf, usize, usize),
}

#[cfg(test)]
mod tests;
