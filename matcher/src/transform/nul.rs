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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::transform::testing::{check, run, NONE, NUL};
    use crate::transform::Transform;

    #[test]
    fn remove_nulls_table() {
        check(
            Transform::RemoveNulls,
            &[
                (b"", b"", NONE),
                (b"abc", b"abc", NONE),
                (b"a\0b", b"ab", NUL),
                (b"\0\0a\0\0b\0", b"ab", NUL),
                (b"\0", b"", NUL),
            ],
        );
    }

    proptest! {
        #[test]
        fn drops_exactly_the_nuls(input in prop::collection::vec(any::<u8>(), 0..64)) {
            let (out, anomalies) = run(Transform::RemoveNulls, &input);
            let want: Vec<u8> = input.iter().copied().filter(|&b| b != 0).collect();
            prop_assert_eq!(&out, &want);
            prop_assert_eq!(anomalies.contains(NUL), want.len() < input.len());
        }
    }
}
