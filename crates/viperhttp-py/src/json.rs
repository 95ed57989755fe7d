//! Native JSON encoder for response bodies (docs/internals/bridge.md#decisions-on-serialisation).
//! It must give exactly the bytes of `json.dumps(obj, separators=(",", ":"), ensure_ascii=False,
//! allow_nan=False).encode()` for everything it accepts; anything else (subclasses, non-str keys,
//! NaN, lone surrogates, deep nesting) falls back to that very call, so exception types and
//! messages stay Python's own.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Deeper structures go to the stdlib (which has its own recursion checks).
const MAX_DEPTH: usize = 64;

struct Fallback;

fn escape_into(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// `float.__repr__` of a finite `v`, which is what `json.dumps` writes, without a Python call:
/// ryu's digits (the shortest that round-trip, as CPython's `repr` picks them) laid out by
/// CPython's rules for `repr` (`format_float_short`, type `'r'`): positional with at least one
/// digit after the point while the decimal exponent is in -4..16, else `d.ddde±XX` (at least two
/// exponent digits). Checked against `repr` for random bit patterns in
/// tests/test_json_encoder.py.
fn push_float_repr(v: f64, out: &mut Vec<u8>) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v).as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // ryu writes `d.ddd`, `ddd.0` or `d.ddde[-]x`: split off the exponent, then read the
    // significant digits and where the decimal point sits among them (`decpt`, as in dtoa:
    // value = 0.DIGITS × 10^decpt).
    let (mantissa, exp) = match text.iter().position(|&b| b == b'e') {
        Some(i) => {
            let exp = std::str::from_utf8(text.get(i + 1..).unwrap_or_default())
                .ok()
                .and_then(|e| e.parse::<i32>().ok())
                .unwrap_or(0);
            (text.get(..i).unwrap_or_default(), exp)
        }
        None => (text, 0),
    };
    let mut digits = [0u8; 24];
    let mut n = 0usize;
    let mut decpt = exp;
    let mut seen_point = false;
    let mut leading = true;
    for &b in mantissa {
        if b == b'.' {
            seen_point = true;
            continue;
        }
        if !seen_point {
            decpt += 1;
        }
        if leading && b == b'0' {
            decpt -= 1; // a leading zero moves the point, it is not a digit
            continue;
        }
        leading = false;
        if let Some(slot) = digits.get_mut(n) {
            *slot = b;
            n += 1;
        }
    }
    while n > 0 && digits.get(n - 1) == Some(&b'0') {
        n -= 1;
    }
    if n == 0 {
        // Zero: dtoa gives the digit "0" with the point after it.
        digits[0] = b'0';
        n = 1;
        decpt = 1;
    }
    let digits = digits.get(..n).unwrap_or_default();
    if negative {
        out.push(b'-');
    }
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_first().unwrap_or((&b'0', &[]));
        out.push(*first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        let e = decpt - 1;
        out.extend_from_slice(if e < 0 { b"e-" } else { b"e+" });
        if e.abs() < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(e.abs()).as_bytes());
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + decpt.unsigned_abs() as usize, b'0');
        out.extend_from_slice(digits);
    } else {
        let point = decpt as usize;
        if point >= n {
            out.extend_from_slice(digits);
            out.resize(out.len() + (point - n), b'0');
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(digits.get(..point).unwrap_or_default());
            out.push(b'.');
            out.extend_from_slice(digits.get(point..).unwrap_or_default());
        }
    }
}

fn encode(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> Result<(), Fallback> {
    if depth > MAX_DEPTH {
        return Err(Fallback);
    }
    if obj.is_none() {
        out.extend_from_slice(b"null");
    } else if obj.is_exact_instance_of::<PyString>() {
        let s = obj.cast::<PyString>().map_err(|_| Fallback)?;
        escape_into(&s.to_cow().map_err(|_| Fallback)?, out);
    } else if obj.is_exact_instance_of::<PyBool>() {
        out.extend_from_slice(if obj.is_truthy().map_err(|_| Fallback)? {
            b"true"
        } else {
            b"false"
        });
    } else if obj.is_exact_instance_of::<PyInt>() {
        // Overflow is reported in a flag, not as an `OverflowError`: creating an exception
        // object can start a garbage collection on 3.10/3.11, whose finalisers run Python code
        // in the middle of the walk (see the dict branch).
        let mut overflow: std::ffi::c_int = 0;
        #[allow(unsafe_code)]
        // SAFETY: `obj` is an exact int; `overflow` outlives the call.
        let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
        if overflow == 0 {
            if v == -1 && PyErr::occurred(obj.py()) {
                // Not reachable for an exact int; answered by the stdlib all the same.
                drop(PyErr::take(obj.py()));
                return Err(Fallback);
            }
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        } else {
            // Beyond 64 bits: the decimal text of `int.__str__` (a str, which is not tracked
            // by the garbage collector, so making it starts no collection).
            let s = obj.str().map_err(|_| Fallback)?;
            out.extend_from_slice(s.to_cow().map_err(|_| Fallback)?.as_bytes());
        }
    } else if obj.is_exact_instance_of::<PyFloat>() {
        let f = obj.cast::<PyFloat>().map_err(|_| Fallback)?;
        if !f.value().is_finite() {
            return Err(Fallback);
        }
        push_float_repr(f.value(), out);
    } else if obj.is_exact_instance_of::<PyDict>() {
        // pyo3's iterator holds each key and value by a strong reference. Borrowing them from
        // `PyDict_Next` was 10 % faster but unsound: a garbage collection started inside the
        // walk (3.10/3.11 start one when a tracked object such as an exception is allocated) can
        // run finalisers that change the dict and free what is being encoded
        // (docs/internals/benchmarks.md, "Strings and floats in the binding").
        let d = obj.cast::<PyDict>().map_err(|_| Fallback)?;
        out.push(b'{');
        let mut first = true;
        for (k, v) in d.iter() {
            if !k.is_exact_instance_of::<PyString>() {
                return Err(Fallback);
            }
            if !first {
                out.push(b',');
            }
            first = false;
            encode(&k, out, depth + 1)?;
            out.push(b':');
            encode(&v, out, depth + 1)?;
        }
        out.push(b'}');
    } else if obj.is_exact_instance_of::<PyList>() {
        let l = obj.cast::<PyList>().map_err(|_| Fallback)?;
        out.push(b'[');
        for (i, item) in l.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            encode(&item, out, depth + 1)?;
        }
        out.push(b']');
    } else if obj.is_exact_instance_of::<PyTuple>() {
        let t = obj.cast::<PyTuple>().map_err(|_| Fallback)?;
        out.push(b'[');
        for (i, item) in t.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            encode(&item, out, depth + 1)?;
        }
        out.push(b']');
    } else {
        return Err(Fallback);
    }
    Ok(())
}

fn stdlib_dumps<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Vec<u8>> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let dumps = DUMPS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("json")?.getattr("dumps")?.unbind())
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("allow_nan", false)?;
    // Types JSON has no spelling for (datetime, UUID, models, ...) go through the
    // framework's encoder (docs/internals/requests-responses.md, "Return values").
    if let Some(default) = JSON_DEFAULT.get(py) {
        kwargs.set_item("default", default.bind(py))?;
    }
    let text = dumps.bind(py).call((obj,), Some(&kwargs))?;
    let encoded = text.call_method1("encode", ("utf-8",))?;
    encoded.extract::<Vec<u8>>()
}

static JSON_DEFAULT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `set_json_default(func)`: the `default=` hook of the stdlib fallback, set once at
/// import by `viperhttp.encoders`; later calls are ignored (the hook is process-wide).
#[pyfunction]
pub fn set_json_default(py: Python<'_>, func: Bound<'_, PyAny>) -> PyResult<()> {
    if !func.is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err("callable required"));
    }
    let _ = JSON_DEFAULT.set(py, func.unbind());
    Ok(())
}

/// Encode `obj` as compact JSON into `out`.
pub fn dumps_into<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    out: &mut Vec<u8>,
) -> PyResult<()> {
    let start = out.len();
    if encode(obj, out, 0).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    out.extend_from_slice(&stdlib_dumps(py, obj)?);
    Ok(())
}

/// `json_dumps(obj) -> bytes`: compact JSON, byte-identical to the stdlib call above.
#[pyfunction]
pub fn json_dumps<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let mut out = Vec::with_capacity(64);
    dumps_into(py, obj, &mut out)?;
    Ok(pyo3::types::PyBytes::new(py, &out))
}
