//! Evaluation semantics: small real packs, compiled with the real matcher,
//! and requests judged through `DryRunner` and `Evaluator`.

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use common::{decision, dedent, hits, request, run, Fixture};
use rampart_matcher::{RequestView, ScanLimits, Scanner};
use rampart_policy_loader::{
    measures::COUNTERS, Action, CompiledPolicy, DryFacts, Evaluator, Facts, RawRequest,
};

const SIGS: &str = r#"
    [[signature]]
    id = "sqli.union-select"
    pattern = 'union\s+select'
    flags = ["caseless"]
    fields = ["@values", "headers.value"]
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

/// Compiles one pack made of `SIGS`, `policies` and `extra` files.
fn compile(policies: &str, extra: &[(&str, &str)]) -> (Fixture, Arc<CompiledPolicy>) {
    let f = Fixture::new();
    let mut files = vec![
        ("signatures/core.toml", SIGS),
        ("policies/p.toml", policies),
    ];
    files.extend_from_slice(extra);
    f.pack("p", &files);
    let p = f.policy(&["p"], None);
    (f, p)
}

fn facts() -> DryFacts {
    DryFacts {
        counters: vec![0; COUNTERS.len()],
        ..DryFacts::default()
    }
}

fn with_counter(name: &str, value: u64) -> DryFacts {
    let mut f = facts();
    let i = COUNTERS.iter().position(|c| *c == name).expect("counter");
    f.counters[i] = value;
    f
}

fn from_ip(ip: &str) -> DryFacts {
    DryFacts {
        client_ip: Some(ip.parse().expect("ip")),
        ..facts()
    }
}

/// Ids of the matching policies for a request given as text (live mode).
fn matching(policy: &CompiledPolicy, req: &str) -> Vec<String> {
    hits(policy, &run(policy, &request(req), &facts(), false))
}

fn get(target: &str) -> RawRequest {
    request(&format!("GET {target} HTTP/1.1\nHost: api.example.com\n"))
}

/// Ids of the matching policies for `GET target` (live mode).
fn matching_get(policy: &CompiledPolicy, target: &str) -> Vec<String> {
    hits(policy, &run(policy, &get(target), &facts(), false))
}

const ATTACK: &str = "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--";

#[test]
fn priority_order_and_the_first_terminating_enforce_action_decides() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-BLOCK"
        name = "block"
        severity = "high"
        priority = 100
        condition = { signature = "sqli.union-select" }
        action = "block"

        [[policy]]
        id = "RP-RATE"
        name = "rate limit"
        severity = "high"
        priority = 50
        condition = { signature_tag = "sqli" }
        action = { rate_limit = { retry_after = "30s" } }

        [[policy]]
        id = "RP-TAG"
        name = "tag"
        severity = "low"
        priority = 10
        condition = { signature = "sqli.union-select" }
        action = { tag = { headers = { "X-Suspect" = "sqli" } } }

        [[policy]]
        id = "RP-B-SCORE"
        name = "score, tie on priority"
        severity = "low"
        priority = 20
        score = 2
        condition = { signature = "sqli.union-select" }
        action = "none"

        [[policy]]
        id = "RP-A-SCORE"
        name = "score, tie on priority"
        severity = "low"
        priority = 20
        score = 3
        condition = { signature = "sqli.union-select" }
        action = "none"

        [[policy]]
        id = "RP-DEFAULT"
        name = "default priority 1000"
        severity = "low"
        condition = { signature = "sqli.union-select" }
        action = "drop"
        "#,
        &[],
    );
    let order: Vec<&str> = p.policies.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        order,
        [
            "RP-TAG",
            "RP-A-SCORE",
            "RP-B-SCORE",
            "RP-RATE",
            "RP-BLOCK",
            "RP-DEFAULT"
        ]
    );
    let r = run(&p, &get(ATTACK), &facts(), false);
    assert_eq!(
        hits(&p, &r),
        [
            "RP-TAG",
            "RP-A-SCORE",
            "RP-B-SCORE",
            "RP-RATE",
            "RP-BLOCK",
            "RP-DEFAULT"
        ]
    );
    assert_eq!(decision(&p, &r).as_deref(), Some("RP-RATE"));
    assert_eq!(
        r.verdict.action(&p),
        Some(&Action::RateLimit { retry_after_s: 30 })
    );
    assert_eq!(r.verdict.score, 5);
    assert_eq!(r.verdict.allowed_by, None);

    // A benign request: nothing matches, nothing decides.
    let r = run(&p, &get("/search?q=union+station"), &facts(), false);
    assert!(r.verdict.hits.is_empty());
    assert_eq!(r.verdict.decision, None);
    assert_eq!(r.verdict.score, 0);
}

const ALLOW_AND_BLOCK: &str = r#"
    [[policy]]
    id = "RP-EARLY-BLOCK"
    name = "blocks a header attack before the allow list"
    severity = "high"
    priority = 5
    condition = { header = "x-attack" }
    action = "block"

    [[policy]]
    id = "RP-ALLOW"
    name = "internal scanner"
    severity = "info"
    priority = 10
    condition = { header = "x-internal-scan", equals = "yes" }
    action = "allow"

    [[policy]]
    id = "RP-BLOCK"
    name = "block sqli"
    severity = "high"
    priority = 100
    condition = { signature = "sqli.union-select" }
    action = "block"
"#;

#[test]
fn allow_stops_later_policies_but_not_in_a_dry_run() {
    let (_f, p) = compile(ALLOW_AND_BLOCK, &[]);
    let req = request(&format!(
        "GET {ATTACK} HTTP/1.1\nHost: a\nX-Internal-Scan: YES\n"
    ));
    let live = run(&p, &req, &facts(), false);
    assert_eq!(hits(&p, &live), ["RP-ALLOW"]);
    assert_eq!(live.verdict.decision, None);
    assert_eq!(
        live.verdict.allowed_by.map(|i| p.policies[i].id.as_str()),
        Some("RP-ALLOW")
    );

    let dry = run(&p, &req, &facts(), true);
    assert_eq!(hits(&p, &dry), ["RP-ALLOW", "RP-BLOCK"]);
    assert_eq!(decision(&p, &dry).as_deref(), Some("RP-BLOCK"));
    assert_eq!(dry.verdict.allowed_by, None);

    // Without the allow header the block decides.
    let r = run(&p, &get(ATTACK), &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-BLOCK"]);
    assert_eq!(decision(&p, &r).as_deref(), Some("RP-BLOCK"));
}

#[test]
fn allow_does_not_undo_an_earlier_decision() {
    // "The first matching enforce policy with a terminating action decides";
    // a later `allow` only stops the policies after it.
    let (_f, p) = compile(ALLOW_AND_BLOCK, &[]);
    let req = request(&format!(
        "GET {ATTACK} HTTP/1.1\nHost: a\nX-Attack: 1\nX-Internal-Scan: yes\n"
    ));
    let r = run(&p, &req, &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-EARLY-BLOCK", "RP-ALLOW"]);
    assert_eq!(decision(&p, &r).as_deref(), Some("RP-EARLY-BLOCK"));
    assert!(r.verdict.action(&p).is_some_and(Action::terminates));
}

#[test]
fn monitor_matches_are_listed_but_never_decide() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-MON"
        name = "monitor block"
        severity = "high"
        priority = 1
        mode = "monitor"
        score = 4
        condition = { signature = "sqli.union-select" }
        action = "block"

        [[policy]]
        id = "RP-MON-ALLOW"
        name = "monitor allow does not stop anything"
        severity = "info"
        priority = 2
        mode = "monitor"
        condition = { signature = "sqli.union-select" }
        action = "allow"

        [[policy]]
        id = "RP-TAG"
        name = "tag"
        severity = "low"
        priority = 3
        condition = { signature = "sqli.union-select" }
        action = { tag = { headers = { "X-Suspect" = "1" } } }
        "#,
        &[],
    );
    let r = run(&p, &get(ATTACK), &facts(), false);
    assert_eq!(
        hits(&p, &r),
        ["RP-MON(monitor)", "RP-MON-ALLOW(monitor)", "RP-TAG"]
    );
    assert_eq!(r.verdict.decision, None);
    assert_eq!(r.verdict.allowed_by, None);
    assert_eq!(r.verdict.action(&p), None, "tag and monitor never decide");
    assert_eq!(r.verdict.score, 0, "monitor scores do not count");
    assert_eq!(p.stats.monitor, 2);
    assert_eq!(p.stats.enforce, 1);
}

#[test]
fn mode_off_is_skipped_but_evaluated_in_a_dry_run() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-OFF"
        name = "off"
        severity = "high"
        priority = 1
        mode = "off"
        condition = { signature = "sqli.union-select" }
        action = "block"

        [[policy]]
        id = "RP-ON"
        name = "on"
        severity = "high"
        priority = 2
        condition = { signature = "sqli.union-select" }
        action = { deceive = { template = "block" } }
        "#,
        &[],
    );
    let live = run(&p, &get(ATTACK), &facts(), false);
    assert_eq!(hits(&p, &live), ["RP-ON"]);
    assert_eq!(decision(&p, &live).as_deref(), Some("RP-ON"));
    let dry = run(&p, &get(ATTACK), &facts(), true);
    assert_eq!(hits(&p, &dry), ["RP-OFF(monitor)", "RP-ON"]);
    assert_eq!(decision(&p, &dry).as_deref(), Some("RP-ON"));
}

#[test]
fn score_at_least_sums_the_other_policies_and_runs_last() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-SCORE-GATE"
        name = "enough suspicion"
        severity = "high"
        priority = 1
        condition = { score_at_least = 7 }
        action = "block"

        [[policy]]
        id = "RP-SQLI"
        name = "sqli score"
        severity = "medium"
        priority = 100
        score = 3
        condition = { signature = "sqli.union-select" }
        action = "none"

        [[policy]]
        id = "RP-XSS"
        name = "xss score"
        severity = "medium"
        priority = 200
        score = 4
        condition = { signature = "xss.script-tag" }
        action = "none"
        "#,
        &[],
    );
    assert_eq!(
        p.policies.last().map(|x| x.id.as_str()),
        Some("RP-SCORE-GATE")
    );
    let both = format!("{ATTACK}&x=%3Cscript%3E");
    let r = run(&p, &get(&both), &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-SQLI", "RP-XSS", "RP-SCORE-GATE"]);
    assert_eq!(decision(&p, &r).as_deref(), Some("RP-SCORE-GATE"));
    assert_eq!(r.verdict.score, 7);
    // One of them alone stays below 7.
    assert_eq!(matching_get(&p, ATTACK), ["RP-SQLI"]);
    assert_eq!(matching_get(&p, "/?x=%3Cscript%3E"), ["RP-XSS"]);
}

#[test]
fn tag_adds_headers_but_does_not_decide() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-TAG"
        name = "tag"
        severity = "low"
        condition = { signature = "sqli.union-select" }
        action = { tag = { headers = { "X-Rampart-Suspect" = "sqli" } } }
        "#,
        &[],
    );
    let r = run(&p, &get(ATTACK), &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-TAG"]);
    assert_eq!(r.verdict.decision, None);
    assert_eq!(
        p.policies[0].action,
        Action::Tag {
            headers: vec![("X-Rampart-Suspect".into(), "sqli".into())]
        }
    );
}

#[test]
fn header_value_tests_ignore_case() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "H-PRESENT"
        name = "present"
        severity = "low"
        condition = { header = "X-Debug" }
        action = "none"

        [[policy]]
        id = "H-EQUALS"
        name = "equals"
        severity = "low"
        condition = { header = "x-debug", equals = "TRUE" }
        action = "none"

        [[policy]]
        id = "H-CONTAINS"
        name = "contains"
        severity = "low"
        condition = { header = "user-agent", contains = "SQLMap" }
        action = "none"

        [[policy]]
        id = "H-PREFIX"
        name = "prefix"
        severity = "low"
        condition = { header = "authorization", prefix = "basic " }
        action = "none"

        [[policy]]
        id = "H-MATCHES"
        name = "matches (a regex: case-sensitive unless it says so)"
        severity = "low"
        condition = { header = "x-request-id", matches = '^[0-9a-f]{8}$' }
        action = "none"
        "#,
        &[],
    );
    let m = |headers: &str| matching(&p, &format!("GET / HTTP/1.1\nHost: a\n{headers}\n"));
    assert_eq!(m("x-DEBUG: true"), ["H-EQUALS", "H-PRESENT"]);
    assert_eq!(m("X-Debug: 0"), ["H-PRESENT"]);
    assert_eq!(m("X-Debug: true-ish"), ["H-PRESENT"], "equals is exact");
    assert_eq!(m("User-Agent: sqlmap/1.7#stable"), ["H-CONTAINS"]);
    assert_eq!(m("User-Agent: curl/8"), Vec::<String>::new());
    assert_eq!(m("Authorization: BASIC YTpi"), ["H-PREFIX"]);
    assert_eq!(m("Authorization: Bearer x"), Vec::<String>::new());
    assert_eq!(m("X-Request-Id: 0badf00d"), ["H-MATCHES"]);
    assert_eq!(m("X-Request-Id: 0BADF00D"), Vec::<String>::new());
    // Any of several headers with the name may pass the test.
    assert_eq!(m("X-Debug: no\nX-Debug: True"), ["H-EQUALS", "H-PRESENT"]);
}

#[test]
fn arg_and_cookie_value_tests() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "A-PRESENT"
        name = "debug arg present"
        severity = "low"
        condition = { arg = "debug" }
        action = "none"

        [[policy]]
        id = "A-EQUALS"
        name = "role=admin"
        severity = "low"
        condition = { arg = "role", equals = "Admin" }
        action = "none"

        [[policy]]
        id = "A-MIXED-CASE"
        name = "an arg name written in mixed case"
        severity = "low"
        condition = { arg = "userId", prefix = "0" }
        action = "none"

        [[policy]]
        id = "A-DECODED"
        name = "the value as the application reads it"
        severity = "low"
        condition = { arg = "q", equals = "a b+c" }
        action = "none"

        [[policy]]
        id = "C-CONTAINS"
        name = "cookie"
        severity = "low"
        condition = { cookie = "Session", contains = "ADMIN" }
        action = "none"

        [[policy]]
        id = "C-MATCHES"
        name = "cookie regex"
        severity = "low"
        condition = { cookie = "lang", matches = '^[a-z]{2}$' }
        action = "none"
        "#,
        &[],
    );
    assert_eq!(matching_get(&p, "/?debug"), ["A-PRESENT"]);
    assert_eq!(
        matching_get(&p, "/?debug=1&role=ADMIN"),
        ["A-EQUALS", "A-PRESENT"]
    );
    assert_eq!(
        matching_get(&p, "/?role=administrator"),
        Vec::<String>::new()
    );
    assert_eq!(matching_get(&p, "/?xdebug=1"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/?userId=007"), ["A-MIXED-CASE"]);
    assert_eq!(matching_get(&p, "/?userid=007"), ["A-MIXED-CASE"]);
    assert_eq!(matching_get(&p, "/?userId=7"), Vec::<String>::new());
    // Names and values are compared decoded (`+` is a space, `%XX` escapes).
    assert_eq!(matching_get(&p, "/?q=a+b%2Bc"), ["A-DECODED"]);
    assert_eq!(matching_get(&p, "/?q=A%20B%2bC"), ["A-DECODED"]);
    assert_eq!(matching_get(&p, "/?%71=a%20b%2Bc"), ["A-DECODED"]);
    assert_eq!(matching_get(&p, "/?q=a+b+c"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/?%64ebug=1"), ["A-PRESENT"]);
    assert_eq!(matching_get(&p, "/?r%6Fle=%41dmin"), ["A-EQUALS"]);
    let c = |cookie: &str| matching(&p, &format!("GET / HTTP/1.1\nHost: a\nCookie: {cookie}\n"));
    assert_eq!(c("theme=dark; session=xx-admin-yy"), ["C-CONTAINS"]);
    assert_eq!(c("SESSION=admin"), ["C-CONTAINS"]);
    assert_eq!(c("session=user; lang=en"), ["C-MATCHES"]);
    assert_eq!(c("lang=EN"), Vec::<String>::new());
    assert_eq!(c("other=admin"), Vec::<String>::new());
}

#[test]
fn method_is_case_sensitive() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-WRITE"
        name = "writes"
        severity = "low"
        condition = { method = ["PUT", "DELETE"] }
        action = "block"
        "#,
        &[],
    );
    for (method, expect) in [
        ("PUT", true),
        ("DELETE", true),
        ("GET", false),
        ("put", false),
    ] {
        let r = run(
            &p,
            &request(&format!("{method} /x HTTP/1.1\nHost: a\n")),
            &facts(),
            false,
        );
        assert_eq!(r.verdict.matched(0), expect, "{method}");
    }
}

#[test]
fn path_globs_use_the_decoded_normalised_path() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-ADMIN"
        name = "admin area"
        severity = "high"
        condition = { path = "/admin/**" }
        action = "block"

        [[policy]]
        id = "RP-VERSIONED"
        name = "one segment"
        severity = "low"
        condition = { path = ["/v*/users", "/exact"] }
        action = "none"

        [[policy]]
        id = "RP-REGEX"
        name = "path regex"
        severity = "low"
        condition = { path_regex = '^/api/v[0-9]+/' }
        action = "none"
        "#,
        &[],
    );
    assert_eq!(matching_get(&p, "/admin/users"), ["RP-ADMIN"]);
    assert_eq!(matching_get(&p, "/admin/a/b/c?x=1"), ["RP-ADMIN"]);
    assert_eq!(matching_get(&p, "/administrator"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/x/..%2fadmin/users"), ["RP-ADMIN"]);
    assert_eq!(matching_get(&p, "/x/../admin/users"), ["RP-ADMIN"]);
    assert_eq!(matching_get(&p, "/%61dmin/users"), ["RP-ADMIN"]);
    assert_eq!(matching_get(&p, "//admin//users"), ["RP-ADMIN"]);
    assert_eq!(matching_get(&p, "/v1/users"), ["RP-VERSIONED"]);
    assert_eq!(matching_get(&p, "/v1/x/users"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/exact"), ["RP-VERSIONED"]);
    assert_eq!(matching_get(&p, "/exact/more"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/api/v2/orders"), ["RP-REGEX"]);
    assert_eq!(matching_get(&p, "/x/../api/v2/orders"), ["RP-REGEX"]);
    assert_eq!(matching_get(&p, "/api/vx/orders"), Vec::<String>::new());
}

#[test]
fn route_templates() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-ORDERS"
        name = "orders of a user"
        severity = "low"
        condition = { route = ["/users/{id}/orders", "/shops/{shop}/items/{item}"] }
        action = "none"
        "#,
        &[],
    );
    assert_eq!(matching_get(&p, "/users/42/orders"), ["RP-ORDERS"]);
    assert_eq!(matching_get(&p, "/users/42/orders?page=2"), ["RP-ORDERS"]);
    assert_eq!(matching_get(&p, "/shops/a/items/b"), ["RP-ORDERS"]);
    assert_eq!(matching_get(&p, "/users/42/7/orders"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/users//orders"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/users/42/orders/1"), Vec::<String>::new());
}

#[test]
fn host_globs_ignore_the_port_and_case() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-INTERNAL"
        name = "internal hosts"
        severity = "high"
        condition = { host = ["*.internal.example.com", "[::1]"] }
        action = "block"
        "#,
        &[],
    );
    let m = |host: &str| matching(&p, &format!("GET / HTTP/1.1\nHost: {host}\n"));
    assert_eq!(m("api.internal.example.com"), ["RP-INTERNAL"]);
    assert_eq!(m("API.Internal.Example.com:8443"), ["RP-INTERNAL"]);
    assert_eq!(m("[::1]:8080"), ["RP-INTERNAL"]);
    assert_eq!(m("internal.example.com"), Vec::<String>::new());
    assert_eq!(m("a.b.internal.example.com"), Vec::<String>::new());
    assert_eq!(m("api.internal.example.com.evil.net"), Vec::<String>::new());
}

const LIST_POLICIES: &str = r#"
    [[policy]]
    id = "L-IP"
    name = "bad addresses"
    severity = "high"
    condition = { list = "bad-ips", key = "client.ip" }
    action = "block"

    [[policy]]
    id = "L-PASSWORD"
    name = "breached password"
    severity = "high"
    condition = { list = "breached", key = "credential.password" }
    action = "block"

    [[policy]]
    id = "L-JA4"
    name = "bot TLS"
    severity = "high"
    condition = { list = "bots", key = "tls.ja4" }
    action = "block"

    [[policy]]
    id = "L-ARG"
    name = "known test accounts"
    severity = "low"
    condition = { list = "test-users", key = "arg:UserName" }
    action = "none"

    [[policy]]
    id = "L-HEADER"
    name = "scanner user agents"
    severity = "high"
    condition = { list = "agents", key = "header:User-Agent" }
    action = "block"
"#;

#[test]
fn list_lookups() {
    let (_f, p) = compile(
        LIST_POLICIES,
        &[
            (
                "lists/bad-ips.cidr",
                "# addresses\n192.0.2.7\n198.51.100.0/24   # a range\n2001:db8:dead::/48\n",
            ),
            (
                "lists/breached.sha1",
                "# sha1(\"123456\"), upper case\n7C4A8D09CA3762AF61E59520943DC26494F8941B\n",
            ),
            ("lists/bots.ja4", "t13d1516h2_8daaf6152771_02713d6af862\n"),
            ("lists/agents.txt", "# scanners\nNikto/2.5\nsqlmap\n"),
            ("lists/test-users.txt", "qa bot\nalice\n"),
        ],
    );
    let plain = get("/");
    let ids = |facts: &DryFacts, req: &RawRequest| hits(&p, &run(&p, req, facts, false));
    for (ip, expect) in [
        ("192.0.2.7", true),
        ("192.0.2.8", false),
        ("198.51.100.200", true),
        ("198.51.101.1", false),
        ("2001:db8:dead:beef::1", true),
        ("2001:db8:beef::1", false),
        ("::ffff:192.0.2.7", true),
    ] {
        let got = ids(&from_ip(ip), &plain);
        assert_eq!(got == ["L-IP"], expect, "{ip}: {got:?}");
    }
    let pw = |s: &str| DryFacts {
        password: Some(s.as_bytes().to_vec()),
        ..facts()
    };
    assert_eq!(ids(&pw("123456"), &plain), ["L-PASSWORD"]);
    assert_eq!(ids(&pw("1234567"), &plain), Vec::<String>::new());
    let ja4 = |s: &str| DryFacts {
        ja4: Some(s.as_bytes().to_vec()),
        ..facts()
    };
    assert_eq!(
        ids(&ja4("t13d1516h2_8daaf6152771_02713d6af862"), &plain),
        ["L-JA4"]
    );
    assert_eq!(
        ids(&ja4("T13D1516H2_8DAAF6152771_02713D6AF862"), &plain),
        ["L-JA4"]
    );
    assert_eq!(
        ids(&ja4("t13d1516h2_8daaf6152771_000000000000"), &plain),
        Vec::<String>::new()
    );
    let ua = |s: &str| request(&format!("GET / HTTP/1.1\nHost: a\nuser-agent: {s}\n"));
    assert_eq!(ids(&facts(), &ua("SQLMAP")), ["L-HEADER"]);
    assert_eq!(ids(&facts(), &ua("nikto/2.5")), ["L-HEADER"]);
    assert_eq!(ids(&facts(), &ua("sqlmap/1.7")), Vec::<String>::new());
    assert_eq!(ids(&facts(), &plain), Vec::<String>::new());
    assert_eq!(ids(&facts(), &get("/?username=ALICE")), ["L-ARG"]);
    assert_eq!(ids(&facts(), &get("/?UserName=qa+bot")), ["L-ARG"]);
    assert_eq!(ids(&facts(), &get("/?user%4eame=qa%20bot")), ["L-ARG"]);
    assert_eq!(ids(&facts(), &get("/?username=bob")), Vec::<String>::new());
    assert_eq!(ids(&facts(), &get("/?user=alice")), Vec::<String>::new());
}

#[test]
fn counters_come_from_the_facts() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-STUFFING"
        name = "credential stuffing"
        severity = "high"
        condition = { all = [
            { path = "/login" },
            { counter = "client.ip.auth_failures_5m", gte = 20 },
        ] }
        action = { rate_limit = { retry_after = "1m" } }

        [[policy]]
        id = "RP-QUIET"
        name = "eq and lt"
        severity = "low"
        condition = { any = [
            { counter = "route.rate_1s", eq = 7 },
            { counter = "client.ip.timing_regularity_1m", lt = 1 },
        ] }
        action = "none"
        "#,
        &[],
    );
    let login = request("POST /login HTTP/1.1\nHost: a\n\nu=a&p=b\n");
    let got = |f: &DryFacts| hits(&p, &run(&p, &login, f, false));
    // Every counter reads 0 here, so `timing_regularity_1m < 1` holds.
    assert_eq!(got(&facts()), ["RP-QUIET"]);
    let mut f = with_counter("client.ip.auth_failures_5m", 20);
    f.counters[COUNTERS
        .iter()
        .position(|c| *c == "client.ip.timing_regularity_1m")
        .unwrap()] = 90;
    assert_eq!(got(&f), ["RP-STUFFING"]);
    f.counters[COUNTERS
        .iter()
        .position(|c| *c == "client.ip.auth_failures_5m")
        .unwrap()] = 19;
    assert_eq!(got(&f), Vec::<String>::new());
    f.counters[COUNTERS.iter().position(|c| *c == "route.rate_1s").unwrap()] = 7;
    assert_eq!(got(&f), ["RP-QUIET"]);
}

#[test]
fn request_measures() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "M-HEADERS"
        name = "many headers"
        severity = "low"
        condition = { counter = "request.header_count", gt = 3 }
        action = "none"

        [[policy]]
        id = "M-ARGS"
        name = "many args"
        severity = "low"
        condition = { counter = "request.arg_count", gte = 3 }
        action = "none"

        [[policy]]
        id = "M-JSON"
        name = "deep json"
        severity = "low"
        condition = { counter = "request.json_depth", gt = 3 }
        action = "none"

        [[policy]]
        id = "M-DEPTH"
        name = "deep path"
        severity = "low"
        condition = { counter = "request.path_depth", eq = 4 }
        action = "none"
        "#,
        &[],
    );
    assert_eq!(matching_get(&p, "/a?x=1&y=2"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/a?x=1&y=2&z=3"), ["M-ARGS"]);
    assert_eq!(matching_get(&p, "/a?x=1&&y=2&"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/a/b/c/d"), ["M-DEPTH"]);
    assert_eq!(matching_get(&p, "/a/b/../c/d/e"), ["M-DEPTH"]);
    assert_eq!(
        matching(&p, "GET / HTTP/1.1\nHost: a\nA: 1\nB: 2\n"),
        Vec::<String>::new()
    );
    assert_eq!(
        matching(&p, "GET / HTTP/1.1\nHost: a\nA: 1\nB: 2\nC: 3\n"),
        ["M-HEADERS"]
    );
    let json = |body: &str| {
        matching(
            &p,
            &format!("POST / HTTP/1.1\nHost: a\nContent-Type: application/json\n\n{body}\n"),
        )
    };
    assert_eq!(json(r#"{"a":{"b":{"c":1}}}"#), Vec::<String>::new());
    assert_eq!(json(r#"{"a":{"b":{"c":{"d":1}}}}"#), ["M-JSON"]);
    assert_eq!(json(r#"[[[[["deep"]]]]]"#), ["M-JSON"]);
}

#[test]
fn anomalies() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-DOUBLE"
        name = "double encoding"
        severity = "medium"
        condition = { anomaly = "double_encoded" }
        action = "block"
        "#,
        &[],
    );
    assert_eq!(matching_get(&p, "/?q=%252e%252e%252f"), ["RP-DOUBLE"]);
    assert_eq!(matching_get(&p, "/?q=%2e%2e%2f"), Vec::<String>::new());
    assert_eq!(matching_get(&p, "/?q=plain"), Vec::<String>::new());
}

#[test]
fn signature_fields_restrict_where_a_match_counts() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-Q-ONLY"
        name = "sqli in q"
        severity = "high"
        condition = { signature = "sqli.union-select", fields = ["args.value:Q"] }
        action = "block"

        [[policy]]
        id = "RP-HEADERS"
        name = "sqli in headers"
        severity = "high"
        condition = { signature_tag = "sqli", fields = ["headers.value"] }
        action = "block"

        [[policy]]
        id = "RP-ANYWHERE"
        name = "sqli anywhere"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "none"
        "#,
        &[],
    );
    let attack = "1%20union%20select%202";
    assert_eq!(
        matching_get(&p, &format!("/?q={attack}")),
        ["RP-ANYWHERE", "RP-Q-ONLY"]
    );
    assert_eq!(
        matching_get(&p, &format!("/?search={attack}")),
        ["RP-ANYWHERE"]
    );
    assert_eq!(
        matching(
            &p,
            "GET / HTTP/1.1\nHost: a\nX-Forwarded-For: 1 union select 2\n"
        ),
        ["RP-ANYWHERE", "RP-HEADERS"]
    );
    // The DryRun names the field and the fragment.
    let r = run(&p, &get(&format!("/?q={attack}")), &facts(), false);
    let s = &r.signatures[0];
    assert_eq!(
        (s.signature.as_str(), s.kind.as_str(), s.name.as_str()),
        ("sqli.union-select", "args.value", "q")
    );
    assert!(s.fragment.contains("union select"), "{s:?}");
}

#[test]
fn policy_references_and_not() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-BASE"
        name = "sqli seen"
        severity = "low"
        priority = 500
        condition = { signature = "sqli.union-select" }
        action = "none"

        [[policy]]
        id = "RP-ESCALATE"
        name = "sqli seen, not from the office"
        severity = "high"
        priority = 1
        condition = { all = [{ policy = "RP-BASE" }, { not = { header = "x-office" } }] }
        action = "block"
        "#,
        &[],
    );
    assert_eq!(matching_get(&p, ATTACK), ["RP-ESCALATE", "RP-BASE"]);
    assert_eq!(
        matching(
            &p,
            &format!("GET {ATTACK} HTTP/1.1\nHost: a\nX-Office: 1\n")
        ),
        ["RP-BASE"]
    );
    assert_eq!(matching_get(&p, "/"), Vec::<String>::new());
}

/// The evaluator used directly, the way the dataplane does: one scanner and
/// one evaluator reused across requests, a verdict reused too.
#[test]
fn evaluator_reuses_its_scratch_across_requests() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-SQLI"
        name = "sqli"
        severity = "high"
        condition = { signature = "sqli.union-select" }
        action = "block"

        [[policy]]
        id = "RP-ADMIN-NET"
        name = "admin only from the office"
        severity = "high"
        condition = { all = [{ path = "/admin/**" }, { not = { list = "office", key = "client.ip" } }] }
        action = "drop"
        "#,
        &[("lists/office.cidr", "10.0.0.0/8\n")],
    );
    let mut scanner = Scanner::new(&p.matcher, ScanLimits::default()).expect("scanner");
    let mut matches = scanner.new_matches();
    let mut eval = Evaluator::new();
    let mut verdict = Evaluator::new_verdict(&p);
    let counters = vec![0u64; COUNTERS.len()];
    let mut judge = |target: &str, ip: &str| {
        let headers: [(&[u8], &[u8]); 1] = [(b"host", b"a")];
        let view = RequestView {
            method: b"GET",
            target: target.as_bytes(),
            headers: &headers,
            body: b"",
        };
        scanner.scan_request(&view, &mut matches).expect("scan");
        let facts = Facts {
            counters: &counters,
            ..Facts::client(ip.parse::<IpAddr>().expect("ip"))
        };
        eval.evaluate(&p, &view, &matches, &facts, false, &mut verdict);
        verdict.decision.map(|i| p.policies[i].id.clone())
    };
    assert_eq!(judge(ATTACK, "203.0.113.1").as_deref(), Some("RP-SQLI"));
    assert_eq!(
        judge("/admin/x", "203.0.113.1").as_deref(),
        Some("RP-ADMIN-NET")
    );
    assert_eq!(judge("/admin/x", "10.9.8.7"), None);
    assert_eq!(judge("/search?q=hello", "203.0.113.1"), None);
    assert_eq!(judge(ATTACK, "10.9.8.7").as_deref(), Some("RP-SQLI"));
}

#[test]
fn a_dry_run_of_stored_examples() {
    let (_f, p) = compile(
        &dedent(
            r#"
            [[policy]]
            id = "RP-SQLI"
            name = "sqli"
            severity = "high"
            condition = { signature = "sqli.union-select" }
            action = "block"

            [[policy.example]]
            expect = "match"
            request = """
            GET /search?q=1%27%20UNION%20SELECT%201-- HTTP/1.1
            Host: api.example.com
            """

            [[policy.example]]
            expect = "no_match"
            request = """
            GET /search?q=union+station HTTP/1.1
            Host: api.example.com
            """
            "#,
        ),
        &[],
    );
    let t = rampart_policy_loader::self_test(&p).expect("self test");
    assert_eq!(t.examples, 2);
    assert!(t.failures.is_empty(), "{:?}", t.failures);
    assert!(t.missing.is_empty());
}

#[test]
fn a_reference_to_a_policy_in_mode_off_does_not_match() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-BASE"
        name = "turned off by the operator"
        severity = "low"
        mode = "off"
        condition = { path = "/x" }
        action = "none"

        [[policy]]
        id = "RP-MON"
        name = "monitor"
        severity = "low"
        mode = "monitor"
        condition = { path = "/x" }
        action = "none"

        [[policy]]
        id = "RP-REF-OFF"
        name = "depends on an off policy"
        severity = "high"
        condition = { policy = "RP-BASE" }
        action = "block"

        [[policy]]
        id = "RP-REF-MON"
        name = "depends on a monitor policy (which does match)"
        severity = "high"
        condition = { policy = "RP-MON" }
        action = "block"
        "#,
        &[],
    );
    let r = run(&p, &get("/x"), &facts(), false);
    assert_eq!(hits(&p, &r), ["RP-MON(monitor)", "RP-REF-MON"]);
    assert_eq!(decision(&p, &r).as_deref(), Some("RP-REF-MON"));
    // A dry run evaluates every policy, off ones included.
    let r = run(&p, &get("/x"), &facts(), true);
    assert_eq!(
        hits(&p, &r),
        [
            "RP-BASE(monitor)",
            "RP-MON(monitor)",
            "RP-REF-MON",
            "RP-REF-OFF"
        ]
    );
}

/// Known bug, in the matcher rather than the loader: the scanner parses a JSON
/// body (and so measures `request.json_depth` and notices `body_malformed`)
/// only when some signature targets JSON fields, and flags `double_encoded`
/// only on fields that some signature decodes with `url_decode`. A pack whose
/// signatures look elsewhere gets policies on these measures and anomalies
/// that never fire.
#[test]
fn measures_and_anomalies_do_not_depend_on_the_signatures() {
    let f = Fixture::new();
    f.pack(
        "p",
        &[
            (
                "signatures/s.toml",
                r#"
                [[signature]]
                id = "ua.sqlmap"
                literal = "sqlmap"
                fields = ["headers.value:user-agent"]
                "#,
            ),
            (
                "policies/p.toml",
                r#"
                [[policy]]
                id = "M-JSON"
                name = "deep json"
                severity = "low"
                condition = { counter = "request.json_depth", gt = 3 }
                action = "none"

                [[policy]]
                id = "M-MALFORMED"
                name = "malformed body"
                severity = "low"
                condition = { anomaly = "body_malformed" }
                action = "none"

                [[policy]]
                id = "M-DOUBLE"
                name = "double encoding"
                severity = "low"
                condition = { anomaly = "double_encoded" }
                action = "none"
                "#,
            ),
        ],
    );
    let p = f.policy(&["p"], None);
    let json = |body: &str| {
        matching(
            &p,
            &format!("POST / HTTP/1.1\nHost: a\nContent-Type: application/json\n\n{body}\n"),
        )
    };
    assert_eq!(json(r#"{"a":{"b":{"c":{"d":1}}}}"#), ["M-JSON"]);
    assert_eq!(json(r#"{"a":"#), ["M-MALFORMED"]);
    assert_eq!(matching_get(&p, "/?q=%252e%252e%252f"), ["M-DOUBLE"]);
}

#[test]
fn a_reference_to_a_score_policy_waits_for_the_score() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-REF"
        name = "refers to the score gate"
        severity = "high"
        priority = 1
        condition = { all = [{ policy = "RP-GATE" }, { method = "GET" }] }
        action = "block"

        [[policy]]
        id = "RP-GATE"
        name = "score gate"
        severity = "high"
        priority = 2
        condition = { score_at_least = 5 }
        action = "none"

        [[policy]]
        id = "RP-SQLI"
        name = "sqli"
        severity = "medium"
        priority = 100
        score = 5
        condition = { signature = "sqli.union-select" }
        action = "none"
        "#,
        &[],
    );
    let order: Vec<&str> = p.policies.iter().map(|x| x.id.as_str()).collect();
    let r = run(&p, &get(ATTACK), &facts(), false);
    // Both run after the score is complete, in priority order.
    assert_eq!(order, ["RP-SQLI", "RP-REF", "RP-GATE"]);
    assert_eq!(hits(&p, &r), ["RP-SQLI", "RP-REF", "RP-GATE"]);
    assert_eq!(decision(&p, &r).as_deref(), Some("RP-REF"));
    assert_eq!(matching_get(&p, "/"), Vec::<String>::new());
}

#[test]
fn example_requests_get_a_content_length_when_their_body_has_none() {
    let r = RawRequest::parse(b"POST /login HTTP/1.1\nHost: a\n\nu=a&p=b\n").expect("parse");
    assert_eq!(r.body, b"u=a&p=b");
    assert_eq!(
        r.headers,
        [
            (b"Host".to_vec(), b"a".to_vec()),
            (b"Content-Length".to_vec(), b"7".to_vec())
        ]
    );
    // One already there is kept as written (and the body as it is).
    let r = RawRequest::parse(b"POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 3\r\n\r\nabc")
        .expect("parse");
    assert_eq!(r.headers.len(), 2);
    assert_eq!(r.headers[1], (b"content-length".to_vec(), b"3".to_vec()));
    // No body, no Content-Length; a chunked body keeps its Transfer-Encoding alone.
    let r = RawRequest::parse(b"GET / HTTP/1.1\nHost: a\n").expect("parse");
    assert_eq!(r.headers, [(b"Host".to_vec(), b"a".to_vec())]);
    let r = RawRequest::parse(
        b"POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n3\r\nabc\r\n0\r\n\r\n",
    )
    .expect("parse");
    assert!(!r
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(b"content-length")));

    // Policies see it, as the gateway would.
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-CL"
        name = "form post with a length"
        severity = "low"
        condition = { all = [{ header = "content-length", equals = "7" }, { counter = "request.header_count", eq = 2 }] }
        action = "none"
        "#,
        &[],
    );
    assert_eq!(
        matching(&p, "POST /login HTTP/1.1\nHost: a\n\nu=a&p=b\n"),
        ["RP-CL"]
    );
}

/// Which stops are final on the head alone: positive matches only add up
/// (a query-argument match holds whatever the body says), a `not` around a
/// body-reading match could flip, and a body-reading `allow` earlier in the
/// order could save the request.
#[test]
fn head_final_stops() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "RP-POS"
        name = "positive match, may be in the body too"
        severity = "high"
        priority = 10
        condition = { signature = "sqli.union-select" }
        action = "block"

        [[policy]]
        id = "RP-NEG"
        name = "unless the body has a script tag"
        severity = "high"
        priority = 20
        condition = { all = [{ path = "/admin*" }, { not = { signature = "xss.script-tag" } }] }
        action = "block"

        [[policy]]
        id = "RP-NEG-HEAD"
        name = "not, on head fields only"
        severity = "high"
        priority = 30
        condition = { all = [{ path = "/x*" }, { not = { signature = "xss.script-tag", fields = ["args.value"] } }] }
        action = "block"

        [[policy]]
        id = "RP-ALLOW"
        name = "allow by a body match"
        severity = "info"
        priority = 40
        condition = { signature = "xss.script-tag", fields = ["json.value"] }
        action = "allow"

        [[policy]]
        id = "RP-AFTER"
        name = "after a body-reading allow"
        severity = "high"
        priority = 50
        condition = { path = "/late" }
        action = "block"
        "#,
        &[],
    );
    let fin = |id: &str| p.decided_by_head(p.policy(id).expect("policy").0);
    assert!(fin("RP-POS"));
    assert!(!fin("RP-NEG"), "a body match could unmatch it");
    assert!(fin("RP-NEG-HEAD"));
    assert!(!fin("RP-AFTER"), "the allow before it could match the body");
}

/// `{ tls = ... }` conditions test the handshake's facts and are never true
/// on a plain connection; examples set them with `tls = { ... }`.
#[test]
fn tls_conditions_test_the_handshake_facts() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "T-OLD"
        name = "TLS 1.2 to the admin API"
        severity = "medium"
        condition = { all = [{ tls = "version", equals = "1.2" }, { path = "/admin/**" }] }
        action = "block"

        [[policy.example]]
        expect = "match"
        tls = { version = "1.2" }
        request = "GET /admin/users HTTP/1.1\nHost: api.example.com\n"

        [[policy.example]]
        expect = "no_match"
        tls = { version = "1.3" }
        request = "GET /admin/users HTTP/1.1\nHost: api.example.com\n"

        [[policy]]
        id = "T-SNI"
        name = "Host does not name the certificate's host"
        severity = "medium"
        condition = { all = [{ tls = "sni" }, { not = { tls = "sni", equals = "api.example.com" } }] }
        action = "tag"

        [[policy.example]]
        expect = "match"
        tls = { sni = "other.example.com" }
        request = "GET / HTTP/1.1\nHost: api.example.com\n"

        [[policy.example]]
        expect = "no_match"
        note = "no TLS: nothing to test"
        request = "GET / HTTP/1.1\nHost: api.example.com\n"

        [[policy]]
        id = "T-ALPN"
        name = "ALPN other than http/1.1"
        severity = "medium"
        condition = { all = [{ tls = "alpn" }, { not = { tls = "alpn", equals = "http/1.1" } }] }
        action = "tag"

        [[policy.example]]
        expect = "match"
        tls = { alpn = "http/1.0" }
        request = "GET / HTTP/1.1\nHost: api.example.com\n"

        [[policy.example]]
        expect = "no_match"
        tls = { alpn = "http/1.1" }
        request = "GET / HTTP/1.1\nHost: api.example.com\n"

        [[policy]]
        id = "T-JA4"
        name = "JA4 prefix of a TLS 1.3 client without SNI"
        severity = "medium"
        condition = { tls = "ja4", prefix = "t13i" }
        action = "tag"

        [[policy.example]]
        expect = "match"
        tls = { ja4 = "t13i190900_cdda04ea901f_9846251eeac3" }
        request = "GET / HTTP/1.1\nHost: api.example.com\n"

        [[policy.example]]
        expect = "no_match"
        tls = { ja4 = "t13d1516h2_8daaf6152771_02713d6af862" }
        request = "GET / HTTP/1.1\nHost: api.example.com\n"
        "#,
        &[],
    );
    let r = rampart_policy_loader::self_test(&p).expect("self test");
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(r.examples, 8);
    // Live: the facts the dataplane passes.
    let mut f = facts();
    f.tls = [
        Some(b"1.2".to_vec()),
        Some(b"api.example.com".to_vec()),
        Some(b"http/1.1".to_vec()),
        None,
        None,
    ];
    let v = run(&p, &get("/admin/x"), &f, false);
    assert_eq!(hits(&p, &v), ["T-OLD"]);
}

#[test]
fn client_certificate_conditions_test_the_verified_subject() {
    let (_f, p) = compile(
        r#"
        [[policy]]
        id = "T-PARTNER-ONLY"
        name = "The partner API needs a client certificate"
        severity = "medium"
        condition = { all = [{ path = "/partner/**" }, { not = { tls = "client_subject" } }] }
        action = "block"

        [[policy.example]]
        expect = "match"
        note = "no client certificate"
        tls = { version = "1.3" }
        request = "GET /partner/orders HTTP/1.1\nHost: api.example.com\n"

        [[policy.example]]
        expect = "no_match"
        tls = { version = "1.3", client_subject = "CN=partner-a,O=Example", client_cn = "partner-a" }
        request = "GET /partner/orders HTTP/1.1\nHost: api.example.com\n"

        [[policy]]
        id = "T-PARTNER-B"
        name = "Partner B may not write"
        severity = "medium"
        condition = { all = [{ method = "POST" }, { tls = "client_cn", equals = "partner-b" }] }
        action = "block"

        [[policy.example]]
        expect = "match"
        tls = { client_subject = "CN=partner-b,O=Example", client_cn = "Partner-B" }
        request = "POST /partner/orders HTTP/1.1\nHost: api.example.com\nContent-Length: 0\n"

        [[policy.example]]
        expect = "no_match"
        tls = { client_subject = "CN=partner-a,O=Example", client_cn = "partner-a" }
        request = "POST /partner/orders HTTP/1.1\nHost: api.example.com\nContent-Length: 0\n"

        [[policy]]
        id = "T-ORG"
        name = "Certificates of one organisation"
        severity = "low"
        condition = { tls = "client_subject", matches = ',O=Example(,|$)' }
        action = "tag"

        [[policy.example]]
        expect = "match"
        tls = { client_subject = "CN=partner-a,O=Example,C=DE" }
        request = "GET / HTTP/1.1\nHost: api.example.com\n"

        [[policy.example]]
        expect = "no_match"
        tls = { client_subject = "CN=partner-a,O=Example Two" }
        request = "GET / HTTP/1.1\nHost: api.example.com\n"
        "#,
        &[],
    );
    let r = rampart_policy_loader::self_test(&p).expect("self test");
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(r.examples, 6);
    // Live: the facts the dataplane passes, in `Facts::tls` order.
    let mut f = facts();
    f.tls = [
        Some(b"1.3".to_vec()),
        Some(b"api.example.com".to_vec()),
        Some(b"http/1.1".to_vec()),
        Some(b"CN=partner-b,O=Example,C=DE".to_vec()),
        Some(b"partner-b".to_vec()),
    ];
    let post = request("POST /partner/orders HTTP/1.1\nHost: a\nContent-Length: 0\n");
    let v = run(&p, &post, &f, false);
    assert_eq!(hits(&p, &v), ["T-ORG", "T-PARTNER-B"]);
    // No certificate: the subject and CN are absent.
    f.tls[3] = None;
    f.tls[4] = None;
    let v = run(&p, &get("/partner/orders"), &f, false);
    assert_eq!(hits(&p, &v), ["T-PARTNER-ONLY"]);
}

#[test]
fn an_unknown_tls_property_is_an_error_naming_the_choices() {
    let f = Fixture::new();
    f.pack(
        "p",
        &[(
            "policies/p.toml",
            "[[policy]]\nid = \"X\"\nname = \"x\"\ncondition = { tls = \"cipher\" }\naction = \"block\"\n",
        )],
    );
    let e = f.load(&["p"], None).expect_err("an error").to_string();
    assert!(
        e.contains("unknown TLS property `cipher`; properties: version, sni, alpn, ja4, ja3, client_subject, client_cn"),
        "{e}"
    );
}
