//! The dataplane's per-request user-space work on an API request, without I/O:
//! strict parse of the request head, rewrite for the upstream, strict parse of
//! the response head and rewrite for the client, plus chunked-body validation.
//!
//! `cargo bench -p rampart-perf --bench http_head`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rampart_dataplane::http::chunked::ChunkedDecoder;
use rampart_dataplane::http::request::{parse_request, HeadLimits};
use rampart_dataplane::http::response::parse_response;
use rampart_dataplane::http::rewrite::{
    write_client_response_head, write_upstream_request_head, ForwardContext,
};
use rampart_dataplane::http::{Parsed, Version};

const REQUEST: &[u8] = b"POST /api/v1/orders?expand=items HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\
Accept: application/json\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n\
Content-Type: application/json\r\n\
Content-Length: 2048\r\n\
Cookie: session=6f1c0b7e2d; theme=dark\r\n\
Connection: keep-alive\r\n\r\n";

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 24 Nov 2026 19:00:00 GMT\r\n\
Content-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"ok\":true}";

const LIMITS: HeadLimits = HeadLimits {
    max_header_bytes: 16384,
    max_headers: 100,
    max_target_bytes: 8192,
};

fn heads(c: &mut Criterion) {
    let mut g = c.benchmark_group("head");
    g.throughput(Throughput::Elements(1));
    let mut hdrs = vec![httparse::EMPTY_HEADER; 100];
    let mut out = vec![0u8; 17 * 1024];
    let ctx = ForwardContext {
        client_addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        proto: "http",
        request_id: b"0123456789abcdef",
        trust_incoming: false,
        strip_expect: false,
        close_upstream: false,
        add_forwarded: true,
        strip_accept_encoding: false,
    };
    g.bench_function("request_parse_and_rewrite", |b| {
        b.iter(|| {
            let Ok(Parsed::Complete(h)) = parse_request(black_box(REQUEST), &mut hdrs, &LIMITS)
            else {
                panic!("fixture must parse");
            };
            let n = write_upstream_request_head(&h, REQUEST, &ctx, &mut out).expect("fits");
            black_box(n)
        })
    });
    let mut rhdrs = vec![httparse::EMPTY_HEADER; 100];
    g.bench_function("response_parse_and_rewrite", |b| {
        b.iter(|| {
            let Ok(Parsed::Complete(h)) =
                parse_response(black_box(RESPONSE), &mut rhdrs, false, 16384)
            else {
                panic!("fixture must parse");
            };
            let n = write_client_response_head(
                &h,
                RESPONSE,
                true,
                Version::Http11,
                b"0123456789abcdef",
                &mut out,
            )
            .expect("fits");
            black_box(n)
        })
    });
    g.finish();
}

fn chunked(c: &mut Criterion) {
    let mut body = Vec::new();
    for _ in 0..64 {
        body.extend_from_slice(b"400\r\n");
        body.extend_from_slice(&[b'x'; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut g = c.benchmark_group("chunked");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("validate_64KiB", |b| {
        b.iter(|| {
            let mut d = ChunkedDecoder::new();
            let p = d.feed(black_box(&body), |_| {}).expect("valid");
            assert!(p.done);
            black_box(p.consumed)
        })
    });
    g.finish();
}

criterion_group!(benches, heads, chunked);
criterion_main!(benches);
