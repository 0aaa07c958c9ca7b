//! Per-core Hyperscan scratch space.

use std::ptr::{self, NonNull};

use super::{check, hs, Database, EngineError};

/// Scratch space for scanning; one per core, never shared.
///
/// One scratch serves every database it was grown for (Hyperscan sizes it
/// for the most demanding one).
pub struct Scratch {
    ptr: NonNull<hs::hs_scratch_t>,
}

// SAFETY: a scratch may move between threads; it is only ever used by one at
// a time (it is not `Sync`, and every scan takes `&mut Scratch`).
unsafe impl Send for Scratch {}

impl Scratch {
    /// Scratch big enough for every database in `dbs` (at least one).
    pub fn for_databases<'a>(
        dbs: impl IntoIterator<Item = &'a Database>,
    ) -> Result<Scratch, EngineError> {
        let mut raw = ptr::null_mut();
        let mut any = false;
        for db in dbs {
            // SAFETY: `raw` is null or a scratch from a previous call;
            // hs_alloc_scratch grows it in place for `db`.
            check("hs_alloc_scratch", unsafe {
                hs::hs_alloc_scratch(db.as_ptr(), &mut raw)
            })?;
            any = true;
        }
        if !any {
            return Err(EngineError::Call {
                call: "hs_alloc_scratch (no database)",
                code: 0,
            });
        }
        NonNull::new(raw)
            .map(|ptr| Scratch { ptr })
            .ok_or(EngineError::Call {
                call: "hs_alloc_scratch",
                code: 0,
            })
    }

    pub(super) fn as_ptr(&mut self) -> *mut hs::hs_scratch_t {
        self.ptr.as_ptr()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: allocated by hs_alloc_scratch, freed once.
        unsafe { hs::hs_free_scratch(self.ptr.as_ptr()) };
    }
}
