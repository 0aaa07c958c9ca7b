//! Tests for loading and validating configs: one per diagnostic, plus defaults, the
//! shipped example file and quick mode.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;

/// The smallest valid config; tests append or prepend to it.
const MIN: &str = r#"[server]
listen = ["127.0.0.1:0"]

[[upstream]]
name = "api"
servers = ["127.0.0.1:18080"]
"#;

fn ok(src: &str) -> Config {
    match parse(src, "t.toml") {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// Diagnostics rendered as `line:col: message` (the file is always t.toml).
fn errs(src: &str) -> Vec<String> {
    match parse(src, "t.toml") {
        Ok(c) => panic!("expected errors, got a valid config: {c:?}"),
        Err(d) => {
            d.0.iter()
                .map(|d| {
                    assert_eq!(d.file, "t.toml");
                    format!("{}:{}: {}", d.line, d.col, d.message)
                })
                .collect()
        }
    }
}

/// Asserts exactly one diagnostic, at `line:col`, whose message contains `needle`.
fn one_err(src: &str, at: &str, needle: &str) {
    let e = errs(src);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    assert!(
        e[0].starts_with(&format!("{at}: ")) && e[0].contains(needle),
        "expected `{at}: ...{needle}...`, got {:?}",
        e[0]
    );
}

#[test]
fn minimal_config_gets_defaults() {
    let c = ok(MIN);
    assert_eq!(c.workers, Workers::Auto);
    assert!(c.pin_workers);
    assert_eq!(
        c.listeners,
        vec!["127.0.0.1:0".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(c.admin, Some(DEFAULT_ADMIN));
    assert_eq!(c.limits.max_header_bytes, 16 * 1024);
    assert_eq!(c.limits.max_headers, 100);
    assert_eq!(c.limits.max_target_bytes, 8 * 1024);
    assert_eq!(c.limits.max_body_bytes, 1 << 30);
    assert_eq!(c.limits.inspect_body_bytes, 128 * 1024);
    assert_eq!(c.limits.max_connections_per_worker, 16384);
    assert!(c.limits.stream_inspect);
    assert_eq!(c.limits.stream_inspect_per_worker, 256);
    assert_eq!(c.limits.inspect_response_bytes, 64 * 1024);
    assert_eq!(c.timeouts.header_read, Duration::from_secs(10));
    assert_eq!(c.timeouts.idle_keepalive, Duration::from_secs(60));
    assert_eq!(c.timeouts.upstream_connect, Duration::from_secs(2));
    assert_eq!(c.timeouts.shutdown_grace, Duration::from_secs(30));
    assert!(c.forwarding.trusted_proxies.is_empty());
    assert!(c.forwarding.add_forwarded);
    assert_eq!(c.io.ring_entries, 4096);
    assert_eq!(c.io.recv_buffer_bytes, 16 * 1024);
    assert_eq!(c.io.recv_buffers, 512);
    let u = &c.upstreams[0];
    assert_eq!(u.name, "api");
    assert_eq!(
        u.servers,
        vec!["127.0.0.1:18080".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(u.balance, Balance::RoundRobin);
    assert_eq!(u.max_idle_per_server, 64);
    assert_eq!(u.max_fails, 3);
    assert_eq!(u.fail_timeout, Duration::from_secs(10));
    assert!(u.retry_idempotent);
    // No [[route]] and one upstream: everything goes to it.
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes[0].host, None);
    assert_eq!(c.routes[0].path_prefix, "/");
    assert_eq!(c.routes[0].upstream, 0);
}

#[test]
fn example_file_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/rampart.example.toml");
    let c = match load_file(&path) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        c.listeners,
        vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        c.forwarding.trusted_proxies,
        vec!["10.0.0.0/8".parse().unwrap()]
    );
    assert_eq!(c.routes[0].host.as_deref(), Some("api.example.com"));
    assert_eq!(c.upstreams[0].name, "api");
}

#[test]
fn example_file_documents_every_key() {
    let src = include_str!("../../etc/rampart.example.toml");
    let keys = [
        "workers",
        "pin_workers",
        "listen",
        "enabled",
        "max_header_bytes",
        "max_headers",
        "max_target_bytes",
        "max_body_bytes",
        "inspect_body_bytes",
        "max_connections_per_worker",
        "header_read",
        "idle_keepalive",
        "body_read",
        "client_write",
        "upstream_connect",
        "upstream_read",
        "upstream_write",
        "shutdown_grace",
        "trusted_proxies",
        "add_forwarded",
        "ring_entries",
        "recv_buffer_bytes",
        "recv_buffers",
        "name",
        "servers",
        "balance",
        "max_idle_per_server",
        "max_fails",
        "fail_timeout",
        "retry_idempotent",
        "tls",
        "sink",
        "rotate_bytes",
        "rotate_every",
        "keep",
        "queue_bytes",
        "sample_allowed",
        "per_policy_per_second",
        "redact",
        "host",
        "path_prefix",
        "upstream",
        "mode",
        "tarpit_max_per_core",
        "denylist_capacity",
        "deceive_remember",
        "deceive_max_delay",
        "learn_every",
        "lists",
        "memory_per_core",
        "steer_by_address",
        "key_sync_interval",
    ];
    for key in keys {
        assert!(
            src.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "example config does not show `{key}`"
        );
    }
}

#[test]
fn full_config_values() {
    let c = ok(r#"
[server]
workers = 4
pin_workers = false
listen = ["0.0.0.0:8080", "[::1]:8081"]
[admin]
listen = "127.0.0.1:9000"
[limits]
max_header_bytes = "32 KiB"
max_headers = 50
max_target_bytes = 4096
max_body_bytes = "10MB"
inspect_body_bytes = "1MiB"
max_connections_per_worker = 100
stream_inspect = false
stream_inspect_per_worker = 8
inspect_response_bytes = "16KiB"
[timeouts]
header_read = "500ms"
idle_keepalive = "2m"
body_read = 1500
upstream_read = "1h"
shutdown_grace = "0s"
[forwarding]
trusted_proxies = ["10.0.0.0/8", "fd00::/8", "192.0.2.7"]
add_forwarded = false
[io]
ring_entries = 256
recv_buffer_bytes = "64KiB"
recv_buffers = 1024
[[upstream]]
name = "a"
servers = ["127.0.0.1:1", "http://127.0.0.2:2/"]
balance = "least_connections"
max_idle_per_server = 8
max_fails = 0
fail_timeout = "30s"
retry_idempotent = false
[[upstream]]
name = "b"
servers = ["[::1]:3"]
[[route]]
host = "API.Example.com"
path_prefix = "/v1/"
upstream = "b"
[[route]]
upstream = "a"
"#);
    assert_eq!(c.workers, Workers::Count(4));
    assert!(!c.pin_workers);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.admin, Some("127.0.0.1:9000".parse().unwrap()));
    assert_eq!(c.limits.max_header_bytes, 32 * 1024);
    assert_eq!(c.limits.max_headers, 50);
    assert_eq!(c.limits.max_target_bytes, 4096);
    assert_eq!(c.limits.max_body_bytes, 10_000_000);
    assert_eq!(c.limits.inspect_body_bytes, 1 << 20);
    assert_eq!(c.limits.max_connections_per_worker, 100);
    assert!(!c.limits.stream_inspect);
    assert_eq!(c.limits.stream_inspect_per_worker, 8);
    assert_eq!(c.limits.inspect_response_bytes, 16 * 1024);
    assert_eq!(c.timeouts.header_read, Duration::from_millis(500));
    assert_eq!(c.timeouts.idle_keepalive, Duration::from_secs(120));
    assert_eq!(c.timeouts.body_read, Duration::from_millis(1500));
    assert_eq!(c.timeouts.upstream_read, Duration::from_secs(3600));
    assert_eq!(c.timeouts.shutdown_grace, Duration::ZERO);
    assert_eq!(c.forwarding.trusted_proxies.len(), 3);
    assert_eq!(
        c.forwarding.trusted_proxies[2],
        "192.0.2.7/32".parse().unwrap()
    );
    assert!(!c.forwarding.add_forwarded);
    assert_eq!(
        (c.io.ring_entries, c.io.recv_buffer_bytes, c.io.recv_buffers),
        (256, 65536, 1024)
    );
    let a = &c.upstreams[0];
    assert_eq!(
        a.servers,
        vec![
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.2:2".parse().unwrap()
        ]
    );
    assert_eq!(a.balance, Balance::LeastConnections);
    assert_eq!((a.max_idle_per_server, a.max_fails), (8, 0));
    assert_eq!(a.fail_timeout, Duration::from_secs(30));
    assert!(!a.retry_idempotent);
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[0].host.as_deref(), Some("api.example.com"));
    assert_eq!(c.routes[0].path_prefix, "/v1/");
    assert_eq!(c.routes[0].upstream, 1);
    assert_eq!(
        (
            c.routes[1].host.as_deref(),
            c.routes[1].path_prefix.as_str()
        ),
        (None, "/")
    );
    assert_eq!(c.routes[1].upstream, 0);
}

#[test]
fn admin_api_keys() {
    let c = ok(MIN);
    assert_eq!(c.admin_api, crate::admin_api::ApiConfig::default());
    let c = ok(&format!(
        "[admin]\ntoken_file = \"tokens\"\naudit_log = \"/var/log/a.jsonl\"\nrecent_events = 0\nmax_streams = 2\nstream_keepalive = \"1s\"\n{MIN}"
    ));
    assert_eq!(c.admin_api.token_file, Some("tokens".into()));
    assert_eq!(c.admin_api.audit_log, Some("/var/log/a.jsonl".into()));
    assert_eq!(c.admin_api.recent_events, 0);
    assert_eq!(c.admin_api.max_streams, 2);
    assert_eq!(c.admin_api.stream_keepalive, Duration::from_secs(1));
    one_err(
        &format!("[admin]\nmax_streams = 0\n{MIN}"),
        "2:15",
        "max_streams",
    );
    one_err(
        &format!("[admin]\ntoken_file = \"\"\n{MIN}"),
        "2:14",
        "must not be empty",
    );
    one_err(
        &format!("[admin]\nrecent_events = -1\n{MIN}"),
        "2:17",
        "recent_events",
    );
}

#[test]
fn admin_can_be_disabled() {
    let c = ok(&format!("[admin]\nenabled = false\n{MIN}"));
    assert_eq!(c.admin, None);
}

#[test]
fn syntax_error_has_position() {
    let e = errs("[server]\nlisten = [\"127.0.0.1:0\"\n");
    assert!(!e.is_empty());
    assert!(e[0].starts_with("2:"), "{e:?}");
    assert!(e[0].contains("syntax error"), "{e:?}");
    one_err("[server\n", "1:8", "syntax error");
}

#[test]
fn syntax_error_duplicate_key() {
    let e = errs(&format!("{MIN}name = \"again\"\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("7:1:") && e[0].contains("syntax error"),
        "{e:?}"
    );
}

#[test]
fn intel_list_directories() {
    let c = ok(&format!(
        "{MIN}[intel]\nlists = [\"/var/lib/rampart/intel\", \"feeds\"]\n"
    ));
    assert_eq!(
        c.intel.lists,
        [
            std::path::PathBuf::from("/var/lib/rampart/intel"),
            std::path::PathBuf::from("feeds")
        ]
    );
    assert!(ok(MIN).intel.lists.is_empty());
    one_err(
        &format!("{MIN}[intel]\nlists = \"/var/lib/rampart/intel\"\n"),
        "8:9",
        "an array of directories",
    );
    one_err(
        &format!("{MIN}[intel]\nlists = [\"a\", \" \"]\n"),
        "8:15",
        "intel.lists: a directory must not be empty",
    );
    one_err(
        &format!("{MIN}[intel]\nlist = []\n"),
        "8:1",
        "unknown key `list` in [intel]; allowed keys: lists",
    );
}

#[test]
fn unknown_top_level_table() {
    one_err(
        &format!("{MIN}[serverz]\nx = 1\n"),
        "7:2",
        "unknown table `serverz`",
    );
    let e = errs(&format!("{MIN}[serverz]\n"));
    assert!(e[0].contains("allowed tables: [server]"), "{e:?}");
}

#[test]
fn unknown_key_lists_allowed_keys() {
    one_err(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworker = 2\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n",
        "3:1",
        "unknown key `worker` in [server]; allowed keys: workers, pin_workers, listen",
    );
}

#[test]
fn unknown_key_in_upstream_and_route() {
    let e = errs(&format!(
        "{MIN}retries = 3\n[[route]]\nupstream = \"api\"\nprefix = \"/\"\n"
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("7:1: unknown key `retries` in [[upstream]]"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("10:1: unknown key `prefix` in [[route]]"),
        "{e:?}"
    );
}

#[test]
fn wrong_types() {
    one_err(
        &format!("{MIN}[limits]\nmax_headers = \"many\"\n"),
        "8:15",
        "limits.max_headers must be an integer, found string",
    );
    one_err(
        &MIN.replace("[server]\n", "[server]\npin_workers = 1\n"),
        "2:15",
        "server.pin_workers must be a boolean",
    );
    one_err(
        &format!("{MIN}[timeouts]\nheader_read = true\n"),
        "8:15",
        "timeouts.header_read must be a duration",
    );
    one_err(
        "server = 3\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n",
        "1:10",
        "server must be a table, found integer",
    );
}

#[test]
fn upstream_must_be_array_of_tables() {
    one_err(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[upstream]\nname = \"a\"\n",
        "3:1",
        "write [[upstream]]",
    );
}

#[test]
fn workers_range_and_auto() {
    let with = |w: &str| {
        format!("[server]\nworkers = {w}\nlisten = [\"127.0.0.1:0\"]\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n")
    };
    one_err(
        &with("0"),
        "2:11",
        "server.workers must be between 1 and 1024, got 0",
    );
    one_err(&with("1025"), "2:11", "between 1 and 1024");
    one_err(&with("\"all\""), "2:11", "must be \"auto\" or an integer");
    one_err(&with("2.5"), "2:11", "found float");
    assert_eq!(ok(&with("1024")).workers, Workers::Count(1024));
    assert_eq!(ok(&with("\"auto\"")).workers, Workers::Auto);
    assert!(Workers::Auto.resolve() >= 1);
    assert_eq!(Workers::Count(3).resolve(), 3);
}

#[test]
fn bad_socket_address() {
    one_err(
        "[server]\nlisten = [\"127.0.0.1:0\", \"localhost:80\"]\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n",
        "2:26",
        "invalid socket address \"localhost:80\"",
    );
    one_err(
        &format!("[admin]\nlisten = \"127.0.0.1\"\n{MIN}"),
        "2:10",
        "admin.listen: invalid socket address",
    );
}

#[test]
fn no_listener() {
    one_err(
        "[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n",
        "1:1",
        "no listener",
    );
    one_err(
        "[server]\nworkers = 2\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n",
        "1:1",
        "no listener",
    );
    one_err(
        "[server]\nlisten = []\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n",
        "2:10",
        "server.listen is empty",
    );
}

#[test]
fn duplicate_listener() {
    one_err(
        "[server]\nlisten = [\"127.0.0.1:8080\", \"[::]:8080\", \"127.0.0.1:8080\"]\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n",
        "2:42",
        "duplicate listen address 127.0.0.1:8080 (first listed at line 2, column 11)",
    );
    // Port 0 asks the kernel for a fresh port each time, so repeating it is fine.
    let c = ok("[server]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n");
    assert_eq!(c.listeners.len(), 2);
}

#[test]
fn admin_conflicts_with_listener() {
    one_err(
        "[server]\nlisten = [\"127.0.0.1:8080\"]\n[admin]\nlisten = \"127.0.0.1:8080\"\n[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n",
        "4:10",
        "also a proxy listener",
    );
}

#[test]
fn bad_cidr() {
    one_err(
        &format!(
            "{MIN}[forwarding]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\", \"nope\"]\n"
        )
        .replace("\"nope\"", "\"10.1.0.0/16\""),
        "8:34",
        "invalid CIDR \"10.0.0.0/33\"",
    );
}

#[test]
fn bad_size_and_duration_strings() {
    let e = errs(&format!(
        "{MIN}[limits]\nmax_body_bytes = \"10 gigs\"\n[timeouts]\nbody_read = \"30 seconds\"\nheader_read = -5\n"
    ));
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].starts_with("8:18: limits.max_body_bytes: invalid size \"10 gigs\""),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("10:13: timeouts.body_read: invalid duration \"30 seconds\""),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("11:15: timeouts.header_read must not be negative"),
        "{e:?}"
    );
    one_err(
        &format!("{MIN}[timeouts]\nupstream_connect = \"0ms\"\n"),
        "8:20",
        "must be greater than zero",
    );
}

#[test]
fn limit_ranges() {
    one_err(
        &format!("{MIN}[limits]\nmax_header_bytes = 512\n"),
        "8:20",
        "limits.max_header_bytes must be between 1KiB and 1MiB, got 512 bytes",
    );
    one_err(
        &format!("{MIN}[limits]\nmax_header_bytes = \"2MiB\"\n"),
        "8:20",
        "between 1KiB and 1MiB",
    );
    one_err(
        &format!("{MIN}[limits]\nmax_headers = 0\n"),
        "8:15",
        "between 1 and 1000",
    );
    one_err(
        &format!("{MIN}[limits]\nmax_headers = 1001\n"),
        "8:15",
        "between 1 and 1000",
    );
    one_err(
        &format!("{MIN}[limits]\nmax_header_bytes = \"4KiB\"\nmax_target_bytes = \"8KiB\"\n"),
        "9:20",
        "must not exceed limits.max_header_bytes",
    );
}

#[test]
fn inspect_body_must_fit_max_body() {
    one_err(
        &format!("{MIN}[limits]\nmax_body_bytes = \"64KiB\"\ninspect_body_bytes = \"128KiB\"\n"),
        "9:22",
        "limits.inspect_body_bytes (128KiB) must not exceed limits.max_body_bytes (64KiB)",
    );
}

#[test]
fn stream_and_response_inspection_limits() {
    one_err(
        &format!("{MIN}[limits]\nstream_inspect = \"yes\"\n"),
        "8:18",
        "limits.stream_inspect must be a boolean",
    );
    one_err(
        &format!("{MIN}[limits]\nstream_inspect_per_worker = 0\n"),
        "8:29",
        "between 1 and 65536",
    );
    one_err(
        &format!("{MIN}[limits]\ninspect_response_bytes = \"1GiB\"\n"),
        "8:26",
        "inspect_response_bytes",
    );
}

#[test]
fn dependent_limits_shrink_when_unset() {
    let c = ok(&format!(
        "{MIN}[limits]\nmax_header_bytes = \"4KiB\"\nmax_body_bytes = 1000\n"
    ));
    assert_eq!(c.limits.max_target_bytes, 4096);
    assert_eq!(c.limits.inspect_body_bytes, 1000);
}

#[test]
fn io_ranges() {
    one_err(
        &format!("{MIN}[io]\nring_entries = 1000\n"),
        "8:16",
        "io.ring_entries must be a power of two, got 1000",
    );
    one_err(
        &format!("{MIN}[io]\nring_entries = 32\n"),
        "8:16",
        "between 64 and 32768",
    );
    one_err(
        &format!("{MIN}[io]\nring_entries = 65536\n"),
        "8:16",
        "between 64 and 32768",
    );
    one_err(
        &format!("{MIN}[io]\nrecv_buffers = 100\n"),
        "8:16",
        "io.recv_buffers must be a power of two",
    );
    one_err(
        &format!("{MIN}[io]\nrecv_buffer_bytes = \"2KiB\"\n"),
        "8:21",
        "between 4KiB and 1MiB",
    );
    one_err(
        &format!("{MIN}[io]\nrecv_buffer_bytes = \"2MiB\"\n"),
        "8:21",
        "between 4KiB and 1MiB",
    );
}

#[test]
fn no_upstream() {
    one_err(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n",
        "1:1",
        "no upstream",
    );
}

#[test]
fn duplicate_upstream_name() {
    one_err(
        &format!("{MIN}[[upstream]]\nname = \"api\"\nservers = [\"127.0.0.1:2\"]\n[[route]]\nupstream = \"api\"\n"),
        "8:8",
        "duplicate upstream name \"api\" (first defined at line 5, column 8)",
    );
}

#[test]
fn upstream_without_servers() {
    one_err(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[[upstream]]\nname = \"a\"\nservers = []\n",
        "5:11",
        "upstream.servers is empty",
    );
    one_err(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[[upstream]]\nname = \"a\"\n",
        "3:1",
        "upstream has no servers",
    );
    one_err(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[[upstream]]\nservers = [\"127.0.0.1:1\"]\n",
        "3:1",
        "missing its `name`",
    );
}

#[test]
fn upstream_server_errors() {
    let e = errs(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[[upstream]]\nname = \"a\"\nservers = [\"https://127.0.0.1:443\", \"127.0.0.1\", \"no-such-host.invalid:80\"]\nbalance = \"random\"\n",
    );
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(
        e[0].starts_with("5:12: ") && e[0].contains("set `tls = true` on the upstream"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("5:37: ") && e[1].contains("missing its port"),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("5:50: ")
            && e[2].contains("cannot resolve upstream host \"no-such-host.invalid\""),
        "{e:?}"
    );
    assert!(e[3].starts_with("6:11: upstream.balance must be"), "{e:?}");
}

#[test]
fn route_to_unknown_upstream() {
    one_err(
        &format!("{MIN}[[route]]\nupstream = \"web\"\n"),
        "8:12",
        "route.upstream \"web\" is not a defined upstream; defined: api",
    );
}

#[test]
fn duplicate_route() {
    one_err(
        &format!("{MIN}[[route]]\nhost = \"a.example\"\npath_prefix = \"/x\"\nupstream = \"api\"\n[[route]]\nhost = \"A.EXAMPLE\"\npath_prefix = \"/x\"\nupstream = \"api\"\n"),
        "13:15",
        "duplicate route for host \"a.example\" and path_prefix \"/x\" (first defined at line 9, column 15)",
    );
    // Same prefix on different hosts (or on any host) is fine.
    let c = ok(&format!(
        "{MIN}[[route]]\nhost = \"a.example\"\nupstream = \"api\"\n[[route]]\nupstream = \"api\"\n"
    ));
    assert_eq!(c.routes.len(), 2);
}

#[test]
fn route_path_prefix_and_host_checks() {
    one_err(
        &format!("{MIN}[[route]]\npath_prefix = \"api\"\nupstream = \"api\"\n"),
        "8:15",
        "must start with '/'",
    );
    one_err(
        &format!("{MIN}[[route]]\nhost = \"a.example:8080\"\nupstream = \"api\"\n"),
        "8:8",
        "must not include a port",
    );
    one_err(
        &format!("{MIN}[[route]]\nhost = \"\"\nupstream = \"api\"\n"),
        "8:8",
        "must not be empty",
    );
    one_err(
        &format!("{MIN}[[route]]\npath_prefix = \"/\"\n"),
        "7:1",
        "route is missing `upstream`",
    );
}

#[test]
fn no_route_with_several_upstreams() {
    one_err(
        &format!("{MIN}[[upstream]]\nname = \"b\"\nservers = [\"127.0.0.1:2\"]\n"),
        "1:1",
        "no [[route]] defined and there are 2 upstreams",
    );
}

#[test]
fn many_errors_reported_in_file_order() {
    let src = r#"
[server]
workers = 0
listen = ["127.0.0.1:80", "bogus"]
colour = "blue"

[limits]
max_headers = 5000

[timeouts]
header_read = "soon"

[io]
ring_entries = 100

[[upstream]]
name = "a"
servers = []

[[route]]
path_prefix = "nope"
upstream = "b"
"#;
    let e = errs(src);
    let positions: Vec<&str> = e
        .iter()
        .map(|s| s.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        positions,
        ["3:11", "4:27", "5:1", "8:15", "11:15", "14:16", "18:11", "21:15", "22:12"],
        "{e:#?}"
    );
}

#[test]
fn diagnostics_display_format() {
    let d = parse("[server]\nlisten = 1\n", "conf/rampart.toml").unwrap_err();
    let text = d.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("conf/rampart.toml:1:1: no upstream"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("conf/rampart.toml:2:10: server.listen must be an array"),
        "{text}"
    );
    let err = ConfigError::Invalid(d);
    assert_eq!(err.to_string(), text);
}

#[test]
fn columns_count_characters_not_bytes() {
    // "é" is two bytes; the column must still point at the value.
    one_err(
        &format!("{MIN}[[route]]\nhost = \"a\" # é\nupstream = \"é\"\n"),
        "9:12",
        "is not a defined upstream",
    );
}

#[test]
fn load_file_io_error() {
    let err = load_file(Path::new("/nonexistent/rampart.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot read config /nonexistent/rampart.toml: "),
        "{err}"
    );
}

#[test]
fn quick_mode() {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let c = Config::quick(listen, "http://127.0.0.1:18080", Workers::Count(2)).unwrap();
    assert_eq!(c.workers, Workers::Count(2));
    assert_eq!(c.listeners, vec![listen]);
    assert_eq!(c.admin, Some(DEFAULT_ADMIN));
    assert_eq!(c.upstreams.len(), 1);
    assert_eq!(c.upstreams[0].name, "default");
    assert_eq!(
        c.upstreams[0].servers,
        vec!["127.0.0.1:18080".parse().unwrap()]
    );
    assert_eq!(c.routes.len(), 1);
    assert_eq!(
        (
            c.routes[0].host.as_deref(),
            c.routes[0].path_prefix.as_str(),
            c.routes[0].upstream
        ),
        (None, "/", 0)
    );
    assert_eq!(
        c.limits.max_header_bytes,
        Limits::default().max_header_bytes
    );

    let c = Config::quick(listen, "http://localhost:18080/", Workers::Auto).unwrap();
    assert_eq!(c.upstreams[0].servers[0].port(), 18080);
}

#[test]
fn quick_mode_errors() {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let e = Config::quick(listen, "ftp://127.0.0.1:443", Workers::Auto).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert!(e.to_string().starts_with("--upstream:1:1: "), "{e}");
    // https:// is TLS to the upstream.
    let c = Config::quick(listen, "https://localhost:8443", Workers::Auto).expect("https");
    let t = c.upstreams[0].tls.as_ref().expect("tls");
    assert_eq!(t.server_name.as_deref(), Some("localhost"));
    assert!(t.verify);
    assert!(Config::quick(listen, "http://127.0.0.1:1/api", Workers::Auto).is_err());
    assert!(Config::quick(listen, "http://127.0.0.1:1", Workers::Count(0)).is_err());
}

#[test]
fn several_syntax_errors_all_reported() {
    let e = errs("[server]\nlisten = \n[[upstream]\nname = \"a\"\n");
    assert!(e.len() >= 2, "{e:#?}");
    assert!(e.iter().all(|m| m.contains("syntax error")), "{e:#?}");
    assert!(e[0].starts_with("2:"), "{e:#?}");
    assert!(e.iter().any(|m| m.starts_with("3:")), "{e:#?}");
}

#[test]
fn inline_tables_and_dotted_keys_work() {
    let c = ok(r#"
server.listen = ["127.0.0.1:0"]
limits = { max_headers = 10 }
upstream = [{ name = "a", servers = ["127.0.0.1:1"] }]
route = [{ path_prefix = "/a", upstream = "a" }]
"#);
    assert_eq!(c.limits.max_headers, 10);
    assert_eq!(c.upstreams[0].name, "a");
    assert_eq!(c.routes[0].path_prefix, "/a");
}

#[test]
fn wrong_item_types_in_arrays() {
    let e = errs(&format!(
        "{MIN}[forwarding]\ntrusted_proxies = [\"10.0.0.0/8\", 10]\n[[route]]\nupstream = 7\n"
    ));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("8:34: forwarding.trusted_proxies must be a string, found integer"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("10:12: route.upstream must be a string, found integer"),
        "{e:?}"
    );
}

#[test]
fn upstream_tuning_ranges() {
    let e = errs(&MIN.replace(
        "name = \"api\"\n",
        "name = \"api\"\nmax_fails = -1\nfail_timeout = \"0s\"\nmax_idle_per_server = 100000\n",
    ));
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].starts_with("6:13: upstream.max_fails must be between"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("7:16: upstream.fail_timeout must be greater than zero"),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("8:23: upstream.max_idle_per_server must be between"),
        "{e:?}"
    );
    one_err(
        &MIN.replace("\"api\"", "\"my api\""),
        "5:8",
        "invalid upstream name",
    );
}

#[test]
fn enforcement_section_and_policy_mode() {
    let c = ok(MIN);
    assert_eq!(c.enforcement, crate::enforce::EnforcementConfig::default());
    assert!(!c.policy.monitor);
    let c = ok(&format!(
        "{MIN}[policy]\nmode = \"monitor\"\n[enforcement]\ntarpit_max_per_core = 3\ndenylist_capacity = 64\ndeceive_remember = \"1m\"\ndeceive_max_delay = \"0s\"\nlearn_every = 5\ndecoy_secret_file = \"/tmp/k\"\nclose_after_stop = true\n"
    ));
    assert!(c.policy.monitor);
    let e = &c.enforcement;
    assert_eq!(e.tarpit_max_per_core, 3);
    assert_eq!(e.denylist_capacity, 64);
    assert_eq!(e.deceive_remember, Duration::from_secs(60));
    assert_eq!(e.deceive_max_delay, Duration::ZERO);
    assert_eq!(e.learn_every, 5);
    assert!(e.close_after_stop);
    assert_eq!(
        e.decoy_secret_file.as_deref(),
        Some(std::path::Path::new("/tmp/k"))
    );
}

#[test]
fn enforcement_errors_have_positions() {
    one_err(
        &format!("{MIN}[policy]\nmode = \"dry\"\n"),
        "8:8",
        "policy.mode: unknown mode \"dry\"; use \"enforce\" or \"monitor\"",
    );
    one_err(
        &format!("{MIN}[enforcement]\ntarpit_max_per_core = -1\n"),
        "8:23",
        "enforcement.tarpit_max_per_core must be between 0 and 1000000, got -1",
    );
    one_err(
        &format!("{MIN}[enforcement]\ndenylist_capacity = 2\n"),
        "8:21",
        "enforcement.denylist_capacity must be between 8 and 16777216, got 2",
    );
    one_err(
        &format!("{MIN}[enforcement]\ndeceive_max_delay = \"2m\"\n"),
        "8:21",
        "enforcement.deceive_max_delay must be at most 60s",
    );
    one_err(
        &format!("{MIN}[enforcement]\ndeceive_remember = true\n"),
        "8:20",
        "enforcement.deceive_remember must be a duration",
    );
    one_err(
        &format!("{MIN}[enforcement]\nlearn_every = 0\n"),
        "8:15",
        "enforcement.learn_every must be between 1 and 1000000, got 0",
    );
    one_err(
        &format!("{MIN}[enforcement]\ndecoy_secret_file = \" \"\n"),
        "8:21",
        "enforcement.decoy_secret_file must not be empty",
    );
    one_err(
        &format!("{MIN}[enforcement]\ntarpit = 1\n"),
        "8:1",
        "unknown key `tarpit` in [enforcement]",
    );
}

#[test]
fn events_default_to_stdout() {
    let c = ok(MIN);
    let e = &c.events;
    assert!(e.enabled);
    assert_eq!(e.sink, crate::events::SinkKind::Stdout);
    assert_eq!(e.sample_allowed, 0.0);
    assert_eq!(e.per_policy_per_second, 100);
    assert_eq!(e.keep, 5);
}

#[test]
fn events_section_is_read() {
    let c = ok(&format!(
        "{MIN}\n[events]\nsink = \"file\"\npath = \"/var/log/rampart/events.log\"\n\
         rotate_bytes = \"10MiB\"\nrotate_every = \"1h\"\nkeep = 3\nqueue_bytes = \"256KiB\"\n\
         sample_allowed = 0.25\nper_policy_per_second = 7\nredact = [\"ssn\", \"pin\"]\n"
    ));
    let e = &c.events;
    assert_eq!(
        e.sink,
        crate::events::SinkKind::File("/var/log/rampart/events.log".into())
    );
    assert_eq!(e.rotate_bytes, 10 << 20);
    assert_eq!(e.rotate_every, Some(Duration::from_secs(3600)));
    assert_eq!(e.keep, 3);
    assert_eq!(e.queue_bytes, 256 << 10);
    assert_eq!(e.sample_allowed, 0.25);
    assert_eq!(e.per_policy_per_second, 7);
    assert_eq!(e.redact, vec!["ssn".to_owned(), "pin".to_owned()]);
    // A path alone means a file sink; integers are accepted for the sample.
    let c = ok(&format!(
        "{MIN}\n[events]\npath = \"e.log\"\nsample_allowed = 1\n"
    ));
    assert_eq!(c.events.sink, crate::events::SinkKind::File("e.log".into()));
    assert_eq!(c.events.sample_allowed, 1.0);
    let c = ok(&format!(
        "{MIN}\n[events]\nenabled = false\nrotate_every = 0\n"
    ));
    assert!(!c.events.enabled);
    assert_eq!(c.events.rotate_every, None);
}

#[test]
fn bad_events_values_are_reported_where_they_are() {
    // MIN has 6 lines, a blank line, then [events] on line 8.
    let at = |line: &str| format!("{MIN}\n[events]\n{line}\n");
    one_err(
        &at("sink = \"syslog\""),
        "9:8",
        "events.sink must be \"file\" or \"stdout\"",
    );
    one_err(&at("sink = \"file\""), "9:8", "needs events.path");
    one_err(
        &at("sample_allowed = 1.5"),
        "9:18",
        "between 0.0 and 1.0, got 1.5",
    );
    one_err(&at("sample_allowed = \"half\""), "9:18", "must be a number");
    one_err(&at("rotate_bytes = 100"), "9:16", "at least 4KiB");
    one_err(&at("rotate_every = \"10ms\""), "9:16", "at least 1s");
    one_err(&at("keep = -1"), "9:8", "between 0 and 1000");
    one_err(
        &at("per_policy_per_second = -5"),
        "9:25",
        "between 0 and 1000000",
    );
    one_err(
        &at("queue_bytes = \"1KiB\""),
        "9:15",
        "queue_bytes must be between",
    );
    one_err(&at("path = \"\""), "9:8", "must not be empty");
    one_err(
        &at("redact = \"password\""),
        "9:10",
        "an array of field names",
    );
    one_err(&at("redact = [\"\"]"), "9:11", "names must not be empty");
    one_err(&at("rotate = 1"), "9:1", "unknown key `rotate` in [events]");
    one_err(
        &format!("{MIN}\n[events]\nsink = \"stdout\"\npath = \"x.log\"\n"),
        "10:8",
        "events.sink is \"stdout\"",
    );
}

#[test]
fn event_log_path_is_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rampart.toml");
    std::fs::write(&file, format!("{MIN}\n[events]\npath = \"logs/e.log\"\n")).unwrap();
    let c = load_file(&file).unwrap();
    assert_eq!(
        c.events.sink,
        crate::events::SinkKind::File(dir.path().join("logs/e.log"))
    );
}

#[test]
fn behaviour_identity_defaults() {
    let c = ok(MIN);
    let id = &c.identity;
    assert_eq!(id.api_key_headers, ["x-api-key"]);
    assert!(id.api_key_args.is_empty());
    assert_eq!(id.session_cookies.len(), 5);
    assert!(!id.jwt.verify);
    assert_eq!(id.jwt.leeway, Duration::from_secs(60));
    let paths: Vec<&str> = id.login.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "**/login",
            "**/signin",
            "**/auth/token",
            "**/oauth/token",
            "**/sessions"
        ]
    );
    assert!(id
        .login
        .iter()
        .all(|r| r.method == "POST" && r.failure_status == [401, 403]));
}

#[test]
fn behaviour_identity_keys() {
    let c = ok(&format!(
        "{MIN}\n[behaviour]\napi_key_headers = [\"X-Api-Key\", \"apikey\"]\n\
         api_key_args = [\"key\"]\nsession_cookies = [\"sid\"]\n\
         enabled = true\nmemory_per_core = \"64MiB\"\nsteer_by_address = true\nkey_sync_interval = \"10ms\"\n\
         [behaviour.jwt]\nverify = true\nhs256_secret_file = \"k\"\npublic_keys = [\"a.pem\", \"b.pem\"]\nleeway = \"5s\"\n\
         [[behaviour.login]]\npath = \"/api/*/login\"\nmethod = \"put\"\nuser_fields = [\"handle\"]\n\
         password_fields = [\"secret\"]\nfailure_status = [400, 401]\n\
         [[behaviour.login]]\npath = \"**/signin\"\n"
    ));
    let id = &c.identity;
    assert_eq!(id.api_key_headers, ["x-api-key", "apikey"]);
    assert_eq!(id.api_key_args, ["key"]);
    assert_eq!(id.session_cookies, ["sid"]);
    assert!(id.jwt.verify);
    assert_eq!(id.jwt.leeway, Duration::from_secs(5));
    let hs = id.jwt.hs256_secret_file.as_ref().unwrap();
    assert_eq!((hs.path.to_str(), hs.line, hs.col), (Some("k"), 18, 21));
    assert_eq!(id.jwt.public_keys.len(), 2);
    assert_eq!(id.login.len(), 2);
    let l = &id.login[0];
    assert_eq!(l.path.as_str(), "/api/*/login");
    assert_eq!(l.method, "PUT");
    assert_eq!(
        (&l.user_fields[..], &l.password_fields[..]),
        (&["handle".to_owned()][..], &["secret".to_owned()][..])
    );
    assert_eq!(l.failure_status, [400, 401]);
    assert_eq!(id.login[1].user_fields.len(), 4);
    assert_eq!(id.client_ip_header, crate::behaviour::ClientIpHeader::Auto);
    // `login = []` turns login routes off.
    let c = ok(&format!(
        "{MIN}\n[behaviour]\nlogin = []\nclient_ip_header = \"forwarded\"\n"
    ));
    assert!(c.identity.login.is_empty());
    assert_eq!(
        c.identity.client_ip_header,
        crate::behaviour::ClientIpHeader::Forwarded
    );
}

#[test]
fn behaviour_identity_errors() {
    let at = |body: &str| format!("{MIN}\n[behaviour]\n{body}\n");
    one_err(
        &at("api_key_header = []"),
        "9:1",
        "unknown key `api_key_header` in [behaviour]",
    );
    one_err(
        &at("api_key_headers = \"x\""),
        "9:19",
        "must be an array of header names",
    );
    one_err(
        &at("api_key_headers = [\"x api\"]"),
        "9:20",
        "is not a valid name",
    );
    one_err(
        &at("api_key_headers = [\"a\", \"A\"]"),
        "9:25",
        "\"A\" is listed twice",
    );
    one_err(
        &at("session_cookies = [\"\"]"),
        "9:20",
        "names must not be empty",
    );
    one_err(&at("[behaviour.jwt]\nverify = true"), "10:10", "needs keys");
    one_err(
        &at("[behaviour.jwt]\nkey = 1"),
        "10:1",
        "unknown key `key` in [behaviour.jwt]",
    );
    one_err(
        &at("[behaviour.jwt]\nleeway = \"25h\""),
        "10:10",
        "at most 24h",
    );
    one_err(
        &at("[behaviour.jwt]\npublic_keys = [\"\"]"),
        "10:16",
        "must not be empty",
    );
    one_err(
        &at("[[behaviour.login]]\nmethod = \"POST\""),
        "9:1",
        "missing its `path`",
    );
    one_err(
        &at("[[behaviour.login]]\npath = \"login\""),
        "10:8",
        "must start with '/'",
    );
    one_err(
        &at("[[behaviour.login]]\npath = \"/l\"\nmethod = \"PO ST\""),
        "11:10",
        "is not a method",
    );
    one_err(
        &at("[[behaviour.login]]\npath = \"/l\"\nfailure_status = [700]"),
        "11:19",
        "between 100 and 599",
    );
    one_err(
        &at("[[behaviour.login]]\npath = \"/l\"\nuser_fields = []"),
        "11:15",
        "at least one field",
    );
    one_err(
        &at("[[behaviour.login]]\npath = \"/l\"\nuser = 1"),
        "11:1",
        "unknown key `user` in [[behaviour.login]]",
    );
    one_err(&at("login = 3"), "9:9", "must be an array of tables");
    one_err(
        &at("client_ip_header = \"x-real-ip\""),
        "9:20",
        "must be \"auto\"",
    );
}

#[test]
fn behaviour_jwt_key_files_load_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rampart.toml");
    std::fs::write(
        dir.path().join("hs.key"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    std::fs::write(
        &file,
        format!("{MIN}\n[behaviour.jwt]\nverify = true\nhs256_secret_file = \"hs.key\"\n"),
    )
    .unwrap();
    let c = load_file(&file).unwrap();
    assert!(c.identity.jwt.keys.hs256.is_some());
    assert_eq!(
        c.identity.jwt.hs256_secret_file.unwrap().path,
        dir.path().join("hs.key")
    );
    // A bad key file is a config error at the line naming it.
    std::fs::write(
        &file,
        format!(
            "{MIN}\n[behaviour.jwt]\nverify = true\nhs256_secret_file = \"hs.key\"\n\
             public_keys = [\"missing.pem\"]\n"
        ),
    )
    .unwrap();
    let Err(ConfigError::Invalid(d)) = load_file(&file) else {
        panic!("expected a key file error");
    };
    assert_eq!(d.0.len(), 1);
    let e = d.to_string();
    assert!(
        e.starts_with(&format!(
            "{}:11:16: behaviour.jwt: cannot read public key",
            file.display()
        )),
        "{e}"
    );
}

#[test]
fn example_file_documents_the_identity_keys() {
    let src = include_str!("../../etc/rampart.example.toml");
    for key in [
        "api_key_headers = ",
        "api_key_args = ",
        "session_cookies = ",
        "client_ip_header = ",
        "verify = ",
        "# hs256_secret_file = ",
        "# public_keys = ",
        "leeway = ",
        "# [[behaviour.login]]",
        "# path = ",
        "# method = ",
        "# user_fields = ",
        "# password_fields = ",
        "# failure_status = ",
    ] {
        assert!(
            src.lines().any(|l| l.starts_with(key)),
            "example config does not show `{key}`"
        );
    }
}

#[test]
fn behaviour_counters_default_and_parse() {
    let d = ok(MIN).counters;
    assert_eq!(d, crate::behaviour::CounterConfig::default());
    assert!(d.enabled && d.steer_by_address);
    assert_eq!(d.memory_per_core, 64 << 20);
    assert_eq!(d.key_sync_interval_ms, 10);

    let c = ok(&format!(
        "{MIN}\n[behaviour]\nmemory_per_core = \"256MiB\"\nkey_sync_interval = \"25ms\"\n\
         steer_by_address = false\n"
    ))
    .counters;
    assert_eq!(c.memory_per_core, 256 << 20);
    assert_eq!(c.key_sync_interval_ms, 25);
    assert!(c.enabled && !c.steer_by_address);

    // Steering follows `enabled` unless set.
    let off = ok(&format!("{MIN}\n[behaviour]\nenabled = false\n")).counters;
    assert!(!off.enabled && !off.steer_by_address);
}

#[test]
fn behaviour_counter_and_identity_keys_share_the_table() {
    let c = ok(&format!(
        "{MIN}\n[behaviour]\nmemory_per_core = \"8MiB\"\napi_key_headers = [\"x-key\"]\n\
         session_cookies = [\"sid\"]\n\n[behaviour.jwt]\nverify = false\n\n\
         [[behaviour.login]]\npath = \"/login\"\n"
    ));
    assert_eq!(c.counters.memory_per_core, 8 * 1024 * 1024);
    assert_eq!(c.identity.api_key_headers, vec!["x-key".to_string()]);
}

#[test]
fn behaviour_errors_point_at_the_value() {
    let base = format!("{MIN}\n[behaviour]\n");
    let line = base.lines().count() + 1;
    one_err(
        &format!("{base}memory_per_core = \"512KiB\"\n"),
        &format!("{line}:19"),
        "behaviour.memory_per_core must be between 1MiB and 64GiB",
    );
    one_err(
        &format!("{base}key_sync_interval = \"20s\"\n"),
        &format!("{line}:21"),
        "behaviour.key_sync_interval must be between 1ms and 10s",
    );
    one_err(
        &format!("{base}key_sync_interval = 0\n"),
        &format!("{line}:21"),
        "behaviour.key_sync_interval must be greater than zero",
    );
    one_err(
        &format!("{base}steer_by_address = \"yes\"\n"),
        &format!("{line}:20"),
        "behaviour.steer_by_address",
    );
    one_err(
        &format!("{base}memroy_per_core = \"1GiB\"\n"),
        &format!("{line}:1"),
        "unknown key `memroy_per_core` in [behaviour]",
    );
}

#[test]
fn tls_section_is_read() {
    let c = ok(r#"[server]
listen = []
tls_listen = ["127.0.0.1:8443", "[::1]:8443"]

[tls]
min_version = "1.3"
alpn = ["http/1.1", "http/1.0"]
session_tickets = false
ticket_lifetime = "1h"
watch = false

[[tls.certificate]]
cert = "a.pem"
key = "a.key"

[[tls.certificate]]
cert = "b.pem"
key = "b.key"
server_names = ["API.example.com", "*.example.org"]

[[upstream]]
name = "api"
servers = ["127.0.0.1:18080"]
"#);
    assert!(c.listeners.is_empty());
    assert_eq!(c.tls_listeners.len(), 2);
    let t = c.tls.expect("tls");
    assert_eq!(t.min_version, crate::tls::MinVersion::Tls13);
    assert_eq!(t.alpn, ["http/1.1", "http/1.0"]);
    assert!(!t.session_tickets && !t.watch);
    assert_eq!(t.ticket_lifetime, Duration::from_secs(3600));
    assert_eq!(t.certificates.len(), 2);
    assert_eq!(
        t.certificates[1].server_names,
        ["api.example.com", "*.example.org"]
    );
    // Positions of cert and key, for errors about the files.
    assert_eq!(t.certificates[0].at, [(13, 8), (14, 7)]);
}

#[test]
fn tls_errors_point_at_the_value() {
    let base = |tls: &str| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:8080\"]\ntls_listen = [\"127.0.0.1:8443\"]\n{tls}\n[[upstream]]\nname = \"api\"\nservers = [\"127.0.0.1:1\"]\n"
        )
    };
    // TLS listeners without certificates.
    let e = errs(&base(""));
    assert!(
        e.iter()
            .any(|m| m.starts_with("3:15:") && m.contains("needs certificates")),
        "{e:?}"
    );
    let e = errs(&base("[tls]\nmin_version = \"1.1\"\nalpn = [\"h2\"]\nticket_lifetime = \"200h\"\n[[tls.certificate]]\ncert = \"a.pem\"\nserver_names = [\"not a name\"]\n"));
    for want in [
        "5:15: tls.min_version must be \"1.2\" or \"1.3\"",
        "6:9: tls.alpn: \"h2\" is not served",
        "7:19: tls.ticket_lifetime must be at most 168h",
        "[[tls.certificate]] needs `key`",
        "tls.certificate.server_names: \"not a name\" is not a host name",
    ] {
        assert!(
            e.iter().any(|m| m.contains(want)),
            "missing {want:?} in {e:?}"
        );
    }
    // The same address as a plain and a TLS listener.
    let e = errs("[server]\nlisten = [\"127.0.0.1:8443\"]\ntls_listen = [\"127.0.0.1:8443\"]\n[tls]\n[[tls.certificate]]\ncert = \"a\"\nkey = \"b\"\n[[upstream]]\nname = \"api\"\nservers = [\"127.0.0.1:1\"]\n");
    assert!(
        e.iter().any(|m| m.contains("duplicate listen address")),
        "{e:?}"
    );
    // Certificates nobody uses.
    let e = errs(&format!(
        "{MIN}\n[tls]\n[[tls.certificate]]\ncert = \"a\"\nkey = \"b\"\n"
    ));
    assert!(e.iter().any(|m| m.contains("no listener uses it")), "{e:?}");
}

#[test]
fn tls_client_auth_is_read() {
    let c = ok(r#"[server]
tls_listen = ["127.0.0.1:8443"]

[tls]
client_auth = "optional"
client_ca = "partners-ca.pem"

[[tls.certificate]]
cert = "a.pem"
key = "a.key"

[[upstream]]
name = "api"
servers = ["127.0.0.1:18080"]
"#);
    let t = c.tls.expect("tls");
    assert_eq!(t.client_auth, crate::tls::ClientAuth::Optional);
    let ca = t.client_ca.expect("client_ca");
    assert_eq!(ca.path, Path::new("partners-ca.pem"));
    assert_eq!(ca.at, (6, 13));
    // Off by default.
    let c = ok("[server]\ntls_listen = [\"127.0.0.1:8443\"]\n[[tls.certificate]]\ncert = \"a\"\nkey = \"b\"\n[[upstream]]\nname = \"api\"\nservers = [\"127.0.0.1:1\"]\n");
    let t = c.tls.expect("tls");
    assert_eq!(t.client_auth, crate::tls::ClientAuth::Off);
    assert_eq!(t.client_ca, None);
}

#[test]
fn tls_client_auth_errors_point_at_the_value() {
    let with = |keys: &str| {
        format!(
            "[server]\ntls_listen = [\"127.0.0.1:8443\"]\n[tls]\n{keys}\n[[tls.certificate]]\ncert = \"a\"\nkey = \"b\"\n[[upstream]]\nname = \"api\"\nservers = [\"127.0.0.1:1\"]\n"
        )
    };
    one_err(
        &with("client_auth = \"yes\"\nclient_ca = \"ca.pem\""),
        "4:15",
        "tls.client_auth must be \"off\", \"optional\" or \"required\", got \"yes\"",
    );
    one_err(&with("client_auth = true"), "4:15", "tls.client_auth");
    one_err(
        &with("client_auth = \"required\""),
        "4:15",
        "tls.client_auth = \"required\" needs tls.client_ca: a PEM file of the CA certificates",
    );
    one_err(
        &with("client_auth = \"optional\"\nclient_ca = \"\""),
        "5:13",
        "tls.client_ca must not be empty",
    );
    one_err(
        &with("client_ca = \"ca.pem\""),
        "4:13",
        "tls.client_ca is set but tls.client_auth is \"off\"",
    );
    one_err(
        &with("client_auth = \"off\"\nclient_ca = \"ca.pem\""),
        "5:13",
        "tls.client_ca is set but tls.client_auth is \"off\"",
    );
    one_err(
        &with("client_ca = [\"ca.pem\"]\nclient_auth = \"required\""),
        "4:13",
        "tls.client_ca",
    );
}

/// A self-signed certificate and key as PEM files `stem.pem`, `stem.key` in `dir`.
fn write_cert(dir: &Path, stem: &str) -> String {
    let ck = rcgen::generate_simple_self_signed(vec![format!("{stem}.test")]).expect("rcgen");
    std::fs::write(dir.join(format!("{stem}.pem")), ck.cert.pem()).expect("write");
    std::fs::write(dir.join(format!("{stem}.key")), ck.key_pair.serialize_pem()).expect("write");
    ck.cert.pem()
}

#[test]
fn tls_client_ca_is_read_relative_to_the_config_and_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    write_cert(dir.path(), "server");
    let ca_pem = write_cert(dir.path(), "ca");
    let file = dir.path().join("rampart.toml");
    let config = |ca: &str| {
        format!(
            "[server]\ntls_listen = [\"127.0.0.1:0\"]\n\n[tls]\nclient_auth = \"required\"\nclient_ca = \"{ca}\"\n\n[[tls.certificate]]\ncert = \"server.pem\"\nkey = \"server.key\"\n\n[[upstream]]\nname = \"api\"\nservers = [\"127.0.0.1:1\"]\n"
        )
    };
    std::fs::write(&file, config("ca.pem")).unwrap();
    let c = load_file(&file).unwrap();
    let t = c.tls.expect("tls");
    assert_eq!(t.client_ca.expect("ca").path, dir.path().join("ca.pem"));

    let load_err = |ca: &str| -> String {
        std::fs::write(&file, config(ca)).unwrap();
        let Err(ConfigError::Invalid(d)) = load_file(&file) else {
            panic!("expected an error for client_ca = {ca:?}");
        };
        assert_eq!(d.0.len(), 1, "{d}");
        d.to_string()
    };
    let at = format!("{}:6:13: tls.client_ca: ", file.display());
    let e = load_err("missing.pem");
    assert!(
        e.starts_with(&at)
            && e.contains("missing.pem: cannot read client CA certificates")
            && e.contains("No such file"),
        "{e}"
    );
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let e = load_err("empty.pem");
    assert!(
        e.starts_with(&at) && e.contains("empty.pem: no CA certificate in the file"),
        "{e}"
    );
    // A key is not a certificate.
    let e = load_err("ca.key");
    assert!(
        e.starts_with(&at) && e.contains("ca.key: no CA certificate in the file"),
        "{e}"
    );
    // The second certificate of the bundle is garbage.
    let junk = "-----BEGIN CERTIFICATE-----\nMIIBAgMEBQ==\n-----END CERTIFICATE-----\n";
    std::fs::write(dir.path().join("bundle.pem"), format!("{ca_pem}{junk}")).unwrap();
    let e = load_err("bundle.pem");
    assert!(
        e.starts_with(&at)
            && e.contains("bundle.pem: CA certificate 2 of the file cannot be a trust anchor"),
        "{e}"
    );
}

#[test]
fn example_file_documents_the_tls_keys() {
    let src = include_str!("../../etc/rampart.example.toml");
    for key in [
        "# tls_listen = ",
        "# [tls]",
        "# min_version = ",
        "# alpn = ",
        "# session_tickets = ",
        "# ticket_lifetime = ",
        "# watch = ",
        "# [[tls.certificate]]",
        "# cert = ",
        "# key = ",
        "# server_names = ",
        "# client_auth = ",
        "# client_ca = ",
    ] {
        assert!(
            src.lines().any(|l| l.starts_with(key)),
            "example config does not show `{key}`"
        );
    }
}

#[test]
fn upstream_tls_is_read() {
    let c = ok(r#"[server]
listen = ["127.0.0.1:0"]

[[upstream]]
name = "plain"
servers = ["127.0.0.1:1"]

[[upstream]]
name = "named"
servers = ["localhost:443"]
tls = true

[[upstream]]
name = "full"
servers = ["127.0.0.1:443"]
tls = { server_name = "billing.internal", ca = "ca.pem", client_cert = "c.pem", client_key = "c.key", verify = false }

[[route]]
upstream = "plain"
"#);
    assert!(c.upstreams[0].tls.is_none());
    let named = c.upstreams[1].tls.as_ref().expect("tls");
    assert_eq!(
        named.server_name.as_deref(),
        Some("localhost"),
        "the host of `servers`"
    );
    assert!(named.verify && named.ca.is_none() && named.client_cert.is_none());
    let full = c.upstreams[2].tls.as_ref().expect("tls");
    assert_eq!(full.server_name.as_deref(), Some("billing.internal"));
    assert_eq!(full.ca.as_deref(), Some(Path::new("ca.pem")));
    assert!(full.client_cert.is_some() && !full.verify);
    assert_eq!(full.at, (16, 7));
}

#[test]
fn upstream_tls_errors_point_at_the_value() {
    let e = errs(
        r#"[server]
listen = ["127.0.0.1:0"]

[[upstream]]
name = "a"
servers = ["127.0.0.1:1"]
tls = { client_cert = "c.pem", bogus = 1, server_name = "not a name!" }

[[upstream]]
name = "b"
servers = ["127.0.0.1:2"]
tls = "yes"
"#,
    );
    for want in [
        "client_cert and client_key go together",
        "unknown key `bogus`",
        "upstream.tls.server_name: \"not a name!\" is not a host name",
        "12:7:",
    ] {
        assert!(
            e.iter().any(|m| m.contains(want)),
            "missing {want:?} in {e:?}"
        );
    }
}
