//! `FastParams`: a typed route's path and query parameters converted natively
//! (docs/internals/typed-api.md#fast-path).
//!
//! The conversion plan is compiled once at registration (python/viperhttp/typed.py,
//! `_fast_plan`) for parameters typed `int`, `float`, `bool` or `str` without constraints.
//! Per request this module does what that plan's Python converters do, without the
//! interpreter: it reads the query string without building `request.query_params`, accepts
//! only the canonical spelling of each value, and answers "no" for anything else, so the
//! caller falls back to the Python plan and pydantic (whose results and 422s are the
//! reference). The rules here and the Python converters are one table, checked against each
//! other and against pydantic by tests/test_typed.py.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

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
}

type EntryArgs<'py> = (bool, Bound<'py, PyString>, Bound<'py, PyString>, String, Bound<'py, PyAny>, bool);

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
        Ok(Self { entries, query_limit })
    }

    /// Converts every parameter into `kwargs` and returns True; False as soon as one value
    /// is missing and required, not canonical, or the query string needs decoding (the
    /// caller then fills every parameter again through the Python plan).
    fn fill(
        &self,
        path_params: &Bound<'_, PyDict>,
        query: &Bound<'_, PyAny>,
        kwargs: &Bound<'_, PyDict>,
    ) -> PyResult<bool> {
        let py = kwargs.py();
        // The Python plan's fast query path: ASCII and nothing to decode.
        let query = match query.cast::<PyString>() {
            Ok(q) => q.to_cow()?,
            Err(_) => return Ok(false),
        };
        if !query.is_ascii() || query.contains(['%', '+']) {
            return Ok(false);
        }
        for entry in &self.entries {
            // Some(Some(v)): converted; Some(None): absent; None: present but not canonical.
            let value = if entry.in_query {
                match first_value(&query, &entry.alias_text, self.query_limit) {
                    Some(text) => convert_text(py, entry.kind, text, None).map(Some),
                    None => Some(None),
                }
            } else {
                match path_params.get_item(entry.alias.bind(py))? {
                    Some(raw) => convert_object(py, entry.kind, &raw).map(Some),
                    None => Some(None),
                }
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

/// The first value of `alias` in a raw query string, with `request.query_params`' rules:
/// pairs split on `&` and at the first `=` (no `=`: the value is `""`), empty keys skipped,
/// the first occurrence wins, at most `limit` pairs read.
fn first_value<'q>(query: &'q str, alias: &str, limit: usize) -> Option<&'q str> {
    let mut count = 0;
    for segment in query.split('&') {
        let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
        if key.is_empty() {
            continue;
        }
        if key == alias {
            return Some(value);
        }
        count += 1;
        if count >= limit {
            break;
        }
    }
    None
}

/// A value already in Python (a path parameter): the Python converters' rules.
fn convert_object<'py>(py: Python<'py>, kind: Kind, raw: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
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
        Kind::Int => canonical_int(text).then(|| text.parse::<i64>().ok())?.map(|n| PyInt::new(py, n).into_any()),
        Kind::Float => {
            let (whole, frac) = match text.split_once('.') {
                Some((whole, frac)) => (whole, Some(frac)),
                None => (text, None),
            };
            let frac_ok = frac.is_none_or(|f| !f.is_empty() && f.len() <= 15 && f.bytes().all(|b| b.is_ascii_digit()));
            (canonical_int(whole) && frac_ok).then(|| text.parse::<f64>().ok())?.map(|x| PyFloat::new(py, x).into_any())
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
        for bad in ["", "-", "01", "-01", "1234567890123456", "1e3", " 1", "²", "+1", "1_0"] {
            assert!(!canonical_int(bad), "{bad}");
        }
    }

    #[test]
    fn first_value_follows_the_query_params_rules() {
        assert_eq!(first_value("a=1&b=2", "b", 64), Some("2"));
        assert_eq!(first_value("b=1&b=2", "b", 64), Some("1"));
        assert_eq!(first_value("b&c=1", "b", 64), Some(""));
        assert_eq!(first_value("=x&&b=2", "b", 64), Some("2"));
        assert_eq!(first_value("b=1=2", "b", 64), Some("1=2"));
        assert_eq!(first_value("a=1&b=2", "c", 64), None);
        // The limit counts pairs with a key; the limit-th pair is still read.
        assert_eq!(first_value("a=1&b=2&c=3", "b", 2), Some("2"));
        assert_eq!(first_value("a=1&b=2&c=3", "c", 2), None);
        assert_eq!(first_value("", "a", 64), None);
    }
}
