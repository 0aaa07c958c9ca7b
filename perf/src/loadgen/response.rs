//! Reads HTTP/1.1 responses off a connection's byte stream in place: the
//! head is parsed with `httparse`, the body is skipped by its framing
//! (Content-Length, chunked, or until the connection closes), never kept.

/// How much of the stream a call consumed, and what it completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The response is not complete yet; `used` bytes were consumed (body
    /// bytes, interim heads) and the rest (a partial head) must be kept and
    /// offered again with more input.
    NeedMore { used: usize },
    /// A response completed after `used` bytes: its status and whether the
    /// server will close the connection after it.
    Done {
        used: usize,
        status: u16,
        close: bool,
    },
}

/// The stream is not HTTP/1.1 responses.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Fixed(u64),
    /// Reading a chunk-size line; `size` so far, `digits` seen, `ext` past
    /// a `;`, `cr` after a CR.
    ChunkSize {
        size: u64,
        digits: bool,
        ext: bool,
        cr: bool,
    },
    ChunkData(u64),
    /// The CRLF after a chunk's data; true once the CR was seen.
    ChunkEnd(bool),
    /// Trailer lines after the last chunk; `line_len` of the current line,
    /// `cr` after a CR.
    Trailer {
        line_len: usize,
        cr: bool,
    },
    UntilClose,
}

/// One connection's response reader.
#[derive(Debug)]
pub struct ResponseReader {
    state: State,
    status: u16,
    close: bool,
}

/// Heads longer than this are refused: no real API sends them, and the
/// generator's read buffer must hold a whole head.
pub const MAX_HEAD: usize = 32 * 1024;

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader {
            state: State::Head,
            status: 0,
            close: false,
        }
    }
}

impl ResponseReader {
    /// Forget any partial response (the connection was replaced).
    pub fn reset(&mut self) {
        *self = ResponseReader::default();
    }

    /// True while in the middle of a response (as opposed to between two).
    pub fn mid_response(&self) -> bool {
        self.state != State::Head
    }

    /// True when the body runs until the server closes: EOF completes it.
    pub fn until_close(&self) -> bool {
        self.state == State::UntilClose
    }

    /// The status of the response whose body runs until close.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Consumes bytes of `buf` until a response completes or the input runs
    /// out. `head_request`: the response answers a HEAD (no body).
    pub fn feed(&mut self, buf: &[u8], head_request: bool) -> Result<Step, ParseError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Head => {
                    let mut headers = [httparse::EMPTY_HEADER; 64];
                    let mut r = httparse::Response::new(&mut headers);
                    let n = match r.parse(&buf[pos..]) {
                        Ok(httparse::Status::Complete(n)) => n,
                        Ok(httparse::Status::Partial) => {
                            if buf.len() - pos > MAX_HEAD {
                                return Err(ParseError("response head too long"));
                            }
                            return Ok(Step::NeedMore { used: pos });
                        }
                        Err(_) => return Err(ParseError("malformed response head")),
                    };
                    let status = r.code.unwrap_or(0);
                    pos += n;
                    if (100..200).contains(&status) && status != 101 {
                        continue; // interim response: the real one follows
                    }
                    let mut length = None;
                    let mut chunked = false;
                    let mut close = r.version == Some(0);
                    for h in r.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            let v = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|s| s.trim().parse::<u64>().ok());
                            match v {
                                Some(v) if length.is_none_or(|l| l == v) => length = Some(v),
                                _ => return Err(ParseError("bad Content-Length")),
                            }
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = h.value.rsplit(|&b| b == b',').next().is_some_and(|last| {
                                last.trim_ascii().eq_ignore_ascii_case(b"chunked")
                            });
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            for t in h.value.split(|&b| b == b',') {
                                let t = t.trim_ascii();
                                if t.eq_ignore_ascii_case(b"close") {
                                    close = true;
                                } else if t.eq_ignore_ascii_case(b"keep-alive")
                                    && r.version == Some(0)
                                {
                                    close = false;
                                }
                            }
                        }
                    }
                    self.status = status;
                    self.close = close;
                    self.state = if head_request || status == 204 || status == 304 {
                        State::Fixed(0)
                    } else if chunked {
                        State::ChunkSize {
                            size: 0,
                            digits: false,
                            ext: false,
                            cr: false,
                        }
                    } else if let Some(l) = length {
                        State::Fixed(l)
                    } else {
                        self.close = true;
                        State::UntilClose
                    };
                }
                State::Fixed(left) => {
                    let take = left.min((buf.len() - pos) as u64);
                    pos += take as usize;
                    if take == left {
                        return Ok(self.done(pos));
                    }
                    self.state = State::Fixed(left - take);
                    return Ok(Step::NeedMore { used: pos });
                }
                State::UntilClose => return Ok(Step::NeedMore { used: buf.len() }),
                State::ChunkData(left) => {
                    let take = left.min((buf.len() - pos) as u64);
                    pos += take as usize;
                    if take < left {
                        self.state = State::ChunkData(left - take);
                        return Ok(Step::NeedMore { used: pos });
                    }
                    self.state = State::ChunkEnd(false);
                }
                _ => {
                    let Some(&b) = buf.get(pos) else {
                        return Ok(Step::NeedMore { used: pos });
                    };
                    pos += 1;
                    if let Some(step) = self.chunk_byte(b, pos)? {
                        return Ok(step);
                    }
                }
            }
        }
    }

    fn done(&mut self, used: usize) -> Step {
        self.state = State::Head;
        Step::Done {
            used,
            status: self.status,
            close: self.close,
        }
    }

    /// One byte of chunk framing (size line, data CRLF, trailers).
    fn chunk_byte(&mut self, b: u8, pos: usize) -> Result<Option<Step>, ParseError> {
        match &mut self.state {
            State::ChunkSize {
                size,
                digits,
                ext,
                cr,
            } => {
                if *cr {
                    if b != b'\n' {
                        return Err(ParseError("bad chunk size line"));
                    }
                    if !*digits {
                        return Err(ParseError("empty chunk size"));
                    }
                    self.state = if *size == 0 {
                        State::Trailer {
                            line_len: 0,
                            cr: false,
                        }
                    } else {
                        State::ChunkData(*size)
                    };
                } else if b == b'\r' {
                    *cr = true;
                } else if *ext {
                    // chunk extensions are skipped
                } else if b == b';' {
                    *ext = true;
                } else if let Some(d) = (b as char).to_digit(16) {
                    if *size > (u64::MAX >> 8) {
                        return Err(ParseError("chunk size too large"));
                    }
                    *size = *size * 16 + u64::from(d);
                    *digits = true;
                } else if b == b' ' || b == b'\t' {
                    *ext = *digits;
                } else {
                    return Err(ParseError("bad chunk size"));
                }
            }
            State::ChunkEnd(cr) => match (b, *cr) {
                (b'\r', false) => *cr = true,
                (b'\n', true) => {
                    self.state = State::ChunkSize {
                        size: 0,
                        digits: false,
                        ext: false,
                        cr: false,
                    }
                }
                _ => return Err(ParseError("chunk data not followed by CRLF")),
            },
            State::Trailer { line_len, cr } => {
                if *cr {
                    if b != b'\n' {
                        return Err(ParseError("bad trailer line"));
                    }
                    if *line_len == 0 {
                        return Ok(Some(self.done(pos)));
                    }
                    *line_len = 0;
                    *cr = false;
                } else if b == b'\r' {
                    *cr = true;
                } else {
                    *line_len += 1;
                    if *line_len > MAX_HEAD {
                        return Err(ParseError("trailer line too long"));
                    }
                }
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes, as a socket might deliver it.
    fn responses(wire: &[u8], step: usize, head: bool) -> Result<Vec<(u16, bool)>, ParseError> {
        let mut r = ResponseReader::default();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match r.feed(&buf, head)? {
                    Step::Done {
                        used,
                        status,
                        close,
                    } => {
                        out.push((status, close));
                        buf.drain(..used);
                    }
                    Step::NeedMore { used } => {
                        buf.drain(..used);
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn framing_by_length_chunks_and_close_in_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n\
HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n\
HTTP/1.1 429 Too Many\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno";
        for step in [1, 2, 3, 7, 64, wire.len()] {
            let got = responses(wire, step, false).unwrap();
            assert_eq!(
                got,
                vec![(200, false), (403, false), (204, false), (429, true)],
                "step {step}"
            );
        }
    }

    #[test]
    fn head_responses_and_http10_have_no_kept_body() {
        let got = responses(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 5, true).unwrap();
        assert_eq!(got, vec![(200, false)]);
        let mut r = ResponseReader::default();
        assert_eq!(
            r.feed(b"HTTP/1.0 200 OK\r\n\r\nbody", false),
            Ok(Step::NeedMore { used: 23 })
        );
        assert!(r.until_close());
        assert_eq!(r.status(), 200);
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(responses(b"SSH-2.0-OpenSSH\r\n\r\n", 4, false).is_err());
        assert!(responses(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 64, false).is_err());
        assert!(responses(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            64,
            false
        )
        .is_err());
        let long = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD + 10]].concat();
        assert!(responses(&long, 1024, false).is_err());
    }
}
