//! Certificate reload without a restart: a thread that rebuilds the TLS
//! configuration when asked (SIGHUP, the admin API) or when a certificate, key
//! or client CA file changes on disk (an ACME client renewing it), and hands the new
//! configuration to every core over a bounded channel. Cores pick it up at
//! their next sweep; connections already established keep the keys they
//! negotiated, new handshakes use the new certificates. A configuration that
//! does not load is logged and the serving one stays.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::{build_server_config, TlsConfig, TlsSetup};

/// How often certificate files are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// A change must hold still this long (a renewal writes key and chain in steps).
const DEBOUNCE: Duration = Duration::from_millis(500);
/// Configurations in flight to one core.
const CORE_QUEUE: usize = 2;

/// Asks the reloader for a reload. Cheap to clone.
#[derive(Clone)]
pub struct TlsReloader {
    tx: SyncSender<()>,
}

impl TlsReloader {
    /// Queues a reload; false when one is already queued (it will see every
    /// change) or the reloader is gone.
    pub fn request(&self) -> bool {
        self.tx.try_send(()).is_ok()
    }
}

type Stamp = Vec<(PathBuf, Option<SystemTime>, u64)>;

fn stamp(cfg: &TlsConfig) -> Stamp {
    cfg.certificates
        .iter()
        .flat_map(|c| [&c.cert, &c.key])
        .chain(cfg.client_ca.as_ref().map(|ca| &ca.path))
        .map(|p| {
            let m = std::fs::metadata(p).ok();
            (
                p.clone(),
                m.as_ref().and_then(|m| m.modified().ok()),
                m.map_or(0, |m| m.len()),
            )
        })
        .collect()
}

/// Starts the reloader for `cfg`, serving `initial` now; returns the handle,
/// one receiver per core and the thread.
pub fn start(
    cfg: TlsConfig,
    initial: TlsSetup,
    cores: usize,
    watch: bool,
) -> std::io::Result<(TlsReloader, Vec<Receiver<TlsSetup>>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    let mut senders = Vec::with_capacity(cores);
    let mut receivers = Vec::with_capacity(cores);
    for _ in 0..cores {
        let (s, r) = mpsc::sync_channel(CORE_QUEUE);
        senders.push(s);
        receivers.push(r);
    }
    let ok = metrics::counter!("rampart_tls_reloads_total", "outcome" => "ok");
    let failed = metrics::counter!("rampart_tls_reloads_total", "outcome" => "failed");
    let handle = TlsReloader { tx };
    let thread = std::thread::Builder::new()
        .name("rampart-tls-reload".into())
        .spawn(move || {
            let mut serving = initial;
            let mut seen = stamp(&cfg);
            let mut pending: Option<(Stamp, Instant)> = None;
            loop {
                let asked = match rx.recv_timeout(WATCH_EVERY) {
                    Ok(()) => true,
                    Err(RecvTimeoutError::Timeout) => false,
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                let now = stamp(&cfg);
                let changed = watch && now != seen;
                let settled = match (&pending, changed) {
                    (_, false) => {
                        pending = None;
                        false
                    }
                    (Some((p, since)), true) if *p == now => since.elapsed() >= DEBOUNCE,
                    (_, true) => {
                        pending = Some((now.clone(), Instant::now()));
                        false
                    }
                };
                if !asked && !settled {
                    continue;
                }
                pending = None;
                seen = now;
                let reason = if asked { "request" } else { "file change" };
                match build_server_config(&cfg, Some(&serving)) {
                    Ok(next) => {
                        for s in &senders {
                            // A core that has two configurations queued has
                            // not swept in a while; it gets the next one.
                            let _ = s.try_send(next.clone());
                        }
                        serving = next;
                        ok.increment(1);
                        tracing::info!(reason, "TLS certificates reloaded");
                    }
                    Err(errors) => {
                        failed.increment(1);
                        for e in errors {
                            tracing::error!(reason, error = %e, "TLS reload failed; the serving certificates stay");
                        }
                    }
                }
            }
        })?;
    Ok((handle, receivers, thread))
}
