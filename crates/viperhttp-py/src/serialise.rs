//! Return-value normalisation and body serialisation: the one owner of the rules
//! in docs/internals/requests-responses.md ("Return values" and "Serialising a
//! body"). The bridge's hot path (`_send_result`), the low-level
//! `send_response`, and the Python-facing `normalize` / `serialize_response` /
//! `split_status_tuple` all go through [`normalise`] and [`body_bytes`], so a
//! value cannot mean one thing in-process and another on the wire.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
    PyType,
};
use viperhttp_ipc::blob::{push_file_path, push_response_header};

use crate::bridge::ipc_err;
use crate::errors::NativeError;
use crate::json;

const MARKER: &str = "__vhttp_response__";
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const APPLICATION_JSON: &str = "application/json";
const OCTET_STREAM: &str = "application/octet-stream";

/// A serialised response ready for the ring: status, header block, body.
pub(crate) struct Outgoing {
    pub(crate) status: u16,
    pub(crate) headers: Vec<u8>,
    pub(crate) body: Vec<u8>,
    /// A `FileResponse`: `body` is the file's path, sent as a `RESP_FILE` record
    /// (docs/internals/ipc.md §2); the runtime serves the file.
    pub(crate) file: bool,
}

/// The content type a normalised response carries.
enum Ct<'py> {
    None,
    /// A default of the table (`text/plain`, JSON, octet-stream).
    Default(&'static str),
    /// The response dict's own `content_type` value (checked to be a str when used).
    Given(Bound<'py, PyAny>),
}

/// A handler result after normalisation: either a response dict as given or the
/// fields of a new one. Kept as fields so the hot path builds no dict.
struct Normal<'py> {
    /// The response dict itself when the value was one (`normalize` returns it as is).
    dict: Option<Bound<'py, PyDict>>,
    status: Option<Bound<'py, PyAny>>,
    body: Option<Bound<'py, PyAny>>,
    headers: Option<Bound<'py, PyAny>>,
    ct: Ct<'py>,
    stream: bool,
    /// The `file` key of a `FileResponse` dict (its absolute path).
    file: Option<Bound<'py, PyAny>>,
}

impl<'py> Normal<'py> {
    fn plain(body: Bound<'py, PyAny>, ct: Ct<'py>) -> Self {
        Normal {
            dict: None,
            status: None,
            body: Some(body),
            headers: None,
            ct,
            stream: false,
            file: None,
        }
    }

    fn from_response(d: &Bound<'py, PyDict>) -> PyResult<Self> {
        let py = d.py();
        let get = |key: &Bound<'py, PyString>| -> PyResult<Option<Bound<'py, PyAny>>> {
            Ok(d.get_item(key)?.filter(|v| !v.is_none()))
        };
        let ct = match get(pyo3::intern!(py, "content_type"))? {
            Some(c) => Ct::Given(c),
            None => Ct::None,
        };
        Ok(Normal {
            dict: Some(d.clone()),
            status: get(pyo3::intern!(py, "status_code"))?,
            body: get(pyo3::intern!(py, "body"))?,
            headers: get(pyo3::intern!(py, "headers"))?,
            ct,
            stream: get(pyo3::intern!(py, "stream"))?.is_some(),
            file: get(pyo3::intern!(py, "file"))?,
        })
    }
}

/// True for a dict whose marker is exactly `True` (`{"__vhttp_response__": 1}` is data).
pub(crate) fn is_response_dict(d: &Bound<'_, PyDict>) -> bool {
    d.get_item(pyo3::intern!(d.py(), MARKER))
        .ok()
        .flatten()
        .is_some_and(|v| v.is(PyBool::new(d.py(), true)))
}

fn enum_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static ENUM: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    ENUM.import(py, "enum", "Enum")
}

/// `bytes(memoryview)`: abi3 has no buffer protocol access, `tobytes()` copies once.
fn view_bytes<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    Ok(v.call_method0(pyo3::intern!(v.py(), "tobytes"))?
        .cast_into::<PyBytes>()?)
}

/// `(body, status)` / `(body, status, headers)` → that triple (the Flask habit,
/// docs/internals/typed-api.md): an exact 2- or 3-tuple whose second item is an
/// exact int 100..599 and whose first item is not a number; headers None, a dict
/// or a list. Anything else → `None`.
#[allow(clippy::type_complexity)]
fn status_tuple<'py>(
    value: &Bound<'py, PyAny>,
) -> PyResult<
    Option<(
        Bound<'py, PyAny>,
        Bound<'py, PyAny>,
        Option<Bound<'py, PyAny>>,
    )>,
> {
    if !value.is_exact_instance_of::<PyTuple>() {
        return Ok(None);
    }
    let t = value.cast::<PyTuple>()?;
    if !(2..=3).contains(&t.len()) {
        return Ok(None);
    }
    let (body, status) = (t.get_item(0)?, t.get_item(1)?);
    let status_ok = status.is_exact_instance_of::<PyInt>()
        && status
            .extract::<i64>()
            .is_ok_and(|s| (100..=599).contains(&s));
    if !status_ok || body.is_instance_of::<PyInt>() || body.is_instance_of::<PyFloat>() {
        return Ok(None);
    }
    let headers = match t.get_item(2).ok().filter(|h| !h.is_none()) {
        Some(h) if h.is_instance_of::<PyDict>() || h.is_instance_of::<PyList>() => Some(h),
        Some(_) => return Ok(None),
        None => None,
    };
    Ok(Some((body, status, headers)))
}

/// `str(value)` as text/plain.
fn as_text<'py>(value: &Bound<'py, PyAny>) -> PyResult<Normal<'py>> {
    Ok(Normal::plain(
        value.str()?.into_any(),
        Ct::Default(TEXT_PLAIN),
    ))
}

/// The normalisation table (docs/internals/requests-responses.md, "Return
/// values"). Exact types are tested first: this runs per request.
fn normalise<'py>(value: &Bound<'py, PyAny>) -> PyResult<Normal<'py>> {
    let py = value.py();
    if value.is_exact_instance_of::<PyString>() {
        return Ok(Normal::plain(value.clone(), Ct::Default(TEXT_PLAIN)));
    }
    if let Ok(d) = value.cast::<PyDict>() {
        if is_response_dict(d) {
            return Normal::from_response(d);
        }
        return Ok(Normal::plain(value.clone(), Ct::Default(APPLICATION_JSON)));
    }
    if value.is_none() {
        return Ok(Normal {
            dict: None,
            status: None,
            body: None,
            headers: None,
            ct: Ct::None,
            stream: false,
            file: None,
        });
    }
    if value.is_instance_of::<PyList>() {
        return Ok(Normal::plain(value.clone(), Ct::Default(APPLICATION_JSON)));
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        // (decision, docs/internals/bridge.md) an empty byte body gets no default type,
        // so `None` → serialize_response → send_response stays without one.
        let ct = default_bytes_ct(b.as_bytes().len());
        return Ok(Normal::plain(value.clone(), ct));
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        let ct = default_bytes_ct(b.len());
        return Ok(Normal::plain(value.clone(), ct));
    }
    if value.is_instance_of::<PyMemoryView>() {
        let b = view_bytes(value)?;
        let ct = default_bytes_ct(b.as_bytes().len());
        return Ok(Normal::plain(b.into_any(), ct));
    }
    if let Some((body, status, headers)) = status_tuple(value)? {
        let mut n = normalise(&body)?;
        if let Some(d) = n.dict.take() {
            // The caller's response object is not changed: the tuple's status wins on a copy.
            n.dict = Some(d.copy()?);
        }
        n.status = Some(status);
        if headers.is_some() {
            n.headers = headers;
        }
        if let Some(d) = &n.dict {
            d.set_item(pyo3::intern!(py, "status_code"), &n.status)?;
            if let Some(h) = &n.headers {
                d.set_item(pyo3::intern!(py, "headers"), h)?;
            }
        }
        return Ok(n);
    }
    let is_enum = value.is_instance(enum_type(py)?)?;
    if !is_enum
        && (value.is_instance_of::<PyString>()
            || value.is_instance_of::<PyInt>()
            || value.is_instance_of::<PyFloat>()
            || value.is_exact_instance_of::<PyTuple>())
    {
        // str subclasses, int/float/bool, tuples that are not a status tuple: the
        // original's str() text.
        if value.is_instance_of::<PyString>() {
            return Ok(Normal::plain(value.clone(), Ct::Default(TEXT_PLAIN)));
        }
        return as_text(value);
    }
    // datetime, UUID, Decimal, Enum, set, dataclass, pydantic model, ...: JSON through
    // the encoder's `default=` hook (docs/internals/typed-api.md); an object with no JSON
    // form (TypeError) keeps the original's str() text.
    let mut out = Vec::with_capacity(64);
    match json::dumps_into(py, value, &mut out) {
        Ok(()) => Ok(Normal::plain(
            PyBytes::new(py, &out).into_any(),
            Ct::Default(APPLICATION_JSON),
        )),
        Err(e) if e.is_instance_of::<PyTypeError>(py) => as_text(value),
        Err(e) => Err(e),
    }
}

fn default_bytes_ct(len: usize) -> Ct<'static> {
    if len == 0 {
        Ct::None
    } else {
        Ct::Default(OCTET_STREAM)
    }
}

/// Serialise a body value (docs/internals/requests-responses.md, "Serialising a
/// body"): returns (bytes, default content type). `strict` = the low-level
/// `send_response` rule: a response dict's body must already be bytes-like, str
/// or None.
fn body_bytes(
    py: Python<'_>,
    body: Option<&Bound<'_, PyAny>>,
    strict: bool,
) -> PyResult<(Vec<u8>, Option<&'static str>)> {
    let Some(body) = body.filter(|b| !b.is_none()) else {
        return Ok((Vec::new(), None));
    };
    let bytes_ct = |bytes: Vec<u8>| {
        let ct = (!bytes.is_empty()).then_some(OCTET_STREAM);
        (bytes, ct)
    };
    if let Ok(s) = body.cast::<PyString>() {
        Ok((s.to_cow()?.as_bytes().to_vec(), Some(TEXT_PLAIN)))
    } else if let Ok(b) = body.cast::<PyBytes>() {
        Ok(bytes_ct(b.as_bytes().to_vec()))
    } else if let Ok(b) = body.cast::<PyByteArray>() {
        Ok(bytes_ct(b.to_vec()))
    } else if body.is_instance_of::<PyMemoryView>() {
        Ok(bytes_ct(view_bytes(body)?.as_bytes().to_vec()))
    } else if strict {
        Err(NativeError::InvalidResponse("response body must be str/bytes/bytearray/None").into())
    } else if body.is_instance_of::<PyDict>() || body.is_instance_of::<PyList>() {
        let mut out = Vec::with_capacity(64);
        json::dumps_into(py, body, &mut out)?;
        Ok((out, Some(APPLICATION_JSON)))
    } else {
        Ok((body.str()?.to_cow()?.as_bytes().to_vec(), Some(TEXT_PLAIN)))
    }
}

fn status_code(status: Option<&Bound<'_, PyAny>>) -> PyResult<u16> {
    let Some(s) = status else {
        return Ok(200);
    };
    s.extract::<i64>()
        .ok()
        .filter(|s| (100..=999).contains(s))
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| NativeError::InvalidResponse("invalid status code").into())
}

fn content_type_str<'a>(
    ct: &'a Ct<'_>,
    implied: Option<&'static str>,
) -> PyResult<Option<std::borrow::Cow<'a, str>>> {
    Ok(match ct {
        Ct::Given(c) => Some(
            c.cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("content_type must be str"))?
                .to_cow()?,
        ),
        Ct::Default(d) => Some(std::borrow::Cow::Borrowed(*d)),
        Ct::None => implied.map(std::borrow::Cow::Borrowed),
    })
}

fn header_bytes<'a>(v: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, [u8]>> {
    if let Ok(s) = v.cast::<PyString>() {
        Ok(std::borrow::Cow::Owned(s.to_cow()?.as_bytes().to_vec()))
    } else if let Ok(b) = v.cast::<PyBytes>() {
        Ok(std::borrow::Cow::Borrowed(b.as_bytes()))
    } else {
        Err(PyTypeError::new_err(
            "header names and values must be str or bytes",
        ))
    }
}

/// Append the response's headers (a dict, or an iterable of `(name, value)`
/// pairs) to `block`. Returns whether a `Content-Type` header was among them.
pub(crate) fn push_headers(block: &mut Vec<u8>, headers: &Bound<'_, PyAny>) -> PyResult<bool> {
    let mut has_ct = false;
    let mut push = |name: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>| -> PyResult<()> {
        let n = header_bytes(name)?;
        let v = header_bytes(value)?;
        has_ct |= n.eq_ignore_ascii_case(b"content-type");
        push_response_header(block, &n, &v).map_err(ipc_err)
    };
    if headers.is_none() {
        return Ok(false);
    }
    if let Ok(d) = headers.cast::<PyDict>() {
        for (k, v) in d.iter() {
            push(&k, &v)?;
        }
    } else {
        for item in headers.try_iter()? {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            push(&k, &v)?;
        }
    }
    Ok(has_ct)
}

/// `Content-Type: value` as the first line of a header block.
pub(crate) fn content_type_line(block: &mut Vec<u8>, value: &str) -> PyResult<()> {
    push_response_header(block, b"Content-Type", value.as_bytes()).map_err(ipc_err)
}

/// The body of a `RESP_FILE` record: a `FileResponse`'s `file` (str, UTF-8, or bytes),
/// checked by the IPC codec (absolute, no NUL, ≤ 4096 bytes; `ValueError` otherwise).
fn file_path_bytes(path: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let raw = header_bytes(path)
        .map_err(|_| PyTypeError::new_err("FileResponse path must be str or bytes"))?;
    let mut body = Vec::with_capacity(raw.len());
    push_file_path(&mut body, &raw).map_err(ipc_err)?;
    Ok(body)
}

/// The status, header block and body of a normalised, non-stream response, and
/// the default content type its body implies.
fn encode(
    py: Python<'_>,
    n: &Normal<'_>,
    strict: bool,
) -> PyResult<(Outgoing, Option<&'static str>)> {
    let status = status_code(n.status.as_ref())?;
    let (body, implied) = match &n.file {
        Some(path) => (file_path_bytes(path)?, None),
        None => body_bytes(py, n.body.as_ref(), strict)?,
    };
    let mut user = Vec::new();
    let has_ct = match &n.headers {
        Some(h) => push_headers(&mut user, h)?,
        None => false,
    };
    let mut headers = Vec::with_capacity(user.len() + 48);
    // Checked even when a header overrides it, so a bad value fails the same way everywhere.
    let ct = content_type_str(&n.ct, implied)?;
    if let (false, Some(ct)) = (has_ct, ct) {
        content_type_line(&mut headers, &ct)?;
    }
    headers.extend_from_slice(&user);
    if headers.len() > u16::MAX as usize {
        return Err(NativeError::HeadersTooLarge.into());
    }
    let out = Outgoing {
        status,
        headers,
        body,
        file: n.file.is_some(),
    };
    Ok((out, implied))
}

/// Normalise + serialise one value for the ring (the bridge's `_send_result`, and
/// `send_response` with `strict` for response dicts). The header block starts with
/// `Content-Type` unless the headers carry one (docs/internals/ipc.md).
pub(crate) fn serialise(value: &Bound<'_, PyAny>, strict: bool) -> PyResult<Outgoing> {
    let n = normalise(value)?;
    if n.stream {
        return Err(PyTypeError::new_err(
            "a stream response is sent by the bridge's stream task, not in one piece",
        ));
    }
    Ok(encode(value.py(), &n, strict)?.0)
}

fn response_dict<'py>(
    py: Python<'py>,
    status: Bound<'py, PyAny>,
    body: Option<Bound<'py, PyAny>>,
    headers: Option<Bound<'py, PyAny>>,
    ct: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(MARKER, true)?;
    d.set_item(pyo3::intern!(py, "status_code"), status)?;
    d.set_item(pyo3::intern!(py, "body"), body)?;
    d.set_item(pyo3::intern!(py, "headers"), headers)?;
    d.set_item(pyo3::intern!(py, "content_type"), ct)?;
    Ok(d)
}

fn ct_object<'py>(py: Python<'py>, ct: Ct<'py>) -> Option<Bound<'py, PyAny>> {
    match ct {
        Ct::None => None,
        Ct::Default(s) => Some(PyString::intern(py, s).into_any()),
        Ct::Given(c) => Some(c),
    }
}

/// `normalize(value) -> dict`: a handler / middleware / exception-handler result
/// as a response dict. Response dicts come back as they are; other values get a
/// new dict whose body is kept (dict/list bodies are JSON-encoded only when sent).
#[pyfunction]
pub fn normalize<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = value.py();
    let n = normalise(value)?;
    if let Some(d) = n.dict {
        return Ok(d);
    }
    let status = match n.status {
        Some(s) => s,
        None => 200u16.into_pyobject(py)?.into_any(),
    };
    response_dict(py, status, n.body, n.headers, ct_object(py, n.ct))
}

/// `serialize_response(value) -> dict`: normalised, the body as bytes and the
/// content type it implies; a response dict with a `stream` or a `file` (its body is
/// produced by the bridge or the runtime, never in-process) comes back unchanged.
#[pyfunction]
pub fn serialize_response<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = value.py();
    let n = normalise(value)?;
    if n.stream || n.file.is_some() {
        if let Some(d) = n.dict {
            return Ok(d.into_any());
        }
    }
    // The same encoding as on the wire, so a value that fails there fails here.
    let (out, implied) = encode(py, &n, false)?;
    let ct = match n.ct {
        Ct::None => implied.map(|s| PyString::intern(py, s).into_any()),
        other => ct_object(py, other),
    };
    Ok(response_dict(
        py,
        out.status.into_pyobject(py)?.into_any(),
        Some(PyBytes::new(py, &out.body).into_any()),
        n.headers,
        ct,
    )?
    .into_any())
}

/// `split_status_tuple(value) -> (body, status, headers) | None`: the status-tuple
/// rule of [`normalise`], for the typed return path (`viperhttp.typed_response`).
#[pyfunction]
pub fn split_status_tuple<'py>(value: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let py = value.py();
    match status_tuple(value)? {
        Some((body, status, headers)) => {
            let headers = headers.unwrap_or_else(|| py.None().into_bound(py));
            Ok(Some(PyTuple::new(py, [body, status, headers])?))
        }
        None => Ok(None),
    }
}
