//! `FastParams`: a typed route's path and query parameters converted natively
//! (docs/internals/typed-api.md#fast-path).
//!
//! The conversion plan is compiled once at registration (python/viperhttp/typed.py,
//! `_fast_plan`) for parameters typed `int`, `float`, `bool` or `str` without constraints, and
//! this module is its only implementation. It accepts only the canonical spelling of each
//! value and answers "no" for anything else, so the caller sends that source through pydantic,
//! whose results and 422s are the reference (tests/test_typed.py and
//! tests/test_typed_fast_params.py compare the two). A whole route's plan reads the raw query
//! string through `query.rs`, without building `request.query_params`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use crate::query;

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Float,
    Bool,
    Str,
}

struct Entry {
    in_query: bool,
    alias: Py<PyString>,
    alias_text: String,
    name: Py<PyString>,
    kind: Kind,
    default: Py<PyAny>,
    required: bool,
}

/// One route's compiled plan: `FastParams(entries, query_limit)`, each entry
/// `(in_query, alias, name, kind, default, required)` with `kind` one of `"int"`, `"float"`,
/// `"bool"`, `"str"`.
#[pyclass(frozen, module = "viperhttp._native")]
pub(crate) struct FastParams {
    entries: Vec<Entry>,
    query_limit: usize,
    /// Some entry reads the query (a path-only plan ignores the query string).
    has_query: bool,
}

type EntryArgs<'py> = (
    bool,
    Bound<'py, PyString>,
    Bound<'py, PyString>,
    String,
    Bound<'py, PyAny>,
    bool,
);

#[pymethods]
impl FastParams {
    #[new]
    fn new(entries: Vec<EntryArgs<'_>>, query_limit: usize) -> PyResult<Self> {
        let entries = entries
            .into_iter()
            .map(|(in_query, alias, name, kind, default, required)| {
                let kind = match kind.as_str() {
                    "int" => Kind::Int,
                    "float" => Kind::Float,
                    "bool" => Kind::Bool,
                    "str" => Kind::Str,
                    other => return Err(PyValueError::new_err(format!("unknown kind {other:?}"))),
                };
                Ok(Entry {
                    in_query,
                    alias_text: alias.to_cow()?.into_owned(),
                    alias: alias.unbind(),
                    name: name.unbind(),
                    kind,
                    default: default.unbind(),
                    required,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let has_query = entries.iter().any(|e: &Entry| e.in_query);
        Ok(Self {
            entries,
            query_limit,
            has_query,
        })
    }

    /// Converts every parameter into `kwargs` and returns True; False as soon as one value
    /// is missing and required or not canonical (the caller then fills the source again
    /// through pydantic). `query` is the raw query string, read as `request.query_params`
    /// would read it (False when it needs decoding: the caller then passes the mapping), or
    /// the `query_params` mapping itself (a dict; anything else: False).
    fn fill(
        &self,
        path_params: &Bound<'_, PyDict>,
        query: &Bound<'_, PyAny>,
        kwargs: &Bound<'_, PyDict>,
    ) -> PyResult<bool> {
        let py = kwargs.py();
        let raw = match query.cast::<PyString>() {
            Ok(q) if self.has_query => Some(q.to_cow()?),
            _ => None,
        };
        let map = query.cast::<PyDict>().ok();
        if raw.as_deref().is_some_and(|q| !query::is_plain(q)) {
            return Ok(false);
        }
        for entry in &self.entries {
            // Some(Some(v)): converted; Some(None): absent; None: present but not canonical.
            let value = match (&raw, entry.in_query) {
                (Some(raw), true) => match query::pairs(raw, self.query_limit)
                    .find(|(k, _)| *k == entry.alias_text)
                {
                    Some((_, text)) => convert_text(py, entry.kind, text, None).map(Some),
                    None => Some(None),
                },
                (None, true) => match map {
                    Some(map) => match map.get_item(entry.alias.bind(py))? {
                        Some(found) => convert_object(py, entry.kind, &found).map(Some),
                        None => Some(None),
                    },
                    None => return Ok(false), // bytes, or no query given: `query_params` decides
                },
                (_, false) => match path_params.get_item(entry.alias.bind(py))? {
                    Some(found) => convert_object(py, entry.kind, &found).map(Some),
                    None => Some(None),
                },
            };
            match value {
                None => return Ok(false),
                Some(Some(v)) => kwargs.set_item(entry.name.bind(py), v)?,
                Some(None) if entry.required => return Ok(false),
                Some(None) => kwargs.set_item(entry.name.bind(py), entry.default.bind(py))?,
            }
        }
        Ok(true)
    }
}

/// A value already in Python (a path parameter): the Python converters' rules.
fn convert_object<'py>(
    py: Python<'py>,
    kind: Kind,
    raw: &Bound<'py, PyAny>,
) -> Option<Bound<'py, PyAny>> {
    if let Ok(text) = raw.cast_exact::<PyString>() {
        return convert_text(py, kind, &text.to_cow().ok()?, Some(text));
    }
    let same = match kind {
        Kind::Int => raw.is_exact_instance_of::<PyInt>(),
        Kind::Float => raw.is_exact_instance_of::<PyFloat>(),
        Kind::Bool => raw.is_exact_instance_of::<PyBool>(),
        Kind::Str => false,
    };
    same.then(|| raw.clone())
}

/// Text to the parameter's type; None when the spelling is not the canonical one.
fn convert_text<'py>(
    py: Python<'py>,
    kind: Kind,
    text: &str,
    original: Option<&Bound<'py, PyString>>,
) -> Option<Bound<'py, PyAny>> {
    match kind {
        Kind::Int => canonical_int(text)
            .then(|| text.parse::<i64>().ok())?
            .map(|n| PyInt::new(py, n).into_any()),
        Kind::Float => {
            let (whole, frac) = match text.split_once('.') {
                Some((whole, frac)) => (whole, Some(frac)),
                None => (text, None),
            };
            let frac_ok = frac.is_none_or(|f| {
                !f.is_empty() && f.len() <= 15 && f.bytes().all(|b| b.is_ascii_digit())
            });
            (canonical_int(whole) && frac_ok)
                .then(|| text.parse::<f64>().ok())?
                .map(|x| PyFloat::new(py, x).into_any())
        }
        Kind::Bool => {
            let value = match text {
                "true" | "1" | "yes" | "on" | "t" | "y" => true,
                "false" | "0" | "no" | "off" | "f" | "n" => false,
                _ => return None,
            };
            Some(PyBool::new(py, value).to_owned().into_any())
        }
        Kind::Str => Some(match original {
            Some(s) => s.clone().into_any(),
            None => PyString::new(py, text).into_any(),
        }),
    }
}

/// `-?(0|[1-9][0-9]{0,14})`: the spelling an int or a float's whole part must have.
fn canonical_int(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.len() <= 15
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ints() {
        for ok in ["0", "7", "-0", "-12", "123456789012345"] {
            assert!(canonical_int(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            "01",
            "-01",
            "1234567890123456",
            "1e3",
            " 1",
            "²",
            "+1",
            "1_0",
        ] {
            assert!(!canonical_int(bad), "{bad}");
        }
    }
}
