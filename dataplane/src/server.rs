//! Starting and stopping the dataplane: listeners, worker threads, the admin
//! listener, and graceful shutdown.
//!
//! Every worker gets its own `SO_REUSEPORT` socket per listen address, so the kernel
//! spreads connections across cores without a shared accept queue. Port 0 is
//! resolved once (by the first socket) and the others bind the same port, which
//! lets tests and tooling ask for "any free port".

use std::io;
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use rampart_matcher::ScanLimits;

use crate::config::Config;
use crate::events::{CoreEvents, EventLog};
use crate::policy::hub::{CorePolicy, Hub};
use crate::proxy::route::Router;
use crate::steering;
use crate::worker::{Shared, SignalDuty, Worker, WorkerSetup};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot start worker {worker}: {source}")]
    Worker {
        worker: usize,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the admin listener on {addr}: {source}")]
    Admin {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot create control eventfd: {0}")]
    Control(#[source] io::Error),
    #[error("cannot load or create the decoy secret: {0}")]
    DecoySecret(#[source] io::Error),
    #[error("cannot set up the behaviour engine (random key from /dev/urandom): {0}")]
    Behaviour(#[source] io::Error),
    #[error("{0}")]
    Policy(#[from] crate::policy::hub::HubError),
    #[error("cannot start the event log: {0}")]
    Events(#[source] io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

pub struct Server;

/// A started dataplane. Dropping it without `shutdown` leaves the workers running
/// until the process exits.
pub struct RunningServer {
    listen_addrs: Vec<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    workers: Vec<JoinHandle<()>>,
    controls: Vec<RawFd>,
    grace: Duration,
    ready: Arc<AtomicBool>,
    hub: Hub,
    events: Option<EventLog>,
}

fn listener(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    s.bind(&addr.into())?;
    s.listen(backlog)?;
    Ok(s)
}

/// A close-on-exec eventfd (worker control, policy wake-ups).
pub(crate) fn eventfd() -> io::Result<RawFd> {
    // SAFETY: plain eventfd(2) call; the result is checked.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain old data; CPU_SET writes inside it and
    // sched_setaffinity(0) only affects the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!(cpu, error = %io::Error::last_os_error(), "cannot pin worker");
        }
    }
}

/// CPUs this process may run on, in order (workers are pinned round-robin to them).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: as in `pin_to_cpu`; sched_getaffinity fills the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Everything built before any worker runs.
struct Prepared {
    per_worker: Vec<Vec<Socket>>,
    listen_addrs: Vec<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    ready: Arc<AtomicBool>,
    grace: Duration,
    pin: bool,
    cpus: Vec<usize>,
    hub: Hub,
    /// One per worker, taken as each starts.
    policies: Vec<Option<CorePolicy>>,
    /// The event log writer (`None`: inspection or events off).
    events: Option<EventLog>,
    /// Each worker's end of the event log, taken as each starts.
    core_events: Vec<Option<CoreEvents>>,
    /// Each worker's behaviour engine, taken as each starts.
    behaviours: Vec<Option<crate::behaviour::Engine>>,
    /// What TLS listeners serve, and the index of the first of them.
    tls: Option<crate::tls::TlsSetup>,
    tls_from: usize,
    /// Certificate reloads, and each worker's end of them.
    tls_reloader: Option<crate::tls::reload::TlsReloader>,
    tls_updates: Vec<Option<std::sync::mpsc::Receiver<crate::tls::TlsSetup>>>,
    /// Each worker's end of the traffic snapshots (`None`: no admin API).
    traffic: Vec<Option<crate::traffic::Publisher>>,
}

fn prepare(config: Config) -> Result<Prepared, StartError> {
    let workers = config.workers.resolve().max(1);
    // Policies load before anything listens: packs that do not load are a
    // startup error, reported with every problem, not a gateway that forwards
    // uninspected traffic.
    let limits = ScanLimits {
        max_request_bytes: (config.limits.max_header_bytes + config.limits.inspect_body_bytes)
            .max(config.limits.inspect_response_bytes),
        max_response_bytes: config.limits.inspect_response_bytes,
        body_streams: if config.limits.stream_inspect {
            config.limits.stream_inspect_per_worker
        } else {
            0
        },
        ..ScanLimits::default()
    };
    // The recorder goes first: kits (built by the hub) and the event writer
    // bind their counters to it when they are created.
    let metrics = match config.admin {
        Some(addr) => {
            Some(
                crate::admin::install_metrics_recorder().map_err(|e| StartError::Admin {
                    addr,
                    source: io::Error::other(e.to_string()),
                })?,
            )
        }
        None => None,
    };
    let (hub, policies, _hub_thread) =
        Hub::start(config.policy.clone(), config.intel.clone(), workers, limits)?;
    // The admin API's event store, fed by the event writer thread (never a core).
    let store = config.admin.map(|_| {
        Arc::new(crate::admin_api::EventStore::new(
            config.admin_api.recent_events,
        ))
    });
    let (events, core_events) = if config.policy.enabled && config.events.enabled {
        let tap = store
            .clone()
            .map(|s| -> crate::events::Tap { Box::new(move |b| s.ingest(b)) });
        let (log, cores) =
            EventLog::start(&config.events, workers, tap).map_err(StartError::Events)?;
        (Some(log), cores.into_iter().map(Some).collect())
    } else {
        (None, (0..workers).map(|_| None).collect())
    };
    // Resolve port 0 once so every worker's socket joins the same group.
    let mut per_worker: Vec<Vec<Socket>> = (0..workers).map(|_| Vec::new()).collect();
    let mut listen_addrs = Vec::new();
    // Certificates are read before anything listens, like policies.
    let tls = match &config.tls {
        Some(t) if !config.tls_listeners.is_empty() => {
            Some(crate::tls::build_server_config(t, None).map_err(|errors| {
                StartError::Tls(
                    errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?)
        }
        _ => None,
    };
    let tls_from = config.listeners.len();
    let mut upstream_tls = Vec::with_capacity(config.upstreams.len());
    for u in &config.upstreams {
        upstream_tls.push(match &u.tls {
            Some(t) => {
                if !t.verify {
                    tracing::warn!(upstream = %u.name, "TLS to this upstream does not verify its certificates");
                }
                Some(Arc::new(crate::tls::upstream::client_config(t).map_err(|e| {
                    StartError::Tls(format!("upstream {:?}: {e}", u.name))
                })?))
            }
            None => None,
        });
    }
    let (tls_reloader, tls_updates) = match (&config.tls, &tls) {
        (Some(cfg), Some(setup)) => {
            let (handle, receivers, _thread) =
                crate::tls::reload::start(cfg.clone(), setup.clone(), workers, cfg.watch)
                    .map_err(|e| StartError::Tls(format!("cannot start the reloader: {e}")))?;
            (Some(handle), receivers.into_iter().map(Some).collect())
        }
        _ => (None, (0..workers).map(|_| None).collect()),
    };
    for &addr in config.listeners.iter().chain(&config.tls_listeners) {
        let first = listener(addr, 4096).map_err(|source| StartError::Listen { addr, source })?;
        let bound = first
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(addr);
        per_worker[0].push(first);
        for sockets in per_worker.iter_mut().skip(1) {
            let s = listener(bound, 4096).map_err(|source| StartError::Listen {
                addr: bound,
                source,
            })?;
            sockets.push(s);
        }
        listen_addrs.push(bound);
    }
    if config.counters.enabled && config.counters.steer_by_address {
        for i in 0..config.listeners.len() + config.tls_listeners.len() {
            let group: Vec<&Socket> = per_worker.iter().map(|w| &w[i]).collect();
            // A failure is logged with its consequence inside; serving goes on.
            let _ = steering::attach(&group);
        }
    }

    let wake_fds: Vec<RawFd> = policies.iter().map(|p| p.wake_fd).collect();
    let behaviours = behaviour_engines(&config, &wake_fds).map_err(StartError::Behaviour)?;
    let decoy_secret =
        crate::enforce::load_decoy_secret(config.enforcement.decoy_secret_file.as_deref())
            .map_err(StartError::DecoySecret)?;
    let ready = Arc::new(AtomicBool::new(false));
    let mut traffic: Vec<Option<crate::traffic::Publisher>> = (0..workers).map(|_| None).collect();
    let admin_addr = match config.admin {
        Some(addr) => {
            let api = match store {
                Some(store) => Some(Arc::new(
                    crate::admin_api::Api::new(
                        config.admin_api.clone(),
                        hub.clone(),
                        config.policy.overlay.clone(),
                        store,
                        crate::admin_api::Facts {
                            workers,
                            listeners: listen_addrs.clone(),
                            monitor: config.policy.monitor,
                        },
                    )
                    .map_err(|e| StartError::Admin {
                        addr,
                        source: io::Error::other(e.to_string()),
                    })?,
                )),
                None => None,
            };
            if let Some(api) = &api {
                // Cores publish per-route and per-cluster counts once a second.
                let servers: Vec<usize> =
                    config.upstreams.iter().map(|u| u.servers.len()).collect();
                let (pubs, feed) = crate::traffic::channels(workers, config.routes.len(), &servers);
                traffic = pubs.into_iter().map(Some).collect();
                crate::admin_api::traffic::start(api, feed, &config);
            }
            let (bound, _) = crate::admin::spawn_admin(
                addr,
                metrics,
                ready.clone(),
                Some(hub.clone()),
                api,
                tls_reloader.clone(),
            )
            .map_err(|source| StartError::Admin { addr, source })?;
            Some(bound)
        }
        None => None,
    };
    Ok(Prepared {
        per_worker,
        listen_addrs,
        admin_addr,
        grace: config.timeouts.shutdown_grace,
        pin: config.pin_workers,
        shared: Arc::new(Shared {
            router: Router::new(&config.routes),
            decoy_secret,
            upstream_tls,
            config,
        }),
        ready,
        cpus: allowed_cpus(),
        hub,
        policies: policies.into_iter().map(Some).collect(),
        events,
        core_events,
        behaviours,
        tls,
        tls_from,
        tls_reloader,
        tls_updates,
        traffic,
    })
}

/// One behaviour engine per worker when inspection is on: identity extraction
/// always, counters unless `[behaviour] enabled = false`. The token-hash key,
/// the identity hash and the clock are shared, so every core hashes a key the
/// same way and agrees on its owner; a core's exchange wakes the owner it
/// sends to through that worker's policy eventfd.
fn behaviour_engines(
    config: &Config,
    wake_fds: &[RawFd],
) -> io::Result<Vec<Option<crate::behaviour::Engine>>> {
    let n = wake_fds.len();
    if !config.policy.enabled {
        return Ok((0..n).map(|_| None).collect());
    }
    let token_key = crate::enforce::random_bytes()?;
    let hash = std::hash::RandomState::new();
    let epoch = std::time::Instant::now();
    let c = &config.counters;
    let mut counters: Vec<Option<crate::behaviour::CoreCounters>> = if c.enabled {
        crate::behaviour::CoreCounters::mesh(n, c.memory_per_core, c.key_sync_interval_ms)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        (0..n).map(|_| None).collect()
    };
    for core in counters.iter_mut().flatten() {
        let fds = wake_fds.to_vec();
        core.exchange_mut().set_wake(Box::new(move |to| {
            if let Some(&fd) = fds.get(to) {
                if fd >= 0 {
                    signal_eventfd(fd);
                }
            }
        }));
    }
    Ok(counters
        .into_iter()
        .map(|core| {
            Some(crate::behaviour::Engine::new(
                &config.identity,
                &config.forwarding.trusted_proxies,
                &token_key,
                hash.clone(),
                core,
                epoch,
            ))
        })
        .collect())
}

type Started = std::sync::mpsc::Sender<Result<(), (usize, io::Error)>>;

/// Starts worker `id` on its own thread; it reports on `started` once its ring is up.
fn spawn_worker(
    prep: &mut Prepared,
    id: usize,
    sockets: Vec<Socket>,
    control: RawFd,
    started: Started,
) -> Result<JoinHandle<()>, StartError> {
    let shared = prep.shared.clone();
    let cpu = (prep.pin && !prep.cpus.is_empty()).then(|| prep.cpus[id % prep.cpus.len()]);
    let fds: Vec<RawFd> = sockets.into_iter().map(IntoRawFd::into_raw_fd).collect();
    let policy = prep.policies[id].take().ok_or_else(|| StartError::Worker {
        worker: id,
        source: io::Error::other("no policy slot"),
    })?;
    let events = prep.core_events[id].take();
    let behaviour = prep.behaviours[id].take();
    let (tls, tls_from) = (prep.tls.clone(), prep.tls_from);
    let tls_updates = prep.tls_updates[id].take();
    let traffic = prep.traffic[id].take();
    std::thread::Builder::new()
        .name(format!("rampart-w{id}"))
        .spawn(move || {
            if let Some(cpu) = cpu {
                pin_to_cpu(cpu);
            }
            let mut w = match Worker::new(WorkerSetup {
                id,
                shared,
                listeners: fds,
                control_fd: control,
                signals: None,
                policy,
                events,
                behaviour,
                tls,
                tls_from,
                tls_updates,
                traffic,
            }) {
                Ok(w) => w,
                Err(e) => {
                    let _ = started.send(Err((id, e)));
                    return;
                }
            };
            let _ = started.send(Ok(()));
            drop(started);
            if let Err(e) = w.run() {
                tracing::error!(worker = id, error = %e, "worker stopped on an I/O error");
            }
        })
        .map_err(|source| StartError::Worker { worker: id, source })
}

/// Spawns workers `first..` and waits until each has its ring up.
fn spawn_workers(
    prep: &mut Prepared,
    first: usize,
    controls: &[RawFd],
) -> Result<Vec<JoinHandle<()>>, StartError> {
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let sockets: Vec<Vec<Socket>> = prep.per_worker.drain(first..).collect();
    let mut handles = Vec::with_capacity(sockets.len());
    for (k, socks) in sockets.into_iter().enumerate() {
        let id = first + k;
        handles.push(spawn_worker(
            prep,
            id,
            socks,
            controls[id],
            started_tx.clone(),
        )?);
    }
    drop(started_tx);
    for _ in 0..handles.len() {
        match started_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err((worker, source))) => {
                for &c in controls {
                    signal_eventfd(c);
                }
                return Err(StartError::Worker { worker, source });
            }
            Err(_) => {
                return Err(StartError::Worker {
                    worker: first,
                    source: io::Error::other("worker thread exited during startup"),
                })
            }
        }
    }
    Ok(handles)
}

fn make_controls(n: usize) -> Result<Vec<RawFd>, StartError> {
    (0..n)
        .map(|_| eventfd().map_err(StartError::Control))
        .collect()
}

/// Waits (bounded) for worker threads after they were told to stop.
fn join_workers(handles: Vec<JoinHandle<()>>, grace: Duration) {
    let deadline = Instant::now() + grace + Duration::from_secs(2);
    for h in handles {
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            let _ = h.join();
        } else {
            tracing::warn!("a worker did not stop within the grace period");
        }
    }
}

/// Like [`join_workers`], while forwarding any further SIGTERM/SIGINT read from
/// `signal_fd` to the workers (a second signal ends their drain at once).
fn join_workers_watching(
    handles: Vec<JoinHandle<()>>,
    grace: Duration,
    signal_fd: RawFd,
    peers: &[RawFd],
) {
    let deadline = Instant::now() + grace + Duration::from_secs(2);
    while handles.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: signal_fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a 10 ms timeout bounds the wait.
        let ready = unsafe { libc::poll(&mut pfd, 1, 10) };
        if ready > 0 && pfd.revents & libc::POLLIN != 0 {
            let mut info = [0u8; 128];
            // SAFETY: reads at most 128 bytes into a live buffer of that size.
            let n = unsafe { libc::read(signal_fd, info.as_mut_ptr().cast(), info.len()) };
            let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
            if n > 0 && signo == libc::SIGUSR1 as u32 {
                crate::events::request_reopen();
            } else if n > 0 && signo != libc::SIGHUP as u32 {
                tracing::warn!("second signal: stopping without waiting for the drain");
                for &fd in peers {
                    signal_eventfd(fd);
                }
            }
        }
    }
    join_workers(handles, Duration::ZERO);
}

impl Server {
    /// Starts every worker on its own thread and returns a handle (for embedding
    /// and in-process tests); stop it with [`RunningServer::shutdown`].
    pub fn start(config: Config) -> Result<RunningServer, StartError> {
        let mut prep = prepare(config)?;
        let controls = make_controls(prep.per_worker.len())?;
        let workers = spawn_workers(&mut prep, 0, &controls)?;
        prep.ready.store(true, Ordering::Release);
        Ok(RunningServer {
            events: prep.events.take(),
            listen_addrs: prep.listen_addrs,
            admin_addr: prep.admin_addr,
            workers,
            controls,
            grace: prep.grace,
            ready: prep.ready,
            hub: prep.hub,
        })
    }

    /// Runs the gateway in this process until SIGTERM/SIGINT has drained it.
    ///
    /// Worker 0 runs on the calling thread and owns a signalfd for SIGTERM,
    /// SIGINT, SIGHUP (policy reload) and SIGUSR1 (reopen the event log); the
    /// caller must have blocked all four before any thread was spawned. A
    /// signal arrives as a completion on its ring, and it passes the drain on to
    /// the other workers' eventfds. `on_ready` runs once every worker is up.
    pub fn run(
        config: Config,
        on_ready: impl FnOnce(&[SocketAddr], Option<SocketAddr>),
    ) -> Result<(), StartError> {
        let mut prep = prepare(config)?;
        let n = prep.per_worker.len();
        let controls = make_controls(n)?;
        let others = spawn_workers(&mut prep, 1, &controls)?;
        let signal_fd = signalfd().map_err(StartError::Control)?;
        if prep.pin && !prep.cpus.is_empty() {
            pin_to_cpu(prep.cpus[0]);
        }
        let sockets = prep.per_worker.pop().unwrap_or_default();
        let policy0 = prep.policies[0].take().ok_or_else(|| StartError::Worker {
            worker: 0,
            source: io::Error::other("no policy slot"),
        })?;
        let worker0 = Worker::new(WorkerSetup {
            id: 0,
            policy: policy0,
            events: prep.core_events[0].take(),
            behaviour: prep.behaviours[0].take(),
            tls: prep.tls.clone(),
            tls_from: prep.tls_from,
            tls_updates: prep.tls_updates[0].take(),
            traffic: prep.traffic[0].take(),
            shared: prep.shared.clone(),
            listeners: sockets.into_iter().map(IntoRawFd::into_raw_fd).collect(),
            control_fd: controls[0],
            signals: Some(SignalDuty {
                signal_fd,
                peers: controls[1..].to_vec(),
                ready: prep.ready.clone(),
                hub: Some(prep.hub.clone()),
                tls: prep.tls_reloader.clone(),
            }),
        });
        let mut worker0 = match worker0 {
            Ok(w) => w,
            Err(source) => {
                for &c in &controls[1..] {
                    signal_eventfd(c);
                }
                join_workers(others, prep.grace);
                return Err(StartError::Worker { worker: 0, source });
            }
        };
        prep.ready.store(true, Ordering::Release);
        on_ready(&prep.listen_addrs, prep.admin_addr);
        if let Err(e) = worker0.run() {
            tracing::error!(worker = 0, error = %e, "worker stopped on an I/O error");
            for &c in &controls[1..] {
                signal_eventfd(c);
            }
        }
        drop(worker0);
        // Worker 0 stops as soon as its own connections are drained; the others may
        // still be draining. Keep listening for a second signal meanwhile, which
        // tells them to stop at once.
        join_workers_watching(others, prep.grace, signal_fd, &controls[1..]);
        // Every core has stopped: what they queued is written out now.
        if let Some(ev) = prep.events.take() {
            ev.stop();
        }
        prep.hub.stop();
        for c in controls {
            // SAFETY: our eventfds; every worker that reads them has stopped.
            unsafe { libc::close(c) };
        }
        // SAFETY: our signalfd, read only by worker 0, which has stopped.
        unsafe { libc::close(signal_fd) };
        Ok(())
    }
}

/// A signalfd for SIGTERM, SIGINT, SIGHUP and SIGUSR1 (which the caller has blocked).
fn signalfd() -> io::Result<RawFd> {
    // SAFETY: sigset manipulation on a local set, then signalfd(2); checked.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// Writes 1 to an eventfd: wakes the worker reading it (a control fd: drain
/// and stop; a policy fd: take the new kit).
pub(crate) fn signal_eventfd(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
    unsafe {
        libc::write(fd, (&one as *const u64).cast(), 8);
    }
}

impl RunningServer {
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The policy hub (reloads, status).
    pub fn policy_hub(&self) -> &Hub {
        &self.hub
    }

    /// Stops accepting, lets in-flight requests finish (up to the shutdown grace
    /// period), and joins the workers.
    pub fn shutdown(self) {
        self.ready.store(false, Ordering::Release);
        for &c in &self.controls {
            signal_eventfd(c);
        }
        join_workers(self.workers, self.grace);
        if let Some(ev) = self.events {
            ev.stop();
        }
        self.hub.stop();
        for c in self.controls {
            // SAFETY: our eventfds; the workers that read them have stopped.
            unsafe { libc::close(c) };
        }
    }
}
