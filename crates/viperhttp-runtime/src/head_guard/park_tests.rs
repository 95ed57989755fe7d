//! Unit tests of parking (park.rs) over `tokio::io::duplex`, with this test playing hyper:
//! it reads heads, finishes requests, writes and flushes responses, and parks the guard when
//! asked (the connection loop's part, crate::http1, is tested end to end in
//! tests/test_keepalive_park.py).

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, Instant};

use super::tests::{guard, read_some, REQ};
use super::*;

const RESP: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

fn limits(park_ms: u64, keepalive_ms: u64) -> GuardLimits {
    GuardLimits {
        header_timeout_ms: 5000,
        keepalive_timeout_ms: keepalive_ms,
        send_timeout_ms: 0,
        park_after_ms: park_ms,
        ..GuardLimits::default()
    }
}

type Io = GuardedIo<tokio::io::DuplexStream>;

/// hyper's part for one request already sent by the client: read it, answer, flush.
async fn serve_one(io: &mut Io, conn: &ConnGuard) {
    assert_eq!(read_some(io).await, REQ);
    conn.request_started();
    assert!(matches!(conn.next_verdict(), Some(Verdict::Pass { .. })));
    conn.request_finished();
    io.write_all(RESP).await.unwrap();
    io.flush().await.unwrap();
}

/// Whether a read stays pending for `ms` (hyper waiting for the next head).
async fn read_pends_for(io: &mut Io, ms: u64) -> bool {
    let mut buf = [0u8; 64];
    timeout(Duration::from_millis(ms), io.read(&mut buf))
        .await
        .is_err()
}

fn parked_gauge(conn: &ConnGuard) -> u64 {
    conn.stats.connections_parked.load(Ordering::Relaxed)
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_asks_to_park_after_the_delay_and_serves_the_next_request() {
    let (mut client, mut io, conn) = guard(limits(50, 10_000));
    for round in 0..3 {
        client.write_all(REQ).await.unwrap();
        serve_one(&mut io, &conn).await;
        // Not before the delay ...
        assert!(read_pends_for(&mut io, 49).await);
        assert!(!conn.take_park_request(), "round {round}");
        // ... but right after it.
        assert!(read_pends_for(&mut io, 2).await);
        assert!(conn.take_park_request(), "round {round}");
        io.park(Bytes::new());
        assert!(io.is_parked());
        assert_eq!(parked_gauge(&conn), 1);
        // Parked: nothing happens until the client sends.
        assert!(
            timeout(Duration::from_secs(1), poll_fn(|cx| io.poll_parked(cx)))
                .await
                .is_err()
        );
        client.write_all(REQ).await.unwrap();
        poll_fn(|cx| io.poll_parked(cx)).await;
        assert!(!io.is_parked());
        assert_eq!(parked_gauge(&conn), 0);
        // The head read while parked reaches the next "hyper" whole, with its verdict.
        serve_one(&mut io, &conn).await;
        let mut out = vec![0u8; RESP.len() * 2];
        client.read_exact(&mut out).await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn pipelined_requests_sent_to_a_parked_connection_are_all_served() {
    let (mut client, mut io, conn) = guard(limits(50, 10_000));
    client.write_all(REQ).await.unwrap();
    serve_one(&mut io, &conn).await;
    assert!(read_pends_for(&mut io, 60).await);
    assert!(conn.take_park_request());
    io.park(Bytes::new());
    client.write_all(&[REQ, REQ, REQ].concat()).await.unwrap();
    poll_fn(|cx| io.poll_parked(cx)).await;
    let mut got = Vec::new();
    while got.len() < REQ.len() * 3 {
        got.extend(read_some(&mut io).await);
    }
    assert_eq!(got, [REQ, REQ, REQ].concat());
    for _ in 0..3 {
        assert!(matches!(conn.next_verdict(), Some(Verdict::Pass { .. })));
    }
}

#[tokio::test(start_paused = true)]
async fn a_head_split_across_the_park_is_framed_whole() {
    let (mut client, mut io, conn) = guard(limits(50, 10_000));
    client.write_all(REQ).await.unwrap();
    serve_one(&mut io, &conn).await;
    assert!(read_pends_for(&mut io, 60).await);
    assert!(conn.take_park_request());
    io.park(Bytes::new());
    let (first, rest) = REQ.split_at(7);
    client.write_all(first).await.unwrap();
    poll_fn(|cx| io.poll_parked(cx)).await;
    // A partial head: held by the guard, never parked again while it is incomplete.
    assert!(read_pends_for(&mut io, 500).await);
    assert!(!conn.take_park_request());
    client.write_all(rest).await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    assert!(conn.next_verdict().is_some());
}

#[tokio::test(start_paused = true)]
async fn no_park_while_a_request_is_in_progress_or_a_write_is_unflushed() {
    let (mut client, mut io, conn) = guard(limits(50, 10_000));
    client.write_all(REQ).await.unwrap();
    assert_eq!(read_some(&mut io).await, REQ);
    conn.request_started();
    conn.next_verdict();
    // In progress (the service has not answered).
    assert!(read_pends_for(&mut io, 500).await);
    assert!(!conn.take_park_request());
    conn.request_finished();
    // Answered, but hyper's last write was not followed by a completed flush.
    io.write_all(RESP).await.unwrap();
    assert!(read_pends_for(&mut io, 500).await);
    assert!(!conn.take_park_request());
    io.flush().await.unwrap();
    // The delay counts from the last write.
    assert!(read_pends_for(&mut io, 1).await);
    assert!(conn.take_park_request());
}

#[tokio::test(start_paused = true)]
async fn hyper_shutdown_is_held_back_while_parking_and_passed_on_after_cancel() {
    let (mut client, mut io, conn) = guard(limits(50, 10_000));
    client.write_all(REQ).await.unwrap();
    serve_one(&mut io, &conn).await;
    assert!(read_pends_for(&mut io, 60).await);
    assert!(conn.take_park_request());
    io.shutdown().await.unwrap();
    assert!(!io.is_shut_down());
    let mut resp = vec![0u8; RESP.len()];
    client.read_exact(&mut resp).await.unwrap();
    let mut one = [0u8; 1];
    assert!(timeout(Duration::from_millis(100), client.read(&mut one))
        .await
        .is_err());
    io.cancel_park();
    io.shutdown().await.unwrap();
    assert!(io.is_shut_down());
    assert_eq!(client.read(&mut one).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_keep_alive_deadline_ends_a_park_and_closes() {
    let (mut client, mut io, conn) = guard(limits(50, 1000));
    client.write_all(REQ).await.unwrap();
    serve_one(&mut io, &conn).await;
    let t0 = Instant::now();
    assert!(read_pends_for(&mut io, 60).await);
    assert!(conn.take_park_request());
    io.park(Bytes::new());
    poll_fn(|cx| io.poll_parked(cx)).await;
    assert_eq!(t0.elapsed(), Duration::from_millis(1000));
    assert_eq!(parked_gauge(&conn), 0);
    assert!(read_some(&mut io).await.is_empty(), "EOF for hyper");
}

#[tokio::test(start_paused = true)]
async fn client_eof_ends_a_park() {
    let (mut client, mut io, conn) = guard(limits(50, 10_000));
    client.write_all(REQ).await.unwrap();
    serve_one(&mut io, &conn).await;
    assert!(read_pends_for(&mut io, 60).await);
    assert!(conn.take_park_request());
    io.park(Bytes::new());
    drop(client);
    poll_fn(|cx| io.poll_parked(cx)).await;
    assert!(read_some(&mut io).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn bytes_hyper_did_not_process_are_replayed_before_the_socket() {
    let (mut client, mut io, conn) = guard(limits(50, 10_000));
    client.write_all(REQ).await.unwrap();
    serve_one(&mut io, &conn).await;
    assert!(read_pends_for(&mut io, 60).await);
    assert!(conn.take_park_request());
    io.park(Bytes::from_static(b"left"));
    assert!(!io.is_parked(), "bytes to serve: no waiting");
    client.write_all(b" over").await.unwrap();
    assert_eq!(read_some(&mut io).await, b"left");
}

#[tokio::test(start_paused = true)]
async fn a_parked_connection_dropped_is_no_longer_counted() {
    let (mut client, mut io, conn) = guard(limits(50, 10_000));
    client.write_all(REQ).await.unwrap();
    serve_one(&mut io, &conn).await;
    assert!(read_pends_for(&mut io, 60).await);
    assert!(conn.take_park_request());
    io.park(Bytes::new());
    assert_eq!(parked_gauge(&conn), 1);
    drop(io);
    assert_eq!(parked_gauge(&conn), 0);
}

#[tokio::test(start_paused = true)]
async fn parking_off_never_asks() {
    let (mut client, mut io, conn) = guard(limits(0, 10_000));
    client.write_all(REQ).await.unwrap();
    serve_one(&mut io, &conn).await;
    assert!(read_pends_for(&mut io, 5000).await);
    assert!(!conn.take_park_request());
}
