//! Identity extraction over whole requests: every key, with tokens signed
//! here and key files written to a temp dir.

use std::net::IpAddr;
use std::path::Path;

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sha2::Sha256;

use super::b64::encode_url;
use super::identity::{Identity, IdentityConfig, IdentityExtractor, RequestParts, TOKEN_HEX};
use super::jwt::{JwtConfig, KeyFile};
use super::login::LoginRoute;

const KEY: [u8; 32] = [7; 32];
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-hs256";
const NOW: i64 = 1_800_000_000;

struct Req {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    peer: IpAddr,
    trusted: bool,
}

impl Req {
    fn get(target: &str) -> Req {
        Req {
            method: "GET",
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            peer: "198.51.100.20".parse().unwrap(),
            trusted: false,
        }
    }

    fn post(target: &str, content_type: &str, body: &str) -> Req {
        let mut r = Req::get(target);
        r.method = "POST";
        r.body = body.as_bytes().to_vec();
        if !content_type.is_empty() {
            r = r.header("Content-Type", content_type);
        }
        r
    }

    fn header(mut self, n: &str, v: &str) -> Req {
        self.headers.push((n.to_owned(), v.to_owned()));
        self
    }

    fn bearer(self, token: &str) -> Req {
        self.header("Authorization", &format!("Bearer {token}"))
    }
}

/// Extracts and hands the identity (with owned copies) to `check`.
fn with_identity(x: &mut IdentityExtractor, r: &Req, check: impl FnOnce(&Identity<'_>)) {
    let headers: Vec<(&[u8], &[u8])> = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let parts = RequestParts {
        method: r.method.as_bytes(),
        target: r.target.as_bytes(),
        headers: &headers,
        body: &r.body,
        peer: r.peer,
        peer_trusted: r.trusted,
    };
    let id = x.extract_at(&parts, NOW);
    check(&id);
}

fn s(v: Option<&[u8]>) -> Option<String> {
    v.map(|b| String::from_utf8_lossy(b).into_owned())
}

fn extractor(cfg: &IdentityConfig) -> IdentityExtractor {
    IdentityExtractor::new(cfg, &["10.0.0.0/8".parse().unwrap()], &KEY)
}

fn hs256(secret: &[u8], header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        encode_url(header.as_bytes()),
        encode_url(payload.as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", encode_url(&mac.finalize().into_bytes()))
}

fn hs(payload: &str) -> String {
    hs256(SECRET, r#"{"alg":"HS256","typ":"JWT"}"#, payload)
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

fn key_file(path: &Path) -> KeyFile {
    KeyFile {
        path: path.to_path_buf(),
        line: 3,
        col: 9,
    }
}

/// A verifying config with the HS256 secret and one ES256 key, loaded from files.
fn verifying(dir: &Path, es: &SigningKey) -> IdentityConfig {
    std::fs::write(dir.join("hs.key"), [SECRET, b"\n"].concat()).unwrap();
    let pem = es
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(dir.join("es.pem"), pem).unwrap();
    let mut jwt = JwtConfig {
        verify: true,
        hs256_secret_file: Some(key_file(Path::new("hs.key"))),
        public_keys: vec![key_file(Path::new("es.pem"))],
        ..JwtConfig::default()
    };
    jwt.load_keys(dir).unwrap();
    IdentityConfig {
        jwt,
        ..IdentityConfig::default()
    }
}

fn es_key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32].into()).unwrap()
}

#[test]
fn api_keys_from_headers_then_query_args() {
    let cfg = IdentityConfig {
        api_key_headers: vec!["x-api-key".into(), "apikey".into()],
        api_key_args: vec!["api_key".into(), "key".into()],
        ..IdentityConfig::default()
    };
    let mut x = extractor(&cfg);
    let r = Req::get("/v1?api_key=fromquery")
        .header("ApiKey", "second")
        .header("X-API-Key", " first ");
    with_identity(&mut x, &r, |id| assert_eq!(s(id.api_key).unwrap(), "first"));
    let r = Req::get("/v1?x=1&key=k2&api_key=a%2Bb+c#frag");
    with_identity(&mut x, &r, |id| assert_eq!(s(id.api_key).unwrap(), "a+b c"));
    let r = Req::get("/v1?key=&other=1");
    with_identity(&mut x, &r, |id| assert_eq!(id.api_key, None));
    // Query args only when configured.
    let mut x = extractor(&IdentityConfig::default());
    with_identity(&mut x, &Req::get("/?api_key=k"), |id| {
        assert_eq!(id.api_key, None)
    });
}

#[test]
fn bearer_tokens_are_kept_only_as_keyed_hashes() {
    let mut x = extractor(&IdentityConfig::default());
    let mut first = String::new();
    with_identity(&mut x, &Req::get("/").bearer("opaque-token-1"), |id| {
        first = s(id.token).unwrap();
    });
    assert_eq!(first.len(), TOKEN_HEX);
    assert!(first.bytes().all(|c| c.is_ascii_hexdigit()));
    assert!(!first.contains("opaque"));
    with_identity(
        &mut x,
        &Req::get("/").header("authorization", "bearer   opaque-token-1 "),
        |id| {
            assert_eq!(s(id.token).unwrap(), first);
            // Not a JWT: no claims, and not "invalid" without verification.
            assert_eq!((id.jwt_sub, id.jwt_invalid), (None, false));
        },
    );
    with_identity(&mut x, &Req::get("/").bearer("opaque-token-2"), |id| {
        assert_ne!(s(id.token).unwrap(), first);
    });
    // Another process key, another hash.
    let mut other = IdentityExtractor::new(&IdentityConfig::default(), &[], &[8; 32]);
    with_identity(&mut other, &Req::get("/").bearer("opaque-token-1"), |id| {
        assert_ne!(s(id.token).unwrap(), first);
    });
    for v in ["Bearer", "Bearer ", "Bearerx abc", "Token abc"] {
        with_identity(&mut x, &Req::get("/").header("Authorization", v), |id| {
            assert_eq!(id.token, None, "{v:?}");
        });
    }
}

#[test]
fn jwt_claims_unverified() {
    let mut x = extractor(&IdentityConfig::default());
    let payload = r#"{"iss":"https://idp.example","sub":"user-\u00e9\"42","act":{"sub":"nested"},"aud":["a",{"sub":"arr"}],"exp":1}"#;
    with_identity(&mut x, &Req::get("/").bearer(&hs(payload)), |id| {
        assert_eq!(s(id.jwt_sub).unwrap(), "user-é\"42");
        assert_eq!(s(id.jwt_iss).unwrap(), "https://idp.example");
        // Expired and unsigned by a known key, but nothing is verified.
        assert!(!id.jwt_invalid);
    });
    // Duplicate claims: the last.
    with_identity(
        &mut x,
        &Req::get("/").bearer(&hs(r#"{"sub":"a","sub":"b"}"#)),
        |id| {
            assert_eq!(s(id.jwt_sub).unwrap(), "b");
            assert_eq!(id.jwt_iss, None);
        },
    );
    // Claims that are not strings are not identities.
    with_identity(
        &mut x,
        &Req::get("/").bearer(&hs(r#"{"sub":42,"iss":null}"#)),
        |id| {
            assert_eq!((id.jwt_sub, id.jwt_iss), (None, None));
        },
    );
}

#[test]
fn malformed_jwts_give_no_claims() {
    let mut x = extractor(&IdentityConfig::default());
    let good = hs(r#"{"sub":"s"}"#);
    let (h, rest) = good.split_once('.').unwrap();
    let (p, sig) = rest.split_once('.').unwrap();
    let huge = hs(&format!(r#"{{"sub":"s","pad":"{}"}}"#, "x".repeat(9000)));
    for bad in [
        format!("{h}.{p}"),                          // truncated: no signature part
        format!("{h}.{p}.{sig}.extra"),              // JWE-shaped
        format!("{h}.{}!.{sig}", &p[..p.len() - 1]), // bad base64
        format!("{h}.{}.{sig}", &p[..p.len() - 1]),  // cut payload: bad length or JSON
        format!("{h}.{}.{sig}", encode_url(b"not json")),
        format!(".{p}.{sig}"),
        huge,
    ] {
        with_identity(&mut x, &Req::get("/").bearer(&bad), |id| {
            assert_eq!(id.jwt_sub, None, "{bad:.60}");
            assert!(!id.jwt_invalid);
            // The token is still an identity.
            assert!(id.token.is_some());
        });
    }
}

#[test]
fn jwt_hs256_verification() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = extractor(&verifying(dir.path(), &es_key()));
    let check = |x: &mut IdentityExtractor, token: &str, sub: Option<&str>| {
        with_identity(x, &Req::get("/").bearer(token), |id| {
            assert_eq!(s(id.jwt_sub).as_deref(), sub, "{token}");
            assert_eq!(id.jwt_invalid, sub.is_none(), "{token}");
            assert!(id.token.is_some());
        });
    };
    let good = hs(&format!(
        r#"{{"sub":"alice","iss":"me","exp":{}}}"#,
        NOW + 10
    ));
    check(&mut x, &good, Some("alice"));
    // Twice: the second comes from the verification cache.
    check(&mut x, &good, Some("alice"));
    // No exp at all is fine.
    check(&mut x, &hs(r#"{"sub":"noexp"}"#), Some("noexp"));
    // Within the default 60 s leeway, and past it.
    check(
        &mut x,
        &hs(&format!(r#"{{"sub":"a","exp":{}}}"#, NOW - 30)),
        Some("a"),
    );
    check(
        &mut x,
        &hs(&format!(r#"{{"sub":"a","exp":{}}}"#, NOW - 61)),
        None,
    );
    check(
        &mut x,
        &hs(&format!(r#"{{"sub":"a","nbf":{}}}"#, NOW + 3600)),
        None,
    );
    // Wrong secret; a tampered payload under a good signature; alg none.
    let other = b"another secret of at least thirty-two bytes";
    check(
        &mut x,
        &hs256(other, r#"{"alg":"HS256"}"#, r#"{"sub":"mallory"}"#),
        None,
    );
    let (h, rest) = good.split_once('.').unwrap();
    let sig = rest.split_once('.').unwrap().1;
    let forged = format!("{h}.{}.{sig}", encode_url(br#"{"sub":"admin"}"#));
    check(&mut x, &forged, None);
    check(&mut x, &forged, None);
    let none = format!(
        "{}.{}.",
        encode_url(br#"{"alg":"none"}"#),
        encode_url(br#"{"sub":"root"}"#)
    );
    check(&mut x, &none, None);
    // Not a JWT at all.
    check(&mut x, "opaque", None);
    // Leeway from config.
    let mut cfg = verifying(dir.path(), &es_key());
    cfg.jwt.leeway = std::time::Duration::ZERO;
    let mut strict = extractor(&cfg);
    check(
        &mut strict,
        &hs(&format!(r#"{{"sub":"a","exp":{}}}"#, NOW - 1)),
        None,
    );
    check(
        &mut strict,
        &hs(&format!(r#"{{"sub":"a","exp":{NOW}}}"#)),
        Some("a"),
    );
}

#[test]
fn jwt_es256_verification_and_algorithm_confusion() {
    let dir = tempfile::tempdir().unwrap();
    let key = es_key();
    let mut x = extractor(&verifying(dir.path(), &key));
    let good = es256(&key, r#"{"sub":"svc-1","iss":"idp"}"#);
    with_identity(&mut x, &Req::get("/").bearer(&good), |id| {
        assert_eq!(s(id.jwt_sub).unwrap(), "svc-1");
        assert!(!id.jwt_invalid);
    });
    let stranger = SigningKey::from_bytes(&[0x43; 32].into()).unwrap();
    let bad = es256(&stranger, r#"{"sub":"svc-1"}"#);
    with_identity(&mut x, &Req::get("/").bearer(&bad), |id| {
        assert_eq!(id.jwt_sub, None);
        assert!(id.jwt_invalid);
    });
    // An HS256 token "signed" with the public key's PEM as the secret.
    let pem = std::fs::read(dir.path().join("es.pem")).unwrap();
    let confused = hs256(&pem, r#"{"alg":"HS256"}"#, r#"{"sub":"x"}"#);
    let only_es = {
        let mut c = verifying(dir.path(), &key);
        c.jwt.hs256_secret_file = None;
        c.jwt.load_keys(dir.path()).unwrap();
        c
    };
    let mut x = extractor(&only_es);
    with_identity(&mut x, &Req::get("/").bearer(&confused), |id| {
        assert!(id.jwt_invalid && id.jwt_sub.is_none());
    });
    // And a signature of the wrong length for ES256.
    let (hp, _) = good.rsplit_once('.').unwrap();
    let short = format!("{hp}.{}", encode_url(&[1u8; 32]));
    with_identity(&mut x, &Req::get("/").bearer(&short), |id| {
        assert!(id.jwt_invalid)
    });
}

/// Runs `openssl` with `args` in `dir` (the test tools install it).
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (installed by .ci/prereqs.sh) runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An RS256 token for `payload`, signed by openssl with `key` (a PEM file in `dir`).
fn rs256(dir: &Path, key: &str, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        encode_url(header.as_bytes()),
        encode_url(payload.as_bytes())
    );
    std::fs::write(dir.join("input"), &input).unwrap();
    let sig = openssl(dir, &["dgst", "-sha256", "-sign", key, "input"]);
    format!("{input}.{}", encode_url(&sig))
}

/// RS256 tokens signed by openssl with 2048- and 3072-bit keys verify
/// against their public keys (SPKI and PKCS#1 PEM), and nothing else does:
/// another key, a changed payload, a signature not below the modulus, an
/// RS256 header on an ES256 signature, or an RS256 token when only ES256
/// keys are configured.
#[test]
fn jwt_rs256_verification_with_keys_made_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (bits, name) in [("2048", "a"), ("3072", "b"), ("2048", "stranger")] {
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                &format!("{name}.key"),
            ],
        );
    }
    openssl(d, &["pkey", "-in", "a.key", "-pubout", "-out", "a.pem"]);
    openssl(
        d,
        &["rsa", "-in", "b.key", "-RSAPublicKey_out", "-out", "b.pem"],
    );
    assert!(std::fs::read_to_string(d.join("b.pem"))
        .unwrap()
        .contains("BEGIN RSA PUBLIC KEY"));
    let es = es_key();
    let mut cfg = verifying(d, &es);
    cfg.jwt.public_keys = ["a.pem", "b.pem", "es.pem"]
        .iter()
        .map(|p| key_file(Path::new(p)))
        .collect();
    cfg.jwt.load_keys(d).unwrap();
    assert_eq!(cfg.jwt.keys.rs256.len(), 2);
    let mut x = extractor(&cfg);
    let header = r#"{"alg":"RS256","typ":"JWT"}"#;
    for key in ["a.key", "b.key"] {
        let good = rs256(d, key, header, r#"{"sub":"svc-rsa"}"#);
        with_identity(&mut x, &Req::get("/").bearer(&good), |id| {
            assert_eq!(s(id.jwt_sub).unwrap(), "svc-rsa", "{key}");
            assert!(!id.jwt_invalid, "{key}");
        });
        // The same signature over another payload.
        let (_, sig) = good.rsplit_once('.').unwrap();
        let forged = format!(
            "{}.{}.{sig}",
            encode_url(header.as_bytes()),
            encode_url(br#"{"sub":"admin"}"#)
        );
        with_identity(&mut x, &Req::get("/").bearer(&forged), |id| {
            assert!(id.jwt_invalid && id.jwt_sub.is_none(), "{key}");
        });
    }
    let stranger = rs256(d, "stranger.key", header, r#"{"sub":"svc-rsa"}"#);
    with_identity(&mut x, &Req::get("/").bearer(&stranger), |id| {
        assert!(id.jwt_invalid)
    });
    // A "signature" equal to the modulus (not below it) never opens.
    let modulus = {
        let text =
            String::from_utf8(openssl(d, &["rsa", "-in", "a.key", "-noout", "-modulus"])).unwrap();
        let hex = text.trim().trim_start_matches("Modulus=");
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    assert_eq!(modulus.len(), 256);
    let input = format!(
        "{}.{}",
        encode_url(header.as_bytes()),
        encode_url(br#"{"sub":"svc-rsa"}"#)
    );
    let at_n = format!("{input}.{}", encode_url(&modulus));
    with_identity(&mut x, &Req::get("/").bearer(&at_n), |id| {
        assert!(id.jwt_invalid)
    });
    // An ES256 signature under an RS256 header, and the reverse.
    let es_tok = es256(&es, r#"{"sub":"svc-rsa"}"#);
    let (_, es_sig) = es_tok.rsplit_once('.').unwrap();
    with_identity(
        &mut x,
        &Req::get("/").bearer(&format!("{input}.{es_sig}")),
        |id| assert!(id.jwt_invalid),
    );
    let rs_as_es = rs256(d, "a.key", r#"{"alg":"ES256"}"#, r#"{"sub":"svc-rsa"}"#);
    with_identity(&mut x, &Req::get("/").bearer(&rs_as_es), |id| {
        assert!(id.jwt_invalid)
    });
    // Only ES256 keys configured: an RS256 token does not verify.
    let mut x = extractor(&verifying(d, &es));
    let good = rs256(d, "a.key", header, r#"{"sub":"svc-rsa"}"#);
    with_identity(&mut x, &Req::get("/").bearer(&good), |id| {
        assert!(id.jwt_invalid)
    });
}

const RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDJhOx2wMC7YJfs6DhyXptG0j5J
U7YD36cnj7+qk+gL9XdGHyIOfY6y84/8YF7PnnD9VQaQ4hIsLj32vsB47odUBYvb
xtcGeyxJzROQmZUbwM+DjvYgPzi21oz4Yqsa5DohdfemkFfBqwrNnkvHkw83++Da
TOGEwszh0XsErmbLzQIDAQAB
-----END PUBLIC KEY-----
";

#[test]
fn bad_key_files_are_reported_with_their_config_position() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("short.key"), "too short\n").unwrap();
    std::fs::write(d.join("rsa.pem"), RSA_PUB).unwrap();
    std::fs::write(d.join("garbage.pem"), "hello").unwrap();
    std::fs::write(
        d.join("priv.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        d.join("broken.pem"),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let mut jwt = JwtConfig {
        verify: true,
        hs256_secret_file: Some(key_file(Path::new("short.key"))),
        public_keys: [
            "rsa.pem",
            "garbage.pem",
            "priv.pem",
            "broken.pem",
            "missing.pem",
        ]
        .iter()
        .map(|p| key_file(Path::new(p)))
        .collect(),
        ..JwtConfig::default()
    };
    let errors = jwt.load_keys(d).unwrap_err();
    let msgs: Vec<String> = errors.iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(msgs.len(), 6, "{msgs:#?}");
    assert!(
        msgs[0].contains("is 9 bytes; HS256 needs at least 32"),
        "{}",
        msgs[0]
    );
    assert!(
        msgs[1].contains("RSA modulus has 1024 bits; at least 2048 are required"),
        "{}",
        msgs[1]
    );
    assert!(msgs[2].contains("not a PEM public key"), "{}", msgs[2]);
    assert!(msgs[3].contains("is a private key"), "{}", msgs[3]);
    assert!(
        msgs[4].contains("neither a P-256 (ES256) nor an RSA (RS256) public key"),
        "{}",
        msgs[4]
    );
    assert!(msgs[5].contains("cannot read public key"), "{}", msgs[5]);
    assert!(errors
        .iter()
        .all(|(f, _)| f.line == 3 && f.col == 9 && f.path.starts_with(d)));
}

#[test]
fn session_cookies_by_configured_order() {
    let mut x = extractor(&IdentityConfig::default());
    let r = Req::get("/")
        .header("Cookie", "theme=dark; PHPSESSID=php1")
        .header("cookie", "session=\"s-1\"; session=s-2");
    with_identity(&mut x, &r, |id| assert_eq!(s(id.session).unwrap(), "s-1"));
    let r = Req::get("/").header("Cookie", "JSESSIONID=j; jsessionid=lower;connect.sid=c");
    with_identity(&mut x, &r, |id| assert_eq!(s(id.session).unwrap(), "j"));
    let r = Req::get("/").header("Cookie", "session=; other=1; broken");
    with_identity(&mut x, &r, |id| assert_eq!(id.session, None));
    let cfg = IdentityConfig {
        session_cookies: vec!["sid".into()],
        ..IdentityConfig::default()
    };
    let mut x = extractor(&cfg);
    with_identity(
        &mut x,
        &Req::get("/").header("Cookie", "session=a; sid=b"),
        |id| {
            assert_eq!(s(id.session).unwrap(), "b");
        },
    );
}

#[test]
fn login_credentials_from_json_form_and_basic() {
    let mut x = extractor(&IdentityConfig::default());
    let r = Req::post(
        "/api/login",
        "application/json",
        r#"{"user":{"email":" Alice@Example.COM "},"password":"pa\u0073s w0rd"}"#,
    );
    with_identity(&mut x, &r, |id| {
        assert_eq!(id.login_route, Some(0));
        assert_eq!(s(id.user).unwrap(), "alice@example.com");
        assert_eq!(s(id.password).unwrap(), "pass w0rd");
    });
    let r = Req::post(
        "/oauth/token",
        "application/x-www-form-urlencoded",
        "grant_type=password&username=Bob%40Example.com&password=p%26ss+word",
    );
    with_identity(&mut x, &r, |id| {
        assert_eq!(id.login_route, Some(3));
        assert_eq!(s(id.user).unwrap(), "bob@example.com");
        assert_eq!(s(id.password).unwrap(), "p&ss word");
    });
    // Basic: on any route; the body's username wins on a login route.
    let basic = |u: &str| format!("Basic {}", encode_url(u.as_bytes()));
    let r = Req::get("/api/items").header("Authorization", &basic("Carol:se:cret"));
    with_identity(&mut x, &r, |id| {
        assert_eq!(id.login_route, None);
        assert_eq!(s(id.user).unwrap(), "carol");
        assert_eq!(s(id.password).unwrap(), "se:cret");
        assert_eq!(id.token, None);
    });
    let r =
        Req::post("/login", "", r#"{"username":"dave"}"#).header("Authorization", &basic("eve:x"));
    with_identity(&mut x, &r, |id| assert_eq!(s(id.user).unwrap(), "dave"));
    // Bad base64, and a Basic value without a user.
    for v in ["Basic !!!!", "Basic ", "Basic Og=="] {
        with_identity(&mut x, &Req::get("/").header("Authorization", v), |id| {
            assert_eq!((id.user, id.password), (None, None), "{v}");
        });
    }
    // Not a login route, or not its method: the body is not read.
    let r = Req::post("/api/profile", "application/json", r#"{"username":"x"}"#);
    with_identity(&mut x, &r, |id| {
        assert_eq!((id.login_route, id.user), (None, None))
    });
    let mut r = Req::post("/login", "application/json", r#"{"username":"x"}"#);
    r.method = "PUT";
    with_identity(&mut x, &r, |id| assert_eq!(id.user, None));
    // A username longer than MAX_FIELD is not an identity.
    let long = format!(r#"{{"username":"{}"}}"#, "u".repeat(2000));
    with_identity(&mut x, &Req::post("/login", "", &long), |id| {
        assert_eq!(id.user, None)
    });
}

#[test]
fn configured_login_routes_and_disabling_them() {
    let cfg = IdentityConfig {
        login: vec![LoginRoute {
            method: "*".into(),
            user_fields: vec!["handle".into()],
            password_fields: vec!["secret".into()],
            failure_status: vec![400],
            ..LoginRoute::new("/v*/auth")
        }],
        ..IdentityConfig::default()
    };
    let mut x = extractor(&cfg);
    let r = Req::post(
        "/v2/auth",
        "application/json",
        r#"{"username":"no","handle":"Yes","secret":"s"}"#,
    );
    with_identity(&mut x, &r, |id| {
        assert_eq!(id.login_route, Some(0));
        assert_eq!(s(id.user).unwrap(), "yes");
        assert_eq!(s(id.password).unwrap(), "s");
    });
    assert_eq!(x.login_routes()[0].failure_status, [400]);
    with_identity(
        &mut x,
        &Req::post("/login", "", r#"{"username":"x"}"#),
        |id| {
            assert_eq!(id.login_route, None);
        },
    );
    let mut x = extractor(&IdentityConfig {
        login: Vec::new(),
        ..IdentityConfig::default()
    });
    with_identity(
        &mut x,
        &Req::post("/login", "", r#"{"username":"x"}"#),
        |id| {
            assert_eq!((id.login_route, id.user), (None, None));
        },
    );
}

#[test]
fn client_ip_and_the_policy_facts_layout() {
    use rampart_policy_loader::measures::IdentityProp;
    let mut x = extractor(&IdentityConfig::default());
    let mut r = Req::get("/")
        .header("X-Forwarded-For", "203.0.113.50, 10.0.0.1")
        .header("X-Api-Key", "k")
        .header("Cookie", "session=abc");
    r.peer = "10.0.0.2".parse().unwrap();
    r.trusted = true;
    with_identity(&mut x, &r, |id| {
        assert_eq!(id.client_ip, "203.0.113.50".parse::<IpAddr>().unwrap());
        let f = id.facts();
        assert_eq!(
            f[IdentityProp::ClientIp.index()],
            Some(&b"203.0.113.50"[..])
        );
        assert_eq!(f[IdentityProp::ApiKey.index()], Some(&b"k"[..]));
        assert_eq!(f[IdentityProp::Session.index()], Some(&b"abc"[..]));
        assert_eq!(f[IdentityProp::Token.index()], None);
    });
    // The same headers from an untrusted peer: the peer.
    r.peer = "198.51.100.9".parse().unwrap();
    r.trusted = false;
    with_identity(&mut x, &r, |id| {
        assert_eq!(id.client_ip_text(), b"198.51.100.9");
    });
    r.peer = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
    with_identity(&mut x, &r, |id| {
        assert_eq!(
            id.client_ip_text(),
            b"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
        );
    });
}
