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

    /// Decoded payload bytes seen so far (callers enforce their body limit).
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
                self.line_len += 1;
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
