//! Request header fingerprints (JA4H-like): what an HTTP client library or
//! attack tool reveals by the headers it sends, their order and their case,
//! whatever it claims in `User-Agent`. Computed into a stack buffer.
//!
//! Format (21 bytes, lowercase): `{mm}{vv}{c}{r}{nn}_{hash}`
//! - `mm`: the method's first two letters, lowercased (`ge`, `po`, `he`, …;
//!   a byte that is not a letter or digit becomes `x`, a missing one `0`);
//! - `vv`: the HTTP version, `10`, `11` or `20`;
//! - `c`: `c` if the request has a `Cookie` header, else `n`;
//! - `r`: `r` if it has a `Referer` header, else `n`;
//! - `nn`: how many header fields other than `Cookie` and `Referer`, two
//!   digits, at most `99`;
//! - `hash`: the first 12 hex digits of the SHA-1 of those header names in
//!   the order they were sent, with their case as sent, joined with `,`
//!   (`000000000000` when there are none).
//!
//! It differs from JA4H (SHA-1 instead of SHA-256, no Accept-Language part,
//! no cookie hashes), so JA4H values from other tools do not apply.

use sha1::{Digest, Sha1};

/// Length of a fingerprint.
pub const HFP_LEN: usize = 21;

/// Computes the fingerprint of a request's head. `version` is 10, 11 or 20
/// (anything else is written as `11`).
pub fn header_fingerprint<'b>(
    method: &[u8],
    version: u8,
    headers: &[(&[u8], &[u8])],
    out: &'b mut [u8; HFP_LEN],
) -> &'b [u8] {
    for (i, o) in out[..2].iter_mut().enumerate() {
        *o = match method.get(i) {
            Some(b) if b.is_ascii_alphanumeric() => b.to_ascii_lowercase(),
            Some(_) => b'x',
            None => b'0',
        };
    }
    let v: &[u8; 2] = match version {
        10 => b"10",
        20 => b"20",
        _ => b"11",
    };
    out[2..4].copy_from_slice(v);
    let (mut cookie, mut referer, mut count) = (false, false, 0usize);
    let mut sha = Sha1::new();
    for (name, _) in headers {
        if name.eq_ignore_ascii_case(b"cookie") {
            cookie = true;
        } else if name.eq_ignore_ascii_case(b"referer") {
            referer = true;
        } else {
            if count > 0 {
                sha.update(b",");
            }
            sha.update(name);
            count += 1;
        }
    }
    out[4] = if cookie { b'c' } else { b'n' };
    out[5] = if referer { b'r' } else { b'n' };
    let n = count.min(99) as u8;
    out[6] = b'0' + n / 10;
    out[7] = b'0' + n % 10;
    out[8] = b'_';
    if count == 0 {
        out[9..].fill(b'0');
    } else {
        let d: [u8; 20] = sha.finalize().into();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in d[..6].iter().enumerate() {
            out[9 + 2 * i] = HEX[usize::from(b >> 4)];
            out[10 + 2 * i] = HEX[usize::from(b & 15)];
        }
    }
    &out[..]
}

/// Whether `s` is written like a fingerprint (either case).
pub(crate) fn is_fingerprint(s: &[u8]) -> bool {
    s.len() == HFP_LEN
        && s[..2].iter().all(u8::is_ascii_alphanumeric)
        && matches!(&s[2..4], b"10" | b"11" | b"20")
        && matches!(s[4], b'c' | b'n' | b'C' | b'N')
        && matches!(s[5], b'r' | b'n' | b'R' | b'N')
        && s[6..8].iter().all(u8::is_ascii_digit)
        && s[8] == b'_'
        && s[9..].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(method: &str, version: u8, names: &[&str]) -> String {
        let headers: Vec<(&[u8], &[u8])> =
            names.iter().map(|n| (n.as_bytes(), &b"x"[..])).collect();
        let mut out = [0u8; HFP_LEN];
        let s = header_fingerprint(method.as_bytes(), version, &headers, &mut out);
        assert!(is_fingerprint(s));
        String::from_utf8(s.to_vec()).expect("ascii")
    }

    #[test]
    fn known_values() {
        // printf '%s' 'Host,User-Agent,Accept' | sha1sum -> e89050d54621…
        assert_eq!(
            fp("GET", 11, &["Host", "User-Agent", "Accept"]),
            "ge11nn03_e89050d54621"
        );
        assert_eq!(fp("GET", 11, &[]), "ge11nn00_000000000000");
        assert_eq!(
            fp("POST", 10, &["Host", "Cookie", "Referer", "Content-Length"]),
            "po10cr02_0cf8906d0e0e"
        );
        assert!(fp("M-SEARCH", 20, &["a"]).starts_with("mx20nn01_"));
        assert!(fp("X", 11, &["a"]).starts_with("x011"));
    }

    #[test]
    fn order_and_case_change_it() {
        let a = fp("GET", 11, &["Host", "User-Agent", "Accept"]);
        assert_ne!(a, fp("GET", 11, &["User-Agent", "Host", "Accept"]));
        assert_ne!(a, fp("GET", 11, &["host", "user-agent", "accept"]));
        assert_ne!(a, fp("GET", 10, &["Host", "User-Agent", "Accept"]));
    }

    #[test]
    fn count_is_capped() {
        let names: Vec<String> = (0..150).map(|i| format!("X-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert!(fp("GET", 11, &names).starts_with("ge11nn99_"));
    }

    #[test]
    fn format_check() {
        assert!(is_fingerprint(b"GE11NN03_ABCDEF012345"));
        assert!(!is_fingerprint(b"ge12nn03_abcdef012345"));
        assert!(!is_fingerprint(b"ge11nn03_abcdef01234"));
        assert!(!is_fingerprint(b"ge11xn03_abcdef012345"));
        assert!(!is_fingerprint(b"ge11nn03-abcdef012345"));
    }
}
