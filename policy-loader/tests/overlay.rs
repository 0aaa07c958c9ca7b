//! Layering: packs loaded in order, a local overlay tuning policies by id or
//! tag, exclusions, and what a reload reports as changed.

mod common;

use common::{assert_lines, decision, hits, request, run, Fixture};
use rampart_policy_loader::{measures::COUNTERS, Action, DryFacts, Mode, RawRequest};

const SIGS: &str = r#"
    [[signature]]
    id = "sqli.union-select"
    pattern = 'union\s+select'
    flags = ["caseless"]
    fields = ["@values"]
    transforms = ["url_decode", "plus_to_space"]
    tags = ["sqli"]

    [[signature]]
    id = "xss.script-tag"
    literal = "<script"
    flags = ["caseless"]
    fields = ["@values"]
    transforms = ["url_decode"]
    tags = ["xss"]
"#;

const VENDOR: &str = r#"
    [[policy]]
    id = "RP-SQLI-001"
    name = "SQL injection: UNION SELECT"
    severity = "critical"
    tags = ["injection", "sqli"]
    priority = 100
    score = 5
    condition = { signature = "sqli.union-select" }
    action = "block"

    [[policy]]
    id = "RP-XSS-001"
    name = "XSS: script tag"
    severity = "high"
    tags = ["injection", "xss"]
    priority = 110
    score = 4
    condition = { signature = "xss.script-tag" }
    action = "block"

    [[policy]]
    id = "RP-RATE-001"
    name = "Too many requests from one address"
    severity = "medium"
    tags = ["rate"]
    priority = 10
    condition = { all = [{ path = "/api/**" }, { counter = "client.ip.rate_10s", gt = 100 }] }
    action = { rate_limit = { retry_after = "10s" } }
"#;

/// A vendor pack `vendor` (signatures and policies) and a local pack `local`
/// with one more policy built on the vendor's signatures and a template.
fn two_packs() -> Fixture {
    let f = Fixture::new();
    f.pack(
        "vendor",
        &[
            ("signatures/core.toml", SIGS),
            ("policies/core.toml", VENDOR),
        ],
    );
    f.pack(
        "local",
        &[
            (
                "pack.toml",
                r#"
                name = "local"
                version = "0.3.0"
                description = "our own additions"
                "#,
            ),
            (
                "responses/fake-login-success.json",
                r#"{"token":"{{decoy_token}}"}"#,
            ),
            (
                "policies/local.toml",
                r#"
                [[policy]]
                id = "LOCAL-ADMIN-XSS"
                name = "any XSS on our admin pages"
                severity = "high"
                tags = ["local"]
                priority = 1
                condition = { all = [{ path = "/local-admin/**" }, { signature_tag = "xss" }] }
                action = "block"

                [[policy]]
                id = "LOCAL-SCORE"
                name = "several injection kinds together"
                severity = "high"
                tags = ["local"]
                condition = { score_at_least = 9 }
                action = { deceive = { template = "fake-login-success" } }
                "#,
            ),
        ],
    );
    // One `block` template is enough.
    std::fs::remove_file(f.root().join("local/responses/block.json")).expect("rm");
    f
}

fn facts() -> DryFacts {
    DryFacts {
        counters: vec![0; COUNTERS.len()],
        ..DryFacts::default()
    }
}

fn get(target: &str) -> RawRequest {
    request(&format!("GET {target} HTTP/1.1\nHost: api.example.com\n"))
}

const SQLI: &str = "1%27%20UNION%20SELECT%20password%20FROM%20users--";

#[test]
fn two_packs_load_in_order() {
    let f = two_packs();
    let p = f.policy(&["vendor", "local"], None);
    let packs: Vec<(&str, &str)> = p
        .packs
        .iter()
        .map(|x| (x.name.as_str(), x.version.as_str()))
        .collect();
    assert_eq!(packs, [("vendor", "1.0.0"), ("local", "0.3.0")]);
    assert!(
        p.version().starts_with("vendor@1.0.0+local@0.3.0 ("),
        "{}",
        p.version()
    );
    let (_, local) = p.policy("LOCAL-SCORE").expect("local policy");
    assert_eq!(p.packs[local.pack].name, "local");
    let (_, vendor) = p.policy("RP-SQLI-001").expect("vendor policy");
    assert_eq!(p.packs[vendor.pack].name, "vendor");
    assert_eq!(p.policies.len(), 5);
    // The local policy sees the vendor policies' scores (5 + 4).
    let r = run(
        &p,
        &get(&format!("/?q={SQLI}&c=%3Cscript%3E")),
        &facts(),
        false,
    );
    assert_eq!(hits(&p, &r), ["RP-SQLI-001", "RP-XSS-001", "LOCAL-SCORE"]);
    assert_eq!(decision(&p, &r).as_deref(), Some("RP-SQLI-001"));

    // Reversed, the local pack comes first (and still resolves the
    // vendor's signatures and template).
    let q = f.policy(&["local", "vendor"], None);
    let names: Vec<&str> = q.packs.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["local", "vendor"]);
    // The local policy that uses the vendor's tag and `block` template works
    // with both packs, and the local pack alone does not load.
    let r = run(&p, &get("/local-admin/x?c=%3Cscript%3E"), &facts(), false);
    assert_eq!(hits(&p, &r), ["LOCAL-ADMIN-XSS", "RP-XSS-001"]);
    assert_eq!(decision(&p, &r).as_deref(), Some("LOCAL-ADMIN-XSS"));
    assert_lines(
        &f.errors(&["local"], None),
        &[
            "local/policies/local.toml:1:1: LOCAL-ADMIN-XSS: unknown response template `block`; templates come from a pack's responses/",
            "local/policies/local.toml:7:70: LOCAL-ADMIN-XSS: no signature has the tag `xss`",
        ],
    );
}

#[test]
fn overlay_changes_mode_action_and_score() {
    let f = two_packs();
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-SQLI-001"
        mode = "monitor"
        score = 2

        [[override]]
        policy = "RP-XSS-001"
        action = { deceive = { template = "fake-login-success", status = 200 } }
        "#,
    );
    let p = f.policy(&["vendor", "local"], Some("overlay.toml"));
    let (_, sqli) = p.policy("RP-SQLI-001").expect("sqli");
    assert_eq!((sqli.mode, sqli.score), (Mode::Monitor, 2));
    assert_eq!(
        sqli.action,
        Action::Block {
            status: 403,
            template: "block".into(),
            headers: vec![]
        }
    );
    let (_, xss) = p.policy("RP-XSS-001").expect("xss");
    assert_eq!(
        xss.action,
        Action::Deceive {
            template: "fake-login-success".into(),
            status: 200
        }
    );
    assert_eq!(xss.mode, Mode::Enforce);

    // SQLi now only monitors (its score does not count); XSS deceives.
    let r = run(&p, &get(&format!("/?q={SQLI}")), &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-SQLI-001(monitor)"]);
    assert_eq!(r.verdict.decision, None);
    assert_eq!(r.verdict.score, 0);
    let r = run(
        &p,
        &get(&format!("/?q={SQLI}&c=%3Cscript%3E")),
        &facts(),
        false,
    );
    assert_eq!(hits(&p, &r), ["RP-SQLI-001(monitor)", "RP-XSS-001"]);
    assert_eq!(decision(&p, &r).as_deref(), Some("RP-XSS-001"));
    assert_eq!(r.verdict.score, 4);

    // Without the overlay, the same packs block SQLi.
    let q = f.policy(&["vendor", "local"], None);
    let r = run(&q, &get(&format!("/?q={SQLI}")), &facts(), false);
    assert_eq!(decision(&q, &r).as_deref(), Some("RP-SQLI-001"));
}

#[test]
fn overlay_action_templates_are_checked_against_every_pack() {
    let f = two_packs();
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-XSS-001"
        action = { block = { status = 406, template = "fake-login-succes" } }
        "#,
    );
    assert_lines(
        &f.errors(&["vendor", "local"], Some("overlay.toml")),
        &["overlay.toml:3:10: RP-XSS-001: unknown response template `fake-login-succes` (did you mean `fake-login-success`?); templates come from a pack's responses/"],
    );
    // Only the vendor pack: the local template does not exist.
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-XSS-001"
        action = { tarpit = { delay = "1s", then = { deceive = { template = "fake-login-success" } } } }
        "#,
    );
    assert_lines(
        &f.errors(&["vendor"], Some("overlay.toml")),
        &["overlay.toml:3:10: RP-XSS-001: unknown response template `fake-login-success`; templates come from a pack's responses/"],
    );
    assert!(f.load(&["vendor", "local"], Some("overlay.toml")).is_ok());
}

#[test]
fn overlay_threshold_changes_the_verdict() {
    let f = two_packs();
    let p = f.policy(&["vendor", "local"], None);
    let mut busy = facts();
    let i = COUNTERS
        .iter()
        .position(|c| *c == "client.ip.rate_10s")
        .expect("counter");
    busy.counters[i] = 50;
    let req = get("/api/orders");
    let r = run(&p, &req, &busy, false);
    assert!(r.verdict.hits.is_empty(), "50 is not above 100");

    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-RATE-001"
        threshold = 10

        [[override]]
        policy = "LOCAL-SCORE"
        threshold = 4
        "#,
    );
    let q = f.policy(&["vendor", "local"], Some("overlay.toml"));
    let r = run(&q, &req, &busy, false);
    assert_eq!(hits(&q, &r), ["RP-RATE-001"]);
    assert_eq!(
        r.verdict.action(&q),
        Some(&Action::RateLimit { retry_after_s: 10 })
    );
    // 10 is not above 10.
    busy.counters[i] = 10;
    assert!(run(&q, &req, &busy, false).verdict.hits.is_empty());
    // The score threshold is now 4: XSS alone (score 4) reaches it.
    let r = run(&q, &get("/?c=%3Cscript%3E"), &facts(), false);
    assert_eq!(hits(&q, &r), ["RP-XSS-001", "LOCAL-SCORE"]);
    let r = run(&p, &get("/?c=%3Cscript%3E"), &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-XSS-001"]);
}

#[test]
fn field_exclusion_on_a_path() {
    let f = two_packs();
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-SQLI-001"

        [[override.exclude]]
        path = "/search"
        field = "args.value:q"
        "#,
    );
    let p = f.policy(&["vendor", "local"], Some("overlay.toml"));
    let sqli = |target: &str| {
        let r = run(&p, &get(target), &facts(), false);
        // The signature itself still matched: only the policy ignores it.
        assert!(
            r.signatures
                .iter()
                .any(|s| s.signature == "sqli.union-select"),
            "{target}: the signature should match"
        );
        hits(&p, &r)
    };
    assert_eq!(sqli(&format!("/search?q={SQLI}")), Vec::<String>::new());
    assert_eq!(sqli(&format!("/search?Q={SQLI}")), Vec::<String>::new());
    assert_eq!(sqli(&format!("/other?q={SQLI}")), ["RP-SQLI-001"]);
    assert_eq!(sqli(&format!("/search?name={SQLI}")), ["RP-SQLI-001"]);
    assert_eq!(
        sqli(&format!("/search?q={SQLI}&name={SQLI}")),
        ["RP-SQLI-001"]
    );
    // The path is matched normalised, like policy paths.
    assert_eq!(
        sqli(&format!("/x/../search?q={SQLI}")),
        Vec::<String>::new()
    );
    // Other policies are not affected.
    let r = run(&p, &get("/search?q=%3Cscript%3E"), &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-XSS-001"]);
}

#[test]
fn client_exclusion_skips_the_policy_for_that_range_only() {
    let f = two_packs();
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-SQLI-001"

        [[override.exclude]]
        client = "10.0.0.0/8"

        [[override]]
        policy = "RP-XSS-001"

        [[override.exclude]]
        method = "POST"
        path = "/cms/**"
        "#,
    );
    let p = f.policy(&["vendor", "local"], Some("overlay.toml"));
    let from = |ip: &str, req: &RawRequest| {
        let facts = DryFacts {
            client_ip: Some(ip.parse().expect("ip")),
            ..facts()
        };
        hits(&p, &run(&p, req, &facts, false))
    };
    let attack = get(&format!("/?q={SQLI}"));
    assert_eq!(from("10.1.2.3", &attack), Vec::<String>::new());
    assert_eq!(from("11.1.2.3", &attack), ["RP-SQLI-001"]);
    assert_eq!(from("192.0.2.1", &attack), ["RP-SQLI-001"]);
    assert_eq!(from("2001:db8::1", &attack), ["RP-SQLI-001"]);
    // Exclusions with several keys need all of them.
    let cms = |method: &str, path: &str| {
        request(&format!(
            "{method} {path}?c=%3Cscript%3E HTTP/1.1\nHost: a\n"
        ))
    };
    assert_eq!(
        from("10.1.2.3", &cms("POST", "/cms/pages/1")),
        Vec::<String>::new()
    );
    assert_eq!(
        from("10.1.2.3", &cms("GET", "/cms/pages/1")),
        ["RP-XSS-001"]
    );
    assert_eq!(from("10.1.2.3", &cms("POST", "/blog/1")), ["RP-XSS-001"]);
}

#[test]
fn policy_tag_overrides_every_tagged_policy() {
    let f = two_packs();
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy_tag = "injection"
        mode = "monitor"
        "#,
    );
    let p = f.policy(&["vendor", "local"], Some("overlay.toml"));
    let modes: Vec<(&str, Mode)> = p.policies.iter().map(|x| (x.id.as_str(), x.mode)).collect();
    assert_eq!(
        modes,
        [
            ("LOCAL-ADMIN-XSS", Mode::Enforce),
            ("RP-RATE-001", Mode::Enforce),
            ("RP-SQLI-001", Mode::Monitor),
            ("RP-XSS-001", Mode::Monitor),
            ("LOCAL-SCORE", Mode::Enforce),
        ]
    );
    assert_eq!((p.stats.enforce, p.stats.monitor), (3, 2));
    let r = run(&p, &get(&format!("/?q={SQLI}")), &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-SQLI-001(monitor)"]);
    assert_eq!(r.verdict.decision, None);
}

#[test]
fn later_overrides_win() {
    let f = two_packs();
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy_tag = "injection"
        mode = "off"

        [[override]]
        policy = "RP-XSS-001"
        mode = "enforce"
        "#,
    );
    let p = f.policy(&["vendor", "local"], Some("overlay.toml"));
    let mode = |id: &str| p.policy(id).expect("policy").1.mode;
    assert_eq!(mode("RP-SQLI-001"), Mode::Off);
    assert_eq!(mode("RP-XSS-001"), Mode::Enforce);
}

#[test]
fn changes_since_reports_added_removed_and_changed_ids() {
    let f = Fixture::new();
    f.pack(
        "p",
        &[
            ("signatures/core.toml", SIGS),
            ("policies/core.toml", VENDOR),
        ],
    );
    let old = f.policy(&["p"], None);
    assert!(old.changes_since(&old).is_empty());

    // Remove RP-RATE-001, change RP-XSS-001's action, add RP-NEW.
    let xss_end = VENDOR
        .find("    [[policy]]\n    id = \"RP-RATE-001\"")
        .expect("rate");
    let edited = VENDOR[..xss_end].replace(
        "condition = { signature = \"xss.script-tag\" }\n    action = \"block\"",
        "condition = { signature = \"xss.script-tag\" }\n    action = \"drop\"",
    ) + r#"
    [[policy]]
    id = "RP-NEW"
    name = "new"
    severity = "low"
    condition = { method = "TRACE" }
    action = "block"
    "#;
    assert!(edited.contains("action = \"drop\""));
    f.file("p/policies/core.toml", &edited);
    let new = f.policy(&["p"], None);
    let c = new.changes_since(&old);
    assert_eq!(c.added, ["RP-NEW"]);
    assert_eq!(c.removed, ["RP-RATE-001"]);
    assert_eq!(c.changed, ["RP-XSS-001"]);
    assert!(!c.is_empty());
    // And back.
    let c = old.changes_since(&new);
    assert_eq!(
        (c.added, c.removed, c.changed),
        (
            vec!["RP-RATE-001".to_string()],
            vec!["RP-NEW".to_string()],
            vec!["RP-XSS-001".to_string()]
        )
    );
}

#[test]
fn changes_since_ignores_moved_lines_and_examples() {
    let f = Fixture::new();
    f.pack(
        "p",
        &[
            ("signatures/core.toml", SIGS),
            ("policies/core.toml", VENDOR),
        ],
    );
    let old = f.policy(&["p"], None);
    // Blank lines and comments before every policy and signature: positions move.
    let moved = VENDOR.replace("    [[policy]]", "\n    # moved down\n\n    [[policy]]");
    let moved_sigs = SIGS.replace("    [[signature]]", "\n    # moved\n    [[signature]]");
    f.file("p/signatures/core.toml", &moved_sigs);
    f.file(
        "p/policies/core.toml",
        &format!("# header\n\n{}", common::dedent(&moved)),
    );
    let new = f.policy(&["p"], None);
    let (_, a) = old.policy("RP-SQLI-001").expect("old");
    let (_, b) = new.policy("RP-SQLI-001").expect("new");
    assert_ne!(a.loc, b.loc, "the policy moved");
    assert_ne!(old.version(), new.version(), "the files changed");
    assert!(
        new.changes_since(&old).is_empty(),
        "{:?}",
        new.changes_since(&old)
    );

    // An overlay changing the mode is a change of that policy only.
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-SQLI-001"
        mode = "monitor"
        "#,
    );
    let tuned = f.policy(&["p"], Some("overlay.toml"));
    let c = tuned.changes_since(&new);
    assert_eq!(
        (c.added.len(), c.removed.len(), c.changed),
        (0, 0, vec!["RP-SQLI-001".to_string()])
    );
    // And so is an exclusion.
    f.file(
        "overlay.toml",
        r#"
        [[override]]
        policy = "RP-XSS-001"

        [[override.exclude]]
        client = "10.0.0.0/8"
        "#,
    );
    let excluded = f.policy(&["p"], Some("overlay.toml"));
    assert_eq!(excluded.changes_since(&new).changed, ["RP-XSS-001"]);
}

#[test]
fn changes_since_reports_policies_whose_signatures_changed() {
    let f = Fixture::new();
    f.pack(
        "p",
        &[
            ("signatures/core.toml", SIGS),
            ("policies/core.toml", VENDOR),
            (
                "policies/tagged.toml",
                r#"
                [[policy]]
                id = "RP-ANY-SQLI"
                name = "any sqli signature"
                severity = "high"
                condition = { signature_tag = "sqli" }
                action = "none"
                "#,
            ),
        ],
    );
    let old = f.policy(&["p"], None);
    // A new pattern for the XSS signature: the policy using it behaves
    // differently, although its own text did not change.
    f.file(
        "p/signatures/core.toml",
        &SIGS.replace("\"<script\"", "\"<svg\""),
    );
    let new = f.policy(&["p"], None);
    assert_eq!(new.changes_since(&old).changed, ["RP-XSS-001"]);
    // A new signature with the `sqli` tag changes what the tag policy sees.
    f.file(
        "p/signatures/more.toml",
        r#"
        [[signature]]
        id = "sqli.sleep"
        pattern = 'sleep\s*\('
        fields = ["@values"]
        tags = ["sqli"]
        "#,
    );
    let newer = f.policy(&["p"], None);
    assert_eq!(newer.changes_since(&new).changed, ["RP-ANY-SQLI"]);
}

#[test]
fn client_blocks_in_force_become_a_policy_that_runs_first() {
    let f = two_packs();
    f.file(
        "overlay.toml",
        r#"
        [[block]]
        client = "198.51.100.7"
        until = "2999-01-01T00:00:00Z"
        reason = "stuffing"

        [[block]]
        client = "203.0.113.0/24"
        until = "2998-06-01T12:00:00Z"

        [[block]]
        client = "192.0.2.1"
        until = "2000-01-01T00:00:00Z"
        "#,
    );
    let p = f.policy(&["vendor", "local"], Some("overlay.toml"));
    assert_eq!(
        p.stats.client_blocks.active, 2,
        "the expired one is ignored"
    );
    assert_eq!(
        p.stats.client_blocks.next_expiry_s,
        rampart_policy_loader::client_block::rfc3339_s("2998-06-01T12:00:00Z")
    );
    assert_eq!(p.policies[0].id, "rampart.client-block", "runs first");
    let from = |ip: &str| DryFacts {
        client_ip: Some(ip.parse().expect("ip")),
        ..facts()
    };
    for (ip, blocked) in [
        ("198.51.100.7", true),
        ("203.0.113.99", true),
        ("192.0.2.1", false),
        ("198.51.100.8", false),
    ] {
        let r = run(&p, &get("/"), &from(ip), false);
        assert_eq!(
            decision(&p, &r).as_deref(),
            blocked.then_some("rampart.client-block"),
            "{ip}"
        );
    }
    // No block in force: no policy, no list.
    f.file(
        "overlay.toml",
        "[[block]]\nclient = \"192.0.2.1\"\nuntil = \"2000-01-01T00:00:00Z\"\n",
    );
    let q = f.policy(&["vendor", "local"], Some("overlay.toml"));
    assert!(q.policy("rampart.client-block").is_none());
    assert_eq!(q.stats.client_blocks.next_expiry_s, None);
}

#[test]
fn bad_client_blocks_are_load_errors() {
    let f = two_packs();
    f.file(
        "overlay.toml",
        r#"
        [[block]]
        client = "10.0.0.0/33"
        until = "2999-01-01T00:00:00Z"

        [[block]]
        client = "10.0.0.1"
        until = "tomorrow"

        [[block]]
        until = "2999-01-01T00:00:00Z"
        why = 1
        "#,
    );
    assert_lines(
        &f.errors(&["vendor", "local"], Some("overlay.toml")),
        &[
            "overlay.toml:2:10: `10.0.0.0/33` is not an IP address or CIDR network",
            "overlay.toml:7:9: `until` is a UTC time like \"2026-11-25T07:10:00Z\", got `tomorrow`",
            "overlay.toml:9:1: a [[block]] needs `client`",
            "overlay.toml:11:1: unknown field `why` in a [[block]]; allowed: client, until, reason",
        ],
    );
}
