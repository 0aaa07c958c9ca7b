//! The default pack's tool fingerprints
//! (`packs/default/lists/intel-tool-fingerprints.ja4`) are real: every entry
//! is the JA4 of a ClientHello that an attack tool or a scripting HTTP stack
//! actually sent, captured in `fixtures/tls/tools/` (the README there says
//! how, with versions). For each capture, Rampart's JA4 and JA3 must equal
//! what independent tools computed from its pcap (`ja4plus` 1.4.0 for JA4,
//! tshark 4.0.17 `tls.handshake.ja3` for JA3); each capture's JA4 must be in
//! the list as the policy loader parses it; every entry of the list must come
//! from a capture; and no browser capture may be in it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rampart_dataplane::fingerprint::{ClientHello, Ja3, Ja4};
use rampart_policy_loader::{List, ListKind};

/// One capture and what the reference tools computed from its pcap.
struct Tool {
    /// File stem under `fixtures/tls/tools/`.
    name: &'static str,
    /// The first TLS record the tool sent.
    record: &'static [u8],
    /// ja4plus `fingerprint`.
    ja4: &'static str,
    /// tshark `tls.handshake.ja3`.
    ja3: &'static str,
}

const TOOLS: &[Tool] = &[
    // sqlmap 1.7.2 (Python 3.11.2, OpenSSL 3.0.19): `sqlmap -u 'https://localhost:PORT/?id=1' --batch`
    Tool {
        name: "sqlmap",
        record: include_bytes!("fixtures/tls/tools/sqlmap.bin"),
        ja4: "t12d280700_d943125447b4_e7e480e5a997",
        ja3: "871a754af286dfb70c1b53c6887c62e0",
    },
    // sqlmap 1.7.2 (Python 3.11.2, OpenSSL 3.0.19): `sqlmap -u 'https://127.0.0.1:PORT/?id=1' --batch`
    Tool {
        name: "sqlmap_ip",
        record: include_bytes!("fixtures/tls/tools/sqlmap_ip.bin"),
        ja4: "t12i280600_d943125447b4_e7e480e5a997",
        ja3: "fbe7e189e37a07ee33706f86bc746344",
    },
    // Nmap 7.93 NSE (tls.lua): `nmap -Pn -p PORT --script ssl-cert localhost`
    Tool {
        name: "nmap_ssl_cert",
        record: include_bytes!("fixtures/tls/tools/nmap_ssl_cert.bin"),
        ja4: "t12i060100_eca7c5d91837_338aad02a631",
        ja3: "16ee84a07b55074cb2751329bf1c8811",
    },
    // gobuster 3.5.0 (Go 1.19.8): `gobuster dir -u https://localhost:PORT/ -w words.txt`
    Tool {
        name: "gobuster",
        record: include_bytes!("fixtures/tls/tools/gobuster.bin"),
        ja4: "t13d190900_9dc949149365_97f8aa674fd9",
        ja3: "473cd7cb9faa642487833865d516e578",
    },
    // gobuster 3.5.0 (Go 1.19.8): `gobuster dir -u https://127.0.0.1:PORT/ -w words.txt`
    Tool {
        name: "gobuster_ip",
        record: include_bytes!("fixtures/tls/tools/gobuster_ip.bin"),
        ja4: "t13i190800_9dc949149365_97f8aa674fd9",
        ja3: "19e29534fd49dd27d09234e639c4057e",
    },
    // ffuf 1.1.0 (Go 1.19.8): `ffuf -u https://localhost:PORT/FUZZ -w words.txt`
    Tool {
        name: "ffuf",
        record: include_bytes!("fixtures/tls/tools/ffuf.bin"),
        ja4: "t13d190900_9dc949149365_97f8aa674fd9",
        ja3: "473cd7cb9faa642487833865d516e578",
    },
    // ffuf 1.1.0 (Go 1.19.8): `ffuf -u https://127.0.0.1:PORT/FUZZ -w words.txt`
    Tool {
        name: "ffuf_ip",
        record: include_bytes!("fixtures/tls/tools/ffuf_ip.bin"),
        ja4: "t13i190800_9dc949149365_97f8aa674fd9",
        ja3: "19e29534fd49dd27d09234e639c4057e",
    },
    // wfuzz 3.1.0 (pycurl 7.45.2, libcurl-gnutls 7.88.1, GnuTLS 3.7.9): `wfuzz -w words.txt https://localhost:PORT/FUZZ`
    Tool {
        name: "wfuzz",
        record: include_bytes!("fixtures/tls/tools/wfuzz.bin"),
        ja4: "t13d2912h2_723694b0fccc_288f874c93d6",
        ja3: "8662467bc96db2d387755570446a7946",
    },
    // wfuzz 3.1.0 (pycurl 7.45.2, libcurl-gnutls 7.88.1, GnuTLS 3.7.9): `wfuzz -w words.txt https://127.0.0.1:PORT/FUZZ`
    Tool {
        name: "wfuzz_ip",
        record: include_bytes!("fixtures/tls/tools/wfuzz_ip.bin"),
        ja4: "t13i2911h2_723694b0fccc_288f874c93d6",
        ja3: "eebae4a888bfe47a80a5f3af6bece366",
    },
    // dirb 2.22 (libcurl 7.88.1, OpenSSL 3.0.19): `dirb https://localhost:PORT/ words.txt`
    Tool {
        name: "dirb",
        record: include_bytes!("fixtures/tls/tools/dirb.bin"),
        ja4: "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
        ja3: "0149f47eabf9a20d0893e2a44e5a6323",
    },
    // dirb 2.22 (libcurl 7.88.1, OpenSSL 3.0.19): `dirb https://127.0.0.1:PORT/ words.txt`
    Tool {
        name: "dirb_ip",
        record: include_bytes!("fixtures/tls/tools/dirb_ip.bin"),
        ja4: "t13i3111h2_e8f1e7e78f70_b26ce05bbdd6",
        ja3: "78f0dc5ac5b19daf131a133cfdee9691",
    },
    // WhatWeb 0.5.5 (Ruby 3.1.2, OpenSSL 3.0.19): `whatweb https://localhost:PORT/`
    Tool {
        name: "whatweb",
        record: include_bytes!("fixtures/tls/tools/whatweb.bin"),
        ja4: "t13d751200_479067518aa3_d339722ba4af",
        ja3: "1cf4483fc48c29b8d1415087a28adfdd",
    },
    // WhatWeb 0.5.5 (Ruby 3.1.2, OpenSSL 3.0.19): `whatweb https://127.0.0.1:PORT/ (Ruby sends the IP as SNI)`
    Tool {
        name: "whatweb_ip",
        record: include_bytes!("fixtures/tls/tools/whatweb_ip.bin"),
        ja4: "t13d751200_479067518aa3_d339722ba4af",
        ja3: "1cf4483fc48c29b8d1415087a28adfdd",
    },
    // libwww-perl 6.68, IO::Socket::SSL 2.081, Net::SSLeay 1.92 (OpenSSL 3.0.19): `perl -MLWP::UserAgent -e 'LWP::UserAgent->new->get("https://localhost:PORT/")'`
    Tool {
        name: "perl_lwp",
        record: include_bytes!("fixtures/tls/tools/perl_lwp.bin"),
        ja4: "t13d311200_e8f1e7e78f70_ccd0985badbe",
        ja3: "428770f704845022589b515d18095279",
    },
    // libwww-perl 6.68, IO::Socket::SSL 2.081, Net::SSLeay 1.92 (OpenSSL 3.0.19): `perl -MLWP::UserAgent -e 'LWP::UserAgent->new->get("https://127.0.0.1:PORT/")'`
    Tool {
        name: "perl_lwp_ip",
        record: include_bytes!("fixtures/tls/tools/perl_lwp_ip.bin"),
        ja4: "t13i311100_e8f1e7e78f70_ccd0985badbe",
        ja3: "cd350275e54f0c0d6df9f3c93af0211d",
    },
    // curl 7.88.1 (OpenSSL 3.0.19, nghttp2 1.52.0): `curl https://localhost:PORT/`
    Tool {
        name: "curl",
        record: include_bytes!("fixtures/tls/tools/curl.bin"),
        ja4: "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
        ja3: "0149f47eabf9a20d0893e2a44e5a6323",
    },
    // curl 7.88.1 (OpenSSL 3.0.19, nghttp2 1.52.0): `curl https://127.0.0.1:PORT/`
    Tool {
        name: "curl_ip",
        record: include_bytes!("fixtures/tls/tools/curl_ip.bin"),
        ja4: "t13i3111h2_e8f1e7e78f70_b26ce05bbdd6",
        ja3: "78f0dc5ac5b19daf131a133cfdee9691",
    },
    // GNU Wget 1.21.3 (GnuTLS 3.7.9): `wget -O /dev/null https://localhost:PORT/`
    Tool {
        name: "wget",
        record: include_bytes!("fixtures/tls/tools/wget.bin"),
        ja4: "t13d291300_723694b0fccc_899037bd0b8c",
        ja3: "bb4f9fef542ff6b4b29aa653bf0c1d31",
    },
    // GNU Wget 1.21.3 (GnuTLS 3.7.9): `wget -O /dev/null https://127.0.0.1:PORT/`
    Tool {
        name: "wget_ip",
        record: include_bytes!("fixtures/tls/tools/wget_ip.bin"),
        ja4: "t13i291200_723694b0fccc_899037bd0b8c",
        ja3: "b1eb3ca3daaf03d365753f0a321e1601",
    },
    // OpenSSL 3.0.19 s_client: `openssl s_client -connect 127.0.0.1:PORT -servername target.rampart.test (as for a dotted host name)`
    Tool {
        name: "openssl_s_client_sni",
        record: include_bytes!("fixtures/tls/tools/openssl_s_client_sni.bin"),
        ja4: "t13d311000_e8f1e7e78f70_1f22a2ca17c4",
        ja3: "a3afc2c46ba4a7d7fbe1cfb7a3031c2f",
    },
    // OpenSSL 3.0.19 s_client: `openssl s_client -connect localhost:PORT (no SNI: s_client sent none to localhost)`
    Tool {
        name: "openssl_s_client",
        record: include_bytes!("fixtures/tls/tools/openssl_s_client.bin"),
        ja4: "t13i310900_e8f1e7e78f70_1f22a2ca17c4",
        ja3: "c216e752cae6f8755fd27f561d031636",
    },
    // Python 3.11.2 urllib.request (ssl: OpenSSL 3.0.19): `python3 -c "import urllib.request; urllib.request.urlopen('https://localhost:PORT/')"`
    Tool {
        name: "python_urllib",
        record: include_bytes!("fixtures/tls/tools/python_urllib.bin"),
        ja4: "t13d3113h1_e8f1e7e78f70_d339722ba4af",
        ja3: "46531b76d4d69e9c86d481cf71fa4933",
    },
    // Python 3.11.2 urllib.request (ssl: OpenSSL 3.0.19): `python3 -c "import urllib.request; urllib.request.urlopen('https://127.0.0.1:PORT/')"`
    Tool {
        name: "python_urllib_ip",
        record: include_bytes!("fixtures/tls/tools/python_urllib_ip.bin"),
        ja4: "t13i3112h1_e8f1e7e78f70_d339722ba4af",
        ja3: "48eb9b1182293f55c0710654b7b12fc6",
    },
    // python-requests 2.28.1, urllib3 1.26.12 (Python 3.11.2, OpenSSL 3.0.19): `python3 -c "import requests; requests.get('https://localhost:PORT/')"`
    Tool {
        name: "python_requests_deb",
        record: include_bytes!("fixtures/tls/tools/python_requests_deb.bin"),
        ja4: "t13d4312h1_c7886603b240_b26ce05bbdd6",
        ja3: "07ff1e545ef8ab3fcf8a4dc9272221c2",
    },
    // python-requests 2.28.1, urllib3 1.26.12 (Python 3.11.2, OpenSSL 3.0.19): `python3 -c "import requests; requests.get('https://127.0.0.1:PORT/')"`
    Tool {
        name: "python_requests_deb_ip",
        record: include_bytes!("fixtures/tls/tools/python_requests_deb_ip.bin"),
        ja4: "t13i4311h1_c7886603b240_b26ce05bbdd6",
        ja3: "f80d3d09f61892c5846c854dd84ac403",
    },
    // python-requests 2.34.2, urllib3 2.7.0 from PyPI (Python 3.11.7, OpenSSL 3.0.19): `python3 -c "import requests; requests.get('https://localhost:PORT/')"`
    Tool {
        name: "python_requests_pip",
        record: include_bytes!("fixtures/tls/tools/python_requests_pip.bin"),
        ja4: "t13d1812h1_85036bcba153_b26ce05bbdd6",
        ja3: "a48c0d5f95b1ef98f560f324fd275da1",
    },
    // python-requests 2.34.2, urllib3 2.7.0 from PyPI (Python 3.11.7, OpenSSL 3.0.19): `python3 -c "import requests; requests.get('https://127.0.0.1:PORT/')"`
    Tool {
        name: "python_requests_pip_ip",
        record: include_bytes!("fixtures/tls/tools/python_requests_pip_ip.bin"),
        ja4: "t13i1811h1_85036bcba153_b26ce05bbdd6",
        ja3: "b885946e72ad51dca6c70abc2f773506",
    },
    // httpx 0.23.3 (Python 3.11.2, OpenSSL 3.0.19): `python3 -c "import httpx; httpx.get('https://localhost:PORT/')"`
    Tool {
        name: "python_httpx",
        record: include_bytes!("fixtures/tls/tools/python_httpx.bin"),
        ja4: "t13d4313h1_c7886603b240_d339722ba4af",
        ja3: "e45087c66343de692972e62d757ac385",
    },
    // aiohttp 3.8.4 (Python 3.11.2, OpenSSL 3.0.19): `python3 -c "...aiohttp.ClientSession().get('https://localhost:PORT/')..."`
    Tool {
        name: "python_aiohttp",
        record: include_bytes!("fixtures/tls/tools/python_aiohttp.bin"),
        ja4: "t13d311100_e8f1e7e78f70_d41ae481755e",
        ja3: "d39e1be3241d516b1f714bd47c2bc968",
    },
    // Go 1.19.8 net/http (crypto/tls): `gohttp https://localhost:PORT/`
    Tool {
        name: "go_net_http",
        record: include_bytes!("fixtures/tls/tools/go_net_http.bin"),
        ja4: "t13d1910h2_9dc949149365_97f8aa674fd9",
        ja3: "3fed133de60c35724739b913924b6c24",
    },
    // Go 1.19.8 net/http (crypto/tls): `gohttp https://127.0.0.1:PORT/`
    Tool {
        name: "go_net_http_ip",
        record: include_bytes!("fixtures/tls/tools/go_net_http_ip.bin"),
        ja4: "t13i1909h2_9dc949149365_97f8aa674fd9",
        ja3: "3590d1b8f63dd1d590f0adea4227443d",
    },
    // Node.js 20.20.2 https (OpenSSL 3.0.19): `node -e "require('https').get('https://localhost:PORT/')"`
    Tool {
        name: "node_https",
        record: include_bytes!("fixtures/tls/tools/node_https.bin"),
        ja4: "t13d591000_a33745022dd6_1f22a2ca17c4",
        ja3: "0cce74b0d9b7f8528fb2181588d23793",
    },
    // Node.js 20.20.2 https (OpenSSL 3.0.19): `node -e "require('https').get('https://127.0.0.1:PORT/')"`
    Tool {
        name: "node_https_ip",
        record: include_bytes!("fixtures/tls/tools/node_https_ip.bin"),
        ja4: "t13i590900_a33745022dd6_1f22a2ca17c4",
        ja3: "6521bd74aad3476cdb3daa827288ec35",
    },
    // Node.js 20.20.2 fetch (undici 6.24.1, OpenSSL 3.0.19): `node -e "fetch('https://localhost:PORT/')"`
    Tool {
        name: "node_fetch",
        record: include_bytes!("fixtures/tls/tools/node_fetch.bin"),
        ja4: "t13d5911h1_a33745022dd6_1f22a2ca17c4",
        ja3: "1a28e69016765d92e3b381168d68922c",
    },
    // Ruby 3.1.2 net/http (OpenSSL 3.0.19): `ruby -rnet/http -e 'Net::HTTP.get(URI("https://localhost:PORT/"))'`
    Tool {
        name: "ruby_net_http",
        record: include_bytes!("fixtures/tls/tools/ruby_net_http.bin"),
        ja4: "t13d311200_e8f1e7e78f70_d339722ba4af",
        ja3: "86d37534033d9c5b60a83ff8b2fbeea3",
    },
    // Ruby 3.1.2 net/http (OpenSSL 3.0.19): `ruby -rnet/http -e 'Net::HTTP.get(URI("https://127.0.0.1:PORT/"))' (Ruby sends the IP as SNI)`
    Tool {
        name: "ruby_net_http_ip",
        record: include_bytes!("fixtures/tls/tools/ruby_net_http_ip.bin"),
        ja4: "t13d311200_e8f1e7e78f70_d339722ba4af",
        ja3: "86d37534033d9c5b60a83ff8b2fbeea3",
    },
    // OpenJDK 17.0.15 java.net.http.HttpClient: `java Get https://localhost:PORT/`
    Tool {
        name: "java_httpclient",
        record: include_bytes!("fixtures/tls/tools/java_httpclient.bin"),
        ja4: "t13d3713h2_db35923f8641_7c76daad20ec",
        ja3: "eea0a26d87c4721f5818bb176368f238",
    },
];

/// Browsers, whose fingerprints must never be in a tool list.
const BROWSERS: &[(&str, &[u8])] = &[(
    "chromium_156",
    include_bytes!("fixtures/tls/chromium_156.bin"),
)];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the dataplane crate sits in the workspace")
        .to_path_buf()
}

const LIST_FILE: &str = "packs/default/lists/intel-tool-fingerprints.ja4";

fn list_text() -> String {
    let path = repo_root().join(LIST_FILE);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ja4_of(record: &[u8]) -> String {
    let hello = ClientHello::from_record(record).expect("a captured ClientHello parses");
    Ja4::of(&hello).as_str().to_owned()
}

#[test]
fn tool_captures_fingerprint_as_ja4plus_and_tshark_say() {
    let mut wrong = Vec::new();
    for t in TOOLS {
        let hello =
            ClientHello::from_record(t.record).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        let (ja4, ja3) = (Ja4::of(&hello), Ja3::of(&hello));
        if ja4.as_str() != t.ja4 || ja3.as_str() != t.ja3 {
            wrong.push(format!(
                "{}: ours {} {}, reference {} {}",
                t.name,
                ja4.as_str(),
                ja3.as_str(),
                t.ja4,
                t.ja3
            ));
        }
        let again =
            ClientHello::parse(&t.record[5..]).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert_eq!(Ja4::of(&again).as_str(), t.ja4, "{} reassembled", t.name);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_tool_capture_is_in_the_default_list() {
    let list = List::parse_file(
        "intel-tool-fingerprints",
        ListKind::Ja4,
        &list_text(),
        LIST_FILE,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = Vec::new();
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|t| !list.contains_str(ja4_of(t.record).as_bytes(), &mut buf))
        .map(|t| format!("{} {}", t.name, ja4_of(t.record)))
        .collect();
    assert!(
        missing.is_empty(),
        "not in {LIST_FILE}:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_default_list_entry_was_captured_from_a_tool() {
    let captured: BTreeSet<String> = TOOLS.iter().map(|t| ja4_of(t.record)).collect();
    let text = list_text();
    let uncaptured: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !captured.contains(*l))
        .collect();
    assert!(
        uncaptured.is_empty(),
        "entries of {LIST_FILE} without a capture in fixtures/tls/tools/: {uncaptured:?}"
    );
}

#[test]
fn no_browser_fingerprint_is_in_the_default_list() {
    let list = List::parse_file(
        "intel-tool-fingerprints",
        ListKind::Ja4,
        &list_text(),
        LIST_FILE,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = Vec::new();
    for (name, record) in BROWSERS {
        let ja4 = ja4_of(record);
        assert!(
            !list.contains_str(ja4.as_bytes(), &mut buf),
            "{name} {ja4} is in {LIST_FILE}"
        );
    }
}

#[test]
fn every_capture_in_the_directory_is_checked() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/tools");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("tools/README.md");
    let known: BTreeSet<&str> = TOOLS.iter().map(|t| t.name).collect();
    for entry in std::fs::read_dir(&dir).expect("fixtures/tls/tools") {
        let path = entry.expect("a directory entry").path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "bin" && ext != "pcap" {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        assert!(known.contains(stem), "{} is not in TOOLS", path.display());
        assert!(
            readme.contains(&format!("`{stem}`")),
            "{stem} has no line in tools/README.md"
        );
    }
}
