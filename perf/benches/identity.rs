//! Client identity extraction per request (issue 6): a typical API request
//! (bearer JWT, session cookie, behind a trusted proxy), login requests (JSON,
//! form), a request with nothing to extract, and JWT verification (HS256,
//! ES256, RS256) with the signature cache hit and missed. Needs `openssl`
//! (the RSA key).
//!
//! `cargo bench -p rampart-perf --bench identity`

use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use rampart_dataplane::behaviour::b64::encode_url;
use rampart_dataplane::behaviour::{
    IdentityConfig, IdentityExtractor, JwtConfig, KeyFile, RequestParts,
};
use sha2::Sha256;

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

/// An RSA-2048 key made by `openssl genpkey` in `dir` (its public half
/// written as `rsa.pem`), as a ring signer.
fn rsa_key(dir: &Path) -> ring::rsa::KeyPair {
    let run = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .status()
            .expect("openssl runs")
            .success();
        assert!(ok, "openssl {args:?}");
    };
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-outform",
        "DER",
        "-out",
        "rsa.der",
    ]);
    run(&[
        "pkey", "-inform", "DER", "-in", "rsa.der", "-pubout", "-out", "rsa.pem",
    ]);
    // ring reads PKCS#1 (`RSAPrivateKey`); openssl 3 writes PKCS#8 by default.
    run(&[
        "rsa",
        "-inform",
        "DER",
        "-in",
        "rsa.der",
        "-traditional",
        "-outform",
        "DER",
        "-out",
        "rsa1.der",
    ]);
    let der = std::fs::read(dir.join("rsa1.der")).unwrap();
    ring::rsa::KeyPair::from_der(&der).expect("PKCS#1 RSA key")
}

fn rs256(key: &ring::rsa::KeyPair, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        encode_url(br#"{"alg":"RS256","typ":"JWT"}"#),
        encode_url(payload.as_bytes())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    format!("{input}.{}", encode_url(&sig))
}

/// A realistic access token payload (~300 bytes encoded).
fn claims(i: usize) -> String {
    format!(
        r#"{{"iss":"https://idp.example.com/","sub":"auth0|64f1c2{i:08}","aud":["https://api.example.com"],"iat":1764000000,"exp":4000000000,"scope":"read:orders write:orders","azp":"x7Hq2"}}"#
    )
}

fn config(dir: &Path, key: &SigningKey, verify: bool) -> IdentityConfig {
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
    let mut keys = vec![file("es.pem")];
    if dir.join("rsa.pem").exists() {
        keys.push(file("rsa.pem"));
    }
    let mut jwt = JwtConfig {
        verify,
        hs256_secret_file: Some(file("hs.key")),
        public_keys: keys,
        ..JwtConfig::default()
    };
    jwt.load_keys(dir).unwrap();
    IdentityConfig {
        jwt,
        ..IdentityConfig::default()
    }
}

struct Req {
    method: &'static [u8],
    target: &'static [u8],
    headers: Vec<(String, String)>,
    body: &'static [u8],
    peer: IpAddr,
    trusted: bool,
}

impl Req {
    fn api(token: &str) -> Req {
        Req {
            method: b"GET",
            target: b"/api/v1/orders/8812?expand=items",
            headers: [
                ("Host", "api.example.com"),
                ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"),
                ("Accept", "application/json"),
                ("Accept-Encoding", "gzip, deflate, br"),
                ("Authorization", &format!("Bearer {token}")),
                ("Cookie", "theme=dark; session=6f1c0b7e2d9a"),
                ("X-Forwarded-For", "203.0.113.9, 10.0.0.2"),
                ("Connection", "keep-alive"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
            body: b"",
            peer: "10.0.0.1".parse().unwrap(),
            trusted: true,
        }
    }

    fn login(content_type: &str, body: &'static [u8]) -> Req {
        Req {
            method: b"POST",
            target: b"/api/v1/auth/login",
            headers: [
                ("Host", "api.example.com"),
                ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"),
                ("Accept", "application/json"),
                ("Content-Type", content_type),
                ("Content-Length", &body.len().to_string()),
                ("Connection", "keep-alive"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
            body,
            peer: "198.51.100.7".parse().unwrap(),
            trusted: false,
        }
    }
}

/// A request with its header views.
type Prepared = (Req, Vec<(&'static [u8], &'static [u8])>);

fn extract_all(x: &mut IdentityExtractor, reqs: &[Prepared], i: usize) -> usize {
    let (r, headers) = &reqs[i % reqs.len()];
    let parts = RequestParts {
        method: r.method,
        target: r.target,
        headers,
        body: r.body,
        peer: r.peer,
        peer_trusted: r.trusted,
    };
    let id = x.extract(black_box(&parts));
    id.facts().iter().flatten().count()
}

fn prepared(reqs: Vec<Req>) -> Vec<Prepared> {
    reqs.into_iter()
        .map(|r| {
            // Leaked once per bench setup so the header views can be 'static.
            let headers: &'static [(String, String)] =
                Box::leak(r.headers.clone().into_boxed_slice());
            let h = headers
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                .collect();
            (r, h)
        })
        .collect()
}

fn identity(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[0x42; 32].into()).unwrap();
    let rsa = rsa_key(dir.path());
    let trusted = ["10.0.0.0/8".parse().unwrap()];
    let token_key = [9u8; 32];
    let mut g = c.benchmark_group("identity");
    let bench = |g: &mut criterion::BenchmarkGroup<'_, _>,
                 name: &str,
                 cfg: &IdentityConfig,
                 reqs: Vec<Req>| {
        let reqs = prepared(reqs);
        let mut x = IdentityExtractor::new(cfg, &trusted, &token_key);
        let mut i = 0usize;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                extract_all(&mut x, &reqs, i)
            })
        });
    };
    let plain = config(dir.path(), &key, false);
    let verifying = config(dir.path(), &key, true);
    let hs = hs256(&claims(1));
    let es = es256(&key, &claims(2));

    let mut bare = Req::api("x");
    bare.headers
        .retain(|(n, _)| n != "Authorization" && n != "Cookie");
    bench(&mut g, "no_identity_headers", &plain, vec![bare]);
    bench(&mut g, "api_jwt_unverified", &plain, vec![Req::api(&hs)]);
    bench(
        &mut g,
        "api_jwt_hs256_cached",
        &verifying,
        vec![Req::api(&hs)],
    );
    bench(
        &mut g,
        "api_jwt_es256_cached",
        &verifying,
        vec![Req::api(&es)],
    );
    bench(
        &mut g,
        "login_json",
        &plain,
        vec![Req::login(
            "application/json",
            br#"{"username":"Alice@Example.com","password":"correct horse battery staple","remember":true}"#,
        )],
    );
    bench(
        &mut g,
        "login_form",
        &plain,
        vec![Req::login(
            "application/x-www-form-urlencoded",
            b"username=alice%40example.com&password=correct+horse+battery+staple&remember=1",
        )],
    );
    // More distinct tokens than cache slots, cycled: every check is a miss.
    let hs_many: Vec<Req> = (0..8192).map(|i| Req::api(&hs256(&claims(i)))).collect();
    bench(&mut g, "api_jwt_hs256_uncached", &verifying, hs_many);
    let es_many: Vec<Req> = (0..8192)
        .map(|i| Req::api(&es256(&key, &claims(i))))
        .collect();
    g.sample_size(20);
    bench(&mut g, "api_jwt_es256_uncached", &verifying, es_many);
    let rs_many: Vec<Req> = (0..8192)
        .map(|i| Req::api(&rs256(&rsa, &claims(i))))
        .collect();
    bench(&mut g, "api_jwt_rs256_uncached", &verifying, rs_many);
    g.finish();
}

criterion_group!(benches, identity);
criterion_main!(benches);
