//! Fingerprinting must not allocate: a counting global allocator watches
//! 10,000 rounds of parsing the real ClientHello captures (single record and
//! reassembled message) and computing JA4, JA4_r, JA3 and the JA3 string
//! into stack buffers, plus malformed inputs that end in errors.

use std::fmt::{self, Write as _};

use rampart_dataplane::fingerprint::{ClientHello, Ja3, Ja3String, Ja4, Ja4Raw};

mod common;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

const CAPTURES: [&[u8]; 5] = [
    include_bytes!("fixtures/tls/chromium_156.bin"),
    include_bytes!("fixtures/tls/curl_localhost.bin"),
    include_bytes!("fixtures/tls/curl_ip_http11.bin"),
    include_bytes!("fixtures/tls/s_client_tls12.bin"),
    include_bytes!("fixtures/tls/s_client_noservername.bin"),
];

/// A fixed stack buffer to print the variable-length forms into.
struct StackBuf {
    bytes: [u8; 4096],
    len: usize,
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[test]
fn fingerprinting_does_not_allocate() {
    let mut buf = StackBuf {
        bytes: [0; 4096],
        len: 0,
    };
    let mut checksum = 0usize;
    let before = common::allocs();
    for round in 0..10_000 {
        let capture = CAPTURES[round % CAPTURES.len()];
        for hello in [
            ClientHello::from_record(capture),
            ClientHello::parse(&capture[5..]),
        ] {
            let hello = hello.expect("a real capture parses");
            checksum += Ja4::of(&hello).as_bytes()[5] as usize;
            checksum += Ja3::of(&hello).as_bytes()[0] as usize;
            buf.len = 0;
            write!(buf, "{}", Ja4Raw::of(&hello)).expect("fits the buffer");
            write!(buf, "{}", Ja3String::of(&hello)).expect("fits the buffer");
            checksum += buf.len;
        }
        // Malformed: truncated and not a hello.
        checksum += ClientHello::from_record(&capture[..capture.len() / 2]).is_err() as usize;
        checksum += ClientHello::parse(&capture[..40]).is_err() as usize;
    }
    let allocs = common::allocs() - before;
    assert!(checksum > 0);
    assert_eq!(allocs, 0, "fingerprinting allocated {allocs} times");
}
