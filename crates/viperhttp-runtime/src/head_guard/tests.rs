//! Unit tests: a corpus of malformed / ambiguous heads driven through
//! [`GuardedIo`] over a scripted reader (whole, byte by byte, and with tiny
//! reads), plus deadline, hold and EOF-ordering tests over `tokio::io::duplex`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{duplex, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use super::chunked::{ChunkStep, ChunkedTracker};
use super::target::plain_origin;
use super::*;
use crate::stats::ServerStats;

// ---------------------------------------------------------------- harness

/// Scripted stream: each chunk is one read (split if hyper's buffer is
/// smaller), then EOF. With `pend`, every other read returns Pending first.
struct Script {
    chunks: VecDeque<Vec<u8>>,
    pend: bool,
    flip: bool,
}

impl Script {
    fn new(chunks: Vec<Vec<u8>>, pend: bool) -> Self {
        Script {
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
            pend,
            flip: false,
        }
    }
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pend {
            self.flip = !self.flip;
            if self.flip {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        if let Some(front) = self.chunks.front_mut() {
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            front.drain(..n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Script {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[derive(Debug)]
struct Outcome {
    out: Vec<u8>,
    verdicts: Vec<Verdict>,
    parse_errors: u64,
    body_too_large: bool,
}

/// Read everything hyper would get; act as the service: pop each verdict as
/// soon as its head is out and finish it at once.
async fn drive(chunks: Vec<Vec<u8>>, limits: GuardLimits, read_cap: usize, pend: bool) -> Outcome {
    let stats = Arc::new(ServerStats::default());
    let conn = ConnGuard::new(stats.clone());
    let mut io = GuardedIo::new(Script::new(chunks, pend), conn.clone(), limits);
    let mut out = Vec::new();
    let mut verdicts = Vec::new();
    for _ in 0..100_000 {
        let mut buf = vec![0u8; read_cap];
        let n = tokio::time::timeout(Duration::from_secs(5), io.read(&mut buf))
            .await
            .expect("guard hung")
            .expect("read error");
        while let Some(v) = conn.next_verdict() {
            conn.request_started();
            verdicts.push(v);
            conn.request_finished();
        }
        if n == 0 {
            return Outcome {
                out,
                verdicts,
                parse_errors: stats.parse_errors.load(Ordering::Relaxed),
                body_too_large: conn.body_too_large(),
            };
        }
        out.extend_from_slice(&buf[..n]);
    }
    panic!("guard never reached EOF");
}

fn small() -> GuardLimits {
    GuardLimits {
        max_uri_len: 32,
        max_headers: 4,
        max_header_size: 100,
        max_body_size: 16,
        header_timeout_ms: 0,
        keepalive_timeout_ms: 0,
        send_timeout_ms: 0,
        park_after_ms: 0,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum E {
    Pass,
    Ast,
    Rej(u16),
}

fn kind(v: &Verdict) -> E {
    match v {
        Verdict::Pass { .. } => E::Pass,
        Verdict::AsteriskOptions => E::Ast,
        Verdict::Reject { status, .. } => E::Rej(status.as_u16()),
    }
}

struct Case {
    name: &'static str,
    input: Vec<u8>,
    expect: Vec<E>,
    /// Bytes hyper receives before the synthetic head (if any).
    passed: Vec<u8>,
}

fn pass(name: &'static str, input: &[u8]) -> Case {
    Case {
        name,
        input: input.to_vec(),
        expect: vec![E::Pass],
        passed: input.to_vec(),
    }
}

fn rej(name: &'static str, input: &[u8], status: u16) -> Case {
    Case {
        name,
        input: input.to_vec(),
        expect: vec![E::Rej(status)],
        passed: Vec::new(),
    }
}

fn case(name: &'static str, input: &[u8], expect: &[E], passed: &[u8]) -> Case {
    Case {
        name,
        input: input.to_vec(),
        expect: expect.to_vec(),
        passed: passed.to_vec(),
    }
}

/// `GET / HTTP/1.1` + Host + the given extra lines (each without CRLF) + body.
fn req(extra: &[&str], body: &str) -> Vec<u8> {
    let mut s = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for l in extra {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.into_bytes()
}

fn post_chunked(body: &str) -> Vec<u8> {
    let mut v = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    v.extend_from_slice(body.as_bytes());
    v
}

const CHUNKED_HEAD: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

fn corpus() -> Vec<Case> {
    let ok = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let cat = |parts: &[&[u8]]| parts.concat();
    // A chunked body whose framing breaks after `valid` bytes: hyper gets the
    // head and the valid prefix, then EOF (its body errors, the service answers).
    let bad_chunk = |name: &'static str, body: &str, valid: usize| {
        let input = post_chunked(body);
        let passed = input[..CHUNKED_HEAD.len() + valid].to_vec();
        Case {
            name,
            input,
            expect: vec![E::Pass],
            passed,
        }
    };
    let h32 = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(31));
    let h33 = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(32));
    let long_method = format!("{} / HTTP/1.1\r\nHost: x\r\n\r\n", "M".repeat(65));
    let max_method = format!("{} / HTTP/1.1\r\nHost: x\r\n\r\n", "M".repeat(64));
    // header block: "Host: x" (7) + fields summing to exactly 100 / 101 bytes.
    let size100 = req(&[&format!("X: {}", "v".repeat(90))], ""); // 7 + 93 = 100
    let size101 = req(&[&format!("X: {}", "v".repeat(91))], "");
    let fields4 = req(&["A: 1", "B: 2", "C: 3"], "");
    let fields5 = req(&["A: 1", "B: 2", "C: 3", "D: 4"], "");
    vec![
        // --- accepted heads
        pass("simple GET", ok),
        pass("HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n"),
        pass(
            "unknown method token passes (405 later)",
            b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        pass(
            "lowercase method token passes",
            b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        pass(
            "absolute-form http",
            b"GET http://example.com:8080/a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        pass(
            "absolute-form HTTPS upper-case scheme",
            b"GET HTTPS://ex.com/ HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        case(
            "asterisk-form OPTIONS",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            &[E::Ast],
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        pass(
            "CONNECT authority-form passes (405 later)",
            b"CONNECT ex.com:443 HTTP/1.1\r\nHost: ex.com:443\r\n\r\n",
        ),
        pass("empty Host value", b"GET / HTTP/1.1\r\nHost: \r\n\r\n"),
        pass(
            "empty Host value without space",
            b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        ),
        pass(
            "Host IPv6 with port",
            b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        ),
        pass(
            "Host pct-encoded reg-name",
            b"GET / HTTP/1.1\r\nHost: a%41b.example\r\n\r\n",
        ),
        pass(
            "identical Content-Length repeats",
            &req(&["Content-Length: 3", "content-length: 003"], "abc"),
        ),
        pass(
            "Content-Length trailing SP/HT",
            &req(&["Content-Length: 3 \t"], "abc"),
        ),
        pass(
            "Content-Length at max_body_size",
            &req(&["Content-Length: 16"], "0123456789abcdef"),
        ),
        pass("Content-Length 0", &req(&["Content-Length: 0"], "")),
        pass(
            "chunked with extensions and trailer",
            &post_chunked("3;a=b;c=\"q\\\"x\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"),
        ),
        pass(
            "chunked BWS before extension",
            &post_chunked("3 ;a = b\r\nabc\r\n0\r\n\r\n"),
        ),
        pass(
            "Transfer-Encoding Chunked case-insensitive",
            &req(&["Transfer-Encoding: Chunked"], "0\r\n\r\n"),
        ),
        pass(
            "leading empty lines",
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        pass(
            "obs-text and HTAB in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\tb\x80\xff\r\n\r\n",
        ),
        pass("request-target exactly max_uri_len", h32.as_bytes()),
        pass("method exactly 64 bytes", max_method.as_bytes()),
        pass("exactly max_headers fields", &fields4),
        pass("header block exactly max_header_size", &size100),
        pass(
            "truncated Content-Length body passes through",
            &req(&["Content-Length: 10"], "abc"),
        ),
        case(
            "three pipelined requests",
            &cat(&[ok, ok, ok]),
            &[E::Pass, E::Pass, E::Pass],
            &cat(&[ok, ok, ok]),
        ),
        case(
            "pipelined POST body then GET",
            &cat(&[&req(&["Content-Length: 5"], "hello"), ok]),
            &[E::Pass, E::Pass],
            &cat(&[&req(&["Content-Length: 5"], "hello"), ok]),
        ),
        case(
            "pipelined chunked body then GET",
            &cat(&[&post_chunked("2\r\nhi\r\n0\r\n\r\n"), ok]),
            &[E::Pass, E::Pass],
            &cat(&[&post_chunked("2\r\nhi\r\n0\r\n\r\n"), ok]),
        ),
        // --- the reproducers
        rej(
            "Bad Header line",
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
            400,
        ),
        rej("binary garbage", b"\x00\x01\x02 hello\r\n\r\n", 400),
        case(
            "valid request + garbage",
            &cat(&[ok, b"GARBAGE\r\n\r\n"]),
            &[E::Pass, E::Rej(400)],
            ok,
        ),
        case(
            "valid request + binary garbage",
            &cat(&[ok, b"\x16\x03\x01"]),
            &[E::Pass, E::Rej(400)],
            ok,
        ),
        rej(
            "CL then TE",
            &req(
                &["Content-Length: 3", "Transfer-Encoding: chunked"],
                "0\r\n\r\n",
            ),
            400,
        ),
        rej(
            "TE then CL",
            &req(
                &["Transfer-Encoding: chunked", "Content-Length: 3"],
                "0\r\n\r\n",
            ),
            400,
        ),
        rej("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
        rej("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        rej("HTTP/0.9", b"GET / HTTP/0.9\r\n\r\n", 505),
        rej("bare LF line ends", b"GET / HTTP/1.1\nHost: x\n\n", 400),
        // --- request line
        rej(
            "lower-case version",
            b"GET / http/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "version without minor",
            b"GET / HTTP/1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "version with letters",
            b"GET / HTTP/1.a\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "version too long",
            b"GET / HTTP/11.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "two SP after method",
            b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "two SP before version",
            b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "trailing SP after version",
            b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "space inside target",
            b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej("missing version (HTTP/0.9 style)", b"GET /\r\n\r\n", 400),
        rej("method only", b"GET\r\n\r\n", 400),
        rej(
            "leading SP (empty method)",
            b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "invalid method token",
            b"G(ET / HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "HTAB as separator",
            b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "NUL in target",
            b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "DEL in target",
            b"GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        pass(
            "UTF-8 target passes (http::Uri accepts it)",
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",
        ),
        rej(
            "invalid UTF-8 target refused by http::Uri",
            b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "bare CR in request line",
            b"GET / HTTP/1.1\rHost: x\r\n\r\n",
            400,
        ),
        rej(
            "lone LF before request line",
            b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "too many leading empty lines",
            &cat(&[&b"\r\n".repeat(9), ok]),
            400,
        ),
        rej("request-target one past max_uri_len", h33.as_bytes(), 414),
        rej(
            "huge request line",
            format!("GET /{} HTTP/1.1\r\n", "x".repeat(5000)).as_bytes(),
            414,
        ),
        rej("method longer than 64 bytes", long_method.as_bytes(), 501),
        // --- targets
        rej(
            "asterisk with GET",
            b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "authority-form without CONNECT",
            b"GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "relative target",
            b"GET index.html HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "absolute-form ftp scheme",
            b"GET ftp://h/x HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "absolute-form without path",
            b"GET http://h HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "absolute-form query without path",
            b"GET http://h?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "absolute-form with userinfo",
            b"GET http://u@h/ HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        rej(
            "absolute-form empty authority",
            b"GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        // --- field lines
        rej(
            "obs-fold with SP",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n  b\r\n\r\n",
            400,
        ),
        rej(
            "obs-fold with HTAB",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n",
            400,
        ),
        rej(
            "whitespace before first field",
            b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
            400,
        ),
        rej(
            "space before colon",
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            400,
        ),
        rej(
            "empty field name",
            b"GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n",
            400,
        ),
        rej(
            "invalid token in name",
            b"GET / HTTP/1.1\r\nHost: x\r\nX(Y): v\r\n\r\n",
            400,
        ),
        rej(
            "field line without colon",
            b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
            400,
        ),
        rej(
            "NUL in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
            400,
        ),
        rej(
            "control byte in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
            400,
        ),
        rej(
            "DEL in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n",
            400,
        ),
        rej(
            "control byte in a name",
            b"GET / HTTP/1.1\r\nHost: x\r\nX\x01: v\r\n\r\n",
            400,
        ),
        rej(
            "bare CR in a value",
            b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
            400,
        ),
        rej(
            "bare LF after a field",
            b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
            400,
        ),
        rej(
            "bare LF as final line",
            b"GET / HTTP/1.1\r\nHost: x\r\n\n",
            400,
        ),
        rej(
            "CR CR LF at the end",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\r\n",
            400,
        ),
        rej("one field past max_headers", &fields5, 431),
        rej("header block one byte past max_header_size", &size101, 431),
        rej(
            "huge header value",
            &req(&[&format!("X: {}", "v".repeat(10_000))], ""),
            431,
        ),
        // --- Content-Length
        rej(
            "Content-Length one past max_body_size",
            &req(&["Content-Length: 17"], ""),
            413,
        ),
        rej(
            "Content-Length huge",
            &req(&["Content-Length: 70000"], ""),
            413,
        ),
        rej(
            "Content-Length not a number",
            &req(&["Content-Length: 1a"], ""),
            400,
        ),
        rej(
            "Content-Length with sign",
            &req(&["Content-Length: +5"], ""),
            400,
        ),
        rej(
            "Content-Length list",
            &req(&["Content-Length: 5, 5"], "hello"),
            400,
        ),
        rej("Content-Length empty", &req(&["Content-Length: "], ""), 400),
        rej(
            "Content-Length overflow",
            &req(&["Content-Length: 99999999999999999999999"], ""),
            400,
        ),
        rej(
            "differing Content-Length",
            &req(&["Content-Length: 3", "Content-Length: 4"], "abcd"),
            400,
        ),
        // --- Transfer-Encoding
        rej(
            "TE gzip (final not chunked)",
            &req(&["Transfer-Encoding: gzip"], ""),
            400,
        ),
        rej(
            "TE gzip, chunked",
            &req(&["Transfer-Encoding: gzip, chunked"], "0\r\n\r\n"),
            501,
        ),
        rej(
            "TE split over two lines",
            &req(
                &["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
                "",
            ),
            501,
        ),
        rej(
            "TE chunked twice",
            &req(&["Transfer-Encoding: chunked, chunked"], ""),
            400,
        ),
        // hyper frames by the last element of the last line: refuse what it would refuse.
        rej(
            "TE trailing empty element",
            &req(&["Transfer-Encoding: chunked,"], "0\r\n\r\n"),
            400,
        ),
        rej(
            "TE empty last line after chunked",
            &req(
                &["Transfer-Encoding: chunked", "Transfer-Encoding: "],
                "0\r\n\r\n",
            ),
            400,
        ),
        rej(
            "TE chunked twice over two lines",
            &req(
                &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                "",
            ),
            400,
        ),
        rej(
            "TE chunked, gzip",
            &req(&["Transfer-Encoding: chunked, gzip"], ""),
            400,
        ),
        rej(
            "TE chunked with parameter",
            &req(&["Transfer-Encoding: chunked;q=1"], ""),
            400,
        ),
        rej("TE empty", &req(&["Transfer-Encoding: "], ""), 400),
        rej(
            "TE invalid token",
            &req(&["Transfer-Encoding: chu\"nked"], ""),
            400,
        ),
        rej(
            "TE in HTTP/1.0",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        // --- Host
        rej(
            "HTTP/1.1 without Host",
            b"GET / HTTP/1.1\r\nX: y\r\n\r\n",
            400,
        ),
        rej(
            "two Host fields",
            b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
            400,
        ),
        rej(
            "Host with a space",
            b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            400,
        ),
        rej(
            "Host with userinfo",
            b"GET / HTTP/1.1\r\nHost: u@h\r\n\r\n",
            400,
        ),
        rej(
            "Host with a slash",
            b"GET / HTTP/1.1\r\nHost: h/p\r\n\r\n",
            400,
        ),
        rej(
            "Host with empty port",
            b"GET / HTTP/1.1\r\nHost: h:\r\n\r\n",
            400,
        ),
        rej(
            "Host with non-digit port",
            b"GET / HTTP/1.1\r\nHost: h:8o\r\n\r\n",
            400,
        ),
        rej(
            "Host unterminated IPv6",
            b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
            400,
        ),
        rej(
            "Host bad IPv6",
            b"GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n",
            400,
        ),
        rej(
            "Host bad pct-encoding",
            b"GET / HTTP/1.1\r\nHost: a%4\r\n\r\n",
            400,
        ),
        rej(
            "HTTP/1.0 with two Hosts",
            b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
        ),
        // --- chunked bodies (framing errors end the stream after the valid prefix)
        bad_chunk("chunk size not hex", "zz\r\n", 0),
        bad_chunk("chunk size missing", "\r\nabc\r\n0\r\n\r\n", 0),
        // small() allows 16 body bytes: the second digit is already too many (413).
        bad_chunk("chunk size past max_body_size", "fffffffffffffffff\r\n", 1),
        bad_chunk("bare LF after chunk size", "3\nabc\r\n0\r\n\r\n", 1),
        bad_chunk("chunk data longer than size", "3\r\nabcd\r\n0\r\n\r\n", 6),
        bad_chunk("extension without name", "3;=x\r\nabc\r\n0\r\n\r\n", 2),
        bad_chunk(
            "extension value with a space inside",
            "3;a=b c\r\nabc\r\n",
            6,
        ),
        bad_chunk("extension unterminated quote", "3;a=\"b\r\nabc\r\n", 6),
        bad_chunk("extension with control byte", "3;a\x01\r\nabc\r\n", 3),
        bad_chunk("SP between hex digits", "1 0\r\n", 2),
        bad_chunk("obs-fold in trailers", "0\r\nX: a\r\n b\r\n\r\n", 9),
        bad_chunk("trailer without colon", "0\r\nXa\r\n\r\n", 5),
        bad_chunk("bare LF at end of chunked body", "0\r\n\n", 3),
        // --- truncation and pipelining after an error
        rej(
            "connection closed inside a head",
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            400,
        ),
        case(
            "pipelining stops at the first bad head",
            &cat(&[ok, b"GET /b HTTP/1.1\r\nHost x\r\n\r\n", ok]),
            &[E::Pass, E::Rej(400)],
            ok,
        ),
        case(
            "bad head after a body",
            &cat(&[
                &req(&["Content-Length: 2"], "hi"),
                b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
            ]),
            &[E::Pass, E::Rej(505)],
            &req(&["Content-Length: 2"], "hi"),
        ),
        case("only empty lines then EOF", b"\r\n\r\n", &[], b""),
        case(
            "upgrade request: later bytes scanned once the service finished",
            &cat(&[
                &req(&["Upgrade: websocket", "Connection: Upgrade"], ""),
                b"\x81\x85abcde",
            ]),
            &[E::Pass, E::Rej(400)],
            &req(&["Upgrade: websocket", "Connection: Upgrade"], ""),
        ),
    ]
}

fn check(c: &Case, o: &Outcome, mode: &str) {
    let kinds: Vec<E> = o.verdicts.iter().map(kind).collect();
    assert_eq!(
        kinds, c.expect,
        "{} [{mode}]: verdicts {:?}",
        c.name, o.verdicts
    );
    let mut want = c.passed.clone();
    if matches!(c.expect.last(), Some(E::Rej(_))) {
        want.extend_from_slice(SYNTHETIC_HEAD);
    }
    assert_eq!(
        String::from_utf8_lossy(&o.out),
        String::from_utf8_lossy(&want),
        "{} [{mode}]: bytes handed to hyper",
        c.name
    );
}

#[tokio::test]
async fn corpus_whole_bytewise_and_small_reads() {
    let cases = corpus();
    assert!(cases.len() >= 60, "corpus has {} cases", cases.len());
    for c in &cases {
        let whole = drive(vec![c.input.clone()], small(), 64 * 1024, false).await;
        check(c, &whole, "one write");
        let bytes: Vec<Vec<u8>> = c.input.iter().map(|b| vec![*b]).collect();
        let bytewise = drive(bytes, small(), 64 * 1024, true).await;
        check(c, &bytewise, "byte by byte, pending between");
        let tiny = drive(vec![c.input.clone()], small(), 7, false).await;
        check(c, &tiny, "7-byte reads");
        let rejects = c.expect.iter().filter(|e| matches!(e, E::Rej(_))).count() as u64;
        assert!(
            whole.parse_errors >= rejects,
            "{}: parse_errors {}",
            c.name,
            whole.parse_errors
        );
    }
}

#[tokio::test]
async fn verdict_details() {
    let o = drive(
        vec![b"GET http://Example.com:8080/a/b?x=1#frag HTTP/1.1\r\nHost: other\r\n\r\n".to_vec()],
        GuardLimits::default(),
        4096,
        false,
    )
    .await;
    assert_eq!(
        o.verdicts,
        vec![Verdict::Pass {
            absolute_authority: Some("Example.com:8080".into()),
            origin_path: Some("/a/b?x=1".into()),
            http10_without_host: false,
            upgrade_hold: false,
        }]
    );
    let o = drive(
        vec![b"GET / HTTP/1.0\r\n\r\n".to_vec()],
        small(),
        4096,
        false,
    )
    .await;
    assert!(matches!(
        o.verdicts[0],
        Verdict::Pass {
            http10_without_host: true,
            absolute_authority: None,
            origin_path: None,
            ..
        }
    ));
    let o = drive(
        vec![b"GET / HTTP/1.0\r\nHost: h\r\n\r\n".to_vec()],
        small(),
        4096,
        false,
    )
    .await;
    assert!(matches!(
        o.verdicts[0],
        Verdict::Pass {
            http10_without_host: false,
            ..
        }
    ));
    let o = drive(vec![req(&["Upgrade: websocket"], "")], small(), 4096, false).await;
    assert!(matches!(
        o.verdicts[0],
        Verdict::Pass {
            upgrade_hold: true,
            ..
        }
    ));
    let o = drive(
        vec![b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n".to_vec()],
        small(),
        4096,
        false,
    )
    .await;
    assert!(matches!(
        o.verdicts[0],
        Verdict::Pass {
            upgrade_hold: true,
            ..
        }
    ));
    let o = drive(
        vec![b"GET / HTTP/1.1\r\nHost: x\r\nX: a b\r\n\r\n".to_vec()],
        small(),
        4096,
        false,
    )
    .await;
    assert!(matches!(
        o.verdicts[0],
        Verdict::Pass {
            upgrade_hold: false,
            ..
        }
    ));
    let o = drive(
        vec![b"GET / HTTP/1.2\r\nHost: x\r\n\r\n".to_vec()],
        small(),
        4096,
        false,
    )
    .await;
    assert_eq!(
        o.verdicts[0],
        Verdict::Reject {
            status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            reason: "HTTP Version Not Supported",
            detail: "HTTP version other than 1.0/1.1",
            seen: RequestLineSeen {
                method: Some("GET".into()),
                target: Some("/".into()),
            },
        }
    );
    assert_eq!(o.parse_errors, 1);
}

#[tokio::test]
async fn default_limits_pass_big_but_legal_heads() {
    let limits = GuardLimits::default();
    let target = format!("/{}", "p".repeat(8191));
    let mut head = format!("GET {target} HTTP/1.1\r\nHost: x\r\n");
    for i in 0..99 {
        head.push_str(&format!("X-{i:02}: v\r\n"));
    }
    head.push_str("\r\n");
    let o = drive(vec![head.clone().into_bytes()], limits.clone(), 8192, false).await;
    assert_eq!(o.verdicts.len(), 1);
    assert!(
        matches!(o.verdicts[0], Verdict::Pass { .. }),
        "{:?}",
        o.verdicts
    );
    assert_eq!(o.out, head.as_bytes());
    assert!(head.len() <= limits.max_head_len());
    assert!(limits.hyper_max_buf_size() >= limits.max_head_len());
}

#[tokio::test]
async fn large_body_passes_through_untouched_in_any_split() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut limits = small();
    limits.max_body_size = 1 << 20;
    let mut input = req(&[&format!("Content-Length: {}", body.len())], "");
    input.extend_from_slice(&body);
    input.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    let chunks: Vec<Vec<u8>> = input.chunks(1000).map(<[u8]>::to_vec).collect();
    let o = drive(chunks, limits.clone(), 16 * 1024, false).await;
    assert_eq!(o.verdicts.len(), 2);
    assert_eq!(o.out, input);
    // chunked, with data containing CRLFs and fake heads
    let mut chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..50 {
        chunked.extend_from_slice(b"20\r\nGET / HTTP/1.1\r\n\r\n\r\n\r\nxxxxxxxxxx\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    for step in [1usize, 3, 17, 4096] {
        let chunks: Vec<Vec<u8>> = chunked.chunks(step).map(<[u8]>::to_vec).collect();
        let o = drive(chunks, limits.clone(), 4096, false).await;
        assert_eq!(
            o.verdicts.iter().map(kind).collect::<Vec<_>>(),
            vec![E::Pass, E::Pass],
            "step {step}"
        );
        assert_eq!(o.out, chunked, "step {step}");
    }
}

// ---------------------------------------------------------------- chunked tracker

#[test]
fn chunked_tracker_boundaries() {
    let mut t = ChunkedTracker::new(4, u64::MAX);
    assert_eq!(t.feed(b"5\r\nhello\r\n0\r\n\r\nGET"), ChunkStep::Done(15));
    let mut t = ChunkedTracker::new(4, u64::MAX);
    assert_eq!(t.feed(b"A\r\n0123"), ChunkStep::NeedMore);
    assert_eq!(t.feed(b"456789\r\n0\r\n"), ChunkStep::NeedMore);
    assert_eq!(t.feed(b"T: 1\r\n\r\nrest"), ChunkStep::Done(8));
    let mut t = ChunkedTracker::new(1, u64::MAX);
    assert!(matches!(
        t.feed(b"0\r\nA: 1\r\nB: 2\r\n\r\n"),
        ChunkStep::Error { consumed: 9, .. }
    ));
    let mut t = ChunkedTracker::new(4, u64::MAX);
    let long = format!("1;{}\r\n", "a".repeat(super::chunked::MAX_SIZE_LINE + 1));
    assert!(matches!(t.feed(long.as_bytes()), ChunkStep::Error { .. }));
    let mut t = ChunkedTracker::new(4, u64::MAX);
    assert_eq!(
        t.feed(b"0000000000000000000001\r\nx\r\n0\r\n\r\n"),
        ChunkStep::Done(32)
    );
    let mut t = ChunkedTracker::new(4, u64::MAX);
    assert_eq!(t.feed(b"ffffffffffffffff\r\n"), ChunkStep::NeedMore);
}

#[tokio::test]
async fn a_refused_head_reports_the_request_line_it_showed() {
    let seen = |method: Option<&str>, target: Option<&str>| RequestLineSeen {
        method: method.map(str::to_string),
        target: target.map(str::to_string),
    };
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(40));
    let mut wide = small();
    wide.max_uri_len = 1000;
    let cases: Vec<(&str, Vec<u8>, GuardLimits, u16, RequestLineSeen)> = vec![
        (
            "414: the target received up to the limit, marked cut",
            long_target.into_bytes(),
            small(),
            414,
            seen(Some("GET"), Some(&format!("/{}...", "a".repeat(31)))),
        ),
        (
            "431: the whole request line",
            req(&["A: 1", "B: 2", "C: 3", "D: 4"], ""),
            small(),
            431,
            seen(Some("GET"), Some("/")),
        ),
        (
            "413 from Content-Length",
            b"POST /up?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n".to_vec(),
            small(),
            413,
            seen(Some("POST"), Some("/up?x=1")),
        ),
        (
            "400 in a header line",
            b"PUT /a HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n".to_vec(),
            small(),
            400,
            seen(Some("PUT"), Some("/a")),
        ),
        (
            "400 on garbage: nothing known",
            b"\x01\x02\x03\r\n\r\n".to_vec(),
            small(),
            400,
            seen(None, None),
        ),
        (
            "501 on a method too long: no method",
            format!("{} / HTTP/1.1\r\n\r\n", "M".repeat(65)).into_bytes(),
            small(),
            501,
            seen(None, None),
        ),
        (
            "control byte in the target: the part before it, non-ASCII encoded",
            b"GET /\xc3\xa9\x01 HTTP/1.1\r\n\r\n".to_vec(),
            small(),
            400,
            seen(Some("GET"), Some("/%C3%A9...")),
        ),
        (
            "a cut target is kept to SEEN_TARGET_MAX bytes",
            format!("GET /{}\x01 HTTP/1.1\r\n\r\n", "b".repeat(600)).into_bytes(),
            wide,
            400,
            seen(
                Some("GET"),
                Some(&format!("/{}...", "b".repeat(SEEN_TARGET_MAX - 1))),
            ),
        ),
    ];
    for (name, input, limits, status, want) in cases {
        for step in [1usize, 4096] {
            let chunks = input.chunks(step).map(<[u8]>::to_vec).collect();
            let o = drive(chunks, limits.clone(), 4096, false).await;
            match o.verdicts.as_slice() {
                [Verdict::Reject {
                    status: got, seen, ..
                }] => {
                    assert_eq!(got.as_u16(), status, "{name}");
                    assert_eq!(seen, &want, "{name} (step {step})");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}

#[test]
fn chunk_sizes_are_held_to_max_body_size() {
    // Exactly the budget, over two chunks (and leading zeros): accepted.
    let mut t = ChunkedTracker::new(4, 16);
    assert_eq!(
        t.feed(b"a\r\n0123456789\r\n0006\r\nabcdef\r\n0\r\n\r\n"),
        ChunkStep::Done(34)
    );
    // One past what the first chunk left: stopped at the size digit, before any data.
    let mut t = ChunkedTracker::new(4, 16);
    assert_eq!(
        t.feed(b"a\r\n0123456789\r\n7\r\nabcdefg"),
        ChunkStep::TooLarge { consumed: 15 }
    );
    // 1 MiB: `fffff` fits, the sixth digit does not; no CRLF needed.
    let mut t = ChunkedTracker::new(4, 1 << 20);
    assert_eq!(t.feed(b"fffff"), ChunkStep::NeedMore);
    assert_eq!(t.feed(b"ffff"), ChunkStep::TooLarge { consumed: 0 });
    let mut t = ChunkedTracker::new(4, 1 << 20);
    assert_eq!(t.feed(b"100000\r\n"), ChunkStep::NeedMore);
    let mut t = ChunkedTracker::new(4, 1 << 20);
    assert_eq!(t.feed(b"100001"), ChunkStep::TooLarge { consumed: 5 });
    // Without a budget in the way, a size past u64 is broken framing (400).
    let mut t = ChunkedTracker::new(4, u64::MAX);
    assert!(matches!(
        t.feed(b"fffffffffffffffff\r\n"),
        ChunkStep::Error {
            consumed: 16,
            detail: "chunk size overflow"
        }
    ));
}

#[tokio::test]
async fn a_chunk_size_past_max_body_size_cuts_the_body_at_once() {
    // small(): max_body_size 16.
    let at_limit = post_chunked("a\r\n0123456789\r\n6\r\nabcdef\r\n0\r\n\r\n");
    let past = post_chunked("a\r\n0123456789\r\n7\r\nabcdefg\r\n0\r\n\r\n");
    let huge = post_chunked("fffffffff\r\n");
    for step in [1usize, 5, 4096] {
        let split = |v: &[u8]| v.chunks(step).map(<[u8]>::to_vec).collect::<Vec<_>>();
        let o = drive(split(&at_limit), small(), 4096, false).await;
        assert_eq!(o.out, at_limit, "step {step}");
        assert!(!o.body_too_large);
        // hyper gets the chunks that fit, then EOF; the flag tells the service 413.
        let o = drive(split(&past), small(), 4096, false).await;
        assert_eq!(o.out, &past[..CHUNKED_HEAD.len() + 15], "step {step}");
        assert_eq!(o.verdicts.iter().map(kind).collect::<Vec<_>>(), [E::Pass]);
        assert!(o.body_too_large);
        assert_eq!(o.parse_errors, 0, "a size refusal is no parse error");
        let o = drive(split(&huge), small(), 4096, false).await;
        assert_eq!(o.out, &huge[..CHUNKED_HEAD.len() + 1], "step {step}");
        assert!(o.body_too_large);
    }
}

// ---------------------------------------------------------------- fuzz

#[test]
fn random_input_never_panics_and_output_is_a_prefix() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let strategy = (
        proptest::collection::vec(
            prop_oneof![
                Just(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
                Just(b"Content-Length: 3\r\n".to_vec()),
                Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"3\r\nabc\r\n0\r\n\r\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..12),
            ],
            0..12,
        ),
        1usize..40,
        1usize..64,
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 400,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(parts, step, cap)| {
            let input = parts.concat();
            let chunks: Vec<Vec<u8>> = input.chunks(step).map(<[u8]>::to_vec).collect();
            let o = rt.block_on(drive(chunks, small(), cap, false));
            let body = match o.verdicts.last() {
                Some(Verdict::Reject { .. }) => {
                    prop_assert!(o.out.ends_with(SYNTHETIC_HEAD));
                    &o.out[..o.out.len() - SYNTHETIC_HEAD.len()]
                }
                _ => &o.out[..],
            };
            prop_assert!(
                input.starts_with(body),
                "output is not a prefix of the input"
            );
            Ok(())
        })
        .unwrap();
}

/// The scanner crosses runs of ordinary bytes in one step (`HeadScanner::skip_run`). Its verdict,
/// rejection detail and logged request line must be those of the plain state machine, which
/// takes every byte on its own (`byte_by_byte`), fed the head whole and fed one byte more per
/// call, for heads whose target, field names and values end on either side of every limit, with
/// one byte anywhere replaced by any byte.
#[test]
fn scanner_verdict_does_not_depend_on_runs() {
    use super::parse::{Feed, HeadScanner};
    use proptest::prelude::*;
    let limits = small(); // max_uri_len 32, max_headers 4, max_header_size 100
    let field = (
        0usize..30,
        0usize..60,
        prop_oneof![Just(b'v'), Just(0x80u8), Just(b' '), Just(b'\t')],
    );
    let strategy = (
        0usize..40,
        proptest::collection::vec(field, 0..6),
        proptest::option::of((any::<usize>(), any::<u8>())),
    );
    let verdict = |f: Feed| format!("{f:?}");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 4000,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |(target_len, fields, mutation)| {
            let mut head = b"GET /".to_vec();
            head.resize(head.len() + target_len, b't');
            head.extend_from_slice(b" HTTP/1.1\r\n");
            for (name_len, value_len, value_byte) in fields {
                head.resize(head.len() + name_len, b'n');
                head.push(b':');
                head.resize(head.len() + value_len, value_byte);
                head.extend_from_slice(b"\r\n");
            }
            head.extend_from_slice(b"\r\n");
            if let Some((at, byte)) = mutation {
                let at = at % head.len();
                head[at] = byte;
            }
            let mut whole = HeadScanner::new();
            let at_once = verdict(whole.feed(&head, &limits));
            let mut plain = HeadScanner::new();
            plain.byte_by_byte = true;
            let reference = verdict(plain.feed(&head, &limits));
            prop_assert_eq!(
                &at_once,
                &reference,
                "head {:?}",
                String::from_utf8_lossy(&head)
            );
            let mut stepwise = HeadScanner::new();
            let mut growing = verdict(Feed::NeedMore);
            for end in 1..=head.len() {
                let f = stepwise.feed(&head[..end], &limits);
                if !matches!(f, Feed::NeedMore) {
                    growing = verdict(f);
                    break;
                }
            }
            prop_assert_eq!(
                &growing,
                &reference,
                "head {:?}",
                String::from_utf8_lossy(&head)
            );
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------- deadlines (paused clock)

pub(super) fn timed(header: u64, keepalive: u64) -> GuardLimits {
    GuardLimits {
        header_timeout_ms: header,
        keepalive_timeout_ms: keepalive,
        send_timeout_ms: 0,
        park_after_ms: 0,
        ..GuardLimits::default()
    }
}

pub(super) fn guard(
    limits: GuardLimits,
) -> (
    tokio::io::DuplexStream,
    GuardedIo<tokio::io::DuplexStream>,
    Arc<ConnGuard>,
) {
    let (client, server) = duplex(64 * 1024);
    let conn = ConnGuard::new(Arc::new(ServerStats::default()));
    let io = GuardedIo::new(server, conn.clone(), limits);
    (client, io, conn)
}

pub(super) async fn read_some(io: &mut GuardedIo<tokio::io::DuplexStream>) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let n = io.read(&mut buf).await.unwrap();
    buf.truncate(n);
    buf
}

pub(super) const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn new_connection_idle_closes_silently() {
    let (_client, mut io, conn) = guard(timed(300, 1000));
    let t0 = Instant::now();
    assert!(read_some(&mut io).await.is_empty());
    assert_eq!(t0.elapsed(), Duration::from_millis(300));
    assert!(conn.next_verdict().is_none());
}

#[tokio::test(start_paused = true)]
async fn slowloris_first_head_gets_408() {
    let (mut client, mut io, conn) = guard(timed(300, 1000));
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.write_all(b"GET / HT").await.unwrap();
    let out = read_some(&mut io).await;
    // deadline counts from accept, not from the first byte
    assert_eq!(t0.elapsed(), Duration::from_millis(300));
    assert_eq!(out, SYNTHETIC_HEAD);
    let verdict = conn.next_verdict();
    assert!(matches!(
        verdict,
        Some(Verdict::Reject {
            status: StatusCode::REQUEST_TIMEOUT,
            reason: "Request Timeout",
            ..
        })
    ));
    // The access line gets what arrived of the request line.
    assert!(matches!(
        verdict,
        Some(Verdict::Reject { seen: RequestLineSeen { method: Some(m), target: Some(t) }, .. })
            if m == "GET" && t == "/"
    ));
    assert_eq!(conn.stats.parse_errors.load(Ordering::Relaxed), 0);
    conn.request_finished();
    assert!(read_some(&mut io).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn keepalive_idle_runs_only_after_the_response() {
    let (mut client, mut io, conn) = guard(timed(300, 1000));
    client.write_all(REQ).await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    assert!(conn.next_verdict().is_some());
    // In progress for 5 s: no deadline fires (neither keep-alive nor header).
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_secs(5), io.read(&mut buf))
            .await
            .is_err()
    );
    let t0 = Instant::now();
    conn.request_finished();
    assert!(read_some(&mut io).await.is_empty());
    assert_eq!(t0.elapsed(), Duration::from_millis(1000));
}

#[tokio::test(start_paused = true)]
async fn keepalive_then_slow_head_gets_408_from_its_first_byte() {
    let (mut client, mut io, conn) = guard(timed(300, 1000));
    client.write_all(REQ).await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    conn.next_verdict();
    conn.request_finished();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        client.write_all(b"GET /slow").await.unwrap();
        client
    });
    let t0 = Instant::now();
    let out = read_some(&mut io).await;
    assert_eq!(out, SYNTHETIC_HEAD);
    assert_eq!(t0.elapsed(), Duration::from_millis(1100));
    assert!(matches!(
        conn.next_verdict(),
        Some(Verdict::Reject {
            status: StatusCode::REQUEST_TIMEOUT,
            ..
        })
    ));
    drop(writer);
}

#[tokio::test(start_paused = true)]
async fn pipelined_partial_head_is_timed_from_the_end_of_the_response() {
    let (mut client, mut io, conn) = guard(timed(300, 1000));
    let mut input = REQ.to_vec();
    input.extend_from_slice(b"GET /next HTTP/1.1\r\n");
    client.write_all(&input).await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    conn.next_verdict();
    let mut buf = [0u8; 64];
    // The request runs 2 s, well past header_timeout_ms: no 408 meanwhile.
    assert!(
        tokio::time::timeout(Duration::from_secs(2), io.read(&mut buf))
            .await
            .is_err()
    );
    let t0 = Instant::now();
    conn.request_finished();
    // The partial head's clock starts at the end of the response.
    assert_eq!(read_some(&mut io).await, SYNTHETIC_HEAD);
    assert_eq!(t0.elapsed(), Duration::from_millis(300));
    assert!(matches!(
        conn.next_verdict(),
        Some(Verdict::Reject {
            status: StatusCode::REQUEST_TIMEOUT,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn pipelined_head_completed_after_the_response_passes() {
    let (mut client, mut io, conn) = guard(timed(300, 1000));
    let mut input = REQ.to_vec();
    input.extend_from_slice(b"GET /next HTTP/1.1\r\n");
    client.write_all(&input).await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    conn.next_verdict();
    tokio::time::sleep(Duration::from_secs(2)).await;
    conn.request_finished();
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.write_all(b"Host: x\r\n\r\n").await.unwrap();
    assert_eq!(
        read_some(&mut io).await,
        b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    assert!(matches!(conn.next_verdict(), Some(Verdict::Pass { .. })));
}

#[tokio::test(start_paused = true)]
async fn zero_timeouts_never_fire() {
    let (_client, mut io, _conn) = guard(timed(0, 0));
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), io.read(&mut buf))
            .await
            .is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn response_writes_push_the_idle_deadline() {
    let (mut client, mut io, conn) = guard(timed(300, 1000));
    client.write_all(REQ).await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    conn.next_verdict();
    conn.request_finished(); // finished early (service returned), body still streaming
    let t0 = Instant::now();
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(700), io.read(&mut buf))
            .await
            .is_err()
    );
    io.write_all(b"late body bytes").await.unwrap();
    assert!(read_some(&mut io).await.is_empty());
    assert_eq!(t0.elapsed(), Duration::from_millis(1700));
}

// ---------------------------------------------------------------- ordering, EOF, hold

#[tokio::test]
async fn rejection_eof_waits_for_earlier_requests() {
    let (mut client, mut io, conn) = guard(timed(0, 0));
    let mut input = REQ.to_vec();
    input.extend_from_slice(b"BAD\r\n\r\n");
    client.write_all(&input).await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    assert_eq!(read_some(&mut io).await, SYNTHETIC_HEAD);
    assert!(matches!(conn.next_verdict(), Some(Verdict::Pass { .. })));
    assert!(matches!(
        conn.next_verdict(),
        Some(Verdict::Reject {
            status: StatusCode::BAD_REQUEST,
            ..
        })
    ));
    let mut buf = [0u8; 64];
    // Both in progress: no EOF yet (hyper would drop the busy connection).
    assert!(
        tokio::time::timeout(Duration::from_millis(100), io.read(&mut buf))
            .await
            .is_err()
    );
    conn.request_finished();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), io.read(&mut buf))
            .await
            .is_err()
    );
    let reader = tokio::spawn(async move { read_some(&mut io).await });
    tokio::task::yield_now().await;
    conn.request_finished(); // wakes the parked reader
    assert!(reader.await.unwrap().is_empty());
}

#[tokio::test]
async fn client_eof_at_a_head_boundary_is_passed_on_at_once() {
    // docs/internals/bridge.md#client-disconnect: hyper notices a gone client on a busy connection.
    let (mut client, mut io, conn) = guard(timed(0, 0));
    client.write_all(REQ).await.unwrap();
    client.shutdown().await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    assert!(conn.next_verdict().is_some());
    assert!(read_some(&mut io).await.is_empty());
}

#[tokio::test]
async fn upgrade_accepted_switches_to_raw_bytes() {
    let (mut client, mut io, conn) = guard(timed(0, 0));
    let head = req(&["Upgrade: websocket", "Connection: Upgrade"], "");
    let mut input = head.clone();
    input.extend_from_slice(b"\x81\x85frame");
    client.write_all(&input).await.unwrap();
    assert_eq!(read_some(&mut io).await, head);
    assert!(matches!(
        conn.next_verdict(),
        Some(Verdict::Pass {
            upgrade_hold: true,
            ..
        })
    ));
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(50), io.read(&mut buf))
            .await
            .is_err()
    );
    conn.upgrade_accepted();
    conn.request_finished();
    assert_eq!(read_some(&mut io).await, b"\x81\x85frame");
    client.write_all(b"\x00\x01GET garbage\n").await.unwrap();
    assert_eq!(read_some(&mut io).await, b"\x00\x01GET garbage\n");
    assert!(conn.next_verdict().is_none());
}

#[tokio::test]
async fn upgrade_declined_resumes_head_scanning() {
    let (mut client, mut io, conn) = guard(timed(0, 0));
    let head = req(&["Upgrade: h2c", "Connection: Upgrade"], "");
    let mut input = head.clone();
    input.extend_from_slice(REQ);
    client.write_all(&input).await.unwrap();
    assert_eq!(read_some(&mut io).await, head);
    assert!(conn.next_verdict().is_some());
    let reader = tokio::spawn(async move {
        let out = read_some(&mut io).await;
        (out, io)
    });
    tokio::task::yield_now().await;
    conn.request_finished();
    let (out, _io) = reader.await.unwrap();
    assert_eq!(out, REQ);
    assert!(matches!(
        conn.next_verdict(),
        Some(Verdict::Pass {
            upgrade_hold: false,
            ..
        })
    ));
}

#[tokio::test]
async fn finish_on_drop_counts_once() {
    let conn = ConnGuard::new(Arc::new(ServerStats::default()));
    let a = conn.finish_on_drop();
    let b = conn.finish_on_drop();
    drop(a);
    b.finish();
    assert_eq!(conn.requests_finished(), 2);
}

#[tokio::test]
async fn finish_on_end_fires_at_the_end_of_the_body() {
    use http_body_util::BodyExt;
    let conn = ConnGuard::new(Arc::new(ServerStats::default()));
    let body = http_body_util::Full::new(bytes::Bytes::from_static(b"abc"));
    let mut wrapped = FinishOnEnd::new(body, conn.finish_on_drop());
    assert_eq!(conn.requests_finished(), 0);
    assert!(wrapped.frame().await.is_some());
    assert_eq!(conn.requests_finished(), 0);
    assert!(wrapped.frame().await.is_none());
    assert_eq!(conn.requests_finished(), 1);
    drop(wrapped);
    assert_eq!(conn.requests_finished(), 1);
    let dropped = FinishOnEnd::new(
        http_body_util::Empty::<bytes::Bytes>::new(),
        conn.finish_on_drop(),
    );
    drop(dropped);
    assert_eq!(conn.requests_finished(), 2);
}

#[tokio::test]
async fn lingering_close_drains_then_returns() {
    let (mut client, mut io, conn) = guard(timed(0, 0));
    let mut input = req(&["Content-Length: 99999999"], "");
    input.extend_from_slice(&[b'x'; 4000]);
    client.write_all(&input).await.unwrap();
    assert_eq!(read_some(&mut io).await, SYNTHETIC_HEAD);
    assert!(matches!(
        conn.next_verdict(),
        Some(Verdict::Reject {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..
        })
    ));
    let closer = tokio::spawn(async move {
        let mut sink = Vec::new();
        // the client sees our FIN, then closes
        client.read_to_end(&mut sink).await.unwrap();
        drop(client);
        sink
    });
    tokio::time::timeout(Duration::from_secs(1), io.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert!(closer.await.unwrap().is_empty());
}

// ---------------------------------------------------------------- request-target fast path

/// Every target `plain_origin` passes, `http::Uri` accepts (so skipping its parse refuses
/// nothing hyper would): all targets of `/` and up to three more bytes, each byte from the
/// whole range, checked exhaustively over the bytes that matter.
#[test]
fn plain_origin_is_a_subset_of_http_uri() {
    let mut interesting: Vec<u8> = (0u8..=255).collect();
    let mut passed = 0usize;
    for &a in &interesting {
        for &b in &interesting {
            let t = [b'/', a, b];
            if plain_origin(&t) {
                passed += 1;
                assert!(http::Uri::try_from(&t[..]).is_ok(), "{t:?}");
            }
        }
    }
    assert!(
        passed > 4000,
        "the fast path takes the common targets ({passed})"
    );
    // Three bytes after the slash, over the accepted set and its neighbours.
    interesting.retain(|&b| b.is_ascii_graphic() || b == b' ');
    for &a in &interesting {
        for &b in &interesting {
            for &c in &interesting {
                let t = [b'/', a, b, c];
                if plain_origin(&t) {
                    assert!(http::Uri::try_from(&t[..]).is_ok(), "{t:?}");
                }
            }
        }
    }
    assert!(plain_origin(b"/users/42?verbose=1&x=%20+y"));
    assert!(
        !plain_origin(b"/a?b?c"),
        "a second '?' takes the full parse"
    );
    assert!(!plain_origin(b"*") && !plain_origin(b"http://h/") && !plain_origin(b""));
    assert!(!plain_origin(b"/a b") && !plain_origin(b"/a#f") && !plain_origin(b"/\x7f"));
}
