//! One load connection: its socket (plain or TLS), the bytes waiting to be
//! written, the read buffer responses are parsed from, and the requests in
//! flight in the order they were sent.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use mio::net::TcpStream;
use rustls::ClientConnection;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::response::ResponseReader;
use super::tls::TlsClient;

/// Read buffer size: twice the longest head the reader accepts, so a
/// partial head plus a full read always fit.
pub const READ_BUF: usize = 64 * 1024;

/// A request written (or queued) and not yet answered.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    /// When the schedule meant it to go (open loop), or when it was queued.
    pub due: Instant,
    /// When it was queued for writing.
    pub sent: Instant,
    pub class: u16,
    pub head: bool,
}

/// The socket, with TLS on top when the target is `https`.
pub enum Stream {
    Plain(TcpStream),
    Tls(TcpStream, Box<ClientConnection>),
}

impl Stream {
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) | Stream::Tls(s, _) => s,
        }
    }
}

/// What reading a socket produced.
pub enum ReadOutcome {
    /// `n` plaintext bytes were appended to the buffer.
    Data(usize),
    /// Nothing more for now.
    WouldBlock,
    /// The peer closed (EOF or TLS close_notify).
    Eof,
}

/// An error on the socket, by what it means for the tally.
pub enum StreamError {
    /// Reset or broken pipe: the server dropped the connection.
    Reset,
    Io(io::Error),
    /// The TLS layer failed; what rustls said.
    Tls(String),
}

impl From<io::Error> for StreamError {
    fn from(e: io::Error) -> StreamError {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted => StreamError::Reset,
            _ => StreamError::Io(e),
        }
    }
}

/// Opens a non-blocking connection to `addr`, from `source` if given.
pub fn connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// A connection slot; the socket comes and goes, the buffers stay.
pub struct Conn {
    /// Index of this connection over the whole run (all threads).
    pub global: usize,
    pub stream: Option<Stream>,
    /// The TCP connect has not completed yet.
    pub connecting: bool,
    pub rbuf: Box<[u8]>,
    pub rstart: usize,
    pub rend: usize,
    pub wbuf: Vec<u8>,
    pub wpos: usize,
    pub inflight: VecDeque<InFlight>,
    pub reader: ResponseReader,
    /// Position in the mix's send order.
    pub cursor: usize,
    /// Requests sent on the current socket.
    pub sent_here: u64,
    /// No more requests on this socket (the server said close, or
    /// `--reconnect-every` was reached); it is replaced once drained.
    pub draining: bool,
    /// Open loop: when the next request is due.
    pub next_due: Instant,
    /// Do not reconnect before this (after a failed connect).
    pub retry_at: Option<Instant>,
    /// When the current connect started (a connect also times out).
    pub connect_started: Instant,
    /// Connections opened by this slot so far (picks the next source).
    pub opened: u64,
}

impl Conn {
    pub fn new(
        global: usize,
        cursor: usize,
        next_due: Instant,
        pipeline: usize,
        max_req: usize,
    ) -> Conn {
        Conn {
            global,
            stream: None,
            connecting: false,
            rbuf: vec![0; READ_BUF].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::with_capacity(pipeline * max_req),
            wpos: 0,
            inflight: VecDeque::with_capacity(pipeline),
            reader: ResponseReader::default(),
            cursor,
            sent_here: 0,
            draining: false,
            next_due,
            retry_at: None,
            connect_started: next_due,
            opened: 0,
        }
    }

    /// True while a TLS handshake is under way: a connection lost now failed
    /// the handshake, whatever the socket said.
    pub fn handshaking(&self) -> bool {
        matches!(&self.stream, Some(Stream::Tls(_, c)) if c.is_handshaking())
    }

    /// Puts the slot back to "no socket", keeping its buffers.
    pub fn reset(&mut self) {
        self.stream = None;
        self.connecting = false;
        self.rstart = 0;
        self.rend = 0;
        self.wbuf.clear();
        self.wpos = 0;
        self.inflight.clear();
        self.reader.reset();
        self.sent_here = 0;
        self.draining = false;
    }

    /// Wraps a freshly connected socket in TLS if the target wants it.
    pub fn attach(&mut self, sock: TcpStream, tls: Option<&TlsClient>) -> Result<(), StreamError> {
        self.stream = Some(match tls {
            Some(t) => {
                let c = ClientConnection::new(t.config.clone(), t.server_name.clone())
                    .map_err(|e| StreamError::Tls(e.to_string()))?;
                Stream::Tls(sock, Box::new(c))
            }
            None => Stream::Plain(sock),
        });
        self.connecting = true;
        Ok(())
    }

    /// Reads what is available into the free end of the read buffer.
    pub fn read(&mut self) -> Result<ReadOutcome, StreamError> {
        let room = &mut self.rbuf[self.rend..];
        if room.is_empty() {
            return Ok(ReadOutcome::WouldBlock);
        }
        match &mut self.stream {
            None => Ok(ReadOutcome::WouldBlock),
            Some(Stream::Plain(s)) => loop {
                match s.read(room) {
                    Ok(0) => return Ok(ReadOutcome::Eof),
                    Ok(n) => {
                        self.rend += n;
                        return Ok(ReadOutcome::Data(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(ReadOutcome::WouldBlock)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            },
            Some(Stream::Tls(s, c)) => loop {
                // plaintext rustls already holds comes first
                match c.reader().read(room) {
                    Ok(0) => return Ok(ReadOutcome::Eof),
                    Ok(n) => {
                        self.rend += n;
                        return Ok(ReadOutcome::Data(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Ok(ReadOutcome::Eof)
                    }
                    Err(e) => return Err(StreamError::Tls(e.to_string())),
                }
                match c.read_tls(s) {
                    Ok(0) => return Ok(ReadOutcome::Eof),
                    Ok(_) => {
                        c.process_new_packets()
                            .map_err(|e| StreamError::Tls(e.to_string()))?;
                        // the handshake may have produced records to send
                        if c.wants_write() {
                            flush_tls(s, c)?;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(ReadOutcome::WouldBlock)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            },
        }
    }

    /// Writes what is queued; returns the plaintext bytes accepted.
    pub fn flush(&mut self) -> Result<usize, StreamError> {
        let pending = &self.wbuf[self.wpos..];
        let mut done = 0;
        match &mut self.stream {
            None => return Ok(0),
            Some(Stream::Plain(s)) => {
                while done < pending.len() {
                    match s.write(&pending[done..]) {
                        Ok(0) => return Err(StreamError::Reset),
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Some(Stream::Tls(s, c)) => {
                if !pending.is_empty() {
                    // rustls buffers the plaintext until the handshake is done
                    c.writer()
                        .write_all(pending)
                        .map_err(|e| StreamError::Tls(e.to_string()))?;
                    done = pending.len();
                }
                flush_tls(s, c)?;
            }
        }
        self.wpos += done;
        if self.wpos == self.wbuf.len() {
            self.wbuf.clear();
            self.wpos = 0;
        }
        Ok(done)
    }

    /// Keeps only the unparsed tail of the read buffer, at its front.
    pub fn compact(&mut self) {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        } else if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
    }
}

fn flush_tls(s: &mut TcpStream, c: &mut ClientConnection) -> Result<(), StreamError> {
    while c.wants_write() {
        match c.write_tls(s) {
            Ok(0) => return Err(StreamError::Reset),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
