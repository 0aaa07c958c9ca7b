//! Benign API traffic: REST reads with ids and query args, JSON writes of
//! orders, users and search filters, form logins, a few multipart uploads,
//! with the header sets browsers, mobile apps and SDKs really send.

use super::encode::{base64url, percent, percent_light, Json};
use super::words::*;
use super::CorpusRequest;
use crate::rng::Rng;

/// Who is calling: decides the header set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Browser,
    Mobile,
    Sdk,
}

pub const HOST: &str = "api.example-shop.com";

pub fn client(rng: &mut Rng) -> Client {
    match rng.below(10) {
        0..=4 => Client::Browser,
        5..=7 => Client::Mobile,
        _ => Client::Sdk,
    }
}

pub fn uuid(rng: &mut Rng) -> String {
    let h = rng.hex(32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

fn alnum(rng: &mut Rng, len: usize) -> String {
    rng.string_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        len,
    )
}

/// A JWT-shaped bearer token with a real base64url JSON header and payload.
pub fn jwt(rng: &mut Rng) -> String {
    let header = base64url(br#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#);
    let iat = 1_714_000_000 + rng.below(5_000_000);
    let payload = format!(
        r#"{{"sub":"usr_{}","iss":"https://auth.example-shop.com/","aud":"api","iat":{},"exp":{},"scope":"{}","tenant":"{}"}}"#,
        alnum(rng, 12),
        iat,
        iat + 3600,
        rng.pick(&[
            "read write",
            "orders:read orders:write",
            "profile email",
            "catalog:read"
        ]),
        rng.pick(&["eu-1", "us-2", "ap-1"]),
    );
    let mut sig = Vec::with_capacity(256);
    for _ in 0..256 {
        sig.push(rng.below(256) as u8);
    }
    format!(
        "{}.{}.{}",
        header,
        base64url(payload.as_bytes()),
        base64url(&sig)
    )
}

fn cookie_header(rng: &mut Rng) -> String {
    let mut parts = vec![
        format!("session={}", rng.hex(48)),
        format!(
            "_ga=GA1.2.{}.{}",
            rng.range(100_000_000, 999_999_999),
            1_700_000_000 + rng.below(20_000_000)
        ),
    ];
    if rng.chance(0.6) {
        parts.push(format!(
            "_gid=GA1.2.{}.{}",
            rng.range(100_000_000, 999_999_999),
            1_714_000_000 + rng.below(100_000)
        ));
    }
    if rng.chance(0.5) {
        parts.push(format!("theme={}", rng.pick(&["dark", "light", "system"])));
    }
    if rng.chance(0.5) {
        parts.push(format!("lang={}", rng.pick(LOCALES)));
    }
    if rng.chance(0.6) {
        parts.push(format!("cart_id={}", uuid(rng)));
    }
    if rng.chance(0.4) {
        parts.push(format!(
            "csrf_token={}",
            base64url(&rng.next_u64().to_le_bytes()) + &alnum(rng, 22)
        ));
    }
    if rng.chance(0.3) {
        parts.push("consent=%7B%22analytics%22%3Atrue%2C%22ads%22%3Afalse%7D".to_string());
    }
    if rng.chance(0.3) {
        parts.push(format!(
            "recently_viewed={}",
            (0..rng.range(1, 5))
                .map(|_| rng.range(1000, 99999).to_string())
                .collect::<Vec<_>>()
                .join("%2C")
        ));
    }
    parts.join("; ")
}

/// The headers a client of this kind sends (without Host, Content-Type and Content-Length).
pub fn headers(rng: &mut Rng, who: Client, write: bool) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = Vec::with_capacity(14);
    let mut add = |n: &str, v: String| h.push((n.to_string(), v));
    match who {
        Client::Browser => {
            add("User-Agent", rng.pick(BROWSER_UAS).to_string());
            add("Accept", rng.pick(ACCEPTS).to_string());
            add("Accept-Language", rng.pick(ACCEPT_LANGUAGES).to_string());
            add("Accept-Encoding", rng.pick(ACCEPT_ENCODINGS).to_string());
            if rng.chance(0.5) {
                add("Authorization", format!("Bearer {}", jwt(rng)));
            }
            if write || rng.chance(0.3) {
                add("Origin", "https://www.example-shop.com".to_string());
            }
            let page = rng.pick(PAGES);
            add("Referer", format!("https://www.example-shop.com{page}"));
            add("Cookie", cookie_header(rng));
            if rng.chance(0.5) {
                add(
                    "sec-ch-ua",
                    "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\""
                        .to_string(),
                );
                add("sec-ch-ua-mobile", "?0".to_string());
                add("sec-ch-ua-platform", "\"Windows\"".to_string());
            }
            if rng.chance(0.4) {
                add("Sec-Fetch-Site", "same-site".to_string());
                add("Sec-Fetch-Mode", "cors".to_string());
            }
        }
        Client::Mobile => {
            add("User-Agent", rng.pick(MOBILE_UAS).to_string());
            add("Accept", "application/json".to_string());
            add("Accept-Language", rng.pick(LOCALES).to_string());
            add("Accept-Encoding", "gzip".to_string());
            add("Authorization", format!("Bearer {}", jwt(rng)));
            add("X-Device-Id", uuid(rng));
            add(
                "X-App-Version",
                format!("5.{}.{}", rng.range(8, 12), rng.below(4)),
            );
        }
        Client::Sdk => {
            add("User-Agent", rng.pick(SDK_UAS).to_string());
            add("Accept", rng.pick(&["application/json", "*/*"]).to_string());
            add("Accept-Encoding", rng.pick(ACCEPT_ENCODINGS).to_string());
            if rng.chance(0.5) {
                add("Authorization", format!("Bearer {}", jwt(rng)));
            } else {
                add("X-Api-Key", format!("sk_live_{}", alnum(rng, 32)));
            }
            if rng.chance(0.5) {
                add("Idempotency-Key", uuid(rng));
            }
        }
    }
    add("X-Request-Id", uuid(rng));
    if rng.chance(0.4) {
        add(
            "traceparent",
            format!("00-{}-{}-01", rng.hex(32), rng.hex(16)),
        );
    }
    h
}

/// Assembles a request: Host first, Content-Type and Content-Length for bodies.
pub fn finish(
    method: &'static str,
    target: String,
    mut hdrs: Vec<(String, String)>,
    content_type: Option<String>,
    body: Vec<u8>,
) -> CorpusRequest {
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(hdrs.len() + 3);
    headers.push((b"Host".to_vec(), HOST.as_bytes().to_vec()));
    for (n, v) in hdrs.drain(..) {
        headers.push((n.into_bytes(), v.into_bytes()));
    }
    if let Some(ct) = content_type {
        headers.push((b"Content-Type".to_vec(), ct.into_bytes()));
    }
    if !body.is_empty() || method != "GET" && method != "DELETE" {
        headers.push((
            b"Content-Length".to_vec(),
            body.len().to_string().into_bytes(),
        ));
    }
    CorpusRequest {
        method,
        target: target.into_bytes(),
        headers,
        body,
        attack: None,
    }
}

pub fn id(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 | 1 => rng.range(1, 9_999_999).to_string(),
        2 => uuid(rng),
        _ => format!(
            "{}_{}",
            rng.pick(&["ord", "usr", "prd", "inv", "sub"]),
            alnum(rng, 14)
        ),
    }
}

pub fn rest_path(rng: &mut Rng) -> String {
    let v = rng.pick(&["v1", "v1", "v2"]);
    let res = rng.pick(RESOURCES);
    match rng.below(4) {
        0 => format!("/api/{v}/{res}"),
        1 | 2 => format!("/api/{v}/{res}/{}", id(rng)),
        _ => format!("/api/{v}/{res}/{}/{}", id(rng), rng.pick(SUBRESOURCES)),
    }
}

pub fn search_words(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.chance(0.6) {
        let adjective = *rng.pick(ADJECTIVES);
        s.push_str(adjective);
        s.push(' ');
    }
    let noun = *rng.pick(NOUNS);
    s.push_str(noun);
    s
}

/// `a=1&b=2` query args of a list endpoint.
pub fn query_args(rng: &mut Rng) -> Vec<(String, String)> {
    let mut args: Vec<(String, String)> = Vec::new();
    let n = rng.range(1, 6);
    for _ in 0..n {
        let (k, v) = match rng.below(12) {
            0 => ("page".into(), rng.range(1, 40).to_string()),
            1 => (
                rng.pick(&["per_page", "limit", "page_size"]).to_string(),
                rng.pick(&["10", "20", "25", "50", "100"]).to_string(),
            ),
            2 => ("sort".into(), rng.pick(SORT_FIELDS).to_string()),
            3 => ("order".into(), rng.pick(&["asc", "desc"]).to_string()),
            4 => (
                format!(
                    "filter[{}]",
                    rng.pick(&["status", "category", "brand", "color"])
                ),
                rng.pick(STATUSES).to_string(),
            ),
            5 => ("fields".into(), "id,name,price,updated_at".into()),
            6 => (
                "include".into(),
                rng.pick(&["items", "customer", "items,customer", "shipping_address"])
                    .to_string(),
            ),
            7 => (
                rng.pick(&["q", "search", "query"]).to_string(),
                search_words(rng),
            ),
            8 => (
                "since".into(),
                format!(
                    "2024-0{}-{:02}T{:02}:00:00Z",
                    rng.range(1, 9),
                    rng.range(1, 28),
                    rng.below(24)
                ),
            ),
            9 => (
                "cursor".into(),
                base64url(
                    format!(
                        "{{\"id\":{},\"ts\":{}}}",
                        rng.below(1_000_000),
                        1_714_000_000 + rng.below(1_000_000)
                    )
                    .as_bytes(),
                ),
            ),
            10 => (
                rng.pick(&["min_price", "max_price"]).to_string(),
                format!("{}.{:02}", rng.range(1, 500), rng.below(100)),
            ),
            _ => (
                rng.pick(&["currency", "lang", "region"]).to_string(),
                rng.pick(&["EUR", "en", "eu-west", "USD", "fr"]).to_string(),
            ),
        };
        args.push((k, v));
    }
    args
}

pub fn encode_query(args: &[(String, String)]) -> String {
    args.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_light(k.as_bytes()),
                percent(v.as_bytes(), false)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn price(rng: &mut Rng) -> Json {
    Json::num(format!("{}.{:02}", rng.range(1, 900), rng.below(100)))
}

fn person(rng: &mut Rng) -> (String, String, String) {
    let f = rng.pick(FIRST_NAMES).to_string();
    let l = rng.pick(LAST_NAMES).to_string();
    let email = format!(
        "{}.{}{}@{}",
        f.to_lowercase(),
        l.to_lowercase(),
        rng.below(100),
        rng.pick(EMAIL_DOMAINS)
    );
    (f, l, email)
}

fn address(rng: &mut Rng) -> Json {
    let (city, zip, country) = *rng.pick(CITIES);
    Json::obj(vec![
        (
            "line1",
            Json::str(format!("{} {}", rng.range(1, 250), rng.pick(STREETS))),
        ),
        (
            "line2",
            if rng.chance(0.3) {
                Json::str(format!("Apt {}", rng.range(1, 80)))
            } else {
                Json::Null
            },
        ),
        ("city", Json::str(city)),
        ("postal_code", Json::str(zip)),
        ("country", Json::str(country)),
    ])
}

fn order(rng: &mut Rng) -> Json {
    let items = (0..rng.range(1, 12))
        .map(|_| {
            Json::obj(vec![
                (
                    "sku",
                    Json::str(format!(
                        "SKU-{}-{}",
                        rng.range(1000, 9999),
                        rng.pick(&["S", "M", "L", "XL", "OS"])
                    )),
                ),
                (
                    "name",
                    Json::str(format!("{} {}", rng.pick(ADJECTIVES), rng.pick(NOUNS))),
                ),
                ("quantity", Json::num(rng.range(1, 4))),
                ("unit_price", price(rng)),
                (
                    "options",
                    Json::obj(vec![
                        (
                            "color",
                            Json::str(*rng.pick(&["navy", "black", "white", "olive", "sand"])),
                        ),
                        ("gift_wrap", Json::Bool(rng.chance(0.1))),
                    ]),
                ),
            ])
        })
        .collect();
    Json::obj(vec![
        ("customer_id", Json::str(id(rng))),
        ("currency", Json::str(*rng.pick(CURRENCIES))),
        ("items", Json::Arr(items)),
        ("shipping_address", address(rng)),
        ("billing_same_as_shipping", Json::Bool(rng.chance(0.8))),
        (
            "notes",
            if rng.chance(0.5) {
                Json::str(*rng.pick(SENTENCES))
            } else {
                Json::Null
            },
        ),
        (
            "coupon",
            if rng.chance(0.2) {
                Json::str(format!("SPRING{}", rng.range(10, 30)))
            } else {
                Json::Null
            },
        ),
        (
            "metadata",
            Json::obj(vec![
                (
                    "source",
                    Json::str(*rng.pick(&["web", "ios", "android", "pos"])),
                ),
                (
                    "campaign",
                    Json::str(*rng.pick(&[
                        "spring_sale",
                        "newsletter_0424",
                        "none",
                        "retargeting",
                    ])),
                ),
            ]),
        ),
    ])
}

fn user(rng: &mut Rng) -> Json {
    let (f, l, email) = person(rng);
    let mut pairs = vec![
        ("email", Json::str(email)),
        ("first_name", Json::str(f)),
        ("last_name", Json::str(l)),
        (
            "phone",
            Json::str(format!(
                "+{} {} {} {}",
                rng.range(1, 49),
                rng.range(100, 999),
                rng.range(100, 999),
                rng.range(1000, 9999)
            )),
        ),
        ("locale", Json::str(*rng.pick(LOCALES))),
        ("marketing_opt_in", Json::Bool(rng.chance(0.4))),
        ("address", address(rng)),
        (
            "preferences",
            Json::obj(vec![
                ("newsletter", Json::Bool(rng.chance(0.5))),
                ("theme", Json::str(*rng.pick(&["dark", "light"]))),
                (
                    "notifications",
                    Json::Arr(vec![Json::str("email"), Json::str("push")]),
                ),
            ]),
        ),
        (
            "tags",
            Json::Arr(
                (0..rng.below(4))
                    .map(|_| {
                        Json::str(*rng.pick(&[
                            "vip",
                            "beta",
                            "wholesale",
                            "newsletter",
                            "returning",
                        ]))
                    })
                    .collect(),
            ),
        ),
    ];
    if rng.chance(0.3) {
        pairs.push((
            "bio",
            Json::str(format!("{}. {}.", rng.pick(SENTENCES), rng.pick(SENTENCES))),
        ));
    }
    Json::obj(pairs)
}

fn search(rng: &mut Rng) -> Json {
    Json::obj(vec![
        ("query", Json::str(search_words(rng))),
        (
            "filters",
            Json::obj(vec![
                (
                    "price",
                    Json::obj(vec![
                        ("gte", Json::num(rng.range(0, 50))),
                        ("lte", Json::num(rng.range(60, 900))),
                    ]),
                ),
                (
                    "brand",
                    Json::Arr(
                        (0..rng.range(1, 3))
                            .map(|_| {
                                Json::str(*rng.pick(&[
                                    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne",
                                ]))
                            })
                            .collect(),
                    ),
                ),
                ("in_stock", Json::Bool(true)),
                (
                    "rating",
                    Json::obj(vec![("gte", Json::num(rng.range(1, 4)))]),
                ),
            ]),
        ),
        (
            "sort",
            Json::Arr(vec![Json::obj(vec![
                (
                    "field",
                    Json::str(*rng.pick(&["rating", "price", "relevance"])),
                ),
                ("order", Json::str(*rng.pick(&["asc", "desc"]))),
            ])]),
        ),
        (
            "page",
            Json::obj(vec![
                ("size", Json::num(*rng.pick(&[12, 24, 48]))),
                ("cursor", Json::Null),
            ]),
        ),
        (
            "facets",
            Json::Arr(vec![
                Json::str("brand"),
                Json::str("color"),
                Json::str("size"),
            ]),
        ),
    ])
}

fn events(rng: &mut Rng) -> Json {
    let n = rng.range(2, 24);
    let session = uuid(rng);
    Json::obj(vec![
        ("session_id", Json::str(session)),
        (
            "events",
            Json::Arr(
                (0..n)
                    .map(|_| {
                        Json::obj(vec![
                            ("type", Json::str(*rng.pick(EVENT_TYPES))),
                            (
                                "ts",
                                Json::num(1_714_000_000_000u64 + rng.below(100_000_000) as u64),
                            ),
                            ("page", Json::str(*rng.pick(PAGES))),
                            (
                                "properties",
                                Json::obj(vec![
                                    ("product_id", Json::num(rng.range(1000, 99999))),
                                    ("position", Json::num(rng.range(1, 48))),
                                    ("value", price(rng)),
                                ]),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn review(rng: &mut Rng) -> Json {
    Json::obj(vec![
        ("product_id", Json::num(rng.range(1000, 99999))),
        ("rating", Json::num(rng.range(1, 5))),
        (
            "title",
            Json::str(format!("{} {}", rng.pick(ADJECTIVES), rng.pick(NOUNS))),
        ),
        (
            "body",
            Json::str(
                (0..rng.range(2, 6))
                    .map(|_| *rng.pick(SENTENCES))
                    .collect::<Vec<_>>()
                    .join(". "),
            ),
        ),
        ("verified_purchase", Json::Bool(rng.chance(0.8))),
        ("order_id", Json::str(id(rng))),
        ("locale", Json::str(*rng.pick(LOCALES))),
        (
            "pros",
            Json::Arr(
                (0..rng.range(1, 3))
                    .map(|_| Json::str(*rng.pick(ADJECTIVES)))
                    .collect(),
            ),
        ),
    ])
}

/// A JSON body of some business object.
pub fn json_body(rng: &mut Rng) -> (&'static str, Json) {
    match rng.below(6) {
        0 | 1 => ("orders", order(rng)),
        2 => ("users", user(rng)),
        3 => ("search", search(rng)),
        4 => ("events", events(rng)),
        _ => ("reviews", review(rng)),
    }
}

fn form_login(rng: &mut Rng, who: Client) -> CorpusRequest {
    let (_, _, email) = person(rng);
    let len = rng.range(10, 18);
    let pw = rng.string_from(
        b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!@#%*",
        len,
    );
    let body = format!(
        "username={}&password={}&remember_me={}&csrf_token={}",
        percent(email.as_bytes(), true),
        percent(pw.as_bytes(), true),
        rng.pick(&["on", "off"]),
        alnum(rng, 40),
    );
    let h = headers(rng, who, true);
    finish(
        "POST",
        "/auth/login".into(),
        h,
        Some("application/x-www-form-urlencoded".into()),
        body.into_bytes(),
    )
}

pub fn boundary(rng: &mut Rng) -> String {
    format!("----WebKitFormBoundary{}", alnum(rng, 16))
}

/// One multipart part: (field name, file name, content type, content).
pub type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A `multipart/form-data` body from its parts.
pub fn multipart_body(boundary: &str, parts: &[Part<'_>]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, filename, ct, content) in parts {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(f) = filename {
            b.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        b.extend_from_slice(b"\r\n");
        if let Some(ct) = ct {
            b.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        b.extend_from_slice(b"\r\n");
        b.extend_from_slice(content);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    b
}

pub fn csv(rng: &mut Rng) -> Vec<u8> {
    let mut s = String::from("sku,name,quantity,unit_price\n");
    for _ in 0..rng.range(5, 40) {
        s.push_str(&format!(
            "SKU-{},{} {},{},{}.{:02}\n",
            rng.range(1000, 9999),
            rng.pick(ADJECTIVES),
            rng.pick(NOUNS),
            rng.range(1, 20),
            rng.range(1, 300),
            rng.below(100)
        ));
    }
    s.into_bytes()
}

fn png(rng: &mut Rng) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0@\0\0\0@\x08\x06\0\0\0".to_vec();
    for _ in 0..rng.range(600, 2500) {
        b.push(rng.below(256) as u8);
    }
    b.extend_from_slice(b"\0\0\0\0IEND\xaeB`\x82");
    b
}

fn upload(rng: &mut Rng, who: Client) -> CorpusRequest {
    let bd = boundary(rng);
    let body = if rng.chance(0.5) {
        let content = csv(rng);
        let name = format!("import-2024-{:02}.csv", rng.range(1, 12));
        multipart_body(
            &bd,
            &[
                ("purpose", None, None, b"inventory_import"),
                ("file", Some(&name), Some("text/csv"), &content),
            ],
        )
    } else {
        let content = png(rng);
        multipart_body(
            &bd,
            &[
                (
                    "alt",
                    None,
                    None,
                    format!("{} {}", rng.pick(ADJECTIVES), rng.pick(NOUNS)).as_bytes(),
                ),
                ("avatar", Some("avatar.png"), Some("image/png"), &content),
            ],
        )
    };
    let h = headers(rng, who, true);
    let target = format!(
        "/api/v1/{}/{}/{}",
        rng.pick(&["users", "products", "imports"]),
        id(rng),
        rng.pick(&["avatar", "files", "upload"])
    );
    finish(
        "POST",
        target,
        h,
        Some(format!("multipart/form-data; boundary={bd}")),
        body,
    )
}

/// One benign request.
pub fn request(rng: &mut Rng) -> CorpusRequest {
    let who = client(rng);
    match rng.below(100) {
        0..=47 => {
            let path = rest_path(rng);
            let target = if rng.chance(0.65) {
                format!("{path}?{}", encode_query(&query_args(rng)))
            } else {
                path
            };
            let h = headers(rng, who, false);
            finish("GET", target, h, None, Vec::new())
        }
        48..=51 => {
            let h = headers(rng, who, false);
            let target = rng
                .pick(&[
                    "/healthz",
                    "/api/v1/me",
                    "/api/v1/config",
                    "/api/v2/feature-flags",
                ])
                .to_string();
            finish("GET", target, h, None, Vec::new())
        }
        52..=87 => {
            let (res, body) = json_body(rng);
            let (method, target) = match rng.below(4) {
                0 | 1 => ("POST", format!("/api/v1/{res}")),
                2 => ("PUT", format!("/api/v1/{res}/{}", id(rng))),
                _ => ("PATCH", format!("/api/v1/{res}/{}", id(rng))),
            };
            let h = headers(rng, who, true);
            let ct = rng
                .pick(&["application/json", "application/json; charset=utf-8"])
                .to_string();
            finish(method, target, h, Some(ct), body.to_bytes(rng.chance(0.3)))
        }
        88..=90 => {
            let h = headers(rng, who, false);
            finish(
                "DELETE",
                format!("/api/v1/{}/{}", rng.pick(RESOURCES), id(rng)),
                h,
                None,
                Vec::new(),
            )
        }
        91..=96 => form_login(rng, who),
        _ => upload(rng, who),
    }
}
