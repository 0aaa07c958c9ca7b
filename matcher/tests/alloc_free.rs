//! Scanning allocates nothing once a scanner is warm: 10,000 varied requests
//! (benign and attacks, every field kind) with a counting global allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::Req;
use rampart_matcher::{
    FieldKind as K, Matcher, ScanLimits, Scanner, SigFlags, Signature, Target, Transform as T,
};

struct Counting;

static COUNT: AtomicUsize = AtomicUsize::new(0);
static ON: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn ten_thousand_scans_allocate_nothing() {
    let args = vec![
        Target::all(K::ArgValue),
        Target::all(K::FormValue),
        Target::all(K::JsonValue),
        Target::all(K::CookieValue),
    ];
    let sigs = vec![
        Signature::regex("sqli", r"union\s+(all\s+)?select", args.clone())
            .with_transforms(&[T::UrlDecode, T::Lowercase]),
        Signature::regex("xss", r"<script[^>]*>", args.clone())
            .with_transforms(&[T::UrlDecode, T::HtmlEntityDecode, T::Lowercase])
            .with_flags(SigFlags {
                start_of_match: true,
                ..SigFlags::default()
            }),
        Signature::literal(
            "lfi",
            "/etc/passwd",
            vec![Target::all(K::Path), Target::all(K::ArgValue)],
        )
        .with_transforms(&[T::UrlDecode, T::NormalizePath]),
        Signature::regex(
            "ua",
            "^(sqlmap|nikto)",
            vec![Target::named(K::HeaderValue, "user-agent")],
        )
        .with_transforms(&[T::Lowercase]),
        Signature::regex("edge", r"\Aadmin\z", vec![Target::all(K::JsonKey)]),
        Signature::regex(
            "any",
            "zz+y",
            vec![
                Target::all(K::Body),
                Target::all(K::MultipartValue),
                Target::all(K::XmlText),
            ],
        ),
    ];
    let m = Matcher::compile(&sigs).expect("compile");
    let mut s = Scanner::new(&m, ScanLimits::default()).expect("scanner");
    let mut out = s.new_matches();
    let reqs = [
        Req::get("/api/v1/users/42?page=2&sort=name").header("User-Agent", b"Mozilla/5.0").header("Cookie", b"sid=abc; theme=dark"),
        Req::get("/search?q=1%20UNION%20SELECT%20pass&x=%3Cscript%3E").header("User-Agent", b"sqlmap/1.7"),
        Req::get("/files/..%2f..%2fetc/passwd"),
        Req::post("/api/orders", "application/json", br#"{"admin":true,"items":[{"sku":"A1","qty":2}],"note":"zzzy <script>"}"#),
        Req::post("/login", "application/x-www-form-urlencoded", b"user=bob&pass=1'+union+select+1--"),
        Req::post("/upload", "multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nzzzzy\r\n--b--\r\n"),
        Req::post("/x", "application/xml", b"<a b=\"zzy\">text</a>"),
    ];
    // Warm-up: the first scans size internal regex caches.
    for r in reqs.iter().cycle().take(70) {
        r.scan_into(&mut s, &mut out);
    }
    let pairs: Vec<_> = reqs.iter().map(|r| r.header_pairs()).collect();
    let mut total = 0;
    ON.store(true, Ordering::SeqCst);
    for (r, h) in reqs.iter().zip(&pairs).cycle().take(10_000) {
        r.scan_with(h, &mut s, &mut out);
        total += out.len();
    }
    ON.store(false, Ordering::SeqCst);
    assert!(total > 5_000, "the requests must actually match ({total})");
    assert_eq!(
        COUNT.load(Ordering::SeqCst),
        0,
        "allocations while scanning"
    );
}
