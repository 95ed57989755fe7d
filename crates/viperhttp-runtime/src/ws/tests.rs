//! Unit tests: handshake checks, registry delivery, credits, fragmentation state.
//! End-to-end behaviour (real sockets, real clients) is in tests/test_websocket.py.

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use viperhttp_ipc::{flags, IpcMsg, MsgType};

use super::handshake::{check_request, is_upgrade};
use super::*;

fn upgrade(key: Option<&str>, version: Option<&str>) -> Request<()> {
    let mut b = Request::get("/ws")
        .header("upgrade", "websocket")
        .header("connection", "keep-alive, Upgrade");
    if let Some(k) = key {
        b = b.header("sec-websocket-key", k);
    }
    if let Some(v) = version {
        b = b.header("sec-websocket-version", v);
    }
    b.body(()).unwrap()
}

#[test]
fn upgrade_detection_needs_get_both_tokens_and_http11() {
    assert!(is_upgrade(&upgrade(None, None)));
    let post = Request::post("/ws")
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .body(())
        .unwrap();
    assert!(!is_upgrade(&post));
    let no_conn = Request::get("/ws")
        .header("upgrade", "WebSocket")
        .body(())
        .unwrap();
    assert!(!is_upgrade(&no_conn));
    let h2c = Request::get("/ws")
        .header("upgrade", "h2c")
        .header("connection", "upgrade")
        .body(())
        .unwrap();
    assert!(!is_upgrade(&h2c));
    let mut old = upgrade(None, None);
    *old.version_mut() = Version::HTTP_10;
    assert!(!is_upgrade(&old));
}

#[test]
fn handshake_checks_answer_400_and_426() {
    let status = |r: Request<()>| check_request(&r).err().map(|e| e.response().status());
    assert_eq!(
        status(upgrade(None, Some("13"))),
        Some(StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        status(upgrade(Some(""), Some("13"))),
        Some(StatusCode::BAD_REQUEST)
    );
    let resp = check_request(&upgrade(Some("dGhlIHNhbXBsZSBub25jZQ=="), Some("8")))
        .unwrap_err()
        .response();
    assert_eq!(resp.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(resp.headers()["sec-websocket-version"], "13");
    assert_eq!(
        status(upgrade(Some("dGhlIHNhbXBsZSBub25jZQ=="), None)),
        Some(StatusCode::UPGRADE_REQUIRED)
    );
    // The base64 of 16 bytes passes (surrounding spaces trimmed); anything else is 400.
    assert!(check_request(&upgrade(Some(" AAAAAAAAAAAAAAAAAAAAAA== "), Some("13"))).is_ok());
    for bad in [
        "abc",
        "!!!!not base64!!!!",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", // 21 bytes
        "AAAAAAAAAAAAAAAAAAAAAAA=",     // 17 bytes
        "AAAAAAAAAAAAAAAAAAAA-A==",     // base64url alphabet
        &"k".repeat(65),
    ] {
        assert_eq!(
            status(upgrade(Some(bad), Some("13"))),
            Some(StatusCode::BAD_REQUEST),
            "{bad}"
        );
    }
    // Sent twice (RFC 6455 §11.3.1: at most once).
    let mut twice = upgrade(Some("dGhlIHNhbXBsZSBub25jZQ=="), Some("13"));
    twice.headers_mut().append(
        "sec-websocket-key",
        http::HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
    );
    assert_eq!(status(twice), Some(StatusCode::BAD_REQUEST));
}

fn record(kind: MsgType, id: u32) -> IpcMsg {
    IpcMsg {
        request_id: id,
        msg_type: kind as u8,
        ..IpcMsg::default()
    }
}

#[test]
fn registry_delivers_replies_and_frames_and_drops_unknown_ids() {
    let reg = Registry::default();
    let conn = reg.insert(7);
    assert!(!reg.deliver(
        &record(MsgType::RespWsAccept, 8),
        Bytes::new(),
        Bytes::new()
    ));
    assert!(reg.deliver(
        &record(MsgType::RespWsAccept, 7),
        Bytes::new(),
        Bytes::from_static(b"chat")
    ));
    assert_eq!(
        conn.take_reply(),
        Some(Reply::Accept(Bytes::from_static(b"chat")))
    );
    let mut m = record(MsgType::RespWsMsg, 7);
    m.method = 2;
    m.flags = flags::FINAL;
    assert!(reg.deliver(&m, Bytes::new(), Bytes::from_static(b"x")));
    let mut c = record(MsgType::RespWsClose, 7);
    c.status_code = 4000;
    assert!(reg.deliver(&c, Bytes::new(), Bytes::from_static(b"\x0f\xa0bye")));
    assert_eq!(
        conn.pop_out(),
        Some(Out::Frame {
            opcode: 2,
            fin: true,
            data: Bytes::from_static(b"x")
        })
    );
    assert_eq!(
        conn.pop_out(),
        Some(Out::Close {
            code: 4000,
            reason: Bytes::from_static(b"bye")
        })
    );
    assert_eq!(conn.pop_out(), None);
    reg.remove(7);
    assert!(reg.is_empty());
}

#[test]
fn outbound_credit_is_bounded_by_frames_and_bytes() {
    let conn = WsConn::new(1);
    let frame = |n: usize| Out::Frame {
        opcode: 2,
        fin: true,
        data: Bytes::from(vec![0u8; n]),
    };
    for _ in 0..MAX_BUFFERED_FRAMES - 1 {
        conn.push_out(frame(1));
        assert!(conn.has_credit());
    }
    conn.push_out(frame(1));
    assert!(!conn.has_credit(), "at the frame bound");
    while conn.pop_out().is_some() {}
    // One message larger than the byte bound still passes when nothing waits.
    assert!(conn.has_credit());
    conn.push_out(frame(MAX_BUFFERED_BYTES));
    assert!(!conn.has_credit(), "at the byte bound");
    conn.pop_out();
    conn.push_out(frame(MAX_BUFFERED_BYTES - 1));
    assert!(conn.has_credit(), "one byte below the bound");
}

#[test]
fn auto_opcode_continues_a_fragmented_message() {
    let conn = WsConn::new(1);
    assert_eq!(conn.auto_opcode(1, false), 1);
    assert_eq!(conn.auto_opcode(1, false), 0);
    assert_eq!(conn.auto_opcode(2, true), 0);
    assert_eq!(conn.auto_opcode(2, true), 2);
}

#[test]
fn consumed_never_underflows() {
    let conn = WsConn::new(1);
    conn.consumed();
    assert_eq!(conn.unconsumed.load(Ordering::Relaxed), 0);
    conn.unconsumed.store(2, Ordering::Relaxed);
    conn.consumed();
    assert_eq!(conn.unconsumed.load(Ordering::Relaxed), 1);
}
