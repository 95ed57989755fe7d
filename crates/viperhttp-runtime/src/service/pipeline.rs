//! The request pipeline before Python (docs/internals/architecture.md, "The request path"):
//! the absolute-form authority becomes `Host`, then trusted host, CORS (preflights answered
//! here), rate limit, WebSocket upgrades, static mounts and the native route lookup
//! (404/405 without Python). What passes every step is forwarded to Python
//! ([`super::forward`]). Each native answer records its [`Source`] for the access line.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::header::{HeaderValue, ALLOW};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use viperhttp_ipc::Method;

use super::access::{Source, SourceCell};
use super::forward::forward_to_python;
use super::{simple_response, ConnInfo};
use crate::body::ResponseBody;
use crate::cors::CorsOutcome;
use crate::rate_limit::too_many_requests;
use crate::router::Lookup;
use crate::server::Shared;
use crate::static_files;
use crate::stats::ServerStats;

/// `OPTIONS *` (§4.1 item 11): answered natively, never a preflight, never Python.
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
fn adopt_target_authority(req: &mut Request<Incoming>) {
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
    req: &Request<Incoming>,
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
    mut req: Request<Incoming>,
    source: &SourceCell,
) -> Response<ResponseBody> {
    let Some(method) = Method::from_bytes(req.method().as_str().as_bytes()) else {
        // Unknown method: 405 without Allow, keep-alive kept (runtime.md §4.2).
        return simple_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    };
    adopt_target_authority(&mut req);
    if let Some(refused) = untrusted_host(shared, &req, source) {
        return refused;
    }
    // CORS (§7.1): preflights answered here; otherwise remember the headers to add.
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
            CorsOutcome::Simple(headers) => headers,
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
    req: Request<Incoming>,
    source: &SourceCell,
) -> Response<ResponseBody> {
    // Rate limit (§7.3): every request past parsing, trusted host and CORS.
    let verdict = if let Some(store) = &shared.shared_limiter {
        store.check(conn.peer.ip(), &shared.stats).await
    } else if let Some(limiter) = &shared.rate_limiter {
        limiter.check(conn.peer.ip(), std::time::Instant::now())
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
        return crate::ws::handshake::handshake(shared, conn, req).await;
    }
    // Static mounts (§6) before Python routes; served natively, never via Python.
    let statics = &shared.config.static_files;
    if !statics.is_empty() {
        let target = statics.resolve(req.uri().path(), req.uri().query());
        if target.is_static() {
            source.set(Source::Static);
            let resp = static_files::serve(
                statics,
                &shared.gzip_cache,
                target,
                req.method(),
                req.headers(),
            )
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
    let path = req.uri().path();
    if !shared.python_middleware.load(Ordering::Relaxed) {
        match shared.routes.snapshot().lookup(method, path.as_bytes()) {
            Lookup::NotFound => return simple_response(StatusCode::NOT_FOUND, "Not Found"),
            Lookup::MethodNotAllowed { allow } => {
                let mut resp =
                    simple_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                if let Ok(v) = HeaderValue::from_str(allow) {
                    resp.headers_mut().insert(ALLOW, v);
                }
                return resp;
            }
            Lookup::Found { .. } => {}
        }
    }
    source.set(Source::Ipc);
    forward_to_python(shared, conn, method, req).await
}
