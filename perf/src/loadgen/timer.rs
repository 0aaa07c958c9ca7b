//! A timerfd in the worker's epoll set, for open-loop wake-ups.
//!
//! epoll's own timeout has millisecond resolution, rounded up: a request due
//! 100 µs from now would go out up to 1 ms late, and the corrected latency
//! would charge that lateness to the server. A timerfd fires with the
//! kernel's high-resolution timers instead.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// A one-shot monotonic timer that makes the poll it is registered with return.
pub struct Timer {
    fd: OwnedFd,
}

impl Timer {
    /// Creates the timer and registers it (edge-triggered, like every mio
    /// source). Also drops the calling thread's timer slack from the default
    /// 50 µs to 1 ns: the kernel would otherwise be free to fire that late.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Timer> {
        // SAFETY: PR_SET_TIMERSLACK takes a plain integer and only affects
        // this thread; failure (never expected) just leaves the default slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        // SAFETY: timerfd_create takes no pointers; a negative return is an
        // error, checked before the fd is owned.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a valid fd we just created and nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Timer { fd })
    }

    /// Fires once, `after` from now (re-arming replaces the previous time and
    /// clears a pending expiry, so each arming gives one fresh edge).
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        // a zero it_value would disarm the timer: fire after 1 ns instead
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec on the stack for the call;
        // the old-value pointer may be null.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
