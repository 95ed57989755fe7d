//! Native CORS (docs/internals/cors-hosts-ratelimit.md#cors-corsrs): the validated configuration
//! built from the plain values the binding extracted from `CORSMiddleware` keywords, and the
//! per-request algorithm (preflight answer or headers to add).
//!
//! Only requests with a non-empty `Origin` are touched. A preflight
//! (`OPTIONS` with a non-empty `Access-Control-Request-Method`) is answered
//! here and never reaches a static mount or Python; like the original, it does not check the
//! requested method or headers against the lists (the browser does).

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::body::ResponseBody;

/// Default `allow_methods`, also what `"*"` means.
pub const DEFAULT_ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD";

/// Default `max_age` (seconds) of `Access-Control-Max-Age`.
pub const DEFAULT_MAX_AGE: u32 = 600;

/// Host limit on `allow_origins` entries (device: 8).
pub const MAX_ORIGINS: usize = 256;

/// Each origin entry must be shorter than this (device: 128).
pub const MAX_ORIGIN_LEN: usize = 512;

/// The joined `allow_methods` must be shorter than this.
pub const MAX_METHODS_LEN: usize = 128;

/// The joined `allow_headers` / `expose_headers` must be shorter than this.
pub const MAX_HEADERS_LEN: usize = 256;

/// A CORS configuration error. `Display` is the Python `ValueError` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorsConfigError {
    /// A value over its limit (docs/internals/cors-hosts-ratelimit.md#cors-corsrs). Too many
    /// origins uses the same text: the original names no other message for the list limits.
    #[error("cors value too long")]
    TooLong,
    /// A methods/headers value that cannot be sent as a header value
    /// (control characters). Not in the original (the original copies bytes
    /// blindly); the text is ours.
    #[error("cors value invalid")]
    InvalidValue,
    /// `allow_credentials=True` with any origin (`*`, or no `allow_origins`): every
    /// site could make credentialed requests and read the answers.
    #[error("allow_credentials=True cannot be used with allow_origins='*' (any origin): list the allowed origins")]
    WildcardWithCredentials,
    /// An `allow_origins` entry that is neither an origin (`https://app.example`,
    /// `http://localhost:3000`, `null`) nor a subdomain pattern (`*.example.com`,
    /// `https://*.example.com`, optionally with `:port`).
    #[error("invalid cors origin: {0}")]
    InvalidOrigin(String),
}

/// A parsed serialised origin (RFC 6454 §6.2): `scheme://host[:port]`, the
/// scheme's default port filled in (`None` for a scheme without one). Matching
/// compares these parts, never raw bytes (docs/internals/cors-hosts-ratelimit.md, "Origin
/// matching"). Case is kept: browsers send origins in lower case, and the
/// original compares them case-sensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Parse `scheme://host[:port]` with nothing after it (no userinfo, path, query).
/// `allow_star_label`: the host may start with the `*.` of a pattern.
fn parse_origin(s: &str, allow_star_label: bool) -> Option<Origin> {
    let (scheme, rest) = s.split_once("://")?;
    let mut chars = scheme.chars();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let scheme = scheme.to_owned();
    // IPv6 literals keep their colons inside brackets.
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            if addr.is_empty()
                || !addr
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return None;
            }
            (format!("[{addr}]"), after)
        }
        None => {
            let end = rest.find(':').unwrap_or(rest.len());
            let (name, after) = rest.split_at(end);
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            };
            let mut labels = name.split('.');
            let first_ok = match labels.next() {
                Some("*") => allow_star_label,
                Some(l) => label_ok(l),
                None => false,
            };
            if !first_ok || !labels.all(label_ok) {
                return None;
            }
            (name.to_owned(), after)
        }
    };
    let port = match port {
        "" => default_port(&scheme),
        p => {
            let digits = p.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse().ok()?)
        }
    };
    Some(Origin { scheme, host, port })
}

/// One `allow_origins` entry other than `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginRule {
    /// One origin, compared as parsed scheme + host + port.
    Exact(Origin),
    /// The opaque origin `null` (sandboxed frames, `file:` pages), only when listed.
    Null,
    /// `*.example.com` / `https://*.example.com[:port]`: any subdomain (at a label
    /// boundary) of `domain` (stored with its leading dot). Without a scheme the
    /// origin must be http or https; without a port, the scheme's default port.
    Subdomains {
        scheme: Option<String>,
        domain: String,
        port: Option<u16>,
    },
}

impl OriginRule {
    fn parse(entry: &str) -> Result<OriginRule, CorsConfigError> {
        let invalid = || CorsConfigError::InvalidOrigin(entry.to_owned());
        if entry == "null" {
            return Ok(OriginRule::Null);
        }
        if entry.starts_with('*') {
            // `*.example.com[:port]`: give it a scheme to reuse the origin parser.
            let o = parse_origin(&format!("https://{entry}"), true).ok_or_else(invalid)?;
            let explicit_port = entry.contains(':');
            return Ok(OriginRule::Subdomains {
                scheme: None,
                domain: o.host.strip_prefix('*').ok_or_else(invalid)?.to_owned(),
                port: if explicit_port { o.port } else { None },
            });
        }
        let o = parse_origin(entry, true).ok_or_else(invalid)?;
        match o.host.strip_prefix('*') {
            Some(domain) => Ok(OriginRule::Subdomains {
                domain: domain.to_owned(),
                scheme: Some(o.scheme),
                port: o.port,
            }),
            None => Ok(OriginRule::Exact(o)),
        }
    }

    fn matches(&self, raw: &[u8], origin: Option<&Origin>) -> bool {
        match (self, origin) {
            (OriginRule::Null, _) => raw == b"null",
            (OriginRule::Exact(want), Some(o)) => want == o,
            (
                OriginRule::Subdomains {
                    scheme,
                    domain,
                    port,
                },
                Some(o),
            ) => {
                let scheme_ok = match scheme {
                    Some(s) => *s == o.scheme,
                    None => o.scheme == "http" || o.scheme == "https",
                };
                let port_ok = match port {
                    Some(p) => o.port == Some(*p),
                    None => o.port == default_port(&o.scheme),
                };
                scheme_ok
                    && port_ok
                    && o.host.len() > domain.len()
                    && o.host.ends_with(domain.as_str())
            }
            _ => false,
        }
    }
}

/// The validated, runtime-side CORS configuration.
#[derive(Debug, Clone)]
pub struct CorsConfig {
    any_origin: bool,
    origins: Vec<OriginRule>,
    allow_methods: HeaderValue,
    /// `allow_headers` was `*`: answer `*` (or the echo with credentials).
    any_headers: bool,
    allow_headers: HeaderValue,
    credentials: bool,
    expose_headers: Option<HeaderValue>,
    /// `None` when `max_age` is 0 (header omitted).
    max_age: Option<HeaderValue>,
}

/// True when a comma-separated list has an item equal to `*`.
fn list_has_star(list: &str) -> bool {
    list.split(',').any(|item| item.trim() == "*")
}

fn header_value(s: &str) -> Result<HeaderValue, CorsConfigError> {
    HeaderValue::from_str(s.trim()).map_err(|_| CorsConfigError::InvalidValue)
}

impl Default for CorsConfig {
    /// The original's defaults: any origin, the default methods, any
    /// headers, no credentials, nothing exposed, max age 600.
    fn default() -> Self {
        Self {
            any_origin: true,
            origins: Vec::new(),
            allow_methods: HeaderValue::from_static(DEFAULT_ALLOW_METHODS),
            any_headers: true,
            allow_headers: HeaderValue::from_static("*"),
            credentials: false,
            expose_headers: None,
            max_age: Some(HeaderValue::from(DEFAULT_MAX_AGE)),
        }
    }
}

impl CorsConfig {
    /// Build from plain values (the binding joined lists with `", "`):
    /// `allow_origins` entries (`"*"` anywhere → any origin; `*suffix` →
    /// suffix match; else exact), `allow_methods` (`"*"` → the default
    /// list), `allow_headers` (`"*"` → any), credentials, `expose_headers`
    /// (`None` or empty → no header) and `max_age` (0 → no header).
    /// Limits (docs/internals/cors-hosts-ratelimit.md#cors-corsrs, host values): at most
    /// [`MAX_ORIGINS`] origins, each shorter than [`MAX_ORIGIN_LEN`]; methods shorter than
    /// [`MAX_METHODS_LEN`]; headers and expose shorter than [`MAX_HEADERS_LEN`] →
    /// [`CorsConfigError::TooLong`].
    pub fn new(
        allow_origins: Vec<String>,
        allow_methods: String,
        allow_headers: String,
        allow_credentials: bool,
        expose_headers: Option<String>,
        max_age: u32,
    ) -> Result<CorsConfig, CorsConfigError> {
        if allow_origins.len() > MAX_ORIGINS
            || allow_origins.iter().any(|o| o.len() >= MAX_ORIGIN_LEN)
            || allow_methods.len() >= MAX_METHODS_LEN
            || allow_headers.len() >= MAX_HEADERS_LEN
            || expose_headers
                .as_ref()
                .is_some_and(|e| e.len() >= MAX_HEADERS_LEN)
        {
            return Err(CorsConfigError::TooLong);
        }
        let any_origin = allow_origins.iter().any(|o| o == "*");
        if any_origin && allow_credentials {
            return Err(CorsConfigError::WildcardWithCredentials);
        }
        let origins = if any_origin {
            Vec::new()
        } else {
            allow_origins
                .iter()
                .map(|o| OriginRule::parse(o))
                .collect::<Result<Vec<_>, _>>()?
        };
        let allow_methods = if list_has_star(&allow_methods) {
            HeaderValue::from_static(DEFAULT_ALLOW_METHODS)
        } else {
            header_value(&allow_methods)?
        };
        let any_headers = list_has_star(&allow_headers);
        let allow_headers = if any_headers {
            HeaderValue::from_static("*")
        } else {
            header_value(&allow_headers)?
        };
        let expose_headers = match expose_headers.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => Some(header_value(e)?),
        };
        Ok(CorsConfig {
            any_origin,
            origins,
            allow_methods,
            any_headers,
            allow_headers,
            credentials: allow_credentials,
            expose_headers,
            max_age: (max_age > 0).then(|| HeaderValue::from(max_age)),
        })
    }

    /// Is this `Origin` value allowed? Parsed once, then compared rule by rule; a
    /// value that is not a serialised origin matches only a listed `null`.
    pub fn origin_allowed(&self, origin: &[u8]) -> bool {
        if self.any_origin {
            return true;
        }
        let parsed = std::str::from_utf8(origin)
            .ok()
            .and_then(|s| parse_origin(s, false));
        self.origins
            .iter()
            .any(|rule| rule.matches(origin, parsed.as_ref()))
    }

    /// Does the answer depend on the request's `Origin`? It does unless every origin gets
    /// `Access-Control-Allow-Origin: *` (any origin, no credentials).
    fn echoes(&self) -> bool {
        !self.any_origin || self.credentials
    }

    /// The CORS decision for one request (docs/internals/cors-hosts-ratelimit.md#cors-corsrs
    /// algorithm). Cheap when the request has no `Origin` (one header lookup).
    pub fn evaluate(&self, method: &Method, headers: &HeaderMap) -> CorsOutcome {
        let Some(origin) = headers.get(ORIGIN).filter(|v| !v.is_empty()) else {
            // No CORS headers; but where the answer depends on the origin, a cache must not
            // hand this response to a cross-origin request (Starlette does the same).
            return if self.echoes() {
                CorsOutcome::Simple(CorsHeaders::vary_only())
            } else {
                CorsOutcome::NotCors
            };
        };
        let allowed = self.origin_allowed(origin.as_bytes());
        let preflight = *method == Method::OPTIONS
            && headers
                .get(ACCESS_CONTROL_REQUEST_METHOD)
                .is_some_and(|v| !v.is_empty());
        if !preflight {
            return match allowed {
                true => CorsOutcome::Simple(self.headers_for(origin)),
                false if self.echoes() => CorsOutcome::Simple(CorsHeaders::vary_only()),
                false => CorsOutcome::NotCors,
            };
        }
        if !allowed {
            return CorsOutcome::Preflight(forbidden());
        }
        let mut resp = Response::new(ResponseBody::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        let common = self.headers_for(origin);
        common.insert_origin_credentials_expose(h);
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods.clone());
        let allow_headers = match headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
            // Any headers + credentials: `*` is not honoured by browsers
            // with credentials, so echo what was asked for.
            Some(requested) if self.any_headers && self.credentials && !requested.is_empty() => {
                requested.clone()
            }
            _ => self.allow_headers.clone(),
        };
        h.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        if let Some(max_age) = &self.max_age {
            h.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        if common.vary {
            h.append(VARY, HeaderValue::from_static("Origin"));
        }
        CorsOutcome::Preflight(resp)
    }

    /// The non-preflight header set for an allowed origin.
    fn headers_for(&self, origin: &HeaderValue) -> CorsHeaders {
        // `*` only for any-origin without credentials; else echo.
        let echo = self.echoes();
        CorsHeaders {
            allow_origin: Some(if echo {
                origin.clone()
            } else {
                HeaderValue::from_static("*")
            }),
            credentials: self.credentials,
            expose_headers: self.expose_headers.clone(),
            // Echoing the origin (which credentials always imply) makes the
            // response depend on it: tell caches.
            vary: echo,
        }
    }
}

/// `403 CORS Forbidden` (text/plain), no CORS headers.
fn forbidden() -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full("CORS Forbidden"));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The result of [`CorsConfig::evaluate`].
#[derive(Debug)]
pub enum CorsOutcome {
    /// No (or an empty) `Origin`: CORS does not apply.
    NotCors,
    /// A preflight, answered here: `204` with the preflight headers, or
    /// `403 CORS Forbidden` when the origin is not allowed. Never forwarded.
    Preflight(Response<ResponseBody>),
    /// Any other request: headers to add to whatever response follows. For an
    /// origin that is not allowed, or a request without `Origin`, only `Vary:
    /// Origin` (the request proceeds without CORS headers); that is `NotCors`
    /// instead when every origin gets `*`.
    Simple(CorsHeaders),
}

/// The non-preflight CORS headers for one request
/// (docs/internals/cors-hosts-ratelimit.md#cors-corsrs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsHeaders {
    /// `None`: no CORS headers, only `Vary: Origin`.
    allow_origin: Option<HeaderValue>,
    credentials: bool,
    expose_headers: Option<HeaderValue>,
    vary: bool,
}

impl CorsHeaders {
    /// For a refused origin or a request without one, where the answer depends on the origin.
    fn vary_only() -> Self {
        CorsHeaders {
            allow_origin: None,
            credentials: false,
            expose_headers: None,
            vary: true,
        }
    }

    fn insert_origin_credentials_expose(&self, h: &mut HeaderMap) {
        let Some(allow_origin) = &self.allow_origin else {
            return;
        };
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin.clone());
        if self.credentials {
            h.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose_headers {
            h.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }

    /// Add the headers to a response's header map: `Access-Control-Allow-
    /// Origin`, `-Allow-Credentials`, `-Expose-Headers` and `Vary: Origin`
    /// (appended, so an existing `Vary: Accept-Encoding` stays), or `Vary:
    /// Origin` alone for a refused origin. Does nothing when `Access-Control-
    /// Allow-Origin` is already present (Python set its own; host decision:
    /// no duplicates).
    pub fn apply(&self, resp_headers: &mut HeaderMap) {
        if resp_headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
            return;
        }
        self.insert_origin_credentials_expose(resp_headers);
        if self.vary {
            resp_headers.append(VARY, HeaderValue::from_static("Origin"));
        }
    }

    /// The `Access-Control-Allow-Origin` value (`*` or the echoed origin); `None` for a
    /// refused origin.
    pub fn allow_origin(&self) -> Option<&HeaderValue> {
        self.allow_origin.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(origins: &[&str], credentials: bool) -> CorsConfig {
        CorsConfig::new(
            origins.iter().map(|s| s.to_string()).collect(),
            DEFAULT_ALLOW_METHODS.into(),
            "*".into(),
            credentials,
            None,
            600,
        )
        .unwrap()
    }

    fn req(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn hv<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
        h.get(name).map(|v| v.to_str().unwrap())
    }

    fn simple(c: &CorsConfig, origin: &str) -> Option<HeaderMap> {
        match c.evaluate(&Method::GET, &req(&[("origin", origin)])) {
            CorsOutcome::Simple(ch) if ch.allow_origin().is_some() => {
                let mut h = HeaderMap::new();
                ch.apply(&mut h);
                Some(h)
            }
            CorsOutcome::Simple(_) | CorsOutcome::NotCors => None,
            other => panic!("{other:?}"),
        }
    }

    fn preflight(c: &CorsConfig, extra: &[(&str, &str)]) -> Response<ResponseBody> {
        let mut pairs = vec![
            ("origin", "https://a.example.com"),
            ("access-control-request-method", "PUT"),
        ];
        pairs.extend_from_slice(extra);
        match c.evaluate(&Method::OPTIONS, &req(&pairs)) {
            CorsOutcome::Preflight(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_and_messages() {
        let ok = |o: Vec<String>, m: &str, h: &str, e: Option<&str>| {
            CorsConfig::new(o, m.into(), h.into(), false, e.map(String::from), 0)
        };
        let long = format!("https://{}.test", "x".repeat(511 - 13));
        assert_eq!(long.len(), 511);
        assert!(ok(vec![long], "GET", "*", None).is_ok());
        let err = ok(vec!["x".repeat(512)], "GET", "*", None).unwrap_err();
        assert_eq!(err.to_string(), "cors value too long");
        assert!(ok(vec!["https://a".into(); 256], "GET", "*", None).is_ok());
        assert_eq!(
            ok(vec!["https://a".into(); 257], "GET", "*", None).unwrap_err(),
            CorsConfigError::TooLong
        );
        assert!(ok(vec![], &"G".repeat(127), "*", None).is_ok());
        assert_eq!(
            ok(vec![], &"G".repeat(128), "*", None).unwrap_err(),
            CorsConfigError::TooLong
        );
        assert!(ok(vec![], "GET", &"h".repeat(255), None).is_ok());
        assert_eq!(
            ok(vec![], "GET", &"h".repeat(256), None).unwrap_err(),
            CorsConfigError::TooLong
        );
        assert_eq!(
            ok(vec![], "GET", "*", Some(&"h".repeat(256))).unwrap_err(),
            CorsConfigError::TooLong
        );
        assert_eq!(
            ok(vec![], "GE\nT", "*", None).unwrap_err().to_string(),
            "cors value invalid"
        );
    }

    #[test]
    fn no_origin_is_not_cors() {
        let c = CorsConfig::default();
        assert!(matches!(
            c.evaluate(&Method::GET, &HeaderMap::new()),
            CorsOutcome::NotCors
        ));
        assert!(matches!(
            c.evaluate(&Method::GET, &req(&[("origin", "")])),
            CorsOutcome::NotCors
        ));
        // OPTIONS with a request method but no Origin is not a preflight.
        let r = req(&[("access-control-request-method", "GET")]);
        assert!(matches!(
            c.evaluate(&Method::OPTIONS, &r),
            CorsOutcome::NotCors
        ));
    }

    #[test]
    fn a_refused_or_missing_origin_gets_vary_origin_alone_when_the_answer_depends_on_it() {
        let vary_only =
            |c: &CorsConfig, pairs: &[(&str, &str)]| match c.evaluate(&Method::GET, &req(pairs)) {
                CorsOutcome::Simple(ch) => {
                    assert!(ch.allow_origin().is_none());
                    let mut h = req(&[("vary", "Accept-Encoding")]);
                    ch.apply(&mut h);
                    let vary: Vec<_> = h
                        .get_all("vary")
                        .iter()
                        .map(|v| v.to_str().unwrap())
                        .collect();
                    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
                    assert_eq!(h.len(), 2, "no CORS headers: {h:?}");
                }
                other => panic!("{other:?}"),
            };
        for c in [
            cfg(&["https://only"], false),
            cfg(&["https://*.only"], true),
        ] {
            vary_only(&c, &[]);
            vary_only(&c, &[("origin", "")]);
            vary_only(&c, &[("origin", "https://other")]);
        }
        // Every origin gets `*`: the answer does not depend on it, nothing to add.
        let c = cfg(&["*"], false);
        assert!(matches!(
            c.evaluate(&Method::GET, &HeaderMap::new()),
            CorsOutcome::NotCors
        ));
        // Python answered with its own CORS headers: left alone.
        let CorsOutcome::Simple(ch) =
            cfg(&["https://only"], false).evaluate(&Method::GET, &HeaderMap::new())
        else {
            panic!()
        };
        let mut h = req(&[("access-control-allow-origin", "https://py")]);
        ch.apply(&mut h);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn any_origin_without_credentials_is_star_no_vary() {
        let h = simple(&CorsConfig::default(), "https://x.test").unwrap();
        assert_eq!(hv(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(hv(&h, "access-control-allow-credentials"), None);
        assert_eq!(hv(&h, "vary"), None);
        assert_eq!(hv(&h, "access-control-allow-methods"), None);
    }

    #[test]
    fn any_origin_with_credentials_is_refused() {
        for origins in [vec!["*"], vec!["https://a.test", "*"]] {
            let err = CorsConfig::new(
                origins.iter().map(|s| s.to_string()).collect(),
                DEFAULT_ALLOW_METHODS.into(),
                "*".into(),
                true,
                None,
                600,
            )
            .unwrap_err();
            assert_eq!(err, CorsConfigError::WildcardWithCredentials);
            assert!(err.to_string().contains("allow_credentials=True"));
        }
    }

    #[test]
    fn listed_origin_with_credentials_echoes() {
        let h = simple(&cfg(&["https://x.test"], true), "https://x.test").unwrap();
        assert_eq!(
            hv(&h, "access-control-allow-origin"),
            Some("https://x.test")
        );
        assert_eq!(hv(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(hv(&h, "vary"), Some("Origin"));
        // `null` is never allowed unless listed.
        assert!(simple(&cfg(&["https://x.test"], true), "null").is_none());
        assert!(simple(&cfg(&["null"], true), "null").is_some());
    }

    #[test]
    fn origins_match_as_scheme_host_port() {
        let c = cfg(&["*.trusted.example"], false);
        assert!(simple(&c, "https://a.trusted.example").is_some());
        assert!(simple(&c, "http://a.b.trusted.example").is_some());
        for bad in [
            "https://evil.com/.trusted.example",
            "https://evil.com?.trusted.example",
            "https://user@a.trusted.example",
            "ftp://a.trusted.example",
            "javascript://a.trusted.example",
            "https://a.trusted.example:8443",
            "https://trusted.example",
            "https://eviltrusted.example",
            "https://a.trusted.example.evil.com",
            "a.trusted.example",
            "null",
        ] {
            assert!(simple(&c, bad).is_none(), "{bad}");
        }
        let c = cfg(
            &["https://*.trusted.example:8443", "http://localhost:3000"],
            false,
        );
        assert!(simple(&c, "https://a.trusted.example:8443").is_some());
        assert!(simple(&c, "http://a.trusted.example:8443").is_none());
        assert!(simple(&c, "https://a.trusted.example").is_none());
        assert!(simple(&c, "http://localhost:3000").is_some());
        assert!(simple(&c, "http://localhost:3001").is_none());
        assert!(simple(&c, "https://localhost:3000").is_none());
        // Default ports are the same origin; case counts (browsers send lower case).
        let c = cfg(&["https://app.test"], false);
        assert!(simple(&c, "https://app.test:443").is_some());
        assert!(simple(&c, "https://APP.test").is_none());
        assert!(simple(&c, "https://app.test/").is_none());
    }

    #[test]
    fn invalid_origin_entries_are_refused() {
        for bad in [
            "*example.com",
            "app.test",
            "https://",
            "https://a.test/path",
            "https://a.test:x",
            "*.",
            "https://a.*.test",
        ] {
            let err = CorsConfig::new(
                vec![bad.to_string()],
                DEFAULT_ALLOW_METHODS.into(),
                "*".into(),
                false,
                None,
                600,
            )
            .unwrap_err();
            assert_eq!(
                err,
                CorsConfigError::InvalidOrigin(bad.to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn star_anywhere_in_the_list_means_any() {
        let h = simple(&cfg(&["https://a.test", "*"], false), "https://zzz").unwrap();
        assert_eq!(hv(&h, "access-control-allow-origin"), Some("*"));
    }

    #[test]
    fn exact_and_suffix_origins() {
        let c = cfg(&["https://app.test", "*.example.com"], false);
        let h = simple(&c, "https://app.test").unwrap();
        assert_eq!(
            hv(&h, "access-control-allow-origin"),
            Some("https://app.test")
        );
        assert_eq!(hv(&h, "vary"), Some("Origin"));
        assert!(simple(&c, "https://a.example.com").is_some());
        assert!(simple(&c, "http://deep.a.example.com").is_some());
        // Another port is another origin; the pattern needs a label before the dot.
        assert!(simple(&c, "https://app.test:8080").is_none());
        assert!(simple(&c, "https://example.com").is_none());
        assert!(simple(&c, "https://badexample.com").is_none());
        // No origins at all: nothing allowed.
        assert!(simple(&cfg(&[], false), "https://app.test").is_none());
    }

    #[test]
    fn expose_headers_when_set() {
        let c = CorsConfig::new(
            vec!["*".into()],
            "*".into(),
            "*".into(),
            false,
            Some("X-Total, X-Page".into()),
            600,
        )
        .unwrap();
        let h = simple(&c, "https://x").unwrap();
        assert_eq!(
            hv(&h, "access-control-expose-headers"),
            Some("X-Total, X-Page")
        );
        let c = CorsConfig::new(
            vec!["*".into()],
            "*".into(),
            "*".into(),
            false,
            Some(String::new()),
            600,
        )
        .unwrap();
        let h = simple(&c, "https://x").unwrap();
        assert_eq!(hv(&h, "access-control-expose-headers"), None);
    }

    #[test]
    fn apply_skips_when_python_set_allow_origin_and_appends_vary() {
        let c = cfg(&["https://app.test"], true);
        let CorsOutcome::Simple(ch) =
            c.evaluate(&Method::POST, &req(&[("origin", "https://app.test")]))
        else {
            panic!()
        };
        let mut h = req(&[
            ("access-control-allow-origin", "https://mine"),
            ("vary", "Accept-Encoding"),
        ]);
        ch.apply(&mut h);
        assert_eq!(hv(&h, "access-control-allow-origin"), Some("https://mine"));
        assert_eq!(hv(&h, "access-control-allow-credentials"), None);
        let mut h = req(&[("vary", "Accept-Encoding")]);
        ch.apply(&mut h);
        let vary: Vec<_> = h
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);
        assert_eq!(ch.allow_origin().unwrap(), "https://app.test");
    }

    #[test]
    fn preflight_default_config() {
        let r = preflight(
            &CorsConfig::default(),
            &[("access-control-request-headers", "X-A")],
        );
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let h = r.headers();
        assert_eq!(hv(h, "access-control-allow-origin"), Some("*"));
        assert_eq!(
            hv(h, "access-control-allow-methods"),
            Some(DEFAULT_ALLOW_METHODS)
        );
        assert_eq!(hv(h, "access-control-allow-headers"), Some("*"));
        assert_eq!(hv(h, "access-control-max-age"), Some("600"));
        assert_eq!(hv(h, "access-control-allow-credentials"), None);
        assert_eq!(hv(h, "vary"), None);
        assert_eq!(hv(h, "content-type"), None);
        assert!(http_body::Body::is_end_stream(r.body()));
    }

    #[test]
    fn preflight_credentials_echo_requested_headers() {
        let c = cfg(&["https://a.example.com"], true);
        let r = preflight(
            &c,
            &[("access-control-request-headers", "X-A, Content-Type")],
        );
        let h = r.headers();
        assert_eq!(
            hv(h, "access-control-allow-origin"),
            Some("https://a.example.com")
        );
        assert_eq!(hv(h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            hv(h, "access-control-allow-headers"),
            Some("X-A, Content-Type")
        );
        assert_eq!(hv(h, "vary"), Some("Origin"));
        // Not requested → `*`.
        let r = preflight(&c, &[]);
        assert_eq!(hv(r.headers(), "access-control-allow-headers"), Some("*"));
    }

    #[test]
    fn preflight_configured_lists_and_max_age_zero() {
        let c = CorsConfig::new(
            vec!["*.example.com".into()],
            "GET, POST".into(),
            "X-A, X-B".into(),
            true,
            Some("X-E".into()),
            0,
        )
        .unwrap();
        let r = preflight(&c, &[("access-control-request-headers", "X-Other")]);
        let h = r.headers();
        assert_eq!(hv(h, "access-control-allow-methods"), Some("GET, POST"));
        // Not any-headers: the configured list, even with credentials.
        assert_eq!(hv(h, "access-control-allow-headers"), Some("X-A, X-B"));
        assert_eq!(hv(h, "access-control-max-age"), None);
        assert_eq!(hv(h, "access-control-expose-headers"), Some("X-E"));
    }

    #[test]
    fn methods_star_is_default_list() {
        let c = CorsConfig::new(vec!["*".into()], "*".into(), "*".into(), false, None, 5).unwrap();
        let r = preflight(&c, &[]);
        assert_eq!(
            hv(r.headers(), "access-control-allow-methods"),
            Some(DEFAULT_ALLOW_METHODS)
        );
        assert_eq!(hv(r.headers(), "access-control-max-age"), Some("5"));
    }

    #[tokio::test]
    async fn preflight_forbidden() {
        use http_body_util::BodyExt;
        let c = cfg(&["https://other.test"], false);
        let r = preflight(&c, &[]);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            hv(r.headers(), "content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(hv(r.headers(), "access-control-allow-origin"), None);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "CORS Forbidden");
    }

    #[test]
    fn options_without_request_method_is_simple() {
        let c = CorsConfig::default();
        let r = req(&[
            ("origin", "https://x"),
            ("access-control-request-method", ""),
        ]);
        assert!(matches!(
            c.evaluate(&Method::OPTIONS, &r),
            CorsOutcome::Simple(ref h) if h.allow_origin().is_some()
        ));
        let r = req(&[("origin", "https://x")]);
        assert!(matches!(
            c.evaluate(&Method::OPTIONS, &r),
            CorsOutcome::Simple(ref h) if h.allow_origin().is_some()
        ));
        // Disallowed origin, non-preflight: proceeds without headers.
        let c = cfg(&["https://only"], false);
        assert!(matches!(
            c.evaluate(&Method::DELETE, &r),
            CorsOutcome::Simple(ref h) if h.allow_origin().is_none()
        ));
    }
}
