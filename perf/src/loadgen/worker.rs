//! One generator thread: an epoll loop (mio) over the connections it owns,
//! sending the mix, reading responses, and tallying what happened.
//!
//! Closed loop keeps `pipeline` requests in flight per connection. Open
//! loop sends each connection's requests at fixed intervals and stamps each
//! with the time it was due: when the server stalls, requests pile up behind
//! the stall and each one's latency counts from its due time, so the stall
//! shows in the percentiles instead of being hidden by a generator that
//! politely waited (coordinated omission).

use std::io;
use std::net::IpAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use super::conn::{connect, Conn, InFlight, ReadOutcome, StreamError};
use super::mix::RequestSet;
use super::response::Step;
use super::stats::{Failure, Tally};
use super::timer::Timer;
use super::tls::TlsClient;

/// How long to wait before reconnecting after a failed connect.
const RETRY: Duration = Duration::from_millis(50);
/// How often timeouts and reconnects are checked.
const TICK: Duration = Duration::from_millis(10);
/// The open-loop timer's token (connections use their index).
const TIMER: Token = Token(usize::MAX);

/// The run, as every thread sees it (read-only).
pub struct Plan<'a> {
    pub set: &'a RequestSet,
    pub addr: std::net::SocketAddr,
    pub sources: &'a [IpAddr],
    pub tls: Option<&'a TlsClient>,
    pub blocked_status: &'a [u16],
    /// Connections over all threads.
    pub connections: usize,
    pub pipeline: usize,
    /// Open loop: time between two requests of one connection.
    pub interval: Option<Duration>,
    pub timeout: Duration,
    pub reconnect_every: u64,
    pub start: Instant,
    /// Measuring starts here (after the warm-up).
    pub measure_start: Instant,
    /// The run stops here at the latest.
    pub deadline: Option<Instant>,
}

struct Worker<'a> {
    plan: &'a Plan<'a>,
    poll: Poll,
    conns: Vec<Conn>,
    tally: Tally,
    /// This thread's share of `--requests`.
    quota: Option<u64>,
    measuring: bool,
    finished_at: Option<Instant>,
}

/// Runs the connections `globals` until the deadline or the quota.
pub fn run(plan: &Plan, globals: Range<usize>, quota: Option<u64>) -> io::Result<Tally> {
    let order_step = (plan.set.order.len() / plan.connections.max(1)).max(1);
    let conns = globals
        .map(|g| {
            let due = match plan.interval {
                // spread the connections' schedules evenly over one interval
                Some(i) => plan.start + i.mul_f64(g as f64 / plan.connections as f64),
                None => plan.start,
            };
            Conn::new(g, g * order_step, due, plan.pipeline, plan.set.max_len)
        })
        .collect();
    let mut w = Worker {
        plan,
        poll: Poll::new()?,
        conns,
        tally: Tally::new(plan.set.classes.len(), plan.blocked_status),
        quota,
        measuring: false,
        finished_at: None,
    };
    w.run()?;
    Ok(w.tally)
}

impl Worker<'_> {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let timer = match self.plan.interval {
            Some(_) => Some(Timer::new(self.poll.registry(), TIMER)?),
            None => None,
        };
        let now = Instant::now();
        for i in 0..self.conns.len() {
            self.open(i, now);
        }
        let mut next_tick = now;
        loop {
            let now = Instant::now();
            if !self.measuring && now >= self.plan.measure_start {
                self.measuring = true;
            }
            if let Some(d) = self.plan.deadline {
                if now >= d {
                    self.finished_at.get_or_insert(d);
                }
            }
            if let Some(at) = self.finished_at {
                self.tally.elapsed_s = at
                    .saturating_duration_since(self.plan.measure_start)
                    .as_secs_f64();
                return Ok(());
            }
            let mut wake = now + TICK;
            if now >= next_tick {
                self.maintain(now);
                next_tick = now + TICK;
            }
            wake = wake.min(next_tick);
            if self.plan.interval.is_some() {
                wake = wake.min(self.send_due(now));
            }
            if let Some(d) = self.plan.deadline {
                wake = wake.min(d);
            }
            if !self.measuring {
                wake = wake.min(self.plan.measure_start);
            }
            let mut timeout = Some(wake.saturating_duration_since(now));
            if let (Some(t), Some(after)) = (&timer, timeout) {
                if !after.is_zero() {
                    t.arm(after)?;
                    timeout = None;
                }
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if !self.measuring && now >= self.plan.measure_start {
                self.measuring = true;
            }
            for ev in events.iter() {
                let i = ev.token().0;
                if i < self.conns.len() {
                    self.on_event(i, now);
                }
                if self.finished_at.is_some() {
                    break;
                }
            }
        }
    }

    /// Reconnects slots whose retry time has come and fails requests (and
    /// connects) older than the timeout.
    fn maintain(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.stream.is_none() {
                if c.retry_at.is_none_or(|t| t <= now) {
                    self.open(i, now);
                }
                continue;
            }
            if c.connecting && now.duration_since(c.connect_started) > self.plan.timeout {
                self.connect_failed(i, now);
                continue;
            }
            if let Some(f) = c.inflight.front() {
                if now.duration_since(f.sent) > self.plan.timeout {
                    self.close(i, Failure::Timeout, now);
                }
            }
        }
    }

    /// Open loop: sends every request that has come due; returns when the
    /// next one is due.
    fn send_due(&mut self, now: Instant) -> Instant {
        let mut next = now + TICK;
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.stream.is_none()
                || c.connecting
                || c.draining
                || c.inflight.len() >= self.plan.pipeline
            {
                continue;
            }
            if c.next_due <= now {
                self.fill(i, now);
                self.flush(i, now);
            }
            let c = &self.conns[i];
            if c.inflight.len() < self.plan.pipeline {
                next = next.min(c.next_due);
            }
        }
        next
    }

    fn count(&mut self, kind: Failure, class: Option<u16>) {
        if self.measuring {
            self.tally.failure(kind, class);
        }
    }

    /// Starts a new connection in slot `i`, from the slot's next source.
    fn open(&mut self, i: usize, now: Instant) {
        let plan = self.plan;
        let c = &mut self.conns[i];
        c.reset();
        c.retry_at = None;
        let source = (!plan.sources.is_empty()).then(|| {
            let k = c.global as u64 + c.opened * plan.connections as u64;
            plan.sources[(k % plan.sources.len() as u64) as usize]
        });
        c.opened += 1;
        c.connect_started = now;
        let sock = match connect(plan.addr, source) {
            Ok(s) => s,
            Err(e) => {
                c.retry_at = Some(now + RETRY);
                self.count(Failure::Connect, None);
                self.note_text(|| format!("connect to {}: {e}", plan.addr));
                return;
            }
        };
        if let Err(e) = c.attach(sock, plan.tls) {
            c.reset();
            c.retry_at = Some(now + RETRY);
            self.count(Failure::Tls, None);
            self.note(&e);
            return;
        }
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        if self
            .poll
            .registry()
            .register(
                stream.socket(),
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            c.reset();
            c.retry_at = Some(now + RETRY);
            self.count(Failure::Io, None);
        }
    }

    /// Fails every request in flight on slot `i` as `kind` and reconnects.
    fn close(&mut self, i: usize, kind: Failure, now: Instant) {
        let n = self.conns[i].inflight.len();
        for k in 0..n {
            let class = self.conns[i].inflight[k].class;
            self.count(kind, Some(class));
        }
        if let Some(s) = self.conns[i].stream.as_mut() {
            let _ = self.poll.registry().deregister(s.socket());
        }
        self.conns[i].reset();
        if matches!(kind, Failure::Connect | Failure::Tls) {
            // a target that refuses or fails handshakes is not spun on
            self.conns[i].retry_at = Some(now + RETRY);
        } else {
            self.open(i, now);
        }
    }

    /// A socket or TLS error on slot `i`: tallied by kind, remembered if first.
    fn stream_failed(&mut self, i: usize, e: &StreamError, now: Instant) {
        if self.conns[i].handshaking() && !matches!(e, StreamError::Tls(_)) {
            self.note_text(|| "tls: the connection was lost during the handshake".to_string());
            return self.close(i, Failure::Tls, now);
        }
        self.note(e);
        self.close(i, stream_failure(e), now);
    }

    fn note(&mut self, e: &StreamError) {
        match e {
            StreamError::Reset => {}
            StreamError::Io(e) => self.note_text(|| format!("socket: {e}")),
            StreamError::Tls(e) => self.note_text(|| format!("tls: {e}")),
        }
    }

    /// Keeps the first error's text for the report (allocates only once).
    fn note_text(&mut self, text: impl FnOnce() -> String) {
        if self.measuring && self.tally.first_error.is_none() {
            self.tally.first_error = Some(text());
        }
    }

    /// The connect in slot `i` failed (refused, unreachable, too slow):
    /// counted once, retried after a pause so a dead target is not spun on.
    fn connect_failed(&mut self, i: usize, now: Instant) {
        self.count(Failure::Connect, None);
        self.close(i, Failure::Connect, now);
    }

    fn on_event(&mut self, i: usize, now: Instant) {
        if self.conns[i].stream.is_none() {
            return;
        }
        if self.conns[i].connecting {
            let Some(s) = self.conns[i].stream.as_mut() else {
                return;
            };
            let sock = s.socket();
            match sock.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    let addr = self.plan.addr;
                    self.note_text(|| format!("connect to {addr}: {e}"));
                    return self.connect_failed(i, now);
                }
            }
            match sock.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => return self.connect_failed(i, now),
            }
            self.conns[i].connecting = false;
            if self.measuring {
                self.tally.connections_opened += 1;
            }
            self.fill(i, now);
        }
        if !self.flush(i, now) {
            return;
        }
        loop {
            match self.conns[i].read() {
                Ok(ReadOutcome::Data(n)) => {
                    if self.measuring {
                        self.tally.bytes_received += n as u64;
                    }
                    if !self.parse(i, now) {
                        return;
                    }
                }
                Ok(ReadOutcome::WouldBlock) => break,
                Ok(ReadOutcome::Eof) => return self.eof(i, now),
                Err(e) => return self.stream_failed(i, &e, now),
            }
            if self.finished_at.is_some() {
                return;
            }
        }
        // the responses read may have made room for more requests
        if !self.flush(i, now) {
            return;
        }
        let c = &self.conns[i];
        if c.draining && c.inflight.is_empty() {
            self.close(i, Failure::Closed, now);
        }
    }

    /// Writes what slot `i` has queued; false if the connection failed.
    fn flush(&mut self, i: usize, now: Instant) -> bool {
        match self.conns[i].flush() {
            Ok(_) => true,
            Err(e) => {
                self.stream_failed(i, &e, now);
                false
            }
        }
    }

    /// Queues requests on slot `i`: up to the pipeline depth in closed
    /// loop; those that are due in open loop.
    fn fill(&mut self, i: usize, now: Instant) {
        let plan = self.plan;
        let set = plan.set;
        let c = &mut self.conns[i];
        if c.stream.is_none() || c.connecting || c.draining {
            return;
        }
        while c.inflight.len() < plan.pipeline {
            if plan.reconnect_every > 0 && c.sent_here >= plan.reconnect_every {
                c.draining = true;
                break;
            }
            let due = match plan.interval {
                Some(iv) => {
                    if c.next_due > now {
                        break;
                    }
                    let d = c.next_due;
                    c.next_due += iv;
                    d
                }
                None => now,
            };
            let span = set.spans[set.order[c.cursor % set.order.len()] as usize];
            c.cursor += 1;
            c.wbuf.extend_from_slice(set.bytes(&span));
            c.inflight.push_back(InFlight {
                due,
                sent: now,
                class: span.class,
                head: span.head,
            });
            c.sent_here += 1;
            if self.measuring {
                self.tally.bytes_sent += u64::from(span.len);
            }
        }
    }

    /// Parses the responses in slot `i`'s read buffer; false if the
    /// connection was replaced.
    fn parse(&mut self, i: usize, now: Instant) -> bool {
        loop {
            let c = &mut self.conns[i];
            let Some(front) = c.inflight.front().copied() else {
                // bytes nobody asked for: nothing to attribute them to
                c.rstart = c.rend;
                break;
            };
            if c.rstart == c.rend {
                break;
            }
            match c.reader.feed(&c.rbuf[c.rstart..c.rend], front.head) {
                Ok(Step::Done {
                    used,
                    status,
                    close,
                }) => {
                    c.rstart += used;
                    c.inflight.pop_front();
                    if close {
                        c.draining = true;
                    }
                    self.complete(front, status, now);
                    if self.finished_at.is_some() {
                        return false;
                    }
                    self.fill(i, now);
                }
                Ok(Step::NeedMore { used }) => {
                    c.rstart += used;
                    break;
                }
                Err(_) => {
                    self.close(i, Failure::Parse, now);
                    return false;
                }
            }
        }
        self.conns[i].compact();
        true
    }

    fn complete(&mut self, f: InFlight, status: u16, now: Instant) {
        if !self.measuring {
            return;
        }
        let corrected = now.saturating_duration_since(f.due).as_micros() as u64;
        let actual = now.saturating_duration_since(f.sent).as_micros() as u64;
        self.tally.response(status, f.class, corrected, actual);
        if self.quota.is_some_and(|q| self.tally.requests >= q) {
            self.finished_at = Some(now);
        }
    }

    /// The server closed slot `i`: a body that ran until close is complete;
    /// anything else still in flight was never answered.
    fn eof(&mut self, i: usize, now: Instant) {
        if self.conns[i].handshaking() {
            self.note_text(|| {
                "tls: the server closed the connection during the handshake".to_string()
            });
            return self.close(i, Failure::Tls, now);
        }
        let c = &mut self.conns[i];
        if c.reader.until_close() {
            if let Some(front) = c.inflight.pop_front() {
                let status = c.reader.status();
                self.complete(front, status, now);
            }
        }
        self.close(i, Failure::Closed, now);
    }
}

fn stream_failure(e: &StreamError) -> Failure {
    match e {
        StreamError::Reset => Failure::Closed,
        StreamError::Io(_) => Failure::Io,
        StreamError::Tls(_) => Failure::Tls,
    }
}
