//! End-to-end HTTP without an interpreter: a real `ServerHandle` on 127.0.0.1, a thread
//! playing the Python side on the IPC queues, and raw HTTP/1.1 over TCP. Covers the
//! request path of `service/` (docs/internals/architecture.md, "The request path"): a
//! plain request answered by the consumer, a request body delivered, streamed responses
//! (chunked and with a declared length), a 404 answered natively without reaching the
//! consumer, and the `503 Queue Full` / `504 Gateway Timeout` answers when nobody consumes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use viperhttp_ipc::blob::{request_headers, split_request_blob};
use viperhttp_ipc::{flags, Ipc, IpcConfig, IpcMsg, Method, MsgType};
use viperhttp_runtime::{Routes, RuntimeConfig, ServerHandle};

/// What the consumer saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: u8,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// One response frame: `[headers][body]` in one response-ring allocation, as the binding
/// writes it.
fn push_frame(ipc: &Ipc, mut msg: IpcMsg, headers: &[u8], body: &[u8]) {
    let total = headers.len() + body.len();
    if total > 0 {
        let mut grant = ipc.response_ring.alloc(total).unwrap();
        grant.as_mut_slice()[..headers.len()].copy_from_slice(headers);
        grant.as_mut_slice()[headers.len()..].copy_from_slice(body);
        let offset = grant.publish();
        if !headers.is_empty() {
            msg.headers_offset = offset;
            msg.headers_len = headers.len() as u16;
        }
        msg.buffer_offset = offset + headers.len() as u32;
        msg.body_len = body.len() as u32;
    }
    // The dispatcher may be behind: wait for queue space like the binding does.
    let mut msg = msg;
    loop {
        match ipc.responses.push(msg) {
            Ok(()) => return,
            Err(back) => msg = back,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Copy a request record out of the request ring and release it.
fn take_request(ipc: &Ipc, msg: &IpcMsg) -> Seen {
    let (uri_len, headers_len) = (usize::from(msg.uri_len), usize::from(msg.headers_len));
    let total = (uri_len + headers_len) as u32 + msg.body_len;
    let blob = ipc
        .request_ring
        .read_with(msg.buffer_offset, total, <[u8]>::to_vec)
        .unwrap();
    ipc.request_ring.release(msg.buffer_offset);
    let parts = split_request_blob(&blob, uri_len, headers_len).unwrap();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    Seen {
        method: msg.method,
        uri: text(parts.uri),
        headers: request_headers(parts.headers)
            .map(|h| h.unwrap())
            .map(|(n, v)| (text(n), text(v)))
            .collect(),
        body: parts.body.to_vec(),
    }
}

/// The Python side. `/hello` and `/echo` answer whole; `/stream` streams chunked,
/// `/stream-len` with a declared `total_len`; `/silent` is never answered; `/abort-first` fails in its first frame.
fn fake_python(ipc: Arc<Ipc>, stop: Arc<AtomicBool>, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut batch = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        batch.clear();
        if ipc.requests.pop_batch(&mut batch, 64) == 0 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        for msg in &batch {
            assert_eq!(msg.msg_type, MsgType::ReqHttp as u8);
            let req = take_request(&ipc, msg);
            seen.lock().unwrap().push(req.clone());
            let frame = |status: u16, flag_bits: u8, total_len: u32| IpcMsg {
                request_id: msg.request_id,
                msg_type: MsgType::RespHttp as u8,
                status_code: status,
                flags: flag_bits,
                total_len,
                ..IpcMsg::default()
            };
            let path = req.uri.split('?').next().unwrap();
            match path {
                "/hello" => {
                    let body = b"hello from the fake consumer";
                    push_frame(
                        &ipc,
                        frame(200, 0, body.len() as u32),
                        b"content-type: text/plain\r\nx-fake: yes\r\n",
                        body,
                    );
                }
                "/echo" => push_frame(
                    &ipc,
                    frame(201, 0, req.body.len() as u32),
                    b"x-echo: body\r\n",
                    &req.body,
                ),
                "/stream" => {
                    let stream = flags::STREAM | flags::CHUNKED;
                    push_frame(&ipc, frame(200, stream, 0), b"x-stream: chunked\r\n", b"");
                    for part in [&b"one "[..], b"two "] {
                        push_frame(&ipc, frame(0, stream, 0), b"", part);
                    }
                    push_frame(&ipc, frame(0, stream | flags::FINAL, 0), b"", b"three");
                }
                "/stream-len" => {
                    push_frame(&ipc, frame(200, flags::STREAM, 11), b"", b"hello");
                    push_frame(&ipc, frame(0, flags::STREAM, 0), b"", b" ");
                    push_frame(
                        &ipc,
                        frame(0, flags::STREAM | flags::FINAL, 0),
                        b"",
                        b"world",
                    );
                }
                "/abort-first" => push_frame(
                    &ipc,
                    frame(200, flags::STREAM | flags::ABORT | flags::FINAL, 0),
                    b"x-partial: yes\r\n",
                    b"",
                ),
                "/silent" => {}
                other => panic!("the consumer got {other}"),
            }
        }
    }
}

/// A parsed response read to the connection's close.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap(), 16).unwrap();
        raw = &raw[eol + 2..];
        if size == 0 {
            assert_eq!(raw, b"\r\n", "trailer section");
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        assert_eq!(&raw[size..size + 2], b"\r\n");
        raw = &raw[size + 2..];
    }
}

/// Send one `Connection: close` request and read the whole answer.
async fn exchange(addr: std::net::SocketAddr, request: Vec<u8>) -> Reply {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&request).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw))
        .await
        .expect("no answer within 10 s")
        .unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let rest = &raw[end + 4..];
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    reply.body = if reply.header("transfer-encoding") == Some("chunked") {
        dechunk(rest)
    } else {
        let len: usize = reply.header("content-length").unwrap().parse().unwrap();
        assert_eq!(rest.len(), len, "body length vs Content-Length");
        rest.to_vec()
    };
    reply
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes()
}

fn start(config: RuntimeConfig, ipc_config: &IpcConfig) -> (ServerHandle, Arc<Ipc>) {
    let ipc = Arc::new(Ipc::new(ipc_config));
    let routes = Arc::new(Routes::new());
    for path in [
        "/hello",
        "/stream",
        "/stream-len",
        "/abort-first",
        "/silent",
    ] {
        routes.add(Method::Get, path).unwrap();
    }
    routes.add(Method::Post, "/echo").unwrap();
    let config = RuntimeConfig {
        host: [127, 0, 0, 1].into(),
        port: 0,
        runtime_threads: 1,
        ..config
    };
    let server = ServerHandle::start(config, ipc.clone(), routes, Arc::default()).unwrap();
    (server, ipc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_bodies_and_streams_through_a_fake_consumer() {
    let (server, ipc) = start(RuntimeConfig::default(), &IpcConfig::default());
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let python = {
        let (ipc, stop, seen) = (ipc.clone(), stop.clone(), seen.clone());
        std::thread::spawn(move || fake_python(ipc, stop, seen))
    };

    // A plain request: status, the consumer's headers and body, the runtime's framing.
    let reply = exchange(addr, get("/hello?x=1")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"hello from the fake consumer");
    assert_eq!(reply.header("x-fake"), Some("yes"));
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert_eq!(reply.header("connection"), Some("close"));

    // A request body reaches the consumer whole, with the request line and headers.
    let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let mut post =
        b"POST /echo?a=b HTTP/1.1\r\nHost: test\r\nX-Custom: 42\r\nConnection: close\r\n".to_vec();
    post.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    post.extend_from_slice(&body);
    let reply = exchange(addr, post).await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body, body);
    assert_eq!(reply.header("x-echo"), Some("body"));

    // A streamed response: the frames in order, chunked, ended by the FINAL frame.
    let reply = exchange(addr, get("/stream")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-stream"), Some("chunked"));
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.body, b"one two three");
    // With a declared total_len: Content-Length, no chunking.
    let reply = exchange(addr, get("/stream-len")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-length"), Some("11"));
    assert_eq!(reply.body, b"hello world");

    // A producer that fails in its first frame (ABORT, bit 64): the app's 500, closed; not
    // the stopped interpreter's 503 (the runtime's markers are not flag bits).
    let reply = exchange(addr, get("/abort-first")).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, b"Internal Server Error");
    assert_eq!(reply.header("x-partial"), None);
    assert_eq!(reply.header("connection"), Some("close"));

    // No route: 404 from the runtime, the consumer never hears of it.
    let reply = exchange(addr, get("/missing")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body, b"Not Found");
    // A route for another method: 405 with Allow, natively too.
    let reply = exchange(addr, get("/echo")).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));

    stop.store(true, Ordering::Relaxed);
    python.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    let uris: Vec<&str> = seen.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "/hello?x=1",
            "/echo?a=b",
            "/stream",
            "/stream-len",
            "/abort-first"
        ]
    );
    let echo = &seen[1];
    assert_eq!(echo.method, Method::Post as u8);
    assert_eq!(echo.body, body);
    assert!(echo
        .headers
        .contains(&("x-custom".to_string(), "42".to_string())));
    assert_eq!(ipc.request_ring.used(), 0, "every request record released");
    assert_eq!(
        server.shared().pending.len(),
        0,
        "no request left in flight"
    );
    server.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_full_is_503_and_an_unanswered_request_is_504() {
    // Nobody consumes: one request fills the queue (length 1) and waits for its answer.
    let mut config = RuntimeConfig::default();
    config.timeouts.response_timeout_ms = 500;
    config.timeouts.ipc_enqueue_retry_ms = 50;
    let ipc_config = IpcConfig {
        ipc_request_queue_len: 1,
        ..IpcConfig::default()
    };
    let (server, ipc) = start(config, &ipc_config);
    let addr = server.local_addr();

    let waiting = tokio::spawn(exchange(addr, get("/silent")));
    let queued = Instant::now();
    while ipc.requests.is_empty() {
        assert!(
            queued.elapsed() < Duration::from_secs(5),
            "request never queued"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The queue stays full past ipc_enqueue_retry_ms: 503 Queue Full, connection closed.
    let reply = exchange(addr, get("/hello")).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body, b"Queue Full");
    assert_eq!(reply.header("connection"), Some("close"));
    // The queued request gets no answer within response_timeout_ms: 504.
    let reply = waiting.await.unwrap();
    assert_eq!(reply.status, 504);
    assert_eq!(reply.body, b"Gateway Timeout");
    let stats = server.stats();
    assert_eq!(stats.backpressure_503_sent.load(Ordering::Relaxed), 1);
    assert_eq!(stats.ipc_wait_timeouts.load(Ordering::Relaxed), 1);
    // The request nobody answered is cancelled, so a late answer would be dropped.
    let msg = ipc.requests.pop().unwrap();
    assert!(ipc.is_cancelled(msg.request_id));
    server.close();
}
