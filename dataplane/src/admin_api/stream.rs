//! `GET /api/events/stream`: Server-Sent Events of new events, one thread
//! per subscriber so a stream never holds one of the admin workers.
//!
//! Each subscriber has a bounded queue in the event store; a subscriber that
//! falls behind is dropped by the store (never waited for) and its stream
//! ends with an `event: dropped` message. An idle stream gets a comment line
//! every `stream_keepalive` so proxies and browsers keep it open, and a dead
//! client is noticed at the next write.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use super::http::ApiError;
use super::store::Filter;
use super::Api;

/// How long one write to a stream may block before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Decrements the open-stream count however the stream ends.
struct Slot(Arc<Api>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes over the connection: answers 503 when too many streams are open,
/// otherwise sends the SSE head and starts the stream's thread.
pub fn start(api: &Arc<Api>, mut stream: TcpStream, filter: Filter) -> io::Result<()> {
    let open = api.streams.fetch_add(1, Ordering::AcqRel);
    let slot = Slot(Arc::clone(api));
    if open >= api.cfg.max_streams {
        let e = ApiError::new(
            503,
            format!(
                "{} event streams are open (admin.max_streams); close one and retry",
                api.cfg.max_streams
            ),
        );
        stream.write_all(&e.reply())?;
        return stream.flush();
    }
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    // Subscribed before the head goes out: a client that has read the head
    // sees every event from then on.
    let rx = api.store.subscribe(filter);
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nretry: 2000\n: connected\n\n",
    )?;
    stream.flush()?;
    let keepalive = api.cfg.stream_keepalive;
    std::thread::Builder::new()
        .name("rampart-admin-sse".into())
        .spawn(move || {
            let _slot = slot;
            let mut stream = stream;
            loop {
                let chunk = match rx.recv_timeout(keepalive) {
                    Ok(e) => format!("id: {}\nevent: event\ndata: {}\n\n", e.id, e.wrapped()),
                    Err(RecvTimeoutError::Timeout) => ": keep-alive\n\n".to_owned(),
                    Err(RecvTimeoutError::Disconnected) => {
                        let _ = stream.write_all(
                            b"event: dropped\ndata: {\"reason\":\"the stream fell behind and was dropped; reconnect\"}\n\n",
                        );
                        return;
                    }
                };
                if stream.write_all(chunk.as_bytes()).is_err() || stream.flush().is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}
