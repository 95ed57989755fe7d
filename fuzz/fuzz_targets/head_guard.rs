//! The raw-HTTP head guard (`crates/viperhttp-runtime/src/head_guard`), through
//! its public API: a `GuardedIo` over an in-memory client stream, read the way
//! hyper reads it, with a mock service that pops one `Verdict` per head and
//! finishes requests (sometimes accepting upgrades).
//!
//! The client bytes are either raw fuzz bytes or pipelined requests built from
//! HTTP pieces (methods, targets, versions, Host / Content-Length /
//! Transfer-Encoding / Upgrade fields, odd separators and line ends, bodies,
//! chunked bodies), delivered in arbitrary chunk sizes with `Pending`s
//! in between; limits are small so every limit is reached.
//!
//! Checked: no panic; EOF within a bounded number of polls (no hang: a
//! `Pending` always has something to wait for); what hyper receives is a
//! prefix of the client bytes, followed by `SYNTHETIC_HEAD` exactly when the
//! last verdict is a rejection; at most one rejection, always the last
//! verdict, with one of the documented statuses (never 408: deadlines are off
//! here); a first head that passes is a complete request for httparse.
//!
//! Deadlines (header / keep-alive timeouts) are disabled (0): they need a
//! clock and are covered by the crate's own paused-clock tests.
#![no_main]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};
use viperhttp_runtime::head_guard::{ConnGuard, GuardLimits, GuardedIo, Verdict, SYNTHETIC_HEAD};
use viperhttp_runtime::stats::ServerStats;

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "HEAD", "OPTIONS", "CONNECT", "DELETE", "get", "G@T", "", "PATCH",
];
const TARGETS: &[&str] = &[
    "/",
    "/a?b=c",
    "*",
    "http://example.com/x?y#f",
    "example.com:443",
    "//x",
    "/%00",
    "/a b",
    "http://[::1]:8080/",
    "https://u@h/",
    "",
];
const VERSIONS: &[&str] = &[
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/2.0",
    "HTTP/1.10",
    "http/1.1",
    "HTTP/1.1 ",
    "",
];
const NAMES: &[&str] = &[
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Upgrade",
    "Expect",
    "X-A",
    "content-length",
    "Host ",
    " Host",
    "",
    "Trailer",
];
const VALUES: &[&str] = &[
    "example.com",
    "0",
    "5",
    "+5",
    "5, 5",
    "5,6",
    "chunked",
    "gzip, chunked",
    "chunked, gzip",
    "websocket",
    "Upgrade",
    "upgrade, keep-alive",
    "100-continue",
    "",
    "\t",
    "a\x01b",
    "18446744073709551616",
    "[::1]",
    "h:80",
    "h:x",
];
const SEPS: &[&str] = &[": ", ":", " : ", ":\t", "\t:"];
const EOLS: &[&[u8]] = &[b"\r\n", b"\n", b"\r", b"\r\r\n"];

#[derive(Arbitrary, Debug)]
struct Field {
    name: u8,
    custom_name: Option<String>,
    sep: u8,
    value: u8,
    custom_value: Option<Vec<u8>>,
    eol: u8,
}

#[derive(Arbitrary, Debug)]
enum BodyKind {
    None,
    Raw(Vec<u8>),
    Chunked(Vec<(Vec<u8>, u8)>, bool),
}

#[derive(Arbitrary, Debug)]
struct Req {
    leading_crlf: u8,
    method: u8,
    target: u8,
    custom_target: Option<String>,
    version: u8,
    eol: u8,
    fields: Vec<Field>,
    body: BodyKind,
}

#[derive(Arbitrary, Debug)]
enum Wire<'a> {
    Raw(&'a [u8]),
    Built(Vec<Req>),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    wire: Wire<'a>,
    chunks: Vec<u8>,
    pend_mask: u32,
    read_size: u16,
    max_uri_len: u8,
    max_headers: u8,
    max_header_size: u16,
    max_body_size: u8,
    accept_upgrades: bool,
    finish_mask: u32,
}

fn pick<'a, T: ?Sized>(list: &[&'a T], i: u8) -> &'a T {
    list[i as usize % list.len()]
}

fn build(reqs: &[Req]) -> Vec<u8> {
    let mut w = Vec::new();
    for r in reqs.iter().take(4) {
        for _ in 0..(r.leading_crlf % 4) {
            w.extend_from_slice(b"\r\n");
        }
        w.extend_from_slice(pick(METHODS, r.method).as_bytes());
        w.push(b' ');
        match &r.custom_target {
            Some(t) => w.extend_from_slice(t.as_bytes()),
            None => w.extend_from_slice(pick(TARGETS, r.target).as_bytes()),
        }
        w.push(b' ');
        w.extend_from_slice(pick(VERSIONS, r.version).as_bytes());
        w.extend_from_slice(if r.eol < 224 {
            b"\r\n"
        } else {
            pick(EOLS, r.eol)
        });
        for f in r.fields.iter().take(8) {
            match &f.custom_name {
                Some(n) => w.extend_from_slice(n.as_bytes()),
                None => w.extend_from_slice(pick(NAMES, f.name).as_bytes()),
            }
            w.extend_from_slice(pick(SEPS, f.sep).as_bytes());
            match &f.custom_value {
                Some(v) => w.extend_from_slice(v),
                None => w.extend_from_slice(pick(VALUES, f.value).as_bytes()),
            }
            // Mostly CRLF.
            w.extend_from_slice(if f.eol < 224 {
                b"\r\n"
            } else {
                pick(EOLS, f.eol)
            });
        }
        w.extend_from_slice(b"\r\n");
        match &r.body {
            BodyKind::None => {}
            BodyKind::Raw(b) => w.extend_from_slice(b),
            BodyKind::Chunked(chunks, last) => {
                for (data, ext) in chunks.iter().take(4) {
                    w.extend_from_slice(format!("{:x}", data.len()).as_bytes());
                    if ext % 4 == 1 {
                        w.extend_from_slice(b";ext=1");
                    }
                    w.extend_from_slice(b"\r\n");
                    w.extend_from_slice(data);
                    w.extend_from_slice(if ext % 8 == 7 { b"\n" } else { b"\r\n" });
                }
                if *last {
                    w.extend_from_slice(b"0\r\n\r\n");
                }
            }
        }
    }
    w
}

/// The client: `data` in fuzz-chosen chunk sizes, sometimes `Pending` first.
struct Client {
    data: Vec<u8>,
    pos: usize,
    chunks: Vec<u8>,
    i: usize,
    pend_mask: u32,
    polls: u32,
    pended_last: bool,
}

impl AsyncRead for Client {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.polls = this.polls.wrapping_add(1);
        if this.pend_mask & (1 << (this.polls % 32)) != 0 && !this.pended_last {
            this.pended_last = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.pended_last = false;
        let size = match this.chunks.get(this.i % this.chunks.len().max(1)) {
            Some(&c) if c > 0 => c as usize,
            _ => usize::MAX,
        };
        this.i += 1;
        let rest = &this.data[this.pos..];
        let n = rest.len().min(size).min(buf.remaining());
        buf.put_slice(&rest[..n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|input: Input<'_>| {
    let data = match &input.wire {
        Wire::Raw(b) => b.to_vec(),
        Wire::Built(reqs) => build(reqs),
    };
    let limits = GuardLimits {
        max_uri_len: 1 + input.max_uri_len as usize,
        max_headers: 1 + (input.max_headers % 16) as usize,
        max_header_size: 1 + (input.max_header_size % 1024) as usize,
        max_body_size: u64::from(input.max_body_size),
        header_timeout_ms: 0,
        keepalive_timeout_ms: 0,
        send_timeout_ms: 0,
        // The fuzzer drives the guard without the connection loop that parks.
        park_after_ms: 0,
    };
    let client = Client {
        data: data.clone(),
        pos: 0,
        chunks: input.chunks.clone(),
        i: 0,
        pend_mask: input.pend_mask,
        polls: 0,
        pended_last: false,
    };
    let conn = ConnGuard::new(Arc::new(ServerStats::default()));
    let mut io = GuardedIo::new(client, Arc::clone(&conn), limits);
    let mut cx = Context::from_waker(Waker::noop());
    let mut rbuf = vec![0u8; 1 + (input.read_size % 9000) as usize];

    let mut out: Vec<u8> = Vec::new();
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut outstanding = 0usize;
    let mut eof = false;
    let max_polls = 4 * (data.len() + SYNTHETIC_HEAD.len()) + 256;
    let mut step = 0u32;

    let service = |verdicts: &mut Vec<Verdict>, outstanding: &mut usize| {
        while let Some(v) = conn.next_verdict() {
            conn.request_started();
            verdicts.push(v);
            *outstanding += 1;
        }
    };
    let finish_all = |verdicts: &[Verdict], outstanding: &mut usize| {
        if *outstanding == 0 {
            return;
        }
        let upgrade = matches!(
            verdicts.last(),
            Some(Verdict::Pass {
                upgrade_hold: true,
                ..
            })
        );
        if upgrade && input.accept_upgrades {
            conn.upgrade_accepted();
        }
        for _ in 0..*outstanding {
            conn.request_finished();
        }
        *outstanding = 0;
    };

    for _ in 0..max_polls {
        step = step.wrapping_add(1);
        service(&mut verdicts, &mut outstanding);
        if input.finish_mask & (1 << (step % 32)) != 0 {
            finish_all(&verdicts, &mut outstanding);
        }
        let mut rb = ReadBuf::new(&mut rbuf);
        match Pin::new(&mut io).poll_read(&mut cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                if rb.filled().is_empty() {
                    eof = true;
                    break;
                }
                out.extend_from_slice(rb.filled());
            }
            Poll::Ready(Err(e)) => panic!("guard returned an IO error: {e}"),
            Poll::Pending => {
                service(&mut verdicts, &mut outstanding);
                if io.get_ref().pended_last {
                    continue;
                }
                assert!(
                    outstanding > 0,
                    "Pending with nothing to wait for (client ready, no request open); \
                     delivered {} bytes, verdicts {verdicts:?}",
                    out.len()
                );
                finish_all(&verdicts, &mut outstanding);
            }
        }
    }
    assert!(
        eof,
        "no EOF after {max_polls} polls ({} bytes delivered)",
        out.len()
    );
    service(&mut verdicts, &mut outstanding);

    // What hyper saw: a prefix of the client bytes, then the synthetic head
    // exactly when the last verdict is a rejection.
    let rejects: Vec<usize> = verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v, Verdict::Reject { .. }))
        .map(|(i, _)| i)
        .collect();
    assert!(rejects.len() <= 1, "more than one rejection: {verdicts:?}");
    let passed = if let Some(&i) = rejects.first() {
        assert_eq!(
            i,
            verdicts.len() - 1,
            "a verdict after a rejection: {verdicts:?}"
        );
        if let Verdict::Reject { status, reason, .. } = &verdicts[i] {
            assert!(
                [400u16, 413, 414, 431, 501, 505].contains(&status.as_u16()),
                "undocumented status {status}"
            );
            assert_eq!(Some(*reason), status.canonical_reason(), "reason phrase");
            assert_ne!(*status, StatusCode::REQUEST_TIMEOUT);
        }
        assert!(
            out.ends_with(SYNTHETIC_HEAD),
            "rejected, but hyper did not get the synthetic head"
        );
        &out[..out.len() - SYNTHETIC_HEAD.len()]
    } else {
        &out[..]
    };
    assert!(
        data.starts_with(passed),
        "hyper got bytes the client did not send (or out of order): {:?}",
        String::from_utf8_lossy(&passed[..passed.len().min(200)])
    );

    // A first head that passed is a complete request for httparse (what hyper uses).
    if matches!(verdicts.first(), Some(Verdict::Pass { .. })) {
        let mut headers = vec![httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&out) {
            Ok(httparse::Status::Complete(_)) => {}
            other => panic!(
                "passed head is not a complete request for httparse ({other:?}): {:?}",
                String::from_utf8_lossy(&out[..out.len().min(300)])
            ),
        }
    }
});
