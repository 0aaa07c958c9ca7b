//! `[tls]` and its `[[tls.certificate]]` entries. The certificate and key
//! files are read later, by `config::load_file`, which knows the directory
//! relative paths start from and reports a bad file at the line naming it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{table_array, Ctx, Section, Span, TLS_CERT_KEYS};
use crate::tls::{CertSpec, ClientAuth, ClientCa, MinVersion, TlsConfig};

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
    let (client_auth, client_ca) = client_auth(cx, s);
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
        client_auth,
        client_ca,
    })
}

/// `client_auth` and `client_ca`: each needs the other (a CA bundle that
/// nothing uses is a mistake worth naming, not a silent no-op).
fn client_auth(cx: &mut Ctx<'_>, s: &Section<'_, '_>) -> (ClientAuth, Option<ClientCa>) {
    let mode_field = s.get("client_auth");
    let mode = mode_field.as_ref().and_then(|f| match cx.str(f)? {
        "off" => Some(ClientAuth::Off),
        "optional" => Some(ClientAuth::Optional),
        "required" => Some(ClientAuth::Required),
        other => {
            cx.err(
                f.v.span(),
                format!(
                    "{} must be \"off\", \"optional\" or \"required\", got {other:?}",
                    f.name
                ),
            );
            None
        }
    });
    let ca = s.get("client_ca").and_then(|f| {
        let v = cx.str(&f)?;
        if v.is_empty() {
            cx.err(f.v.span(), format!("{} must not be empty", f.name));
            return None;
        }
        let at = cx.line_col(f.v.span().start);
        Some((
            ClientCa {
                path: PathBuf::from(v),
                at,
            },
            f.v.span(),
        ))
    });
    match (mode, ca) {
        (Some(ClientAuth::Off) | None, Some((_, span))) => {
            // A bad `client_auth` value was reported already.
            if mode.is_some() || mode_field.is_none() {
                cx.err(
                    span,
                    "tls.client_ca is set but tls.client_auth is \"off\": set client_auth = \"optional\" or \"required\" to ask clients for certificates",
                );
            }
            (ClientAuth::Off, None)
        }
        (Some(m @ (ClientAuth::Optional | ClientAuth::Required)), None) => {
            if let Some(f) = &mode_field {
                // An empty client_ca was reported already.
                if s.get("client_ca").is_none() {
                    cx.err(
                        f.v.span(),
                        format!(
                            "tls.client_auth = \"{}\" needs tls.client_ca: a PEM file of the CA certificates client certificates must chain to",
                            m.name()
                        ),
                    );
                }
            }
            (ClientAuth::Off, None)
        }
        (Some(m), Some((ca, _))) => (m, Some(ca)),
        (Some(ClientAuth::Off) | None, None) => (ClientAuth::Off, None),
    }
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
