//! Native CORS (`crates/viperhttp-runtime/src/cors.rs`,
//! docs/internals/cors-hosts-ratelimit.md#cors-corsrs) on arbitrary `Origin` / request-header
//! bytes.
//!
//! * `CorsConfig::new` on arbitrary strings never panics; it fails only with
//!   the documented limit / invalid-value / invalid-origin errors, and refuses
//!   any origin with credentials.
//! * `origin_allowed` agrees with the documented rule (docs/internals/cors-hosts-ratelimit.md):
//!   `*` → any; a listed origin is allowed byte for byte; anything else allowed
//!   is a bare `scheme://host[:port]` (no path, query, fragment or userinfo) or
//!   a listed `null`.
//! * `evaluate` is consistent: no / empty `Origin` → `NotCors` when every
//!   origin gets `*`, else `Vary: Origin` alone; a preflight
//!   (`OPTIONS` + non-empty `Access-Control-Request-Method`) is answered 204
//!   with the preflight headers when allowed and 403 without any CORS header
//!   otherwise; a simple request gets CORS headers iff the origin is allowed,
//!   and a refused one `Vary: Origin` alone when the answer depends on the origin;
//!   `Access-Control-Allow-Origin` is `*` only for any-origin without
//!   credentials, else the exact `Origin` echoed with `Vary: Origin`;
//!   `apply` never duplicates an existing `Access-Control-Allow-Origin`.
#![no_main]

use arbitrary::Arbitrary;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use viperhttp_runtime::cors::{
    CorsConfig, CorsConfigError, CorsOutcome, DEFAULT_ALLOW_METHODS, MAX_HEADERS_LEN,
    MAX_METHODS_LEN, MAX_ORIGINS, MAX_ORIGIN_LEN,
};

const FIXED_ORIGINS: &[&str] = &[
    "https://example.com",
    "*.example.org",
    "http://localhost:8000",
    "*",
    "null",
];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    origin_mask: u8,
    origins: Vec<String>,
    methods: String,
    headers: String,
    credentials: bool,
    expose: Option<String>,
    max_age: u32,
    requests: Vec<Req<'a>>,
}

#[derive(Arbitrary, Debug)]
struct Req<'a> {
    options: bool,
    origin: Option<&'a [u8]>,
    acrm: Option<&'a [u8]>,
    acrh: Option<&'a [u8]>,
    preexisting_acao: bool,
}

/// Properties of `origin_allowed` that hold whatever the rules: the parts of the
/// rule a raw-bytes suffix compare used to get wrong.
fn check_allowed(origins: &[String], origin: &[u8], allowed: bool) {
    if origins.iter().any(|o| o == "*") {
        assert!(allowed, "any origin");
        return;
    }
    if origins.iter().any(|o| !o.contains('*') && o.as_bytes() == origin) {
        assert!(allowed, "a listed origin byte for byte");
    }
    if !allowed {
        return;
    }
    if origin == b"null" {
        assert!(origins.iter().any(|o| o == "null"), "null only when listed");
        return;
    }
    let s = std::str::from_utf8(origin).expect("allowed origins are UTF-8");
    let (_, rest) = s.split_once("://").expect("allowed origins have a scheme");
    assert!(
        !rest.contains(['/', '?', '#', '@', ' ']),
        "allowed origin with a path, query, fragment or userinfo: {s}"
    );
}

fn header_ok(s: &str) -> bool {
    HeaderValue::from_str(s.trim()).is_ok()
}

fuzz_target!(|input: Input<'_>| {
    let mut origins: Vec<String> = FIXED_ORIGINS
        .iter()
        .enumerate()
        .filter(|(i, _)| input.origin_mask & (1 << i) != 0)
        .map(|(_, o)| o.to_string())
        .collect();
    origins.extend(input.origins.iter().take(4).cloned());

    let too_long = origins.len() > MAX_ORIGINS
        || origins.iter().any(|o| o.len() >= MAX_ORIGIN_LEN)
        || input.methods.len() >= MAX_METHODS_LEN
        || input.headers.len() >= MAX_HEADERS_LEN
        || input
            .expose
            .as_ref()
            .is_some_and(|e| e.len() >= MAX_HEADERS_LEN);
    let star = |s: &str| s.split(',').any(|i| i.trim() == "*");
    let cfg = CorsConfig::new(
        origins.clone(),
        input.methods.clone(),
        input.headers.clone(),
        input.credentials,
        input.expose.clone(),
        input.max_age,
    );
    let cfg = match cfg {
        Ok(c) => {
            assert!(!too_long, "over-long value accepted");
            c
        }
        Err(CorsConfigError::TooLong) => {
            assert!(too_long, "TooLong without a long value");
            return;
        }
        Err(CorsConfigError::InvalidValue) => {
            assert!(!too_long);
            let bad = (!star(&input.methods) && !header_ok(&input.methods))
                || (!star(&input.headers) && !header_ok(&input.headers))
                || input.expose.as_deref().is_some_and(|e| !header_ok(e));
            assert!(bad, "InvalidValue for valid values");
            return;
        }
        Err(CorsConfigError::WildcardWithCredentials) => {
            assert!(input.credentials && origins.iter().any(|o| o == "*"));
            return;
        }
        Err(CorsConfigError::InvalidOrigin(entry)) => {
            assert!(entry != "*" && entry != "null" && origins.contains(&entry));
            return;
        }
        Err(e) => panic!("undocumented error {e:?}"),
    };
    let any_origin = origins.iter().any(|o| o == "*");
    let any_headers = star(&input.headers);

    for req in input.requests.iter().take(6) {
        if let Some(o) = req.origin {
            check_allowed(&origins, o, cfg.origin_allowed(o));
        }
        let method = if req.options {
            Method::OPTIONS
        } else {
            Method::GET
        };
        let mut h = HeaderMap::new();
        let mut put = |name, v: Option<&[u8]>| -> Option<HeaderValue> {
            let v = HeaderValue::from_bytes(v?).ok()?;
            h.insert(name, v.clone());
            Some(v)
        };
        let origin = put(ORIGIN, req.origin);
        let acrm = put(ACCESS_CONTROL_REQUEST_METHOD, req.acrm);
        let acrh = put(ACCESS_CONTROL_REQUEST_HEADERS, req.acrh);
        let outcome = cfg.evaluate(&method, &h);
        let echo = !any_origin || input.credentials;
        let Some(origin) = origin.filter(|o| !o.is_empty()) else {
            match outcome {
                CorsOutcome::NotCors => assert!(!echo, "no Vary: Origin though the answer varies"),
                CorsOutcome::Simple(ref ch) => {
                    assert!(echo && ch.allow_origin().is_none(), "no Origin but {outcome:?}")
                }
                _ => panic!("no Origin but {outcome:?}"),
            }
            continue;
        };
        let allowed = cfg.origin_allowed(origin.as_bytes());
        check_allowed(&origins, origin.as_bytes(), allowed);
        let preflight = req.options && acrm.as_ref().is_some_and(|v| !v.is_empty());
        match outcome {
            CorsOutcome::NotCors => {
                assert!(!allowed && !preflight && !echo, "Origin present but NotCors")
            }
            CorsOutcome::Preflight(resp) => {
                assert!(preflight, "preflight answer for a non-preflight");
                let rh = resp.headers();
                if !allowed {
                    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
                    assert!(rh.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
                    assert!(rh.get(ACCESS_CONTROL_ALLOW_METHODS).is_none());
                    continue;
                }
                assert_eq!(resp.status(), StatusCode::NO_CONTENT);
                let acao = rh.get(ACCESS_CONTROL_ALLOW_ORIGIN).expect("ACAO");
                if echo {
                    assert_eq!(acao, &origin, "origin not echoed");
                    assert!(rh.get_all(VARY).iter().any(|v| v == "Origin"));
                } else {
                    assert_eq!(acao, "*");
                }
                assert_eq!(
                    rh.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_some(),
                    input.credentials
                );
                let methods = rh.get(ACCESS_CONTROL_ALLOW_METHODS).expect("allow methods");
                if star(&input.methods) {
                    assert_eq!(methods, DEFAULT_ALLOW_METHODS);
                }
                let allow_headers = rh.get(ACCESS_CONTROL_ALLOW_HEADERS).expect("allow headers");
                match &acrh {
                    Some(req_h) if any_headers && input.credentials && !req_h.is_empty() => {
                        assert_eq!(allow_headers, req_h, "requested headers not echoed")
                    }
                    _ if any_headers => assert_eq!(allow_headers, "*"),
                    _ => {}
                }
                assert_eq!(rh.get(ACCESS_CONTROL_MAX_AGE).is_some(), input.max_age > 0);
            }
            CorsOutcome::Simple(headers) => {
                assert!(!preflight, "preflight not answered");
                let ch = headers;
                assert_eq!(ch.allow_origin().is_some(), allowed, "simple-request decision");
                assert!(allowed || echo, "a refused origin's Vary where nothing varies");
                match ch.allow_origin() {
                    Some(acao) if echo => assert_eq!(acao, &origin),
                    Some(acao) => assert_eq!(acao, "*"),
                    None => {}
                }
                let mut resp_h = HeaderMap::new();
                if req.preexisting_acao {
                    resp_h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("x"));
                }
                resp_h.append(VARY, HeaderValue::from_static("Accept-Encoding"));
                ch.apply(&mut resp_h);
                let acao: Vec<_> = resp_h.get_all(ACCESS_CONTROL_ALLOW_ORIGIN).iter().collect();
                if req.preexisting_acao {
                    assert_eq!(acao, ["x"], "Python's own ACAO overwritten or duplicated");
                } else if ch.allow_origin().is_none() {
                    assert!(acao.is_empty(), "CORS headers for a refused origin");
                    let vary: Vec<_> = resp_h.get_all(VARY).iter().collect();
                    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
                    assert_eq!(resp_h.len(), 2, "only Vary for a refused origin");
                } else if let Some(allow_origin) = ch.allow_origin() {
                    assert_eq!(acao.len(), 1, "duplicate Access-Control-Allow-Origin");
                    assert_eq!(acao[0], allow_origin);
                    assert!(resp_h.get_all(VARY).iter().any(|v| v == "Accept-Encoding"));
                    assert_eq!(
                        resp_h.get_all(VARY).iter().any(|v| v == "Origin"),
                        echo,
                        "Vary: Origin iff the origin is echoed"
                    );
                    assert_eq!(
                        resp_h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_some(),
                        input.credentials
                    );
                }
            }
        }
    }
});
