//! One in-flight send: up to two byte ranges (a rewritten head and a run of body
//! bytes held in an inbox) written with `sendmsg`, resumed after short writes.
//!
//! The iovecs and msghdr live inside the connection slot, which never moves while
//! the operation is in flight (slots are boxed and reused, never reallocated).

use io_uring::{opcode, squeue, types};

pub struct Tx {
    iov: [libc::iovec; 2],
    msg: libc::msghdr,
    pub inflight: bool,
    total: usize,
    done: usize,
    /// Bytes of the source inbox to consume once everything is written.
    pub consume: usize,
}

impl Tx {
    pub fn new() -> Tx {
        Tx {
            iov: [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; 2],
            // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
            msg: unsafe { std::mem::zeroed() },
            inflight: false,
            total: 0,
            done: 0,
            consume: 0,
        }
    }

    /// Prepares a send of `a` then `b`; the memory must stay valid until completion.
    pub fn set(&mut self, a: &[u8], b: &[u8], consume: usize) {
        self.iov[0] = libc::iovec {
            iov_base: a.as_ptr() as *mut _,
            iov_len: a.len(),
        };
        self.iov[1] = libc::iovec {
            iov_base: b.as_ptr() as *mut _,
            iov_len: b.len(),
        };
        self.total = a.len() + b.len();
        self.done = 0;
        self.consume = consume;
    }

    /// Prepares a send of the head `out[..n]` followed by `body`. A small body is
    /// copied behind the head so the pair goes out as one plain `send`: copying a
    /// few KiB costs less than the kernel's msghdr/iovec import.
    pub fn set_head_and_body(&mut self, out: &mut [u8], n: usize, body: &[u8], consume: usize) {
        const JOIN_MAX: usize = 4096;
        if body.len() <= JOIN_MAX && out.len() - n >= body.len() {
            out[n..n + body.len()].copy_from_slice(body);
            self.set(&out[..n + body.len()], &[], consume);
        } else {
            self.set(&out[..n], body, consume);
        }
    }

    /// The bytes not yet written, as set by [`Tx::set`] (a TLS connection
    /// seals them instead of sending them as they are).
    ///
    /// # Safety
    ///
    /// The ranges given to `set` must still be valid, which the worker
    /// guarantees until the send completes (the same rule as for the kernel).
    pub unsafe fn remaining(&self) -> [&[u8]; 2] {
        self.iov.map(|v| {
            if v.iov_len == 0 {
                &[][..]
            } else {
                // SAFETY: the caller promises the ranges are alive; `advance`
                // keeps each iovec inside its original range.
                unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) }
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Builds the send entry for what remains: a plain `send` when one range is
    /// left (no msghdr to copy and import), `sendmsg` for two.
    pub fn entry(&mut self, fd: i32, user_data: u64) -> squeue::Entry {
        let first = if self.iov[0].iov_len == 0 { 1 } else { 0 };
        if first == 1 || self.iov[1].iov_len == 0 {
            let v = self.iov[first];
            self.inflight = true;
            return opcode::Send::new(types::Fd(fd), v.iov_base as *const u8, v.iov_len as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(user_data);
        }
        self.msg.msg_iov = self.iov[first..].as_mut_ptr();
        self.msg.msg_iovlen = 2 - first;
        self.inflight = true;
        opcode::SendMsg::new(types::Fd(fd), &self.msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(user_data)
    }

    /// Accounts `n` written bytes; true when the whole send is done.
    pub fn advance(&mut self, n: usize) -> bool {
        self.inflight = false;
        self.done += n;
        let mut n = n;
        for v in self.iov.iter_mut() {
            let k = n.min(v.iov_len);
            // SAFETY: k <= iov_len, so the pointer stays inside the original range.
            v.iov_base = unsafe { (v.iov_base as *mut u8).add(k) }.cast();
            v.iov_len -= k;
            n -= k;
        }
        self.done >= self.total
    }
}
