//! WebSocket connections (docs/internals/websocket.md): the registry of open
//! connections keyed by `conn_id`, what Python sends them through the IPC
//! (`RESP_WS_*` records, delivered here by the response dispatcher), and the
//! per-connection credits that give backpressure in both directions.
//!
//! The handshake lives in [`handshake`], the framing loop in [`conn`]. RFC 6455
//! framing (masking, fragmentation, UTF-8, control-frame rules, size limits) is
//! tungstenite's; this module decides what happens around it.
//!
//! Lifecycle of one connection id: registered before `REQ_WS_CONNECT` is
//! pushed, so no reply can beat it; removed exactly once, by [`Registered`],
//! which also tells Python the connection ended (`REQ_WS_DISCONNECT`) — even
//! when the task that owned it was dropped.

mod conn;
pub(crate) mod handshake;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;
use viperhttp_ipc::{flags, IpcMsg, MsgType};

use crate::server::Shared;
use crate::stats::ServerStats;

/// Frames Python may have waiting in the runtime for one connection before
/// `send_*` awaits (the same bound as a stream's, docs/internals/ipc.md).
pub const MAX_BUFFERED_FRAMES: usize = 64;
/// Bytes Python may have waiting for one connection before `send_*` awaits. A
/// single larger message still passes when nothing else is waiting.
pub const MAX_BUFFERED_BYTES: usize = 1024 * 1024;
/// How long the runtime keeps trying to hand a message or a disconnect to a
/// full request queue / ring before it gives up on the connection.
const PUSH_PATIENCE: Duration = Duration::from_secs(10);

/// The app's answer to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `101`, echoing this subprotocol when non-empty.
    Accept(Bytes),
    /// Refused with this status; `headers` is a `Name: value\r\n` block (may be empty).
    Reject {
        /// HTTP status.
        status: u16,
        /// Extra response headers.
        headers: Bytes,
        /// Body bytes.
        body: Bytes,
    },
}

/// Something Python asked the connection to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// One frame: opcode 0 (continuation), 1, 2, 9 or 10.
    Frame {
        /// Frame opcode.
        opcode: u8,
        /// FIN bit.
        fin: bool,
        /// Payload.
        data: Bytes,
    },
    /// A close frame; the connection ends after it.
    Close {
        /// Close code.
        code: u16,
        /// UTF-8 reason (≤ 123 bytes).
        reason: Bytes,
    },
}

impl Out {
    fn len(&self) -> usize {
        match self {
            Out::Frame { data, .. } => data.len(),
            Out::Close { reason, .. } => reason.len(),
        }
    }
}

#[derive(Default)]
struct ConnState {
    reply: Option<Reply>,
    out: VecDeque<Out>,
    out_bytes: usize,
    /// Python sent a non-final data frame: its next "auto" frame is a continuation.
    fragmenting: bool,
}

/// One WebSocket connection as seen by the dispatcher and the binding.
pub struct WsConn {
    id: u32,
    state: Mutex<ConnState>,
    /// Wakes the connection's task: a reply, an outbound frame, a freed credit,
    /// the stop. `notify_one` keeps a permit, so no wake-up is lost between polls.
    wake: Notify,
    /// Messages handed to Python that the app has not taken yet.
    unconsumed: AtomicUsize,
    /// The server is stopping: close with 1001.
    going_away: AtomicBool,
}

impl WsConn {
    fn new(id: u32) -> Self {
        Self {
            id,
            state: Mutex::new(ConnState::default()),
            wake: Notify::new(),
            unconsumed: AtomicUsize::new(0),
            going_away: AtomicBool::new(false),
        }
    }

    /// The connection id (`conn_id`).
    pub fn id(&self) -> u32 {
        self.id
    }

    fn take_reply(&self) -> Option<Reply> {
        self.state.lock().reply.take()
    }

    fn set_reply(&self, reply: Reply) {
        self.state.lock().reply = Some(reply);
        self.wake.notify_one();
    }

    fn push_out(&self, out: Out) {
        {
            let mut state = self.state.lock();
            state.out_bytes += out.len();
            state.out.push_back(out);
        }
        self.wake.notify_one();
    }

    fn pop_out(&self) -> Option<Out> {
        let mut state = self.state.lock();
        let out = state.out.pop_front()?;
        state.out_bytes = state.out_bytes.saturating_sub(out.len());
        Some(out)
    }

    /// Whether Python may queue another frame now (outbound backpressure).
    pub fn has_credit(&self) -> bool {
        let state = self.state.lock();
        state.out.is_empty()
            || (state.out.len() < MAX_BUFFERED_FRAMES && state.out_bytes < MAX_BUFFERED_BYTES)
    }

    /// The opcode an "auto" send gets (`ws_send(opcode=0)`): `typed` (1 text or
    /// 2 binary) unless a fragmented message is in progress, then 0. Records
    /// whether this frame leaves a message open.
    pub fn auto_opcode(&self, typed: u8, fin: bool) -> u8 {
        let mut state = self.state.lock();
        let opcode = if state.fragmenting { 0 } else { typed };
        state.fragmenting = !fin;
        opcode
    }

    /// Record an explicit data opcode's effect on the fragmentation state.
    pub fn note_explicit(&self, opcode: u8, fin: bool) {
        if matches!(opcode, 0..=2) {
            self.state.lock().fragmenting = !fin;
        }
    }

    /// The app took one message (`receive()`): the runtime may read again.
    pub fn consumed(&self) {
        let _ = self
            .unconsumed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.wake.notify_one();
    }
}

/// Every open WebSocket connection of one server.
#[derive(Default)]
pub struct Registry {
    conns: Mutex<HashMap<u32, Arc<WsConn>>>,
    stopping: AtomicBool,
    /// Signalled when the last connection is removed.
    empty: Notify,
}

impl Registry {
    /// The connection `id`, if it is open.
    pub fn get(&self, id: u32) -> Option<Arc<WsConn>> {
        self.conns.lock().get(&id).cloned()
    }

    /// Open connections (handshakes waiting included).
    pub fn len(&self) -> usize {
        self.conns.lock().len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, id: u32) -> Arc<WsConn> {
        let conn = Arc::new(WsConn::new(id));
        self.conns.lock().insert(id, conn.clone());
        conn
    }

    fn remove(&self, id: u32) {
        let mut conns = self.conns.lock();
        conns.remove(&id);
        if conns.is_empty() {
            self.empty.notify_waiters();
        }
    }

    /// A `RESP_WS_*` record from Python (called by the response dispatcher with
    /// the record's bytes already copied out of the ring). False when the
    /// connection is unknown (closed meanwhile): the record is dropped.
    pub fn deliver(&self, msg: &IpcMsg, headers: Bytes, body: Bytes) -> bool {
        let Some(conn) = self.get(msg.request_id) else {
            return false;
        };
        match MsgType::try_from(msg.msg_type) {
            Ok(MsgType::RespWsAccept) => conn.set_reply(Reply::Accept(body)),
            Ok(MsgType::RespWsReject) => conn.set_reply(Reply::Reject {
                status: msg.status_code,
                headers,
                body,
            }),
            Ok(MsgType::RespWsMsg) => conn.push_out(Out::Frame {
                opcode: msg.method,
                fin: msg.flags & flags::FINAL != 0,
                data: body,
            }),
            Ok(MsgType::RespWsClose) => {
                // Body = code (BE16) + reason; the code field is authoritative.
                let reason = if body.len() >= 2 {
                    body.slice(2..)
                } else {
                    Bytes::new()
                };
                conn.push_out(Out::Close {
                    code: msg.status_code,
                    reason,
                });
            }
            _ => return false,
        }
        true
    }

    /// Stop sequence (docs/internals/websocket.md, "Shutdown"): every open connection
    /// sends close 1001 and reports 1001 to the app.
    pub fn go_away(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for conn in self.conns.lock().values() {
            conn.going_away.store(true, Ordering::SeqCst);
            conn.wake.notify_one();
        }
    }

    /// Wait until every connection has ended.
    pub async fn drained(&self) {
        loop {
            let notified = self.empty.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// A registered connection id: removed from the registry, with the app told
/// the close code, exactly once — on [`finish`](Registered::finish) or, if the
/// owning task was dropped, on drop (1006).
pub(crate) struct Registered {
    shared: Arc<Shared>,
    conn: Arc<WsConn>,
    finished: bool,
}

impl Registered {
    pub(crate) fn new(shared: &Arc<Shared>, id: u32) -> Self {
        let conn = shared.ws.insert(id);
        if shared.ws.stopping.load(Ordering::SeqCst) {
            conn.going_away.store(true, Ordering::SeqCst);
        }
        Self {
            shared: shared.clone(),
            conn,
            finished: false,
        }
    }

    pub(crate) fn conn(&self) -> &Arc<WsConn> {
        &self.conn
    }

    /// Tell the app the connection ended with `code` (waits for queue room).
    pub(crate) async fn finish(mut self, code: u16) {
        self.finished = true;
        self.shared.ws.remove(self.conn.id);
        push_disconnect(&self.shared, self.conn.id, code).await;
    }

    /// Forget the id without telling the app (the handshake never reached it).
    pub(crate) fn forget(mut self) {
        self.finished = true;
        self.shared.ws.remove(self.conn.id);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.shared.ws.remove(self.conn.id);
        let (shared, id) = (self.shared.clone(), self.conn.id);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { push_disconnect(&shared, id, 1006).await });
        }
    }
}

/// Push one record to Python, waiting (without blocking the event loop) for
/// queue room up to [`PUSH_PATIENCE`]. False when it could not be pushed.
async fn push_record(shared: &Shared, msg: IpcMsg) -> bool {
    let deadline = tokio::time::Instant::now() + PUSH_PATIENCE;
    let mut msg = msg;
    loop {
        let notified = shared.queue_space.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        shared.ipc.requests.want_space_notification();
        match shared.ipc.requests.push(msg) {
            Ok(()) => return true,
            Err(back) => msg = back,
        }
        if tokio::time::Instant::now() >= deadline {
            ServerStats::bump(&shared.stats.ipc_req_queue_push_fail);
            return false;
        }
        let step = tokio::time::Instant::now() + Duration::from_millis(5);
        let _ = tokio::time::timeout_at(step.min(deadline), notified).await;
    }
}

async fn push_disconnect(shared: &Shared, id: u32, code: u16) {
    let msg = IpcMsg {
        request_id: id,
        msg_type: MsgType::ReqWsDisconnect as u8,
        status_code: code,
        ..IpcMsg::default()
    };
    if !push_record(shared, msg).await {
        tracing::warn!(target: "viperhttp::ws", id, code, "disconnect could not reach the app");
    }
}

/// Hand one whole message to Python (`REQ_WS_MSG`, `RELEASE`: the binding frees
/// the ring bytes once it copied them). Waits for ring and queue room; false
/// when the interpreter could not take it within [`PUSH_PATIENCE`].
async fn push_message(shared: &Shared, conn: &WsConn, opcode: u8, payload: &[u8]) -> bool {
    let ring = &shared.ipc.request_ring;
    let deadline = tokio::time::Instant::now() + PUSH_PATIENCE;
    let offset = loop {
        if payload.is_empty() {
            break 0;
        }
        let written = ring.write(payload.len(), |dst| {
            dst.copy_from_slice(payload);
            Ok(())
        });
        match written {
            Ok(offset) => break offset,
            Err(_) => {
                ServerStats::bump(&shared.stats.ipc_req_ring_alloc_fail);
                if tokio::time::Instant::now() >= deadline || payload.len() > ring.capacity() {
                    return false;
                }
                // The ring frees as the interpreter copies; no async signal exists for it.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    let msg = IpcMsg {
        request_id: conn.id,
        msg_type: MsgType::ReqWsMsg as u8,
        method: opcode,
        body_len: payload.len() as u32,
        buffer_offset: offset,
        flags: flags::RELEASE | flags::FINAL,
        ..IpcMsg::default()
    };
    conn.unconsumed.fetch_add(1, Ordering::AcqRel);
    if push_record(shared, msg).await {
        return true;
    }
    conn.unconsumed.fetch_sub(1, Ordering::AcqRel);
    if !payload.is_empty() {
        ring.release(offset);
    }
    false
}
