//! The event writer thread: drains every core's ring, writes the lines to the
//! sink, rotates and reopens it, and counts what was written or lost.
//!
//! It polls (every 10 ms, sooner while a ring is filling up) instead of being
//! woken by the cores, so a core's emit is a memory copy and never a system
//! call, and writes come in batches of up to 10 ms of events. When the sink
//! fails (ENOSPC, EIO, EPIPE…) it keeps draining the rings — cores never
//! fill up because of a broken disk — counts the lines as lost, logs at most
//! one error per interval, and tries the sink again (reopening a file) once
//! a second; the first write that succeeds ends the outage.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::Counter;

use super::queue::Rx;
use super::sink::Sink;

/// Idle sleep between polls of the rings.
const POLL: Duration = Duration::from_millis(10);
/// After a failed write, lines are counted as lost without trying the sink
/// until this much time has passed.
const RETRY: Duration = Duration::from_secs(1);
/// At most one error log line per this interval while the sink fails.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Writer {
    pub rxs: Vec<Rx>,
    pub sink: Sink,
    /// Batch buffer; its capacity is at least one ring's, allocated once.
    pub buf: Vec<u8>,
    pub stop: Arc<AtomicBool>,
    pub reopen: &'static AtomicBool,
    pub written: Counter,
    pub lost: Counter,
    /// Sees each batch before the sink does (the admin API's event store).
    pub tap: Option<super::Tap>,
}

struct Outage {
    retry_at: Instant,
    lost: u64,
    logged_at: Option<Instant>,
}

impl Writer {
    pub fn run(mut self) {
        let mut outage: Option<Outage> = None;
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            if self.reopen.swap(false, Ordering::AcqRel) {
                match self.sink.reopen() {
                    Ok(()) => tracing::info!("event log reopened"),
                    Err(e) => tracing::error!(error = %e, "cannot reopen the event log"),
                }
            }
            if self.sink.rotation_due() {
                if let Err(e) = self.sink.rotate() {
                    tracing::error!(error = %e, "cannot rotate the event log");
                }
            }
            // Busy: some ring was a quarter full; go round again at once
            // rather than sleep (otherwise sleeping batches the writes).
            let mut busy = false;
            for i in 0..self.rxs.len() {
                // Room for a whole ring first: a drain takes everything
                // queued at that moment (whole lines), which can be up to the
                // ring's capacity, and the buffer must not grow.
                let room = self.buf.capacity() - self.buf.len();
                if self.rxs[i].pending() > 0 && room < self.rxs[i].capacity() {
                    tap(&mut self.tap, &self.buf);
                    Self::write_out(
                        &mut self.sink,
                        &mut self.buf,
                        &mut outage,
                        &self.written,
                        &self.lost,
                    );
                }
                let buf = &mut self.buf;
                let got = self.rxs[i].drain(|a, b| {
                    buf.extend_from_slice(a);
                    buf.extend_from_slice(b);
                });
                busy |= got >= self.rxs[i].capacity() / 4;
            }
            tap(&mut self.tap, &self.buf);
            Self::write_out(
                &mut self.sink,
                &mut self.buf,
                &mut outage,
                &self.written,
                &self.lost,
            );
            if stopping {
                // Workers have stopped before the writer is told to: the
                // rings were drained for the last time above.
                if let Some(o) = &outage {
                    tracing::warn!(lost = o.lost, "event log still failing at shutdown");
                }
                return;
            }
            if !busy {
                std::thread::sleep(POLL);
            }
        }
    }

    fn write_out(
        sink: &mut Sink,
        buf: &mut Vec<u8>,
        outage: &mut Option<Outage>,
        written: &Counter,
        lost: &Counter,
    ) {
        if buf.is_empty() {
            return;
        }
        let lines = count_lines(buf);
        let now = Instant::now();
        if let Some(o) = outage.as_mut() {
            if now < o.retry_at {
                o.lost += lines;
                lost.increment(lines);
                buf.clear();
                return;
            }
            // Retry: a file gets a fresh descriptor (the old one may be on a
            // device that went away); a full disk is retried in place.
            if let Err(e) = sink.reopen() {
                o.lost += lines;
                lost.increment(lines);
                o.retry_at = now + RETRY;
                log_outage(o, now, &e);
                buf.clear();
                return;
            }
        }
        match sink.write_lines(buf) {
            Ok(()) => {
                written.increment(lines);
                if let Some(o) = outage.take() {
                    tracing::warn!(lost = o.lost, "event log writable again");
                }
            }
            Err((done, e)) => {
                let ok = count_lines(&buf[..done]);
                written.increment(ok);
                lost.increment(lines - ok);
                let o = outage.get_or_insert(Outage {
                    retry_at: now,
                    lost: 0,
                    logged_at: None,
                });
                o.lost += lines - ok;
                o.retry_at = now + RETRY;
                log_outage(o, now, &e);
            }
        }
        buf.clear();
    }
}

/// Hands a batch to the tap, if any: even when the sink fails, so the admin
/// API still shows what is happening.
fn tap(tap: &mut Option<super::Tap>, buf: &[u8]) {
    if let Some(t) = tap.as_mut() {
        if !buf.is_empty() {
            t(buf);
        }
    }
}

fn log_outage(o: &mut Outage, now: Instant, e: &io::Error) {
    if o.logged_at
        .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
    {
        o.logged_at = Some(now);
        tracing::error!(error = %e, lost = o.lost, "cannot write the event log; counting events as lost until it works again");
    }
}

fn count_lines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}
