//! Parsing and validating a route pattern at registration (docs/internals/framework.md#routing):
//! literal segments come out canonical, parameters with their name and type. Syntax and limit
//! errors are found here, before the writer lock is taken; a conflict with a registered route is
//! found by `insert.rs`.

use super::canonical::canonicalize;
use super::params::{ParamKind, ParamSpec};
use super::{RouteError, MAX_PARAMS, MAX_PARAM_NAME_LEN, MAX_SEGMENT_LEN};

#[derive(Debug)]
pub(super) enum PatternSegment {
    /// Canonical literal bytes.
    Literal(Vec<u8>),
    Param(ParamSpec),
}

fn valid_param_name(name: &str) -> bool {
    (1..=MAX_PARAM_NAME_LEN).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parse and validate a route pattern (docs/internals/framework.md#routing).
pub(super) fn parse_pattern(pattern: &str) -> Result<Vec<PatternSegment>, RouteError> {
    let rest = pattern.strip_prefix('/').unwrap_or(pattern);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(RouteError::Invalid);
    }
    let mut out = Vec::new();
    let mut param_count = 0usize;
    let mut raw_segments = rest.split('/').peekable();
    while let Some(raw) = raw_segments.next() {
        let is_last = raw_segments.peek().is_none();
        if raw.is_empty() {
            return Err(RouteError::Invalid);
        }
        let inner = raw.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        if let Some(inner) = inner {
            let (name, kind) = match inner.split_once(':') {
                Some((name, type_name)) => (
                    name,
                    ParamKind::from_name(type_name).ok_or(RouteError::Invalid)?,
                ),
                None => (inner, ParamKind::Str),
            };
            if !valid_param_name(name) {
                return Err(RouteError::Invalid);
            }
            if kind == ParamKind::Path && !is_last {
                return Err(RouteError::Unsupported);
            }
            let duplicate = out
                .iter()
                .any(|s| matches!(s, PatternSegment::Param(p) if &*p.name == name));
            if duplicate {
                return Err(RouteError::Invalid);
            }
            param_count += 1;
            if param_count > MAX_PARAMS {
                return Err(RouteError::TooLarge);
            }
            out.push(PatternSegment::Param(ParamSpec {
                name: name.into(),
                kind,
            }));
        } else {
            if raw.contains(['{', '}']) {
                return Err(RouteError::Invalid);
            }
            if raw.len() > MAX_SEGMENT_LEN {
                return Err(RouteError::TooLarge);
            }
            out.push(PatternSegment::Literal(canonicalize(raw.as_bytes())));
        }
    }
    Ok(out)
}
