//! Compiled Hyperscan databases: compile (regex and literal sets), inspect, serialize.

use std::ffi::{CStr, CString};
use std::ptr::{self, NonNull};

use super::{check, hs, scan_result, trampoline, EngineError, OnMatch, Scratch};

/// Scan mode a database is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Whole buffers at once.
    Block,
    /// Data arriving in pieces, state carried in a [`super::Stream`].
    Stream,
}

impl Mode {
    fn bits(self) -> u32 {
        match self {
            Mode::Block => hs::HS_MODE_BLOCK,
            Mode::Stream => hs::HS_MODE_STREAM | hs::HS_MODE_SOM_HORIZON_SMALL,
        }
    }
}

/// One expression handed to the compiler.
#[derive(Clone, Debug)]
pub struct PatternSpec<'a> {
    /// Regex source, or the literal bytes for [`Database::compile_literals`].
    pub expr: &'a [u8],
    /// `HS_FLAG_*` bits.
    pub flags: u32,
    /// Id reported on a match.
    pub id: u32,
}

/// Width facts about an expression, from `hs_expression_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExprInfo {
    /// Shortest match, in bytes.
    pub min_width: u32,
    /// Longest match in bytes; `None` when unbounded.
    pub max_width: Option<u32>,
}

/// An immutable compiled database; shared read-only by every core.
pub struct Database {
    ptr: NonNull<hs::hs_database_t>,
    mode: Mode,
}

// SAFETY: a compiled Hyperscan database is immutable after compilation and
// documented as safe to use from many threads at once (each with its own
// scratch); nothing here mutates it.
unsafe impl Send for Database {}
// SAFETY: as above; all scan entry points take `&self` and per-thread scratch.
unsafe impl Sync for Database {}

impl Drop for Database {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from a successful compile/deserialize and is freed once.
        unsafe { hs::hs_free_database(self.ptr.as_ptr()) };
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("mode", &self.mode)
            .field("bytes", &self.size())
            .finish()
    }
}

/// Takes ownership of a compile error, turning it into ours.
fn compile_error(err: *mut hs::hs_compile_error_t) -> EngineError {
    if err.is_null() {
        return EngineError::Compile {
            message: "compile failed without a message".into(),
            index: None,
        };
    }
    // SAFETY: Hyperscan returned a valid error struct with a NUL-terminated
    // message; we copy both out before freeing it exactly once.
    unsafe {
        let message = if (*err).message.is_null() {
            "compile failed".to_string()
        } else {
            CStr::from_ptr((*err).message)
                .to_string_lossy()
                .into_owned()
        };
        let index = usize::try_from((*err).expression).ok();
        hs::hs_free_compile_error(err);
        EngineError::Compile { message, index }
    }
}

fn c_string(expr: &[u8], index: usize) -> Result<CString, EngineError> {
    CString::new(expr).map_err(|_| EngineError::Compile {
        message: "pattern contains a NUL byte (write it as \\x00)".into(),
        index: Some(index),
    })
}

impl Database {
    /// Compiles regular expressions into one database.
    pub fn compile(patterns: &[PatternSpec<'_>], mode: Mode) -> Result<Database, EngineError> {
        let sources = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| c_string(p.expr, i))
            .collect::<Result<Vec<_>, _>>()?;
        let exprs: Vec<*const libc::c_char> = sources.iter().map(|s| s.as_ptr()).collect();
        let flags: Vec<u32> = patterns.iter().map(|p| p.flags).collect();
        let ids: Vec<u32> = patterns.iter().map(|p| p.id).collect();
        let count =
            u32::try_from(patterns.len()).map_err(|_| EngineError::TooLong(patterns.len()))?;
        let mut db = ptr::null_mut();
        let mut err = ptr::null_mut();
        // SAFETY: the three arrays have `count` elements and outlive the call;
        // the out-pointers are valid locals.
        let rc = unsafe {
            hs::hs_compile_multi(
                exprs.as_ptr(),
                flags.as_ptr(),
                ids.as_ptr(),
                count,
                mode.bits(),
                ptr::null(),
                &mut db,
                &mut err,
            )
        };
        Self::finish(rc, db, err, mode)
    }

    /// Compiles byte literals (no regex syntax) with Hyperscan's literal API.
    ///
    /// Only `CASELESS`, `MULTILINE`, `SINGLEMATCH` and `SOM_LEFTMOST` flags apply to literals.
    pub fn compile_literals(
        patterns: &[PatternSpec<'_>],
        mode: Mode,
    ) -> Result<Database, EngineError> {
        let exprs: Vec<*const libc::c_char> = patterns
            .iter()
            .map(|p| p.expr.as_ptr() as *const libc::c_char)
            .collect();
        let lens: Vec<usize> = patterns.iter().map(|p| p.expr.len()).collect();
        let flags: Vec<u32> = patterns.iter().map(|p| p.flags).collect();
        let ids: Vec<u32> = patterns.iter().map(|p| p.id).collect();
        let count =
            u32::try_from(patterns.len()).map_err(|_| EngineError::TooLong(patterns.len()))?;
        let mut db = ptr::null_mut();
        let mut err = ptr::null_mut();
        // SAFETY: the four arrays have `count` elements and outlive the call;
        // literal bytes are passed with explicit lengths (NULs allowed).
        let rc = unsafe {
            hs::hs_compile_lit_multi(
                exprs.as_ptr(),
                flags.as_ptr(),
                ids.as_ptr(),
                lens.as_ptr(),
                count,
                mode.bits(),
                ptr::null(),
                &mut db,
                &mut err,
            )
        };
        Self::finish(rc, db, err, mode)
    }

    fn finish(
        rc: hs::hs_error_t,
        db: *mut hs::hs_database_t,
        err: *mut hs::hs_compile_error_t,
        mode: Mode,
    ) -> Result<Database, EngineError> {
        if rc != hs::HS_SUCCESS as hs::hs_error_t {
            return Err(compile_error(err));
        }
        NonNull::new(db)
            .map(|ptr| Database { ptr, mode })
            .ok_or(EngineError::Call {
                call: "hs_compile",
                code: rc,
            })
    }

    /// Width facts for one expression, or the compile error Hyperscan would report for it.
    pub fn expression_info(expr: &[u8], flags: u32) -> Result<ExprInfo, EngineError> {
        let source = c_string(expr, 0)?;
        let mut info = ptr::null_mut();
        let mut err = ptr::null_mut();
        // SAFETY: valid NUL-terminated source and out-pointers.
        let rc = unsafe { hs::hs_expression_info(source.as_ptr(), flags, &mut info, &mut err) };
        if rc != hs::HS_SUCCESS as hs::hs_error_t || info.is_null() {
            return Err(compile_error(err));
        }
        // SAFETY: `info` is a valid struct allocated by Hyperscan with malloc
        // (no custom allocator is installed); read it, then free it once.
        unsafe {
            let out = ExprInfo {
                min_width: (*info).min_width,
                max_width: ((*info).max_width != u32::MAX).then_some((*info).max_width),
            };
            libc::free(info as *mut libc::c_void);
            Ok(out)
        }
    }

    /// The mode this database scans in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub(super) fn as_ptr(&self) -> *const hs::hs_database_t {
        self.ptr.as_ptr()
    }

    /// Bytes of memory the database occupies.
    pub fn size(&self) -> usize {
        let mut n = 0usize;
        // SAFETY: valid database and out-pointer.
        let rc = unsafe { hs::hs_database_size(self.as_ptr(), &mut n) };
        if rc == hs::HS_SUCCESS as hs::hs_error_t {
            n
        } else {
            0
        }
    }

    /// The database as bytes that [`Database::deserialize`] accepts on the same Hyperscan build.
    pub fn serialize(&self) -> Result<Vec<u8>, EngineError> {
        let mut bytes = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: valid database and out-pointers.
        check("hs_serialize_database", unsafe {
            hs::hs_serialize_database(self.as_ptr(), &mut bytes, &mut len)
        })?;
        if bytes.is_null() {
            return Err(EngineError::Call {
                call: "hs_serialize_database",
                code: 0,
            });
        }
        // SAFETY: Hyperscan returned `len` bytes allocated with malloc; copy
        // them out and free the block once.
        unsafe {
            let out = std::slice::from_raw_parts(bytes as *const u8, len).to_vec();
            libc::free(bytes as *mut libc::c_void);
            Ok(out)
        }
    }

    /// Rebuilds a database from [`Database::serialize`] output.
    pub fn deserialize(bytes: &[u8], mode: Mode) -> Result<Database, EngineError> {
        let mut db = ptr::null_mut();
        // SAFETY: `bytes` is a valid slice; Hyperscan validates its header,
        // magic and checksum before building anything from it.
        let rc = unsafe {
            hs::hs_deserialize_database(bytes.as_ptr() as *const libc::c_char, bytes.len(), &mut db)
        };
        if rc != hs::HS_SUCCESS as hs::hs_error_t {
            return Err(EngineError::Deserialize(rc));
        }
        NonNull::new(db)
            .map(|ptr| Database { ptr, mode })
            .ok_or(EngineError::Deserialize(rc))
    }

    /// Scans one buffer (block mode), calling `on_match(id, end)` for every match.
    ///
    /// Allocation-free: the callback is reached through a monomorphised trampoline.
    pub fn scan<F: OnMatch>(
        &self,
        data: &[u8],
        scratch: &mut Scratch,
        mut on_match: F,
    ) -> Result<(), EngineError> {
        debug_assert_eq!(self.mode, Mode::Block);
        let len = u32::try_from(data.len()).map_err(|_| EngineError::TooLong(data.len()))?;
        // SAFETY: the database is valid, `scratch` was allocated for it (the
        // scanner grows one scratch for all its databases), `data` is valid
        // for `len` bytes, and `on_match` outlives the synchronous call.
        let rc = unsafe {
            hs::hs_scan(
                self.as_ptr(),
                data.as_ptr() as *const libc::c_char,
                len,
                0,
                scratch.as_ptr(),
                Some(trampoline::<F>),
                &mut on_match as *mut F as *mut libc::c_void,
            )
        };
        scan_result("hs_scan", rc)
    }
}
