//! End-to-end: `GuardedIo` in front of a real hyper HTTP/1 connection over
//! 127.0.0.1, with a tiny service that pops the guard's verdicts the way the
//! runtime's service does. Checks what goes over the wire.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use viperhttp_runtime::head_guard::{ConnGuard, GuardLimits, GuardedIo, Verdict};
use viperhttp_runtime::ServerStats;

fn text(status: StatusCode, body: String, close: bool) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().unwrap(),
    );
    if close {
        resp.headers_mut()
            .insert(header::CONNECTION, "close".parse().unwrap());
    }
    resp
}

async fn handle(
    conn: Arc<ConnGuard>,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    conn.request_started();
    let done = conn.finish_on_drop();
    let resp = match conn.next_verdict() {
        Some(Verdict::Pass {
            upgrade_hold: true, ..
        }) if req.uri().path() == "/echo" => {
            // Accept the upgrade: tell the guard first, then echo raw bytes.
            let on = hyper::upgrade::on(&mut req);
            conn.upgrade_accepted();
            tokio::spawn(async move {
                let Ok(up) = on.await else { return };
                let mut io = TokioIo::new(up);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let mut r = text(StatusCode::SWITCHING_PROTOCOLS, String::new(), false);
            r.headers_mut()
                .insert(header::UPGRADE, "echo".parse().unwrap());
            r.headers_mut()
                .insert(header::CONNECTION, "upgrade".parse().unwrap());
            r
        }
        Some(Verdict::Reject { status, reason, .. }) => text(status, reason.to_owned(), true),
        Some(Verdict::AsteriskOptions) => {
            let mut r = text(StatusCode::NO_CONTENT, String::new(), false);
            r.headers_mut().insert(
                header::ALLOW,
                "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"
                    .parse()
                    .unwrap(),
            );
            r
        }
        other => {
            let method = req.method().to_string();
            let path = match other {
                Some(Verdict::Pass {
                    origin_path: Some(p),
                    ..
                }) => p,
                _ => req.uri().path().to_owned(),
            };
            match req.into_body().collect().await {
                Ok(b) => text(
                    StatusCode::OK,
                    format!("{method} {path} {}", b.to_bytes().len()),
                    false,
                ),
                Err(_) => text(StatusCode::BAD_REQUEST, "Bad Request".into(), true),
            }
        }
    };
    drop(done); // a full body: the response is over once hyper has it
    Ok(resp)
}

async fn server(limits: GuardLimits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let stats = Arc::new(ServerStats::default());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let conn = ConnGuard::new(stats.clone());
            let io = GuardedIo::new(stream, conn.clone(), limits.clone());
            let mut builder = http1::Builder::new();
            builder
                .keep_alive(true)
                .title_case_headers(true)
                .max_headers(limits.max_headers)
                .max_buf_size(limits.hyper_max_buf_size());
            let svc = service_fn(move |req| handle(conn.clone(), req));
            tokio::spawn(async move {
                let _ = builder
                    .serve_connection(TokioIo::new(io), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

fn limits(header_ms: u64) -> GuardLimits {
    GuardLimits {
        header_timeout_ms: header_ms,
        keepalive_timeout_ms: 2000,
        send_timeout_ms: 0,
        ..GuardLimits::default()
    }
}

/// Send `bytes` in one write, read until the server closes (5 s cap).
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    if !bytes.is_empty() {
        s.write_all(bytes).await.unwrap();
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("server did not close the connection")
        .unwrap();
    out
}

/// (status, Connection header, body) of each response on the wire.
fn responses(mut raw: &[u8]) -> Vec<(u16, String, String)> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("incomplete head")
            + 4;
        let head = std::str::from_utf8(&raw[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let mut len = 0usize;
        let mut connection = String::new();
        for l in lines {
            if let Some((n, v)) = l.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                } else if n.eq_ignore_ascii_case("connection") {
                    connection = v.trim().to_ascii_lowercase();
                }
            }
        }
        let body = String::from_utf8_lossy(&raw[end..end + len]).into_owned();
        out.push((status, connection, body));
        raw = &raw[end + len..];
    }
    out
}

fn statuses(raw: &[u8]) -> Vec<(u16, String)> {
    responses(raw).into_iter().map(|(s, _, b)| (s, b)).collect()
}

#[tokio::test]
async fn valid_request_then_garbage_in_one_write() {
    let addr = server(limits(2000)).await;
    let raw = exchange(
        addr,
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
    )
    .await;
    let r = responses(&raw);
    assert_eq!(r.len(), 2, "{}", String::from_utf8_lossy(&raw));
    assert_eq!((r[0].0, r[0].2.as_str()), (200, "GET /first 0"));
    assert_eq!(
        (r[1].0, r[1].1.as_str(), r[1].2.as_str()),
        (400, "close", "Bad Request")
    );
}

#[tokio::test]
async fn bad_header_line_gets_400_and_close() {
    let addr = server(limits(2000)).await;
    let raw = exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n").await;
    assert!(
        raw.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let r = responses(&raw);
    assert_eq!(r, vec![(400, "close".into(), "Bad Request".into())]);
    let raw = exchange(addr, b"\x00\x01\x02 hello\r\n\r\n").await;
    assert_eq!(statuses(&raw), vec![(400, "Bad Request".into())]);
}

#[tokio::test]
async fn te_plus_cl_gets_400() {
    let addr = server(limits(2000)).await;
    for order in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
    ] {
        let req = format!("POST / HTTP/1.1\r\nHost: x\r\n{order}\r\n\r\n0\r\n\r\n");
        let raw = exchange(addr, req.as_bytes()).await;
        assert_eq!(statuses(&raw), vec![(400, "Bad Request".into())], "{order}");
    }
}

#[tokio::test]
async fn http_1_2_gets_505() {
    let addr = server(limits(2000)).await;
    let raw = exchange(addr, b"GET / HTTP/1.2\r\nHost: x\r\n\r\n").await;
    assert!(
        raw.starts_with(b"HTTP/1.1 505 HTTP Version Not Supported\r\n"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(
        statuses(&raw),
        vec![(505, "HTTP Version Not Supported".into())]
    );
}

#[tokio::test]
async fn bare_lf_gets_400() {
    let addr = server(limits(2000)).await;
    let raw = exchange(addr, b"GET / HTTP/1.1\nHost: x\n\n").await;
    assert_eq!(statuses(&raw), vec![(400, "Bad Request".into())]);
}

#[tokio::test]
async fn limits_on_the_wire() {
    let addr = server(limits(2000)).await;
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(8192));
    assert_eq!(
        statuses(&exchange(addr, long.as_bytes()).await),
        vec![(414, "URI Too Long".into())]
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "v".repeat(16384)
    );
    assert_eq!(
        statuses(&exchange(addr, big.as_bytes()).await),
        vec![(431, "Request Header Fields Too Large".into())]
    );
    let raw = exchange(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n",
    )
    .await;
    assert!(
        raw.starts_with(b"HTTP/1.1 413 Payload Too Large"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let raw = exchange(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&raw), vec![(501, "Not Implemented".into())]);
}

#[tokio::test]
async fn slowloris_gets_408_then_close() {
    let addr = server(limits(300)).await;
    let t0 = Instant::now();
    let raw = exchange(addr, b"GET / HT").await;
    let took = t0.elapsed();
    assert_eq!(
        responses(&raw),
        vec![(408, "close".into(), "Request Timeout".into())]
    );
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn idle_new_connection_closes_without_bytes() {
    let addr = server(limits(300)).await;
    let t0 = Instant::now();
    let raw = exchange(addr, b"").await;
    let took = t0.elapsed();
    assert!(raw.is_empty(), "{}", String::from_utf8_lossy(&raw));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn three_pipelined_requests_answered_in_order() {
    let addr = server(limits(2000)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
          GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        statuses(&raw),
        vec![
            (200, "GET /1 0".into()),
            (200, "POST /2 3".into()),
            (200, "GET /3 0".into())
        ]
    );
}

#[tokio::test]
async fn keep_alive_chunked_absolute_and_asterisk() {
    let addr = server(limits(2000)).await;
    let raw = exchange(
        addr,
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n\
          GET http://example.com/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n\
          OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n\
          FOO /m HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        statuses(&raw),
        vec![
            (200, "POST /c 5".into()),
            (200, "GET /abs?q=1 0".into()),
            (204, String::new()),
            (200, "FOO /m 0".into()),
            (200, "GET /last 0".into()),
        ]
    );
}

#[tokio::test]
async fn broken_chunked_body_ends_the_connection_after_a_400() {
    let addr = server(limits(2000)).await;
    let raw = exchange(
        addr,
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    let r = statuses(&raw);
    assert_eq!(
        r,
        vec![(400, "Bad Request".into())],
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn idle_keep_alive_connection_closes_silently() {
    let addr = server(GuardLimits {
        header_timeout_ms: 2000,
        keepalive_timeout_ms: 300,
        send_timeout_ms: 0,
        ..GuardLimits::default()
    })
    .await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /ka HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(statuses(&raw), vec![(200, "GET /ka 0".into())]);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn upgrade_passes_raw_bytes_sent_with_the_request() {
    let addr = server(limits(2000)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The first frame travels in the same write as the upgrade request.
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: upgrade\r\n\r\n\x81\x85hello")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"\x81\x85hello") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    s.write_all(b"\x00 not HTTP \n").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"\x00 not HTTP \n");
}

#[tokio::test]
async fn rejected_upload_still_reads_its_413() {
    // Lingering close: the unread body must not turn the close into a RST
    // that destroys the 413 before the client reads it.
    let addr = server(limits(2000)).await;
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr
            .write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
            .await;
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..8 {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        wr
    });
    // Read late, once the server has answered and closed its side.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut raw = Vec::new();
    let res = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut raw))
        .await
        .unwrap();
    assert!(
        raw.starts_with(b"HTTP/1.1 413 Payload Too Large\r\n"),
        "{res:?} {}",
        String::from_utf8_lossy(&raw)
    );
    drop(writer.await);
}
