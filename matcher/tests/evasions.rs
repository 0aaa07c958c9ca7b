//! Common evasions are normalised away and caught.

mod common;

use common::{hit, scanner, Req};
use rampart_matcher::{FieldKind as K, Signature, Target, Transform as T};

fn args(id: &str, pat: &str, chain: &[T]) -> Signature {
    Signature::regex(
        id,
        pat,
        vec![
            Target::all(K::ArgValue),
            Target::all(K::JsonValue),
            Target::all(K::FormValue),
        ],
    )
    .with_transforms(chain)
}

#[test]
fn encodings_case_and_nuls() {
    let chain = [
        T::UrlDecode,
        T::UrlDecode,
        T::HtmlEntityDecode,
        T::JsDecode,
        T::RemoveNulls,
        T::CompressWhitespace,
        T::Lowercase,
    ];
    let mut s = scanner(&[
        args("xss", "<script>", &chain),
        args("sqli", "union select", &chain),
    ]);
    for q in [
        "q=%3Cscript%3E",
        "q=%253Cscript%253E",
        "q=%26lt%3BScRiPt%26gt%3B",
        "q=%26%23x3c%3Bscript%26%2362%3B",
        "q=%5Cx3cscript%5Cx3e",
        "q=%5Cu003cscript%5Cu003e",
        "q=%3Cscr%00ipt%3E",
    ] {
        assert_eq!(
            Req::get(&format!("/?{q}")).scan(&mut s),
            vec![hit("xss", K::ArgValue, "q")],
            "{q}"
        );
    }
    for q in [
        "q=UNION%20SELECT",
        "q=UnIoN%09%0A%20sElEcT",
        "q=union%00%20select",
        "q=%2575nion+select",
    ] {
        let r = Req::get(&format!("/?{q}"));
        let got = r.scan(&mut s);
        if q.contains('+') {
            // `+` is only a space after PlusToSpace, which this chain lacks.
            assert!(got.is_empty(), "{q}");
        } else {
            assert_eq!(got, vec![hit("sqli", K::ArgValue, "q")], "{q}");
        }
    }
}

#[test]
fn path_tricks() {
    let sig = Signature::literal("passwd", "/etc/passwd", vec![Target::all(K::Path)])
        .with_transforms(&[T::UrlDecode, T::Utf8Normalize, T::NormalizePath]);
    let mut s = scanner(&[sig]);
    for p in [
        "/etc/passwd",
        "/a/../etc/passwd",
        "/static/..%2f..%2fetc%2fpasswd",
        "/x/%2e%2e/etc//passwd",
        "/x/..%5cetc%5cpasswd",
        "/x/%c0%ae%c0%ae/etc/./passwd",
    ] {
        assert_eq!(
            Req::get(p).scan(&mut s),
            vec![hit("passwd", K::Path, "")],
            "{p}"
        );
    }
    assert!(Req::get("/etc/passwords-policy").scan(&mut s).is_empty());
}

#[test]
fn json_unicode_escapes_and_nesting() {
    let mut s = scanner(&[args("xss", "<script>", &[T::Lowercase])]);
    let body = br#"{"a":{"b":[{"c":{"d":"\u003CSCRIPT\u003e"}}]}}"#;
    assert_eq!(
        Req::post("/", "application/json", body).scan(&mut s),
        vec![hit("xss", K::JsonValue, "d")]
    );
    let body = br#"{"list":["ok","\u003cscript>"]}"#;
    assert_eq!(
        Req::post("/", "application/json; charset=utf-8", body).scan(&mut s),
        vec![hit("xss", K::JsonValue, "list")]
    );
}

#[test]
fn nested_form_encoding() {
    let mut s = scanner(&[args(
        "sqli",
        "' or 1=1",
        &[T::UrlDecode, T::PlusToSpace, T::UrlDecode, T::Lowercase],
    )]);
    // The value is itself an urlencoded string (double-encoded form data).
    let body = b"data=x%3D%2527%2BOR%2B1%253D1";
    assert_eq!(
        Req::post("/", "application/x-www-form-urlencoded", body).scan(&mut s),
        vec![hit("sqli", K::FormValue, "data")]
    );
}

#[test]
fn double_encoding_is_flagged() {
    let mut s = scanner(&[args("x", "zzz", &[T::UrlDecode])]);
    let mut m = s.new_matches();
    Req::get("/?q=%252e%252e").scan_into(&mut s, &mut m);
    assert!(m
        .anomalies
        .contains(rampart_matcher::Anomalies::DOUBLE_ENCODED));
}
