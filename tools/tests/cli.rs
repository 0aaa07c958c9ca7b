//! `rampart-policy` run as a process on real pack directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rampart-policy");

const PACK_TOML: &str = "name = \"clipack\"\nversion = \"2.1.0\"\n";

const SIGS: &str = r#"[[signature]]
id = "sqli.union-select"
pattern = 'union\s+select'
flags = ["caseless"]
fields = ["@values"]
transforms = ["url_decode", "plus_to_space"]
tags = ["sqli"]
"#;

const POLICIES: &str = r#"[[policy]]
id = "RP-SQLI-001"
name = "SQL injection: UNION SELECT"
description = "Extracting data by appending a UNION SELECT to a parameter."
severity = "critical"
tags = ["injection", "sqli"]
priority = 100
score = 5
condition = { signature = "sqli.union-select" }
action = "block"

[[policy.example]]
expect = "match"
request = """
GET /search?q=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1
Host: api.example.com
"""

[[policy.example]]
expect = "no_match"
request = """
GET /search?q=union+station HTTP/1.1
Host: api.example.com
"""

[[policy]]
id = "RP-ADMIN-MON"
name = "Admin area from outside"
severity = "high"
mode = "monitor"
priority = 10
condition = { all = [{ path = "/admin/**" }, { not = { header = "x-office", equals = "yes" } }] }
action = { rate_limit = { retry_after = "30s" } }

[[policy.example]]
expect = "match"
request = "GET /admin/users HTTP/1.1\nHost: a\n"

[[policy.example]]
expect = "no_match"
request = "GET /admin/users HTTP/1.1\nHost: a\nX-Office: yes\n"
"#;

/// A temporary directory with packs in it.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        p
    }

    /// The valid pack `name`, with `policies` as its policies file.
    fn pack(&self, name: &str, policies: &str) -> String {
        self.write(&format!("{name}/pack.toml"), PACK_TOML);
        self.write(&format!("{name}/signatures/core.toml"), SIGS);
        self.write(&format!("{name}/policies/core.toml"), policies);
        self.write(
            &format!("{name}/responses/block.json"),
            r#"{"error":"blocked","event_id":"{{event_id}}"}"#,
        );
        self.path().join(name).display().to_string()
    }

    /// Runs the tool; returns (exit code, stdout, stderr) with this
    /// directory's path replaced by `$T`.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out: Output = Command::new(BIN)
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("run rampart-policy");
        let root = self.path().display().to_string();
        let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&root, "$T");
        (
            out.status.code().expect("exit code"),
            clean(&out.stdout),
            clean(&out.stderr),
        )
    }
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn check_a_valid_pack() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    let (code, out, err) = d.run(&["check", &p]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    let out = out.trim_end();
    assert!(out.starts_with("ok: clipack@2.1.0 ("), "{out}");
    assert!(
        out.ends_with(") — 2 policies (1 enforce, 1 monitor), 1 signatures"),
        "{out}"
    );
    assert_eq!(lines(out).len(), 1);
}

#[test]
fn check_a_broken_pack_prints_every_problem_at_its_place() {
    let d = Dir::new();
    let p = d.pack(
        "p",
        &POLICIES
            .replace(
                "condition = { signature = \"sqli.union-select\" }",
                "condition = { signature = \"sqli.union-selct\" }",
            )
            .replace("severity = \"high\"", "severity = \"hgh\""),
    );
    d.write("p/lists/bad.cidr", "10.0.0.0/8\n300.1.1.1\n");
    let (code, out, err) = d.run(&["check", &p]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "");
    assert_eq!(
        lines(&err),
        [
            "$T/p/lists/bad.cidr:2:1: `300.1.1.1` is not an IP address or CIDR network",
            "$T/p/policies/core.toml:9:27: RP-SQLI-001: unknown signature `sqli.union-selct` (did you mean `sqli.union-select`?)",
            "$T/p/policies/core.toml:29:12: RP-ADMIN-MON: unknown severity `hgh`; use info, low, medium, high or critical",
            "3 problem(s); nothing loaded",
        ]
    );
}

#[test]
fn a_missing_pack_directory_is_a_clear_error() {
    let d = Dir::new();
    let (code, out, err) = d.run(&["check", "nope"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        lines(&err),
        [
            "nope: pack directory not found",
            "1 problem(s); nothing loaded"
        ]
    );
    // Every command that loads packs says the same.
    for cmd in [
        &["list", "nope"][..],
        &["explain", "RP-SQLI-001", "nope"],
        &["test", "nope", "--self"],
        &["diff", "nope", "nope"],
    ] {
        let (code, _, err) = d.run(cmd);
        assert_eq!(code, 1, "{cmd:?}: {err}");
        assert!(
            err.contains("nope: pack directory not found"),
            "{cmd:?}: {err}"
        );
    }
}

#[test]
fn test_a_curl_command_line() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    let (code, out, err) = d.run(&[
        "test",
        &p,
        "--curl",
        "curl -s 'https://api.example.com/search?q=1%27%20UNION%20SELECT%20password--&page=2' -H 'Accept: */*'",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        lines(&out),
        [
            "request 1: GET /search?q=1%27%20UNION%20SELECT%20password--&page=2",
            "  signature sqli.union-select in args.value:q at ..15: \"1' UNION SELECT\"",
            "  policy RP-SQLI-001 [critical] SQL injection: UNION SELECT -> block 403 with template block",
            "  verdict: block 403 with template block (policy RP-SQLI-001), score 5",
        ]
    );

    // A monitor match is listed as such and the request is forwarded.
    let (code, out, _) = d.run(&["test", &p, "--curl", "curl http://h/admin/x"]);
    assert_eq!(code, 0);
    assert_eq!(
        lines(&out),
        [
            "request 1: GET /admin/x",
            "  policy RP-ADMIN-MON [high, monitor] Admin area from outside -> rate limit (429, Retry-After: 30)",
            "  verdict: forward, score 0",
        ]
    );
}

#[test]
fn test_a_raw_request_file() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    let req = d.write(
        "login.http",
        "POST /search HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nq=1+union+select+2&x=y",
    );
    let (code, out, err) = d.run(&["test", &p, "--request", &req.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        lines(&out),
        [
            "request 1: POST /search",
            "  signature sqli.union-select in form.value:q at ..14: \"1 union select\"",
            "  policy RP-SQLI-001 [critical] SQL injection: UNION SELECT -> block 403 with template block",
            "  verdict: block 403 with template block (policy RP-SQLI-001), score 5",
        ]
    );
    // Not a request.
    let junk = d.write("junk.http", "hello\n");
    let (code, _, err) = d.run(&["test", &p, "--request", &junk.display().to_string()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("junk.http is not an HTTP/1.1 request"),
        "{err}"
    );
}

#[test]
fn test_a_har_capture() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    let har = d.write(
        "capture.har",
        r#"{"log":{"version":"1.2","entries":[
            {"request":{"method":"GET","url":"https://api.example.com/search?q=1%27%20UNION%20SELECT%201--",
                        "headers":[{"name":":authority","value":"api.example.com"}]}},
            {"request":{"method":"POST","url":"https://api.example.com/search",
                        "headers":[{"name":"Content-Type","value":"application/json"}],
                        "postData":{"mimeType":"application/json","text":"{\"q\":\"union station\"}"}}}
        ]}}"#,
    );
    let (code, out, err) = d.run(&["test", &p, "--har", &har.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        lines(&out),
        [
            "request 1: GET /search?q=1%27%20UNION%20SELECT%201--",
            "  signature sqli.union-select in args.value:q at ..15: \"1' UNION SELECT\"",
            "  policy RP-SQLI-001 [critical] SQL injection: UNION SELECT -> block 403 with template block",
            "  verdict: block 403 with template block (policy RP-SQLI-001), score 5",
            "request 2: POST /search",
            "  verdict: forward, score 0",
            "2 requests, 1 stopped",
        ]
    );
}

#[test]
fn test_counters_and_client_address() {
    let d = Dir::new();
    let p = d.pack(
        "p",
        r#"[[policy]]
id = "RP-RATE"
name = "too fast"
severity = "medium"
condition = { all = [{ counter = "client.ip.rate_10s", gt = 100 }, { not = { list = "office", key = "client.ip" } }] }
action = "drop"
"#,
    );
    d.write("p/lists/office.cidr", "10.0.0.0/8\n");
    let verdict = |extra: &[&str]| {
        let mut args = vec!["test", p.as_str(), "--curl", "curl http://h/"];
        args.extend_from_slice(extra);
        let (code, out, err) = d.run(&args);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .find(|l| l.starts_with("  verdict: "))
            .expect("verdict line")
            .to_owned()
    };
    assert_eq!(verdict(&[]), "  verdict: forward, score 0");
    assert_eq!(
        verdict(&["--counter", "client.ip.rate_10s=101"]),
        "  verdict: drop the connection (policy RP-RATE), score 0"
    );
    assert_eq!(
        verdict(&[
            "--counter",
            "client.ip.rate_10s=101",
            "--client-ip",
            "10.2.3.4"
        ]),
        "  verdict: forward, score 0"
    );
    let (code, _, err) = d.run(&[
        "test",
        &p,
        "--curl",
        "curl http://h/",
        "--counter",
        "client.ip.rate_10=1",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown counter client.ip.rate_10"), "{err}");
}

#[test]
fn test_names_the_matching_list_entry_and_the_header_fingerprint() {
    let d = Dir::new();
    let p = d.pack(
        "p",
        r#"[[policy]]
id = "RP-FEED"
name = "on the feed"
severity = "high"
condition = { list = "feed", key = "client.ip" }
action = "drop"
"#,
    );
    d.write("p/lists/feed.cidr", "198.51.100.0/24\n198.51.100.7\n");
    d.write("p/lists/tools.hfp", "ge11nn03_e89050d54621\n");
    let (code, out, err) = d.run(&[
        "test",
        &p,
        "--curl",
        "curl http://h/",
        "--client-ip",
        "198.51.100.9",
    ]);
    assert_eq!(code, 0, "{err}");
    let out = lines(&out);
    assert!(
        out.contains(&"  list feed: client 198.51.100.9 matches entry 198.51.100.0/24"),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("  header fingerprint: ge11")),
        "{out:?}"
    );
}

#[test]
fn self_test_passes_when_every_example_does() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    let (code, out, err) = d.run(&["test", &p, "--self"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        lines(&out),
        ["4 examples of 2 policies: 0 failed, 0 policies without both kinds of example"]
    );
}

#[test]
fn self_test_fails_on_a_wrong_example() {
    let d = Dir::new();
    // The third example of RP-SQLI-001 claims a benign request matches; it
    // starts at line 26 of the policies file.
    let wrong = POLICIES.replace(
        "[[policy]]\nid = \"RP-ADMIN-MON\"",
        "[[policy.example]]\nexpect = \"match\"\nrequest = \"GET /search?q=hello HTTP/1.1\\nHost: a\\n\"\n\n[[policy]]\nid = \"RP-ADMIN-MON\"",
    );
    assert_eq!(
        wrong.lines().nth(25),
        Some("[[policy.example]]"),
        "line 26 is the example"
    );
    let p = d.pack("p", &wrong);
    let (code, out, err) = d.run(&["test", &p, "--self"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        lines(&out),
        [
            "FAIL RP-SQLI-001 ($T/p/policies/core.toml:26:1): expected a match, got no match; signatures that matched: none",
            "5 examples of 2 policies: 1 failed, 0 policies without both kinds of example",
        ]
    );

    // And the other way round: a no_match example that matches.
    let wrong = POLICIES.replace(
        "GET /search?q=union+station HTTP/1.1",
        "GET /search?q=union+select+1 HTTP/1.1",
    );
    let p = d.pack("q", &wrong);
    let (code, out, _) = d.run(&["test", &p, "--self"]);
    assert_eq!(code, 1);
    assert_eq!(
        lines(&out)[0],
        "FAIL RP-SQLI-001 ($T/q/policies/core.toml:19:1): expected no match, got a match; signatures that matched: sqli.union-select in args.value:q"
    );
}

#[test]
fn self_test_fails_on_a_policy_without_both_kinds_of_example() {
    let d = Dir::new();
    let p = d.pack(
        "p",
        &format!(
            "{POLICIES}\n[[policy]]\nid = \"RP-TRACE\"\nname = \"trace\"\nseverity = \"low\"\ncondition = {{ method = \"TRACE\" }}\naction = \"block\"\n\n[[policy.example]]\nexpect = \"match\"\nrequest = \"TRACE / HTTP/1.1\\nHost: a\\n\"\n"
        ),
    );
    let (code, out, err) = d.run(&["test", &p, "--self"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        lines(&out),
        [
            "MISSING RP-TRACE: needs at least one `match` and one `no_match` example",
            "5 examples of 3 policies: 0 failed, 1 policies without both kinds of example",
        ]
    );
}

#[test]
fn list_policies() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    let (code, out, err) = d.run(&["list", &p]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        lines(&out),
        [
            "RP-ADMIN-MON     high     monitor rate_limit Admin area from outside",
            "RP-SQLI-001      critical enforce block      SQL injection: UNION SELECT",
        ]
    );
}

#[test]
fn explain_a_policy() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    let overlay = d.write(
        "overlay.toml",
        "[[override]]\npolicy = \"RP-SQLI-001\"\nscore = 3\n\n[[override.exclude]]\npath = \"/search\"\nfield = \"args.value:q\"\n",
    );
    let (code, out, err) = d.run(&[
        "explain",
        "RP-SQLI-001",
        &p,
        "--overlay",
        &overlay.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        lines(&out),
        [
            "RP-SQLI-001 — SQL injection: UNION SELECT",
            "  severity:  critical   mode: enforce   priority: 100   score: 3",
            "  tags:      injection, sqli",
            "  from:      $T/p/policies/core.toml:1:1 (clipack)",
            "  about:     Extracting data by appending a UNION SELECT to a parameter.",
            "  condition: signature sqli.union-select",
            "  action:    block 403 with template block",
            "  excluded:  paths [\"/search\"] methods [] clients [] field Some(\"args.value:q\")",
            "  signature sqli.union-select: /union\\s+select/ in [args.value, form.value, json.value, multipart.value, xml.text, cookies.value] after [url_decode, plus_to_space]",
            "  examples:  2 (1 match, 1 no_match)",
        ]
    );
    let (code, out, _) = d.run(&["explain", "RP-ADMIN-MON", &p]);
    assert_eq!(code, 0);
    let out = lines(&out);
    assert!(
        out.contains(&"  condition: all(path ~ [/admin/**], not(header x-office equals \"yes\"))"),
        "{out:?}"
    );
    assert!(
        out.contains(&"  action:    rate limit (429, Retry-After: 30)"),
        "{out:?}"
    );
    assert!(
        out.contains(&"  severity:  high   mode: monitor   priority: 10   score: 0"),
        "{out:?}"
    );

    let (code, _, err) = d.run(&["explain", "RP-NOPE", &p]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        "rampart-policy: no policy `RP-NOPE` in these packs"
    );
}

#[test]
fn diff_two_pack_versions() {
    let d = Dir::new();
    let old = d.pack("old", POLICIES);
    let admin = POLICIES
        .find("[[policy]]\nid = \"RP-ADMIN-MON\"")
        .expect("admin");
    let edited = POLICIES[..admin].replace(
        "condition = { signature = \"sqli.union-select\" }\naction = \"block\"",
        "condition = { signature = \"sqli.union-select\" }\naction = \"drop\"",
    ) + "[[policy]]\nid = \"RP-NEW\"\nname = \"new\"\nseverity = \"low\"\ncondition = { method = \"TRACE\" }\naction = \"block\"\n";
    assert!(edited.contains("action = \"drop\""));
    let new = d.pack("new", &edited);
    let (code, out, err) = d.run(&["diff", &old, &new]);
    assert_eq!(code, 0, "{err}");
    let out = lines(&out);
    assert!(
        out[0].starts_with("clipack@2.1.0 (") && out[0].contains(") -> clipack@2.1.0 ("),
        "{out:?}"
    );
    assert_eq!(
        out[1..],
        [
            "+ RP-NEW",
            "- RP-ADMIN-MON",
            "~ RP-SQLI-001",
            "1 added, 1 removed, 1 changed"
        ]
    );
    // Moving lines is not a change.
    let moved = d.pack("moved", &format!("# moved\n\n\n{POLICIES}"));
    let (code, out, _) = d.run(&["diff", &old, &moved]);
    assert_eq!(code, 0);
    assert_eq!(lines(&out)[1..], ["0 added, 0 removed, 0 changed"]);
    // A new pattern for a signature changes the policy that uses it.
    let sig = d.pack("sig", POLICIES);
    d.write(
        "sig/signatures/core.toml",
        &SIGS.replace(r"union\s+select", r"union\s+(?:all\s+)?select"),
    );
    let (code, out, _) = d.run(&["diff", &old, &sig]);
    assert_eq!(code, 0);
    assert_eq!(
        lines(&out)[1..],
        ["~ RP-SQLI-001", "0 added, 0 removed, 1 changed"]
    );
}

#[test]
fn test_without_any_input_is_a_usage_error() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    let (code, _, err) = d.run(&["test", &p]);
    assert_eq!(code, 2);
    assert!(
        err.contains("give --request FILE, --har FILE, --curl '…' or --self"),
        "{err}"
    );
}

#[test]
fn curl_data_is_sent_with_its_length_and_a_form_content_type() {
    let d = Dir::new();
    let p = d.pack(
        "p",
        r#"[[policy]]
id = "RP-FORM"
name = "a form post as curl sends it"
severity = "low"
condition = { all = [
    { method = "POST" },
    { header = "content-length", equals = "7" },
    { header = "content-type", equals = "application/x-www-form-urlencoded" },
] }
action = "block"
"#,
    );
    let verdict = |curl: &str| {
        let (code, out, err) = d.run(&["test", &p, "--curl", curl]);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .find(|l| l.starts_with("  verdict: "))
            .expect("verdict")
            .to_owned()
    };
    let blocked = "  verdict: block 403 with template block (policy RP-FORM), score 0";
    assert_eq!(verdict("curl -d 'u=a&p=b' http://h/login"), blocked);
    assert_eq!(verdict("curl -d 'u=a' -d 'p=b' http://h/login"), blocked);
    assert_eq!(
        verdict("curl -d 'u=a&p=bb' http://h/login"),
        "  verdict: forward, score 0"
    );
    assert_eq!(
        verdict("curl http://h/login"),
        "  verdict: forward, score 0"
    );
}

#[test]
fn compile_prints_statistics_and_reuses_its_cache() {
    let d = Dir::new();
    let p = d.pack("p", POLICIES);
    d.write(
        "p/signatures/tautology.toml",
        r#"[[signature]]
id = "sqli.tautology"
pattern = '(\w+)\s*=\s*\1'
fields = ["@values"]
transforms = ["url_decode"]
tags = ["sqli"]
"#,
    );
    d.write("p/lists/office.cidr", "10.0.0.0/8\n192.168.0.0/16\n");
    let cache = d.path().join("cache").display().to_string();
    let (code, out, err) = d.run(&["compile", &p, "--cache", &cache]);
    assert_eq!(code, 0, "{err}");
    let out = lines(&out);
    assert_eq!(out.len(), 7, "{out:?}");
    assert!(
        out[0].starts_with("version:       clipack@2.1.0 ("),
        "{out:?}"
    );
    assert_eq!(out[1], "policies:      2 (1 enforce, 1 monitor, 0 off)");
    assert!(
        out[2].starts_with("signatures:    2 in 2 transform groups, "),
        "{out:?}"
    );
    assert_eq!(out[3], "prefiltered:   1 (sqli.tautology)");
    assert_eq!(out[5], "lists:         office (2 cidr)");
    assert!(out[6].starts_with("compile time:  "), "{out:?}");
    assert!(!out[6].ends_with("(databases from cache)"), "{out:?}");
    let (code, out, _) = d.run(&["compile", &p, "--cache", &cache]);
    assert_eq!(code, 0);
    assert!(
        out.trim_end().ends_with(" ms (databases from cache)"),
        "{out}"
    );
}
