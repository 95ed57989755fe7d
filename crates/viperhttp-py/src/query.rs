//! Query strings: the one reader of their pairs (docs/internals/requests-responses.md#request).
//!
//! `request.query_params` (`parse_query_into`), `QueryParams.getlist` / `multi_items`
//! (`query_pairs`) and the typed routes' native conversion (`typed_params.rs`) all read a raw
//! query string through [`pairs`] and [`decode_component`], so they cannot disagree on which
//! value a name has.
//!
//! Rules: split on `&`, then at the first `=` (no `=`: the value is `""`); pairs with an empty
//! key are skipped; at most `limit` pairs are read; `+` is a space and `%XX` (either case) a
//! byte, a `%` not followed by two hex digits stays as it is, and the bytes are read as UTF-8
//! with U+FFFD for what is not (the one percent-decoder, `viperhttp_runtime::percent`).

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use viperhttp_runtime::percent;

/// The raw `(key, value)` pairs, in order, repeats included. A `limit` below 1 reads one pair
/// (the pair that reaches the limit is always read).
pub(crate) fn pairs(qs: &str, limit: usize) -> impl Iterator<Item = (&str, &str)> {
    qs.split('&')
        .filter_map(|segment| {
            let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
            (!key.is_empty()).then_some((key, value))
        })
        .take(limit.max(1))
}

/// A limit as Python passes it: any int; below 1 it reads one pair, as it always did.
fn limit_of(limit: i64) -> usize {
    usize::try_from(limit).unwrap_or(0)
}

/// True when no component of `qs` needs decoding (ASCII, no `%`, no `+`): its raw pairs are
/// its decoded pairs.
pub(crate) fn is_plain(qs: &str) -> bool {
    qs.is_ascii() && !qs.contains(['%', '+'])
}

/// One key or value, decoded.
pub(crate) fn decode_component(text: &str) -> Cow<'_, str> {
    if text.is_ascii() && !text.contains('%') {
        return if text.contains('+') {
            Cow::Owned(text.replace('+', " "))
        } else {
            Cow::Borrowed(text)
        };
    }
    Cow::Owned(percent::decode_lossy(&raw_bytes(text), true).into_owned())
}

/// The wire bytes of a component. The runtime hands the target over latin-1 decoded (one
/// char per byte), so the latin-1 view restores them; a str built by hand (tests,
/// `Request(...)`) may hold real Unicode instead: when the latin-1 view cannot be formed or
/// is not valid UTF-8, the text is taken as already decoded and its UTF-8 is used.
fn raw_bytes(text: &str) -> Cow<'_, [u8]> {
    let latin1: Option<Vec<u8>> = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    match latin1 {
        Some(bytes) if std::str::from_utf8(&bytes).is_ok() => Cow::Owned(bytes),
        _ => Cow::Borrowed(text.as_bytes()),
    }
}

/// `parse_query_into(qs, limit, out)`: fills `out` with the decoded pairs of `qs`, the first
/// occurrence of a name winning (what `request.query_params` holds).
#[pyfunction]
pub(crate) fn parse_query_into(
    qs: &Bound<'_, PyString>,
    limit: i64,
    out: &Bound<'_, PyDict>,
) -> PyResult<()> {
    let limit = limit_of(limit);
    let py = out.py();
    let text = qs.to_cow()?;
    let plain = is_plain(&text);
    for (key, value) in pairs(&text, limit) {
        let key = if plain {
            Cow::Borrowed(key)
        } else {
            decode_component(key)
        };
        let key = PyString::new(py, &key);
        if out.contains(&key)? {
            continue;
        }
        let value = if plain {
            Cow::Borrowed(value)
        } else {
            decode_component(value)
        };
        out.set_item(key, PyString::new(py, &value))?;
    }
    Ok(())
}

/// `query_pairs(qs, limit) -> [(key, value), ...]`: every decoded pair in order, repeats
/// included (`QueryParams.getlist` / `multi_items`).
#[pyfunction]
pub(crate) fn query_pairs(qs: &Bound<'_, PyString>, limit: i64) -> PyResult<Vec<(String, String)>> {
    let limit = limit_of(limit);
    let text = qs.to_cow()?;
    Ok(pairs(&text, limit)
        .map(|(key, value)| {
            (
                decode_component(key).into_owned(),
                decode_component(value).into_owned(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_follow_the_rules() {
        let got: Vec<_> = pairs("a=1&&=x&b&c=1=2&a=3", 64).collect();
        assert_eq!(got, [("a", "1"), ("b", ""), ("c", "1=2"), ("a", "3")]);
        // The limit counts pairs with a key.
        let got: Vec<_> = pairs("=0&a=1&b=2&c=3", 2).collect();
        assert_eq!(got, [("a", "1"), ("b", "2")]);
        let got: Vec<_> = pairs("a=1&b=2", 0).collect();
        assert_eq!(got, [("a", "1")]);
        assert_eq!(limit_of(-2), 0);
        assert_eq!(pairs("", 64).count(), 0);
    }

    #[test]
    fn components_decode_like_the_percent_owner() {
        assert_eq!(decode_component("a+b"), "a b");
        assert_eq!(decode_component("a%20b%2"), "a b%2");
        assert_eq!(decode_component("%C3%BC"), "ü");
        assert_eq!(decode_component("%FF"), "\u{FFFD}");
        // Latin-1 view of UTF-8 wire bytes (as the runtime hands them over) → the character.
        assert_eq!(decode_component("Ã¼"), "ü");
        // Real Unicode typed by hand stays itself.
        assert_eq!(decode_component("ü"), "ü");
        assert_eq!(decode_component("€+%41"), "€ A");
        assert!(
            is_plain("a=1&b=x") && !is_plain("a=%41") && !is_plain("a=b+c") && !is_plain("a=ü")
        );
    }
}
