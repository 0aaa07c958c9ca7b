//! Ring setup and the submit/wait cycle of one worker.
//!
//! The ring is created `SINGLE_ISSUER | DEFER_TASKRUN` so completion work runs only
//! when this thread asks for it, in its own context, without inter-processor
//! interrupts; kernels older than 6.1 lack `DEFER_TASKRUN`, and then `COOP_TASKRUN`
//! is the next best (task work still deferred to the next syscall, no IPI), which we
//! log. Every loop turn makes exactly one `io_uring_enter` that both submits what the
//! turn queued and waits for completions, with a timeout so timers still fire.

use std::io;
use std::time::Duration;

use io_uring::{cqueue, squeue, types, IoUring};

/// How the ring was created, for the startup log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskRunMode {
    Deferred,
    Cooperative,
    Default,
}

/// Applies one task-run flag combination to a ring builder.
type Configure = fn(&mut io_uring::Builder);

pub struct Ring {
    ring: IoUring,
    pub mode: TaskRunMode,
}

impl Ring {
    pub fn new(entries: u32) -> io::Result<Ring> {
        let cq = entries.saturating_mul(4);
        let attempts: [(TaskRunMode, Configure); 3] = [
            (TaskRunMode::Deferred, |b| {
                b.setup_single_issuer().setup_defer_taskrun();
            }),
            (TaskRunMode::Cooperative, |b| {
                b.setup_single_issuer().setup_coop_taskrun();
            }),
            (TaskRunMode::Default, |_| {}),
        ];
        let mut last_err = None;
        for (mode, configure) in attempts {
            let mut b = IoUring::builder();
            b.setup_cqsize(cq).setup_submit_all();
            configure(&mut b);
            match b.build(entries) {
                Ok(ring) => return Ok(Ring { ring, mode }),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("io_uring setup failed")))
    }

    /// Queues one entry, flushing the submission queue to the kernel first if it is
    /// full (the only case where a turn makes a second syscall).
    pub fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry we queue points only at memory that outlives the
            // operation: buffers owned by connection slots that are never moved while
            // an operation is in flight, the provided-buffer ring, or the worker.
            let pushed = unsafe { self.ring.submission().push(entry).is_ok() };
            if pushed {
                return Ok(());
            }
            match self.ring.submit() {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // The CQ is full: the caller drains it on the next turn; pushing
                    // more now would spin. Report it so the turn ends early.
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Submits everything queued and waits for at least one completion or `timeout`.
    pub fn submit_and_wait(&mut self, timeout: Duration) -> io::Result<()> {
        let ts = types::Timespec::new()
            .sec(timeout.as_secs())
            .nsec(timeout.subsec_nanos());
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves up to `out.len()` completions into `out`, returning how many.
    pub fn drain(&mut self, out: &mut [cqueue::Entry]) -> usize {
        let mut cq = self.ring.completion();
        cq.sync();
        let mut n = 0;
        for slot in out.iter_mut() {
            match cq.next() {
                Some(e) => {
                    *slot = e;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    pub fn submitter(&self) -> io_uring::Submitter<'_> {
        self.ring.submitter()
    }
}
