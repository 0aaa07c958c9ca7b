//! Base64 decoding into a reused buffer (no growth), for JWT segments
//! (base64url) and `Authorization: Basic` (standard alphabet). Both
//! alphabets are accepted everywhere and `=` padding is optional: a lenient
//! reader is fine for identity, and a JWT's signature covers the encoded text
//! anyway.

const INVALID: u8 = 0xff;

static TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'-' as usize] = 62;
    t[b'/' as usize] = 63;
    t[b'_' as usize] = 63;
    t
};

/// Decoded length of `n` encoded characters (padding excluded), if valid.
pub fn decoded_len(n: usize) -> Option<usize> {
    match n % 4 {
        1 => None,
        r => Some(n / 4 * 3 + r.saturating_sub(1)),
    }
}

/// Appends the decoding of `src` to `out` (without growing it). False, with
/// `out` restored, on a bad character, a bad length or lack of room.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> bool {
    let mark = out.len();
    let Some(src) = strip(src) else {
        return false;
    };
    let Some(n) = decoded_len(src.len()) else {
        return false;
    };
    if out.capacity() - mark < n {
        return false;
    }
    // Within capacity: no reallocation.
    out.resize(mark + n, 0);
    if decode_unpadded(src, &mut out[mark..]).is_none() {
        out.truncate(mark);
        return false;
    }
    true
}

/// Decodes `src` into the start of `out`; the decoded length, or `None` on a
/// bad character, a bad length or an `out` too short.
pub fn decode_to(src: &[u8], out: &mut [u8]) -> Option<usize> {
    decode_unpadded(strip(src)?, out)
}

fn decode_unpadded(src: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = decoded_len(src.len())?;
    let out = out.get_mut(..n)?;
    let mut chunks = src.chunks_exact(4);
    let (body, tail) = out.split_at_mut(n / 3 * 3);
    for (c, o) in (&mut chunks).zip(body.chunks_exact_mut(3)) {
        let q = [
            TABLE[c[0] as usize],
            TABLE[c[1] as usize],
            TABLE[c[2] as usize],
            TABLE[c[3] as usize],
        ];
        // INVALID is the only table value with the high bit set.
        if (q[0] | q[1] | q[2] | q[3]) & 0x80 != 0 {
            return None;
        }
        let v = (u32::from(q[0]) << 18)
            | (u32::from(q[1]) << 12)
            | (u32::from(q[2]) << 6)
            | u32::from(q[3]);
        o[0] = (v >> 16) as u8;
        o[1] = (v >> 8) as u8;
        o[2] = v as u8;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut v = 0u32;
        for (k, &c) in rest.iter().enumerate() {
            let x = TABLE[c as usize];
            if x == INVALID {
                return None;
            }
            v |= u32::from(x) << (18 - 6 * k);
        }
        let bytes = [(v >> 16) as u8, (v >> 8) as u8];
        tail.copy_from_slice(&bytes[..rest.len() - 1]);
    }
    Some(n)
}

/// `src` without its padding; `None` if '=' appears anywhere but at the end.
fn strip(src: &[u8]) -> Option<&[u8]> {
    match memchr::memchr(b'=', src) {
        Some(p) if src.len() - p <= 2 && src[p..].iter().all(|&c| c == b'=') => Some(&src[..p]),
        Some(_) => None,
        None => Some(src),
    }
}

/// base64url without padding (tests, benches and examples build tokens with it).
pub fn encode_url(src: &[u8]) -> String {
    const ALPHA: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(src.len().div_ceil(3) * 4);
    for c in src.chunks(3) {
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..=c.len() {
            s.push(ALPHA[(v >> (18 - 6 * k) & 63) as usize] as char);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_both_alphabets() {
        let mut out = Vec::with_capacity(64);
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\xff\xfe\xfd\x00"] {
            out.clear();
            assert!(decode(encode_url(data).as_bytes(), &mut out));
            assert_eq!(out, data);
        }
        out.clear();
        assert!(decode(b"dXNlcjpwYXNz", &mut out));
        assert_eq!(out, b"user:pass");
        out.clear();
        assert!(decode(b"Zm9vYg==", &mut out));
        assert_eq!(out, b"foob");
        out.clear();
        assert!(decode(b"-_-_", &mut out) && decode(b"+/+/", &mut Vec::with_capacity(3)));
    }

    #[test]
    fn rejects_bad_input_and_leaves_the_buffer() {
        let mut out = Vec::with_capacity(8);
        out.push(1);
        for bad in [&b"a"[..], b"ab$d", b"Zm9v=YQ", b"Zm9vYg===", b"abcde"] {
            assert!(!decode(bad, &mut out), "{bad:?}");
            assert_eq!(out, [1]);
        }
        // Too long for the room left.
        assert!(!decode(b"AAAAAAAAAAAA", &mut out));
        assert_eq!(out, [1]);
    }
}
