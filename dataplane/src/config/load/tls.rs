//! `[tls]` and its `[[tls.certificate]]` entries. The certificate and key
//! files are read later, by `config::load_file`, which knows the directory
//! relative paths start from and reports a bad file at the line naming it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{table_array, Ctx, Section, Span, TLS_CERT_KEYS};
use crate::tls::{CertSpec, MinVersion, TlsConfig};

/// Longest ticket lifetime RFC 8446 allows.
const MAX_TICKET_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

pub(super) fn parse(
    cx: &mut Ctx<'_>,
    s: &Section<'_, '_>,
    tls_listeners: &[(SocketAddr, Span)],
) -> Option<TlsConfig> {
    if s.table.is_none() {
        if let Some((_, span)) = tls_listeners.first() {
            cx.err(
                span.clone(),
                "server.tls_listen needs certificates: add a [[tls.certificate]] with cert and key",
            );
        }
        return None;
    }
    let d = TlsConfig::default();
    let min_version = s
        .get("min_version")
        .and_then(|f| match cx.str(&f)? {
            "1.2" => Some(MinVersion::Tls12),
            "1.3" => Some(MinVersion::Tls13),
            other => {
                cx.err(
                    f.v.span(),
                    format!("{} must be \"1.2\" or \"1.3\", got {other:?}", f.name),
                );
                None
            }
        })
        .unwrap_or(d.min_version);
    let alpn = match s.get("alpn") {
        Some(f) => {
            let mut out = Vec::new();
            if let Some(items) = cx.array(&f, "protocol names like [\"http/1.1\"]") {
                for v in items.iter() {
                    match v.get_ref().as_str() {
                        Some("http/1.1") | Some("http/1.0") => {
                            out.push(v.get_ref().as_str().unwrap_or_default().to_owned())
                        }
                        Some(other) => cx.err(
                            v.span(),
                            format!(
                                "{}: {other:?} is not served; Rampart speaks \"http/1.1\" and \"http/1.0\"",
                                f.name
                            ),
                        ),
                        None => cx.err(v.span(), format!("{} must list strings", f.name)),
                    }
                }
            }
            out
        }
        None => d.alpn,
    };
    let session_tickets = s
        .get("session_tickets")
        .and_then(|f| cx.bool(&f))
        .unwrap_or(d.session_tickets);
    let ticket_lifetime = match s.get("ticket_lifetime") {
        Some(f) => match cx.duration(&f, false) {
            Some(t) if t > MAX_TICKET_LIFETIME => {
                cx.err(
                    f.v.span(),
                    format!("{} must be at most 168h (7 days)", f.name),
                );
                d.ticket_lifetime
            }
            Some(t) => t,
            None => d.ticket_lifetime,
        },
        None => d.ticket_lifetime,
    };
    let watch = s.get("watch").and_then(|f| cx.bool(&f)).unwrap_or(d.watch);
    let mut certificates = Vec::new();
    match s.get("certificate") {
        Some(f) => {
            if let Some(items) = table_array(cx, "tls.certificate", f.v) {
                for item in items.iter() {
                    let c = Section::new(cx, "tls.certificate", item, TLS_CERT_KEYS);
                    if c.broken {
                        continue;
                    }
                    if let Some(spec) = certificate(cx, &c) {
                        certificates.push(spec);
                    }
                }
            }
        }
        None => cx.err(
            s.span.clone(),
            "[tls] needs at least one [[tls.certificate]] with cert and key",
        ),
    }
    if tls_listeners.is_empty() && !certificates.is_empty() {
        cx.err(
            s.span.clone(),
            "[tls] is set but no listener uses it: add [server] tls_listen = [\"0.0.0.0:8443\"]",
        );
    }
    Some(TlsConfig {
        certificates,
        min_version,
        alpn,
        session_tickets,
        ticket_lifetime,
        watch,
    })
}

fn certificate(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> Option<CertSpec> {
    let path = |cx: &mut Ctx<'_>, key: &str| -> Option<(PathBuf, usize, usize)> {
        let Some(f) = s.get(key) else {
            cx.err(
                s.span.clone(),
                format!("[[tls.certificate]] needs `{key}` (a PEM file)"),
            );
            return None;
        };
        let v = cx.str(&f)?;
        if v.is_empty() {
            cx.err(f.v.span(), format!("{} must not be empty", f.name));
            return None;
        }
        let (line, col) = cx.line_col(f.v.span().start);
        Some((PathBuf::from(v), line, col))
    };
    let cert = path(cx, "cert");
    let key = path(cx, "key");
    let mut server_names = Vec::new();
    if let Some(f) = s.get("server_names") {
        if let Some(items) = cx.array(&f, "host names like [\"api.example.com\"]") {
            for v in items.iter() {
                match v.get_ref().as_str() {
                    Some(n) if valid_name(n) => server_names.push(n.to_ascii_lowercase()),
                    Some(n) => cx.err(
                        v.span(),
                        format!(
                            "{}: {n:?} is not a host name (write \"api.example.com\" or \"*.example.com\")",
                            f.name
                        ),
                    ),
                    None => cx.err(v.span(), format!("{} must list strings", f.name)),
                }
            }
        }
    }
    let ((cert, line, col), (key, key_line, key_col)) = (cert?, key?);
    Some(CertSpec {
        cert,
        key,
        server_names,
        at: [(line, col), (key_line, key_col)],
    })
}

fn valid_name(n: &str) -> bool {
    let bare = n.strip_prefix("*.").unwrap_or(n);
    !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
