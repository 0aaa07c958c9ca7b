//! A connection's received-but-unconsumed bytes.
//!
//! Multishot recv hands us kernel-chosen buffers. The common case — a whole request
//! head in one buffer — is parsed and forwarded straight from that buffer. Only
//! when a head straddles buffers are the pieces copied into the connection's
//! assembly buffer (taken from a per-core pool), so the parser always sees one
//! contiguous slice. The queue is bounded: past `PAUSE_AT` buffers the owner stops
//! receiving until it has drained.

use crate::reactor::bufring::BufRing;
use crate::reactor::pool::BufPool;

/// Ring buffers queued behind the current one before recv is paused.
pub const PAUSE_AT: usize = 8;
/// Hard capacity. A multishot recv keeps posting completions for whatever the
/// socket already holds until the cancel takes effect, so the socket's receive
/// buffer is capped (see [`RCVBUF_BUFFERS`]) to keep that burst below this.
const CAP: usize = 128;
/// The socket receive buffer is set to this many ring buffers' worth; the kernel
/// doubles it for bookkeeping, so at most ~2x this many payload buffers can be
/// pending on a socket when recv is paused.
pub const RCVBUF_BUFFERS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cur {
    None,
    Ring { bid: u16, start: u32, end: u32 },
    Asm { start: u32, end: u32 },
}

#[derive(Debug, PartialEq, Eq)]
pub enum InboxError {
    /// More completions arrived than the queue holds (recv did not pause in time).
    Overflow,
    /// No assembly buffer could be had (pool exhausted).
    NoBuffer,
}

pub struct Inbox {
    cur: Cur,
    queue: [(u16, u32); CAP],
    q_head: usize,
    q_len: usize,
    asm: Option<Box<[u8]>>,
    /// The peer closed its sending side (recv returned 0).
    pub eof: bool,
}

impl Inbox {
    pub fn new() -> Inbox {
        Inbox {
            cur: Cur::None,
            queue: [(0, 0); CAP],
            q_head: 0,
            q_len: 0,
            asm: None,
            eof: false,
        }
    }

    /// Queues a filled ring buffer.
    pub fn push(&mut self, bid: u16, len: u32) -> Result<(), InboxError> {
        if self.q_len == CAP {
            return Err(InboxError::Overflow);
        }
        self.queue[(self.q_head + self.q_len) % CAP] = (bid, len);
        self.q_len += 1;
        Ok(())
    }

    pub fn queued(&self) -> usize {
        self.q_len
    }

    pub fn should_pause(&self) -> bool {
        self.q_len >= PAUSE_AT
    }

    fn pop(&mut self) -> Option<(u16, u32)> {
        if self.q_len == 0 {
            return None;
        }
        let v = self.queue[self.q_head];
        self.q_head = (self.q_head + 1) % CAP;
        self.q_len -= 1;
        Some(v)
    }

    fn load(&mut self) {
        if self.cur == Cur::None {
            if let Some((bid, len)) = self.pop() {
                self.cur = Cur::Ring {
                    bid,
                    start: 0,
                    end: len,
                };
            }
        }
    }

    /// True when no byte is waiting.
    pub fn is_empty(&self) -> bool {
        self.cur == Cur::None && self.q_len == 0
    }

    /// The current contiguous run of unconsumed bytes (possibly empty).
    ///
    /// The slice is not tied to a borrow of the inbox because the worker parses it,
    /// then updates other state of the same connection and queues a send that
    /// points into it, all before the bytes are released.
    ///
    /// # Safety
    ///
    /// The caller must not use the slice after the next `consume`, `coalesce` or
    /// `release` of this inbox (or after `recycle` of the buffer by anyone): the
    /// memory then goes back to the kernel or the pool. A send queued from it must
    /// complete before the bytes are consumed, which the worker guarantees by
    /// consuming only in the send's completion.
    pub unsafe fn front(&mut self, bufs: &BufRing) -> &'static [u8] {
        self.load();
        match self.cur {
            Cur::None => &[],
            Cur::Ring { bid, start, end } => {
                let all = bufs.bytes(bid, end as usize);
                let s = &all[start as usize..];
                // SAFETY: the buffer is held by this inbox until `consume`/`release`
                // recycles it, and the kernel does not write a held buffer; the
                // caller promises not to keep the slice past those calls.
                unsafe { std::slice::from_raw_parts(s.as_ptr(), s.len()) }
            }
            Cur::Asm { start, end } => match &self.asm {
                Some(a) => {
                    let s = &a[start as usize..end as usize];
                    // SAFETY: as above; the assembly buffer is owned by this inbox and
                    // not reallocated while bytes are in it.
                    unsafe { std::slice::from_raw_parts(s.as_ptr(), s.len()) }
                }
                None => &[],
            },
        }
    }

    /// Marks `n` bytes of the current run consumed, recycling a drained ring buffer.
    pub fn consume(&mut self, n: usize, bufs: &mut BufRing, pool: &mut BufPool) {
        match &mut self.cur {
            Cur::None => debug_assert_eq!(n, 0),
            Cur::Ring { bid, start, end } => {
                *start += n as u32;
                debug_assert!(*start <= *end);
                if *start >= *end {
                    bufs.recycle(*bid);
                    self.cur = Cur::None;
                }
            }
            Cur::Asm { start, end } => {
                *start += n as u32;
                if *start >= *end {
                    self.cur = Cur::None;
                    if let Some(a) = self.asm.take() {
                        pool.give(a);
                    }
                }
            }
        }
    }

    /// Makes the current run longer by copying it and following queued buffers into
    /// the assembly buffer. Returns false when nothing more could be added (no queued
    /// data, or the assembly buffer is full).
    pub fn coalesce(&mut self, bufs: &mut BufRing, pool: &mut BufPool) -> Result<bool, InboxError> {
        self.load();
        if self.q_len == 0 {
            // Plaintext from TLS arrives only by `push_plain`, at the end of
            // the assembly buffer: move the run to the front so the rest of a
            // head has room to arrive.
            if let (Cur::Asm { start, end }, Some(asm)) = (self.cur, self.asm.as_mut()) {
                if start > 0 {
                    asm.copy_within(start as usize..end as usize, 0);
                    self.cur = Cur::Asm {
                        start: 0,
                        end: end - start,
                    };
                }
            }
            return Ok(false);
        }
        if self.asm.is_none() {
            self.asm = Some(pool.take().ok_or(InboxError::NoBuffer)?);
        }
        let Some(asm) = self.asm.as_mut() else {
            return Err(InboxError::NoBuffer);
        };
        // Move what we have to the front of the assembly buffer.
        let mut len = match self.cur {
            Cur::None => 0,
            Cur::Asm { start, end } => {
                asm.copy_within(start as usize..end as usize, 0);
                (end - start) as usize
            }
            Cur::Ring { bid, start, end } => {
                let src = &bufs.bytes(bid, end as usize)[start as usize..];
                let n = src.len().min(asm.len());
                asm[..n].copy_from_slice(&src[..n]);
                if n < src.len() {
                    // Cannot happen: the assembly buffer is larger than a ring buffer.
                    return Ok(false);
                }
                bufs.recycle(bid);
                n
            }
        };
        let mut grew = false;
        while self.q_len > 0 {
            let (bid, blen) = self.queue[self.q_head];
            if len + blen as usize > asm.len() {
                break;
            }
            let src = bufs.bytes(bid, blen as usize);
            asm[len..len + src.len()].copy_from_slice(src);
            len += src.len();
            bufs.recycle(bid);
            self.q_head = (self.q_head + 1) % CAP;
            self.q_len -= 1;
            grew = true;
        }
        self.cur = Cur::Asm {
            start: 0,
            end: len as u32,
        };
        Ok(grew)
    }

    /// Appends plaintext a TLS session decrypted (such an inbox never queues
    /// ring buffers) behind the unconsumed run, without moving it: a send may
    /// still point into it. Returns how much fit; none when no assembly buffer
    /// is free.
    pub fn push_plain(&mut self, data: &[u8], pool: &mut BufPool) -> usize {
        let (start, end) = match self.cur {
            Cur::None => (0, 0),
            Cur::Asm { start, end } => (start as usize, end as usize),
            Cur::Ring { .. } => return 0,
        };
        if data.is_empty() || self.q_len > 0 {
            return 0;
        }
        if self.asm.is_none() {
            self.asm = pool.take();
        }
        let Some(asm) = self.asm.as_mut() else {
            return 0;
        };
        let n = data.len().min(asm.len() - end);
        asm[end..end + n].copy_from_slice(&data[..n]);
        if n > 0 {
            self.cur = Cur::Asm {
                start: start as u32,
                end: (end + n) as u32,
            };
        }
        n
    }

    /// Drops everything (connection closing), recycling every held buffer.
    pub fn release(&mut self, bufs: &mut BufRing, pool: &mut BufPool) {
        if let Cur::Ring { bid, .. } = self.cur {
            bufs.recycle(bid);
        }
        self.cur = Cur::None;
        while let Some((bid, _)) = self.pop() {
            bufs.recycle(bid);
        }
        if let Some(a) = self.asm.take() {
            pool.give(a);
        }
        self.eof = false;
    }
}
