//! JA4, JA4_r, JA3 and the JA3 string of real ClientHello captures must
//! equal the values independent tools computed from the same bytes: tshark
//! 4.0.17 (`tls.handshake.ja3`, `tls.handshake.ja3_full`) for JA3, and
//! `ja4plus` 1.4.0 (PyPI, an independent implementation of FoxIO's JA4
//! specification) for JA4 and JA4_r. Where each capture came from and the
//! exact commands: `tests/fixtures/tls/README.md` (the pcaps are there too,
//! to recompute every value).

use rampart_dataplane::fingerprint::{ClientHello, Ja3, Ja3String, Ja4, Ja4Raw};

/// One capture and what the reference tools say about it.
struct Capture {
    /// The first TLS record, as the client sent it.
    record: &'static [u8],
    /// tshark `tls.handshake.ja3`.
    ja3: &'static str,
    /// tshark `tls.handshake.ja3_full`.
    ja3_string: &'static str,
    /// ja4plus `fingerprint`.
    ja4: &'static str,
    /// ja4plus `raw`.
    ja4_r: &'static str,
    /// The SNI host name the client was given.
    server_name: Option<&'static [u8]>,
    /// The ALPN protocols the client was configured to offer.
    alpn: Option<&'static [&'static [u8]]>,
}

fn check(c: &Capture) {
    let hello = ClientHello::from_record(c.record).unwrap();
    assert_eq!(Ja4::of(&hello).as_str(), c.ja4);
    assert_eq!(Ja4Raw::of(&hello).to_string(), c.ja4_r);
    assert_eq!(Ja3::of(&hello).as_str(), c.ja3);
    assert_eq!(Ja3String::of(&hello).to_string(), c.ja3_string);
    assert_eq!(hello.server_name(), c.server_name);
    assert_eq!(hello.has_server_name(), c.server_name.is_some());
    let alpn: Option<Vec<&[u8]>> = hello.alpn().map(|l| l.iter().collect());
    assert_eq!(alpn.as_deref(), c.alpn);
    // The same message through the reassembled-message entry point.
    let again = ClientHello::parse(&c.record[5..]).unwrap();
    assert_eq!(Ja4::of(&again).as_str(), c.ja4);
    assert_eq!(Ja3::of(&again).as_str(), c.ja3);
}

/// curl 7.88.1 / OpenSSL 3.0.19: `curl -sk https://localhost:44301/`.
#[test]
fn fingerprint_of_curl_localhost() {
    check(&Capture {
        record: include_bytes!("fixtures/tls/curl_localhost.bin"),
        ja3: "0149f47eabf9a20d0893e2a44e5a6323",
        ja3_string: "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-16-22-23-49-13-43-45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2",
        ja4: "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
        ja4_r: "t13d3112h2_002f,0033,0035,0039,003c,003d,0067,006b,009c,009d,009e,009f,00ff,1301,1302,1303,c009,c00a,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9,ccaa_000a,000b,000d,0015,0016,0017,002b,002d,0031,0033_0403,0503,0603,0807,0808,0809,080a,080b,0804,0805,0806,0401,0501,0601,0303,0301,0302,0402,0502,0602",
        server_name: Some(b"localhost".as_slice()),
        alpn: Some(&[b"h2", b"http/1.1"]),
    });
}

/// curl 7.88.1 / OpenSSL 3.0.19: `curl -sk --http1.1 https://127.0.0.1:44302/` (no SNI for an IP).
#[test]
fn fingerprint_of_curl_ip_http11() {
    check(&Capture {
        record: include_bytes!("fixtures/tls/curl_ip_http11.bin"),
        ja3: "78f0dc5ac5b19daf131a133cfdee9691",
        ja3_string: "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,11-10-16-22-23-49-13-43-45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2",
        ja4: "t13i3111h1_e8f1e7e78f70_b26ce05bbdd6",
        ja4_r: "t13i3111h1_002f,0033,0035,0039,003c,003d,0067,006b,009c,009d,009e,009f,00ff,1301,1302,1303,c009,c00a,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9,ccaa_000a,000b,000d,0015,0016,0017,002b,002d,0031,0033_0403,0503,0603,0807,0808,0809,080a,080b,0804,0805,0806,0401,0501,0601,0303,0301,0302,0402,0502,0602",
        server_name: None,
        alpn: Some(&[b"http/1.1"]),
    });
}

/// OpenSSL 3.0.19: `openssl s_client -tls1_2 -servername localhost` (no supported_versions, no ALPN).
#[test]
fn fingerprint_of_s_client_tls12() {
    check(&Capture {
        record: include_bytes!("fixtures/tls/s_client_tls12.bin"),
        ja3: "871a754af286dfb70c1b53c6887c62e0",
        ja3_string: "771,49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-35-22-23-13,29-23-30-25-24,0-1-2",
        ja4: "t12d280700_d943125447b4_e7e480e5a997",
        ja4_r: "t12d280700_002f,0033,0035,0039,003c,003d,0067,006b,009c,009d,009e,009f,00ff,c009,c00a,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9,ccaa_000a,000b,000d,0016,0017,0023_0403,0503,0603,0807,0808,0809,080a,080b,0804,0805,0806,0401,0501,0601,0303,0301,0302,0402,0502,0602",
        server_name: Some(b"localhost".as_slice()),
        alpn: None,
    });
}

/// OpenSSL 3.0.19: `openssl s_client -noservername` (TLS 1.3, no SNI, no ALPN).
#[test]
fn fingerprint_of_s_client_noservername() {
    check(&Capture {
        record: include_bytes!("fixtures/tls/s_client_noservername.bin"),
        ja3: "c216e752cae6f8755fd27f561d031636",
        ja3_string: "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,11-10-35-22-23-13-43-45-51,29-23-30-25-24-256-257-258-259-260,0-1-2",
        ja4: "t13i310900_e8f1e7e78f70_1f22a2ca17c4",
        ja4_r: "t13i310900_002f,0033,0035,0039,003c,003d,0067,006b,009c,009d,009e,009f,00ff,1301,1302,1303,c009,c00a,c013,c014,c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9,ccaa_000a,000b,000d,0016,0017,0023,002b,002d,0033_0403,0503,0603,0807,0808,0809,080a,080b,0804,0805,0806,0401,0501,0601,0303,0301,0302,0402,0502,0602",
        server_name: None,
        alpn: None,
    });
}

/// Chromium 156.0.8078.79 headless: `https://localhost:44304/` (GREASE, ECH GREASE, ML-KEM).
#[test]
fn fingerprint_of_chromium_156() {
    check(&Capture {
        record: include_bytes!("fixtures/tls/chromium_156.bin"),
        ja3: "41982abc14eaf31d0376da06d0009260",
        ja3_string: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,51-23-13-5-43-0-45-17613-11-18-35-27-10-65281-51764-16-65037,4588-29-23-24,0",
        ja4: "t13d1517h2_8daaf6152771_cb7bf5808d99",
        ja4_r: "t13d1517h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,ca34,fe0d,ff01_0904,0905,0906,0403,0804,0401,0503,0805,0501,0806,0601",
        server_name: Some(b"localhost".as_slice()),
        alpn: Some(&[b"h2", b"http/1.1"]),
    });
}
