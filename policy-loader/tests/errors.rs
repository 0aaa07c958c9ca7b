//! Golden error messages: broken packs written to disk, loaded for real, and
//! every diagnostic's `file:line:col: id: message` compared line by line.

mod common;

use common::{assert_lines, Fixture};

/// Two valid signatures every pack here can refer to.
const SIGS: &str = r#"
    [[signature]]
    id = "sqli.union-select"
    pattern = 'union\s+select'
    flags = ["caseless"]
    fields = ["@values"]
    transforms = ["url_decode"]
    tags = ["sqli"]

    [[signature]]
    id = "xss.script-tag"
    literal = "<script"
    flags = ["caseless"]
    fields = ["@values"]
    transforms = ["url_decode"]
    tags = ["xss"]
"#;

fn fixture_with(policies: &str) -> Fixture {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            ("policies/a.toml", policies),
        ],
    );
    f
}

fn errors_of(policies: &str) -> Vec<String> {
    fixture_with(policies).errors(&["p1"], None)
}

#[test]
fn a_valid_pack_loads_and_its_errors_display_with_a_count() {
    let f = fixture_with(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"
        "#,
    );
    let p = f.policy(&["p1"], None);
    assert_eq!(p.policies.len(), 1);
    assert_eq!(p.signatures.len(), 2);

    // The same pack with one typo fails, and `LoadErrors` displays a count
    // and one indented line per problem.
    f.file(
        "p1/policies/a.toml",
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-selec" }
        action = "block"
        "#,
    );
    let e = f.load(&["p1"], None).expect_err("typo");
    assert_eq!(
        f.normalise(&e.to_string()),
        "1 problem(s) in the policy packs:\n  p1/policies/a.toml:5:27: RP-A: unknown signature `sqli.union-selec` (did you mean `sqli.union-select`?)\n"
    );
}

#[test]
fn toml_syntax_error() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a
        severity = "high"
        "#,
    );
    assert_lines(
        &e,
        &["p1/policies/a.toml:3:10: TOML syntax error: invalid basic string, expected `\"`"],
    );
}

#[test]
fn unknown_field_in_a_policy_suggests_the_closest() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        prority = 10
        condition = { signature = "sqli.union-select" }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:5:1: RP-A: unknown field `prority` in a [[policy]] (did you mean `priority`?); allowed: id, name, description, severity, tags, mode, priority, score, phase, condition, action, escalate, example",
    ]);
}

#[test]
fn missing_required_keys() {
    let e = errors_of(
        r#"
        [[policy]]
        name = "no id"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"

        [[policy]]
        id = "RP-EMPTY"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:1:1: this [[policy]] has no `id`",
        "p1/policies/a.toml:7:1: RP-EMPTY: this policy has no `name`",
        "p1/policies/a.toml:7:1: RP-EMPTY: a policy needs a `severity` (info, low, medium, high, critical)",
        "p1/policies/a.toml:7:1: RP-EMPTY: a policy needs a `condition`",
        "p1/policies/a.toml:7:1: RP-EMPTY: a policy needs an `action` (\"none\" to only score)",
    ]);
}

#[test]
fn missing_required_signature_keys() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[(
            "signatures/s.toml",
            r#"
            [[signature]]
            id = "a.no-pattern"
            fields = ["@values"]

            [[signature]]
            pattern = 'abc'
            fields = ["@values"]

            [[signature]]
            id = "a.no-fields"
            literal = "abc"

            [[signature]]
            id = "a.empty-fields"
            literal = "abc"
            fields = []
            "#,
        )],
    );
    assert_lines(&f.errors(&["p1"], None), &[
        "p1/signatures/s.toml:1:1: a.no-pattern: a signature needs one of `pattern`, `literal` or `list`",
        "p1/signatures/s.toml:5:1: this [[signature]] has no `id`",
        "p1/signatures/s.toml:9:1: a.no-fields: a signature needs `fields` (where to look), e.g. fields = [\"@values\"]",
        "p1/signatures/s.toml:13:1: a.empty-fields: no target fields",
    ]);
}

#[test]
fn unknown_signature_reference_suggests_the_closest() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = ["xss.script-tag", "sqli.union-selct"] }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:5:46: RP-A: unknown signature `sqli.union-selct` (did you mean `sqli.union-select`?)",
    ]);
}

#[test]
fn unknown_signature_tag() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature_tag = "sqlx" }
        action = "block"
        "#,
    );
    assert_lines(
        &e,
        &["p1/policies/a.toml:5:31: RP-A: no signature has the tag `sqlx` (did you mean `sqli`?)"],
    );
}

#[test]
fn unknown_list() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            ("lists/tor-exits.cidr", "185.220.101.0/24\n"),
            (
                "policies/a.toml",
                r#"
                [[policy]]
                id = "RP-A"
                name = "a"
                severity = "high"
                condition = { list = "tor-exit", key = "client.ip" }
                action = "block"
                "#,
            ),
        ],
    );
    assert_lines(
        &f.errors(&["p1"], None),
        &["p1/policies/a.toml:5:22: RP-A: unknown list `tor-exit` (did you mean `tor-exits`?)"],
    );
}

#[test]
fn list_key_incompatible_with_the_list_kind() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            ("lists/tor-exits.cidr", "185.220.101.0/24\n"),
            (
                "lists/breached.sha1",
                "7c4a8d09ca3762af61e59520943dc26494f8941b\n",
            ),
            (
                "policies/a.toml",
                r#"
                [[policy]]
                id = "RP-A"
                name = "a"
                severity = "high"
                condition = { list = "tor-exits", key = "tls.ja4" }
                action = "block"

                [[policy]]
                id = "RP-B"
                name = "b"
                severity = "high"
                condition = { list = "breached", key = "header:x-password" }
                action = "block"

                [[policy]]
                id = "RP-C"
                name = "c"
                severity = "high"
                condition = { list = "tor-exits", key = "client.address" }
                action = "block"
                "#,
            ),
        ],
    );
    assert_lines(&f.errors(&["p1"], None), &[
        "p1/policies/a.toml:5:22: RP-A: list `tor-exits` holds .cidr entries, which cannot be looked up by this key",
        "p1/policies/a.toml:12:22: RP-B: list `breached` holds .sha1 entries, which cannot be looked up by this key",
        "p1/policies/a.toml:19:41: RP-C: unknown list key `client.address`; keys: client.ip, tls.ja4, tls.ja3, credential.password, credential.user_password, request.header_fingerprint, header:NAME, arg:NAME, identity.user, jwt.sub",
    ]);
}

#[test]
fn unknown_response_template() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = { block = { template = "blok" } }

        [[policy]]
        id = "RP-B"
        name = "b"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = { tarpit = { delay = "2s", then = { deceive = { template = "fake-login" } } } }
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:1:1: RP-A: unknown response template `blok` (did you mean `block`?); templates come from a pack's responses/",
        "p1/policies/a.toml:8:1: RP-B: unknown response template `fake-login`; templates come from a pack's responses/",
    ]);
}

#[test]
fn bad_regex_is_reported_together_with_other_errors() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            (
                "signatures/core.toml",
                r#"
                [[signature]]
                id = "bad.regex"
                pattern = 'union(\s+select'
                fields = ["@values"]
                "#,
            ),
            (
                "policies/a.toml",
                r#"
                [[policy]]
                id = "RP-A"
                name = "a"
                severity = "high"
                condition = { signature = "bad.regex" }
                action = "blok"
                "#,
            ),
        ],
    );
    assert_lines(&f.errors(&["p1"], None), &[
        "p1/policies/a.toml:6:10: RP-A: unknown action `blok` (did you mean `block`?); actions: block, rate_limit, deceive, tarpit, drop, tag, mask, allow, none",
        "p1/signatures/core.toml:1:1: bad.regex: invalid pattern: Missing close parenthesis for group started at index 5.",
    ]);
}

#[test]
fn bad_regex_alone_is_reported_at_the_signature() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[(
            "signatures/core.toml",
            r#"
            [[signature]]
            id = "bad.regex"
            pattern = 'union(\s+select'
            fields = ["@values"]
            "#,
        )],
    );
    assert_lines(&f.errors(&["p1"], None), &[
        "p1/signatures/core.toml:1:1: bad.regex: invalid pattern: Missing close parenthesis for group started at index 5.",
    ]);
}

#[test]
fn bad_path_regex() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { path_regex = '^/v[0-9+/' }
        action = "block"
        "#,
    );
    assert_lines(
        &e,
        &["p1/policies/a.toml:5:28: RP-A: bad regex `^/v[0-9+/`: error: unclosed character class"],
    );
}

#[test]
fn a_pattern_that_matches_the_empty_string() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[(
            "signatures/core.toml",
            r#"
            [[signature]]
            id = "empty.star"
            pattern = 'a*'
            fields = ["@values"]
            "#,
        )],
    );
    assert_lines(&f.errors(&["p1"], None), &[
        "p1/signatures/core.toml:1:1: empty.star: pattern can match the empty string, so it would match every field",
    ]);
}

#[test]
fn bad_cidr_line_reports_its_line() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            (
                "lists/tor-exits.cidr",
                "# Tor exits\n185.220.101.0/24\n\n  10.0.0.0/33\n2001:db8::/32\nnot-an-ip # comment\n",
            ),
        ],
    );
    assert_lines(
        &f.errors(&["p1"], None),
        &[
            "p1/lists/tor-exits.cidr:4:3: `10.0.0.0/33`: the prefix length is too long (at most /32 for an IPv4 network)",
            "p1/lists/tor-exits.cidr:6:1: `not-an-ip` is not an IP address or CIDR network",
        ],
    );
}

#[test]
fn bad_sha1_line_reports_its_line() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            (
                "lists/breached.sha1",
                "7c4a8d09ca3762af61e59520943dc26494f8941b\n7c4a8d09ca3762af61e59520943dc26494f8941\nzz4a8d09ca3762af61e59520943dc26494f8941b\n",
            ),
        ],
    );
    assert_lines(&f.errors(&["p1"], None), &[
        "p1/lists/breached.sha1:2:1: `7c4a8d09ca3762af61e59520943dc26494f8941` is not a SHA-1 hash (40 hex digits, optionally followed by `:count`)",
        "p1/lists/breached.sha1:3:1: `zz4a8d09ca3762af61e59520943dc26494f8941b` is not a SHA-1 hash (40 hex digits, optionally followed by `:count`)",
    ]);
}

#[test]
fn bad_fingerprint_pair_and_unknown_list_files() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            (
                "lists/tools.hfp",
                "ge11nn03_e89050d54621  # curl\nge12nn03_e89050d54621\n",
            ),
            (
                "lists/pairs.sha1pair",
                "0D019BC5DB4CE1DFBDFEAAE94FBA68262A5EE566:3\n0D019BC5DB4CE1DFBDFEAAE94FBA68262A5EE566:many\n",
            ),
            ("lists/feed.csv", "1.2.3.4\n"),
        ],
    );
    assert_lines(&f.errors(&["p1"], None), &[
        "p1/lists/feed.csv: unknown list type: use .cidr, .ja4, .ja3, .sha1, .sha1pair, .hfp or .txt",
        "p1/lists/pairs.sha1pair:2:1: `0D019BC5DB4CE1DFBDFEAAE94FBA68262A5EE566:many`: the count after `:` must be a whole number",
        "p1/lists/tools.hfp:2:1: `ge12nn03_e89050d54621` is not a header fingerprint (like ge11nn05_0123456789ab; see docs/POLICY.md)",
    ]);
}

#[test]
fn intel_directory_problems() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            ("lists/tor-exits.cidr", "192.0.2.0/24\n"),
        ],
    );
    f.file("intel/tor-exits.cidr", "198.51.100.0/24\n");
    f.file(
        "intel/attackers.cidr",
        "198.51.100.0/24\n\n198.51.100.300\n",
    );
    f.file("intel/notes.md", "about these lists\n");
    f.file("intel/.hidden.cidr", "not read\n");
    f.file("plain-file", "x\n");
    assert_lines(&f.intel_errors(&["p1"], &["intel", "missing", "plain-file"]), &[
        "intel/attackers.cidr:3:1: `198.51.100.300` is not an IP address or CIDR network",
        "intel/notes.md: unknown list type: use .cidr, .ja4, .ja3, .sha1, .sha1pair, .hfp or .txt",
        "intel/tor-exits.cidr: duplicate list name `tor-exits` (also p1/lists/tor-exits.cidr; list names must be unique across packs and intel directories)",
        "missing: intel list directory not found",
        "plain-file: not a directory: `[intel] lists` names directories of list files",
    ]);
}

#[test]
fn duplicate_policy_id_within_a_pack() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"

        [[policy]]
        id = "RP-A"
        name = "a again"
        severity = "high"
        condition = { signature = "xss.script-tag" }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:8:1: RP-A: duplicate policy id (first defined at p1/policies/a.toml:1:1)",
    ]);
}

#[test]
fn duplicate_policy_id_across_packs_names_the_first() {
    let f = fixture_with(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"
        "#,
    );
    f.pack(
        "p2",
        &[(
            "policies/more.toml",
            r#"
            # a second pack

            [[policy]]
            id = "RP-A"
            name = "a, redefined"
            severity = "low"
            condition = { signature = "xss.script-tag" }
            action = "block"
            "#,
        )],
    );
    // p2's block.json is a duplicate template of p1's: remove it.
    std::fs::remove_dir_all(f.root().join("p2/responses")).expect("rm");
    assert_lines(&f.errors(&["p1", "p2"], None), &[
        "p2/policies/more.toml:3:1: RP-A: duplicate policy id (first defined at p1/policies/a.toml:1:1)",
    ]);
}

#[test]
fn duplicate_signature_id_across_packs() {
    let f = Fixture::new();
    f.pack("p1", &[("signatures/core.toml", SIGS)]);
    f.pack(
        "p2",
        &[(
            "signatures/extra.toml",
            r#"
            [[signature]]
            id = "xss.script-tag"
            literal = "<svg"
            fields = ["@values"]
            "#,
        )],
    );
    std::fs::remove_dir_all(f.root().join("p2/responses")).expect("rm");
    assert_lines(&f.errors(&["p1", "p2"], None), &[
        "p2/signatures/extra.toml:1:1: xss.script-tag: duplicate signature id (first defined at p1/signatures/core.toml:9:1)",
    ]);
}

#[test]
fn policy_reference_cycle() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { all = [{ policy = "RP-B" }, { signature = "sqli.union-select" }] }
        action = "block"

        [[policy]]
        id = "RP-B"
        name = "b"
        severity = "high"
        condition = { any = [{ policy = "RP-A" }, { method = "PUT" }] }
        action = "none"

        [[policy]]
        id = "RP-C"
        name = "c: refers to a policy in the cycle, not part of it"
        severity = "high"
        condition = { policy = "RP-A" }
        action = "none"
        "#,
    );
    assert_lines(
        &e,
        &["p1/policies/a.toml:1:1: RP-A: policy references form a cycle: RP-A -> RP-B -> RP-A"],
    );
}

#[test]
fn thresholds_and_parameters_out_of_range() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-STATUS"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = { block = { status = 200 } }

        [[policy]]
        id = "RP-RETRY"
        name = "b"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = { rate_limit = { retry_after = "0s" } }

        [[policy]]
        id = "RP-TARPIT"
        name = "c"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = { tarpit = { delay = "5m" } }

        [[policy]]
        id = "RP-SCORE"
        name = "d"
        severity = "high"
        score = 5000
        condition = { signature = "sqli.union-select" }
        action = "none"

        [[policy]]
        id = "RP-NEG"
        name = "e"
        severity = "high"
        condition = { counter = "client.ip.rate_10s", gt = -1 }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:6:31: RP-STATUS: `status` must be between 400 and 599, got 200",
        "p1/policies/a.toml:13:41: RP-RETRY: `retry_after` must be between 1s and 1d, got 0s",
        "p1/policies/a.toml:20:31: RP-TARPIT: `delay` must be between 100ms and 60s, got 5m",
        "p1/policies/a.toml:26:9: RP-SCORE: `score` must be between 0 and 1000, got 5000",
        "p1/policies/a.toml:34:52: RP-NEG: `gt` must be between 0 and 9223372036854775807, got -1",
    ]);
}

#[test]
fn unknown_counter_suggests_the_closest() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { counter = "client.ip.auth_failures_5n", gt = 100 }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:5:25: RP-A: unknown counter `client.ip.auth_failures_5n` (did you mean `client.ip.auth_failures_5m`?); see docs/POLICY.md for counter names",
    ]);
}

#[test]
fn unknown_anomaly() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { anomaly = "triple_encoded" }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:5:25: RP-A: unknown anomaly `triple_encoded`; anomalies: double_encoded, invalid_escape, invalid_utf8, overlong_utf8, nul_byte, body_malformed, fields_truncated",
    ]);
}

#[test]
fn a_condition_with_two_tests_needs_all_or_any() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select", method = "POST" }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:5:13: RP-A: a condition tests one thing; this one has method, signature (wrap them in `all` or `any`)",
    ]);
}

#[test]
fn min_rampart_too_new() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            (
                "pack.toml",
                r#"
                name = "future"
                version = "1.0.0"
                min_rampart = "99.0.0"
                "#,
            ),
            ("signatures/core.toml", SIGS),
        ],
    );
    assert_lines(
        &f.errors(&["p1"], None),
        &["p1/pack.toml:3:15: this pack needs Rampart 99.0.0 or newer; this is 0.1.0"],
    );
}

const ONE_POLICY: &str = r#"
    [[policy]]
    id = "RP-SQLI-001"
    name = "sqli"
    severity = "critical"
    tags = ["sqli"]
    condition = { signature = "sqli.union-select" }
    action = "block"

    [[policy]]
    id = "RP-RATE"
    name = "rate"
    severity = "medium"
    condition = { any = [
        { counter = "client.ip.rate_10s", gt = 100 },
        { counter = "client.ip.rate_1m", gt = 1000 },
    ] }
    action = { rate_limit = { retry_after = "30s" } }
"#;

#[test]
fn overlay_overriding_an_unknown_policy() {
    let f = fixture_with(ONE_POLICY);
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-SQLI-01"
        mode = "monitor"

        [[override]]
        policy_tag = "nosuchtag"
        mode = "off"
        "#,
    );
    assert_lines(&f.errors(&["p1"], Some("overlay.toml")), &[
        "overlay.toml:1:1: RP-SQLI-01: override of unknown policy `RP-SQLI-01` (did you mean `RP-SQLI-001`?)",
        "overlay.toml:5:1: no policy has the tag `nosuchtag`",
    ]);
}

#[test]
fn overlay_ambiguous_threshold() {
    let f = fixture_with(ONE_POLICY);
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-RATE"
        threshold = 50

        [[override]]
        policy = "RP-SQLI-001"
        threshold = 3
        "#,
    );
    assert_lines(&f.errors(&["p1"], Some("overlay.toml")), &[
        "overlay.toml:3:13: RP-RATE: `threshold` is ambiguous: the policy has 2 counter/score tests",
        "overlay.toml:7:13: RP-SQLI-001: `threshold` needs a policy with a counter or score_at_least condition; this one has none",
    ]);
}

#[test]
fn overlay_action_template_and_bad_values() {
    let f = fixture_with(ONE_POLICY);
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-SQLI-001"
        mode = "watch"
        action = { deceive = { template = "fake-ok" } }
        score = 1001

        [[override.exclude]]
        client = "10.0.0.0/33"
        "#,
    );
    assert_lines(&f.errors(&["p1"], Some("overlay.toml")), &[
        "overlay.toml:3:8: RP-SQLI-001: unknown mode `watch`; use enforce, monitor or off",
        "overlay.toml:4:10: RP-SQLI-001: unknown response template `fake-ok`; templates come from a pack's responses/",
        "overlay.toml:5:9: RP-SQLI-001: `score` must be between 0 and 1000, got 1001",
        "overlay.toml:8:10: RP-SQLI-001: `10.0.0.0/33` is not an IP address or CIDR network",
    ]);
}

#[test]
fn errors_from_several_files_are_all_reported_sorted() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            (
                "signatures/b.toml",
                r#"
                [[signature]]
                id = "b.bad"
                pattern = '(('
                fields = ["@values"]
                "#,
            ),
            (
                "signatures/a.toml",
                r#"
                [[signature]]
                id = "a.ok"
                literal = "evil"
                fields = ["@valuez"]
                "#,
            ),
            ("lists/l.cidr", "1.2.3.4\n1.2.3.999\n"),
            (
                "policies/z.toml",
                r#"
                [[policy]]
                id = "RP-Z"
                name = "z"
                severity = "hihg"
                condition = { signature = "a.ok" }
                action = "block"
                "#,
            ),
            (
                "policies/m.toml",
                r#"
                [[policy]]
                id = "RP-M"
                name = "m"
                severity = "low"
                condition = { list = "l", key = "client.ip" }
                action = { block = { status = 700 } }
                "#,
            ),
        ],
    );
    f.pack(
        "p0",
        &[(
            "policies/x.toml",
            r#"
            [[policy]]
            id = "RP-X"
            name = "x"
            severity = "low"
            condition = { signature = "c.missing" }
            action = "block"
            "#,
        )],
    );
    std::fs::remove_dir_all(f.root().join("p0/responses")).expect("rm");
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-Q"
        mode = "off"
        "#,
    );
    let e = f.errors(&["p1", "p0"], Some("overlay.toml"));
    let mut sorted = e.clone();
    sorted.sort();
    assert_eq!(e, sorted, "sorted by file, then line");
    assert_lines(&e, &[
        "overlay.toml:1:1: RP-Q: override of unknown policy `RP-Q` (did you mean `RP-X`?)",
        "p0/policies/x.toml:5:27: RP-X: unknown signature `c.missing`",
        "p1/lists/l.cidr:2:1: `1.2.3.999` is not an IP address or CIDR network",
        "p1/policies/m.toml:6:31: RP-M: `status` must be between 400 and 599, got 700",
        "p1/policies/z.toml:4:12: RP-Z: unknown severity `hihg`; use info, low, medium, high or critical",
        "p1/signatures/a.toml:4:11: a.ok: unknown field `@valuez`; see docs/POLICY.md for the field names",
        "p1/signatures/b.toml:1:1: b.bad: invalid pattern: Missing close parenthesis for group started at index 1.",
    ]);
}

#[test]
fn a_missing_pack_directory_or_a_file_instead_of_one() {
    let f = fixture_with(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"
        "#,
    );
    assert_lines(
        &f.errors(&["p1", "nope"], None),
        &["nope: pack directory not found"],
    );
    assert_lines(
        &f.errors(&["p1/pack.toml"], None),
        &["p1/pack.toml: not a directory: a pack is a directory with a pack.toml"],
    );
    // A directory without a manifest is reported as such.
    std::fs::remove_file(f.root().join("p1/pack.toml")).expect("rm");
    let e = f.errors(&["p1"], None);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("p1/pack.toml: cannot read the pack manifest: "),
        "{e:?}"
    );
}

#[test]
fn oversized_and_unknown_templates_are_refused() {
    let f = Fixture::new();
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(9000));
    f.pack(
        "p1",
        &[
            ("responses/huge.json", big.as_str()),
            ("responses/page.xml", "<a/>"),
        ],
    );
    assert_lines(
        &f.errors(&["p1"], None),
        &[
            "p1/responses/huge.json: template is 9011 bytes; responses are written into one head-sized buffer, so at most 8192",
            "p1/responses/page.xml: unknown template type: use .json, .html or .txt",
        ],
    );
}

#[test]
fn escalate_needs_a_duration_in_range_and_a_stopping_action() {
    let e = errors_of(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"
        escalate = "soon"

        [[policy]]
        id = "RP-B"
        name = "b"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"
        escalate = "500ms"

        [[policy]]
        id = "RP-C"
        name = "c"
        severity = "high"
        condition = { signature = "xss.script-tag" }
        action = { tag = { headers = { "X-Suspect" = "xss" } } }
        escalate = "10m"

        [[policy]]
        id = "RP-D"
        name = "d"
        severity = "high"
        condition = { signature = "xss.script-tag" }
        action = "drop"
        escalate = 600
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:7:12: RP-A: `escalate` must be a duration like 30s, 10m, 1h; got `soon`",
        "p1/policies/a.toml:15:12: RP-B: `escalate` must be between 1s and 7d, got 500ms",
        "p1/policies/a.toml:23:12: RP-C: `escalate` needs an action that stops the request (block, rate_limit, deceive, tarpit, drop); `tag` forwards it",
        "p1/policies/a.toml:31:12: RP-D: `escalate` must be a string, found an integer",
    ]);
    let ok = fixture_with(
        r#"
        [[policy]]
        id = "RP-A"
        name = "a"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"
        escalate = "10m"
        "#,
    );
    let p = ok.policy(&["p1"], None);
    assert_eq!(p.policies[0].escalate_ms, Some(600_000));
}

#[test]
fn overlay_sets_and_removes_escalation() {
    let f = fixture_with(ONE_POLICY);
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-SQLI-001"
        escalate = "forever"

        [[override]]
        policy = "RP-RATE"
        action = { tag = { headers = { "X-Busy" = "1" } } }
        escalate = "5m"
        "#,
    );
    assert_lines(&f.errors(&["p1"], Some("overlay.toml")), &[
        "overlay.toml:3:12: RP-SQLI-001: `escalate` must be a duration like 30s, 10m, 1h; got `forever`",
        "overlay.toml:8:12: RP-RATE: `escalate` needs an action that stops the request (block, rate_limit, deceive, tarpit, drop); `tag` forwards it",
    ]);
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-SQLI-001"
        escalate = "15m"
        "#,
    );
    let p = f.policy(&["p1"], Some("overlay.toml"));
    let sqli = p
        .policies
        .iter()
        .find(|p| p.id == "RP-SQLI-001")
        .expect("policy");
    assert_eq!(sqli.escalate_ms, Some(900_000));
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy_tag = "sqli"
        escalate = "off"
        "#,
    );
    let p = f.policy(&["p1"], Some("overlay.toml"));
    assert!(p.policies.iter().all(|p| p.escalate_ms.is_none()));
}

/// A signature on response bodies for the response-policy errors below.
const RESP_SIGS: &str = r#"
    [[signature]]
    id = "leak.pan"
    pattern = '\b4[0-9]{15}\b'
    fields = ["response.body"]
    tags = ["luhn"]

    [[signature]]
    id = "leak.bad-twin"
    pattern = '(?<=x)secret'
    fields = ["response.body"]
"#;

fn response_errors(policies: &str) -> Vec<String> {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            ("signatures/resp.toml", RESP_SIGS),
            ("policies/a.toml", policies),
        ],
    );
    f.errors(&["p1"], None)
}

#[test]
fn response_policies_misused() {
    let e = response_errors(
        r#"
        [[policy]]
        id = "RP-PHASE"
        name = "unknown phase"
        severity = "high"
        phase = "reply"
        condition = { signature = "leak.pan" }
        action = "mask"

        [[policy]]
        id = "RP-REQ-STATUS"
        name = "response test on a request policy"
        severity = "high"
        condition = { all = [{ response_status = "5xx" }, { signature = "sqli.union-select" }] }
        action = "mask"

        [[policy]]
        id = "RP-RESP-PATH"
        name = "request test on a response policy"
        severity = "high"
        phase = "response"
        condition = { any = [{ path = "/admin" }, { signature = "leak.pan" }] }
        action = "rate_limit"

        [[policy]]
        id = "RP-RESP-STATUS"
        name = "bad status ranges"
        severity = "high"
        phase = "response"
        condition = { response_status = ["6xx", 200, "300-200", 42] }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:5:9: RP-PHASE: unknown phase `reply`; use request or response",
        "p1/policies/a.toml:13:24: RP-REQ-STATUS: `response_status` tests the upstream's response; it needs phase = \"response\"",
        "p1/policies/a.toml:14:10: RP-REQ-STATUS: `mask` rewrites a response body; it needs phase = \"response\"",
        "p1/policies/a.toml:21:24: RP-RESP-PATH: `path` tests the request; a response policy can test all, any, not, signature, signature_tag, response_status, response_header",
        "p1/policies/a.toml:22:10: RP-RESP-PATH: a response policy's action is mask, block or none, not `rate_limit`",
        "p1/policies/a.toml:29:34: RP-RESP-STATUS: `6xx` is not a status range; write 404, \"500-599\" or \"5xx\" (100 to 599)",
        "p1/policies/a.toml:29:46: RP-RESP-STATUS: `300-200` is not a status range; write 404, \"500-599\" or \"5xx\" (100 to 599)",
        "p1/policies/a.toml:29:57: RP-RESP-STATUS: a `response_status` must be between 100 and 599, got 42",
    ]);
}

#[test]
fn response_examples_and_mask_signatures() {
    let e = response_errors(
        r#"
        [[policy]]
        id = "RP-MASK"
        name = "mask needs signatures with a regex twin"
        severity = "high"
        phase = "response"
        condition = { any = [{ signature = "leak.bad-twin" }, { response_status = 500 }] }
        action = "mask"

        [[policy.example]]
        expect = "match"
        request = "GET / HTTP/1.1"

        [[policy]]
        id = "RP-NOSIG"
        name = "mask without signatures"
        severity = "high"
        phase = "response"
        condition = { response_header = "content-type", contains = "json" }
        action = "mask"

        [[policy]]
        id = "RP-REQ-EX"
        name = "a request policy with a response example"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"

        [[policy.example]]
        expect = "match"
        response = "HTTP/1.1 200 OK"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:1:1: RP-MASK: signature `leak.bad-twin` cannot locate fragments to mask (its pattern is not valid `regex` syntax: error: look-around, including look-ahead and look-behind, is not supported)",
        "p1/policies/a.toml:9:1: RP-MASK: an example of a response policy needs a `response` (the raw HTTP response)",
        "p1/policies/a.toml:11:11: RP-MASK: a response policy sees only the response; drop the example's `request`",
        "p1/policies/a.toml:13:1: RP-NOSIG: a `mask` policy needs a signature condition: its matches are what is masked",
        "p1/policies/a.toml:30:12: RP-REQ-EX: `response` examples are for phase = \"response\" policies; give a `request`",
    ]);
}

#[test]
fn an_overlay_cannot_give_a_request_policy_mask() {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[
            ("signatures/core.toml", SIGS),
            (
                "policies/a.toml",
                r#"
                [[policy]]
                id = "RP-A"
                name = "a"
                severity = "high"
                condition = { signature = "sqli.union-select" }
                action = "block"
                "#,
            ),
        ],
    );
    f.file(
        "overlay.toml",
        "[[override]]\npolicy = \"RP-A\"\naction = \"mask\"\n",
    );
    assert_lines(
        &f.errors(&["p1"], Some("overlay.toml")),
        &["overlay.toml:3:10: RP-A: `mask` rewrites a response body; this policy judges requests"],
    );
}

#[test]
fn a_policy_refers_only_to_policies_of_its_phase() {
    let e = response_errors(
        r#"
        [[policy]]
        id = "RP-RESP"
        name = "response"
        severity = "high"
        phase = "response"
        condition = { signature = "leak.pan" }
        action = "mask"

        [[policy]]
        id = "RP-REQ"
        name = "request referring to a response policy"
        severity = "high"
        condition = { policy = "RP-RESP" }
        action = "block"
        "#,
    );
    assert_lines(&e, &[
        "p1/policies/a.toml:13:24: RP-REQ: `RP-RESP` is a response policy; a request policy can only refer to request policies",
    ]);
}
