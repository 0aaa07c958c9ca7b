//! Turning the ways operators hold a request (a raw file, a HAR capture, a
//! curl command line) into requests for a dry run.

use anyhow::{anyhow, bail, Context, Result};
use rampart_policy_loader::RawRequest;

/// Splits a command line the way a POSIX shell would for quoting purposes
/// (single quotes, double quotes with `\` escapes, backslash-newline).
pub fn shell_words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => bail!("unterminated single quote in the curl command"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => bail!("unterminated double quote in the curl command"),
                        },
                        Some(x) => cur.push(x),
                        None => bail!("unterminated double quote in the curl command"),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(x) => {
                    in_word = true;
                    cur.push(x);
                }
                None => {}
            },
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Splits `http://host:port/path?q` into (host[:port], target).
fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| anyhow!("URL must start with http:// or https://: {url}"))?;
    let (host, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_owned()
    };
    let target = target.split('#').next().unwrap_or("/").to_owned();
    Ok((host.to_owned(), target))
}

/// A request from a curl command line (`curl -X POST -H 'A: b' -d '...' URL`).
pub fn from_curl(cmd: &str) -> Result<RawRequest> {
    let words = shell_words(cmd)?;
    let mut it = words.into_iter().peekable();
    if it.peek().map(String::as_str) == Some("curl") {
        it.next();
    }
    let mut method: Option<String> = None;
    let mut url: Option<String> = None;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut data: Option<String> = None;
    while let Some(w) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match w.as_str() {
            "-X" | "--request" => method = Some(value(&w)?),
            "-H" | "--header" => {
                let h = value(&w)?;
                let (n, v) = h
                    .split_once(':')
                    .ok_or_else(|| anyhow!("header without `:`: {h}"))?;
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--data-ascii" => {
                let d = value(&w)?;
                data = Some(match data {
                    Some(prev) => format!("{prev}&{d}"),
                    None => d,
                });
            }
            "--json" => {
                data = Some(value(&w)?);
                headers.push(("Content-Type".into(), "application/json".into()));
                headers.push(("Accept".into(), "application/json".into()));
            }
            "-A" | "--user-agent" => headers.push(("User-Agent".into(), value(&w)?)),
            "-b" | "--cookie" => headers.push(("Cookie".into(), value(&w)?)),
            "-e" | "--referer" => headers.push(("Referer".into(), value(&w)?)),
            "-u" | "--user" => {
                let cred = value(&w)?;
                headers.push((
                    "Authorization".into(),
                    format!("Basic {}", base64(cred.as_bytes())),
                ));
            }
            "--url" => url = Some(value(&w)?),
            "-I" | "--head" => method = Some("HEAD".into()),
            s if s.starts_with("http://") || s.starts_with("https://") => url = Some(w.clone()),
            // Flags that change transport, not the request: ignore them.
            "-s" | "-S" | "-k" | "--insecure" | "-v" | "-i" | "-L" | "--compressed" | "-sS"
            | "--silent" => {}
            s if s.starts_with('-') => bail!("unsupported curl option {s}"),
            s => bail!("unexpected argument {s} (quote the URL)"),
        }
    }
    let url = url.ok_or_else(|| anyhow!("no URL in the curl command"))?;
    let (host, target) = split_url(&url)?;
    let method = method.unwrap_or_else(|| {
        if data.is_some() {
            "POST".into()
        } else {
            "GET".into()
        }
    });
    let mut out = RawRequest {
        method: method.into_bytes(),
        target: target.into_bytes(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    out.headers.push((b"Host".to_vec(), host.into_bytes()));
    if data.is_some()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    out.headers.extend(
        headers
            .into_iter()
            .map(|(n, v)| (n.into_bytes(), v.into_bytes())),
    );
    out.body = data.unwrap_or_default().into_bytes();
    Ok(out)
}

fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every request of a HAR capture (`log.entries[].request`).
pub fn from_har(text: &str) -> Result<Vec<RawRequest>> {
    let v: serde_json::Value = serde_json::from_str(text).context("not valid JSON")?;
    let entries = v
        .pointer("/log/entries")
        .and_then(|e| e.as_array())
        .ok_or_else(|| anyhow!("not a HAR file: no log.entries array"))?;
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let r = e
            .get("request")
            .ok_or_else(|| anyhow!("entry {i}: no request"))?;
        let method = r
            .get("method")
            .and_then(|m| m.as_str())
            .ok_or_else(|| anyhow!("entry {i}: no request.method"))?;
        let url = r
            .get("url")
            .and_then(|m| m.as_str())
            .ok_or_else(|| anyhow!("entry {i}: no request.url"))?;
        let (host, target) = split_url(url).with_context(|| format!("entry {i}"))?;
        let mut req = RawRequest {
            method: method.as_bytes().to_vec(),
            target: target.into_bytes(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let mut has_host = false;
        for h in r
            .get("headers")
            .and_then(|h| h.as_array())
            .into_iter()
            .flatten()
        {
            let (Some(n), Some(v)) = (
                h.get("name").and_then(|x| x.as_str()),
                h.get("value").and_then(|x| x.as_str()),
            ) else {
                continue;
            };
            // HTTP/2 pseudo-headers are not HTTP/1.1 headers.
            if n.starts_with(':') {
                if n == ":authority" {
                    req.headers.push((b"Host".to_vec(), v.as_bytes().to_vec()));
                    has_host = true;
                }
                continue;
            }
            has_host |= n.eq_ignore_ascii_case("host");
            req.headers
                .push((n.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        if !has_host {
            req.headers.insert(0, (b"Host".to_vec(), host.into_bytes()));
        }
        if let Some(t) = r.pointer("/postData/text").and_then(|t| t.as_str()) {
            req.body = t.as_bytes().to_vec();
        }
        out.push(req);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_lines() {
        let r = from_curl(r#"curl -s -X PUT 'https://api.example.com/v1/users/7?x=1' -H 'Content-Type: application/json' -d '{"role":"admin"}'"#).expect("parse");
        assert_eq!(r.method, b"PUT");
        assert_eq!(r.target, b"/v1/users/7?x=1");
        assert_eq!(
            r.headers[0],
            (b"Host".to_vec(), b"api.example.com".to_vec())
        );
        assert_eq!(r.body, br#"{"role":"admin"}"#);
        let r = from_curl("curl http://h/search?q=a%20b -A \"sqlmap/1.7\"").expect("parse");
        assert_eq!(
            (r.method.as_slice(), r.headers[1].1.as_slice()),
            (&b"GET"[..], &b"sqlmap/1.7"[..])
        );
        assert!(from_curl("curl -X").is_err());
        assert!(from_curl("curl 'http://h/").is_err());
        assert!(from_curl("curl --weird http://h/").is_err());
    }

    #[test]
    fn har_entries() {
        let har = r#"{"log":{"entries":[{"request":{"method":"POST","url":"https://a.example/login","headers":[{"name":":authority","value":"a.example"},{"name":"content-type","value":"application/json"}],"postData":{"text":"{\"u\":1}"}}}]}}"#;
        let v = from_har(har).expect("har");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].headers[0].0, b"Host");
        assert_eq!(v[0].body, br#"{"u":1}"#);
        assert!(from_har("{}").is_err());
    }
}
