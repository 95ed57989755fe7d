//! Request-target forms and authority syntax (docs/internals/http.md, RFC 9112 §3.2, RFC 3986
//! §3.2.2): whether a target is origin-form, absolute-form, the asterisk or a CONNECT target, and
//! whether a `uri-host [":" port]` is valid. Kept apart from the scanner (`parse.rs`) because it is pure
//! syntax over one slice, shared by the request line, the Host rule (`field_rules.rs`) and the
//! router's `pchar` check.

use std::net::Ipv6Addr;

use super::parse::{MethodKind, Rejection};

/// hyper keeps URI offsets in a u16 and answers longer targets itself.
pub(crate) const MAX_HYPER_URI: usize = u16::MAX as usize - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TargetForm {
    Origin,
    Asterisk,
    /// `http(s)://authority/path?q`: byte ranges of the authority and of `path?q`.
    Absolute {
        auth: (usize, usize),
        path: (usize, usize),
    },
    /// Any valid target of a CONNECT request (the service answers 405).
    Connect,
}

/// An origin-form target of letters, digits, `/-._~%=&+,` and at most one `?`: a strict subset of
/// what `http::Uri` accepts in a path and a query (written by hand because `http` has no
/// check that borrows; `tests::plain_origin_is_a_subset_of_http_uri` holds it to that).
pub(super) fn plain_origin(target: &[u8]) -> bool {
    let mut query = false;
    target.first() == Some(&b'/')
        && target.iter().all(|&b| match b {
            b'?' if !query => {
                query = true;
                true
            }
            b'/' | b'-' | b'.' | b'_' | b'~' | b'%' | b'=' | b'&' | b'+' | b',' => true,
            _ => b.is_ascii_alphanumeric(),
        })
}

/// Classify a request-target (RFC 9112 §3.2). Ranges are target-relative.
pub(super) fn classify_target(method: MethodKind, target: &[u8]) -> Result<TargetForm, Rejection> {
    if target.len() > MAX_HYPER_URI {
        return Err(Rejection::uri_too_long("request-target over hyper's limit"));
    }
    // hyper parses the target with `http::Uri`; what it refuses is a 400 here. That parse
    // copies the target into a new allocation first, so the common plain origin-form target
    // skips it: `plain_origin` only passes bytes `http::Uri` accepts.
    if !plain_origin(target) && http::Uri::try_from(target).is_err() {
        return Err(Rejection::bad("invalid request-target"));
    }
    if target == b"*" {
        return match method {
            MethodKind::Options => Ok(TargetForm::Asterisk),
            _ => Err(Rejection::bad(
                "asterisk-form with a method other than OPTIONS",
            )),
        };
    }
    if method == MethodKind::Connect {
        return Ok(TargetForm::Connect);
    }
    if target.first() == Some(&b'/') {
        return Ok(TargetForm::Origin);
    }
    // absolute-form
    let colon = target
        .iter()
        .position(|&b| b == b':')
        .ok_or(Rejection::bad(
            "request-target is neither origin- nor absolute-form",
        ))?;
    let scheme = target.get(..colon).unwrap_or_default();
    if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
        return Err(Rejection::bad(
            "absolute-form with a scheme other than http/https",
        ));
    }
    let after = target.get(colon + 1..).unwrap_or_default();
    if !after.starts_with(b"//") {
        return Err(Rejection::bad("absolute-form without an authority"));
    }
    let auth_start = colon + 3;
    let rest = target.get(auth_start..).unwrap_or_default();
    let auth_len = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let auth_end = auth_start + auth_len;
    if !valid_authority(target.get(auth_start..auth_end).unwrap_or_default(), false) {
        return Err(Rejection::bad("absolute-form with an invalid authority"));
    }
    if target.get(auth_end) != Some(&b'/') {
        return Err(Rejection::bad("absolute-form without a path"));
    }
    // http::Uri drops a fragment; so does the origin-form path handed on.
    let path_end = target
        .get(auth_end..)
        .and_then(|p| p.iter().position(|&b| b == b'#'))
        .map_or(target.len(), |p| auth_end + p);
    Ok(TargetForm::Absolute {
        auth: (auth_start, auth_end),
        path: (auth_end, path_end),
    })
}

/// `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2): no userinfo, a
/// non-empty all-digit port after a colon. `allow_empty`: an empty `Host`
/// value is valid syntax.
pub(crate) fn valid_authority(v: &[u8], allow_empty: bool) -> bool {
    let port = match v.first() {
        None => return allow_empty,
        Some(b'[') => {
            let Some(close) = v.iter().position(|&b| b == b']') else {
                return false;
            };
            if !valid_ip_literal(v.get(1..close).unwrap_or_default()) {
                return false;
            }
            match v.get(close + 1..).unwrap_or_default() {
                [] => return true,
                [b':', port @ ..] => port,
                _ => return false,
            }
        }
        Some(_) => {
            let (host, port) = match v.iter().position(|&b| b == b':') {
                Some(p) => (v.get(..p).unwrap_or_default(), v.get(p + 1..)),
                None => (v, None),
            };
            if host.is_empty() || !valid_reg_name(host) {
                return false;
            }
            match port {
                None => return true,
                Some(port) => port,
            }
        }
    };
    !port.is_empty() && port.iter().all(u8::is_ascii_digit)
}

/// RFC 3986 unreserved / sub-delims (also used by the router's `pchar`).
pub(crate) fn is_unreserved_or_sub_delim(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// reg-name / IPv4address: unreserved, sub-delims, pct-encoded.
fn valid_reg_name(host: &[u8]) -> bool {
    let mut it = host.iter();
    while let Some(&b) = it.next() {
        if b == b'%' {
            let ok = matches!((it.next(), it.next()), (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit());
            if !ok {
                return false;
            }
        } else if !is_unreserved_or_sub_delim(b) {
            return false;
        }
    }
    true
}

/// The inside of `[...]`: an IPv6 address or IPvFuture (no zone id).
fn valid_ip_literal(inner: &[u8]) -> bool {
    match inner {
        [b'v' | b'V', rest @ ..] => {
            let Some(dot) = rest.iter().position(|&b| b == b'.') else {
                return false;
            };
            let (ver, tail) = rest.split_at(dot);
            let tail = tail.get(1..).unwrap_or_default();
            !ver.is_empty()
                && ver.iter().all(u8::is_ascii_hexdigit)
                && !tail.is_empty()
                && tail
                    .iter()
                    .all(|&b| is_unreserved_or_sub_delim(b) || b == b':')
        }
        _ => std::str::from_utf8(inner)
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .is_some(),
    }
}
