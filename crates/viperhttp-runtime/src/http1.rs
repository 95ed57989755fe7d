//! One HTTP/1.x connection: hyper's HTTP/1 server behind the head guard, rebuilt over the same
//! guard after each park (docs/internals/http.md, "Parked connections"), and the hand-over of
//! the IO to a WebSocket after a `101`.
//!
//! hyper is driven as a plain `http1::Connection` future: `with_upgrades()` would keep the IO
//! inside hyper, and `poll_without_shutdown` needs a service future that is `Unpin`, which would
//! cost a boxed future per request. Polled as a future, hyper shuts the IO down when it ends a
//! connection; the guard does not pass that on while a park is requested, and an upgrade ends
//! hyper without a shutdown, so `into_parts()` returns a live IO in both cases.

use std::future::poll_fn;
use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::body::RequestBody;
use crate::connection::ConnCtx;
use crate::head_guard::GuardedIo;
use crate::http2::sniff::Prefixed;
use crate::sendfile::SendfileSocket;
use crate::service::{handle, ConnInfo};

/// How one hyper connection over the guard ended.
// Returned once per park, never stored: boxing the guard would add an allocation per park.
#[allow(clippy::large_enum_variant)]
enum Served<IO> {
    /// The connection is over (closed by either side, or failed).
    Closed,
    /// Idle: hyper was taken apart; the guard goes on (parked, or with bytes to serve).
    Idle(GuardedIo<IO>),
}

/// Serve HTTP/1.x on `io` until the connection ends. When `stop` flips, a request in progress
/// finishes (`Connection: close`) and an idle or parked connection closes at once.
pub(crate) async fn serve_h1<IO>(ctx: &Arc<ConnCtx>, io: IO, conn: Arc<ConnInfo>)
where
    IO: AsyncRead + AsyncWrite + SendfileSocket + Unpin + Send + 'static,
{
    // Below the guard: static bodies by sendfile(2) on plain TCP (docs/internals/static-files.md#sendfile).
    let io = crate::sendfile::attach(io, &conn, &ctx.shared.stats);
    // Head guard between the socket and hyper: RFC 9112 checks, ordered rejections (one
    // verdict per request, popped by the service), deadlines, parking.
    let mut io = GuardedIo::new(io, conn.guard.clone(), ctx.guard_limits.clone());
    let mut stop = ctx.stop.clone();
    loop {
        // Boxed: hyper's state is allocated while it serves and freed while the connection is
        // parked; inline, it would size this task's future for the connection's whole life.
        io = match Box::pin(serve_hyper(ctx, io, &conn, &stop)).await {
            Served::Closed => return,
            Served::Idle(io) => io,
        };
        if !io.is_parked() {
            continue; // hyper had read bytes it did not process: serve them at once
        }
        let stopped = tokio::select! {
            () = poll_fn(|cx| io.poll_parked(cx)) => false,
            _ = stop.changed() => true,
        };
        if stopped || *stop.borrow() {
            let _ = io.shutdown().await;
            return;
        }
    }
}

/// One hyper connection over the guard, until it ends, is parked or hands its IO over.
async fn serve_hyper<IO>(
    ctx: &Arc<ConnCtx>,
    io: GuardedIo<IO>,
    conn: &Arc<ConnInfo>,
    stop: &watch::Receiver<bool>,
) -> Served<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = ctx.shared.clone();
    let svc_conn = conn.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        handle(
            shared.clone(),
            svc_conn.clone(),
            req.map(RequestBody::http1),
        )
    });
    let mut hyper_conn = ctx.h1.serve_connection(TokioIo::new(io), svc);
    let mut stopping = *stop.borrow();
    let mut parking = false;
    if stopping {
        std::pin::Pin::new(&mut hyper_conn).graceful_shutdown();
    }
    let result = loop {
        tokio::select! {
            biased;
            r = &mut hyper_conn => break r,
            () = poll_fn(|_| stop_requested(conn)), if !stopping => {
                stopping = true;
                std::pin::Pin::new(&mut hyper_conn).graceful_shutdown();
            }
            // Polled right after hyper, in the same poll: the guard's request is seen at once.
            () = poll_fn(|_| park_request(conn)), if !parking && !stopping => {
                parking = true;
                // hyper is idle: this closes it without writing anything.
                std::pin::Pin::new(&mut hyper_conn).graceful_shutdown();
            }
        }
    };
    let parts = hyper_conn.into_parts();
    let mut io = parts.io.into_inner();
    if let Some(tx) = conn.take_upgrade() {
        // hyper wrote the 101 and let go of the IO without shutting it down.
        if result.is_ok() && !io.is_shut_down() {
            let _ = tx.send(Box::new(Prefixed::new(parts.read_buf, io)));
        }
        return Served::Closed;
    }
    if parking && result.is_ok() && !io.is_shut_down() && !*stop.borrow() {
        io.park(parts.read_buf);
        return Served::Idle(io);
    }
    io.cancel_park();
    if parking && result.is_ok() && !io.is_shut_down() {
        // The stop began while hyper was being parked: hyper's shutdown was held back.
        let _ = io.shutdown().await;
    }
    Served::Closed
}

/// The server's stop, as the guard delivers it (`ConnGuard::request_stop` wakes the task).
fn stop_requested(conn: &ConnInfo) -> std::task::Poll<()> {
    if conn.guard.stop_requested() {
        std::task::Poll::Ready(())
    } else {
        std::task::Poll::Pending
    }
}

fn park_request(conn: &ConnInfo) -> std::task::Poll<()> {
    if conn.guard.take_park_request() {
        std::task::Poll::Ready(())
    } else {
        std::task::Poll::Pending
    }
}
