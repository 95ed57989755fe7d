//! Path parameters (docs/internals/framework.md#routing): the types a pattern may give a
//! parameter and the grammar each accepts, a pattern's parameter list, and the raw values a lookup
//! matched, kept inline so that a lookup never allocates.

use std::fmt;

use super::MAX_PARAMS;

/// Type of a path parameter (docs/internals/framework.md#routing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// `{x}` / `{x:str}`: one non-empty segment.
    Str,
    /// `{x:int}`: optional `-` then at least one ASCII digit.
    Int,
    /// `{x:float}`: optional `-`, digits, optional `.` followed by digits.
    Float,
    /// `{x:bool}`: `true/false/1/0/yes/no/on/off`, case-insensitive.
    Bool,
    /// `{x:path}`: the non-empty rest of the path, `/` included; last segment only.
    Path,
}

impl ParamKind {
    /// The type name used in patterns (`"str"`, `"int"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Str => "str",
            ParamKind::Int => "int",
            ParamKind::Float => "float",
            ParamKind::Bool => "bool",
            ParamKind::Path => "path",
        }
    }

    /// Parse a type name as written in a pattern (case-sensitive).
    pub fn from_name(name: &str) -> Option<ParamKind> {
        Some(match name {
            "str" => ParamKind::Str,
            "int" => ParamKind::Int,
            "float" => ParamKind::Float,
            "bool" => ParamKind::Bool,
            "path" => ParamKind::Path,
            _ => return None,
        })
    }

    /// Whether `value` (raw bytes of one segment, or of the rest for `Path`)
    /// fits this type.
    pub fn accepts(self, value: &[u8]) -> bool {
        match self {
            ParamKind::Str | ParamKind::Path => !value.is_empty(),
            ParamKind::Int => is_int(value),
            ParamKind::Float => is_float(value),
            ParamKind::Bool => parse_bool(value).is_some(),
        }
    }
}

/// `-`? digit+
fn is_int(value: &[u8]) -> bool {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// `-`? digit+ (`.` digit+)?
fn is_float(value: &[u8]) -> bool {
    let body = value.strip_prefix(b"-").unwrap_or(value);
    let mut parts = body.splitn(2, |&b| b == b'.');
    let all_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match (parts.next(), parts.next()) {
        (Some(int), None) => all_digits(int),
        (Some(int), Some(frac)) => all_digits(int) && all_digits(frac),
        _ => false,
    }
}

/// Parse a `bool` path value: `true/1/yes/on` → `true`, `false/0/no/off` →
/// `false` (ASCII case-insensitive); anything else → `None`.
pub fn parse_bool(value: &[u8]) -> Option<bool> {
    const TRUE: [&[u8]; 4] = [b"true", b"1", b"yes", b"on"];
    const FALSE: [&[u8]; 4] = [b"false", b"0", b"no", b"off"];
    if TRUE.iter().any(|t| value.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| value.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// A parameter of a pattern: its name and type, in pattern order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Parameter name (`[A-Za-z0-9_]{1,64}`).
    pub name: Box<str>,
    /// Parameter type.
    pub kind: ParamKind,
}

/// Raw matched parameter values, in pattern order, borrowed from the request
/// path (not percent-decoded). Inline storage: no heap allocation per lookup.
#[derive(Clone, Copy)]
pub struct ParamValues<'a> {
    values: [&'a [u8]; MAX_PARAMS],
    len: usize,
}

impl<'a> ParamValues<'a> {
    pub(super) fn new() -> Self {
        ParamValues {
            values: [&[]; MAX_PARAMS],
            len: 0,
        }
    }

    /// Append a value; `false` when already full.
    pub(super) fn push(&mut self, value: &'a [u8]) -> bool {
        match self.values.get_mut(self.len) {
            Some(slot) => {
                *slot = value;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `index`-th value.
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        self.as_slice().get(index).copied()
    }

    /// All values as a slice.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        self.values.get(..self.len).unwrap_or(&[])
    }

    /// Iterate over the values.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.as_slice().iter().copied()
    }
}

impl fmt::Debug for ParamValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}
