//! UTF-8 helpers, and `Utf8Normalize`: overlong forms decoded, invalid bytes flagged.

use super::Anomalies;

/// Appends `cp` encoded as UTF-8 if it is a Unicode scalar value (not a
/// surrogate, at most U+10FFFF); returns whether it did.
///
/// The encoding takes 1 byte below U+80, 2 below U+800, 3 below U+10000 and 4
/// above: every escape decoded through here is at least that long.
pub(super) fn push_scalar(out: &mut Vec<u8>, cp: u32) -> bool {
    match char::from_u32(cp) {
        Some(c) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            true
        }
        None => false,
    }
}

/// The length of the valid UTF-8 sequence that starts `bytes`, if one does.
pub(super) fn valid_sequence_len(bytes: &[u8]) -> Option<usize> {
    let len = match *bytes.first()? {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let seq = bytes.get(..len)?;
    std::str::from_utf8(seq).ok().map(|_| len)
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// What the (invalid) bytes at the start of `bytes` are.
enum Invalid {
    /// A complete but overlong sequence of this length for this scalar value.
    Overlong(usize, u32),
    /// A complete overlong sequence whose value is not a scalar value.
    OverlongNonScalar,
    /// Anything else: a stray continuation byte, a truncated sequence, an
    /// encoded surrogate, a value above U+10FFFF, a 0xFE/0xFF byte.
    Other,
}

/// Classifies the sequence at the start of `bytes`, which is not valid UTF-8.
/// Lead bytes up to 0xFD (the pre-2003 5- and 6-byte forms) are read, so that
/// `F8 80 80 80 AF` is recognised as an overlong `/` too.
fn classify(bytes: &[u8]) -> Invalid {
    let Some(&lead) = bytes.first() else {
        return Invalid::Other;
    };
    let (len, mut cp, min) = match lead {
        0xC0..=0xDF => (2, u32::from(lead & 0x1F), 0x80),
        0xE0..=0xEF => (3, u32::from(lead & 0x0F), 0x800),
        0xF0..=0xF7 => (4, u32::from(lead & 0x07), 0x1_0000),
        0xF8..=0xFB => (5, u32::from(lead & 0x03), 0x20_0000),
        0xFC..=0xFD => (6, u32::from(lead & 0x01), 0x400_0000),
        _ => return Invalid::Other,
    };
    let Some(rest) = bytes.get(1..len) else {
        return Invalid::Other;
    };
    for &b in rest {
        if !is_continuation(b) {
            return Invalid::Other;
        }
        cp = (cp << 6) | u32::from(b & 0x3F);
    }
    if cp >= min {
        // Complete and shortest-form, yet invalid: a surrogate or out of range.
        return Invalid::Other;
    }
    if char::from_u32(cp).is_some() {
        Invalid::Overlong(len, cp)
    } else {
        Invalid::OverlongNonScalar
    }
}

/// `Utf8Normalize`: valid UTF-8 copied; every overlong sequence replaced by the
/// shortest encoding of its value (always shorter), flagging `OVERLONG_UTF8`;
/// any other invalid byte copied as it is, flagging `INVALID_UTF8`.
pub(super) fn normalize(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let mut anomalies = Anomalies::NONE;
    let mut rest = input;
    loop {
        let err = match std::str::from_utf8(rest) {
            Ok(_) => {
                out.extend_from_slice(rest);
                return anomalies;
            }
            Err(err) => err,
        };
        let (valid, bad) = rest.split_at(err.valid_up_to());
        out.extend_from_slice(valid);
        let consumed = match classify(bad) {
            Invalid::Overlong(len, cp) => {
                anomalies |= Anomalies::OVERLONG_UTF8;
                push_scalar(out, cp);
                len
            }
            Invalid::OverlongNonScalar => {
                anomalies |= Anomalies::OVERLONG_UTF8 | Anomalies::INVALID_UTF8;
                out.extend_from_slice(&bad[..1]);
                1
            }
            Invalid::Other => {
                anomalies |= Anomalies::INVALID_UTF8;
                out.extend_from_slice(&bad[..1]);
                1
            }
        };
        rest = &bad[consumed..];
    }
}
