//! `Lowercase`: ASCII letters lowercased.

use super::Anomalies;

/// `Lowercase`: `A`–`Z` become `a`–`z`; every other byte (UTF-8 included) is
/// copied as it is. Idempotent.
pub(super) fn lowercase(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    out.extend_from_slice(input);
    out.make_ascii_lowercase();
    Anomalies::NONE
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::transform::testing::{check, run, NONE};
    use crate::transform::Transform;

    #[test]
    fn lowercase_table() {
        check(
            Transform::Lowercase,
            &[
                (b"", b"", NONE),
                (b"SeLeCt * FROM", b"select * from", NONE),
                ("ÉCOLE".as_bytes(), "École".as_bytes(), NONE),
                (b"\xC0\xAF\xFF", b"\xC0\xAF\xFF", NONE),
            ],
        );
    }

    proptest! {
        #[test]
        fn matches_ascii_lowercase(input in prop::collection::vec(any::<u8>(), 0..64)) {
            let (out, _) = run(Transform::Lowercase, &input);
            prop_assert_eq!(out, input.to_ascii_lowercase());
        }
    }
}
