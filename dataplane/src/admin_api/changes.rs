//! Changes through the admin API: a policy's mode, action, threshold or a new
//! exclusion, and timed client blocks (`[[block]]`, see
//! `rampart_policy_loader::client_block`), written to the local overlay file
//! and applied by the normal reload, each recorded in the audit log.
//!
//! The order is fixed so a bad request changes nothing: token (403 when none
//! is configured, 401 when missing or wrong), overlay configured (409), the
//! policy exists (404), the body is valid (400 naming the field); then the
//! overlay is edited with `toml_edit` (the operator's comments and other
//! entries stay as they are; the change goes into the last
//! `[[override]]` with `policy = "<id>"`, or a new one appended), written
//! atomically (temp file, fsync, rename, fsync of the directory), and
//! reloaded through the hub. If the reload fails the previous file is put
//! back and the error reported (422). One change runs at a time.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use serde_json::{json, Value};
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

use super::http::ApiError;
use super::store::now_ms;
use super::{Api, Head};

/// How long a change waits for its reload.
const RELOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// Actions an overlay may set by name (docs/POLICY.md, "Actions").
const ACTIONS: &[&str] = &[
    "block",
    "rate_limit",
    "deceive",
    "tarpit",
    "drop",
    "tag",
    "mask",
    "allow",
    "none",
];
const MODES: &[&str] = &["enforce", "monitor", "off"];
/// Bytes of the audit log read back by `GET /api/audit` (its tail).
const AUDIT_TAIL: u64 = 1024 * 1024;

/// Whether changes are possible, and if not why (`/api/status`).
pub fn availability(api: &Api) -> Value {
    let why = if !api.tokens.configured() {
        Some(NO_TOKEN)
    } else if api.overlay.is_none() {
        Some(NO_OVERLAY)
    } else if !api.hub.enabled() {
        Some("policy inspection is off")
    } else {
        None
    };
    json!({"enabled": why.is_none(), "reason": why})
}

const NO_TOKEN: &str = "changes are disabled: no admin token is configured; put a token (at least 16 characters) in a file and set [admin] token_file = \"/path/to/file\", then restart";
const NO_OVERLAY: &str = "changes need an overlay file: set [policy] overlay = \"/etc/rampart/overlay.toml\" (created on the first change) and restart";

/// The token's name, or the 403/401 to answer.
fn authorize<'a>(api: &'a Api, head: &Head) -> Result<&'a str, ApiError> {
    if !api.tokens.configured() {
        return Err(ApiError::new(403, NO_TOKEN));
    }
    match api.tokens.check(head.authorization.as_deref()) {
        Some(who) => Ok(who),
        None => {
            tracing::warn!(peer = ?head.peer, endpoint = %head.target, "admin API change refused: missing or wrong token");
            let mut e = ApiError::new(
                401,
                if head.authorization.is_none() {
                    "this endpoint needs `Authorization: Bearer <token>`"
                } else {
                    "the bearer token is not one of [admin] token_file's"
                },
            );
            e.headers.push("WWW-Authenticate: Bearer realm=\"rampart\"");
            Err(e)
        }
    }
}

/// One validated change to a policy's override.
enum Change {
    Mode(String),
    Action(String),
    Threshold(u64),
    Exclusion(Table, Value),
}

fn body_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::field(
            400,
            "body",
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::field(
            400,
            "body",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

fn only_keys(m: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::field(
            400,
            "body",
            format!("unknown field `{k}`; allowed: {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn one_of(
    m: &serde_json::Map<String, Value>,
    key: &'static str,
    allowed: &[&str],
) -> Result<String, ApiError> {
    match m.get(key) {
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(s.clone()),
        Some(Value::String(s)) => Err(ApiError::field(
            400,
            key,
            format!("unknown {key} `{s}`; one of: {}", allowed.join(", ")),
        )),
        Some(_) => Err(ApiError::field(
            400,
            key,
            format!("`{key}` must be a string"),
        )),
        None => Err(ApiError::field(400, key, format!("`{key}` is required"))),
    }
}

/// Strings of `v` (a string or an array of strings) for exclusion `key`.
fn strings(v: &Value, key: &'static str) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::field(
            400,
            key,
            format!("`{key}` must be a string or an array of strings"),
        )
    };
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(bad()),
    };
    if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
        return Err(ApiError::field(
            400,
            key,
            format!("`{key}` must not be empty"),
        ));
    }
    Ok(list)
}

fn validate(kind: &str, body: &[u8]) -> Result<Change, ApiError> {
    let m = body_object(body)?;
    match kind {
        "mode" => {
            only_keys(&m, &["mode"])?;
            Ok(Change::Mode(one_of(&m, "mode", MODES)?))
        }
        "action" => {
            only_keys(&m, &["action"])?;
            Ok(Change::Action(one_of(&m, "action", ACTIONS)?))
        }
        "threshold" => {
            only_keys(&m, &["threshold"])?;
            match m.get("threshold") {
                Some(v) => v
                    .as_u64()
                    .filter(|n| i64::try_from(*n).is_ok())
                    .map(Change::Threshold)
                    .ok_or_else(|| {
                        ApiError::field(400, "threshold", "`threshold` must be a whole number >= 0")
                    }),
                None => Err(ApiError::field(400, "threshold", "`threshold` is required")),
            }
        }
        "exclusions" => {
            only_keys(&m, &["path", "method", "client", "field"])?;
            if m.is_empty() {
                return Err(ApiError::field(400, "body", "an exclusion needs at least one of path, method, client, field (an empty one would disable the policy everywhere; set its mode to off for that)"));
            }
            let mut t = Table::new();
            for key in ["path", "method", "client"] {
                let Some(v) = m.get(key) else { continue };
                let k: &'static str = key;
                let list = strings(v, k)?;
                if key == "client" {
                    for s in &list {
                        if s.parse::<ipnet::IpNet>().is_err() && s.parse::<IpAddr>().is_err() {
                            return Err(ApiError::field(
                                400,
                                "client",
                                format!("`{s}` is not an IP address or CIDR network"),
                            ));
                        }
                    }
                }
                if key == "method" {
                    if let Some(s) = list
                        .iter()
                        .find(|s| !s.bytes().all(|b| b.is_ascii_alphabetic()))
                    {
                        return Err(ApiError::field(
                            400,
                            "method",
                            format!("`{s}` is not an HTTP method"),
                        ));
                    }
                }
                let mut a = Array::new();
                for s in list {
                    a.push(s);
                }
                t.insert(key, value(a));
            }
            if let Some(v) = m.get("field") {
                match v.as_str() {
                    Some(s) if !s.trim().is_empty() => {
                        t.insert("field", value(s));
                    }
                    _ => {
                        return Err(ApiError::field(
                            400,
                            "field",
                            "`field` is one field selector string, like \"args.value:q\"",
                        ))
                    }
                }
            }
            Ok(Change::Exclusion(t, Value::Object(m)))
        }
        other => Err(ApiError::new(
            404,
            format!("no such change `{other}`; one of: mode, action, threshold, exclusions"),
        )),
    }
}

/// The last `[[override]]` whose `policy` is `id`, or a new one at the end.
fn override_for<'d>(doc: &'d mut DocumentMut, id: &str) -> Result<&'d mut Table, ApiError> {
    let root = doc.as_table_mut();
    if !root.contains_key("override") {
        root.insert("override", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let arr = root
        .get_mut("override")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| ApiError::new(409, "the overlay's `override` is not an array of [[override]] tables; fix the file by hand"))?;
    let pos = arr
        .iter()
        .enumerate()
        .filter(|(_, t)| t.get("policy").and_then(Item::as_str) == Some(id))
        .map(|(i, _)| i)
        .last();
    let i = match pos {
        Some(i) => i,
        None => {
            let mut t = Table::new();
            t.insert("policy", value(id));
            arr.push(t);
            arr.len() - 1
        }
    };
    arr.get_mut(i)
        .ok_or_else(|| ApiError::new(500, "overlay edit failed"))
}

/// Writes `text` to `path` so a reader sees the old file or the new one,
/// never a part: a temp file beside it, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "overlay".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        // The replacement keeps the file's mode (an operator may have made
        // it 0600 or group-writable on purpose).
        if let Ok(m) = std::fs::metadata(path) {
            f.set_permissions(m.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Who asks, and about what: for the audit log.
struct Ctx<'a> {
    head: &'a Head,
    who: String,
    endpoint: String,
    /// `("policy", id)` or `("client", ip)`.
    subject: (&'static str, String),
}

impl<'a> Ctx<'a> {
    /// A change to `client`'s block, made by `who` through `head`.
    fn client(head: &'a Head, who: String, client: &str) -> Ctx<'a> {
        Ctx {
            head,
            who,
            endpoint: format!("{} {}", head.method, head.target),
            subject: ("client", client.to_string()),
        }
    }
}

/// The overlay's path and text (`None`: no file yet) and the parsed document.
fn open_overlay(overlay: &Path) -> Result<(Option<String>, DocumentMut), ApiError> {
    let old = match std::fs::read_to_string(overlay) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(ApiError::new(
                500,
                format!("cannot read the overlay {}: {e}", overlay.display()),
            ))
        }
    };
    let doc: DocumentMut = old.as_deref().unwrap_or("").parse().map_err(|e| {
        ApiError::new(
            409,
            format!(
                "the overlay {} is not valid TOML; fix it by hand first: {e}",
                overlay.display()
            ),
        )
    })?;
    Ok((old, doc))
}

/// The overlay path, or the 409 when changes cannot be applied.
fn overlay_path(api: &Api) -> Result<std::path::PathBuf, ApiError> {
    let Some(overlay) = api.overlay.clone() else {
        return Err(ApiError::new(409, NO_OVERLAY));
    };
    if !api.hub.enabled() {
        return Err(ApiError::new(
            409,
            "policy inspection is off; there is nothing to change",
        ));
    }
    Ok(overlay)
}

/// Writes the edited overlay, reloads, puts the old file back if the
/// reload fails, and audits. Returns the reload's outcome as JSON.
#[allow(clippy::too_many_arguments)]
fn commit(
    api: &Api,
    cx: &Ctx<'_>,
    overlay: &Path,
    old: Option<&str>,
    text: &str,
    before: &Value,
    after: &Value,
    field: &'static str,
) -> Result<Value, ApiError> {
    if let Err(e) = write_atomic(overlay, text) {
        let msg = format!("cannot write the overlay {}: {e}", overlay.display());
        audit(api, cx, before, after, "write_failed", Some(&msg));
        return Err(ApiError::new(500, msg));
    }
    let reload = api.hub.reload_and_wait("admin api", RELOAD_WAIT);
    let failure = match &reload {
        Some(r) if r.ok => None,
        Some(r) => Some(r.errors.join("; ")),
        None => Some(
            "the policy hub is busy with another reload; nothing was changed, retry".to_owned(),
        ),
    };
    if let Some(err) = failure {
        let restored = match old {
            Some(t) => write_atomic(overlay, t),
            None => std::fs::remove_file(overlay),
        };
        let mut msg = format!("the change did not load and was undone: {err}");
        if let Err(e) = restored {
            msg.push_str(&format!(
                "; and restoring the previous overlay failed: {e} (fix {} by hand)",
                overlay.display()
            ));
        }
        audit(api, cx, before, after, "reload_failed", Some(&msg));
        let status = if reload.is_some() { 422 } else { 503 };
        return Err(ApiError::field(status, field, msg));
    }
    audit(api, cx, before, after, "applied", None);
    Ok(reload.map_or(Value::Null, |r| {
        json!({
            "time_ms": r.at * 1000,
            "ok": r.ok,
            "version": r.version,
            "elapsed_ms": r.elapsed_ms,
            "added": r.changes.added,
            "removed": r.changes.removed,
            "changed": r.changes.changed,
        })
    }))
}

/// `POST /api/policies/{id}/{mode|action|threshold|exclusions}`.
pub fn policy_change(
    api: &Api,
    head: &Head,
    id: &str,
    kind: &str,
    body: &[u8],
) -> Result<(u16, Value), ApiError> {
    let who = authorize(api, head)?.to_owned();
    let overlay = overlay_path(api)?;
    let (current, _) = api
        .hub
        .current()
        .ok_or_else(|| ApiError::new(503, "no policy is serving yet"))?;
    let Some(p) = current.policies.iter().find(|p| p.id == id) else {
        return Err(ApiError::new(404, format!("unknown policy `{id}`")));
    };
    if id == rampart_policy_loader::client_block::POLICY_ID {
        return Err(ApiError::new(
            409,
            "this policy is made from the overlay's [[block]] entries; use /api/clients/block",
        ));
    }
    let change = validate(kind, body)?;
    let (before, after) = match &change {
        Change::Mode(m) => (json!({"mode": p.mode.as_str()}), json!({"mode": m})),
        Change::Action(a) => (json!({"action": p.action.name()}), json!({"action": a})),
        Change::Threshold(t) => (json!({"threshold": null}), json!({"threshold": t})),
        Change::Exclusion(_, v) => (
            json!({"exclusions": p.exclusions.len()}),
            json!({"exclusions": p.exclusions.len() + 1, "added": v}),
        ),
    };
    drop(current);
    let _one = api.changing.lock().unwrap_or_else(|e| e.into_inner());
    let (old, mut doc) = open_overlay(&overlay)?;
    let t = override_for(&mut doc, id)?;
    let threshold_before = t.get("threshold").and_then(Item::as_integer);
    match change {
        Change::Mode(m) => {
            t.insert("mode", value(m));
        }
        Change::Action(a) => {
            t.insert("action", value(a));
        }
        Change::Threshold(n) => {
            t.insert("threshold", value(n as i64));
        }
        Change::Exclusion(ex, _) => {
            if !t.contains_key("exclude") {
                t.insert("exclude", Item::ArrayOfTables(ArrayOfTables::new()));
            }
            match t.get_mut("exclude").and_then(Item::as_array_of_tables_mut) {
                Some(arr) => arr.push(ex),
                None => {
                    return Err(ApiError::new(409, format!("the override of `{id}` has an `exclude` that is not [[override.exclude]] tables; fix the file by hand")))
                }
            }
        }
    }
    let before = if kind == "threshold" {
        json!({ "threshold": threshold_before })
    } else {
        before
    };
    let cx = Ctx {
        head,
        who,
        endpoint: format!("{} {}", head.method, head.target),
        subject: ("policy", id.to_owned()),
    };
    let field = match kind {
        "mode" => "mode",
        "action" => "action",
        "threshold" => "threshold",
        _ => "body",
    };
    let reload = commit(
        api,
        &cx,
        &overlay,
        old.as_deref(),
        &doc.to_string(),
        &before,
        &after,
        field,
    )?;
    Ok((
        200,
        json!({
            "ok": true,
            "policy": id,
            "change": kind,
            "before": before,
            "after": after,
            "by": cx.who,
            "overlay": overlay.display().to_string(),
            "reload": reload,
        }),
    ))
}

/// Longest block, and longest reason kept.
const MAX_BLOCK_S: u64 = 365 * 86_400;
const MAX_REASON: usize = 256;

/// `10m`, `2h`, `1d`, `30s` in seconds.
fn duration_s(s: &str) -> Option<u64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// An address or network as the overlay writes it (`10.0.0.1`, `10.0.0.0/8`).
fn client_key(s: &str) -> Option<String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    let net = s.parse::<ipnet::IpNet>().ok()?.trunc();
    Some(if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    })
}

/// The `block` array of the overlay (created when missing).
fn blocks_mut(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, ApiError> {
    let root = doc.as_table_mut();
    if !root.contains_key("block") {
        root.insert("block", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    root.get_mut("block")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| {
            ApiError::new(
                409,
                "the overlay's `block` is not an array of [[block]] tables; fix the file by hand",
            )
        })
}

fn block_json(t: &Table, now_s: u64) -> Value {
    let until = t.get("until").and_then(Item::as_str);
    let until_s = until.and_then(rampart_policy_loader::client_block::rfc3339_s);
    json!({
        "client": t.get("client").and_then(Item::as_str),
        "until": until,
        "until_ms": until_s.map(|s| s * 1000),
        "reason": t.get("reason").and_then(Item::as_str),
        "active": until_s.is_some_and(|u| u > now_s),
    })
}

/// Removes the blocks of `client` and every expired one; returns the
/// removed block of `client`, if any, as JSON.
fn remove_blocks(arr: &mut ArrayOfTables, client: &str, now_s: u64) -> Option<Value> {
    let mut found = None;
    let mut i = 0;
    while i < arr.len() {
        let Some(t) = arr.get(i) else { break };
        let same = t
            .get("client")
            .and_then(Item::as_str)
            .and_then(client_key)
            .is_some_and(|c| c == client);
        let expired = t
            .get("until")
            .and_then(Item::as_str)
            .and_then(rampart_policy_loader::client_block::rfc3339_s)
            .is_some_and(|u| u <= now_s);
        if same || expired {
            if same {
                found = Some(block_json(t, now_s));
            }
            arr.remove(i);
        } else {
            i += 1;
        }
    }
    found
}

fn now_s() -> u64 {
    now_ms() / 1000
}

/// `POST /api/clients/block` `{"client", "duration", "reason"}`: writes (or
/// replaces) the client's `[[block]]` in the overlay; expired blocks are
/// pruned at the same time.
pub fn client_block(api: &Api, head: &Head, body: &[u8]) -> Result<(u16, Value), ApiError> {
    let who = authorize(api, head)?.to_owned();
    let overlay = overlay_path(api)?;
    let m = body_object(body)?;
    only_keys(&m, &["client", "duration", "reason"])?;
    let client = match m.get("client") {
        Some(Value::String(s)) => client_key(s).ok_or_else(|| {
            ApiError::field(
                400,
                "client",
                format!("`{s}` is not an IP address or CIDR network"),
            )
        })?,
        Some(_) => return Err(ApiError::field(400, "client", "`client` must be a string")),
        None => return Err(ApiError::field(400, "client", "`client` is required")),
    };
    let secs = match m.get("duration") {
        Some(Value::String(s)) => duration_s(s)
            .filter(|d| (1..=MAX_BLOCK_S).contains(d))
            .ok_or_else(|| {
                ApiError::field(400, "duration", format!("`duration` is like \"30s\", \"10m\", \"2h\" or \"7d\", at most 365d; got `{s}`"))
            })?,
        Some(_) => return Err(ApiError::field(400, "duration", "`duration` must be a string like \"10m\"")),
        None => return Err(ApiError::field(400, "duration", "`duration` is required")),
    };
    let reason = match m.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_REASON => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::field(
                400,
                "reason",
                format!("`reason` is a string of at most {MAX_REASON} bytes"),
            ))
        }
    };
    let _one = api.changing.lock().unwrap_or_else(|e| e.into_inner());
    let (old, mut doc) = open_overlay(&overlay)?;
    let now = now_s();
    let until_s = now + secs;
    let until = rampart_policy_loader::client_block::format_rfc3339(until_s);
    let arr = blocks_mut(&mut doc)?;
    let before = remove_blocks(arr, &client, now).unwrap_or(Value::Null);
    let mut t = Table::new();
    t.insert("client", value(client.clone()));
    t.insert("until", value(until.clone()));
    if let Some(r) = &reason {
        t.insert("reason", value(r.clone()));
    }
    arr.push(t);
    let after =
        json!({"client": client, "until": until, "until_ms": until_s * 1000, "reason": reason});
    let cx = Ctx::client(head, who, &client);
    let reload = commit(
        api,
        &cx,
        &overlay,
        old.as_deref(),
        &doc.to_string(),
        &before,
        &after,
        "client",
    )?;
    Ok((
        200,
        json!({
            "ok": true,
            "client": client,
            "until": until,
            "until_ms": until_s * 1000,
            "reason": reason,
            "policy": rampart_policy_loader::client_block::POLICY_ID,
            "before": before,
            "by": cx.who,
            "reload": reload,
        }),
    ))
}

/// `DELETE /api/clients/block/{ip}`: removes the client's block (404 when
/// it has none) and the expired ones.
pub fn client_unblock(api: &Api, head: &Head, ip: &str) -> Result<(u16, Value), ApiError> {
    let who = authorize(api, head)?.to_owned();
    let overlay = overlay_path(api)?;
    let client = client_key(ip).ok_or_else(|| {
        ApiError::field(
            400,
            "client",
            format!("`{ip}` is not an IP address or CIDR network"),
        )
    })?;
    let _one = api.changing.lock().unwrap_or_else(|e| e.into_inner());
    let (old, mut doc) = open_overlay(&overlay)?;
    let arr = blocks_mut(&mut doc)?;
    let Some(before) = remove_blocks(arr, &client, now_s()) else {
        return Err(ApiError::new(404, format!("`{client}` is not blocked")));
    };
    if arr.is_empty() {
        doc.as_table_mut().remove("block");
    }
    let after = Value::Null;
    let cx = Ctx::client(head, who, &client);
    let reload = commit(
        api,
        &cx,
        &overlay,
        old.as_deref(),
        &doc.to_string(),
        &before,
        &after,
        "client",
    )?;
    Ok((
        200,
        json!({"ok": true, "client": client, "before": before, "by": cx.who, "reload": reload}),
    ))
}

/// `GET /api/clients/blocks`: the overlay's blocks, in force or expired.
pub fn client_blocks(api: &Api) -> Result<(u16, Value), ApiError> {
    let Some(overlay) = &api.overlay else {
        return Ok((200, json!({"blocks": []})));
    };
    let (_, doc) = open_overlay(overlay)?;
    let now = now_s();
    let blocks: Vec<Value> = doc
        .get("block")
        .and_then(Item::as_array_of_tables)
        .map(|a| a.iter().map(|t| block_json(t, now)).collect())
        .unwrap_or_default();
    Ok((200, json!({ "blocks": blocks })))
}

fn audit(
    api: &Api,
    cx: &Ctx<'_>,
    before: &Value,
    after: &Value,
    outcome: &str,
    error: Option<&str>,
) {
    let Some(path) = &api.audit else { return };
    let mut line = json!({
        "time_ms": now_ms(),
        "remote": cx.head.peer.map(|p| p.to_string()),
        "identity": cx.who,
        "endpoint": cx.endpoint,
        "before": before,
        "after": after,
        "outcome": outcome,
        "error": error,
    });
    line[cx.subject.0] = json!(cx.subject.1);
    let line = line.to_string() + "\n";
    let r = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| {
            f.write_all(line.as_bytes())?;
            f.sync_data()
        });
    if let Err(e) = r {
        tracing::error!(error = %e, path = %path.display(), "cannot write the admin audit log");
    }
}

/// `GET /api/audit?limit=`: the newest entries first.
pub fn audit_read(api: &Api, q: &[(String, String)]) -> Result<(u16, Value), ApiError> {
    if let Some((k, _)) = q.iter().find(|(k, _)| k != "limit") {
        return Err(ApiError::field(
            400,
            "query",
            format!("unknown query parameter `{k}`; allowed: limit"),
        ));
    }
    let n = super::limit(q, 100, super::MAX_LIMIT)?;
    let Some(path) = &api.audit else {
        return Ok((200, json!({"path": null, "entries": []})));
    };
    let text = match std::fs::File::open(path) {
        Ok(mut f) => {
            use std::io::{Read, Seek, SeekFrom};
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let from = len.saturating_sub(AUDIT_TAIL);
            let _ = f.seek(SeekFrom::Start(from));
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)
                .map_err(|e| ApiError::new(500, format!("cannot read the audit log: {e}")))?;
            let s = String::from_utf8_lossy(&buf).into_owned();
            // A cut first line is not a whole entry.
            if from > 0 {
                s.split_once('\n')
                    .map(|(_, r)| r.to_owned())
                    .unwrap_or_default()
            } else {
                s
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(ApiError::new(
                500,
                format!("cannot read the audit log: {e}"),
            ))
        }
    };
    let entries: Vec<Value> = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str(l).ok())
        .take(n)
        .collect();
    Ok((
        200,
        json!({"path": path.display().to_string(), "entries": entries}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_keep_comments_and_other_overrides() {
        let text = "# operator notes\n[[override]]\npolicy = \"A\" # keep\nmode = \"monitor\"\n\n[[override]]\npolicy_tag = \"t\"\nmode = \"off\"\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        override_for(&mut doc, "A")
            .unwrap()
            .insert("mode", value("enforce"));
        override_for(&mut doc, "B")
            .unwrap()
            .insert("threshold", value(5));
        let out = doc.to_string();
        assert!(out.contains("# operator notes"), "{out}");
        assert!(out.contains("policy = \"A\" # keep"), "{out}");
        assert!(out.contains("mode = \"enforce\""), "{out}");
        assert!(out.contains("policy_tag = \"t\""), "{out}");
        assert!(out.contains("policy = \"B\"\nthreshold = 5"), "{out}");
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let e = |k: &str, b: &str| validate(k, b.as_bytes()).err().unwrap();
        assert_eq!(e("mode", "{").field, Some("body"));
        assert_eq!(e("mode", r#"{"mode":"loud"}"#).field, Some("mode"));
        assert_eq!(e("mode", r#"{"mode":"off","x":1}"#).field, Some("body"));
        assert_eq!(e("action", r#"{"action":"nuke"}"#).field, Some("action"));
        assert_eq!(
            e("threshold", r#"{"threshold":-1}"#).field,
            Some("threshold")
        );
        assert_eq!(e("exclusions", r#"{}"#).field, Some("body"));
        assert_eq!(
            e("exclusions", r#"{"client":"nope"}"#).field,
            Some("client")
        );
        assert_eq!(e("exclusions", r#"{"method":"G T"}"#).field, Some("method"));
        assert_eq!(e("frobnicate", "{}").status, 404);
        assert!(
            matches!(validate("mode", br#"{"mode":"off"}"#), Ok(Change::Mode(m)) if m == "off")
        );
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("o.toml");
        write_atomic(&p, "a = 1\n").unwrap();
        write_atomic(&p, "b = 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b = 2\n");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, "c = 3\n").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "mode kept");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
