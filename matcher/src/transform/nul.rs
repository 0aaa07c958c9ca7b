//! `RemoveNulls`: NUL bytes dropped.

use memchr::memchr;

use super::Anomalies;

/// `RemoveNulls`: copies the runs between NUL bytes; flags `NUL_BYTE` if it
/// dropped any. Idempotent.
pub(super) fn remove(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let mut rest = input;
    let mut removed = false;
    while let Some(at) = memchr(0, rest) {
        out.extend_from_slice(&rest[..at]);
        rest = &rest[at + 1..];
        removed = true;
    }
    out.extend_from_slice(rest);
    if removed {
        Anomalies::NUL_BYTE
    } else {
        Anomalies::NONE
    }
}
