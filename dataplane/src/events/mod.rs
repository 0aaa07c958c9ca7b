//! The security event log: one JSON line for every request a policy matched
//! (and a configurable sample of allowed ones), written off the hot path.
//!
//! - [`record`]: formats an event into the core's reused buffer, redacting
//!   secrets ([`redact`]): credential headers, cookie values, and fields
//!   whose names look like passwords, tokens or keys.
//! - [`queue`]: each core's bounded single-producer ring to the writer. A
//!   core never waits: when its ring is full the event is dropped and counted
//!   (`rampart_events_total{outcome="dropped_queue_full"}`).
//! - [`limit`]: at most `per_policy_per_second` events a second per policy
//!   on a core; the rest are counted (`outcome="suppressed"`) and summed up
//!   in one summary line per policy every second.
//! - [`writer`]: the one writer thread that drains every ring into the
//!   [`sink`] (stdout, or a file rotated by size and age and reopened on
//!   SIGUSR1). A failing sink (full disk, I/O error) costs events, counted as
//!   `dropped_sink_error`, never traffic; it is retried every second and
//!   events flow again as soon as it works.
//!
//! Why rings of bytes rather than of event structs: an event is variable
//! length and formatting it on the core (into a buffer allocated once) keeps
//! the borrowed request data where it lives; the writer then only copies
//! bytes. Why polling: a wake-up per event would be a system call per event
//! on the core; the writer polls every 10 ms when idle, which bounds the
//! delay before a line reaches the sink.

pub mod limit;
pub mod queue;
pub mod record;
pub mod redact;
pub mod sink;
mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use record::Event;
pub use redact::Redactor;

/// Something that sees every batch of event lines the writer drains (the
/// admin API's event store): called on the writer thread, never on a core,
/// with whole `\n`-terminated lines, before they go to the sink.
pub type Tap = Box<dyn FnMut(&[u8]) + Send>;

/// Set by SIGUSR1 (read by worker 0 from the signalfd); the writer reopens
/// the log file at its next turn. Process-wide because the signal is.
static REOPEN: AtomicBool = AtomicBool::new(false);

/// Asks the writer to reopen the event log file (SIGUSR1).
pub fn request_reopen() {
    REOPEN.store(true, Ordering::Release);
}

/// Where events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkKind {
    Stdout,
    File(PathBuf),
}

/// Default of `[events] per_policy_per_second`: enough to see every
/// client and field an attack uses, far below the rate at which formatting
/// events would cost more than judging the requests.
pub const DEFAULT_PER_POLICY_PER_SECOND: u32 = 100;

/// The `[events]` section.
#[derive(Clone, Debug)]
pub struct EventsConfig {
    /// Log events (only matters when policy inspection is on).
    pub enabled: bool,
    pub sink: SinkKind,
    /// Rotate the file before it would exceed this size; 0 never.
    pub rotate_bytes: u64,
    /// Rotate the file this long after it was opened.
    pub rotate_every: Option<Duration>,
    /// Rotated files kept.
    pub keep: u32,
    /// Ring size per core.
    pub queue_bytes: usize,
    /// Fraction (0.0..=1.0) of allowed requests without any policy hit that
    /// are logged too.
    pub sample_allowed: f64,
    /// Events logged a second per policy on each core (0: no limit); the
    /// rest are counted and summarised (see [`limit`]).
    pub per_policy_per_second: u32,
    /// Field names redacted in addition to [`redact::DEFAULT_SENSITIVE`].
    pub redact: Vec<String>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            enabled: true,
            sink: SinkKind::Stdout,
            rotate_bytes: 100 * 1024 * 1024,
            rotate_every: None,
            keep: 5,
            queue_bytes: 1024 * 1024,
            sample_allowed: 0.0,
            per_policy_per_second: DEFAULT_PER_POLICY_PER_SECOND,
            redact: Vec::new(),
        }
    }
}

impl EventsConfig {
    /// Checks that the sink can be opened, without writing to it (for
    /// `rampart check` and startup): the file must be writable if it exists,
    /// otherwise its directory must exist and be writable.
    pub fn check_sink(&self) -> Result<(), String> {
        let SinkKind::File(path) = &self.sink else {
            return Ok(());
        };
        if path.is_dir() {
            return Err(format!("event log {} is a directory", path.display()));
        }
        if path.exists() {
            return std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map(drop)
                .map_err(|e| format!("cannot open event log {}: {e}", path.display()));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(format!(
                "cannot create event log {}: directory {} does not exist",
                path.display(),
                dir.display()
            ));
        }
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("event log path {} contains a NUL byte", path.display()))?;
        // SAFETY: access(2) on a NUL-terminated path we own.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(format!(
                "cannot create event log {}: directory {} is not writable: {}",
                path.display(),
                dir.display(),
                io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

/// One core's end of the event log: formats and queues events without
/// allocating or blocking.
pub struct CoreEvents {
    tx: queue::Tx,
    buf: Vec<u8>,
    redact: Arc<Redactor>,
    /// Allowed requests are logged when a 32-bit draw is below this.
    sample: u64,
    rng: u64,
    /// Events lost because the ring was full (monotonic; the stats flush reads it).
    pub dropped: u64,
    /// The per-policy limit (0: none).
    pub per_policy_per_second: u32,
    /// Events the limit left out (monotonic; the stats flush reads it).
    pub suppressed: u64,
}

impl CoreEvents {
    /// Whether to log a request: always with policy hits, else sampled.
    pub fn wants(&mut self, hits: bool) -> bool {
        if hits {
            return true;
        }
        if self.sample == 0 {
            return false;
        }
        // xorshift64: deterministic per core, no shared state.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 32) < self.sample
    }

    /// Formats and queues one event; counts it as dropped when the ring is full.
    pub fn emit(&mut self, ev: &Event<'_>) {
        // An event that does not fit the buffer cannot happen with the caps
        // in `record`; it would be counted like a full ring.
        if !record::format(ev, &self.redact, &mut self.buf) || !self.tx.push(&self.buf) {
            self.dropped += 1;
        }
    }

    /// Queues the summary of one policy's suppressed events (a full ring
    /// loses it like an event, and counts it).
    pub fn emit_summary(&mut self, s: &record::Summary<'_>) {
        if !record::format_summary(s, &mut self.buf) || !self.tx.push(&self.buf) {
            self.dropped += 1;
        }
    }
}

/// The running event log (the writer thread). Stopping it (or dropping it)
/// writes out everything queued, then ends the thread.
pub struct EventLog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EventLog {
    /// Opens the sink and starts the writer for `cores` workers. Call after
    /// the metrics recorder is installed (the writer's counters bind to it).
    pub fn start(
        cfg: &EventsConfig,
        cores: usize,
        tap: Option<Tap>,
    ) -> io::Result<(EventLog, Vec<CoreEvents>)> {
        cfg.check_sink().map_err(io::Error::other)?;
        let sink = sink::Sink::open(
            &cfg.sink,
            sink::Rotation {
                bytes: cfg.rotate_bytes,
                every: cfg.rotate_every,
                keep: cfg.keep,
            },
        )
        .map_err(|e| match &cfg.sink {
            SinkKind::File(p) => io::Error::new(
                e.kind(),
                format!("cannot open event log {}: {e}", p.display()),
            ),
            SinkKind::Stdout => e,
        })?;
        let redact = Arc::new(Redactor::new(&cfg.redact));
        let sample = (cfg.sample_allowed.clamp(0.0, 1.0) * (1u64 << 32) as f64) as u64;
        let mut rxs = Vec::with_capacity(cores);
        let mut cores_out = Vec::with_capacity(cores);
        for i in 0..cores {
            let (tx, rx) = queue::pair(cfg.queue_bytes);
            rxs.push(rx);
            cores_out.push(CoreEvents {
                tx,
                buf: Vec::with_capacity(record::EVENT_BUF),
                redact: redact.clone(),
                sample,
                rng: 0x9e37_79b9_7f4a_7c15 ^ ((i as u64 + 1) << 17),
                dropped: 0,
                per_policy_per_second: cfg.per_policy_per_second,
                suppressed: 0,
            });
        }
        let stop = Arc::new(AtomicBool::new(false));
        REOPEN.store(false, Ordering::Release);
        let w = writer::Writer {
            rxs,
            sink,
            buf: Vec::with_capacity(cfg.queue_bytes.max(256 * 1024)),
            stop: stop.clone(),
            reopen: &REOPEN,
            written: metrics::counter!(EVENTS_TOTAL, "outcome" => "written"),
            lost: metrics::counter!(EVENTS_TOTAL, "outcome" => "dropped_sink_error"),
            tap,
        };
        let thread = std::thread::Builder::new()
            .name("rampart-events".to_owned())
            .spawn(move || w.run())?;
        Ok((
            EventLog {
                stop,
                thread: Some(thread),
            },
            cores_out,
        ))
    }

    /// Writes out what is queued and stops the writer.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Release);
        let Some(t) = self.thread.take() else {
            return;
        };
        // A sink can block (stdout piped to a reader that stopped reading):
        // shutdown waits a bounded time for the last events, then leaves.
        let deadline = std::time::Instant::now() + STOP_WAIT;
        while !t.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            tracing::warn!(
                "the event log writer is stuck on its sink; events still queued are lost"
            );
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.finish();
    }
}

/// How long stopping waits for the writer to write out what is queued.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// `rampart_events_total{outcome}`.
pub const EVENTS_TOTAL: &str = "rampart_events_total";
/// `rampart_policy_verdicts_total{policy,action,mode}`.
pub const POLICY_VERDICTS_TOTAL: &str = "rampart_policy_verdicts_total";
