//! The WebSocket opening handshake (RFC 6455 §4.2; docs/internals/websocket.md,
//! "Handshake"): checked natively, decided by the app. Runs inside the HTTP
//! service after the trusted-host and rate-limit checks, so both apply to
//! upgrades; CORS does not.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Request, Response, StatusCode, Version};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use viperhttp_ipc::blob::{
    request_headers_len, request_headers_offset, response_headers, write_request_blob,
};
use viperhttp_ipc::{flags, IpcMsg, Method, MsgType};

use super::{Registered, Reply};
use crate::body::{RequestBody, ResponseBody};
use crate::router::Lookup;
use crate::server::Shared;
use crate::service::{closing, peer_fields, push_request, simple_response, ConnInfo};
use crate::stats::ServerStats;

fn has_token(headers: &http::HeaderMap, name: HeaderName, token: &[u8]) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// Whether `req` asks for a WebSocket: `GET`, `Upgrade: websocket` and
/// `Connection: upgrade` (tokens, case-insensitive), over HTTP/1.1.
pub(crate) fn is_upgrade<B>(req: &Request<B>) -> bool {
    req.method() == http::Method::GET
        && req.version() == Version::HTTP_11
        && has_token(req.headers(), UPGRADE, b"websocket")
        && has_token(req.headers(), CONNECTION, b"upgrade")
}

/// A handshake the runtime refuses before anything reaches Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `Sec-WebSocket-Key` missing or empty: 400.
    MissingKey,
    /// `Sec-WebSocket-Version` missing or not 13: 426.
    Version,
    /// A key that is not the base64 of 16 bytes, or sent twice: 400.
    BadKey,
}

impl Refusal {
    /// The answer: `text/plain`, `Connection: close` (docs/internals/websocket.md, "Handshake").
    pub(crate) fn response(self) -> Response<ResponseBody> {
        match self {
            Refusal::MissingKey => closing(simple_response(
                StatusCode::BAD_REQUEST,
                "Missing Sec-WebSocket-Key",
            )),
            Refusal::Version => {
                let mut resp = closing(simple_response(
                    StatusCode::UPGRADE_REQUIRED,
                    "Upgrade Required",
                ));
                resp.headers_mut()
                    .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
                resp
            }
            Refusal::BadKey => closing(simple_response(StatusCode::BAD_REQUEST, "Bad Request")),
        }
    }
}

/// The native checks, in the documented order. `Ok` carries the client's key.
pub(crate) fn check_request<B>(req: &Request<B>) -> Result<Bytes, Refusal> {
    let key = req
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .map(|v| v.as_bytes().trim_ascii())
        .unwrap_or_default();
    if key.is_empty() {
        return Err(Refusal::MissingKey);
    }
    if req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes().trim_ascii() != b"13")
    {
        return Err(Refusal::Version);
    }
    if !is_nonce(key)
        || req
            .headers()
            .get_all(SEC_WEBSOCKET_KEY)
            .iter()
            .nth(1)
            .is_some()
    {
        return Err(Refusal::BadKey);
    }
    Ok(Bytes::copy_from_slice(key))
}

/// RFC 6455 §4.1: the key is the base64 of a 16-byte nonce (24 characters ending `==`), and
/// §4.2.1 has the server refuse any other (the `websockets` server answers 400 too).
fn is_nonce(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The subprotocols the client offered (`Sec-WebSocket-Protocol`, comma lists).
fn offered_protocols(headers: &http::HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
}

/// Answer an upgrade request: native checks, `REQ_WS_CONNECT` to the app, wait
/// for its accept/reject (or 504), then `101` and the connection task.
pub(crate) async fn handshake(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    req: Request<RequestBody>,
) -> Response<ResponseBody> {
    let key = match check_request(&req) {
        Ok(key) => key,
        Err(refusal) => return refusal.response(),
    };
    let path = req.uri().path();
    if !matches!(
        shared.routes.snapshot().lookup(Method::Ws, path.as_bytes()),
        Lookup::Found { .. }
    ) {
        return closing(simple_response(StatusCode::NOT_FOUND, "Not Found"));
    }
    let uri = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_owned();
    let query_len = req.uri().query().map(str::len).unwrap_or(0);
    let headers = || {
        req.headers()
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
    };
    let headers_len = request_headers_len(headers());
    if uri.len() > u16::MAX as usize || headers_len > u16::MAX as usize {
        return closing(simple_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        ));
    }
    let total = uri.len() + headers_len;
    let offset = match shared.ipc.request_ring.alloc(total) {
        Ok(mut grant) => {
            if write_request_blob(grant.as_mut_slice(), uri.as_bytes(), headers(), &[]).is_err() {
                return closing(simple_response(StatusCode::BAD_REQUEST, "Bad Request"));
            }
            grant.publish()
        }
        Err(_) => return crate::service::ring_full(shared),
    };
    let id = shared.ipc.next_request_id();
    let (peer, _) = crate::forwarded::peer_and_tls(conn, req.extensions());
    let (peer_ip, peer_port) = peer_fields(&peer);
    let msg = IpcMsg {
        request_id: id,
        msg_type: MsgType::ReqWsConnect as u8,
        method: Method::Ws as u8,
        uri_len: uri.len() as u16,
        query_len: query_len as u16,
        headers_len: headers_len as u16,
        headers_offset: request_headers_offset(offset, uri.len(), headers_len),
        buffer_offset: offset,
        flags: flags::RELEASE,
        peer_ip,
        peer_port,
        proto: viperhttp_ipc::message::proto::HTTP11,
        ..IpcMsg::default()
    };
    // Registered before the push, so the app's answer always finds the id.
    let registered = Registered::new(shared, id);
    if let Err(resp) = push_request(shared, msg).await {
        shared.ipc.request_ring.release(offset);
        registered.forget();
        return resp;
    }
    ServerStats::bump(&shared.stats.ws_handoffs);

    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(shared.config.ws.ws_handshake_timeout_ms);
    let reply = loop {
        if let Some(reply) = registered.conn().take_reply() {
            break Some(reply);
        }
        if tokio::time::timeout_at(deadline, registered.conn().wake.notified())
            .await
            .is_err()
        {
            break registered.conn().take_reply();
        }
    };
    let subprotocol = match reply {
        None => {
            ServerStats::bump(&shared.stats.ipc_wait_timeouts);
            tracing::warn!(target: "viperhttp::ws", id, "handshake not answered in time: 504");
            registered.finish(1006).await;
            return closing(simple_response(
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway Timeout",
            ));
        }
        Some(Reply::Reject {
            status,
            headers,
            body,
        }) => {
            registered.forget();
            return rejection(status, &headers, body);
        }
        Some(Reply::Accept(subprotocol)) => subprotocol,
    };

    let mut resp = Response::new(ResponseBody::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(&key)) {
        h.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    if !subprotocol.is_empty() {
        if !offered_protocols(req.headers()).any(|p| p == &subprotocol[..]) {
            // Echoed verbatim all the same (docs/internals/websocket.md, "Subprotocols").
            tracing::warn!(
                target: "viperhttp::ws",
                id,
                "accept() subprotocol {:?} was not offered by the client",
                String::from_utf8_lossy(&subprotocol)
            );
        }
        match HeaderValue::from_maybe_shared(subprotocol) {
            Ok(v) => {
                h.insert(SEC_WEBSOCKET_PROTOCOL, v);
            }
            Err(_) => {
                tracing::error!(target: "viperhttp::ws", id, "subprotocol is not a valid header value; 500");
                registered.finish(1006).await;
                return closing(simple_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                ));
            }
        }
    }
    // The connection loop (crate::http1) sends the IO once hyper has written the 101.
    let (tx, on_upgrade) = tokio::sync::oneshot::channel();
    *conn.upgrade.lock() = Some(tx);
    // Bytes after the request head pass through raw from now on (head guard contract).
    conn.guard.upgrade_accepted();
    tokio::spawn(super::conn::run(shared.clone(), registered, on_upgrade));
    resp
}

/// The app's refusal as a response: its status and body, `text/plain` unless
/// it gave a `Content-Type`, always `Connection: close`.
fn rejection(status: u16, headers: &Bytes, body: Bytes) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| !s.is_informational())
        .unwrap_or(StatusCode::FORBIDDEN);
    let mut resp = Response::new(ResponseBody::full(body));
    *resp.status_mut() = status;
    for (name, value) in response_headers(headers).flatten() {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            if n != CONNECTION && n != http::header::CONTENT_LENGTH {
                resp.headers_mut().append(n, v);
            }
        }
    }
    if !resp.headers().contains_key(CONTENT_TYPE) {
        resp.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    closing(resp)
}
