//! The request pipeline before Python (docs/internals/architecture.md, "The request path"):
//! the absolute-form authority becomes `Host`, then trusted host, CORS (preflights answered
//! here), rate limit, WebSocket upgrades, static mounts and the native route lookup
//! (404/405 without Python). What passes every step is forwarded to Python
//! ([`super::forward`]). Each native answer records its [`Source`] for the access line.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::header::{HeaderValue, ALLOW};
use http::{Request, Response, StatusCode};
use viperhttp_ipc::Method;

use super::access::{Source, SourceCell};
use super::forward::forward_to_python;
use super::{simple_response, ConnInfo};
use crate::body::{RequestBody, ResponseBody};
use crate::cors::CorsOutcome;
use crate::rate_limit::too_many_requests;
use crate::router::Lookup;
use crate::server::Shared;
use crate::static_files;
use crate::stats::ServerStats;

/// `OPTIONS *` (docs/internals/http.md): answered natively, never a preflight, never Python.
pub(super) fn asterisk_options() -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut().insert(
        ALLOW,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"),
    );
    resp
}

/// RFC 9112 §3.2.2: with an absolute-form target (`GET http://a.example/ HTTP/1.1`) the
/// server ignores `Host` and uses the target's authority. It becomes the `Host` header
/// here, once, so the trusted-host check, CORS and the app all see the same authority
/// (docs/internals/http.md, "Absolute-form targets"). The head guard already refused userinfo and
/// any scheme but http/https; the scheme of the target is never reported to the app (the
/// connection decides it). The path handed on is the origin-form path and query.
fn adopt_target_authority(req: &mut Request<RequestBody>) {
    let Some(authority) = req.uri().authority() else {
        return;
    };
    if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
        req.headers_mut().insert(http::header::HOST, host);
    }
}

/// Trusted host (docs/internals/cors-hosts-ratelimit.md): `400 Invalid Host` when the `Host` the app
/// would see is not allowed. Before CORS, so the reject carries no CORS headers.
pub(super) fn untrusted_host(
    shared: &Shared,
    req: &Request<RequestBody>,
    source: &SourceCell,
) -> Option<Response<ResponseBody>> {
    let hosts = shared.config.trusted_hosts.as_ref()?;
    let host = req.headers().get(http::header::HOST).map(|v| v.as_bytes());
    if hosts.allows(host) {
        return None;
    }
    source.set(Source::TrustedHost);
    ServerStats::bump(&shared.stats.trusted_host_rejected);
    Some(simple_response(StatusCode::BAD_REQUEST, "Invalid Host"))
}

/// Everything after the head guard's pass: the native answers, else Python.
pub(super) async fn route_request(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    mut req: Request<RequestBody>,
    source: &SourceCell,
) -> Response<ResponseBody> {
    let Some(method) = Method::from_bytes(req.method().as_str().as_bytes()) else {
        // Unknown method: 405 without Allow, keep-alive kept (docs/internals/http.md).
        return simple_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    };
    adopt_target_authority(&mut req);
    if let Some(refused) = untrusted_host(shared, &req, source) {
        return refused;
    }
    // CORS (docs/internals/cors-hosts-ratelimit.md#cors-corsrs): preflights answered here;
    // otherwise remember the headers to add.
    let cors = match &shared.config.cors {
        None => None,
        Some(cfg) => match cfg.evaluate(req.method(), req.headers()) {
            CorsOutcome::NotCors => None,
            CorsOutcome::Preflight(resp) => {
                if resp.status() == StatusCode::FORBIDDEN {
                    source.set(Source::Cors);
                    ServerStats::bump(&shared.stats.cors_forbidden);
                } else {
                    source.set(Source::CorsPreflight);
                    ServerStats::bump(&shared.stats.cors_preflight);
                }
                return resp;
            }
            CorsOutcome::Simple(headers) => Some(headers),
        },
    };
    let mut resp = route_checked(shared, conn, method, req, source).await;
    if let Some(cors) = cors {
        cors.apply(resp.headers_mut());
    }
    resp
}

/// Rate limit, upgrades, static mounts and the route lookup, once host and CORS passed.
async fn route_checked(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    method: Method,
    mut req: Request<RequestBody>,
    source: &SourceCell,
) -> Response<ResponseBody> {
    // The client behind a trusted proxy (docs/internals/http.md, "Behind a proxy"): the rate
    // limiter's key here, and (as a request extension) the peer and scheme Python is told.
    let mut client_ip = conn.peer.ip();
    if let Some(allow) = &shared.config.forwarded_allow_ips {
        if let Some(client) = allow.client(conn.peer, req.headers()) {
            client_ip = client.addr.ip();
            req.extensions_mut().insert(client);
        }
    }
    // Rate limit (docs/internals/cors-hosts-ratelimit.md#rate-limiting-rate_limitrs): every request
    // past parsing, trusted host and CORS.
    // The branches below that await something other than Python (the shared store, a WebSocket
    // handshake, a static file) are boxed: their futures would otherwise make every request's
    // future as large as theirs, and hyper moves that future into place on every request
    // (docs/internals/benchmarks.md#ipc-lock-holds).
    let verdict = if let Some(store) = &shared.shared_limiter {
        Box::pin(store.check(client_ip, &shared.stats)).await
    } else if let Some(limiter) = &shared.rate_limiter {
        limiter.check(client_ip, std::time::Instant::now())
    } else {
        Ok(())
    };
    if let Err(retry_after) = verdict {
        source.set(Source::RateLimit);
        ServerStats::bump(&shared.stats.ratelimit_rejected);
        return too_many_requests(retry_after);
    }
    // WebSocket upgrades (docs/internals/websocket.md) after the guards above, before static mounts.
    if crate::ws::handshake::is_upgrade(&req) {
        source.set(Source::Ipc);
        return Box::pin(crate::ws::handshake::handshake(shared, conn, req)).await;
    }
    // Static mounts (docs/internals/static-files.md) before Python routes; served natively, never
    // via Python.
    let statics = &shared.config.static_files;
    if !statics.is_empty() {
        let target = statics.resolve(req.uri().path(), req.uri().query());
        if target.is_static() {
            source.set(Source::Static);
            let resp = Box::pin(static_files::serve(
                statics,
                &shared.gzip_cache,
                target,
                req.method(),
                req.headers(),
                conn.sendfile.get(),
            ))
            .await;
            match resp.status() {
                StatusCode::OK | StatusCode::PARTIAL_CONTENT => {
                    ServerStats::bump(&shared.stats.static_served)
                }
                StatusCode::NOT_MODIFIED => ServerStats::bump(&shared.stats.static_not_modified),
                _ => {}
            }
            return resp;
        }
    }
    // Route once (docs/internals/ipc.md, "Route once"): a match travels to Python in the
    // record. With Python middleware, 404/405 are the app's to answer (a middleware may
    // rewrite the path or answer itself), so only a match is passed on.
    let path = req.uri().path().as_bytes();
    let middleware = shared.python_middleware.load(Ordering::Relaxed);
    let mut matched = RouteMatch::default();
    match shared.routes.snapshot().lookup(method, path) {
        Lookup::Found {
            route_id, values, ..
        } => matched = RouteMatch::new(route_id, path, values.iter()),
        Lookup::NotFound if !middleware => {
            return simple_response(StatusCode::NOT_FOUND, "Not Found")
        }
        Lookup::MethodNotAllowed { allow } if !middleware => {
            let mut resp = simple_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            if let Ok(v) = HeaderValue::from_str(allow) {
                resp.headers_mut().insert(ALLOW, v);
            }
            return resp;
        }
        _ => {}
    }
    source.set(Source::Ipc);
    forward_to_python(shared, conn, method, req, &matched).await
}

/// A route match as the IPC record carries it: the route id and each parameter value as
/// (offset, length) into the path, which is the start of the record's URI. No allocation:
/// a match with more parameters than a record holds is not carried (Python routes it).
#[derive(Debug, Default)]
pub(super) struct RouteMatch {
    pub(super) route_id: Option<u32>,
    spans: [(usize, usize); viperhttp_ipc::ROUTE_SPANS],
    len: usize,
}

impl RouteMatch {
    fn new<'a>(route_id: u32, path: &'a [u8], values: impl Iterator<Item = &'a [u8]>) -> Self {
        let base = path.as_ptr() as usize;
        let mut out = RouteMatch::default();
        for value in values {
            // The router's values are slices of `path`; anything else is not carried.
            let off = (value.as_ptr() as usize).wrapping_sub(base);
            let inside = off <= path.len() && path.len() - off >= value.len();
            let Some(slot) = out.spans.get_mut(out.len).filter(|_| inside) else {
                return RouteMatch::default();
            };
            *slot = (off, value.len());
            out.len += 1;
        }
        out.route_id = Some(route_id);
        out
    }

    pub(super) fn spans(&self) -> &[(usize, usize)] {
        self.spans.get(..self.len).unwrap_or_default()
    }
}
