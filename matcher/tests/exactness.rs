//! Joining fields into one scan must never change what matches: no match
//! across fields, anchors at field edges, per-field semantics for newlines and
//! buffer-edge assertions, prefiltered patterns confirmed.

mod common;

use common::{hit, scanner, Req};
use rampart_matcher::{FieldKind as K, SigFlags, Signature, Target};

fn hv(id: &str, pat: &str) -> Signature {
    Signature::regex(id, pat, vec![Target::all(K::HeaderValue)])
}

fn headers(values: &[&[u8]]) -> Req {
    let mut r = Req::get("/");
    for (i, v) in values.iter().enumerate() {
        r = r.header(&format!("h{i}"), v);
    }
    r
}

#[test]
fn a_match_spanning_two_fields_is_not_a_match() {
    let mut s = scanner(&[hv("span", "a[^z]*b"), hv("lit", "ab")]);
    assert!(headers(&[b"xxa", b"bxx"]).scan(&mut s).is_empty());
    assert_eq!(
        headers(&[b"xxa", b"aab"]).scan(&mut s),
        vec![
            hit("lit", K::HeaderValue, "h1"),
            hit("span", K::HeaderValue, "h1")
        ]
    );
}

#[test]
fn a_literal_list_entry_spanning_fields_is_not_a_match() {
    let sig = Signature {
        pattern: rampart_matcher::Pattern::Literals(vec![b"a\nb".to_vec(), b"zzz".to_vec()]),
        ..hv("l", "x")
    };
    let mut s = scanner(&[sig]);
    assert!(headers(&[b"xa", b"bx"]).scan(&mut s).is_empty());
    assert_eq!(
        headers(&[b"x", b"a\nb"]).scan(&mut s),
        vec![hit("l", K::HeaderValue, "h1")]
    );
}

#[test]
fn anchors_bind_to_each_field() {
    let mut s = scanner(&[hv("start", "^admin"), hv("end", "root$")]);
    let got = headers(&[b"x", b"admin=1", b"user root", b"xadmin root2"]).scan(&mut s);
    assert_eq!(
        got,
        vec![
            hit("end", K::HeaderValue, "h2"),
            hit("start", K::HeaderValue, "h1")
        ]
    );
}

#[test]
fn anchors_inside_multiline_values_keep_their_own_meaning() {
    let plain = Signature::regex("plain", "^foo", vec![Target::all(K::Body)]);
    let multi =
        Signature::regex("multi", "^bar", vec![Target::all(K::Body)]).with_flags(SigFlags {
            multiline: true,
            ..SigFlags::default()
        });
    let mut s = scanner(&[plain, multi]);
    // `^foo` without multiline only matches at the start of the body.
    let got = Req::post("/", "text/plain", b"x\nfoo\nbar").scan(&mut s);
    assert_eq!(got, vec![hit("multi", K::Body, "")]);
    let got = Req::post("/", "text/plain", b"foo\nx").scan(&mut s);
    assert_eq!(got, vec![hit("plain", K::Body, "")]);
}

#[test]
fn buffer_edge_assertions_see_one_field() {
    let mut s = scanner(&[hv("a", r"\Aadmin"), hv("z", r"admin\z")]);
    let got = headers(&[b"x", b"admin-x", b"y-admin", b"zz"]).scan(&mut s);
    assert_eq!(
        got,
        vec![
            hit("a", K::HeaderValue, "h1"),
            hit("z", K::HeaderValue, "h2")
        ]
    );
}

#[test]
fn fields_as_short_as_a_per_field_signature_are_still_scanned() {
    // Edge assertions put these in the per-field database; a field shorter
    // than its shortest signature is not scanned alone, one of exactly that
    // length must be.
    let mut s = scanner(&[hv("five", r"\A[0-9]{5}\z"), hv("six", r"\Aabcdef")]);
    let got = headers(&[b"1234", b"12345", b"123456", b"abcde", b"abcdef"]).scan(&mut s);
    assert_eq!(
        got,
        vec![
            hit("five", K::HeaderValue, "h1"),
            hit("six", K::HeaderValue, "h4")
        ]
    );
}

#[test]
fn prefiltered_patterns_are_confirmed() {
    // Back-references and look-arounds are beyond Hyperscan: prefiltered, then confirmed.
    let mut s = scanner(&[hv("backref", r"(\w+)=\1"), hv("look", r"select(?=\s+\*)")]);
    let report = s.matcher().report().clone();
    assert_eq!(
        report.prefiltered,
        vec!["backref".to_string(), "look".to_string()]
    );
    assert_eq!(
        headers(&[b"abc=abc", b"abc=abd"]).scan(&mut s),
        vec![hit("backref", K::HeaderValue, "h0")]
    );
    assert_eq!(
        headers(&[b"select name", b"select  *"]).scan(&mut s),
        vec![hit("look", K::HeaderValue, "h1")]
    );
}

#[test]
fn each_signature_field_pair_is_reported_once_with_offsets() {
    let sig = hv("x", "ab").with_flags(SigFlags {
        start_of_match: true,
        ..SigFlags::default()
    });
    let var = hv("v", "c[0-9]+d").with_flags(SigFlags {
        start_of_match: true,
        ..SigFlags::default()
    });
    let mut s = scanner(&[sig, var]);
    let mut m = s.new_matches();
    headers(&[b"ab ab ab", b"zzc123d"]).scan_into(&mut s, &mut m);
    let list: Vec<_> = m
        .iter()
        .map(|x| (x.signature, x.start, x.end, m.fragment(x).to_vec()))
        .collect();
    assert_eq!(
        list,
        vec![
            (0, Some(0), 2, b"ab".to_vec()),
            (1, Some(2), 7, b"c123d".to_vec())
        ]
    );
}

#[test]
fn credentials_are_redacted_in_fragments() {
    let sig = Signature::regex(
        "tok",
        "Bearer [A-Za-z0-9]+",
        vec![Target::named(K::HeaderValue, "authorization")],
    )
    .with_flags(SigFlags {
        start_of_match: true,
        ..SigFlags::default()
    });
    let mut s = scanner(&[sig]);
    let mut m = s.new_matches();
    Req::get("/")
        .header("Authorization", b"Bearer abcdef123")
        .scan_into(&mut s, &mut m);
    let x = m.iter().next().expect("match");
    assert_eq!(m.fragment(x), b"Bear** *********");
}

/// Chains that leave a plain value alone (or only lowercase it) are scanned
/// through one merged database per class; a value any member chain would
/// change takes every chain's own path. Either way each signature must see
/// exactly what its own chain produces, including the match position.
#[test]
fn merged_chains_see_what_their_own_chain_produces() {
    use rampart_matcher::Transform as T;
    let mut s = scanner(&[
        hv("raw", "Drop").with_transforms(&[]),
        hv("url", "Drop table").with_transforms(&[T::UrlDecode]),
        hv("lower", "union").with_transforms(&[T::Lowercase]),
        hv("url-lower", "select x").with_transforms(&[T::UrlDecode, T::Lowercase]),
        hv("plus-lower", "or 1").with_transforms(&[T::PlusToSpace, T::Lowercase]),
    ]);
    // Plain values: as they are for the raw class, lowercased for the other.
    assert_eq!(
        headers(&[b"Drop table t", b"UNION all", b"a SELECT X b"]).scan(&mut s),
        vec![
            hit("lower", K::HeaderValue, "h1"),
            hit("raw", K::HeaderValue, "h0"),
            hit("url", K::HeaderValue, "h0"),
            hit("url-lower", K::HeaderValue, "h2"),
        ]
    );
    // A case-sensitive raw signature must not see a lowercased copy.
    assert!(headers(&[b"drop table"]).scan(&mut s).is_empty());
    // Values some member chain changes: each chain decodes its own way.
    assert_eq!(
        headers(&[b"Drop%20table", b"x+OR+1", b"SELECT%20X"]).scan(&mut s),
        vec![
            hit("plus-lower", K::HeaderValue, "h1"),
            hit("raw", K::HeaderValue, "h0"),
            hit("url", K::HeaderValue, "h0"),
            hit("url-lower", K::HeaderValue, "h2"),
        ]
    );
    // The position is the one in the chain's output of the right field.
    let mut m = s.new_matches();
    headers(&[b"x", b"zz SELECT X"]).scan_into(&mut s, &mut m);
    let found: Vec<_> = m.iter().collect();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].start, found[0].end), (Some(3), 11));
}

/// The method, target and path are merged too (each has one value, so one
/// call instead of one per chain): a plain path is scanned once, and a path
/// some chain changes still reaches every chain decoded its own way.
#[test]
fn chains_on_the_path_merge_for_plain_paths_only() {
    use rampart_matcher::Transform as T;
    let path = |id: &str, lit: &str, chain: &[T]| {
        Signature::literal(id, lit, vec![Target::all(K::Path)]).with_transforms(chain)
    };
    let mut s = scanner(&[
        path("raw", "/Admin", &[]),
        path("decoded", "/etc/passwd", &[T::UrlDecode]),
        path("normal", "/etc/passwd", &[T::UrlDecode, T::NormalizePath]),
        path("lower", "/private", &[T::UrlDecode, T::Lowercase]),
    ]);
    assert_eq!(
        Req::get("/Admin/etc/passwd/PRIVATE").scan(&mut s),
        vec![
            hit("decoded", K::Path, ""),
            hit("lower", K::Path, ""),
            hit("normal", K::Path, ""),
            hit("raw", K::Path, ""),
        ]
    );
    // Case-sensitive raw signature, lowercased copy: no match.
    assert!(Req::get("/admin").scan(&mut s).is_empty());
    // Only the normalising chain sees through `/./`; only decoding chains see `%2F`.
    assert_eq!(
        Req::get("/etc/./passwd").scan(&mut s),
        vec![hit("normal", K::Path, "")]
    );
    assert_eq!(
        Req::get("/etc%2Fpasswd/%50rivate").scan(&mut s),
        vec![
            hit("decoded", K::Path, ""),
            hit("lower", K::Path, ""),
            hit("normal", K::Path, ""),
        ]
    );
}

/// Numbers skip the signatures that cannot match one, and are too short for
/// the ones that can; but a number under a name a number signature names
/// still reaches it, and the signatures that can match any number see every
/// long enough one.
#[test]
fn numbers_reach_exactly_the_signatures_that_could_match_them() {
    use rampart_matcher::Transform as T;
    let jv = |id: &str, pat: &str, chain: &[T]| {
        Signature::regex(id, pat, vec![Target::all(K::JsonValue)]).with_transforms(chain)
    };
    let mut named = Signature::regex(
        "page-size",
        r"^\s*0*[1-9][0-9]{3,4}\s*$",
        vec![Target::named(K::JsonValue, "limit")],
    )
    .with_transforms(&[T::UrlDecode]);
    named.flags.caseless = true;
    let mut s = scanner(&[
        jv(
            "overflow",
            r"^\s*-?[0-9]{20,}(?:\.[0-9]+)?\s*$",
            &[T::UrlDecode],
        ),
        jv("sqli", r"1\s+or\s+1", &[T::UrlDecode, T::Lowercase]),
        jv("exp", r"1e5", &[T::Lowercase]),
        jv("words", r"[a-z]{3}", &[]),
        named,
    ]);
    let body = br#"{"limit": 5000, "qty": 123456789012345678901, "price": 11.37,
        "n": 1E5, "note": "1 or 1", "offset": 5000}"#;
    let got = Req::post("/", "application/json", body).scan(&mut s);
    assert_eq!(
        got,
        vec![
            hit("exp", K::JsonValue, "n"),
            hit("overflow", K::JsonValue, "qty"),
            hit("page-size", K::JsonValue, "limit"),
            hit("sqli", K::JsonValue, "note"),
        ]
    );
}
