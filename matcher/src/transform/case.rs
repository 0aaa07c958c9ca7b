//! `Lowercase`: ASCII letters lowercased.

use super::Anomalies;

/// `Lowercase`: `A`–`Z` become `a`–`z`; every other byte (UTF-8 included) is
/// copied as it is. Idempotent.
pub(super) fn lowercase(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    out.extend_from_slice(input);
    out.make_ascii_lowercase();
    Anomalies::NONE
}
