//! Human-readable text of conditions and actions: for `explain`, for reload
//! diffs (positions in files do not count as changes) and for events.

use std::fmt::Write;

use crate::measures::IDENTITY_PROPS;
use crate::model::{Action, Cmp, Cond, FieldSel, ListKey, ValueTest};

fn fields(out: &mut String, f: &[FieldSel]) {
    if f.is_empty() {
        return;
    }
    let parts: Vec<String> = f
        .iter()
        .map(|s| match &s.name {
            Some(n) => format!("{}:{}", s.kind, String::from_utf8_lossy(n)),
            None => s.kind.to_string(),
        })
        .collect();
    let _ = write!(out, " in [{}]", parts.join(", "));
}

fn test(out: &mut String, t: &ValueTest) {
    let _ = match t {
        ValueTest::Present => write!(out, " is present"),
        ValueTest::Equals(v) => write!(out, " equals {:?}", String::from_utf8_lossy(v)),
        ValueTest::Contains(v) => write!(out, " contains {:?}", String::from_utf8_lossy(v)),
        ValueTest::Prefix(v) => write!(out, " starts with {:?}", String::from_utf8_lossy(v)),
        ValueTest::Matches(r) => write!(out, " matches /{}/", r.as_str()),
    };
}

fn bytes_list(v: &[Vec<u8>]) -> String {
    v.iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A condition as one line of text.
pub fn condition(c: &Cond) -> String {
    let mut s = String::new();
    write_cond(&mut s, c);
    s
}

fn write_cond(out: &mut String, c: &Cond) {
    let _ = match c {
        Cond::All(v) | Cond::Any(v) => {
            out.push_str(if matches!(c, Cond::All(_)) {
                "all("
            } else {
                "any("
            });
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_cond(out, x);
            }
            out.push(')');
            Ok(())
        }
        Cond::Not(x) => {
            out.push_str("not(");
            write_cond(out, x);
            out.push(')');
            Ok(())
        }
        Cond::Signature { ids, fields: f, .. } => {
            let names: Vec<&str> = ids.iter().map(|(s, _)| s.as_str()).collect();
            let _ = write!(out, "signature {}", names.join(" | "));
            fields(out, f);
            Ok(())
        }
        Cond::SignatureTag { tag, fields: f, .. } => {
            let _ = write!(out, "signature tagged {}", tag.0);
            fields(out, f);
            Ok(())
        }
        Cond::Method(m) => write!(out, "method in [{}]", bytes_list(m)),
        Cond::Path(g) => write!(
            out,
            "path ~ [{}]",
            g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
        ),
        Cond::PathRegex(r) => write!(out, "path matches /{}/", r.as_str()),
        Cond::Host(g) => write!(
            out,
            "host ~ [{}]",
            g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
        ),
        Cond::Route(g) => write!(
            out,
            "route ~ [{}]",
            g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
        ),
        Cond::Header(n, t) | Cond::Arg(n, t) | Cond::Cookie(n, t) => {
            let what = match c {
                Cond::Header(..) => "header",
                Cond::Arg(..) => "arg",
                _ => "cookie",
            };
            let _ = write!(out, "{what} {}", String::from_utf8_lossy(n));
            test(out, t);
            Ok(())
        }
        Cond::List { name, key, .. } => {
            let k = match key {
                ListKey::ClientIp => "client.ip".to_string(),
                ListKey::Ja4 => "tls.ja4".into(),
                ListKey::Ja3 => "tls.ja3".into(),
                ListKey::Password => "credential.password".into(),
                ListKey::UserPassword => "credential.user_password".into(),
                ListKey::HeaderFingerprint => "request.header_fingerprint".into(),
                ListKey::Header(h) => format!("header:{}", String::from_utf8_lossy(h)),
                ListKey::Arg(a) => format!("arg:{}", String::from_utf8_lossy(a)),
                ListKey::Identity(p) => IDENTITY_PROPS[p.index()].to_string(),
            };
            write!(out, "{k} in list {}", name.0)
        }
        Cond::Counter {
            counter,
            cmp,
            value,
            ..
        } => {
            let op = match cmp {
                Cmp::Gt => ">",
                Cmp::Gte => ">=",
                Cmp::Lt => "<",
                Cmp::Lte => "<=",
                Cmp::Eq => "==",
            };
            write!(out, "{} {op} {value}", counter.name())
        }
        Cond::Identity(p, t) => {
            let _ = write!(out, "identity {}", IDENTITY_PROPS[p.index()]);
            test(out, t);
            Ok(())
        }
        Cond::Tls(p, t) => {
            let _ = write!(out, "tls.{}", p.name());
            test(out, t);
            Ok(())
        }
        Cond::Anomaly(a) => write!(out, "anomaly {a:?}"),
        Cond::Policy { id, .. } => write!(out, "policy {} matched", id.0),
        Cond::ScoreAtLeast(n, _) => write!(out, "anomaly score >= {n}"),
        Cond::ResponseStatus(ranges) => {
            let r: Vec<String> = ranges
                .iter()
                .map(|(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            write!(out, "response status in [{}]", r.join(", "))
        }
        Cond::ResponseHeader(n, t) => {
            let _ = write!(out, "response header {}", String::from_utf8_lossy(n));
            test(out, t);
            Ok(())
        }
    };
}

/// An action as one line of text.
pub fn action(a: &Action) -> String {
    match a {
        Action::Block {
            status,
            template,
            headers,
        } => {
            let mut s = format!("block {status} with template {template}");
            for (k, v) in headers {
                let _ = write!(s, ", header {k}: {v}");
            }
            s
        }
        Action::RateLimit { retry_after_s } => {
            format!("rate limit (429, Retry-After: {retry_after_s})")
        }
        Action::Deceive { template, status } => {
            format!("deceive ({status} with template {template})")
        }
        Action::Tarpit { delay_ms, then } => format!("tarpit {delay_ms} ms, then {}", action(then)),
        Action::Drop => "drop the connection".into(),
        Action::Tag { headers } => {
            let h: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("tag ({})", h.join(", "))
        }
        Action::Mask => "mask the matched response fragments".into(),
        Action::Allow => "allow (skip later policies)".into(),
        Action::None => "none (score only)".into(),
    }
}
