//! The compiled-database cache: reused when the set is unchanged, rebuilt
//! (never fatal) when it is missing, stale, corrupt or unwritable.

use rampart_matcher::{
    FieldKind as K, Matcher, RequestView, ScanLimits, Scanner, Signature, Target, Transform as T,
};

fn sigs(extra: &str) -> Vec<Signature> {
    vec![
        Signature::regex("sqli", r"union\s+select", vec![Target::all(K::ArgValue)])
            .with_transforms(&[T::UrlDecode, T::Lowercase]),
        Signature::literal("lfi", "/etc/passwd", vec![Target::all(K::Path)]),
        Signature::regex("extra", extra, vec![Target::all(K::HeaderValue)]),
        Signature::regex("pre", r"(a)\1b", vec![Target::all(K::HeaderValue)]),
    ]
}

fn hits(m: &Matcher) -> usize {
    let mut s = Scanner::new(m, ScanLimits::default()).expect("scanner");
    let mut out = s.new_matches();
    let headers: [(&[u8], &[u8]); 1] = [(b"x", b"zaab evil")];
    let view = RequestView {
        method: b"GET",
        target: b"/etc/passwd?q=1%20UNION%20select",
        headers: &headers,
        body: b"",
    };
    s.scan_request(&view, &mut out).expect("scan");
    out.len()
}

#[test]
fn second_compile_comes_from_the_cache_and_matches_the_same() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, oa) = Matcher::compile_cached(&sigs("evil"), dir.path()).expect("compile");
    assert!(!a.report().from_cache);
    assert!(oa.warning.is_none(), "{:?}", oa.warning);
    assert!(oa.path.exists());
    let (b, ob) = Matcher::compile_cached(&sigs("evil"), dir.path()).expect("cached");
    assert!(b.report().from_cache);
    assert_eq!(oa.path, ob.path);
    assert_eq!(b.report().prefiltered, vec!["pre".to_string()]);
    assert_eq!(hits(&a), 4);
    assert_eq!(hits(&b), 4);
    // A changed set gets its own file.
    let (c, oc) = Matcher::compile_cached(&sigs("other"), dir.path()).expect("compile");
    assert!(!c.report().from_cache);
    assert_ne!(oc.path, oa.path);
    assert_eq!(hits(&c), 3);
}

#[test]
fn a_corrupt_cache_is_ignored_and_rewritten() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, o) = Matcher::compile_cached(&sigs("evil"), dir.path()).expect("compile");
    let mut bytes = std::fs::read(&o.path).expect("read");
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    bytes.truncate(n - 7);
    std::fs::write(&o.path, &bytes).expect("corrupt");
    let (m, o2) = Matcher::compile_cached(&sigs("evil"), dir.path()).expect("recompiled");
    assert!(!m.report().from_cache);
    assert!(
        o2.warning
            .as_deref()
            .is_some_and(|w| w.contains("ignoring cache")),
        "{:?}",
        o2.warning
    );
    assert_eq!(hits(&m), 4);
    let (m3, o3) = Matcher::compile_cached(&sigs("evil"), dir.path()).expect("cached again");
    assert!(m3.report().from_cache && o3.warning.is_none());
}

#[test]
fn an_unwritable_cache_directory_is_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("file");
    let (m, o) = Matcher::compile_cached(&sigs("evil"), &file).expect("compiled anyway");
    assert!(
        o.warning
            .as_deref()
            .is_some_and(|w| w.contains("cannot write cache")),
        "{:?}",
        o.warning
    );
    assert_eq!(hits(&m), 4);
}
