//! Bodies longer than the inspection buffer are scanned as streams: a
//! pattern split across reads is still found.

use rampart_matcher::{
    FieldKind as K, Matcher, ScanLimits, Scanner, Signature, Target, Transform as T,
};

fn scanner(sigs: &[Signature]) -> Scanner {
    Scanner::new(
        &Matcher::compile(sigs).expect("compile"),
        ScanLimits::default(),
    )
    .expect("scanner")
}

#[test]
fn a_pattern_split_at_every_offset_is_found() {
    let mut s = scanner(&[
        Signature::regex("re", r"union\s+select", vec![Target::all(K::Body)])
            .with_transforms(&[T::Lowercase]),
        Signature::literal("lit", "/etc/passwd", vec![Target::all(K::Body)]),
    ]);
    for payload in [&b"xx UNION  SELECT yy"[..], b"cat /etc/passwd now"] {
        for cut in 0..=payload.len() {
            let mut m = s.new_matches();
            let mut body = s.start_body().expect("stream");
            s.feed_body(&mut body, &payload[..cut], &mut m)
                .expect("feed");
            s.feed_body(&mut body, &payload[cut..], &mut m)
                .expect("feed");
            s.finish_body(body, &mut m).expect("finish");
            assert_eq!(
                m.len(),
                1,
                "cut at {cut} of {:?}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}

#[test]
fn byte_at_a_time_and_end_anchored_patterns() {
    let mut s = scanner(&[Signature::regex(
        "tail",
        r"--end$",
        vec![Target::all(K::Body)],
    )]);
    let mut m = s.new_matches();
    let mut body = s.start_body().expect("stream");
    for b in b"data data --end" {
        s.feed_body(&mut body, std::slice::from_ref(b), &mut m)
            .expect("feed");
    }
    s.finish_body(body, &mut m).expect("finish");
    let x = m.iter().next().expect("end-anchored match");
    assert_eq!((x.kind, x.end), (K::Body, 15));
}

#[test]
fn streams_are_reused_without_carrying_state() {
    let mut s = scanner(&[Signature::literal("ab", "ab", vec![Target::all(K::Body)])]);
    for _ in 0..1000 {
        let mut m = s.new_matches();
        let mut body = s.start_body().expect("stream");
        s.feed_body(&mut body, b"xxa", &mut m).expect("feed");
        s.finish_body(body, &mut m).expect("finish");
        // A fresh body that starts with "b" must not complete the previous "a".
        let mut body = s.start_body().expect("stream");
        s.feed_body(&mut body, b"bxx", &mut m).expect("feed");
        s.finish_body(body, &mut m).expect("finish");
        assert!(m.is_empty());
    }
}

#[test]
fn signatures_needing_the_whole_value_are_reported_as_not_streamed() {
    let m = Matcher::compile(&[
        Signature::regex("decoded", "x", vec![Target::all(K::Body)])
            .with_transforms(&[T::UrlDecode]),
        Signature::regex("raw", "y", vec![Target::all(K::Body)]),
    ])
    .expect("compile");
    assert_eq!(m.report().not_streamed, vec!["decoded".to_string()]);
}

#[test]
fn a_pooled_body_stream_is_ended_in_place_and_reused_clean() {
    let mut s = scanner(&[Signature::literal("ab", "ab", vec![Target::all(K::Body)])]);
    assert!(s.streams_bodies());
    let mut body = s.start_body().expect("stream");
    let mut m = s.new_matches();
    s.feed_body(&mut body, b"xxa", &mut m).expect("feed");
    s.end_body(&mut body, &mut m).expect("end");
    s.feed_body(&mut body, b"bxx", &mut m).expect("feed");
    s.end_body(&mut body, &mut m).expect("end");
    assert!(m.is_empty(), "an ended body must not carry into the next");
    s.feed_body(&mut body, b"xxa", &mut m).expect("feed");
    s.abandon_body(&mut body).expect("abandon");
    s.feed_body(&mut body, b"bxx", &mut m).expect("feed");
    s.end_body(&mut body, &mut m).expect("end");
    assert!(
        m.is_empty(),
        "an abandoned body must not carry into the next"
    );
    s.feed_body(&mut body, b"xxa", &mut m).expect("feed");
    s.feed_body(&mut body, b"bxx", &mut m).expect("feed");
    s.end_body(&mut body, &mut m).expect("end");
    assert_eq!(m.len(), 1);
}

#[test]
fn chunks_longer_than_the_transform_buffer_are_fed_in_pieces() {
    let mut s = scanner(&[
        Signature::literal("needle", "needle", vec![Target::all(K::Body)])
            .with_transforms(&[T::Lowercase]),
    ]);
    let mut big = vec![b'a'; 200 * 1024];
    // Straddles the 64 KiB piece boundary.
    big[64 * 1024 - 3..64 * 1024 + 3].copy_from_slice(b"NEEDLE");
    let mut m = s.new_matches();
    let mut body = s.start_body().expect("stream");
    s.feed_body(&mut body, &big, &mut m).expect("feed");
    s.end_body(&mut body, &mut m).expect("end");
    assert_eq!(m.len(), 1);
    let mut copy = s.new_matches();
    copy.copy_from(&m);
    assert!(copy.matched(0));
    assert_eq!(copy.len(), 1);
}

#[test]
fn response_bodies_are_scanned_only_by_response_signatures() {
    let mut s = scanner(&[
        Signature::regex("pan", r"\b4[0-9]{15}\b", vec![Target::all(K::ResponseBody)]),
        Signature::literal("req", "4111", vec![Target::all(K::Body)]),
    ]);
    assert!(s.scans_responses());
    let mut m = s.new_matches();
    s.scan_response(b"{\"card\":\"4111111111111111\"}", &mut m)
        .expect("scan");
    let hits: Vec<_> = m.iter().map(|x| (x.kind, x.start, x.end)).collect();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].0, K::ResponseBody);
    s.scan_response(b"nothing here", &mut m).expect("scan");
    assert!(m.is_empty());
}
