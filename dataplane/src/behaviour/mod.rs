//! Behaviour: who a request comes from (client identity) and how often they
//! do what (per-core counters).
//!
//! - [`identity`]: per-request client identity (address behind trusted
//!   proxies, API key, hashed bearer token, JWT `sub`/`iss`, session cookie,
//!   login username and password), allocation-free, one extractor per core.
//! - `window`, `hll`: sliding-window measures and distinct counts.
//! - `table`: a per-core key table with a memory budget and CLOCK eviction.
//! - `exchange`: batched cross-core messages for keys owned by another core.
//! - `counters`: one core's counters, fed per request and per response.
//! - `engine`: identity and counters as the request path uses them.

pub mod b64;
pub mod counters;
pub mod engine;
pub mod exchange;
pub mod forwarded;
pub mod hll;
pub mod identity;
mod json;
pub mod jwt;
pub mod login;
pub mod metrics;
pub mod rsa;
pub mod table;
pub mod window;

pub use counters::{CoreCounters, CounterConfig, CounterStats, RequestKeys};
pub use engine::{Engine, Observed, Tracked};
pub use exchange::{Exchange, ExchangeStats, KeyKind};
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
mod counter_tests;
#[cfg(test)]
mod tests;
