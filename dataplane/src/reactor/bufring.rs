//! The provided-buffer ring that multishot recv fills.
//!
//! The kernel picks a free buffer for each receive, so an idle keep-alive
//! connection holds no receive memory; a connection owns a buffer only while its
//! bytes are being parsed or forwarded, then gives it back with [`BufRing::recycle`].
//! Requests are parsed in place inside these buffers.

use std::io;
use std::ptr::NonNull;

use io_uring::types::BufRingEntry;

use super::ring::Ring;

pub struct BufRing {
    /// Page-aligned ring of `entries` descriptors shared with the kernel.
    ring: NonNull<BufRingEntry>,
    ring_bytes: usize,
    /// Backing memory of all buffers, `entries * buf_size` bytes.
    mem: NonNull<u8>,
    mem_bytes: usize,
    entries: u16,
    mask: u16,
    buf_size: u32,
    tail: u16,
    pub bgid: u16,
    /// Buffers currently handed out to connections (for metrics and leak checks).
    pub in_use: usize,
}

fn mmap_anon(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: anonymous private mapping with no address hint; the result is checked.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

impl BufRing {
    /// Allocates `entries` buffers of `buf_size` bytes and registers them as group `bgid`.
    pub fn new(ring: &Ring, entries: u16, buf_size: u32, bgid: u16) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "provided-buffer count must be a power of two <= 32768",
            ));
        }
        let ring_bytes = entries as usize * std::mem::size_of::<BufRingEntry>();
        let ring_ptr = mmap_anon(ring_bytes)?.cast::<BufRingEntry>();
        let mem_bytes = entries as usize * buf_size as usize;
        let mem = match mmap_anon(mem_bytes) {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: the mapping was created above with this length.
                unsafe { libc::munmap(ring_ptr.as_ptr().cast(), ring_bytes) };
                return Err(e);
            }
        };
        let mut br = BufRing {
            ring: ring_ptr,
            ring_bytes,
            mem,
            mem_bytes,
            entries,
            mask: entries - 1,
            buf_size,
            tail: 0,
            bgid,
            in_use: 0,
        };
        // SAFETY: the ring memory is page aligned, `entries` long and lives until
        // `Drop`, after the io_uring it is registered with is torn down (the worker
        // drops the ring first).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                ring_ptr.as_ptr() as u64,
                entries,
                bgid,
                0,
            )?;
        }
        for bid in 0..entries {
            br.put(bid);
        }
        br.in_use = 0;
        br.publish();
        Ok(br)
    }

    fn put(&mut self, bid: u16) {
        let idx = (self.tail & self.mask) as usize;
        // SAFETY: idx < entries; the slot at the tail is owned by us until the tail
        // is published.
        let e = unsafe { &mut *self.ring.as_ptr().add(idx) };
        // SAFETY: bid < entries, so the offset is inside the buffer mapping.
        let addr = unsafe { self.mem.as_ptr().add(bid as usize * self.buf_size as usize) };
        e.set_addr(addr as u64);
        e.set_len(self.buf_size);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&mut self) {
        // SAFETY: the ring base is the first entry; the kernel reads the tail with
        // acquire semantics, so a release store makes the entries above visible.
        unsafe {
            let tail =
                BufRingEntry::tail(self.ring.as_ptr()) as *const std::sync::atomic::AtomicU16;
            (*tail).store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }

    /// Gives a buffer back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        debug_assert!(bid < self.entries);
        self.put(bid);
        self.publish();
        self.in_use = self.in_use.saturating_sub(1);
    }

    /// Notes that a completion handed us buffer `bid`.
    pub fn taken(&mut self, _bid: u16) {
        self.in_use += 1;
    }

    /// The bytes of buffer `bid`.
    ///
    /// The returned slice aliases kernel-written memory: callers must only read
    /// the part a completion reported as filled, and only until they recycle it.
    pub fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        let len = len.min(self.buf_size as usize);
        let bid = (bid & self.mask) as usize;
        // SAFETY: bid < entries and len <= buf_size keep the slice inside the mapping;
        // the kernel does not write a buffer again until we recycle it.
        unsafe {
            std::slice::from_raw_parts(self.mem.as_ptr().add(bid * self.buf_size as usize), len)
        }
    }

    pub fn buf_size(&self) -> usize {
        self.buf_size as usize
    }

    pub fn entries(&self) -> u16 {
        self.entries
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both mappings were created in `new` with these lengths.
        unsafe {
            libc::munmap(self.mem.as_ptr().cast(), self.mem_bytes);
            libc::munmap(self.ring.as_ptr().cast(), self.ring_bytes);
        }
    }
}
