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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::transform::testing::{check, hostile, run, NONE};
    use crate::transform::Transform;

    #[test]
    fn normalize_path_table() {
        check(
            Transform::NormalizePath,
            &[
                (b"/a/b/../c/./d//e\\f/..", b"/a/c/d/e/", NONE),
                (b"..\\..\\windows", b"windows", NONE),
                (b"../../etc/passwd", b"etc/passwd", NONE),
                (b"/../../etc/passwd", b"/etc/passwd", NONE),
                (b"/a/./b", b"/a/b", NONE),
                (b"/a/b/.", b"/a/b/", NONE),
                (b"/a/b/..", b"/a/", NONE),
                (b"/a/b/", b"/a/b/", NONE),
                (b"/a/b", b"/a/b", NONE),
                (b"a//b", b"a/b", NONE),
                (b"//", b"/", NONE),
                (b"/", b"/", NONE),
                (b"\\", b"/", NONE),
                (b"", b"", NONE),
                (b".", b"", NONE),
                (b"..", b"", NONE),
                (b"./a", b"a", NONE),
                (b"a/..", b"", NONE),
                (b"a/../", b"", NONE),
                (b"/a/..", b"/", NONE),
                (b"a/b/../../../c", b"c", NONE),
                (b"\\\\server\\share\\x", b"/server/share/x", NONE),
                (b"/.../", b"/.../", NONE),
                (b"/a/..x/.x", b"/a/..x/.x", NONE),
                (b"/%2e%2e/", b"/%2e%2e/", NONE),
            ],
        );
    }

    proptest! {
        #[test]
        fn result_is_normal(input in hostile()) {
            let (out, _) = run(Transform::NormalizePath, &input);
            prop_assert!(!out.contains(&b'\\'));
            prop_assert_eq!(out.first() == Some(&b'/'), matches!(input.first(), Some(b'/' | b'\\')));
            let inner = out.strip_prefix(b"/").unwrap_or(&out);
            let inner = inner.strip_suffix(b"/").unwrap_or(inner);
            if !inner.is_empty() {
                for segment in inner.split(|&b| b == b'/') {
                    prop_assert!(!matches!(segment, b"" | b"." | b".."), "`{}`", out.escape_ascii());
                }
            }
        }

        #[test]
        fn dot_segments_resolve(segments in prop::collection::vec("[a-c]{1,2}|\\.|\\.\\.|", 0..12)) {
            let path = format!("/{}", segments.join("/"));
            let mut stack: Vec<&str> = Vec::new();
            for segment in &segments {
                match segment.as_str() {
                    "" | "." => {}
                    ".." => { stack.pop(); }
                    name => stack.push(name),
                }
            }
            let mut want = format!("/{}", stack.join("/"));
            let trailing = matches!(segments.last().map(String::as_str), Some("" | "." | ".."));
            if trailing && !stack.is_empty() {
                want.push('/');
            }
            let (out, _) = run(Transform::NormalizePath, path.as_bytes());
            prop_assert_eq!(out, want.as_bytes());
        }
    }
}
