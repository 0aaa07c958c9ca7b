//! Streaming validator for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1),
//! used on both the request and the response side. The body is forwarded
//! verbatim; this decoder only decides where it ends, hands the chunk data to an
//! inspector, and refuses any encoding two parsers could disagree on.
//!
//! It is a byte-level state machine so input may be split anywhere between
//! reads, with no buffering and no heap.

use super::is_tchar;

/// Longest accepted chunk-size line, extensions included (CRLF excluded).
pub const MAX_SIZE_LINE: u32 = 4096;
/// Largest accepted trailer section, final CRLF included.
pub const MAX_TRAILER_BYTES: u32 = 16 * 1024;
/// More than 16 hex digits cannot fit in u64; leading zeros do not get a pass,
/// otherwise a size line could be padded forever.
const MAX_SIZE_DIGITS: u8 = 16;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Reading chunk-size hex digits.
    #[default]
    Size,
    /// BWS after the size or an extension; only `;` may follow.
    SizeWs,
    /// After `;`: BWS then ext-name.
    ExtPreName,
    ExtName,
    /// BWS after ext-name: `=` or `;` may follow.
    ExtNameWs,
    /// After `=`: BWS then token or quoted-string.
    ExtPreValue,
    ExtValue,
    ExtQuoted,
    ExtQuotedEscape,
    /// Right after a closing quote.
    ExtQuotedEnd,
    /// CR of the size line seen.
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// CR of the final empty line seen.
    EndLf,
    Done,
    Failed(ChunkError),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
    /// Chunk size being read, then the bytes of it still to come.
    remaining: u64,
    digits: u8,
    line_len: u32,
    trailer_len: u32,
    data_total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedProgress {
    /// Bytes of `input` that belong to the chunked body.
    pub consumed: usize,
    /// The last chunk and trailer section are complete.
    pub done: bool,
}

#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    #[error("invalid chunk size")]
    InvalidSize,
    #[error("chunk size overflow")]
    SizeOverflow,
    #[error("invalid chunk extension")]
    InvalidExtension,
    #[error("chunk size line too long")]
    LineTooLong,
    #[error("missing CRLF in chunked body")]
    MissingCrlf,
    #[error("invalid trailer field")]
    InvalidTrailer,
    #[error("trailer section too large")]
    TrailersTooLarge,
}

#[inline]
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
fn hex_val(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

/// qdtext (RFC 9110 §5.6.4): HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
#[inline]
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

/// field-vchar / obs-text / SP / HTAB: what a field value may contain.
#[inline]
fn is_field_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff)
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decoded payload size so far. It includes the whole declared size of the
    /// current chunk as soon as its size line is complete, so a caller's body
    /// limit trips before the oversized data is even read.
    pub fn data_bytes(&self) -> u64 {
        self.data_total
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Validates `input` as the next bytes of a chunked body. `consumed` stops
    /// exactly after the final CRLF, so pipelined bytes are left alone. `on_data`
    /// gets each chunk-data slice. Once an error is returned the decoder stays
    /// failed: the stream position is unknown and must not be guessed.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<ChunkedProgress, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Data => {
                    // Bulk path: chunk data is the bulk of the body.
                    let avail = (input.len() - i) as u64;
                    let take = avail.min(self.remaining) as usize;
                    on_data(&input[i..i + take]);
                    i += take;
                    self.remaining -= take as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    if let Err(e) = self.step(input[i]) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                    i += 1;
                }
            }
        }
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        Ok(ChunkedProgress {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    /// Advances by one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        match self.state {
            Size | SizeWs | ExtPreName | ExtName | ExtNameWs | ExtPreValue | ExtValue
            | ExtQuoted | ExtQuotedEscape | ExtQuotedEnd => {
                // The terminating CR is not part of the line's length.
                self.line_len += u32::from(b != b'\r');
                if self.line_len > MAX_SIZE_LINE {
                    return Err(ChunkError::LineTooLong);
                }
            }
            TrailerStart | TrailerName | TrailerValue | TrailerLf | EndLf => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILER_BYTES {
                    return Err(ChunkError::TrailersTooLarge);
                }
            }
            _ => {}
        }
        // A LF anywhere a CR was not just seen is a bare LF: some parsers accept
        // it as a line end, so its mere presence is a desync risk.
        self.state = match (self.state, b) {
            (Size, _) => {
                if let Some(v) = hex_val(b) {
                    if self.digits == MAX_SIZE_DIGITS {
                        return Err(ChunkError::SizeOverflow);
                    }
                    self.digits += 1;
                    self.remaining = (self.remaining << 4) | v;
                    Size
                } else if self.digits == 0 {
                    return Err(if b == b'\n' {
                        ChunkError::MissingCrlf
                    } else {
                        ChunkError::InvalidSize
                    });
                } else {
                    match b {
                        b'\r' => SizeLf,
                        b';' => ExtPreName,
                        b' ' | b'\t' => SizeWs,
                        b'\n' => return Err(ChunkError::MissingCrlf),
                        _ => return Err(ChunkError::InvalidSize),
                    }
                }
            }
            // `5 \r\n` is not in the grammar: BWS is only allowed before `;`.
            (SizeWs, b';') => ExtPreName,
            (SizeWs, _) if is_ws(b) => SizeWs,
            (ExtPreName, _) if is_ws(b) => ExtPreName,
            (ExtPreName, _) if is_tchar(b) => ExtName,
            (ExtName, _) if is_tchar(b) => ExtName,
            (ExtName | ExtNameWs, b'=') => ExtPreValue,
            (ExtName | ExtNameWs, b';') => ExtPreName,
            (ExtName | ExtNameWs, _) if is_ws(b) => ExtNameWs,
            (ExtName | ExtValue | ExtQuotedEnd, b'\r') => SizeLf,
            (ExtPreValue, _) if is_ws(b) => ExtPreValue,
            (ExtPreValue, b'"') => ExtQuoted,
            (ExtPreValue, _) if is_tchar(b) => ExtValue,
            (ExtValue, _) if is_tchar(b) => ExtValue,
            (ExtValue | ExtQuotedEnd, b';') => ExtPreName,
            (ExtValue | ExtQuotedEnd, _) if is_ws(b) => SizeWs,
            (ExtQuoted, b'"') => ExtQuotedEnd,
            (ExtQuoted, b'\\') => ExtQuotedEscape,
            (ExtQuoted, _) if is_qdtext(b) => ExtQuoted,
            (ExtQuotedEscape, _) if is_field_byte(b) => ExtQuoted,
            (
                SizeWs | ExtPreName | ExtName | ExtNameWs | ExtPreValue | ExtValue | ExtQuoted
                | ExtQuotedEscape | ExtQuotedEnd,
                b'\n',
            ) => return Err(ChunkError::MissingCrlf),
            (
                SizeWs | ExtPreName | ExtName | ExtNameWs | ExtPreValue | ExtValue | ExtQuoted
                | ExtQuotedEscape | ExtQuotedEnd,
                _,
            ) => return Err(ChunkError::InvalidExtension),
            (SizeLf, b'\n') => {
                self.line_len = 0;
                self.digits = 0;
                if self.remaining == 0 {
                    TrailerStart
                } else {
                    self.data_total = self
                        .data_total
                        .checked_add(self.remaining)
                        .ok_or(ChunkError::SizeOverflow)?;
                    Data
                }
            }
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size,
            (SizeLf | DataCr | DataLf, _) => return Err(ChunkError::MissingCrlf),
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | TrailerName, _) if is_tchar(b) => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, _) if is_field_byte(b) => TrailerValue,
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            (TrailerStart | TrailerName | TrailerValue, b'\n') => {
                return Err(ChunkError::MissingCrlf)
            }
            (TrailerLf | EndLf, _) => return Err(ChunkError::MissingCrlf),
            // Obs-fold, empty name, space before colon, control bytes.
            (TrailerStart | TrailerName | TrailerValue, _) => {
                return Err(ChunkError::InvalidTrailer)
            }
            (Data | Done | Failed(_), _) => self.state,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (consumed, done, data) from feeding `input` split at the given points.
    fn run(input: &[u8], splits: &[usize]) -> Result<(usize, bool, Vec<u8>), ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut data = Vec::new();
        let mut consumed = 0;
        let mut prev = 0;
        for &s in splits.iter().chain(std::iter::once(&input.len())) {
            let p = d.feed(&input[prev..s], |c| data.extend_from_slice(c))?;
            consumed += p.consumed;
            if p.done {
                assert_eq!(p.done, d.is_done());
                return Ok((consumed, true, data));
            }
            assert_eq!(p.consumed, s - prev, "not done but did not consume all");
            prev = s;
        }
        Ok((consumed, d.is_done(), data))
    }

    fn whole(input: &[u8]) -> Result<(usize, bool, Vec<u8>), ChunkError> {
        run(input, &[])
    }

    fn bytewise(input: &[u8]) -> Result<(usize, bool, Vec<u8>), ChunkError> {
        let splits: Vec<usize> = (1..input.len()).collect();
        run(input, &splits)
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn random_splits(input: &[u8], rng: &mut Rng) -> Result<(usize, bool, Vec<u8>), ChunkError> {
        let mut splits: Vec<usize> = (0..(rng.next() % 6))
            .map(|_| (rng.next() as usize) % (input.len() + 1))
            .collect();
        splits.sort_unstable();
        run(input, &splits)
    }

    const VALID: &[(&[u8], &[u8])] = &[
        (b"0\r\n\r\n", b""),
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
        (b"a\r\n0123456789\r\n000\r\n\r\n", b"0123456789"),
        (b"0000000000000003\r\nabc\r\n0\r\n\r\n", b"abc"),
        (b"3;ext\r\nabc\r\n0\r\n\r\n", b"abc"),
        (
            b"3 ; a=b ;c = \"q\\\"x\" ;d\r\nabc\r\n0;last\r\n\r\n",
            b"abc",
        ),
        (b"3;a=\"sp ace\t\"\r\nabc\r\n0\r\n\r\n", b"abc"),
        (
            b"3\r\nabc\r\n0\r\nX-Sum: 123\r\nX-Other:\tv v\r\n\r\n",
            b"abc",
        ),
        (b"1\r\n\r\r\n0\r\nT:\r\n\r\n", b"\r"),
        (b"2\r\n\r\n\r\n0\r\n\r\n", b"\r\n"),
    ];

    #[test]
    fn valid_fixtures_all_splits_agree() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for (input, data) in VALID {
            let expect = (input.len(), true, data.to_vec());
            assert_eq!(
                whole(input),
                Ok(expect.clone()),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(bytewise(input), Ok(expect.clone()));
            for _ in 0..200 {
                assert_eq!(random_splits(input, &mut rng), Ok(expect.clone()));
            }
        }
    }

    #[test]
    fn every_two_way_split_agrees() {
        for (input, data) in VALID {
            for s in 0..=input.len() {
                assert_eq!(run(input, &[s]), Ok((input.len(), true, data.to_vec())));
            }
        }
    }

    #[test]
    fn stops_before_pipelined_bytes() {
        let input = b"3\r\nabc\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.1\r\n";
        let body_len = input.len() - b"GET / HTTP/1.1\r\n".len();
        let mut d = ChunkedDecoder::new();
        let p = d.feed(input, |_| {}).unwrap();
        assert_eq!(
            p,
            ChunkedProgress {
                consumed: body_len,
                done: true
            }
        );
        assert_eq!(d.data_bytes(), 3);
        // Further input is not consumed once done.
        assert_eq!(
            d.feed(b"more", |_| {}),
            Ok(ChunkedProgress {
                consumed: 0,
                done: true
            })
        );
        // Same when the pipelined bytes arrive in the same call byte-wise.
        assert_eq!(bytewise(input).map(|r| r.0), Ok(body_len));
    }

    #[test]
    fn partial_progress_and_data_bytes() {
        let mut d = ChunkedDecoder::new();
        let p = d.feed(b"10\r\n01234567", |_| {}).unwrap();
        assert_eq!(
            p,
            ChunkedProgress {
                consumed: 12,
                done: false
            }
        );
        assert_eq!(d.data_bytes(), 16);
        assert!(!d.is_done());
    }

    fn invalid(input: &[u8], e: ChunkError) {
        assert_eq!(
            whole(input).map(|_| ()),
            Err(e),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(bytewise(input).map(|_| ()), Err(e));
    }

    #[test]
    fn size_errors() {
        invalid(b"\r\n", ChunkError::InvalidSize);
        invalid(b"g\r\n", ChunkError::InvalidSize);
        invalid(b"5g\r\n", ChunkError::InvalidSize);
        invalid(b"-5\r\n", ChunkError::InvalidSize);
        invalid(b"+5\r\n", ChunkError::InvalidSize);
        invalid(b"0x5\r\n", ChunkError::InvalidSize);
        invalid(b" 5\r\n", ChunkError::InvalidSize);
        invalid(b"00000000000000000\r\n", ChunkError::SizeOverflow);
        invalid(b"10000000000000000\r\n", ChunkError::SizeOverflow);
        // 16 digits is the maximum and fits u64 exactly.
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(b"ffffffffffffffff\r\nab", |_| {}).is_ok());
        assert_eq!(d.data_bytes(), u64::MAX);
    }

    #[test]
    fn total_overflow() {
        let mut d = ChunkedDecoder::new();
        d.data_total = u64::MAX;
        assert_eq!(d.feed(b"1\r\n", |_| {}), Err(ChunkError::SizeOverflow));
        // Stays failed.
        assert_eq!(d.feed(b"x", |_| {}), Err(ChunkError::SizeOverflow));
    }

    #[test]
    fn crlf_errors() {
        invalid(b"5\nhello\r\n0\r\n\r\n", ChunkError::MissingCrlf);
        invalid(b"5\r\nhello\n0\r\n\r\n", ChunkError::MissingCrlf);
        invalid(b"5\r\nhelloX\r\n0\r\n\r\n", ChunkError::MissingCrlf);
        invalid(b"5\r\nhello\rX0\r\n\r\n", ChunkError::MissingCrlf);
        invalid(b"5\rhello", ChunkError::MissingCrlf);
        invalid(b"0\r\n\n", ChunkError::MissingCrlf);
        invalid(b"0\r\n\r\r", ChunkError::MissingCrlf);
        invalid(b"0\r\nA: b\n\r\n", ChunkError::MissingCrlf);
        invalid(b"0\n\r\n", ChunkError::MissingCrlf);
        invalid(b"3;a\nabc", ChunkError::MissingCrlf);
    }

    #[test]
    fn extension_errors() {
        invalid(b"5 \r\nhello\r\n0\r\n\r\n", ChunkError::InvalidExtension);
        invalid(b"5;\r\n", ChunkError::InvalidExtension);
        invalid(b"5;=x\r\n", ChunkError::InvalidExtension);
        invalid(b"5;a=\r\n", ChunkError::InvalidExtension);
        invalid(b"5;a b\r\n", ChunkError::InvalidExtension);
        invalid(b"5;a=b c\r\n", ChunkError::InvalidExtension);
        invalid(b"5;a=\"unterminated\r\n", ChunkError::InvalidExtension);
        invalid(b"5;a=\"x\"y\r\n", ChunkError::InvalidExtension);
        invalid(b"5;a=\"\x01\"\r\n", ChunkError::InvalidExtension);
        invalid(b"5;a\x00\r\n", ChunkError::InvalidExtension);
        invalid(b"5;a=b \r\n", ChunkError::InvalidExtension);
    }

    #[test]
    fn line_too_long() {
        let mut l = b"5;a=".to_vec();
        l.resize(MAX_SIZE_LINE as usize, b'x');
        l.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(whole(&l).map(|r| r.2), Ok(b"hello".to_vec()));
        let mut l = b"5;a=".to_vec();
        l.resize(MAX_SIZE_LINE as usize + 1, b'x');
        l.extend_from_slice(b"\r\n");
        invalid(&l, ChunkError::LineTooLong);
    }

    #[test]
    fn trailer_errors() {
        invalid(b"0\r\n X: y\r\n\r\n", ChunkError::InvalidTrailer);
        invalid(b"0\r\nX : y\r\n\r\n", ChunkError::InvalidTrailer);
        invalid(b"0\r\n: y\r\n\r\n", ChunkError::InvalidTrailer);
        invalid(b"0\r\nX\r\n\r\n", ChunkError::InvalidTrailer);
        invalid(b"0\r\nX: a\x00b\r\n\r\n", ChunkError::InvalidTrailer);
        invalid(b"0\r\nX: a\rb\r\n\r\n", ChunkError::MissingCrlf);
        let mut t = b"0\r\nX: ".to_vec();
        t.resize(3 + MAX_TRAILER_BYTES as usize, b'a');
        t.extend_from_slice(b"\r\n\r\n");
        invalid(&t, ChunkError::TrailersTooLarge);
        let mut t = b"0\r\nX: ".to_vec();
        t.resize(3 + MAX_TRAILER_BYTES as usize - 4, b'a');
        t.extend_from_slice(b"\r\n\r\n");
        assert_eq!(whole(&t).map(|r| r.1), Ok(true));
    }

    #[test]
    fn error_is_sticky() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.feed(b"z", |_| {}), Err(ChunkError::InvalidSize));
        assert_eq!(d.feed(b"0\r\n\r\n", |_| {}), Err(ChunkError::InvalidSize));
    }
}
