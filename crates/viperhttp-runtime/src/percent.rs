//! Percent-decoding: the one implementation of the rules every URL component
//! follows (docs/internals/architecture.md, "One owner per rule"). Path
//! parameters (the binding's `routes.rs`), query strings and urlencoded forms
//! (Python, through `_native.percent_decode`) and static-file names
//! (`static_files`) all call these functions; the byte work is the
//! `percent-encoding` crate's.
//!
//! - `%XX` (hex, either case) → that byte; a `%` not followed by two hex digits
//!   stays as it is (docs/internals/requests-responses.md, query decoding).
//! - `+` → space only for query strings and forms (`plus_as_space`); in a path
//!   a `+` is a `+`.
//! - Text: invalid UTF-8 becomes U+FFFD ([`decode_lossy`]); static-file names
//!   instead refuse invalid escapes and invalid UTF-8 ([`decode_strict`], a
//!   file name must mean exactly one thing).

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// The decoded bytes of `raw`. Borrows when there is nothing to decode.
pub fn decode(raw: &[u8], plus_as_space: bool) -> Cow<'_, [u8]> {
    if plus_as_space && raw.contains(&b'+') {
        // `+` first, so an encoded `%2B` still decodes to `+`.
        let spaced: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        return Cow::Owned(percent_decode(&spaced).collect());
    }
    percent_decode(raw).into()
}

/// [`decode`], read as UTF-8 with U+FFFD for invalid sequences.
pub fn decode_lossy(raw: &[u8], plus_as_space: bool) -> Cow<'_, str> {
    match decode(raw, plus_as_space) {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// Strict decoding for names that must mean one thing (static-file segments):
/// `None` when a `%` does not start a two-hex-digit escape or the result is not
/// UTF-8. `+` stays `+`.
pub fn decode_strict(raw: &str) -> Option<Cow<'_, str>> {
    let escapes_ok = raw.split('%').skip(1).all(|rest| {
        rest.as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_ok {
        return None;
    }
    percent_decode(raw.as_bytes()).decode_utf8().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_in_either_case() {
        assert_eq!(&*decode(b"a%20b%2fc%2F", false), b"a b/c/");
        assert_eq!(decode_lossy(b"%C3%A9t%c3%a9", false), "été");
    }

    #[test]
    fn borrows_when_nothing_to_decode() {
        assert!(matches!(decode(b"plain", true), Cow::Borrowed(_)));
        assert!(matches!(decode_lossy(b"plain", false), Cow::Borrowed(_)));
        assert!(matches!(decode_strict("plain"), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn invalid_escapes_stay_as_they_are() {
        assert_eq!(&*decode(b"%", false), b"%");
        assert_eq!(&*decode(b"%4", false), b"%4");
        assert_eq!(&*decode(b"%zz%4g", false), b"%zz%4g");
        assert_eq!(&*decode(b"100%", false), b"100%");
        assert_eq!(&*decode(b"%%41", false), b"%A");
        assert_eq!(decode_lossy(b"a%2", true), "a%2");
    }

    #[test]
    fn plus_is_a_space_only_when_asked() {
        assert_eq!(decode_lossy(b"a+b%2B", true), "a b+");
        assert_eq!(decode_lossy(b"a+b%2B", false), "a+b+");
        assert_eq!(decode_strict("a+b").as_deref(), Some("a+b"));
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(decode_lossy(b"%FF", false), "\u{FFFD}");
        assert_eq!(decode_lossy(b"a%E2%82z", false), "a\u{FFFD}z");
        // Raw (unescaped) non-UTF-8 bytes too.
        assert_eq!(decode_lossy(b"\xff%41", false), "\u{FFFD}A");
    }

    #[test]
    fn strict_refuses_bad_escapes_and_bad_utf8() {
        assert_eq!(decode_strict("a%20b").as_deref(), Some("a b"));
        assert_eq!(decode_strict("%E2%9C%93").as_deref(), Some("✓"));
        assert_eq!(decode_strict("%"), None);
        assert_eq!(decode_strict("a%2"), None);
        assert_eq!(decode_strict("%zz"), None);
        assert_eq!(decode_strict("%FF"), None);
        assert_eq!(decode_strict("%2F").as_deref(), Some("/"));
    }
}
