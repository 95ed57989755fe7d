//! The first step of an `async def` handler's coroutine, for the bridge's eager start
//! (docs/internals/bridge.md, "Eager start").
//!
//! Written natively for one reason: Python code sees a coroutine return only as a
//! `StopIteration` it has to instantiate, attach a traceback to and catch, which was most
//! of what an `async def` hello cost beyond a sync one. Below Python 3.12 CPython leaves
//! the return value in the pending error uninstantiated, and C code reads it with one
//! fetch (3.12+ instantiates it; the value is then read from it, still without a traceback
//! or a Python `except`). The context is handled with the C API that
//! `contextvars.Context.run` itself uses: entered, the request's variable set in it, exited.

use std::ptr;

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyTuple};

// The context C API (https://docs.python.org/3/c-api/contextvars.html): public and unchanged
// since Python 3.7, but outside the limited API, so `pyo3::ffi` does not declare it for this
// abi3 build. Every CPython this wheel installs on (>= 3.10, Linux and macOS) exports these
// symbols; Windows' `python3.dll` would not, and the project builds no Windows wheel.
#[allow(unsafe_code)]
unsafe extern "C" {
    fn PyContext_Enter(ctx: *mut ffi::PyObject) -> std::ffi::c_int;
    fn PyContext_Exit(ctx: *mut ffi::PyObject) -> std::ffi::c_int;
    fn PyContextVar_Set(var: *mut ffi::PyObject, value: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

/// Runs one step of `coro` (`send(None)`) inside `ctx`, after setting `var` to `value` there.
///
/// Returns `(True, result)` when the coroutine returned `result`, or `(False, yielded)` when it
/// suspended on `yielded`; the caller resumes it inside `ctx`. An exception the coroutine
/// raises propagates; `ctx` keeps whatever the step set, so the caller can handle the error
/// in it. `ctx` must be a `contextvars.Context` that is not entered (else TypeError /
/// RuntimeError, as `Context.run` raises).
#[pyfunction]
pub(crate) fn _step_coroutine<'py>(
    py: Python<'py>,
    coro: &Bound<'py, PyAny>,
    ctx: &Bound<'py, PyAny>,
    var: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let send = intern!(py, "send");
    #[allow(unsafe_code)]
    // SAFETY: C-API calls with the GIL held (`py`) on live objects; `PyContext_Enter` and
    // `PyContextVar_Set` raise TypeError for objects of the wrong type. Each owned pointer is
    // wrapped in a `Bound` or released on its path; the context is exited on every path that
    // entered it, with any error still pending, as `Context.run` does; `stop_value` runs only
    // with a StopIteration pending.
    unsafe {
        if PyContext_Enter(ctx.as_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        let token = PyContextVar_Set(var.as_ptr(), value.as_ptr());
        let yielded = if token.is_null() {
            ptr::null_mut()
        } else {
            ffi::Py_DECREF(token);
            ffi::PyObject_CallMethodObjArgs(
                coro.as_ptr(),
                send.as_ptr(),
                ffi::Py_None(),
                ptr::null_mut::<ffi::PyObject>(),
            )
        };
        if PyContext_Exit(ctx.as_ptr()) != 0 {
            ffi::Py_XDECREF(yielded);
            return Err(PyErr::fetch(py));
        }
        if !yielded.is_null() {
            let yielded = Bound::from_owned_ptr(py, yielded);
            return PyTuple::new(py, [PyBool::new(py, false).to_owned().into_any(), yielded]);
        }
        if ffi::PyErr_ExceptionMatches(ffi::PyExc_StopIteration) == 0 {
            return Err(PyErr::fetch(py));
        }
        PyTuple::new(
            py,
            [PyBool::new(py, true).to_owned().into_any(), stop_value(py)],
        )
    }
}

/// Takes the pending `StopIteration` and returns the value the coroutine returned.
///
/// # Safety
/// A `StopIteration` must be pending and the GIL held.
#[allow(unsafe_code)]
unsafe fn stop_value(py: Python<'_>) -> Bound<'_, PyAny> {
    let (mut kind, mut val, mut tb) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    // SAFETY (and below): the caller's contract; every fetched pointer is owned and released.
    ffi::PyErr_Fetch(&mut kind, &mut val, &mut tb);
    ffi::Py_XDECREF(kind);
    ffi::Py_XDECREF(tb);
    if val.is_null() {
        return py.None().into_bound(py); // `return` / `return None`: no value was stored
    }
    let val = Bound::from_owned_ptr(py, val);
    if ffi::PyExceptionInstance_Check(val.as_ptr()) == 0 {
        return val; // not instantiated: the raw return value
    }
    // Instantiated (Python 3.12+ always; earlier for a tuple or exception result): its `.value`.
    match val.getattr(intern!(py, "value")) {
        Ok(inner) => inner,
        Err(_) => py.None().into_bound(py),
    }
}
