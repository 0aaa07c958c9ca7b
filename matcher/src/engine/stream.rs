//! Hyperscan streams that are closed when dropped.
//!
//! Dropping a stream without `hs_close_stream` leaks its state; the binding
//! this replaces did exactly that. [`Stream`] closes on drop and can be
//! reset for reuse, so a per-core pool never allocates in steady state.

use std::ptr::{self, NonNull};
use std::sync::Arc;

use super::{check, hs, scan_result, trampoline, Database, EngineError, Mode, OnMatch, Scratch};

/// Pattern-matching state carried across the pieces of one body.
pub struct Stream {
    ptr: NonNull<hs::hs_stream_t>,
    // Keeps the database alive for as long as a stream refers to it.
    db: Arc<Database>,
    offset: u64,
}

// SAFETY: stream state is owned by this value and used by one thread at a time.
unsafe impl Send for Stream {}

impl Stream {
    /// Opens a stream on a streaming-mode database.
    pub fn open(db: &Arc<Database>) -> Result<Stream, EngineError> {
        if db.mode() != Mode::Stream {
            return Err(EngineError::Call {
                call: "hs_open_stream (block database)",
                code: -1,
            });
        }
        let mut raw = ptr::null_mut();
        // SAFETY: valid streaming database and out-pointer.
        check("hs_open_stream", unsafe {
            hs::hs_open_stream(db.as_ptr(), 0, &mut raw)
        })?;
        NonNull::new(raw)
            .map(|ptr| Stream {
                ptr,
                db: Arc::clone(db),
                offset: 0,
            })
            .ok_or(EngineError::Call {
                call: "hs_open_stream",
                code: 0,
            })
    }

    /// Bytes fed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Feeds the next piece; `on_match(id, end)` gets offsets from the stream's start.
    pub fn scan<F: OnMatch>(
        &mut self,
        data: &[u8],
        scratch: &mut Scratch,
        mut on_match: F,
    ) -> Result<(), EngineError> {
        let len = u32::try_from(data.len()).map_err(|_| EngineError::TooLong(data.len()))?;
        // SAFETY: valid open stream, scratch grown for its database, `data`
        // valid for `len` bytes, callback alive during the synchronous call.
        let rc = unsafe {
            hs::hs_scan_stream(
                self.ptr.as_ptr(),
                data.as_ptr() as *const libc::c_char,
                len,
                0,
                scratch.as_ptr(),
                Some(trampoline::<F>),
                &mut on_match as *mut F as *mut libc::c_void,
            )
        };
        self.offset += data.len() as u64;
        scan_result("hs_scan_stream", rc)
    }

    /// Ends the data (reporting end-anchored matches) and resets the stream for the next body.
    pub fn finish<F: OnMatch>(
        &mut self,
        scratch: &mut Scratch,
        mut on_match: F,
    ) -> Result<(), EngineError> {
        // SAFETY: valid open stream and scratch; the stream stays open (reset in place).
        let rc = unsafe {
            hs::hs_reset_stream(
                self.ptr.as_ptr(),
                0,
                scratch.as_ptr(),
                Some(trampoline::<F>),
                &mut on_match as *mut F as *mut libc::c_void,
            )
        };
        self.offset = 0;
        scan_result("hs_reset_stream", rc)
    }

    /// Forgets the data fed so far without reporting anything.
    pub fn reset(&mut self) -> Result<(), EngineError> {
        // SAFETY: a null callback needs no scratch; the stream stays open.
        let rc = unsafe {
            hs::hs_reset_stream(self.ptr.as_ptr(), 0, ptr::null_mut(), None, ptr::null_mut())
        };
        self.offset = 0;
        check("hs_reset_stream", rc)
    }

    /// The database the stream runs against.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: the stream is open and closed exactly once; with a null
        // callback Hyperscan needs no scratch and reports nothing.
        unsafe { hs::hs_close_stream(self.ptr.as_ptr(), ptr::null_mut(), None, ptr::null_mut()) };
    }
}
