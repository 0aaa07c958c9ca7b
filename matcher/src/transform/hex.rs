//! Hex digit parsing shared by the escape decoders.

/// The value of one ASCII hex digit (either case).
pub(super) fn digit(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'a'..=b'f' => Some(u32::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u32::from(b - b'A' + 10)),
        _ => None,
    }
}

/// The value of exactly `N` hex digits at the start of `bytes`, if they are there.
pub(super) fn fixed<const N: usize>(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.get(..N)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &b| Some((acc << 4) | digit(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_fixed_runs() {
        assert_eq!(digit(b'0'), Some(0));
        assert_eq!(digit(b'f'), Some(15));
        assert_eq!(digit(b'F'), Some(15));
        assert_eq!(digit(b'g'), None);
        assert_eq!(fixed::<2>(b"3c"), Some(0x3c));
        assert_eq!(fixed::<2>(b"3"), None);
        assert_eq!(fixed::<4>(b"FFFFx"), Some(0xFFFF));
        assert_eq!(fixed::<4>(b"FFxF"), None);
    }
}
