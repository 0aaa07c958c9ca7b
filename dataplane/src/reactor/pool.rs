//! A bounded per-core free list of equally sized byte buffers.
//!
//! Buffers are allocated the first time the pool runs dry and then recycled, so
//! after warm-up a request takes and returns buffers without touching the heap.
//! The cap bounds the memory a core can spend on them; running out is reported to
//! the caller (which answers 503) instead of growing without limit.

pub struct BufPool {
    free: Vec<Box<[u8]>>,
    size: usize,
    allocated: usize,
    cap: usize,
}

impl BufPool {
    pub fn new(size: usize, cap: usize) -> BufPool {
        BufPool {
            free: Vec::with_capacity(cap),
            size,
            allocated: 0,
            cap,
        }
    }

    /// Takes a buffer, allocating one only while fewer than `cap` exist.
    pub fn take(&mut self) -> Option<Box<[u8]>> {
        if let Some(b) = self.free.pop() {
            return Some(b);
        }
        if self.allocated >= self.cap {
            return None;
        }
        self.allocated += 1;
        Some(vec![0u8; self.size].into_boxed_slice())
    }

    pub fn give(&mut self, buf: Box<[u8]>) {
        debug_assert_eq!(buf.len(), self.size);
        if self.free.len() < self.cap {
            self.free.push(buf);
        }
    }

    pub fn buf_size(&self) -> usize {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_recycled() {
        let mut p = BufPool::new(64, 2);
        let a = p.take().expect("first");
        let b = p.take().expect("second");
        assert!(p.take().is_none(), "cap reached");
        let pa = a.as_ptr();
        p.give(a);
        let c = p.take().expect("recycled");
        assert_eq!(c.as_ptr(), pa, "the same buffer comes back");
        p.give(b);
        p.give(c);
    }
}
