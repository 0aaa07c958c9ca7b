//! Unit tests: the worked examples of FoxIO's JA4 specification, the rules'
//! edge cases, every parse error, and a property test that no input makes
//! the parser or the fingerprints panic. Real captures with independently
//! computed fingerprints are in `tests/fingerprint_captures.rs`.

use proptest::prelude::*;

use super::client_hello::ext;
use super::ja4::alpn_code;
use super::*;

/// Builds ClientHello messages and records for tests.
#[derive(Clone)]
struct Hello {
    version: u16,
    session_id: Vec<u8>,
    ciphers: Vec<u16>,
    /// `None`: no extensions block at all (a pre-TLS-1.2 hello).
    exts: Option<Vec<(u16, Vec<u8>)>>,
}

impl Hello {
    fn new() -> Self {
        Hello {
            version: 0x0303,
            session_id: vec![0x55; 32],
            ciphers: vec![0x1301, 0x1302],
            exts: Some(Vec::new()),
        }
    }

    fn ext(mut self, kind: u16, data: Vec<u8>) -> Self {
        self.exts.get_or_insert_with(Vec::new).push((kind, data));
        self
    }

    fn body(&self) -> Vec<u8> {
        let mut b = self.version.to_be_bytes().to_vec();
        b.extend_from_slice(&[7u8; 32]);
        b.push(self.session_id.len() as u8);
        b.extend_from_slice(&self.session_id);
        b.extend_from_slice(&u16_list(&self.ciphers));
        b.extend_from_slice(&[1, 0]);
        if let Some(exts) = &self.exts {
            let mut block = Vec::new();
            for (kind, data) in exts {
                block.extend_from_slice(&kind.to_be_bytes());
                block.extend_from_slice(&(data.len() as u16).to_be_bytes());
                block.extend_from_slice(data);
            }
            b.extend_from_slice(&(block.len() as u16).to_be_bytes());
            b.extend_from_slice(&block);
        }
        b
    }

    fn message(&self) -> Vec<u8> {
        let body = self.body();
        let n = body.len();
        let mut m = vec![1, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        m.extend_from_slice(&body);
        m
    }

    fn record(&self) -> Vec<u8> {
        let m = self.message();
        let mut r = vec![22, 3, 1, (m.len() >> 8) as u8, m.len() as u8];
        r.extend_from_slice(&m);
        r
    }
}

fn u16_list(vals: &[u16]) -> Vec<u8> {
    let mut b = ((vals.len() * 2) as u16).to_be_bytes().to_vec();
    for v in vals {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b
}

fn sni(host: &[u8]) -> Vec<u8> {
    let mut entry = vec![0u8];
    entry.extend_from_slice(&(host.len() as u16).to_be_bytes());
    entry.extend_from_slice(host);
    let mut b = (entry.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(&entry);
    b
}

fn alpn(names: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for n in names {
        list.push(n.len() as u8);
        list.extend_from_slice(n);
    }
    let mut b = (list.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(&list);
    b
}

fn versions(vals: &[u16]) -> Vec<u8> {
    let mut b = vec![(vals.len() * 2) as u8];
    for v in vals {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b
}

/// The hello of the specification's worked example (JA4.md, "Cipher hash",
/// "Extension hash", "Raw Output"): its ciphers, its extensions in its wire
/// order, its signature algorithms.
fn spec_example() -> Hello {
    let mut h = Hello::new();
    h.ciphers = vec![
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let sigs = u16_list(&[
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ]);
    for kind in [
        0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
        0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
    ] {
        let data = match kind {
            ext::SERVER_NAME => sni(b"example.com"),
            ext::ALPN => alpn(&[b"h2", b"http/1.1"]),
            ext::SUPPORTED_VERSIONS => versions(&[0x0304, 0x0303]),
            ext::SIGNATURE_ALGORITHMS => sigs.clone(),
            ext::SUPPORTED_GROUPS => u16_list(&[0x001d, 0x0017]),
            ext::EC_POINT_FORMATS => vec![1, 0],
            _ => Vec::new(),
        };
        h = h.ext(kind, data);
    }
    h
}

fn ja4(h: &Hello) -> String {
    let m = h.message();
    Ja4::of(&ClientHello::parse(&m).unwrap()).to_string()
}

fn ja4_r(h: &Hello) -> String {
    let m = h.message();
    Ja4Raw::of(&ClientHello::parse(&m).unwrap()).to_string()
}

#[test]
fn grease_values_are_the_sixteen_of_rfc_8701() {
    let grease: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
    let expected: Vec<u16> = (0..16u16)
        .map(|i| i << 12 | 0x0a00 | i << 4 | 0x0a)
        .collect();
    assert_eq!(grease, expected);
    assert!(is_grease(0xfafa) && is_grease(0x0a0a));
    assert!(!is_grease(0xca34) && !is_grease(0x1a2a) && !is_grease(0x0a0b));
}

#[test]
fn fingerprint_of_the_ja4_specification_example() {
    let h = spec_example();
    assert_eq!(ja4(&h), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert_eq!(
        ja4_r(&h),
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_\
         0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_\
         0403,0804,0401,0503,0805,0501,0806,0601"
    );
    // The same record through the single-record entry point.
    let r = h.record();
    let hello = ClientHello::from_record(&r).unwrap();
    assert_eq!(
        Ja4::of(&hello).as_str(),
        "t13d1516h2_8daaf6152771_e5627efa2ab1"
    );
    assert_eq!(hello.server_name(), Some(&b"example.com"[..]));
    let protocols: Vec<&[u8]> = hello.alpn().unwrap().iter().collect();
    assert_eq!(protocols, [&b"h2"[..], &b"http/1.1"[..]]);
}

#[test]
fn fingerprint_without_signature_algorithms_has_no_underscore() {
    // JA4.md: with an empty signature algorithm list the extension string
    // ends without `_` and hashes to 6d807ffa2a79.
    let mut h = spec_example();
    for (kind, data) in h.exts.as_mut().unwrap() {
        if *kind == ext::SIGNATURE_ALGORITHMS {
            *data = u16_list(&[]);
        }
    }
    assert_eq!(ja4(&h), "t13d1516h2_8daaf6152771_6d807ffa2a79");
    assert!(ja4_r(&h).ends_with(",4469,ff01"));
}

#[test]
fn fingerprint_leaves_grease_out_everywhere() {
    let mut with = spec_example();
    with.ciphers.insert(0, 0x2a2a);
    with.ciphers.push(0xfafa);
    let exts = with.exts.as_mut().unwrap();
    exts.insert(0, (0x3a3a, Vec::new()));
    exts.push((0xcaca, vec![0]));
    for (kind, data) in exts.iter_mut() {
        match *kind {
            ext::SIGNATURE_ALGORITHMS => {
                *data = u16_list(&[
                    0x5a5a, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
                ]);
            }
            ext::SUPPORTED_VERSIONS => *data = versions(&[0x7a7a, 0x0304, 0x0303]),
            _ => {}
        }
    }
    assert_eq!(ja4(&with), ja4(&spec_example()));
    assert_eq!(ja4_r(&with), ja4_r(&spec_example()));
}

#[test]
fn fingerprint_alpn_characters_follow_the_specification() {
    // JA4.md, "ALPN Extension Value", including its hex examples.
    let cases: [(&[u8], &[u8; 2]); 10] = [
        (b"h2", b"h2"),
        (b"http/1.1", b"h1"),
        (b"h", b"hh"),
        (b"", b"00"),
        (&[0xab], b"ab"),
        (&[0xab, 0xcd], b"ad"),
        (&[0x30, 0xab], b"3b"),
        (&[0x30, 0x31, 0xab, 0xcd], b"3d"),
        (&[0x30, 0xab, 0xcd, 0x31], b"01"),
        (b"foo/", b"6f"),
    ];
    for (name, code) in cases {
        assert_eq!(&alpn_code(Some(name)), code, "{name:x?}");
        let h = Hello::new().ext(ext::ALPN, alpn(&[name, b"h2"]));
        assert_eq!(&ja4(&h)[8..10], std::str::from_utf8(code).unwrap());
    }
    assert_eq!(&alpn_code(None), b"00");
    // An ALPN extension with an empty list.
    assert_eq!(&ja4(&Hello::new().ext(ext::ALPN, alpn(&[])))[8..10], "00");
}

#[test]
fn fingerprint_of_empty_lists_is_zeros() {
    let mut h = Hello::new();
    h.ciphers.clear();
    h.exts = None;
    h.version = 0x0301;
    assert_eq!(ja4(&h), "t10i000000_000000000000_000000000000");
    assert_eq!(ja4_r(&h), "t10i000000__");
    let m = h.message();
    let hello = ClientHello::parse(&m).unwrap();
    assert_eq!(Ja3String::of(&hello).to_string(), "769,,,,");
    // Only SNI and ALPN: nothing left to sort for `c`.
    let h = Hello::new()
        .ext(ext::SERVER_NAME, sni(b"a.example"))
        .ext(ext::ALPN, alpn(&[b"h2"]));
    assert_eq!(&ja4(&h)[..10], "t12d0202h2");
    assert_eq!(&ja4(&h)[24..], "000000000000");
}

#[test]
fn fingerprint_version_rules() {
    let v = |h: Hello| ja4(&h)[1..3].to_string();
    let sv = |vals: &[u16]| Hello::new().ext(ext::SUPPORTED_VERSIONS, versions(vals));
    assert_eq!(v(sv(&[0x0303, 0x0304])), "13");
    assert_eq!(v(sv(&[0x0302, 0x0301])), "11");
    // Only GREASE: fall back to legacy_version.
    assert_eq!(v(sv(&[0x8a8a])), "12");
    assert_eq!(v(sv(&[])), "12");
    let legacy = |version| {
        let mut h = Hello::new();
        h.version = version;
        v(h)
    };
    assert_eq!(legacy(0x0300), "s3");
    assert_eq!(legacy(0x0002), "s2");
    assert_eq!(legacy(0xfefd), "d2");
    assert_eq!(legacy(0x0305), "00");
}

#[test]
fn fingerprint_counts_stop_at_99_and_long_lists_do_not_overflow() {
    let mut h = Hello::new();
    h.ciphers = (1..=1000).collect();
    let mut exts = Vec::new();
    for kind in 0x0100..0x0100 + 300u16 {
        exts.push((kind, Vec::new()));
    }
    h.exts = Some(exts);
    let fp = ja4(&h);
    assert_eq!(&fp[..10], "t12i999900");
    // The raw list holds the first MAX_CIPHERS values, sorted.
    let raw = ja4_r(&h);
    let ciphers = raw.split('_').nth(1).unwrap();
    assert_eq!(ciphers.split(',').count(), ja4::MAX_CIPHERS);
    assert!(ciphers.starts_with("0001,0002,"));
}

#[test]
fn fingerprint_sni_present_without_host_name_is_domain() {
    // A server_name list with only a non-host_name entry.
    let data = vec![0, 4, 1, 0, 1, b'x'];
    let h = Hello::new().ext(ext::SERVER_NAME, data);
    let m = h.message();
    let hello = ClientHello::parse(&m).unwrap();
    assert!(hello.has_server_name());
    assert_eq!(hello.server_name(), None);
    assert_eq!(&ja4(&h)[3..4], "d");
}

#[test]
fn duplicate_extensions_keep_the_first_and_count_each() {
    let h = Hello::new()
        .ext(ext::SERVER_NAME, sni(b"first.example"))
        .ext(ext::SERVER_NAME, sni(b"second.example"));
    let m = h.message();
    let hello = ClientHello::parse(&m).unwrap();
    assert_eq!(hello.server_name(), Some(&b"first.example"[..]));
    assert_eq!(hello.extensions().count(), 2);
    assert_eq!(&ja4(&h)[..8], "t12d0202");
}

#[test]
fn ja3_string_lists_in_wire_order_without_grease() {
    let mut h = Hello::new()
        .ext(0x0a0a, Vec::new())
        .ext(ext::SERVER_NAME, sni(b"example.com"))
        .ext(ext::SUPPORTED_GROUPS, u16_list(&[0x1a1a, 0x001d, 0x0017]))
        .ext(ext::EC_POINT_FORMATS, vec![2, 0, 1])
        .ext(0xff01, vec![0]);
    h.ciphers = vec![0x2a2a, 0xc02f, 0x1301];
    let m = h.message();
    let hello = ClientHello::parse(&m).unwrap();
    assert_eq!(
        Ja3String::of(&hello).to_string(),
        "771,49199-4865,0-10-11-65281,29-23,0-1"
    );
    // md5("771,49199-4865,0-10-11-65281,29-23,0-1"), by Python's hashlib.
    assert_eq!(Ja3::of(&hello).as_str(), "1f0fb4d32299c6d07f06124b02be3a2f");
}

/// Each malformed input and the error it must give.
#[test]
fn malformed_hellos_give_precise_errors() {
    use ClientHelloError as E;
    let good = spec_example();
    let m = good.message();

    assert_eq!(
        ClientHello::parse(&[]),
        Err(trunc("handshake header", 1, 0))
    );
    assert_eq!(ClientHello::parse(&[2, 0, 0, 0]), Err(E::NotClientHello(2)));
    assert_eq!(
        ClientHello::parse(&m[..m.len() - 1]),
        Err(trunc("ClientHello", m.len() - 4, m.len() - 5))
    );
    let mut long = m.clone();
    long.push(0);
    assert_eq!(
        ClientHello::parse(&long),
        Err(E::TrailingBytes {
            field: "ClientHello",
            extra: 1
        })
    );
    // A body too short for the random.
    assert_eq!(
        ClientHello::parse(&[1, 0, 0, 4, 3, 3, 0, 0]),
        Err(trunc("random", 32, 2))
    );

    let with = |f: &dyn Fn(&mut Hello)| {
        let mut h = Hello::new();
        f(&mut h);
        ClientHello::parse(&h.message()).map(|_| ())
    };
    // Odd-length cipher list: one stray byte, declared.
    let mut odd = Hello::new().body();
    odd[2 + 32 + 1 + 32 + 1] = 5; // cipher_suites length 4 -> 5
    let n = odd.len();
    let mut msg = vec![1, 0, (n >> 8) as u8, n as u8];
    msg.extend_from_slice(&odd);
    assert_eq!(
        ClientHello::parse(&msg).map(|_| ()),
        Err(E::OddLength {
            field: "cipher_suites",
            len: 5
        })
    );
    assert_eq!(
        with(&|h| {
            h.exts = Some(vec![(ext::SUPPORTED_VERSIONS, vec![3, 3, 4, 3])]);
        }),
        Err(E::OddLength {
            field: "supported_versions",
            len: 3
        })
    );
    assert_eq!(
        with(&|h| {
            h.exts = Some(vec![(ext::SUPPORTED_GROUPS, vec![0, 2, 0, 29, 0])]);
        }),
        Err(E::TrailingBytes {
            field: "supported_groups",
            extra: 1
        })
    );
    assert_eq!(
        with(&|h| {
            h.exts = Some(vec![(ext::SERVER_NAME, vec![0, 5, 0, 0, 9, b'a', b'b'])]);
        }),
        Err(trunc("server_name entry", 9, 2))
    );
    assert_eq!(
        with(&|h| {
            h.exts = Some(vec![(ext::ALPN, vec![0, 3, 2, b'h', b'2', 0])]);
        }),
        Err(E::TrailingBytes {
            field: "ALPN",
            extra: 1
        })
    );
    assert_eq!(
        with(&|h| {
            h.exts = Some(vec![(ext::ALPN, vec![0, 3, 5, b'h', b'2'])]);
        }),
        Err(trunc("ALPN protocol name", 5, 2))
    );
    assert_eq!(
        with(&|h| {
            h.exts = Some(vec![(ext::EC_POINT_FORMATS, vec![])]);
        }),
        Err(trunc("ec_point_formats", 1, 0))
    );
    // An extension whose length runs past the block.
    let mut body = Hello::new().ext(0x0017, vec![]).body();
    let n = body.len();
    body[n - 1] = 1; // extension 0x0017 claims one byte of data
    let mut msg = vec![1, 0, (n >> 8) as u8, n as u8];
    msg.extend_from_slice(&body);
    assert_eq!(ClientHello::parse(&msg), Err(trunc("extension data", 1, 0)));
}

#[test]
fn malformed_records_give_precise_errors() {
    use ClientHelloError as E;
    let r = spec_example().record();
    let with = |i: usize, b: u8| {
        let mut r = r.clone();
        r[i] = b;
        ClientHello::from_record(&r).map(|_| ())
    };
    assert_eq!(with(0, 23), Err(E::NotHandshakeRecord(23)));
    assert_eq!(with(1, 2), Err(E::BadRecordVersion(0x0201)));
    assert_eq!(with(5, 2), Err(E::NotClientHello(2)));
    let mut big = r.clone();
    big[3] = 0x40;
    big[4] = 1;
    assert_eq!(
        ClientHello::from_record(&big).map(|_| ()),
        Err(E::RecordTooLong(16385))
    );
    assert_eq!(
        ClientHello::from_record(&r[..r.len() - 1]).map(|_| ()),
        Err(trunc("record body", r.len() - 5, r.len() - 6))
    );
    // Bytes after the record (early data, say) are not the record's.
    let mut more = r.clone();
    more.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
    assert!(ClientHello::from_record(&more).is_ok());
}

#[test]
fn error_messages_name_the_field() {
    assert_eq!(
        trunc("random", 32, 2).to_string(),
        "random: needs 32 bytes, 2 left"
    );
    assert_eq!(
        ClientHelloError::SpansRecords {
            message: 2000,
            record: 100
        }
        .to_string(),
        "ClientHello of 2000 bytes spans records (the first holds 100): \
         parse the reassembled handshake message"
    );
    assert_eq!(
        ClientHelloError::NotHandshakeRecord(23).to_string(),
        "TLS record: content type 23 is not handshake (22)"
    );
}

fn trunc(field: &'static str, needed: usize, available: usize) -> ClientHelloError {
    ClientHelloError::Truncated {
        field,
        needed,
        available,
    }
}

const CHROMIUM: &[u8] = include_bytes!("../../tests/fixtures/tls/chromium_156.bin");
const CURL: &[u8] = include_bytes!("../../tests/fixtures/tls/curl_localhost.bin");
const S_CLIENT_TLS12: &[u8] = include_bytes!("../../tests/fixtures/tls/s_client_tls12.bin");

#[test]
fn fingerprint_of_a_hello_split_across_records_is_the_same() {
    let whole = ClientHello::from_record(CHROMIUM).unwrap();
    let message = &CHROMIUM[5..];
    // Split the handshake message into two records, as a client may.
    let (a, b) = message.split_at(700);
    let mut records = Vec::new();
    for part in [a, b] {
        records.extend_from_slice(&[22, 3, 1, (part.len() >> 8) as u8, part.len() as u8]);
        records.extend_from_slice(part);
    }
    assert_eq!(
        ClientHello::from_record(&records).map(|_| ()),
        Err(ClientHelloError::SpansRecords {
            message: message.len(),
            record: 700
        })
    );
    assert_eq!(client_hello_len(a), Ok(message.len()));
    // The reader strips the record headers and parses the concatenation.
    let mut joined = a.to_vec();
    joined.extend_from_slice(b);
    let split = ClientHello::parse(&joined).unwrap();
    assert_eq!(Ja4::of(&split), Ja4::of(&whole));
    assert_eq!(Ja3::of(&split), Ja3::of(&whole));
    assert_eq!(
        Ja4Raw::of(&split).to_string(),
        Ja4Raw::of(&whole).to_string()
    );
}

#[test]
fn every_truncation_of_a_real_hello_is_an_error() {
    for fixture in [CHROMIUM, CURL, S_CLIENT_TLS12] {
        for n in 0..fixture.len() {
            assert!(ClientHello::from_record(&fixture[..n]).is_err(), "{n}");
            if n >= 5 {
                assert!(ClientHello::parse(&fixture[5..n]).is_err(), "{n}");
            }
        }
    }
}

/// Parses and, when that succeeds, computes every fingerprint, checking
/// their shape.
fn exercise(bytes: &[u8]) {
    for hello in [ClientHello::parse(bytes), ClientHello::from_record(bytes)]
        .into_iter()
        .flatten()
    {
        let ja4 = Ja4::of(&hello);
        assert_eq!(ja4.as_str().len(), 36);
        assert!(ja4.as_str().is_ascii());
        let raw = Ja4Raw::of(&hello).to_string();
        assert_eq!(raw[..10], ja4.as_str()[..10]);
        assert_eq!(Ja3::of(&hello).as_str().len(), 32);
        let _ = Ja3String::of(&hello).to_string();
        let _ = hello.extensions().count();
        let _ = hello.alpn().map(|l| l.iter().count());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fingerprint_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&bytes);
        // The same bytes behind a plausible header, to get past the first checks.
        let mut m = vec![1, 0, (bytes.len() >> 8) as u8, bytes.len() as u8];
        m.extend_from_slice(&bytes);
        exercise(&m);
    }

    #[test]
    fn fingerprint_mutated_real_hellos_never_panic(
        which in 0..3usize,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
        cut in any::<u16>(),
    ) {
        let mut bytes = [CHROMIUM, CURL, S_CLIENT_TLS12][which].to_vec();
        for (at, b) in edits {
            let i = at as usize % bytes.len();
            bytes[i] = b;
        }
        let keep = bytes.len() - cut as usize % 64;
        bytes.truncate(keep);
        exercise(&bytes);
        exercise(&bytes[5.min(bytes.len())..]);
    }
}
