//! Config parsing and validation: each rule, and that every error is reported
//! with its position.

use super::*;

const GOOD: &str = r#"
[server]
workers = 2
listen = ["127.0.0.1:8080"]

[limits]
max_body_bytes = "10MiB"

[timeouts]
header_read = "5s"

[[upstream]]
name = "api"
servers = ["127.0.0.1:18080", "http://127.0.0.1:18081"]
balance = "least_connections"

[[route]]
path_prefix = "/"
upstream = "api"
"#;

fn errs(src: &str) -> Vec<Diagnostic> {
    match parse(src, "t.toml") {
        Ok(_) => panic!("expected errors for:\n{src}"),
        Err(d) => d.0,
    }
}

fn one(src: &str, needle: &str, line: usize) {
    let e = errs(src);
    assert!(
        e.iter()
            .any(|d| d.message.contains(needle) && d.line == line),
        "no error containing {needle:?} on line {line}: {e:#?}"
    );
}

#[test]
fn good_config_parses() {
    let c = parse(GOOD, "t.toml").expect("valid");
    assert_eq!(c.workers, Workers::Count(2));
    assert_eq!(c.listeners, vec!["127.0.0.1:8080".parse().expect("addr")]);
    assert_eq!(c.limits.max_body_bytes, 10 << 20);
    assert_eq!(c.timeouts.header_read, Duration::from_secs(5));
    assert_eq!(c.upstreams[0].servers.len(), 2);
    assert_eq!(c.upstreams[0].balance, Balance::LeastConnections);
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.admin, Some(DEFAULT_ADMIN));
}

#[test]
fn example_config_parses() {
    let src = include_str!("../../etc/rampart.example.toml");
    parse(src, "rampart.example.toml").expect("the shipped example must be valid");
}

#[test]
fn syntax_error_has_position() {
    let e = errs("[server]\nlisten = [\"127.0.0.1:1\"\nworkers = 1\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("TOML syntax error"), "{e:?}");
    assert!(e[0].line >= 2);
}

#[test]
fn unknown_keys_everywhere_are_all_reported() {
    let src = "[server]\nlisten = [\"127.0.0.1:1\"]\nworkerz = 1\n[limitz]\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:2\"]\nweight = 3\n";
    let e = errs(src);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert_eq!((e[0].line, e[0].col), (3, 1));
    assert!(e[0].message.contains("workerz") && e[0].message.contains("allowed"));
    assert_eq!(e[1].line, 4);
    assert_eq!(e[2].line, 8);
}

#[test]
fn display_is_file_line_col() {
    let e = errs(
        "[server]\nlisten = [\"nope\"]\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:2\"]\n",
    );
    assert_eq!(
        e[0].to_string().split(':').take(3).collect::<Vec<_>>(),
        vec!["t.toml", "2", "11"]
    );
}

#[test]
fn wrong_types() {
    one("[server]\nlisten = \"127.0.0.1:1\"\npin_workers = \"yes\"\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n", "true or false", 3);
    one(
        "[server]\nlisten = 5\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n",
        "array",
        2,
    );
}

#[test]
fn bad_address_and_cidr() {
    let src = "[server]\nlisten = [\"localhost:80\"]\n[forwarding]\ntrusted_proxies = [\"10.0.0.0/33\"]\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n";
    let e = errs(src);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(e[0].line, 2);
    assert!(e[1].message.contains("CIDR"));
}

#[test]
fn sizes_and_durations_are_checked() {
    one("[server]\nlisten=[\"127.0.0.1:1\"]\n[limits]\nmax_header_bytes = \"2 parsecs\"\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n", "unknown size unit", 4);
    one("[server]\nlisten=[\"127.0.0.1:1\"]\n[timeouts]\nheader_read = \"ten\"\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n", "duration", 4);
    one("[server]\nlisten=[\"127.0.0.1:1\"]\n[timeouts]\nheader_read = \"0s\"\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n", "greater than zero", 4);
}

#[test]
fn ranges_are_checked() {
    let base =
        "[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n[server]\nlisten=[\"127.0.0.1:1\"]\n";
    one(&format!("{base}workers = 0\n"), "out of range", 6);
    one(&format!("{base}workers = 5000\n"), "out of range", 6);
    one(
        &format!("{base}[limits]\nmax_header_bytes = 100\n"),
        "out of range",
        7,
    );
    one(
        &format!("{base}[limits]\nmax_headers = 0\n"),
        "out of range",
        7,
    );
    one(
        &format!("{base}[io]\nring_entries = 1000\n"),
        "power of two",
        7,
    );
    one(
        &format!("{base}[io]\nrecv_buffers = 100\n"),
        "power of two",
        7,
    );
    one(
        &format!("{base}[io]\nrecv_buffer_bytes = 1024\n"),
        "out of range",
        7,
    );
    let e = errs(&format!("{base}[limits]\nmax_body_bytes = 1000\n"));
    assert!(
        e.iter().any(|d| d.message.contains("inspect_body_bytes")),
        "{e:#?}"
    );
}

#[test]
fn listener_rules() {
    let up = "[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n";
    let e = errs(up);
    assert!(
        e.iter().any(|d| d.message.contains("no listener")),
        "{e:#?}"
    );
    one(
        &format!("[server]\nlisten=[\"127.0.0.1:1\", \"127.0.0.1:1\"]\n{up}"),
        "duplicate listener",
        2,
    );
    one(&format!("[server]\nlisten=[]\n{up}"), "empty", 2);
}

#[test]
fn upstream_rules() {
    let l = "[server]\nlisten=[\"127.0.0.1:1\"]\n";
    let e = errs(l);
    assert!(
        e.iter().any(|d| d.message.contains("no upstream")),
        "{e:#?}"
    );
    one(&format!("{l}[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:3\"]\n"), "duplicate upstream", 6);
    one(
        &format!("{l}[[upstream]]\nname=\"a\"\nservers=[]\n"),
        "empty",
        5,
    );
    one(
        &format!("{l}[[upstream]]\nname=\"a\"\nservers=[\"no-such-host.invalid:80\"]\n"),
        "cannot resolve",
        5,
    );
    one(
        &format!("{l}[[upstream]]\nname=\"a\"\nservers=[\"https://127.0.0.1:2\"]\n"),
        "TLS",
        5,
    );
    one(
        &format!("{l}[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1\"]\n"),
        "host:port",
        5,
    );
    one(
        &format!("{l}[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\nbalance=\"random\"\n"),
        "round_robin",
        6,
    );
    one(
        &format!("{l}[[upstream]]\nservers=[\"127.0.0.1:2\"]\n"),
        "needs a name",
        3,
    );
}

#[test]
fn route_rules() {
    let head =
        "[server]\nlisten=[\"127.0.0.1:1\"]\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n";
    one(
        &format!("{head}[[route]]\nupstream=\"b\"\n"),
        "no [[upstream]] named \"b\"",
        7,
    );
    one(
        &format!("{head}[[route]]\npath_prefix=\"api\"\nupstream=\"a\"\n"),
        "must start with '/'",
        7,
    );
    one(
        &format!("{head}[[route]]\nupstream=\"a\"\n[[route]]\nupstream=\"a\"\n"),
        "duplicate route",
        8,
    );
    let two = "[server]\nlisten=[\"127.0.0.1:1\"]\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n[[upstream]]\nname=\"b\"\nservers=[\"127.0.0.1:3\"]\n";
    let e = errs(two);
    assert!(
        e.iter().any(|d| d.message.contains("no [[route]]")),
        "{e:#?}"
    );
    let c = parse(
        &format!(
            "{two}[[route]]\nhost=\"API.example.com\"\nupstream=\"b\"\n[[route]]\nupstream=\"a\"\n"
        ),
        "t",
    )
    .expect("valid");
    assert_eq!(c.routes[0].host.as_deref(), Some("api.example.com"));
    assert_eq!(c.routes[0].upstream, 1);
}

#[test]
fn single_upstream_gets_a_default_route() {
    let c = parse(
        "[server]\nlisten=[\"127.0.0.1:0\"]\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n",
        "t",
    )
    .expect("valid");
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes[0].path_prefix, "/");
}

#[test]
fn several_errors_in_file_order() {
    let src = "[server]\nlisten=[\"bad\"]\n[limits]\nmax_headers = 0\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n[[route]]\nupstream=\"zzz\"\n";
    let e = errs(src);
    let lines: Vec<usize> = e.iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![2, 4, 9], "{e:#?}");
}

#[test]
fn admin_can_be_disabled_or_moved() {
    let base =
        "[server]\nlisten=[\"127.0.0.1:1\"]\n[[upstream]]\nname=\"a\"\nservers=[\"127.0.0.1:2\"]\n";
    let c = parse(&format!("{base}[admin]\nenabled=false\n"), "t").expect("valid");
    assert_eq!(c.admin, None);
    let c = parse(&format!("{base}[admin]\nlisten=\"127.0.0.1:0\"\n"), "t").expect("valid");
    assert_eq!(c.admin, Some("127.0.0.1:0".parse().expect("addr")));
}

#[test]
fn quick_mode() {
    let c = Config::quick(
        "127.0.0.1:0".parse().expect("addr"),
        "http://127.0.0.1:18080",
        Workers::Count(1),
    )
    .expect("valid");
    assert_eq!(c.upstreams[0].servers[0].port(), 18080);
    assert!(Config::quick(
        "127.0.0.1:0".parse().expect("addr"),
        "127.0.0.1:18080",
        Workers::Auto
    )
    .is_err());
    assert!(Config::quick(
        "127.0.0.1:0".parse().expect("addr"),
        "https://127.0.0.1:1",
        Workers::Auto
    )
    .is_err());
}

#[test]
fn unreadable_file_is_io_error() {
    match load_file(Path::new("/nonexistent/rampart.toml")) {
        Err(ConfigError::Io { path, .. }) => assert!(path.ends_with("rampart.toml")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}
