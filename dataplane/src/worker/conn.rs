//! Connection slots: the state a worker keeps per client and per upstream
//! connection. Slots are boxed once and reused, so the addresses of their buffers
//! and iovecs stay put while the kernel uses them.

use std::net::{IpAddr, Ipv4Addr};

use crate::http::chunked::{ChunkError, ChunkedDecoder};
use crate::http::Version;

use super::inbox::Inbox;
use super::tx::Tx;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv {
    Off,
    Armed,
    /// Cancelled to apply back-pressure; the final completion is pending.
    Cancelling,
}

/// Where a client connection is in its exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for (the rest of) a request head.
    Head,
    /// The request head (and the body bytes that came with it) is being sent upstream,
    /// or we wait for the upstream connection to be established first.
    SendingRequest,
    /// More request body is expected from the client.
    Body,
    /// Collecting the first `inspect_body_bytes` of the body into one contiguous
    /// buffer before anything goes upstream.
    Inspect,
    /// The request is upstream; waiting for the response head.
    AwaitResponse,
    /// Holding the response head and collecting the first
    /// `inspect_response_bytes` of its body for response policies.
    InspectResponse,
    /// Relaying the response body.
    Response,
    /// After a 101: bytes flow both ways untouched.
    Tunnel,
    /// A final response of ours is being written; close afterwards.
    Closing,
    /// Held by a policy (tarpit, delayed deception) until its timer fires;
    /// nothing of the request goes upstream.
    Held,
}

/// How much of a body is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remaining {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Remaining {
    /// How many of `buf`'s bytes belong to the body, advancing the framing state;
    /// chunked bodies are validated on the way. Bytes past the body's end (a
    /// pipelined request, or junk after a response) are not taken.
    pub fn take(&mut self, chunks: &mut ChunkedDecoder, buf: &[u8]) -> Result<usize, ChunkError> {
        self.take_with(chunks, buf, |_| {})
    }

    /// [`Remaining::take`], also handing the body's data (de-chunked) to `data`.
    pub fn take_with(
        &mut self,
        chunks: &mut ChunkedDecoder,
        buf: &[u8],
        mut data: impl FnMut(&[u8]),
    ) -> Result<usize, ChunkError> {
        match *self {
            Remaining::Length(n) => {
                let p = (buf.len() as u64).min(n);
                *self = if n > p {
                    Remaining::Length(n - p)
                } else {
                    Remaining::None
                };
                data(&buf[..p as usize]);
                Ok(p as usize)
            }
            Remaining::Chunked => {
                let pr = chunks.feed(buf, data)?;
                if pr.done {
                    *self = Remaining::None;
                }
                Ok(pr.consumed)
            }
            Remaining::UntilClose => {
                data(buf);
                Ok(buf.len())
            }
            Remaining::None => Ok(0),
        }
    }
}

pub struct Client {
    pub gen: u32,
    pub fd: i32,
    pub peer: IpAddr,
    pub inbox: Inbox,
    pub recv: Recv,
    pub phase: Phase,
    pub deadline: u64,
    /// Request facts kept after the head's bytes are gone.
    pub keep_alive: bool,
    pub version: Version,
    pub is_head: bool,
    pub retryable: bool,
    pub request_id: [u8; 16],
    pub started_us: u64,
    pub cluster: usize,
    pub server: usize,
    pub req_left: Remaining,
    pub req_chunks: ChunkedDecoder,
    pub req_body_bytes: u64,
    pub resp_left: Remaining,
    pub resp_chunks: ChunkedDecoder,
    pub resp_status: u16,
    pub resp_keep_alive: bool,
    pub got_response: bool,
    pub upstream: Option<u32>,
    /// Holds the rewritten request head (kept for a retry) and then response heads.
    pub out: Option<Box<[u8]>>,
    pub out_len: usize,
    /// Our own error responses are written here: `out` may be missing (pool
    /// exhausted) or still referenced by an in-flight send when we need to answer.
    pub note: [u8; 512],
    pub to_client: Tx,
    pub to_upstream: Tx,
    /// Close the client connection once the current response is written.
    pub close_after: bool,
    /// Requests completed on this connection (the first head gets `header_read`
    /// from accept; later ones get `idle_keepalive` while no byte has arrived).
    pub served: u32,
    /// Bytes of the current head have arrived: the header deadline runs.
    pub head_started: bool,
    /// The behaviour engine's keys for the request in progress, from its
    /// judging to its response.
    pub tracked: crate::behaviour::Tracked,
    pub upgrade: bool,
    pub retried: bool,
    /// Length of the request head in the inbox, and head + the body bytes sent with
    /// it: what a retry on a fresh connection must resend if the first send failed.
    pub req_head_len: usize,
    pub req_first: usize,
    /// The first send upstream completed (its inbox bytes are consumed).
    pub req_sent: bool,
    /// The contiguous body prefix (when it did not arrive with the head).
    pub inspect: Option<Box<[u8]>>,
    pub inspect_len: usize,
    pub inspect_need: usize,
    /// Inbox bytes (head + first body bytes) to consume once the head is parsed
    /// and copied; deferred because the parsed head borrows them until then.
    pub inspect_consume: usize,
    /// A copy of the original request head while its body prefix is collected:
    /// the policy judges head and body together, after the head's receive
    /// buffers went back to the ring.
    pub orig_head: Option<Box<[u8]>>,
    pub orig_head_len: usize,
    /// The request body is chunked (the inspected prefix still has framing).
    pub req_chunked: bool,
    /// Declared body length (Content-Length), or 0.
    pub req_declared: u64,
    /// Generation of the policy kit the request started under.
    pub policy_gen: u64,
    /// Every byte of the current request has been read and consumed, so a
    /// local answer (a policy's) may leave the connection open for the next
    /// request. Set only where that is known; a streamed body's withheld
    /// tail, for one, leaves it false and the connection closes.
    pub read_whole: bool,
    /// Which route the request took (what deception learns is per route).
    pub route: usize,
    /// The hold in progress, while `phase` is `Held`.
    pub hold: super::enforce::Hold,
    /// The body is being scanned as a stream beyond its inspected prefix
    /// (see `worker/body_stream.rs`).
    pub body_scan: Option<Box<crate::policy::BodyScan>>,
    /// The response body prefix held for response policies (see
    /// `worker/response_inspect.rs`), its length, how much to hold, and
    /// whether it is chunk-framed.
    pub resp_buf: Option<Box<[u8]>>,
    pub resp_len: usize,
    pub resp_need: usize,
    pub resp_chunked: bool,
    /// TLS state, on connections accepted by a TLS listener.
    pub tls: Option<Box<super::tls_link::TlsLink>>,
}

impl Client {
    pub fn new() -> Client {
        Client {
            gen: 0,
            fd: -1,
            peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            inbox: Inbox::new(),
            recv: Recv::Off,
            phase: Phase::Head,
            deadline: 0,
            keep_alive: true,
            version: Version::Http11,
            is_head: false,
            retryable: false,
            request_id: [b'0'; 16],
            started_us: 0,
            cluster: 0,
            server: 0,
            req_left: Remaining::None,
            req_chunks: ChunkedDecoder::new(),
            req_body_bytes: 0,
            resp_left: Remaining::None,
            resp_chunks: ChunkedDecoder::new(),
            resp_status: 0,
            resp_keep_alive: false,
            got_response: false,
            upstream: None,
            out: None,
            out_len: 0,
            note: [0; 512],
            to_client: Tx::new(),
            to_upstream: Tx::new(),
            close_after: false,
            served: 0,
            head_started: false,
            tracked: crate::behaviour::Tracked::default(),
            upgrade: false,
            retried: false,
            req_head_len: 0,
            req_first: 0,
            req_sent: false,
            inspect: None,
            inspect_len: 0,
            inspect_need: 0,
            inspect_consume: 0,
            orig_head: None,
            orig_head_len: 0,
            req_chunked: false,
            req_declared: 0,
            policy_gen: 0,
            read_whole: false,
            route: 0,
            hold: super::enforce::Hold::default(),
            body_scan: None,
            resp_buf: None,
            resp_len: 0,
            resp_need: 0,
            resp_chunked: false,
            tls: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpState {
    Connecting,
    /// Connected; the TLS handshake to the server is under way.
    Handshaking,
    Idle,
    Busy,
}

pub struct Upstream {
    pub gen: u32,
    pub fd: i32,
    pub cluster: usize,
    pub server: usize,
    pub inbox: Inbox,
    pub recv: Recv,
    pub state: UpState,
    pub client: u32,
    /// Came from the idle pool (a failure before any response byte may be retried).
    pub reused: bool,
    /// TLS state, on connections to a cluster with `tls`.
    pub tls: Option<Box<super::tls_link::TlsLink>>,
}

impl Upstream {
    pub fn new() -> Upstream {
        Upstream {
            gen: 0,
            fd: -1,
            cluster: 0,
            server: 0,
            inbox: Inbox::new(),
            recv: Recv::Off,
            state: UpState::Idle,
            client: 0,
            reused: false,
            tls: None,
        }
    }
}
