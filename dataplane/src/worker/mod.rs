//! One worker per core: its ring, its listeners, its connections, its view of the
//! upstreams, and the loop that drives them.
//!
//! The loop: drain every completion, let each connection's state machine react
//! (queueing new submissions), run the timer sweep when due, then make one
//! `io_uring_enter` that submits the turn's work and waits for more. A worker
//! shares nothing mutable with other workers; the only cross-thread input is the
//! control eventfd (shutdown), and the only output is the periodic metrics flush.
//!
//! - [`client`]: the downstream side — accept, read and check requests, forward
//!   request bodies, write responses.
//! - [`upstream`]: the upstream side — pooled and fresh connections, sending the
//!   request, reading and relaying the response.
//! - [`inbox`], [`tx`]: received bytes and in-flight sends of a connection.

mod body_stream;
mod client;
mod conn;
mod enforce;
mod events;
pub mod inbox;
mod policy;
mod response_inspect;
mod stats;
mod tls_link;
mod traffic;
mod tx;
mod upstream;
mod upstream_tls;

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, types};

use crate::config::Config;
use crate::http::request_id::RequestIdGen;
use crate::proxy::cluster::ClusterState;
use crate::proxy::route::Router;
use crate::reactor::bufring::BufRing;
use crate::reactor::pool::BufPool;
use crate::reactor::ring::{Ring, TaskRunMode};
use crate::reactor::token::{Op, Token};

use conn::{Client, Upstream};
use stats::Stats;

/// Read-only state every worker shares (built once, before the workers start).
pub struct Shared {
    pub config: Config,
    pub router: Router,
    /// Key of decoy tokens (see `enforce::decoy`).
    pub decoy_secret: [u8; 32],
    /// Per cluster: the TLS client configuration its upstreams use (`None`:
    /// plain HTTP). Each core copies it for its own session store.
    pub upstream_tls: Vec<Option<Arc<rustls::ClientConfig>>>,
}

/// How often deadlines are checked and metrics published.
const SWEEP_EVERY_MS: u64 = 100;
const FLUSH_EVERY_MS: u64 = 1000;
const CQE_BATCH: usize = 256;
const BGID: u16 = 0;
/// Cap on concurrently collected body prefixes per core (x inspect_body_bytes).
const INSPECT_BUFFERS: usize = 1024;

pub struct Worker {
    id: usize,
    shared: Arc<Shared>,
    /// This core's policy kit (`None`: inspection off).
    kit: Option<crate::policy::CoreKit>,
    /// This core's identity extractor and behaviour counters (`None` when
    /// inspection is off).
    beh: Option<crate::behaviour::Engine>,
    /// The kit replaced by the last reload, kept while requests that began
    /// under it are still collecting their body (they are judged by it).
    old_kit: Option<crate::policy::CoreKit>,
    kits: std::sync::mpsc::Receiver<crate::policy::CoreKit>,
    retired: std::sync::mpsc::SyncSender<crate::policy::CoreKit>,
    policy_fd: RawFd,
    policy_buf: u64,
    /// Tarpit and deception holds, escalation, decoys, dry run.
    enf: enforce::Enforcer,
    /// This core's end of the security event log (`None`: not logging).
    events: Option<crate::events::CoreEvents>,
    /// Storage for the (name, value) pairs a request view borrows; see `judge`.
    pairs: Vec<(&'static [u8], &'static [u8])>,
    ring: Ring,
    bufs: BufRing,
    asm_pool: BufPool,
    out_pool: BufPool,
    inspect_pool: BufPool,
    /// Response body prefixes held for response policies.
    resp_pool: BufPool,
    // Boxed on purpose: the kernel holds pointers into a slot (iovecs, msghdr,
    // buffers) while an operation is in flight, so slots must not move when the
    // vector grows.
    #[allow(clippy::vec_box)]
    clients: Vec<Box<Client>>,
    free_clients: Vec<u32>,
    live_clients: usize,
    #[allow(clippy::vec_box)]
    ups: Vec<Box<Upstream>>,
    free_ups: Vec<u32>,
    clusters: Vec<ClusterState>,
    listeners: Vec<RawFd>,
    control_fd: RawFd,
    control_buf: u64,
    /// On the worker that runs on the main thread: the process's SIGTERM/SIGINT
    /// signalfd, the other workers' control eventfds to pass a shutdown on, and the
    /// readiness flag to clear.
    signals: Option<SignalDuty>,
    signal_buf: [u8; 128],
    /// Reused header array for httparse; see `parse_headers`.
    headers: Vec<httparse::Header<'static>>,
    ids: RequestIdGen,
    stats: Stats,
    /// Per-route and per-cluster counts for the admin API's traffic view.
    traffic: traffic::CoreTraffic,
    start: Instant,
    now_ms: u64,
    now_us: u64,
    last_sweep: u64,
    last_flush: u64,
    draining: bool,
    /// Earliest time the next accept error may be logged.
    accept_log_after: u64,
    /// Listeners whose multishot accept ended on an error, re-armed by the sweep.
    accept_paused: Vec<usize>,
    drain_deadline: u64,
    stop: bool,
    /// Connections whose multishot recv ended for lack of buffers: re-armed once
    /// buffers come back. (kind: false = client, true = upstream; slot).
    rearm: Vec<(bool, u32)>,
    connect_ts: types::Timespec,
    cqes: Vec<cqueue::Entry>,
    /// The TLS configuration TLS listeners serve (`None`: no TLS listener).
    tls: Option<crate::tls::TlsSetup>,
    /// Listeners from this index on terminate TLS.
    tls_from: usize,
    /// Session buffers of closed TLS connections, for the next ones.
    tls_buffers: Vec<crate::tls::session::SessionBuffers>,
    /// TLS connections with plaintext for the state machine (see `tls_link`).
    tls_kicks: Vec<u32>,
    /// Earliest time the next TLS failure may be logged.
    tls_log_after: u64,
    tls_updates: Option<std::sync::mpsc::Receiver<crate::tls::TlsSetup>>,
    /// Per cluster: this core's TLS client configuration (`None`: plain HTTP).
    up_tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    /// Upstreams with plaintext for the response code (see `upstream_tls`).
    up_tls_kicks: Vec<u32>,
}

/// What a worker needs from the server to start.
pub struct WorkerSetup {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub listeners: Vec<RawFd>,
    pub control_fd: RawFd,
    pub signals: Option<SignalDuty>,
    pub policy: crate::policy::hub::CorePolicy,
    pub events: Option<crate::events::CoreEvents>,
    pub behaviour: Option<crate::behaviour::Engine>,
    /// TLS configuration, and the index of the first TLS listener.
    pub tls: Option<crate::tls::TlsSetup>,
    pub tls_from: usize,
    /// Reloaded TLS configurations (see `tls::reload`).
    pub tls_updates: Option<std::sync::mpsc::Receiver<crate::tls::TlsSetup>>,
    /// Where traffic snapshots go (`None`: no admin API).
    pub traffic: Option<crate::traffic::Publisher>,
}

/// Turns process signals into a drain of every worker, from inside one ring: no
/// thread sits in `sigwait`, and the signal arrives as an ordinary completion.
pub struct SignalDuty {
    pub signal_fd: RawFd,
    pub peers: Vec<RawFd>,
    pub ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Where SIGHUP's reload request goes.
    pub hub: Option<crate::policy::hub::Hub>,
    /// SIGHUP also reloads certificates.
    pub tls: Option<crate::tls::reload::TlsReloader>,
}

impl Worker {
    pub fn new(setup: WorkerSetup) -> io::Result<Worker> {
        let cfg = &setup.shared.config;
        let n_listeners = setup.listeners.len();
        let ring = Ring::new(cfg.io.ring_entries)?;
        match ring.mode {
            TaskRunMode::Deferred => {
                tracing::debug!(worker = setup.id, "io_uring: SINGLE_ISSUER | DEFER_TASKRUN")
            }
            TaskRunMode::Cooperative => tracing::warn!(
                worker = setup.id,
                "io_uring: kernel lacks DEFER_TASKRUN, using COOP_TASKRUN (more CPU per wake-up)"
            ),
            TaskRunMode::Default => tracing::warn!(
                worker = setup.id,
                "io_uring: kernel lacks DEFER_TASKRUN and COOP_TASKRUN, using default task-run mode"
            ),
        }
        let bufs = BufRing::new(
            &ring,
            cfg.io.recv_buffers,
            cfg.io.recv_buffer_bytes as u32,
            BGID,
        )?;
        let max_conns = cfg.limits.max_connections_per_worker;
        let head_room = cfg.limits.max_header_bytes + 1024;
        let asm_size = cfg.limits.max_header_bytes + cfg.io.recv_buffer_bytes;
        let clusters = cfg.upstreams.iter().map(ClusterState::new).collect();
        let timeout = cfg.timeouts.upstream_connect;
        let policy = setup.policy;
        let enf = enforce::Enforcer::new(
            &cfg.enforcement,
            cfg.policy.monitor,
            setup.shared.router.len(),
            &setup.shared.decoy_secret,
            setup.id,
        );
        Ok(Worker {
            enf,
            kit: policy.kit,
            beh: setup.behaviour,
            old_kit: None,
            kits: policy.kits,
            retired: policy.retired,
            policy_fd: policy.wake_fd,
            policy_buf: 0,
            events: setup.events,
            pairs: Vec::with_capacity(cfg.limits.max_headers),
            id: setup.id,
            ring,
            bufs,
            asm_pool: BufPool::new(asm_size, max_conns * 2),
            out_pool: BufPool::new(head_room, max_conns),
            // Bodies being collected for inspection at once per core; beyond this a
            // request gets 503 rather than the core growing without bound.
            inspect_pool: BufPool::new(
                cfg.limits.inspect_body_bytes.max(1),
                max_conns.min(INSPECT_BUFFERS),
            ),
            resp_pool: BufPool::new(
                cfg.limits.inspect_response_bytes.max(1),
                max_conns.min(INSPECT_BUFFERS),
            ),
            clients: Vec::new(),
            free_clients: Vec::with_capacity(max_conns),
            live_clients: 0,
            ups: Vec::new(),
            free_ups: Vec::with_capacity(max_conns),
            clusters,
            listeners: setup.listeners,
            control_fd: setup.control_fd,
            control_buf: 0,
            signals: setup.signals,
            signal_buf: [0; 128],
            headers: vec![httparse::EMPTY_HEADER; cfg.limits.max_headers],
            ids: RequestIdGen::new(setup.id as u16),
            stats: Stats::new(setup.id),
            traffic: traffic::CoreTraffic::new(
                setup.shared.router.len(),
                cfg.upstreams.len(),
                setup.traffic,
            ),
            start: Instant::now(),
            now_ms: 0,
            now_us: 0,
            last_sweep: 0,
            last_flush: 0,
            draining: false,
            accept_log_after: 0,
            accept_paused: Vec::with_capacity(n_listeners),
            drain_deadline: 0,
            stop: false,
            rearm: Vec::with_capacity(max_conns * 2),
            connect_ts: types::Timespec::new()
                .sec(timeout.as_secs())
                .nsec(timeout.subsec_nanos()),
            cqes: vec![unsafe_zero_cqe(); CQE_BATCH],
            tls: setup.tls,
            tls_from: setup.tls_from,
            tls_buffers: Vec::new(),
            tls_kicks: Vec::with_capacity(max_conns),
            tls_log_after: 0,
            tls_updates: setup.tls_updates,
            up_tls: setup
                .shared
                .upstream_tls
                .iter()
                .map(|c| c.as_deref().map(crate::tls::upstream::for_core))
                .collect(),
            up_tls_kicks: Vec::with_capacity(max_conns),
            shared: setup.shared,
        })
    }

    fn cfg(&self) -> &Config {
        &self.shared.config
    }

    fn tick(&mut self) {
        let e = self.start.elapsed();
        self.now_us = e.as_micros() as u64;
        self.now_ms = self.now_us / 1000;
    }

    fn push(&mut self, e: &io_uring::squeue::Entry) {
        if let Err(err) = self.ring.push(e) {
            // The submission could not be queued (completion queue overflow); the
            // operation is lost, so the connection it belongs to will time out.
            tracing::error!(worker = self.id, error = %err, "io_uring submission failed");
        }
    }

    fn arm_accept(&mut self, idx: usize) {
        let fd = self.listeners[idx];
        let e = opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
            .user_data(Token::new(Op::Accept, idx as u32, 0).encode());
        self.push(&e);
    }

    /// Cancels the multishot recv `tok` (back-pressure); its last completion
    /// arrives as `ECANCELED`.
    fn cancel_recv(&mut self, tok: Token) {
        let e = opcode::AsyncCancel::new(tok.encode())
            .build()
            .user_data(Token::new(Op::Ignore, tok.slot, 0).encode());
        self.push(&e);
    }

    /// Arms a multishot recv into the provided-buffer ring.
    fn push_recv(&mut self, fd: RawFd, op: Op, slot: u32, gen: u32) {
        let e = opcode::RecvMulti::new(types::Fd(fd), BGID)
            .build()
            .user_data(Token::new(op, slot, gen).encode());
        self.push(&e);
    }

    fn arm_control(&mut self) {
        let e = opcode::Read::new(
            types::Fd(self.control_fd),
            (&mut self.control_buf as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(Token::new(Op::Control, 0, 0).encode());
        self.push(&e);
    }

    fn arm_signals(&mut self) {
        let Some(duty) = &self.signals else {
            return;
        };
        let e = opcode::Read::new(
            types::Fd(duty.signal_fd),
            self.signal_buf.as_mut_ptr(),
            self.signal_buf.len() as u32,
        )
        .build()
        .user_data(Token::new(Op::Control, 1, 0).encode());
        self.push(&e);
    }

    /// Runs until shutdown completes.
    pub fn run(&mut self) -> io::Result<()> {
        self.tick();
        for i in 0..self.listeners.len() {
            self.arm_accept(i);
        }
        self.arm_control();
        self.arm_policy();
        self.arm_signals();
        while !self.stop {
            // Counts for keys another core owns leave within the sync
            // interval even when no traffic would turn the loop.
            let wait = self
                .beh
                .as_ref()
                .and_then(|b| b.poll_within_ms())
                .map_or(SWEEP_EVERY_MS, |ms| ms.clamp(1, SWEEP_EVERY_MS));
            self.ring.submit_and_wait(Duration::from_millis(wait))?;
            self.tick();
            loop {
                let mut batch = std::mem::take(&mut self.cqes);
                let n = self.ring.drain(&mut batch);
                for cqe in &batch[..n] {
                    self.dispatch(cqe.user_data(), cqe.result(), cqe.flags());
                }
                self.cqes = batch;
                if n < CQE_BATCH {
                    break;
                }
            }
            self.run_tls_kicks();
            self.run_up_tls_kicks();
            self.rearm_starved();
            if let Some(b) = self.beh.as_mut() {
                b.poll();
            }
            if self.now_ms - self.last_sweep >= SWEEP_EVERY_MS {
                self.last_sweep = self.now_ms;
                self.sweep();
            }
            if self.now_ms - self.last_flush >= FLUSH_EVERY_MS {
                self.last_flush = self.now_ms;
                self.stats.active_connections = self.live_clients as u64;
                self.flush_stats();
            }
            if self.draining && (self.live_clients == 0 || self.now_ms >= self.drain_deadline) {
                self.stop = true;
            }
        }
        self.stats.active_connections = 0;
        self.flush_stats();
        self.close_everything();
        Ok(())
    }

    fn dispatch(&mut self, user_data: u64, res: i32, flags: u32) {
        let Some(tok) = Token::decode(user_data) else {
            return;
        };
        match tok.op {
            Op::Accept => self.on_accept(tok.slot as usize, res, flags),
            Op::ClientRecv => self.on_client_recv(tok, res, flags),
            Op::ClientSend => self.on_client_send(tok, res),
            Op::UpstreamRecv => self.on_upstream_recv(tok, res, flags),
            Op::UpstreamSend => self.on_upstream_send(tok, res),
            Op::UpstreamConnect => self.on_upstream_connect(tok, res),
            Op::Control if tok.slot == 1 => self.on_signal(res),
            Op::Control if tok.slot == policy::POLICY_SLOT => self.on_policy_wake(res),
            Op::Control => self.on_control(res),
            Op::Timer => self.on_timer(tok, res),
            Op::Ignore => {
                if let Some(bid) = cqueue::buffer_select(flags) {
                    self.bufs.recycle(bid);
                }
            }
        }
    }

    fn on_control(&mut self, res: i32) {
        if res < 0 && res != -libc::EINTR {
            tracing::error!(worker = self.id, error = res, "control eventfd read failed");
        }
        // The first write to the control eventfd means: drain and stop; a second
        // one (a second signal) means: stop now.
        if self.draining {
            self.drain_deadline = self.now_ms;
            return;
        }
        self.arm_control();
        self.begin_drain();
    }

    fn on_signal(&mut self, res: i32) {
        if res < 0 {
            if res == -libc::EINTR || res == -libc::EAGAIN {
                self.arm_signals();
                return;
            }
            tracing::error!(worker = self.id, error = res, "signalfd read failed");
        }
        let signo = u32::from_ne_bytes([
            self.signal_buf[0],
            self.signal_buf[1],
            self.signal_buf[2],
            self.signal_buf[3],
        ]);
        self.arm_signals();
        if signo == libc::SIGUSR1 as u32 {
            crate::events::request_reopen();
            tracing::info!("SIGUSR1: reopening the event log");
            return;
        }
        if signo == libc::SIGHUP as u32 {
            let queued = self
                .signals
                .as_ref()
                .and_then(|d| d.hub.as_ref())
                .is_some_and(|h| h.request_reload("SIGHUP"));
            let certs = self
                .signals
                .as_ref()
                .and_then(|d| d.tls.as_ref())
                .is_some_and(|t| t.request());
            tracing::info!(
                queued,
                certs,
                "SIGHUP: policy and certificate reload requested"
            );
            return;
        }
        if self.draining {
            // A second SIGTERM/SIGINT: the operator does not want to wait.
            tracing::warn!(
                signal = signo,
                "second signal: stopping without waiting for the drain"
            );
            self.drain_deadline = self.now_ms;
            if let Some(duty) = &self.signals {
                for &fd in &duty.peers {
                    crate::server::signal_eventfd(fd);
                }
            }
            return;
        }
        tracing::info!(signal = signo, "shutting down: draining in-flight requests");
        if let Some(duty) = &self.signals {
            duty.ready
                .store(false, std::sync::atomic::Ordering::Release);
            for &fd in &duty.peers {
                crate::server::signal_eventfd(fd);
            }
        }
        self.begin_drain();
    }

    fn begin_drain(&mut self) {
        if self.draining {
            return;
        }
        self.draining = true;
        self.drain_deadline = self.now_ms + self.cfg().timeouts.shutdown_grace.as_millis() as u64;
        for fd in std::mem::take(&mut self.listeners) {
            // SAFETY: we own the listening fd; shutting it down ends the multishot
            // accept, closing it releases the port for a successor process.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
                libc::close(fd);
            }
        }
        tracing::info!(worker = self.id, in_flight = self.live_clients, "draining");
        self.close_idle_clients();
        self.release_all_holds();
    }

    fn rearm_starved(&mut self) {
        if self.rearm.is_empty() || self.bufs.in_use >= self.bufs.entries() as usize {
            return;
        }
        let list = std::mem::take(&mut self.rearm);
        let mut keep = list;
        for (is_up, slot) in keep.drain(..) {
            if is_up {
                self.arm_upstream_recv(slot);
            } else {
                self.arm_client_recv(slot);
            }
        }
        self.rearm = keep;
    }

    fn close_everything(&mut self) {
        for i in 0..self.clients.len() {
            if self.clients[i].fd >= 0 {
                self.close_client(i as u32);
            }
        }
        for i in 0..self.ups.len() {
            if self.ups[i].fd >= 0 {
                self.close_upstream(i as u32);
            }
        }
    }
}

/// What one multishot-recv completion did to a connection.
pub(super) enum RecvResult {
    /// Bytes queued, EOF noted, or the recv ended harmlessly.
    Applied,
    /// More completions than the inbox holds, or data without a buffer.
    Overflow,
    /// The socket failed (reset, ...).
    Failed,
}

pub(super) struct RecvOutcome {
    pub result: RecvResult,
    /// The recv ended for lack of provided buffers: re-arm once some come back.
    pub starved: bool,
    /// The inbox is full enough that the recv should be cancelled (back-pressure).
    pub pause: bool,
}

/// Applies one multishot-recv completion to a connection's inbox and recv state,
/// the same way for client and upstream connections. The buffer it carries is
/// queued, or recycled when it cannot be kept.
pub(super) fn apply_recv(
    bufs: &mut BufRing,
    inbox: &mut inbox::Inbox,
    recv: &mut conn::Recv,
    res: i32,
    flags: u32,
) -> RecvOutcome {
    let more = cqueue::more(flags);
    if !more {
        *recv = conn::Recv::Off;
    }
    let mut out = RecvOutcome {
        result: RecvResult::Applied,
        starved: false,
        pause: false,
    };
    if res > 0 {
        match cqueue::buffer_select(flags) {
            Some(b) => {
                if inbox.push(b, res as u32).is_err() {
                    bufs.recycle(b);
                    out.result = RecvResult::Overflow;
                }
            }
            None => out.result = RecvResult::Overflow,
        }
    } else if res == 0 {
        inbox.eof = true;
    } else if res == -libc::ENOBUFS {
        out.starved = !more;
    } else if res != -libc::ECANCELED {
        out.result = RecvResult::Failed;
    }
    if *recv == conn::Recv::Armed && inbox.should_pause() {
        *recv = conn::Recv::Cancelling;
        out.pause = true;
    }
    out
}

/// Resets the entries httparse filled in the worker's lent header array, so
/// no entry typed `'static` keeps pointing at a buffer after the parse.
///
/// httparse fills the array from its first entry on, in order, and a header
/// it writes always has a name (an empty name is a parse error); the array
/// is all [`httparse::EMPTY_HEADER`] before each parse, because this runs
/// after each one. So the first entry with an empty name ends what needs
/// resetting. Resetting all `max_headers` (100 by default, 3.2 KB) after
/// every request and every inspected response showed up in profiles.
fn reset_lent_headers(hdrs: &mut [httparse::Header<'static>]) {
    for h in hdrs.iter_mut() {
        if h.name.is_empty() {
            break;
        }
        *h = httparse::EMPTY_HEADER;
    }
    debug_assert!(hdrs.iter().all(|h| h.name.is_empty() && h.value.is_empty()));
}

fn unsafe_zero_cqe() -> cqueue::Entry {
    // SAFETY: a completion entry is plain old data (user_data, res, flags); the
    // all-zero value is valid and only used as a placeholder before `drain` fills it.
    unsafe { std::mem::zeroed() }
}

/// Caps a socket's receive buffer so a paused multishot recv cannot flood the
/// connection's inbox (see `inbox::RCVBUF_BUFFERS`); this also bounds the kernel
/// memory one connection can pin.
fn set_rcvbuf(fd: RawFd, bytes: usize) {
    let v = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: valid fd and a pointer to a live c_int of the right size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Makes closing `fd` send a TCP reset instead of a FIN (linger 0): for a
/// `drop`, and for an upstream that must not take a cut request for a
/// whole one. A negative fd is ignored.
fn reset_on_close(fd: RawFd) {
    if fd < 0 {
        return;
    }
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on our own socket with a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        );
    }
}

/// Sets a socket option on a raw fd, ignoring failure (best effort tuning).
fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: valid fd and a pointer to a live c_int of the right size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Closes a socket we own, first shutting it down so that any multishot recv the
/// ring still holds on it completes (the ring keeps its own file reference, so
/// `close` alone would leave the operation pending).
fn close_socket(fd: RawFd) {
    // SAFETY: the fd is owned by the caller's slot, which forgets it right after.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
        libc::close(fd);
    }
}
