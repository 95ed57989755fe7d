//! The `Range` header for static files (docs/internals/static-files.md#responses).
//!
//! A small parser instead of `http-range-header`: that crate accepts and
//! returns multi-range requests (the documented rule is 416 for any `,`), validates
//! overlaps and formats by its own rules, and reports `bytes=-0`, `a > b` and
//! unknown units as the same kind of error, while the documented rule needs "ignored"
//! (unit is not `bytes=`) apart from 416. The documented grammar is three forms of
//! one range, which fit in a few careful lines.

/// What to do with a `Range` header value for a representation of `size`
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeOutcome {
    /// Not a `bytes=` range: serve the full 200 (host decision).
    Ignore,
    /// 416 with `Content-Range: bytes */size`: multi-range, malformed after
    /// `bytes=`, `a > b`, start past the end, `bytes=-0`, or an empty file.
    Unsatisfiable,
    /// 206 for the inclusive byte range `start..=end` (end clamped to
    /// `size - 1`).
    Satisfiable {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
}

/// Parse a decimal position. `None` for an empty string or a non-digit;
/// values too large for `u64` saturate (they are past any file's end).
fn parse_pos(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

/// Evaluate one `Range` header value (docs/internals/static-files.md#responses): single
/// `bytes=a-b`, `bytes=a-` or `bytes=-n`. The unit is compared case-insensitively (RFC 9110 §14.1:
/// range units are case-insensitive); whitespace around the value and around the two numbers is
/// tolerated.
pub(crate) fn evaluate(value: &str, size: u64) -> RangeOutcome {
    let value = value.trim();
    let Some(spec) = value
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .and_then(|_| value.get(6..))
    else {
        return RangeOutcome::Ignore;
    };
    if spec.contains(',') {
        return RangeOutcome::Unsatisfiable;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeOutcome::Unsatisfiable;
    };
    let (first, last) = (first.trim(), last.trim());
    if size == 0 {
        return RangeOutcome::Unsatisfiable;
    }
    let last_byte = size - 1;
    if first.is_empty() {
        // Suffix range: the last n bytes (all of them when n > size).
        return match parse_pos(last) {
            Some(0) | None => RangeOutcome::Unsatisfiable,
            Some(n) => RangeOutcome::Satisfiable {
                start: size.saturating_sub(n),
                end: last_byte,
            },
        };
    }
    let Some(start) = parse_pos(first) else {
        return RangeOutcome::Unsatisfiable;
    };
    let end = if last.is_empty() {
        last_byte
    } else {
        match parse_pos(last) {
            Some(b) if b >= start => b.min(last_byte),
            _ => return RangeOutcome::Unsatisfiable,
        }
    };
    if start > last_byte {
        return RangeOutcome::Unsatisfiable;
    }
    RangeOutcome::Satisfiable { start, end }
}

#[cfg(test)]
mod tests {
    use super::RangeOutcome::{Ignore, Satisfiable, Unsatisfiable};
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(
            evaluate("bytes=0-63", 100),
            Satisfiable { start: 0, end: 63 }
        );
        assert_eq!(
            evaluate("bytes=10-", 100),
            Satisfiable { start: 10, end: 99 }
        );
        assert_eq!(
            evaluate("bytes=-32", 100),
            Satisfiable { start: 68, end: 99 }
        );
        assert_eq!(
            evaluate("bytes=99-99", 100),
            Satisfiable { start: 99, end: 99 }
        );
        assert_eq!(evaluate("bytes=5-5", 100), Satisfiable { start: 5, end: 5 });
        assert_eq!(
            evaluate(" Bytes= 1 - 2 ", 100),
            Satisfiable { start: 1, end: 2 }
        );
    }

    #[test]
    fn clamping() {
        // End past the file is clamped; a suffix longer than the file is the whole file.
        assert_eq!(
            evaluate("bytes=0-999999", 100),
            Satisfiable { start: 0, end: 99 }
        );
        assert_eq!(
            evaluate("bytes=-500", 100),
            Satisfiable { start: 0, end: 99 }
        );
        assert_eq!(
            evaluate("bytes=0-99999999999999999999999", 100),
            Satisfiable { start: 0, end: 99 }
        );
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(evaluate("bytes=999999999-", 100), Unsatisfiable);
        assert_eq!(evaluate("bytes=100-", 100), Unsatisfiable);
        assert_eq!(evaluate("bytes=0-3,8-15", 100), Unsatisfiable);
        assert_eq!(evaluate("bytes=-0", 100), Unsatisfiable);
        assert_eq!(evaluate("bytes=5-4", 100), Unsatisfiable);
        assert_eq!(evaluate("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(evaluate("bytes=-5", 0), Unsatisfiable);
        assert_eq!(evaluate("bytes=0-", 0), Unsatisfiable);
        assert_eq!(
            evaluate("bytes=99999999999999999999999-", 100),
            Unsatisfiable
        );
    }

    #[test]
    fn malformed_after_unit_is_416() {
        for v in [
            "bytes=",
            "bytes=-",
            "bytes=abc",
            "bytes=1",
            "bytes=a-5",
            "bytes=1-b",
            "bytes=+1-2",
            "bytes=1-2-3",
            "bytes=--1",
        ] {
            assert_eq!(evaluate(v, 100), Unsatisfiable, "{v}");
        }
    }

    #[test]
    fn other_units_are_ignored() {
        assert_eq!(evaluate("items=0-5", 100), Ignore);
        assert_eq!(evaluate("bytes 0-5", 100), Ignore);
        assert_eq!(evaluate("", 100), Ignore);
        assert_eq!(evaluate("byte", 100), Ignore);
        // Non-ASCII right at the unit boundary must not panic.
        assert_eq!(evaluate("bytesé0-5", 100), Ignore);
    }
}
