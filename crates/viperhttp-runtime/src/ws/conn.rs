//! One upgraded WebSocket connection (docs/internals/websocket.md, "Framing" and
//! "Close codes"): tungstenite reads and validates frames; this loop forwards
//! whole messages to Python while the connection has inbound credit, writes
//! what Python queued, keeps the connection alive with pings, and ends with
//! the right close code on both sides.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame, Utf8Bytes};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{push_message, Out, Registered, WsConn};
use crate::head_guard::{LINGER, LINGER_BYTES};
use crate::server::Shared;
use crate::service::UpgradedIo;
use crate::stats::ServerStats;

/// tungstenite's read buffer per connection. Its default (128 KiB, allocated
/// up front) would make 10,000 idle connections cost 1.3 GB; 4 KiB is one
/// socket read and keeps an idle connection small (docs/internals/websocket.md, "Memory").
const READ_BUFFER: usize = 4096;
/// How long a closing connection waits for the peer's close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Close codes (RFC 6455 §7.4.1) the runtime itself produces.
mod code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const ABNORMAL: u16 = 1006;
    pub const INVALID_DATA: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
}

/// The connection task: wait for the HTTP/1 connection loop to hand over the socket once
/// hyper wrote the `101`, serve it, tell the app how it ended.
pub(super) async fn run(
    shared: Arc<Shared>,
    registered: Registered,
    on_upgrade: oneshot::Receiver<UpgradedIo>,
) {
    let upgraded = match on_upgrade.await {
        Ok(u) => u,
        Err(_) => {
            tracing::debug!(target: "viperhttp::ws", "upgrade failed: the connection ended before the 101 was written");
            registered.finish(code::ABNORMAL).await;
            return;
        }
    };
    let max = shared.config.ws.ws_max_message_size;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let mut ws = WebSocketStream::from_raw_socket(upgraded, Role::Server, Some(config)).await;
    shared.stats.ws_tasks_active.fetch_add(1, Ordering::Relaxed);
    let code = serve(&shared, registered.conn(), &mut ws).await;
    shared.stats.ws_tasks_active.fetch_sub(1, Ordering::Relaxed);
    drop(ws);
    registered.finish(code).await;
}

/// What ends a connection, as the app sees it.
fn error_code(e: &WsError) -> u16 {
    match e {
        // EOF without a close frame: tungstenite words it as a protocol error.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => code::ABNORMAL,
        WsError::Protocol(_) => code::PROTOCOL,
        WsError::Utf8(_) => code::INVALID_DATA,
        WsError::Capacity(_) => code::TOO_BIG,
        _ => code::ABNORMAL,
    }
}

fn outgoing(opcode: u8, fin: bool, data: Bytes) -> Message {
    match opcode {
        9 => Message::Ping(data),
        10 => Message::Pong(data),
        // The binding only sends str as text, so this is valid UTF-8; raw bytes otherwise.
        1 if fin => match Utf8Bytes::try_from(data.clone()) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::Frame(Frame::message(data, OpCode::Data(Data::Text), true)),
        },
        2 if fin => Message::Binary(data),
        1 => Message::Frame(Frame::message(data, OpCode::Data(Data::Text), fin)),
        2 => Message::Frame(Frame::message(data, OpCode::Data(Data::Binary), fin)),
        _ => Message::Frame(Frame::message(data, OpCode::Data(Data::Continue), fin)),
    }
}

/// Send a close frame and give the peer [`CLOSE_GRACE`] to answer it.
async fn close_with<S>(ws: &mut WebSocketStream<S>, code: u16, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from(reason.to_owned()),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if ws.close(Some(frame)).await.is_err() {
            return;
        }
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_close() {
                break;
            }
        }
    })
    .await;
}

/// After a close for the peer's fault (a message over `ws_max_message_size`, a protocol error)
/// the peer may still be sending the rest of what it started: closing the socket with those
/// bytes unread makes the kernel answer with a RST, and a browser that gets it before reading
/// our close frame reports 1006 instead of 1009. So the write side is shut (FIN after the close
/// frame) and what still comes is read and dropped until the peer closes, within the bounds of
/// the HTTP lingering close (docs/internals/websocket.md, "Close codes").
async fn linger<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let io = ws.get_mut();
    let _ = io.shutdown().await;
    let mut buf = [0u8; 8192];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n @ 1..) = io.read(&mut buf).await {
            left = left.saturating_sub(n);
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

async fn serve<S>(shared: &Shared, conn: &WsConn, ws: &mut WebSocketStream<S>) -> u16
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let settings = &shared.config.ws;
    let ping_every = (settings.ws_ping_interval_ms > 0)
        .then(|| Duration::from_millis(settings.ws_ping_interval_ms));
    let pong_timeout = Duration::from_millis(settings.ws_pong_timeout_ms);
    let mut next_ping = ping_every.map(|p| Instant::now() + p);
    let mut pong_due: Option<Instant> = None;
    loop {
        // What Python queued goes out first, in order; one flush per batch.
        let mut wrote = false;
        while let Some(out) = conn.pop_out() {
            match out {
                Out::Frame { opcode, fin, data } => {
                    if ws.feed(outgoing(opcode, fin, data)).await.is_err() {
                        return code::ABNORMAL;
                    }
                    ServerStats::bump(&shared.stats.ws_frames_out);
                    wrote = true;
                }
                Out::Close { code, reason } => {
                    close_with(ws, code, &String::from_utf8_lossy(&reason)).await;
                    return code;
                }
            }
        }
        if wrote && ws.flush().await.is_err() {
            return code::ABNORMAL;
        }
        if conn.going_away.load(Ordering::Acquire) {
            close_with(ws, code::GOING_AWAY, "Server shutting down").await;
            return code::GOING_AWAY;
        }
        let can_read = conn.unconsumed.load(Ordering::Acquire) < settings.ws_queue_size;
        if !can_read {
            // Reading is paused for the app (inbound backpressure): a pong could not be seen,
            // and the peer just sent enough to fill the queue, so keep-alive waits too.
            pong_due = None;
            next_ping = ping_every.map(|p| Instant::now() + p);
        }
        let timer = match (pong_due, next_ping) {
            (Some(p), _) => Some(p),
            (None, n) => n,
        };
        tokio::select! {
            biased;
            _ = conn.wake.notified() => {}
            _ = tokio::time::sleep_until(timer.unwrap_or_else(Instant::now)), if timer.is_some() => {
                if pong_due.is_some_and(|due| Instant::now() >= due) {
                    tracing::debug!(target: "viperhttp::ws", id = conn.id, "pong timeout");
                    close_with(ws, code::PROTOCOL, "Pong timeout").await;
                    return code::PROTOCOL;
                }
                if ws.send(Message::Ping(Bytes::new())).await.is_err() {
                    return code::ABNORMAL;
                }
                pong_due = Some(Instant::now() + pong_timeout);
                next_ping = ping_every.map(|p| Instant::now() + p);
            }
            msg = ws.next(), if can_read => match msg {
                None => return code::ABNORMAL,
                Some(Err(e)) => {
                    let code = error_code(&e);
                    if code != code::ABNORMAL {
                        ServerStats::bump(&shared.stats.ws_protocol_closed);
                        tracing::debug!(target: "viperhttp::ws", id = conn.id, code, "closing: {e}");
                        close_with(ws, code, "").await;
                        linger(ws).await;
                    }
                    return code;
                }
                Some(Ok(msg)) => match msg {
                    Message::Text(text) => {
                        if !forward(shared, conn, 1, text.as_bytes()).await {
                            close_with(ws, code::INTERNAL, "Internal error").await;
                            return code::INTERNAL;
                        }
                    }
                    Message::Binary(data) => {
                        if !forward(shared, conn, 2, &data).await {
                            close_with(ws, code::INTERNAL, "Internal error").await;
                            return code::INTERNAL;
                        }
                    }
                    // tungstenite queued the pong; send it now, even without read credit.
                    Message::Ping(_) => {
                        if ws.flush().await.is_err() {
                            return code::ABNORMAL;
                        }
                    }
                    Message::Pong(_) => pong_due = None,
                    Message::Close(frame) => {
                        // tungstenite queued the echo of the client's close frame.
                        let code = frame.map(|f| u16::from(f.code)).unwrap_or(code::NORMAL);
                        let _ = tokio::time::timeout(CLOSE_GRACE, ws.flush()).await;
                        return code;
                    }
                    Message::Frame(_) => {}
                },
            },
        }
    }
}

async fn forward(shared: &Shared, conn: &WsConn, opcode: u8, payload: &[u8]) -> bool {
    let ok = push_message(shared, conn, opcode, payload).await;
    if ok {
        ServerStats::bump(&shared.stats.ws_messages_in);
    } else {
        tracing::error!(target: "viperhttp::ws", id = conn.id, "message could not reach the app; closing 1011");
    }
    ok
}
