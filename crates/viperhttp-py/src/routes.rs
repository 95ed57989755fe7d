//! Route registration and matching functions of `viperhttp._native`
//! (docs/internals/framework.md#routing).
//!
//! The route table is one process-wide native structure, [`ROUTES`]; the
//! runtime server receives a clone of the `Arc` and reads lock-free snapshots of
//! it, while these functions (interpreter thread) register routes and re-match
//! forwarded requests to convert their parameters.
//!
//! Python functions (registered by the module init in `lib.rs`):
//! - `route_add(method, pattern) -> int` — route id (0-based registration
//!   index). `method` is one of `GET POST PUT PATCH DELETE OPTIONS HEAD WS`,
//!   ASCII case-insensitive, else `ValueError("unsupported method")`; pattern
//!   errors → `ValueError("route add failed: <REASON>")`.
//! - `route_match(method, path) -> None | (int, dict) | (None, str)` — `path`
//!   is the raw request path; a `?query` suffix is ignored. Returns
//!   `(route_id, params)` on a match (`params`: name → converted value),
//!   `(None, allow)` when the path is known but has no route for the method
//!   (`allow` = `Allow` header value), `None` when no route exists for the path.
//!   `method` is matched ASCII case-insensitively; `"WS"` matches WebSocket
//!   routes only (never `(None, allow)`). Any other method string gives
//!   `(None, allow)` when the path is a known HTTP path, else `None`.
//!   Conversions: `int` → Python `int` of the matched text (no range limit);
//!   `float` → `float`; `bool` → `True` for `true/1/yes/on`, else `False`;
//!   `str`/`path` → percent-decoded UTF-8 (`+` stays `+`, a `%` not followed by
//!   two hex digits stays as is, invalid UTF-8 → U+FFFD). If Python refuses to
//!   convert an `int` (e.g. more digits than `sys.get_int_max_str_digits()`),
//!   the route does not match: `None` (404), never a 500.
//! - `percent_decode(raw, plus=False) -> bytes` — the shared percent-decoder
//!   for Python's urlencoded forms (`viperhttp_runtime::percent`; query strings are read by
//!   `query.rs`).
//! - `routes_reset()` — drop every route (ids restart at 0).
//! - `router_stats() -> dict` — `ready` (True), `route_count`, `node_count`,
//!   `edge_count`, `route_capacity`, `node_capacity`, `edge_capacity`,
//!   `storage_psram` (False). The host has no fixed capacity: capacities report
//!   `4294967295` (`u32::MAX`, the id space), so `count <= capacity` holds.

use std::sync::{Arc, LazyLock};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyString, PyTuple};
use viperhttp_ipc::Method;
use viperhttp_runtime::percent;
use viperhttp_runtime::router::{Lookup, ParamKind, ParamSpec, ParamValues};
use viperhttp_runtime::Routes;

use crate::errors::NativeError;

/// The process-wide route registry shared by the Python functions and the
/// runtime server (which receives a clone of this `Arc`).
pub static ROUTES: LazyLock<Arc<Routes>> = LazyLock::new(|| Arc::new(Routes::new()));

/// Reported capacity: no fixed limit on the host (route ids are `u32`).
const UNLIMITED_CAPACITY: u64 = u32::MAX as u64;

/// Parse a method name, ASCII case-insensitive; `WS` = WebSocket route.
fn parse_method(method: &str) -> Option<Method> {
    Method::from_name_ignore_case(method)
}

/// Register a route: `route_add(method, pattern) -> route_id`.
#[pyfunction]
pub fn route_add(method: &str, pattern: &str) -> PyResult<u32> {
    let method =
        parse_method(method).ok_or_else(|| NativeError::Route("unsupported method".into()))?;
    Ok(ROUTES
        .add(method, pattern)
        .map_err(|e| NativeError::Route(format!("route add failed: {}", e.reason())))?)
}

/// Match a request: `route_match(method, path)` → `None`, `(route_id, params)`
/// or `(None, allow)` (see the module docs).
#[pyfunction]
pub fn route_match<'py>(
    py: Python<'py>,
    method: &str,
    path: &str,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let table = ROUTES.snapshot_full();
    let path = path.as_bytes();
    let Some(method) = parse_method(method) else {
        return match table.allow(path) {
            Some(allow) => Ok(Some(not_allowed(py, allow)?)),
            None => Ok(None),
        };
    };
    match table.lookup(method, path) {
        Lookup::Found {
            route_id,
            pattern_params,
            values,
        } => match convert_params(py, pattern_params, &values)? {
            Some(params) => Ok(Some((route_id, params).into_pyobject(py)?)),
            None => Ok(None),
        },
        Lookup::MethodNotAllowed { allow } => Ok(Some(not_allowed(py, allow)?)),
        Lookup::NotFound => Ok(None),
    }
}

/// The route match the runtime carried in a request record (docs/internals/ipc.md, "Route
/// once") as `(route_id, params)`, converted exactly as `route_match` converts; `None` when
/// the record carries none or it no longer fits the table (the bridge then routes itself).
pub(crate) fn carried_match<'py>(
    py: Python<'py>,
    msg: &viperhttp_ipc::IpcMsg,
    uri: &[u8],
) -> PyResult<Option<(u32, Bound<'py, PyDict>)>> {
    let Some((route_id, spans)) = msg.route_match() else {
        return Ok(None);
    };
    let table = ROUTES.snapshot();
    let Some(info) = table.route(route_id) else {
        return Ok(None);
    };
    if info.params.len() != usize::from(msg.route_params) {
        return Ok(None);
    }
    let dict = PyDict::new(py);
    for (spec, (off, len)) in info.params.iter().zip(spans) {
        let Some(raw) = uri.get(off..off + len) else {
            return Ok(None);
        };
        let Some(value) = convert_value(py, spec.kind, raw)? else {
            return Ok(None);
        };
        dict.set_item(&*spec.name, value)?;
    }
    Ok(Some((route_id, dict)))
}

fn not_allowed<'py>(py: Python<'py>, allow: &str) -> PyResult<Bound<'py, PyTuple>> {
    (py.None(), allow).into_pyobject(py)
}

/// Build the params dict; `None` when a value cannot be converted (no match).
fn convert_params<'py>(
    py: Python<'py>,
    specs: &[ParamSpec],
    values: &ParamValues<'_>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let dict = PyDict::new(py);
    for (spec, raw) in specs.iter().zip(values.iter()) {
        let Some(value) = convert_value(py, spec.kind, raw)? else {
            return Ok(None);
        };
        dict.set_item(&*spec.name, value)?;
    }
    Ok(Some(dict))
}

/// Convert one raw (validated) value; `None` when Python refuses it.
fn convert_value<'py>(
    py: Python<'py>,
    kind: ParamKind,
    raw: &[u8],
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match kind {
        ParamKind::Str | ParamKind::Path => Ok(Some(
            PyString::new(py, &percent::decode_lossy(raw, false)).into_any(),
        )),
        ParamKind::Int => {
            // Validated: ASCII `-`? digits.
            let Ok(text) = std::str::from_utf8(raw) else {
                return Ok(None);
            };
            if raw.len() <= 18 {
                if let Ok(v) = text.parse::<i64>() {
                    return Ok(Some(v.into_pyobject(py)?.into_any()));
                }
            }
            match py.get_type::<PyInt>().call1((text,)) {
                Ok(v) => Ok(Some(v)),
                Err(e) if e.is_instance_of::<PyValueError>(py) => Ok(None),
                Err(e) => Err(e),
            }
        }
        ParamKind::Float => {
            let parsed = std::str::from_utf8(raw)
                .ok()
                .and_then(|t| t.parse::<f64>().ok());
            Ok(parsed.map(|v| PyFloat::new(py, v).into_any()))
        }
        ParamKind::Bool => Ok(viperhttp_runtime::router::parse_bool(raw)
            .map(|v| PyBool::new(py, v).to_owned().into_any())),
    }
}

/// `percent_decode(raw, plus=False) -> bytes`: the one percent-decoder
/// (`viperhttp_runtime::percent`) for the Python side's urlencoded forms;
/// `plus=True` reads `+` as a space. Invalid escapes stay as they are.
#[pyfunction]
#[pyo3(signature = (raw, plus=false))]
pub fn percent_decode<'py>(py: Python<'py>, raw: &[u8], plus: bool) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &percent::decode(raw, plus))
}

/// Remove every route (`reset()` and a new `ViperHTTP()` call this).
#[pyfunction]
pub fn routes_reset() {
    ROUTES.reset();
}

/// Route table counters (docs/internals/logging.md).
#[pyfunction]
pub fn router_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let stats = ROUTES.stats();
    let dict = PyDict::new(py);
    dict.set_item("ready", true)?;
    dict.set_item("route_count", stats.route_count)?;
    dict.set_item("node_count", stats.node_count)?;
    dict.set_item("edge_count", stats.edge_count)?;
    dict.set_item("route_capacity", UNLIMITED_CAPACITY)?;
    dict.set_item("node_capacity", UNLIMITED_CAPACITY)?;
    dict.set_item("edge_capacity", UNLIMITED_CAPACITY)?;
    dict.set_item("storage_psram", false)?;
    Ok(dict)
}
