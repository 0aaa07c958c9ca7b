//! The policy hub: a thread that loads and compiles packs, publishes a kit to
//! every core, watches the pack files, and keeps the reload history the admin
//! API shows. Nothing here runs on a core.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rampart_matcher::ScanLimits;
use rampart_policy_loader::{load, Changes, CompiledPolicy, LoadErrors};

use super::{intel, CoreKit, IntelConfig, PolicyConfig};

/// Reload requests waiting for the hub; more are refused (one is enough to
/// pick up every change, since a reload reads everything).
const REQUEST_QUEUE: usize = 4;
/// Kits in flight to one core (a core takes them at its next loop turn).
const KIT_QUEUE: usize = 4;
/// Reload records kept for the admin API.
const HISTORY: usize = 20;
/// How often the hub looks at pack files' modification times.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// A change must hold still this long before it is loaded (editors write in steps).
const DEBOUNCE: Duration = Duration::from_millis(400);

/// The outcome of one reload attempt.
#[derive(Clone, Debug)]
pub struct ReloadRecord {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// What asked for it (`start`, `SIGHUP`, `admin`, `file change`).
    pub reason: String,
    /// Whether the new policy is serving.
    pub ok: bool,
    /// Version of the policy serving after this attempt.
    pub version: Option<String>,
    /// Policies and signatures of the new policy.
    pub policies: usize,
    /// Signatures.
    pub signatures: usize,
    /// Wall time of load + compile + kit building.
    pub elapsed_ms: u64,
    /// What changed, on success.
    pub changes: Changes,
    /// Every problem, on failure.
    pub errors: Vec<String>,
    /// Every list of the new policy with its entries and load time, on success.
    pub lists: Vec<rampart_policy_loader::ListStats>,
}

impl ReloadRecord {
    /// As JSON for the admin API.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "at": self.at,
            "reason": self.reason,
            "ok": self.ok,
            "version": self.version,
            "policies": self.policies,
            "signatures": self.signatures,
            "elapsed_ms": self.elapsed_ms,
            "added": self.changes.added,
            "removed": self.changes.removed,
            "changed": self.changes.changed,
            "errors": self.errors,
            "lists": intel::lists_json(&self.lists),
        })
    }
}

/// What the admin API shows about policy.
#[derive(Debug, Default)]
pub struct Status {
    /// Inspection on.
    pub enabled: bool,
    /// Serving policy.
    pub current: Option<Arc<CompiledPolicy>>,
    /// Reload generation serving.
    pub generation: u64,
    /// Recent reloads, newest last.
    pub history: VecDeque<ReloadRecord>,
}

impl Status {
    /// As JSON for `GET /admin/policy`.
    pub fn to_json(&self) -> serde_json::Value {
        let current = self.current.as_ref().map(|p| {
            serde_json::json!({
                "version": p.version(),
                "generation": self.generation,
                "packs": p.packs.iter().map(|k| serde_json::json!({"name": k.name, "version": k.version, "source": k.source})).collect::<Vec<_>>(),
                "policies": p.stats.policies,
                "enforce": p.stats.enforce,
                "monitor": p.stats.monitor,
                "signatures": p.stats.signatures,
                "prefiltered": p.stats.prefiltered,
                "compile_ms": p.stats.elapsed.as_millis() as u64,
                "lists": intel::lists_json(&p.stats.lists),
            })
        });
        serde_json::json!({
            "enabled": self.enabled,
            "current": current,
            "reloads": self.history.iter().map(ReloadRecord::to_json).collect::<Vec<_>>(),
        })
    }
}

enum Msg {
    Reload {
        reason: String,
        reply: Option<SyncSender<ReloadRecord>>,
    },
    Stop,
}

/// A handle to the hub: ask for reloads, read the status. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    tx: Option<SyncSender<Msg>>,
    status: Arc<Mutex<Status>>,
}

/// What one core receives from the hub.
pub struct CorePolicy {
    /// The kit to start with (`None` when inspection is off).
    pub kit: Option<CoreKit>,
    /// New kits from reloads.
    pub kits: Receiver<CoreKit>,
    /// Where replaced kits go to be freed off the core.
    pub retired: SyncSender<CoreKit>,
    /// Eventfd the hub writes after sending a kit.
    pub wake_fd: RawFd,
}

struct Publisher {
    kits: SyncSender<CoreKit>,
    wake_fd: RawFd,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if self.wake_fd >= 0 {
            // SAFETY: the hub created this eventfd and is its last user: the
            // hub state (and so this publisher) is dropped when the hub thread
            // ends, after the server has joined the workers that read it.
            unsafe { libc::close(self.wake_fd) };
        }
    }
}

struct HubState {
    cfg: PolicyConfig,
    intel: IntelConfig,
    limits: ScanLimits,
    publishers: Vec<Publisher>,
    retired: Receiver<CoreKit>,
    status: Arc<Mutex<Status>>,
    generation: u64,
    /// Files and mtimes as of the serving policy, and a change waiting to settle.
    loaded_fingerprint: Fingerprint,
    pending: Option<(Fingerprint, Instant)>,
    /// The client-block expiry a reload was last started for (tried once,
    /// so a pack that stopped loading does not cause a reload per turn).
    expiry_tried: Option<u64>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn record(status: &Mutex<Status>, r: ReloadRecord) {
    if let Ok(mut s) = status.lock() {
        if s.history.len() == HISTORY {
            s.history.pop_front();
        }
        s.history.push_back(r);
    }
}

/// Every pack and overlay file with its modification time and size.
type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

/// What [`Hub::start`] gives the server: the handle, one policy per core, the thread.
pub type Started = (Hub, Vec<CorePolicy>, Option<JoinHandle<()>>);

fn fingerprint(cfg: &PolicyConfig, intel: &IntelConfig) -> Fingerprint {
    let mut out = Vec::new();
    let mut add = |p: &Path| {
        let m = std::fs::metadata(p).ok();
        out.push((
            p.to_path_buf(),
            m.as_ref().and_then(|m| m.modified().ok()),
            m.map_or(0, |m| m.len()),
        ));
    };
    for dir in cfg.packs.iter().filter(|p| p.as_os_str() != "default") {
        add(&dir.join("pack.toml"));
        for sub in ["signatures", "policies", "lists", "responses"] {
            let d = dir.join(sub);
            add(&d);
            if let Ok(rd) = std::fs::read_dir(&d) {
                let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
                files.sort();
                for f in files {
                    add(&f);
                }
            }
        }
    }
    if let Some(o) = &cfg.overlay {
        add(o);
    }
    for d in &intel.lists {
        add(d);
        if let Ok(rd) = std::fs::read_dir(d) {
            let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                add(&f);
            }
        }
    }
    out
}

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The packs do not load; nothing can serve.
    #[error("{0}")]
    Load(LoadErrors),
    /// Building a core's kit failed.
    #[error("cannot prepare policy scanning: {0}")]
    Kit(String),
    /// OS resources.
    #[error("cannot start the policy hub: {0}")]
    Io(#[from] std::io::Error),
}

impl Hub {
    /// Loads the configured packs (failing if they do not load), builds one kit
    /// per core and starts the hub thread.
    pub fn start(
        cfg: PolicyConfig,
        intel: IntelConfig,
        cores: usize,
        limits: ScanLimits,
    ) -> Result<Started, HubError> {
        let status = Arc::new(Mutex::new(Status {
            enabled: cfg.enabled,
            ..Status::default()
        }));
        let (retired_tx, retired_rx) = mpsc::sync_channel(cores * KIT_QUEUE);
        let mut cores_out = Vec::with_capacity(cores);
        let mut publishers = Vec::with_capacity(cores);
        let started = Instant::now();
        let initial = if cfg.enabled {
            let loaded = load(&intel.apply(cfg.load_options())).map_err(HubError::Load)?;
            for w in &loaded.warnings {
                tracing::warn!(warning = %w, "policy load");
            }
            Some(loaded.policy)
        } else {
            None
        };
        for _ in 0..cores {
            let (tx, rx) = mpsc::sync_channel(KIT_QUEUE);
            // Only a running hub wakes cores; with inspection off there is no fd.
            let fd = if cfg.enabled {
                crate::server::eventfd()?
            } else {
                -1
            };
            let kit = match &initial {
                Some(p) => Some(CoreKit::new(Arc::clone(p), 1, limits).map_err(HubError::Kit)?),
                None => None,
            };
            cores_out.push(CorePolicy {
                kit,
                kits: rx,
                retired: retired_tx.clone(),
                wake_fd: fd,
            });
            publishers.push(Publisher {
                kits: tx,
                wake_fd: fd,
            });
        }
        if let Some(p) = &initial {
            tracing::info!(
                version = p.version(),
                policies = p.stats.policies,
                signatures = p.stats.signatures,
                ms = started.elapsed().as_millis() as u64,
                "policy loaded"
            );
            intel::report(p, None);
            let mut s = status
                .lock()
                .map_err(|_| HubError::Kit("status lock poisoned".into()))?;
            s.current = Some(Arc::clone(p));
            s.generation = 1;
            s.history.push_back(ReloadRecord {
                at: now_secs(),
                reason: "start".into(),
                ok: true,
                version: Some(p.version().to_owned()),
                policies: p.stats.policies,
                signatures: p.stats.signatures,
                elapsed_ms: started.elapsed().as_millis() as u64,
                changes: Changes::default(),
                errors: Vec::new(),
                lists: p.stats.lists.clone(),
            });
        }
        if !cfg.enabled {
            return Ok((Hub { tx: None, status }, cores_out, None));
        }
        let (tx, rx) = mpsc::sync_channel(REQUEST_QUEUE);
        let fp = fingerprint(&cfg, &intel);
        let mut state = HubState {
            cfg,
            intel,
            limits,
            publishers,
            retired: retired_rx,
            status: Arc::clone(&status),
            generation: 1,
            loaded_fingerprint: fp,
            pending: None,
            expiry_tried: None,
        };
        let handle = std::thread::Builder::new()
            .name("rampart-policy".into())
            .spawn(move || state.run(&rx))?;
        Ok((
            Hub {
                tx: Some(tx),
                status,
            },
            cores_out,
            Some(handle),
        ))
    }

    /// Asks for a reload without waiting (SIGHUP). `false` if one is already queued.
    pub fn request_reload(&self, reason: &str) -> bool {
        match &self.tx {
            Some(tx) => tx
                .try_send(Msg::Reload {
                    reason: reason.to_owned(),
                    reply: None,
                })
                .is_ok(),
            None => false,
        }
    }

    /// Reloads and waits for the outcome (admin API). `None` when inspection is
    /// off, the hub is busy with queued reloads, or it does not answer in time.
    pub fn reload_and_wait(&self, reason: &str, timeout: Duration) -> Option<ReloadRecord> {
        let tx = self.tx.as_ref()?;
        let (rtx, rrx) = mpsc::sync_channel(1);
        match tx.try_send(Msg::Reload {
            reason: reason.to_owned(),
            reply: Some(rtx),
        }) {
            Ok(()) => rrx.recv_timeout(timeout).ok(),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => None,
        }
    }

    /// The status, as JSON.
    pub fn status_json(&self) -> serde_json::Value {
        match self.status.lock() {
            Ok(s) => s.to_json(),
            Err(_) => serde_json::json!({"error": "status unavailable"}),
        }
    }

    /// The serving policy and its generation (admin API).
    pub fn current(&self) -> Option<(Arc<CompiledPolicy>, u64)> {
        let s = self.status.lock().ok()?;
        s.current.clone().map(|p| (p, s.generation))
    }

    /// The recent reloads, newest last (admin API).
    pub fn history(&self) -> Vec<ReloadRecord> {
        self.status
            .lock()
            .map(|s| s.history.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether inspection is on.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Stops the hub thread (the server is shutting down).
    pub fn stop(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(Msg::Stop);
        }
    }
}

impl HubState {
    fn run(&mut self, rx: &Receiver<Msg>) {
        loop {
            match rx.recv_timeout(WATCH_EVERY) {
                Ok(Msg::Reload { reason, reply }) => {
                    let r = self.reload(&reason);
                    if let Some(reply) = reply {
                        let _ = reply.try_send(r);
                    }
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Kits the cores replaced: freed here, not on a core.
            while let Ok(old) = self.retired.try_recv() {
                drop(old);
            }
            if self.cfg.watch {
                self.watch();
            }
            self.lift_expired_blocks();
        }
    }

    /// Loads again when an overlay `[[block]]` in force has expired, so the
    /// block lifts (within a turn, ~0.5 s, plus the load time).
    fn lift_expired_blocks(&mut self) {
        let next = self.status.lock().ok().and_then(|s| {
            s.current
                .as_ref()
                .and_then(|p| p.stats.client_blocks.next_expiry_s)
        });
        if let Some(t) = next {
            if now_secs() >= t && self.expiry_tried != Some(t) {
                self.expiry_tried = Some(t);
                self.reload("client block expired");
            }
        }
    }

    fn watch(&mut self) {
        let fp = fingerprint(&self.cfg, &self.intel);
        if fp == self.loaded_fingerprint {
            self.pending = None;
            return;
        }
        match &self.pending {
            Some((p, since)) if *p == fp && since.elapsed() >= DEBOUNCE => {
                self.pending = None;
                self.reload("file change");
            }
            Some((p, _)) if *p == fp => {}
            _ => self.pending = Some((fp, Instant::now())),
        }
    }

    fn reload(&mut self, reason: &str) -> ReloadRecord {
        let started = Instant::now();
        // Taken before reading, so an edit racing with this load triggers another.
        let fp = fingerprint(&self.cfg, &self.intel);
        let old = self.status.lock().ok().and_then(|s| s.current.clone());
        let result = load(&self.intel.apply(self.cfg.load_options()));
        let r = match result {
            Err(errs) => {
                let errors: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
                tracing::error!(
                    reason,
                    problems = errors.len(),
                    first = errors.first().map(String::as_str).unwrap_or(""),
                    "policy reload failed; keeping the serving policy"
                );
                self.loaded_fingerprint = fp;
                ReloadRecord {
                    at: now_secs(),
                    reason: reason.to_owned(),
                    ok: false,
                    version: old.as_ref().map(|p| p.version().to_owned()),
                    policies: 0,
                    signatures: 0,
                    elapsed_ms: started.elapsed().as_millis() as u64,
                    changes: Changes::default(),
                    errors,
                    lists: Vec::new(),
                }
            }
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!(warning = %w, "policy load");
                }
                let new = loaded.policy;
                match self.publish(&new) {
                    Err(e) => {
                        tracing::error!(reason, error = %e, "cannot prepare the new policy; keeping the serving one");
                        ReloadRecord {
                            at: now_secs(),
                            reason: reason.to_owned(),
                            ok: false,
                            version: old.as_ref().map(|p| p.version().to_owned()),
                            policies: 0,
                            signatures: 0,
                            elapsed_ms: started.elapsed().as_millis() as u64,
                            changes: Changes::default(),
                            errors: vec![e],
                            lists: Vec::new(),
                        }
                    }
                    Ok(()) => {
                        self.loaded_fingerprint = fp;
                        let changes = old
                            .as_ref()
                            .map(|o| new.changes_since(o))
                            .unwrap_or_default();
                        tracing::info!(
                            reason,
                            version = new.version(),
                            policies = new.stats.policies,
                            added = changes.added.len(),
                            removed = changes.removed.len(),
                            changed = changes.changed.len(),
                            ms = started.elapsed().as_millis() as u64,
                            "policy reloaded"
                        );
                        intel::report(&new, old.as_deref());
                        if let Ok(mut s) = self.status.lock() {
                            s.current = Some(Arc::clone(&new));
                            s.generation = self.generation;
                        }
                        ReloadRecord {
                            at: now_secs(),
                            reason: reason.to_owned(),
                            ok: true,
                            version: Some(new.version().to_owned()),
                            policies: new.stats.policies,
                            signatures: new.stats.signatures,
                            elapsed_ms: started.elapsed().as_millis() as u64,
                            changes,
                            errors: Vec::new(),
                            lists: new.stats.lists.clone(),
                        }
                    }
                }
            }
        };
        record(&self.status, r.clone());
        r
    }

    /// Builds every core's kit first, then sends them all: a failure leaves
    /// every core on the old policy.
    fn publish(&mut self, policy: &Arc<CompiledPolicy>) -> Result<(), String> {
        let generation = self.generation + 1;
        let kits = (0..self.publishers.len())
            .map(|_| CoreKit::new(Arc::clone(policy), generation, self.limits))
            .collect::<Result<Vec<_>, _>>()?;
        for (p, kit) in self.publishers.iter().zip(kits) {
            match p.kits.try_send(kit) {
                Ok(()) => crate::server::signal_eventfd(p.wake_fd),
                Err(TrySendError::Full(_)) => {
                    // The core has not taken the last few kits: it is stuck or
                    // stopping. It picks up the newest one it has when it runs.
                    tracing::warn!(
                        "a core has not taken its previous policy kits; skipping it this time"
                    );
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        self.generation = generation;
        Ok(())
    }
}
