//! Bad signatures are rejected with every problem listed, each naming the
//! signature and where it was defined.

use rampart_matcher::{FieldKind as K, Matcher, Origin, Pattern, Problem, Signature, Target};

fn at(line: u32) -> Origin {
    Origin {
        file: "signatures/test.toml".into(),
        line,
        column: 1,
    }
}

fn sig(id: &str, pat: &str, line: u32) -> Signature {
    Signature::regex(id, pat, vec![Target::all(K::Path)]).with_origin(at(line))
}

#[test]
fn every_problem_is_reported_with_its_signature_and_position() {
    let sigs = vec![
        sig("ok", "abc", 1),
        sig("bad-regex", "(unclosed", 5),
        sig("empty", "", 9),
        sig("ok", "def", 13),
        sig("matches-empty", "a*", 17),
        Signature::regex("no-targets", "x", vec![]).with_origin(at(21)),
        Signature {
            pattern: Pattern::Literals(vec![b"a".to_vec(), Vec::new()]),
            ..sig("empty-entry", "x", 25)
        },
    ];
    let errs = Matcher::compile(&sigs).expect_err("invalid set").0;
    let got: Vec<(Option<String>, u32, String)> = errs
        .iter()
        .map(|e| {
            (
                e.id.clone(),
                e.origin.as_ref().map(|o| o.line).unwrap_or(0),
                format!("{:?}", std::mem::discriminant(&e.problem)),
            )
        })
        .collect();
    let ids: Vec<_> = got
        .iter()
        .map(|(id, line, _)| (id.clone().unwrap_or_default(), *line))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("bad-regex".into(), 5),
            ("empty".into(), 9),
            ("ok".into(), 13),
            ("matches-empty".into(), 17),
            ("no-targets".into(), 21),
            ("empty-entry".into(), 25),
        ]
    );
    assert!(matches!(errs[0].problem, Problem::InvalidPattern(_)));
    assert_eq!(errs[1].problem, Problem::EmptyPattern);
    assert_eq!(
        errs[2].problem,
        Problem::DuplicateId {
            first: "signatures/test.toml:1:1".into()
        }
    );
    assert_eq!(errs[3].problem, Problem::MatchesEmpty);
    assert_eq!(errs[4].problem, Problem::NoTargets);
    let text = errs[0].to_string();
    assert!(
        text.starts_with("signatures/test.toml:5:1: signature `bad-regex`: invalid pattern"),
        "{text}"
    );
}

#[test]
fn a_construct_no_engine_supports_is_a_clear_error() {
    // Recursion: neither Hyperscan (even as a prefilter) nor fancy-regex has it.
    let errs = Matcher::compile(&[sig("recursive", r"\((?R)?\)", 3)])
        .expect_err("unsupported")
        .0;
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].id.as_deref(), Some("recursive"));
    assert!(
        matches!(
            errs[0].problem,
            Problem::InvalidPattern(_) | Problem::Unconfirmable { .. }
        ),
        "{:?}",
        errs[0].problem
    );
}

#[test]
fn validate_reports_without_compiling() {
    assert!(Matcher::validate(&[sig("a", "x", 1)]).is_ok());
    let errs = Matcher::validate(&[sig("a", "x", 1), sig("a", "y", 2)])
        .expect_err("dup")
        .0;
    assert_eq!(errs.len(), 1);
}

#[test]
fn an_empty_set_compiles_and_matches_nothing() {
    let m = Matcher::compile(&[]).expect("empty set");
    let mut s = rampart_matcher::Scanner::new(&m, Default::default()).expect("scanner");
    let mut out = s.new_matches();
    let view = rampart_matcher::RequestView {
        method: b"GET",
        target: b"/",
        headers: &[],
        body: b"",
    };
    s.scan_request(&view, &mut out).expect("scan");
    assert!(out.is_empty());
}
