//! Request headers read straight from the IPC record's header blob
//! (docs/internals/requests-responses.md#request).
//!
//! `request.first_header` asks for one header (a typed JSON body route asks only for
//! `Content-Type`) before, or instead of, building `request.headers`: scanning the blob here
//! costs ~0.1 µs where the same scan in Python cost ~0.6 µs per request. The blob is walked by
//! the IPC crate's own reader (`viperhttp_ipc::blob::request_headers`), so a value that spells a
//! name is never taken for it.

use pyo3::prelude::*;
use pyo3::types::PyString;

/// `first_header(blob, name) -> str | None`: the first value of header `name` (lower-case, as
/// the blob holds names) in a `name\0value\0…` blob; UTF-8, else latin-1 (byte for byte), as
/// `request.headers` decodes a value.
#[pyfunction]
pub fn first_header<'py>(
    py: Python<'py>,
    blob: &[u8],
    name: &[u8],
) -> Option<Bound<'py, PyString>> {
    let value = viperhttp_ipc::blob::request_headers(blob)
        .map_while(Result::ok)
        .find(|(n, _)| *n == name)?
        .1;
    Some(match std::str::from_utf8(value) {
        Ok(text) => PyString::new(py, text),
        Err(_) => {
            let latin1: String = value.iter().map(|&b| char::from(b)).collect();
            PyString::new(py, &latin1)
        }
    })
}
