//! Identity extraction must not allocate per request: a counting global
//! allocator watches 10,000 extractions over a mix of API and login requests
//! (JWTs verified with HS256 and ES256, first seen and cached, Basic, JSON and
//! form logins, forwarded chains, malformed tokens) after the extractor is
//! built and the requests are prepared.

use std::net::IpAddr;
use std::path::Path;

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use rampart_dataplane::behaviour::b64::encode_url;
use rampart_dataplane::behaviour::{
    IdentityConfig, IdentityExtractor, JwtConfig, KeyFile, RequestParts,
};
use sha2::Sha256;

mod common;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

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

fn es256(key: &SigningKey, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        encode_url(br#"{"alg":"ES256","typ":"JWT"}"#),
        encode_url(payload.as_bytes())
    );
    let sig: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", encode_url(&sig.to_bytes()))
}

/// An owned request; `parts` borrows it.
struct Req {
    method: &'static [u8],
    target: String,
    headers: Vec<(String, String)>,
    body: String,
    peer: IpAddr,
    trusted: bool,
}

fn config(dir: &Path, key: &SigningKey) -> IdentityConfig {
    std::fs::write(dir.join("hs.key"), SECRET).unwrap();
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(dir.join("es.pem"), pem).unwrap();
    let file = |p: &str| KeyFile {
        path: p.into(),
        line: 1,
        col: 1,
    };
    let mut jwt = JwtConfig {
        verify: true,
        hs256_secret_file: Some(file("hs.key")),
        public_keys: vec![file("es.pem")],
        ..JwtConfig::default()
    };
    jwt.load_keys(dir).unwrap();
    IdentityConfig {
        api_key_args: vec!["api_key".into()],
        jwt,
        ..IdentityConfig::default()
    }
}

fn requests(tokens: &[String]) -> Vec<Req> {
    let proxy: IpAddr = "10.0.0.1".parse().unwrap();
    let client: IpAddr = "198.51.100.7".parse().unwrap();
    let get = |target: &str, headers: &[(&str, &str)]| Req {
        method: b"GET",
        target: target.to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: String::new(),
        peer: client,
        trusted: false,
    };
    let mut out = Vec::new();
    for t in tokens {
        let mut r = get(
            "/api/orders/42?page=2",
            &[
                ("Host", "api.example"),
                ("Authorization", &format!("Bearer {t}")),
                ("X-Forwarded-For", "203.0.113.9, 10.0.0.2"),
                ("Cookie", "theme=dark; session=abc123"),
            ],
        );
        r.peer = proxy;
        r.trusted = true;
        out.push(r);
    }
    out.push(get("/x?api_key=a%2Bb", &[("x-api-key", "k1")]));
    out.push(get("/x", &[("Authorization", "Bearer not.a.jwt!")]));
    out.push(get("/x", &[("Authorization", "Basic QWxpY2U6c2VjcmV0")]));
    out.push(get("/x", &[("Authorization", "Basic %%%")]));
    out.push(get(
        "/x",
        &[("Forwarded", r#"for="[2001:db8::1]:4711", for=10.0.0.3"#)],
    ));
    let login = |ct: &str, body: &str| Req {
        method: b"POST",
        target: "/api/v1/login".to_owned(),
        headers: vec![("Content-Type".into(), ct.into())],
        body: body.to_owned(),
        peer: client,
        trusted: false,
    };
    out.push(login(
        "application/json",
        r#"{"user":{"email":" Alice@Example.com"},"password":"p\u00e4ss"}"#,
    ));
    out.push(login(
        "application/x-www-form-urlencoded",
        "username=Bob%40example.com&password=a+b%26c",
    ));
    out
}

fn run(x: &mut IdentityExtractor, reqs: &[Req], rounds: usize) -> usize {
    let mut headers: Vec<Vec<(&[u8], &[u8])>> = reqs
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                .collect()
        })
        .collect();
    let before = common::allocs();
    let mut seen = 0usize;
    for i in 0..rounds {
        let k = i % reqs.len();
        let r = &reqs[k];
        let parts = RequestParts {
            method: r.method,
            target: r.target.as_bytes(),
            headers: &headers[k],
            body: r.body.as_bytes(),
            peer: r.peer,
            peer_trusted: r.trusted,
        };
        let id = x.extract(&parts);
        let facts = id.facts();
        seen += facts.iter().flatten().count() + usize::from(id.jwt_invalid);
    }
    let allocs = common::allocs() - before;
    assert_eq!(allocs, 0, "{allocs} allocations in {rounds} extractions");
    headers.clear();
    seen
}

#[test]
fn extraction_does_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[0x42; 32].into()).unwrap();
    let mut x = IdentityExtractor::new(
        &config(dir.path(), &key),
        &["10.0.0.0/8".parse().unwrap()],
        &[9; 32],
    );
    let exp = 4_000_000_000u64;
    let token_set = |tag: &str, es: usize| -> Vec<String> {
        let mut t: Vec<String> = (0..40)
            .map(|i| hs256(&format!(r#"{{"sub":"u{tag}{i}","iss":"idp","exp":{exp}}}"#)))
            .collect();
        t.extend((0..es).map(|i| es256(&key, &format!(r#"{{"sub":"s\"{tag}{i}","iss":"idp"}}"#))));
        // Expired, and tampered.
        t.push(hs256(&format!(r#"{{"sub":"old{tag}","exp":1}}"#)));
        let good = hs256(&format!(r#"{{"sub":"x{tag}"}}"#));
        let (hp, _) = good.rsplit_once('.').unwrap();
        t.push(format!("{hp}.{}", encode_url(&[0u8; 32])));
        t
    };
    // The counter sees this test's allocations at all.
    let before = common::allocs();
    std::hint::black_box(vec![0u8; 64]);
    assert!(common::allocs() > before);
    // Warm up on one token set, then measure on tokens never seen (their
    // signatures are checked, not cached) and on the warm ones again.
    let warm = requests(&token_set("w", 8));
    run(&mut x, &warm, 1_000);
    let cold = requests(&token_set("c", 8));
    let seen = run(&mut x, &cold, 10_000);
    assert!(seen > 10_000, "identities were extracted: {seen}");
    run(&mut x, &warm, 10_000);
}
