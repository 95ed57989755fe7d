//! The interpreter-thread side of the IPC (docs/internals/ipc.md,
//! docs/internals/bridge.md#streaming): taking request records (one batch per call, blob copied
//! into Python objects, ring released at once) and sending responses (normalised and serialised
//! natively, written into the response ring, pushed to the queue). Every wait happens detached from
//! the interpreter.

use std::sync::atomic::Ordering;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use viperhttp_ipc::blob::{split_request_blob, split_uri};
use viperhttp_ipc::message::proto;
use viperhttp_ipc::{flags, IpcError, IpcMsg, Method, MsgType};

use crate::errors::NativeError;
use crate::serialise::{content_type_line, is_response_dict, push_headers, serialise, Outgoing};
use crate::server::{running, Running};

/// Decode bytes as latin-1 (lossless, as ASGI/WSGI do); ASCII takes the fast path.
pub(crate) fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(bytes) {
        Ok(s) if bytes.is_ascii() => PyString::new(py, s),
        _ => {
            let s: String = bytes.iter().map(|&b| b as char).collect();
            PyString::new(py, &s)
        }
    }
}

fn method_str(py: Python<'_>, code: u8) -> Bound<'_, PyString> {
    static NAMES: PyOnceLock<[Py<PyString>; 8]> = PyOnceLock::new();
    let names = NAMES.get_or_init(py, || {
        [0u8, 1, 2, 3, 4, 5, 6, 7].map(|c| {
            PyString::intern(
                py,
                Method::from_code(c).map(Method::as_str).unwrap_or("GET"),
            )
            .unbind()
        })
    });
    names
        .get(code as usize)
        .unwrap_or(&names[0])
        .bind(py)
        .clone()
}

/// Cached Python strings (`intern!`): `PyString::intern` builds a new str and looks it up in
/// the interpreter's table on every call, ~3 % of the interpreter thread per request.
fn scheme_and_version(py: Python<'_>, p: u8) -> (Bound<'_, PyString>, Bound<'_, PyString>) {
    let scheme = if p & proto::TLS != 0 {
        pyo3::intern!(py, "https")
    } else {
        pyo3::intern!(py, "http")
    };
    let version = match p & proto::VERSION_MASK {
        proto::HTTP10 => pyo3::intern!(py, "1.0"),
        proto::HTTP2 => pyo3::intern!(py, "2"),
        _ => pyo3::intern!(py, "1.1"),
    };
    (scheme.clone(), version.clone())
}

/// The peer's address as a Python str. Most requests in a batch come from few
/// peers, so the last formatted address is kept (interpreter thread only).
fn peer_ip_str<'py>(py: Python<'py>, raw: [u8; 16]) -> Bound<'py, PyString> {
    static LAST: parking_lot::Mutex<Option<([u8; 16], Py<PyString>)>> =
        parking_lot::Mutex::new(None);
    let mut last = LAST.lock();
    if let Some((ip, s)) = last.as_ref() {
        if *ip == raw {
            return s.bind(py).clone();
        }
    }
    let v6 = std::net::Ipv6Addr::from(raw);
    let text = match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    };
    let s = PyString::new(py, &text);
    *last = Some((raw, s.clone().unbind()));
    s
}

fn client_tuple<'py>(py: Python<'py>, msg: &IpcMsg) -> PyResult<Bound<'py, PyTuple>> {
    let ip = peer_ip_str(py, msg.peer_ip);
    PyTuple::new(
        py,
        [ip.into_any(), msg.peer_port.into_pyobject(py)?.into_any()],
    )
}

/// Build the request tuple
/// `(request_id, method, path, query, headers_blob, body, client, scheme, http_version)`
/// from one `REQ_HTTP` record, copying out of the ring and releasing it.
pub(crate) fn request_tuple<'py>(
    py: Python<'py>,
    r: &Running,
    msg: &IpcMsg,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let uri_len = msg.uri_len as usize;
    let headers_len = msg.headers_len as usize;
    let total = uri_len + headers_len + msg.body_len as usize;
    // Copy out and release in one lock hold (docs/internals/ipc.md#one-lock-hold-per-record-decision).
    let parts = r
        .ipc
        .request_ring
        .take_with(msg.buffer_offset, total as u32, |blob| {
            // The record layout's one decoder (viperhttp_ipc::blob, the fuzzed one).
            let parts = split_request_blob(blob, uri_len, headers_len).ok()?;
            let (path, query) = split_uri(parts.uri);
            Some((
                latin1(py, path),
                latin1(py, query.unwrap_or_default()),
                PyBytes::new(py, parts.headers),
                PyBytes::new(py, parts.body),
                crate::routes::carried_match(py, msg, path),
            ))
        });
    let Ok(Some((path, query, headers, body, matched))) = parts else {
        // Malformed record: dropped (docs/internals/ipc.md); the runtime's 504 answers the client.
        return Ok(None);
    };
    let (route_id, params) = match matched? {
        Some((id, params)) => (id.into_pyobject(py)?.into_any(), params.into_any()),
        None => (py.None().into_bound(py), py.None().into_bound(py)),
    };
    let (scheme, version) = scheme_and_version(py, msg.proto);
    let items: [Bound<'py, PyAny>; 11] = [
        msg.request_id.into_pyobject(py)?.into_any(),
        method_str(py, msg.method).into_any(),
        path.into_any(),
        query.into_any(),
        headers.into_any(),
        body.into_any(),
        client_tuple(py, msg)?.into_any(),
        scheme.into_any(),
        version.into_any(),
        route_id,
        params,
    ];
    Ok(Some(PyTuple::new(py, items)?))
}

/// `_poll_batch(max_n) -> list[tuple]`: up to `max_n` HTTP requests. When the
/// queue is empty the consumer parks (the wake-up fd fires on the next push)
/// and an empty list is returned. Requests cancelled while queued are dropped;
/// an empty list therefore always means "parked": a batch made only of dropped
/// requests polls again instead of returning un-parked, which would leave the
/// next push without a wake-up.
#[pyfunction]
pub fn _poll_batch(py: Python<'_>, max_n: usize) -> PyResult<Bound<'_, PyList>> {
    let r = running()?;
    let out = PyList::empty(py);
    let mut msgs = Vec::new();
    while out.is_empty() {
        msgs.clear();
        if !take_batch(&r, &mut msgs, max_n.max(1)) {
            break; // parked
        }
        append_batch(py, &r, &msgs, &out)?;
    }
    Ok(out)
}

/// Pops up to `max` records; false (nothing popped) once the consumer is parked.
fn take_batch(r: &Running, msgs: &mut Vec<IpcMsg>, max: usize) -> bool {
    if r.ipc.requests.pop_batch(msgs, max) == 0 {
        r.wake.drain();
        if r.ipc.requests.park() {
            return false;
        }
        r.ipc.requests.pop_batch(msgs, max);
    } else {
        r.ipc.requests.unpark();
    }
    true
}

/// The request and WebSocket tuples of `msgs`, appended to `out`; cancelled requests dropped.
fn append_batch(
    py: Python<'_>,
    r: &Running,
    msgs: &[IpcMsg],
    out: &Bound<'_, PyList>,
) -> PyResult<()> {
    for msg in msgs {
        if msg.msg_type != MsgType::ReqHttp as u8 {
            // WebSocket records become ("ws_*", ...) tuples (crate::ws).
            if let Some(t) = crate::ws::record_tuple(py, r, msg)? {
                out.append(t)?;
            }
            continue;
        }
        if r.ipc.is_cancelled(msg.request_id) {
            let total = msg.uri_len as u32 + msg.headers_len as u32 + msg.body_len;
            if total > 0 {
                r.ipc.request_ring.release(msg.buffer_offset);
            }
            r.ipc.clear_cancelled(msg.request_id);
            continue;
        }
        if let Some(t) = request_tuple(py, r, msg)? {
            out.append(t)?;
        }
    }
    Ok(())
}

/// `poll_request() -> dict | None` (docs/internals/ipc.md shape): one request.
#[pyfunction]
pub fn poll_request(py: Python<'_>) -> PyResult<Option<Bound<'_, PyDict>>> {
    let batch = _poll_batch(py, 1)?;
    let Ok(item) = batch.get_item(0) else {
        return Ok(None);
    };
    let t = item.cast_into::<PyTuple>()?;
    if let Some(d) = crate::ws::record_dict(py, &t)? {
        return Ok(Some(d));
    }
    let d = PyDict::new(py);
    d.set_item("type", "http")?;
    d.set_item("request_id", t.get_item(0)?)?;
    d.set_item("method", t.get_item(1)?)?;
    let path: String = t.get_item(2)?.extract()?;
    let query: String = t.get_item(3)?.extract()?;
    d.set_item(
        "path",
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        },
    )?;
    let request_cls = py.import("viperhttp.request")?.getattr("Request")?;
    d.set_item("request", request_cls.call_method1("_from_native", t)?)?;
    Ok(Some(d))
}

/// `wait_request(timeout_ms) -> bool`: block (detached) until a request is
/// queued or the timeout passes. For the synchronous fallback loop.
#[pyfunction]
pub fn wait_request(py: Python<'_>, timeout_ms: u64) -> PyResult<bool> {
    let r = running()?;
    Ok(py.detach(|| {
        r.ipc
            .requests
            .wait_nonempty(Duration::from_millis(timeout_ms), &r.ipc.stopping)
    }))
}

/// `wakeup_fd() -> int` (docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol).
#[pyfunction]
pub fn wakeup_fd() -> PyResult<i32> {
    Ok(running()?.wake.fd())
}

/// `is_cancelled(request_id) -> bool` (docs/internals/bridge.md#client-disconnect): its
/// client left or it timed out; or the server is stopping and the grace period is over, in
/// which case the id is marked cancelled now, so the send that ends it writes nothing.
#[pyfunction]
pub fn is_cancelled(request_id: u32) -> bool {
    crate::server::running_any().is_some_and(|r| {
        if r.ipc.is_cancelled(request_id) {
            return true;
        }
        if r.drain_expired() {
            r.ipc.cancel(request_id);
            return true;
        }
        false
    })
}

/// An IPC failure as its declared Python class (crate::errors).
pub(crate) fn ipc_err(e: IpcError) -> PyErr {
    NativeError::from(e).into()
}

/// One response record to write: `[headers][body]` plus its header fields.
pub(crate) struct FrameOut<'a> {
    pub(crate) id: u32,
    pub(crate) status: u16,
    pub(crate) headers: &'a [u8],
    pub(crate) body: &'a [u8],
    pub(crate) flags: u8,
    pub(crate) total_len: u32,
}

/// Write one response record (header block + body in one ring allocation,
/// `[headers][body]`) and push it. Waits, detached, when the ring or the queue
/// is full (docs/internals/ipc.md#7-byte-ring-bytering).
fn push_frame(py: Python<'_>, r: &Running, f: FrameOut<'_>) -> PyResult<()> {
    Ok(push_record(py, r, MsgType::RespHttp, 0, f)?)
}

/// [`push_frame`] for any response type (`method` = WebSocket opcode).
pub(crate) fn push_record(
    py: Python<'_>,
    r: &Running,
    msg_type: MsgType,
    method: u8,
    f: FrameOut<'_>,
) -> Result<(), NativeError> {
    let FrameOut {
        id,
        status,
        headers,
        body,
        flags: msg_flags,
        total_len,
    } = f;
    let len = headers.len() + body.len();
    let mut offset = 0u32;
    if len > 0 {
        let ring = &r.ipc.response_ring;
        if len > ring.capacity() {
            return Err(NativeError::FrameTooLarge {
                len,
                capacity: ring.capacity(),
            });
        }
        let fill = |dst: &mut [u8]| {
            if let Some(h) = dst.get_mut(..headers.len()) {
                h.copy_from_slice(headers);
            }
            if let Some(b) = dst.get_mut(headers.len()..) {
                b.copy_from_slice(body);
            }
        };
        // One lock hold for allocate + copy + publish
        // (docs/internals/ipc.md#one-lock-hold-per-record-decision); a full ring is waited
        // for, detached, through a grant.
        offset = match ring.write(len, |dst| {
            fill(dst);
            Ok(())
        }) {
            Ok(offset) => offset,
            Err(_) => {
                let wait = Duration::from_millis(r.ipc_ring_wait_ms);
                let stop = &r.ipc.stopping;
                let granted = py.detach(|| ring.alloc_wait(len, wait, stop));
                let mut grant = granted?;
                fill(grant.as_mut_slice());
                grant.publish()
            }
        };
    }
    let msg = IpcMsg {
        request_id: id,
        msg_type: msg_type as u8,
        method,
        status_code: status,
        headers_len: headers.len() as u16,
        headers_offset: if headers.is_empty() { 0 } else { offset },
        body_len: body.len() as u32,
        buffer_offset: if body.is_empty() {
            0
        } else {
            offset + headers.len() as u32
        },
        total_len,
        flags: msg_flags,
        ..IpcMsg::default()
    };
    if let Err(msg) = r.ipc.responses.push(msg) {
        let wait = Duration::from_millis(r.ipc_ring_wait_ms);
        let res = py.detach(|| r.ipc.responses.push_wait(msg, wait, &r.ipc.stopping));
        if let Err(e) = res {
            if len > 0 {
                r.ipc.response_ring.release(offset);
            }
            r.ipc
                .counters
                .dropped_responses
                .fetch_add(1, Ordering::Relaxed);
            return Err(e.into());
        }
    }
    Ok(())
}

/// Send a serialised response; bodies larger than a quarter of the ring go as
/// stream frames with `total_len` set (Content-Length,
/// docs/internals/bridge.md#decisions-on-serialisation).
fn send_outgoing(py: Python<'_>, r: &Running, id: u32, out: Outgoing) -> PyResult<()> {
    if r.ipc.is_cancelled(id) {
        r.ipc.clear_cancelled(id);
        return Ok(()); // client gone: dropped silently (docs/internals/ipc.md#9-request-ids)
    }
    let total = out.body.len() as u32;
    // The whole response as one record: a file's (a path ≤ 4 KiB and the app's headers, always
    // small), or a body that fits a quarter of the ring.
    let whole = FrameOut {
        id,
        status: out.status,
        headers: &out.headers,
        body: &out.body,
        flags: 0,
        total_len: total,
    };
    if out.file {
        return Ok(push_record(py, r, MsgType::RespFile, 0, whole)?);
    }
    let limit = r.ipc.response_ring.capacity() / 4;
    if out.headers.len() + out.body.len() <= limit {
        return push_frame(py, r, whole);
    }
    let mut chunks = out.body.chunks(limit.max(1)).peekable();
    let first = chunks.next().unwrap_or_default();
    let last_flag = if chunks.peek().is_none() {
        flags::FINAL
    } else {
        0
    };
    let frame = FrameOut {
        id,
        status: out.status,
        headers: &out.headers,
        body: first,
        flags: flags::STREAM | last_flag,
        total_len: total,
    };
    push_frame(py, r, frame)?;
    while let Some(chunk) = chunks.next() {
        let f = if chunks.peek().is_none() {
            flags::STREAM | flags::FINAL
        } else {
            flags::STREAM
        };
        push_frame(
            py,
            r,
            FrameOut {
                id,
                status: 0,
                headers: &[],
                body: chunk,
                flags: f,
                total_len: 0,
            },
        )?;
    }
    Ok(())
}

/// `_send_result(request_id, result)`: the bridge's fast path — normalise and
/// serialise any handler result natively (docs/internals/requests-responses.md#return-values) and
/// send it.
#[pyfunction]
pub fn _send_result(py: Python<'_>, request_id: u32, result: &Bound<'_, PyAny>) -> PyResult<()> {
    let r = running()?;
    let out = serialise(result, false)?;
    send_outgoing(py, &r, request_id, out)
}

/// `send_response(response)` / `send_response(request_id, response)`
/// (docs/internals/bridge.md#decisions-on-serialisation): the low-level call, strict about body
/// types.
#[pyfunction]
#[pyo3(signature = (a, b=None))]
pub fn send_response(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let r = running()?;
    let (id, resp) = match b {
        Some(resp) => (a.extract::<u32>()?, resp.clone()),
        None => {
            let d = a
                .cast::<PyDict>()
                .map_err(|_| NativeError::InvalidResponse("response missing request_id"))?;
            let id = d
                .get_item("request_id")?
                .ok_or(NativeError::InvalidResponse("response missing request_id"))?
                .extract::<u32>()?;
            (id, a.clone())
        }
    };
    let strict = resp.cast::<PyDict>().map(is_response_dict).unwrap_or(false);
    let out = serialise(&resp, strict)?;
    send_outgoing(py, &r, id, out)
}

/// `stream_send(request_id, data=None, *, status_code=200, headers=None,
/// content_type=None, total_len=0, chunked=True, final=False, send_headers=False) -> bool`
/// (docs/internals/bridge.md#streaming). Returns False when the request was cancelled.
#[pyfunction]
#[pyo3(signature = (request_id=None, data=None, *, status_code=200, headers=None, content_type=None, total_len=0, chunked=true, r#final=false, send_headers=false, abort=false))]
#[allow(clippy::too_many_arguments)]
pub fn stream_send(
    py: Python<'_>,
    request_id: Option<u32>,
    data: Option<&Bound<'_, PyAny>>,
    status_code: u16,
    headers: Option<&Bound<'_, PyAny>>,
    content_type: Option<&str>,
    total_len: u32,
    chunked: bool,
    r#final: bool,
    send_headers: bool,
    abort: bool,
) -> PyResult<bool> {
    let id = request_id.ok_or_else(|| PyTypeError::new_err("missing request_id"))?;
    let r = running()?;
    if r.ipc.is_cancelled(id) {
        if r#final || abort {
            r.ipc.clear_cancelled(id);
        }
        return Ok(false);
    }
    let bytes: Vec<u8> = match data {
        None => Vec::new(),
        Some(d) if d.is_none() => Vec::new(),
        Some(d) => {
            if let Ok(b) = d.cast::<PyBytes>() {
                b.as_bytes().to_vec()
            } else if let Ok(b) = d.cast::<PyByteArray>() {
                b.to_vec()
            } else if let Ok(s) = d.cast::<PyString>() {
                s.to_cow()?.as_bytes().to_vec()
            } else {
                return Err(
                    NativeError::InvalidResponse("data must be str/bytes/bytearray/None").into(),
                );
            }
        }
    };
    let mut block = Vec::new();
    let mut f = flags::STREAM;
    let mut total = 0;
    if send_headers {
        // Content-Type first (from `content_type`, default octet-stream) unless the
        // headers carry one, then the headers in order (docs/internals/ipc.md).
        let mut user = Vec::new();
        let has_ct = match headers {
            Some(h) => push_headers(&mut user, h)?,
            None => false,
        };
        if !has_ct {
            content_type_line(
                &mut block,
                content_type.unwrap_or("application/octet-stream"),
            )?;
        }
        block.extend_from_slice(&user);
        if chunked || total_len == 0 {
            f |= flags::CHUNKED;
        } else {
            total = total_len;
        }
    }
    if r#final {
        f |= flags::FINAL;
    }
    if abort {
        f |= flags::ABORT | flags::FINAL;
    }
    let status = if send_headers { status_code } else { 0 };
    push_frame(
        py,
        &r,
        FrameOut {
            id,
            status,
            headers: &block,
            body: &bytes,
            flags: f,
            total_len: total,
        },
    )?;
    Ok(true)
}

/// `_stream_credit(request_id) -> bool`: whether a stream producer may push
/// another frame now (< 64 frames buffered for the id, ring below 80 %).
#[pyfunction]
pub fn _stream_credit(request_id: u32) -> PyResult<bool> {
    let r = running()?;
    let buffered = r.server.shared().pending.buffered(request_id);
    let ring = &r.ipc.response_ring;
    Ok(buffered < viperhttp_runtime::pending::MAX_BUFFERED_FRAMES
        && ring.used() * 5 < ring.capacity() * 4)
}
