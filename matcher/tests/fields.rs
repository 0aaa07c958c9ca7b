//! Every field kind is extracted, named and scanned as documented.

mod common;

use common::{hit, scanner, Req};
use rampart_matcher::{FieldKind as K, Signature, Target, Transform as T};

fn sig(id: &str, pat: &str, kind: K) -> Signature {
    Signature::regex(id, pat, vec![Target::all(kind)])
}

#[test]
fn request_line_fields() {
    let mut s = scanner(&[
        sig("m", "^PUT$", K::Method),
        sig("t", "evil", K::Target),
        sig("p", "/admin/", K::Path),
        sig("q", "debug=1", K::Query),
    ]);
    let r = Req {
        method: b"PUT".to_vec(),
        ..Req::get("/admin/x?debug=1&evil=2")
    };
    assert_eq!(
        r.scan(&mut s),
        vec![
            hit("m", K::Method, ""),
            hit("p", K::Path, ""),
            hit("q", K::Query, ""),
            hit("t", K::Target, "")
        ]
    );
    // The path stops at `?`: "evil" is only in the target and the query.
    assert_eq!(
        Req::get("/ok?x=evil").scan(&mut s),
        vec![hit("t", K::Target, "")]
    );
}

#[test]
fn query_arguments_by_name_and_value() {
    let mut s = scanner(&[
        sig("an", "^ad", K::ArgName),
        sig("av", "union select", K::ArgValue).with_transforms(&[
            T::UrlDecode,
            T::PlusToSpace,
            T::Lowercase,
        ]),
    ]);
    let got = Req::get("/s?admin=1&q=1+UNION%20Select+2").scan(&mut s);
    assert_eq!(
        got,
        vec![hit("an", K::ArgName, "admin"), hit("av", K::ArgValue, "q")]
    );
}

#[test]
fn named_targets_only_see_their_field() {
    let ua = Signature::regex(
        "ua",
        "sqlmap",
        vec![Target::named(K::HeaderValue, "User-Agent")],
    )
    .with_transforms(&[T::Lowercase]);
    let mut s = scanner(&[ua]);
    let r = Req::get("/")
        .header("user-agent", b"SQLMap/1.7")
        .header("Referer", b"sqlmap");
    assert_eq!(
        r.scan(&mut s),
        vec![hit("ua", K::HeaderValue, "user-agent")]
    );
    let r = Req::get("/").header("Referer", b"sqlmap");
    assert!(r.scan(&mut s).is_empty());
}

#[test]
fn headers_and_cookies() {
    let mut s = scanner(&[
        sig("hn", "^x-evil$", K::HeaderName).with_transforms(&[T::Lowercase]),
        sig("cn", "^debug$", K::CookieName),
        sig("cv", "<script", K::CookieValue).with_transforms(&[T::UrlDecode]),
    ]);
    let r = Req::get("/")
        .header("X-Evil", b"1")
        .header("Cookie", b"session=abc; debug=%3Cscript%3E");
    assert_eq!(
        r.scan(&mut s),
        vec![
            hit("cn", K::CookieName, "debug"),
            hit("cv", K::CookieValue, "debug"),
            hit("hn", K::HeaderName, "X-Evil")
        ]
    );
}

#[test]
fn json_keys_and_values_with_escapes_decoded() {
    let mut s = scanner(&[
        sig("jk", "^__proto__$", K::JsonKey),
        sig("jv", "<script>", K::JsonValue),
    ]);
    let body = br#"{"user":{"name":"\u003cscript>alert(1)"},"items":[{"__proto__":{"x":1}}]}"#;
    let got = Req::post("/api", "application/json", body).scan(&mut s);
    assert_eq!(
        got,
        vec![
            hit("jk", K::JsonKey, "__proto__"),
            hit("jv", K::JsonValue, "name")
        ]
    );
}

#[test]
fn form_bodies() {
    let mut s = scanner(&[
        sig("fv", "' or '1'='1", K::FormValue).with_transforms(&[T::UrlDecode, T::PlusToSpace])
    ]);
    let got = Req::post(
        "/login",
        "application/x-www-form-urlencoded",
        b"user=admin%27+or+%271%27%3D%271&pw=x",
    )
    .scan(&mut s);
    assert_eq!(got, vec![hit("fv", K::FormValue, "user")]);
}

#[test]
fn multipart_parts() {
    let mut s = scanner(&[
        sig("fname", r"\.php$", K::MultipartFilename),
        sig("val", "<\\?php", K::MultipartValue),
        sig("name", "^upload$", K::MultipartName),
    ]);
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"shell.php\"\r\nContent-Type: image/png\r\n\r\n<?php system($_GET['c']); ?>\r\n--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n--XyZ--\r\n";
    let got = Req::post("/upload", "multipart/form-data; boundary=XyZ", body).scan(&mut s);
    assert_eq!(
        got,
        vec![
            hit("fname", K::MultipartFilename, "upload"),
            hit("name", K::MultipartName, "upload"),
            hit("val", K::MultipartValue, "upload")
        ]
    );
}

#[test]
fn xml_text_and_attributes() {
    let mut s = scanner(&[sig("x", "/etc/passwd", K::XmlText)]);
    let body = b"<?xml version=\"1.0\"?><order id=\"/etc/passwd\"><note>fine</note></order>";
    assert_eq!(
        Req::post("/o", "application/xml", body).scan(&mut s),
        vec![hit("x", K::XmlText, "id")]
    );
}

#[test]
fn raw_body_is_always_scanned_even_when_malformed() {
    let mut s = scanner(&[
        sig("b", "DROP TABLE", K::Body),
        sig("jv", "never", K::JsonValue),
    ]);
    let mut m = s.new_matches();
    Req::post("/api", "application/json", b"{\"a\": DROP TABLE users").scan_into(&mut s, &mut m);
    assert!(matches!(m.body, rampart_matcher::BodyParse::Malformed(_)));
    assert_eq!(common::found(&s, &m), vec![hit("b", K::Body, "")]);
}

#[test]
fn a_field_kind_nobody_targets_is_not_extracted() {
    // Only the body is targeted: the JSON tokenizer does not even run.
    let mut s = scanner(&[sig("b", "x", K::Body)]);
    let mut m = s.new_matches();
    Req::post("/api", "application/json", b"{\"a\":\"x\"").scan_into(&mut s, &mut m);
    assert_eq!(m.body, rampart_matcher::BodyParse::None);
    assert_eq!(m.len(), 1);
}

#[test]
fn repeated_json_keys_are_scanned_once_and_values_under_them_always() {
    let mut s = scanner(&[
        sig("jk", "^__proto__$", K::JsonKey),
        sig("jv", "<script>", K::JsonValue),
    ]);
    let body =
        br#"[{"q":"ok","a":1},{"q":"fine","__proto__":{"x":1}},{"q":"<script>","__proto__":2}]"#;
    let got = Req::post("/api", "application/json", body).scan(&mut s);
    assert_eq!(
        got,
        vec![
            hit("jk", K::JsonKey, "__proto__"),
            hit("jv", K::JsonValue, "q")
        ]
    );
    // A key first seen benign and later in another object is still the same key.
    let body = br#"[{"__proto__":1},{"b":2}]"#;
    assert_eq!(
        Req::post("/api", "application/json", body).scan(&mut s),
        vec![hit("jk", K::JsonKey, "__proto__")]
    );
    // Keys are recognised by the order they came in last time; a new key
    // where a known one was expected (same length, same place) is new.
    let mut s = scanner(&[sig("cc", "^cc$", K::JsonKey)]);
    let body = br#"[{"aa":1,"bb":2},{"aa":1,"bb":2},{"aa":1,"cc":3},{"cc":4,"bb":5}]"#;
    assert_eq!(
        Req::post("/api", "application/json", body).scan(&mut s),
        vec![hit("cc", K::JsonKey, "cc")]
    );
}
