//! The Hyperscan binding behind the matcher's own small API.
//!
//! Everything outside this module talks to [`Database`], [`Scratch`] and
//! [`Stream`]; swapping Hyperscan for Vectorscan (or another binding) means
//! rewriting only these files.
//!
//! Why `hyperscan-sys` and not the `hyperscan` crate's safe layer (both are
//! the same project, 0.3.2): on the scan path the safe layer allocates two
//! vectors per vectored scan, its `Stream` does not close the stream on drop
//! (the stream state leaks), its literal API takes `String` (signatures are
//! bytes), and its compile error loses the expression index we need to name
//! the failing signature. Scanning is the hot path, so it is done here with
//! the raw calls, a stack trampoline and no allocation.

mod database;
mod scratch;
mod stream;

pub use database::{Database, ExprInfo, Mode, PatternSpec};
pub use scratch::Scratch;
pub use stream::Stream;

use hyperscan_sys as hs;

/// A Hyperscan call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Compilation failed; `index` is the expression that failed, when Hyperscan names one.
    #[error("{message}")]
    Compile {
        /// Hyperscan's message.
        message: String,
        /// Index of the failing expression in the compile call, if any.
        index: Option<usize>,
    },
    /// A runtime call returned an error code.
    #[error("hyperscan {call} failed with code {code}")]
    Call {
        /// The function that failed.
        call: &'static str,
        /// Hyperscan's `hs_error_t`.
        code: i32,
    },
    /// A serialized database was rejected (corrupt, or built for another Hyperscan/CPU).
    #[error("serialized database rejected (code {0})")]
    Deserialize(i32),
    /// An input was longer than Hyperscan's 32-bit length.
    #[error("input of {0} bytes is too long to scan")]
    TooLong(usize),
}

fn check(call: &'static str, code: hs::hs_error_t) -> Result<(), EngineError> {
    if code == hs::HS_SUCCESS as hs::hs_error_t {
        Ok(())
    } else {
        Err(EngineError::Call { call, code })
    }
}

/// The match callback: `(pattern id, end offset)`; return `false` to stop the scan.
pub trait OnMatch: FnMut(u32, u64) -> bool {}
impl<F: FnMut(u32, u64) -> bool> OnMatch for F {}

/// C trampoline calling the closure behind `ctx`.
///
/// # Safety
/// `ctx` must point to a live `F` for the duration of the scan call.
unsafe extern "C" fn trampoline<F: OnMatch>(
    id: libc::c_uint,
    _from: libc::c_ulonglong,
    to: libc::c_ulonglong,
    _flags: libc::c_uint,
    ctx: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the scan functions below pass `&mut F` as ctx and Hyperscan
    // calls back synchronously, inside the scan, on this thread.
    let f = unsafe { &mut *(ctx as *mut F) };
    if f(id, to) {
        0
    } else {
        1
    }
}

/// Whether a scan return code means "the callback asked to stop", which is not an error.
fn scan_result(call: &'static str, code: hs::hs_error_t) -> Result<(), EngineError> {
    if code == hs::HS_SCAN_TERMINATED {
        Ok(())
    } else {
        check(call, code)
    }
}
