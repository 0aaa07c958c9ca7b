//! External threat-intelligence list directories end to end: the real
//! binary with `[intel] lists` in front of a real upstream. A client on an
//! intel IP list and a request with a listed header fingerprint are stopped;
//! a reload with a changed list takes effect; a reload with a broken list is
//! refused and the serving lists keep serving; `rampart check` reports a
//! missing directory and a name clash.

use std::path::Path;
use std::time::Duration;

use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};

const PACK_TOML: &str = "name = \"e2e\"\nversion = \"1.0.0\"\n";
const BLOCK_JSON: &str = r#"{"blocked":true,"policy":"{{policy_id}}"}"#;
const SIGNATURES: &str = r#"
[[signature]]
id = "never"
literal = "never-matches-this-text"
fields = ["path"]
"#;
const POLICIES: &str = r#"
[[policy]]
id = "T-INTEL-IP"
name = "address on an intel feed"
severity = "high"
priority = 10
condition = { list = "feed-attackers", key = "client.ip" }
action = "block"

[[policy]]
id = "T-INTEL-TOOL"
name = "tool header fingerprint"
severity = "high"
priority = 20
condition = { list = "feed-tools", key = "request.header_fingerprint" }
action = { block = { status = 451 } }
"#;

/// `printf '%s' 'Host,X-Probe-Kit,Accept' | sha1sum` -> af2fb8da0b96…:
/// the fingerprint of a GET with exactly these headers, in this order and case.
const TOOL_FP: &str = "ge11nn03_af2fb8da0b96";

fn write_pack(dir: &Path) {
    for sub in ["signatures", "policies", "responses"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    std::fs::write(dir.join("pack.toml"), PACK_TOML).expect("write");
    std::fs::write(dir.join("signatures/s.toml"), SIGNATURES).expect("write");
    std::fs::write(dir.join("policies/p.toml"), POLICIES).expect("write");
    std::fs::write(dir.join("responses/block.json"), BLOCK_JSON).expect("write");
}

/// Written whole and renamed, as a feed updater should.
fn write_list(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

fn config(up: &TestUpstream, pack: &Path, intel: &Path) -> String {
    GatewayConfig::new(up.addr())
        .policy(&format!(
            "packs = [{:?}]\nwatch = false",
            pack.display().to_string()
        ))
        .extra(&format!(
            "[intel]\nlists = [{:?}]\n",
            intel.display().to_string()
        ))
        .render()
}

fn get_from(gw: &Gateway, from: [u8; 4]) -> u16 {
    let mut c = RawConn::connect_from(from.into(), gw.addr()).expect("connect");
    c.roundtrip(b"GET /items HTTP/1.1\r\nHost: api.test\r\nAccept: */*\r\n\r\n")
        .status
}

fn admin(gw: &Gateway, method: &str, path: &str) -> (u16, String) {
    let r = RawConn::open(gw.admin_addr()).roundtrip(
        format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    (r.status, r.text())
}

#[test]
fn intel_lists_block_reload_and_survive_a_broken_update() {
    let up = TestUpstream::start(Behaviour::Ok);
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    let intel = tempfile::tempdir().expect("tmp");
    write_list(
        intel.path(),
        "feed-attackers.cidr",
        "# reported attackers\n127.0.0.2\n203.0.113.0/24\n",
    );
    write_list(
        intel.path(),
        "feed-tools.hfp",
        &format!("{TOOL_FP}  # probe kit\n"),
    );
    let gw = Gateway::run_config(&config(&up, pack.path(), intel.path()));

    // The IP list: 127.0.0.2 is listed, 127.0.0.1 and 127.0.0.3 are not.
    assert_eq!(get_from(&gw, [127, 0, 0, 1]), 200);
    assert_eq!(get_from(&gw, [127, 0, 0, 2]), 403);
    assert_eq!(get_from(&gw, [127, 0, 0, 3]), 200);
    assert_eq!(up.request_count(), 2);

    // The header fingerprint: these names in this order and case only.
    let tool = b"GET /x HTTP/1.1\r\nHost: api.test\r\nX-Probe-Kit: 1\r\nAccept: */*\r\n\r\n";
    assert_eq!(RawConn::open(gw.addr()).roundtrip(tool).status, 451);
    let reordered = b"GET /x HTTP/1.1\r\nHost: api.test\r\nAccept: */*\r\nX-Probe-Kit: 1\r\n\r\n";
    assert_eq!(RawConn::open(gw.addr()).roundtrip(reordered).status, 200);
    let recased = b"GET /x HTTP/1.1\r\nHost: api.test\r\nx-probe-kit: 1\r\nAccept: */*\r\n\r\n";
    assert_eq!(RawConn::open(gw.addr()).roundtrip(recased).status, 200);
    assert_eq!(up.request_count(), 4);

    // Counts and load times: the admin status and the metrics.
    let (_, status) = admin(&gw, "GET", "/admin/policy");
    let v: serde_json::Value = serde_json::from_str(&status).expect("json");
    let lists = v["current"]["lists"].as_array().expect("lists");
    let feed = lists
        .iter()
        .find(|l| l["name"] == "feed-attackers")
        .expect("feed-attackers in the status");
    assert_eq!(feed["entries"], 2, "{feed}");
    assert_eq!(feed["external"], true, "{feed}");
    assert!(feed["load_ms"].as_f64().is_some(), "{feed}");
    let metrics = rampart_tests::client::get(gw.admin_addr(), "/metrics")
        .expect("metrics")
        .text();
    assert!(
        metrics.contains("rampart_list_entries{list=\"feed-attackers\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rampart_list_load_seconds{list=\"feed-tools\"}"),
        "{metrics}"
    );

    // A changed feed takes effect at the reload.
    write_list(intel.path(), "feed-attackers.cidr", "127.0.0.3\n");
    let (code, body) = admin(&gw, "POST", "/admin/reload");
    assert_eq!(code, 200, "{body}");
    let record: serde_json::Value = serde_json::from_str(&body).expect("json");
    let feed = record["lists"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["name"] == "feed-attackers"))
        .unwrap_or_else(|| panic!("no list in the reload record: {body}"));
    assert_eq!(feed["entries"], 1, "{body}");
    assert_eq!(get_from(&gw, [127, 0, 0, 2]), 200);
    assert_eq!(get_from(&gw, [127, 0, 0, 3]), 403);

    // A broken feed is refused with its line; the serving list stays.
    write_list(
        intel.path(),
        "feed-attackers.cidr",
        "127.0.0.2\n127.0.0.300\n",
    );
    let (code, body) = admin(&gw, "POST", "/admin/reload");
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains(
            "feed-attackers.cidr:2:1: `127.0.0.300` is not an IP address or CIDR network"
        ),
        "{body}"
    );
    assert_eq!(get_from(&gw, [127, 0, 0, 2]), 200);
    assert_eq!(get_from(&gw, [127, 0, 0, 3]), 403);
    assert!(
        rampart_tests::client::get(gw.admin_addr(), "/metrics")
            .expect("metrics")
            .text()
            .contains("rampart_list_entries{list=\"feed-attackers\"} 1"),
        "the metrics still describe the serving list"
    );
}

#[test]
fn check_reports_a_missing_directory_and_a_name_clash() {
    let up = TestUpstream::start(Behaviour::Ok);
    let pack = tempfile::tempdir().expect("tmp");
    write_pack(pack.path());
    std::fs::create_dir_all(pack.path().join("lists")).expect("mkdir");
    std::fs::write(
        pack.path().join("lists/feed-tools.hfp"),
        format!("{TOOL_FP}\n"),
    )
    .expect("write");
    let intel = tempfile::tempdir().expect("tmp");
    write_list(intel.path(), "feed-attackers.cidr", "127.0.0.2\n");
    write_list(intel.path(), "feed-tools.hfp", &format!("{TOOL_FP}\n"));
    let missing = intel.path().join("not-there");
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("rampart.toml");
    let text = config(&up, pack.path(), intel.path()).replace(
        "[intel]\nlists = [",
        &format!("[intel]\nlists = [{:?}, ", missing.display().to_string()),
    );
    std::fs::write(&path, text).expect("write config");
    let p = path.display().to_string();
    let done =
        rampart_tests::gateway::run_to_exit(&["check", "--config", &p], Duration::from_secs(20));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains(&format!(
            "{}: intel list directory not found",
            missing.display()
        )),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("duplicate list name `feed-tools`"),
        "{}",
        done.stderr
    );
    // Without the problems, check passes and counts the lists.
    std::fs::remove_file(pack.path().join("lists/feed-tools.hfp")).expect("rm");
    std::fs::write(&path, config(&up, pack.path(), intel.path())).expect("write config");
    let done =
        rampart_tests::gateway::run_to_exit(&["check", "--config", &p], Duration::from_secs(20));
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    assert!(
        done.stdout.contains("2 list(s) (2 from intel directories)"),
        "{}",
        done.stdout
    );
}
