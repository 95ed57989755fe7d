//! One accepted connection: TLS (when configured), then the protocol choice
//! (docs/internals/tls-http2.md): ALPN `h2`, or the first bytes (HTTP/2 prior knowledge,
//! an h2c upgrade request, or HTTP/1.x), then hyper's HTTP/1 server behind the head guard or the
//! HTTP/2 server of [`crate::http2`].

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use hyper::server::conn::http1;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::head_guard::{ConnGuard, GuardLimits};
use crate::http1::serve_h1;
use crate::http2::sniff::{refuse_http2, sniff, Prefixed, Sniffed};
use crate::http2::upgrade::{self, AfterSettings, H2c};
use crate::http2::H2Server;
use crate::sendfile::SendfileSocket;
use crate::server::{ConnRegistry, Shared};
use crate::service::ConnInfo;
use crate::stats::ServerStats;
use crate::tls::TlsLayer;

/// What every connection task of one server shares.
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) h1: http1::Builder,
    pub(crate) guard_limits: Arc<GuardLimits>,
    /// Set when HTTP/2 is on.
    pub(crate) h2: Option<H2Server>,
    /// Set when TLS is on.
    pub(crate) tls: Option<Arc<TlsLayer>>,
    pub(crate) registry: ConnRegistry,
    /// Flips to `true` when the stop sequence begins (HTTP/2 connections send GOAWAY).
    pub(crate) stop: watch::Receiver<bool>,
}

/// What a connection holds of the server for its whole life. Dropped when its task ends (or is
/// dropped at the runtime's end): the connection is counted closed, its `max_connections` permit
/// returns, and the stop sequence stops waiting for it.
pub(crate) struct ConnSlot {
    stats: Arc<ServerStats>,
    _alive: mpsc::Sender<()>,
    _permit: OwnedSemaphorePermit,
}

impl ConnSlot {
    /// Taken when the connection is accepted (and counted open).
    pub(crate) fn new(
        stats: Arc<ServerStats>,
        alive: mpsc::Sender<()>,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        ConnSlot {
            stats,
            _alive: alive,
            _permit: permit,
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.stats.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serve `stream` until it closes, on a task of its own. When `ctx.stop` flips, HTTP/1
/// connections finish their request and close, HTTP/2 ones send GOAWAY and finish their streams.
///
/// The plain and the TLS connection are different tasks, and each is spawned as the future that
/// serves it, with no wrapper: a task's future is as large as its largest state, for the
/// connection's whole life, and a wrapper would keep its own copy of the arguments it passed on
/// (docs/internals/http.md, "Parked connections").
pub(crate) fn spawn_connection(
    ctx: Arc<ConnCtx>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: ConnSlot,
) {
    let conn = conn_info(peer, &ctx.shared, ctx.tls.is_some());
    match ctx.tls.clone() {
        None => {
            tokio::spawn(sniffed(ctx, stream, conn, slot));
        }
        Some(tls) => {
            tokio::spawn(serve_tls(ctx, tls, stream, conn, slot));
        }
    }
}

async fn serve_tls(
    ctx: Arc<ConnCtx>,
    tls: Arc<TlsLayer>,
    stream: TcpStream,
    conn: Arc<ConnInfo>,
    slot: ConnSlot,
) {
    let Some(accepted) = Box::pin(tls.accept(stream)).await else {
        return;
    };
    match (&ctx.h2, accepted.h2) {
        (Some(h2), true) => {
            Box::pin(h2.serve(ctx.shared.clone(), conn, accepted.stream, ctx.stop.clone())).await
        }
        _ => Box::pin(sniffed(ctx.clone(), accepted.stream, conn, slot)).await,
    }
}

fn conn_info(peer: SocketAddr, shared: &Shared, tls: bool) -> Arc<ConnInfo> {
    Arc::new(ConnInfo {
        peer,
        requests: Default::default(),
        guard: ConnGuard::new(shared.stats.clone()),
        tls,
        sendfile: Default::default(),
        upgrade: Default::default(),
    })
}

/// Look at the first bytes: the HTTP/2 preface is served as HTTP/2 (or refused
/// with GOAWAY `HTTP_1_1_REQUIRED` when HTTP/2 is off), anything else as HTTP/1.
/// The connection is registered for idle eviction while it waits for them, as
/// an HTTP/1 connection waiting for its first head is.
///
/// A plain `fn` returning an `async move` block, not an `async fn`: an `async fn` keeps a second
/// copy of its arguments in its future (with the `let … else` below, a plain connection's task
/// cell went from 1,152 to 1,024 bytes).
#[allow(clippy::manual_async_fn)]
fn sniffed<IO>(
    ctx: Arc<ConnCtx>,
    io: IO,
    conn: Arc<ConnInfo>,
    slot: ConnSlot,
) -> impl std::future::Future<Output = ()> + Send
where
    IO: AsyncRead + AsyncWrite + SendfileSocket + Unpin + Send + 'static,
{
    async move {
        // Moved in and held to the end: an unused capture would be dropped at once.
        let _slot = slot;
        let conn_id = ctx.registry.insert(&conn.guard);
        // HTTP/1 is served here, after `choose` has returned: the sniffing state (its buffer,
        // the h2c inspection) is then dead and takes no room in a long-lived connection's future.
        let Some(io) = choose(&ctx, io, &conn, conn_id).await else {
            ctx.registry.remove(conn_id);
            return;
        };
        serve_h1(&ctx, io, conn).await;
        ctx.registry.remove(conn_id);
    }
}

/// Sniff the first bytes and serve every kind but HTTP/1 (HTTP/2, h2c, the refusal of HTTP/2);
/// for HTTP/1, the IO with the sniffed bytes in front.
async fn choose<IO>(
    ctx: &Arc<ConnCtx>,
    mut io: IO,
    conn: &Arc<ConnInfo>,
    conn_id: u64,
) -> Option<Prefixed<IO>>
where
    IO: AsyncRead + AsyncWrite + SendfileSocket + Unpin + Send + 'static,
{
    let deadline = match ctx.shared.config.timeouts.header_timeout_ms {
        0 => None,
        ms => Some(Instant::now() + Duration::from_millis(ms)),
    };
    let mut buf = BytesMut::new();
    let mark = |waiting| conn.guard.mark_first_read(waiting);
    let kind = tokio::select! {
        kind = sniff(&mut io, &mut buf, deadline, &mark) => kind,
        _ = std::future::poll_fn(|cx| conn.guard.poll_evicted(cx)) => Sniffed::Closed,
    };
    if let (Sniffed::Http1, Some(h2), false) = (&kind, &ctx.h2, conn.tls) {
        match upgrade::inspect(&buf) {
            H2c::No => {}
            H2c::BadSettings => {
                ServerStats::bump(&ctx.shared.stats.parse_errors);
                let _ = io.write_all(upgrade::BAD_SETTINGS).await;
                let _ = io.shutdown().await;
                return None;
            }
            H2c::Upgrade { head_len, headers } => {
                ctx.registry.remove(conn_id);
                if io.write_all(upgrade::SWITCHING).await.is_err() {
                    return None;
                }
                let rest = buf.split_off(head_len).freeze();
                let io = AfterSettings::new(Prefixed::new(rest, io), headers);
                Box::pin(h2.serve(ctx.shared.clone(), conn.clone(), io, ctx.stop.clone())).await;
                return None;
            }
        }
    }
    let io = Prefixed::new(buf.freeze(), io);
    match (kind, &ctx.h2) {
        (Sniffed::Http1, _) => return Some(io),
        (Sniffed::Closed, _) => {}
        (Sniffed::Http2, Some(h2)) => {
            // HTTP/2 connections are not evicted (docs/internals/tls-http2.md).
            ctx.registry.remove(conn_id);
            Box::pin(h2.serve(ctx.shared.clone(), conn.clone(), io, ctx.stop.clone())).await
        }
        (Sniffed::Http2, None) => {
            ServerStats::bump(&ctx.shared.stats.http2_err_http11_required);
            ServerStats::bump(&ctx.shared.stats.http2_goaway_sent);
            Box::pin(refuse_http2(io)).await
        }
    }
    None
}
