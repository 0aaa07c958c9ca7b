//! TLS client fingerprints: the ClientHello a client opens its TLS connection
//! with, turned into JA4 (and JA4_r) and JA3, on the stack, allocation-free,
//! before the bytes go to the TLS stack.
//!
//! - [`client_hello`]: a zero-copy parser of the ClientHello handshake
//!   message, from the whole (reassembled) message ([`ClientHello::parse`])
//!   or from a single record ([`ClientHello::from_record`]); malformed or
//!   truncated input is a [`ClientHelloError`], never a panic.
//! - [`ja4`]: [`Ja4`] (36 bytes) and [`Ja4Raw`] (printed on demand).
//! - [`ja3`]: [`Ja3`] (the MD5, 32 hex digits) and [`Ja3String`].
//! - `lists`: the fixed-capacity sorting and the hex/decimal list writers
//!   they share.
//!
//! ```
//! use rampart_dataplane::fingerprint::{ClientHello, Ja3, Ja4};
//! # fn demo(first_record: &[u8]) -> Result<(), rampart_dataplane::fingerprint::ClientHelloError> {
//! let hello = ClientHello::from_record(first_record)?;
//! let ja4 = Ja4::of(&hello); // e.g. "t13d1516h2_8daaf6152771_02713d6af862"
//! let ja3 = Ja3::of(&hello);
//! # let _ = (ja4.as_str(), ja3.as_str());
//! # Ok(())
//! # }
//! ```

pub mod client_hello;
pub mod ja3;
pub mod ja4;
mod lists;

#[cfg(test)]
mod tests;

pub use client_hello::{
    client_hello_len, is_grease, AlpnList, ClientHello, ClientHelloError, Extension, Extensions,
    U16List,
};
pub use ja3::{Ja3, Ja3String};
pub use ja4::{Ja4, Ja4Raw};
