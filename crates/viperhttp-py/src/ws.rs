//! WebSocket functions of the interpreter side (docs/internals/websocket.md, "Low-level
//! functions"): `REQ_WS_*` records as tuples/dicts, and `ws_accept`,
//! `ws_reject`, `ws_send`, `ws_close` as `RESP_WS_*` records. The two credit
//! helpers give the `WebSocket` object its backpressure in both directions.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString, PyTuple};
use viperhttp_ipc::{flags, IpcMsg, MsgType};

use crate::bridge::{latin1, push_record, request_tuple, FrameOut};
use crate::errors::NativeError;
use crate::serialise::{content_type_line, push_headers};
use crate::server::{running, Running};

/// Longest close reason (RFC 6455 §5.5: control payload ≤ 125, minus the code).
const MAX_REASON: usize = 123;
/// Longest ping/pong payload.
const MAX_CONTROL: usize = 125;

/// One `REQ_WS_*` record as a tuple the bridge dispatches on its first item:
/// `("ws_connect", request_tuple)`, `("ws_msg", conn_id, opcode, data)`,
/// `("ws_disconnect", conn_id, code)`. Ring bytes are released here (`RELEASE`).
pub fn record_tuple<'py>(
    py: Python<'py>,
    r: &Running,
    msg: &IpcMsg,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let kind = MsgType::try_from(msg.msg_type).ok();
    let id = msg.request_id.into_pyobject(py)?.into_any();
    match kind {
        Some(MsgType::ReqWsConnect) => {
            let Some(t) = request_tuple(py, r, msg)? else {
                return Ok(None);
            };
            Ok(Some(PyTuple::new(
                py,
                [PyString::intern(py, "ws_connect").into_any(), t.into_any()],
            )?))
        }
        Some(MsgType::ReqWsMsg) => {
            let data = if msg.body_len == 0 {
                Some(PyBytes::new(py, b""))
            } else {
                r.ipc
                    .request_ring
                    .take_with(msg.buffer_offset, msg.body_len, |b| PyBytes::new(py, b))
                    .ok()
            };
            let Some(data) = data else {
                return Ok(None); // malformed record: dropped
            };
            Ok(Some(PyTuple::new(
                py,
                [
                    PyString::intern(py, "ws_msg").into_any(),
                    id,
                    msg.method.into_pyobject(py)?.into_any(),
                    data.into_any(),
                ],
            )?))
        }
        Some(MsgType::ReqWsDisconnect) => Ok(Some(PyTuple::new(
            py,
            [
                PyString::intern(py, "ws_disconnect").into_any(),
                id,
                msg.status_code.into_pyobject(py)?.into_any(),
            ],
        )?)),
        _ => Ok(None),
    }
}

/// `poll_request()`'s dict for a WebSocket tuple (None for an HTTP tuple).
pub fn record_dict<'py>(
    py: Python<'py>,
    t: &Bound<'py, PyTuple>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let first = t.get_item(0)?;
    let Ok(kind) = first.cast::<PyString>() else {
        return Ok(None);
    };
    let kind = kind.to_cow()?.into_owned();
    let d = PyDict::new(py);
    d.set_item("type", &kind)?;
    match kind.as_str() {
        "ws_connect" => {
            let req = t.get_item(1)?.cast_into::<PyTuple>()?;
            d.set_item("conn_id", req.get_item(0)?)?;
            let path: String = req.get_item(2)?.extract()?;
            let query: String = req.get_item(3)?.extract()?;
            let full = if query.is_empty() {
                path
            } else {
                format!("{path}?{query}")
            };
            d.set_item("path", latin1(py, full.as_bytes()))?;
            let request_cls = py.import("viperhttp.request")?.getattr("Request")?;
            d.set_item("request", request_cls.call_method1("_from_native", req)?)?;
        }
        "ws_msg" => {
            d.set_item("conn_id", t.get_item(1)?)?;
            d.set_item("opcode", t.get_item(2)?)?;
            d.set_item("final", true)?;
            d.set_item("data", t.get_item(3)?)?;
        }
        _ => {
            d.set_item("conn_id", t.get_item(1)?)?;
            d.set_item("code", t.get_item(2)?)?;
        }
    }
    Ok(Some(d))
}

/// str → UTF-8, bytes/bytearray as they are; anything else → `TypeError(what)`.
fn text_or_bytes(v: &Bound<'_, PyAny>, what: &'static str) -> PyResult<(Vec<u8>, bool)> {
    if let Ok(s) = v.cast::<PyString>() {
        Ok((s.to_cow()?.as_bytes().to_vec(), true))
    } else if let Ok(b) = v.cast::<PyBytes>() {
        Ok((b.as_bytes().to_vec(), false))
    } else if let Ok(b) = v.cast::<PyByteArray>() {
        Ok((b.to_vec(), false))
    } else {
        Err(PyTypeError::new_err(what))
    }
}

/// Push one `RESP_WS_*` record; a full queue gets the WebSocket wording.
fn push(
    py: Python<'_>,
    r: &Running,
    kind: MsgType,
    method: u8,
    frame: FrameOut<'_>,
    full: &'static str,
) -> PyResult<()> {
    push_record(py, r, kind, method, frame).map_err(|e| match e {
        NativeError::QueueFull(_) => NativeError::QueueFull(full).into(),
        e => e.into(),
    })
}

fn frame<'a>(id: u32, status: u16, headers: &'a [u8], body: &'a [u8], f: u8) -> FrameOut<'a> {
    FrameOut {
        id,
        status,
        headers,
        body,
        flags: f,
        total_len: body.len() as u32,
    }
}

/// `ws_accept(conn_id, subprotocol=None)`: complete the handshake (`101`).
#[pyfunction]
#[pyo3(signature = (conn_id, subprotocol=None))]
pub fn ws_accept(
    py: Python<'_>,
    conn_id: u32,
    subprotocol: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let proto = match subprotocol {
        Some(p) if !p.is_none() => text_or_bytes(p, "subprotocol must be str/bytes")?.0,
        _ => Vec::new(),
    };
    let r = running()?;
    push(
        py,
        &r,
        MsgType::RespWsAccept,
        0,
        frame(conn_id, 101, &[], &proto, 0),
        "ws accept queue full",
    )
}

/// `ws_reject(conn_id, status=404, body=None, content_type=None, headers=None)`: refuse
/// the handshake with this status and body (`text/plain` unless `content_type`) and the
/// extra `headers` (a dict or `(name, value)` pairs: an `HTTPException`'s
/// `WWW-Authenticate`), checked by the one response-header owner.
#[pyfunction]
#[pyo3(signature = (conn_id, status=404, body=None, content_type=None, headers=None))]
pub fn ws_reject(
    py: Python<'_>,
    conn_id: u32,
    status: u16,
    body: Option<&Bound<'_, PyAny>>,
    content_type: Option<&str>,
    headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let body = match body {
        Some(b) if !b.is_none() => text_or_bytes(b, "body must be str/bytes")?.0,
        _ => Vec::new(),
    };
    if !(100..=999).contains(&status) {
        return Err(PyValueError::new_err("status out of range"));
    }
    let mut user = Vec::new();
    let has_ct = match headers {
        Some(h) => push_headers(&mut user, h)?,
        None => false,
    };
    let mut block = Vec::with_capacity(user.len() + 48);
    match content_type {
        Some(ct) if ct.contains(['\r', '\n']) => {
            return Err(PyValueError::new_err("invalid content_type"))
        }
        Some(ct) if !has_ct => content_type_line(&mut block, ct)?,
        _ => {}
    }
    block.extend_from_slice(&user);
    let headers = block;
    let r = running()?;
    push(
        py,
        &r,
        MsgType::RespWsReject,
        0,
        frame(conn_id, status, &headers, &body, 0),
        "ws accept queue full",
    )
}

/// `ws_send(conn_id, data, opcode=0, final=True) -> bool`: one frame. Opcode 0
/// picks 1 for str, 2 for bytes — or a continuation while a message sent with
/// `final=False` is open. False when the connection is already gone (dropped).
#[pyfunction]
#[pyo3(signature = (conn_id, data, opcode=0, r#final=true))]
pub fn ws_send(
    py: Python<'_>,
    conn_id: u32,
    data: &Bound<'_, PyAny>,
    opcode: u8,
    r#final: bool,
) -> PyResult<bool> {
    let (payload, is_text) = text_or_bytes(data, "data must be str/bytes")?;
    if !matches!(opcode, 0 | 1 | 2 | 9 | 10) {
        return Err(PyValueError::new_err(
            "opcode must be 0, 1, 2, 9 or 10 (close goes through ws_close)",
        ));
    }
    if matches!(opcode, 9 | 10) && (payload.len() > MAX_CONTROL || !r#final) {
        return Err(PyValueError::new_err(
            "ping/pong payload must be <= 125 bytes and final",
        ));
    }
    let r = running()?;
    let Some(conn) = r.server.shared().ws.get(conn_id) else {
        return Ok(false);
    };
    let opcode = if opcode == 0 {
        conn.auto_opcode(if is_text { 1 } else { 2 }, r#final)
    } else {
        conn.note_explicit(opcode, r#final);
        opcode
    };
    let f = if r#final { flags::FINAL } else { 0 };
    push(
        py,
        &r,
        MsgType::RespWsMsg,
        opcode,
        frame(conn_id, 0, &[], &payload, f),
        "response queue full",
    )?;
    Ok(true)
}

/// Whether `code` may be sent in a close frame (RFC 6455 §7.4).
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999)
}

/// `ws_close(conn_id, code=1000, reason=None)`: send a close frame; the
/// connection ends after it. The reason is cut to 123 bytes (at a character
/// boundary for str).
#[pyfunction]
#[pyo3(signature = (conn_id, code=1000, reason=None))]
pub fn ws_close(
    py: Python<'_>,
    conn_id: u32,
    code: u16,
    reason: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    if !sendable_close_code(code) {
        return Err(PyValueError::new_err("invalid close code"));
    }
    let mut reason = match reason {
        Some(v) if !v.is_none() => text_or_bytes(v, "reason must be str/bytes")?.0,
        _ => Vec::new(),
    };
    if reason.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while cut > 0 && reason.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(&reason);
    let r = running()?;
    push(
        py,
        &r,
        MsgType::RespWsClose,
        0,
        frame(conn_id, code, &[], &body, flags::FINAL),
        "ws close queue full",
    )
}

/// `_ws_credit(conn_id) -> bool`: whether a send may be queued now (the
/// connection's outbound queue is below its bound and the ring below 80 %).
/// True for an unknown id: the send is then dropped at once.
#[pyfunction]
pub fn _ws_credit(conn_id: u32) -> PyResult<bool> {
    let r = running()?;
    let ring = &r.ipc.response_ring;
    let Some(conn) = r.server.shared().ws.get(conn_id) else {
        return Ok(true);
    };
    Ok(conn.has_credit() && ring.used() * 5 < ring.capacity() * 4)
}

/// `_ws_consumed(conn_id)`: the app took one message; the runtime may read
/// from that socket again (inbound backpressure, `ws_queue_size`).
#[pyfunction]
pub fn _ws_consumed(conn_id: u32) -> PyResult<()> {
    if let Some(conn) = running()?.server.shared().ws.get(conn_id) {
        conn.consumed();
    }
    Ok(())
}
