//! End-to-end without an interpreter: a real `ServerHandle` on 127.0.0.1, a thread playing
//! the Python side on the IPC queues (accepting `/ws`, echoing messages, rejecting `/no`),
//! and a tokio-tungstenite client. Checks the handshake, the IPC records and the close path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use viperhttp_ipc::{flags, Ipc, IpcConfig, IpcMsg, Method, MsgType};
use viperhttp_runtime::{Routes, RuntimeConfig, ServerHandle};

fn push_response(ipc: &Ipc, mut msg: IpcMsg, body: &[u8]) {
    if !body.is_empty() {
        let mut grant = ipc.response_ring.alloc(body.len()).unwrap();
        grant.as_mut_slice().copy_from_slice(body);
        msg.buffer_offset = grant.publish();
        msg.body_len = body.len() as u32;
        msg.total_len = body.len() as u32;
    }
    ipc.responses.push(msg).unwrap();
}

/// The Python side: `/ws` is accepted and echoes, anything else is rejected 401.
fn fake_python(ipc: Arc<Ipc>, server: Arc<ServerHandle>, stop: Arc<AtomicBool>) -> Vec<(u8, u16)> {
    let mut seen = Vec::new();
    let mut batch = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        batch.clear();
        if ipc.requests.pop_batch(&mut batch, 64) == 0 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        for msg in &batch {
            seen.push((msg.msg_type, msg.status_code));
            let reply = |t: MsgType| IpcMsg {
                request_id: msg.request_id,
                msg_type: t as u8,
                ..IpcMsg::default()
            };
            match MsgType::try_from(msg.msg_type).unwrap() {
                MsgType::ReqWsConnect => {
                    assert_eq!(msg.flags & flags::RELEASE, flags::RELEASE);
                    let total = u32::from(msg.uri_len) + u32::from(msg.headers_len);
                    let uri = ipc
                        .request_ring
                        .read_with(msg.buffer_offset, total, |b| {
                            b[..usize::from(msg.uri_len)].to_vec()
                        })
                        .unwrap();
                    ipc.request_ring.release(msg.buffer_offset);
                    if uri == b"/ws" {
                        push_response(&ipc, reply(MsgType::RespWsAccept), b"");
                    } else {
                        let mut r = reply(MsgType::RespWsReject);
                        r.status_code = 401;
                        push_response(&ipc, r, b"nope");
                    }
                }
                MsgType::ReqWsMsg => {
                    let data = if msg.body_len == 0 {
                        Vec::new()
                    } else {
                        let d = ipc
                            .request_ring
                            .read_with(msg.buffer_offset, msg.body_len, <[u8]>::to_vec)
                            .unwrap();
                        ipc.request_ring.release(msg.buffer_offset);
                        d
                    };
                    server.shared().ws.get(msg.request_id).unwrap().consumed();
                    let mut r = reply(MsgType::RespWsMsg);
                    r.method = msg.method;
                    r.flags = flags::FINAL;
                    push_response(&ipc, r, &data);
                }
                MsgType::ReqWsDisconnect => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_echo_reject_and_close_through_the_ipc() {
    let ipc = Arc::new(Ipc::new(&IpcConfig::default()));
    let routes = Arc::new(Routes::new());
    routes.add(Method::Ws, "/ws").unwrap();
    routes.add(Method::Ws, "/no").unwrap();
    let config = RuntimeConfig {
        host: [127, 0, 0, 1].into(),
        port: 0,
        runtime_threads: 1,
        ..RuntimeConfig::default()
    };
    let server =
        Arc::new(ServerHandle::start(config, ipc.clone(), routes, Arc::default()).unwrap());
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let python = {
        let (ipc, server, stop) = (ipc.clone(), server.clone(), stop.clone());
        std::thread::spawn(move || fake_python(ipc, server, stop))
    };

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    for text in ["one", "two", ""] {
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(text));
    }
    ws.send(Message::binary(vec![0u8, 255])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::binary(vec![0u8, 255])
    );
    ws.close(None).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {}

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let err = tokio_tungstenite::client_async(format!("ws://{addr}/no"), tcp)
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status(), 401);
            assert_eq!(resp.body().as_deref(), Some(&b"nope"[..]));
        }
        other => panic!("expected a 401, got {other}"),
    }

    // The disconnect record reaches the Python side with the client's code (1000 for empty).
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = python.join().unwrap();
    assert!(
        seen.contains(&(MsgType::ReqWsDisconnect as u8, 1000)),
        "{seen:?}"
    );
    assert_eq!(
        seen.iter()
            .filter(|(t, _)| *t == MsgType::ReqWsConnect as u8)
            .count(),
        2
    );
    assert_eq!(server.stats().ws_messages_in.load(Ordering::Relaxed), 4);
    server.close();
}
