//! `NormalizePath`: separators unified and collapsed, dot segments resolved.

use memchr::memrchr;

use super::Anomalies;

/// `NormalizePath`, on already-decoded bytes (it decodes nothing). `\` is a
/// separator like `/`; empty and `.` segments are dropped; `..` removes the
/// segment before it and never climbs above the start (in a relative path a
/// leading `..` is dropped). The result keeps a leading `/` if the input had
/// one, and ends with `/` when the input ended with a separator or with a `.`
/// or `..` segment (as RFC 3986 does: `/a/b/..` → `/a/`, `/a/.` → `/a/`).
///
/// Never longer than the input: every `/` written stands for a distinct
/// separator of the input. Idempotent.
pub(super) fn normalize(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let is_separator = |b: &u8| *b == b'/' || *b == b'\\';
    let root = match input.first() {
        Some(b) if is_separator(b) => {
            out.push(b'/');
            1
        }
        _ => 0,
    };
    let mut trailing_slash = false;
    for segment in input.split(is_separator) {
        match segment {
            b"" | b"." => trailing_slash = true,
            b".." => {
                let cut = memrchr(b'/', &out[root..]).map_or(root, |at| root + at);
                out.truncate(cut);
                trailing_slash = true;
            }
            _ => {
                if out.len() > root {
                    out.push(b'/');
                }
                out.extend_from_slice(segment);
                trailing_slash = false;
            }
        }
    }
    if trailing_slash && out.len() > root {
        out.push(b'/');
    }
    Anomalies::NONE
}
