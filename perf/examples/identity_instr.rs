//! Client identity extraction, one scenario per function, for counting
//! instructions per extraction under callgrind (load-independent, unlike the
//! criterion times in `benches/identity.rs` on a shared machine):
//!
//! ```sh
//! cargo build --release -p rampart-perf --example identity_instr
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/id.cg \
//!     target/release/examples/identity_instr 10000
//! callgrind_annotate --inclusive=yes /tmp/id.cg | grep scenario_
//! ```
//!
//! Each `scenario_*` runs N extractions (N = the argument, default 10000);
//! its inclusive instruction count divided by N is the cost of one.

use std::hint::black_box;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use rampart_dataplane::behaviour::b64::encode_url;
use rampart_dataplane::behaviour::{
    IdentityConfig, IdentityExtractor, JwtConfig, KeyFile, RequestParts,
};
use sha2::Sha256;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const CLAIMS: &str = r#"{"iss":"https://idp.example.com/","sub":"auth0|64f1c200000001","aud":["https://api.example.com"],"iat":1764000000,"exp":4000000000,"scope":"read:orders write:orders","azp":"x7Hq2"}"#;

fn hs256(payload: &str) -> String {
    let input = format!(
        "{}.{}",
        encode_url(br#"{"alg":"HS256","typ":"JWT"}"#),
        encode_url(payload.as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", encode_url(&mac.finalize().into_bytes()))
}

type Headers<'a> = Vec<(&'a [u8], &'a [u8])>;

// Distinct tags keep the linker from folding the identical scenario bodies.
#[inline(always)]
fn run(tag: usize, x: &mut IdentityExtractor, parts: &RequestParts<'_>, n: usize) -> usize {
    let mut seen = black_box(tag);
    for _ in 0..n {
        let id = x.extract(black_box(parts));
        seen += id.facts().iter().flatten().count();
    }
    seen
}

#[inline(never)]
fn scenario_no_identity(x: &mut IdentityExtractor, p: &RequestParts<'_>, n: usize) -> usize {
    run(1, x, p, n)
}
#[inline(never)]
fn scenario_api_jwt_unverified(x: &mut IdentityExtractor, p: &RequestParts<'_>, n: usize) -> usize {
    run(2, x, p, n)
}
#[inline(never)]
fn scenario_api_jwt_hs256_cached(
    x: &mut IdentityExtractor,
    p: &RequestParts<'_>,
    n: usize,
) -> usize {
    run(3, x, p, n)
}
#[inline(never)]
fn scenario_login_json(x: &mut IdentityExtractor, p: &RequestParts<'_>, n: usize) -> usize {
    run(4, x, p, n)
}
#[inline(never)]
fn scenario_login_form(x: &mut IdentityExtractor, p: &RequestParts<'_>, n: usize) -> usize {
    run(5, x, p, n)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("identity-instr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hs.key"), SECRET).unwrap();
    let mut jwt = JwtConfig {
        verify: true,
        hs256_secret_file: Some(KeyFile {
            path: "hs.key".into(),
            line: 1,
            col: 1,
        }),
        ..JwtConfig::default()
    };
    jwt.load_keys(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let verifying = IdentityConfig {
        jwt,
        ..IdentityConfig::default()
    };
    let plain = IdentityConfig::default();
    let trusted = ["10.0.0.0/8".parse().unwrap()];
    let key = [9u8; 32];
    let proxy: IpAddr = "10.0.0.1".parse().unwrap();
    let client: IpAddr = "198.51.100.7".parse().unwrap();

    let bearer: &'static str = Box::leak(format!("Bearer {}", hs256(CLAIMS)).into_boxed_str());
    let api: Headers<'_> = vec![
        (b"Host", b"api.example.com"),
        (
            b"User-Agent",
            b"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
        ),
        (b"Accept", b"application/json"),
        (b"Accept-Encoding", b"gzip, deflate, br"),
        (b"Authorization", bearer.as_bytes()),
        (b"Cookie", b"theme=dark; session=6f1c0b7e2d9a"),
        (b"X-Forwarded-For", b"203.0.113.9, 10.0.0.2"),
        (b"Connection", b"keep-alive"),
    ];
    let bare: Headers<'_> = api
        .iter()
        .copied()
        .filter(|(n, _)| *n != b"Authorization" && *n != b"Cookie")
        .collect();
    let api_parts = |headers: &'static [(&'static [u8], &'static [u8])]| RequestParts {
        method: b"GET",
        target: b"/api/v1/orders/8812?expand=items",
        headers,
        body: b"",
        peer: proxy,
        peer_trusted: true,
    };
    let api: &'static [(&[u8], &[u8])] = Box::leak(api.into_boxed_slice());
    let bare: &'static [(&[u8], &[u8])] = Box::leak(bare.into_boxed_slice());
    let login = |ct: &'static [u8], body: &'static [u8]| -> RequestParts<'static> {
        let h: Headers<'static> = vec![
            (b"Host", b"api.example.com"),
            (
                b"User-Agent",
                b"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
            ),
            (b"Accept", b"application/json"),
            (b"Content-Type", ct),
            (b"Connection", b"keep-alive"),
        ];
        RequestParts {
            method: b"POST",
            target: b"/api/v1/auth/login",
            headers: Box::leak(h.into_boxed_slice()),
            body,
            peer: client,
            peer_trusted: false,
        }
    };

    let mut x = IdentityExtractor::new(&plain, &trusted, &key);
    let mut v = IdentityExtractor::new(&verifying, &trusted, &key);
    let mut seen = 0;
    seen += scenario_no_identity(&mut x, &api_parts(bare), n);
    seen += scenario_api_jwt_unverified(&mut x, &api_parts(api), n);
    seen += scenario_api_jwt_hs256_cached(&mut v, &api_parts(api), n);
    seen += scenario_login_json(
        &mut x,
        &login(
            b"application/json",
            br#"{"username":"Alice@Example.com","password":"correct horse battery staple","remember":true}"#,
        ),
        n,
    );
    seen += scenario_login_form(
        &mut x,
        &login(
            b"application/x-www-form-urlencoded",
            b"username=alice%40example.com&password=correct+horse+battery+staple&remember=1",
        ),
        n,
    );
    println!("{n} extractions per scenario, {seen} identity values");
}
