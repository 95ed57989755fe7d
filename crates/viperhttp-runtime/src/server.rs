//! Listener, accept loop, connection tasks and the stop sequence. The runtime
//! runs on its own OS thread (a current-thread tokio runtime when one worker
//! thread is configured — the common 2-core case, no work-stealing overhead —
//! else a multi-thread runtime).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use http::HeaderValue;
use hyper::server::conn::http1;
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use viperhttp_ipc::Ipc;

use crate::config::RuntimeConfig;
use crate::connection::{spawn_connection, ConnCtx, ConnSlot};
use crate::head_guard::{ConnGuard, GuardLimits, Idle};
use crate::http2::H2Server;
use crate::pending::{dispatch_responses, sweep_timeouts, Pending};
use crate::rate_limit::RateLimiter;
use crate::request_body::BodyBudget;
use crate::router::Routes;
use crate::shared_store::SharedRateLimiter;
use crate::static_files::GzipCache;
use crate::stats::ServerStats;
use crate::tls::TlsLayer;
use crate::RuntimeError;

/// hyper's built-in header-count limit (`hyper::proto::h1::role::DEFAULT_MAX_HEADERS`).
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Idle connections closed at once when a new one finds `max_connections` taken
/// (nginx closes up to 32 reusable connections the same way).
const EVICT_BATCH: usize = 32;

/// How often a new connection waiting at `max_connections` looks for idle ones again
/// (connections become evictable once idle for `head_guard::MIN_IDLE_MS`).
const EVICT_RETRY: Duration = Duration::from_millis(250);

/// Every open connection's guard, oldest first, so connection pressure can close
/// idle ones (docs/internals/http.md, "Connection pressure"). Touched once per accept and
/// once per close; scanned only when the limit is reached.
#[derive(Clone, Default)]
pub(crate) struct ConnRegistry {
    inner: Arc<Mutex<Conns>>,
}

/// Open connections by accept order.
#[derive(Default)]
struct Conns {
    last_id: u64,
    by_age: BTreeMap<u64, Weak<ConnGuard>>,
}

impl ConnRegistry {
    pub(crate) fn insert(&self, guard: &Arc<ConnGuard>) -> u64 {
        let mut inner = self.inner.lock();
        inner.last_id += 1;
        let id = inner.last_id;
        inner.by_age.insert(id, Arc::downgrade(guard));
        id
    }

    pub(crate) fn remove(&self, id: u64) {
        self.inner.lock().by_age.remove(&id);
    }

    /// Tells every registered connection that the server is stopping and wakes it. A
    /// connection registered later reads the stop channel when it starts serving.
    fn stop_all(&self) {
        let inner = self.inner.lock();
        for guard in inner.by_age.values().filter_map(Weak::upgrade) {
            guard.request_stop();
        }
    }

    /// Ask up to `n` idle connections to close: those that never sent a request
    /// first, then kept-alive ones; oldest first within each kind.
    fn evict_idle(&self, n: usize) -> usize {
        let inner = self.inner.lock();
        let mut evicted = 0;
        for kind in [Idle::NeverActive, Idle::KeptAlive] {
            for guard in inner.by_age.values().filter_map(Weak::upgrade) {
                if evicted >= n {
                    return evicted;
                }
                if guard.evict_if_idle(kind) {
                    evicted += 1;
                }
            }
        }
        evicted
    }
}

/// State shared by every task of one running server.
pub struct Shared {
    /// The IPC channel to the interpreter.
    pub ipc: Arc<Ipc>,
    /// The process-wide route table.
    pub routes: Arc<Routes>,
    /// Frozen configuration.
    pub config: RuntimeConfig,
    /// Counters.
    pub stats: Arc<ServerStats>,
    /// In-flight request ids.
    pub pending: Arc<Pending>,
    /// Set while the app has Python HTTP middleware: unmatched requests go to Python.
    pub python_middleware: Arc<AtomicBool>,
    /// Set once the stop sequence began.
    pub stopping: AtomicBool,
    /// Woken when the interpreter takes records off a full request queue.
    pub queue_space: Notify,
    /// Connections waiting to push to a full request queue (deferred push).
    pub parked: std::sync::atomic::AtomicUsize,
    /// FIFO order among parked connections (tokio's Mutex is fair).
    pub park_gate: tokio::sync::Mutex<()>,
    /// `Server` header value, when configured.
    pub server_header: Option<HeaderValue>,
    /// On-the-fly gzip results for static files (bounded LRU).
    pub gzip_cache: GzipCache,
    /// Per-client token buckets, when rate limiting is on (and no shared store).
    pub rate_limiter: Option<RateLimiter>,
    /// Token buckets in the shared store, when rate limiting is on and `shared_store` set.
    pub shared_limiter: Option<SharedRateLimiter>,
    /// The shared request-body memory budget (`max_body_memory`).
    pub body_budget: BodyBudget,
    /// TLS settings and handshake, when `https` is on (reloadable).
    pub tls: Option<Arc<TlsLayer>>,
    /// Open WebSocket connections.
    pub ws: Arc<crate::ws::Registry>,
}

/// A running server: its thread, address and stop controls.
pub struct ServerHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop_accepting: Arc<Notify>,
    force_close: Arc<Notify>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn bind(config: &RuntimeConfig) -> Result<std::net::TcpListener, RuntimeError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr = SocketAddr::new(config.host, config.port);
    let err = |source| RuntimeError::Bind {
        addr: addr.to_string(),
        source,
    };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    #[cfg(unix)]
    if config.reuse_port {
        socket.set_reuse_port(true).map_err(err)?;
    }
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(config.backlog).map_err(err)?;
    Ok(socket.into())
}

impl ServerHandle {
    /// Bind (errors are returned here, before any thread starts) and start serving.
    pub fn start(
        config: RuntimeConfig,
        ipc: Arc<Ipc>,
        routes: Arc<Routes>,
        python_middleware: Arc<AtomicBool>,
    ) -> Result<ServerHandle, RuntimeError> {
        let stats = Arc::new(ServerStats::default());
        // Certificate and key are checked before the port is taken.
        let tls = match &config.tls {
            Some(settings) => Some(Arc::new(TlsLayer::new(
                settings.clone(),
                config.http2.http2,
                stats.clone(),
            )?)),
            None => None,
        };
        let std_listener = bind(&config)?;
        let local_addr = std_listener.local_addr().map_err(RuntimeError::Start)?;
        let threads = config.runtime_threads.max(1);
        let runtime = if threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("viperhttp-rt")
                .enable_all()
                .build()
        }
        .map_err(RuntimeError::Start)?;

        let shared_limiter = match (&config.rate_limit, &config.shared_store) {
            (Some(rate), Some(url)) => Some(SharedRateLimiter::new(url, rate).map_err(|e| {
                RuntimeError::Start(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            })?),
            _ => None,
        };
        let rate_limiter = match shared_limiter {
            Some(_) => None,
            None => config.rate_limit.as_ref().map(RateLimiter::new),
        };
        let config_body_memory = config.limits.max_body_memory;
        let server_header = config
            .server_header
            .as_deref()
            .and_then(|s| HeaderValue::from_str(s).ok());
        let shared = Arc::new(Shared {
            ipc: ipc.clone(),
            routes,
            config,
            stats,
            pending: Arc::new(Pending::default()),
            python_middleware,
            stopping: AtomicBool::new(false),
            queue_space: Notify::new(),
            parked: Default::default(),
            park_gate: tokio::sync::Mutex::new(()),
            server_header,
            gzip_cache: GzipCache::default(),
            rate_limiter,
            shared_limiter,
            body_budget: BodyBudget::new(config_body_memory),
            tls,
            ws: Arc::default(),
        });

        // Wake-ups from the interpreter thread: responses pushed while the
        // dispatcher is parked, and request-queue space while a push is deferred.
        let response_wake = Arc::new(Notify::new());
        let rw = response_wake.clone();
        ipc.responses.set_waker(Arc::new(move || rw.notify_one()));
        let weak = Arc::downgrade(&shared);
        ipc.requests.set_space_hook(Arc::new(move || {
            if let Some(s) = weak.upgrade() {
                s.queue_space.notify_waiters();
            }
        }));

        // The interpreter's wake-up (set by the binding) is deferred to the end of the runtime's
        // pass (crate::consumer_wake).
        let consumer_wake = ipc.requests.waker().map(|direct| {
            let deferred = Arc::new(Notify::new());
            let d = deferred.clone();
            ipc.requests.set_waker(Arc::new(move || d.notify_one()));
            (deferred, direct)
        });

        let stop_accepting = Arc::new(Notify::new());
        let force_close = Arc::new(Notify::new());
        let (s, sa, fc) = (shared.clone(), stop_accepting.clone(), force_close.clone());
        let thread = std::thread::Builder::new()
            .name("viperhttp-runtime".into())
            .spawn(move || {
                let wakes = Wakes {
                    responses: response_wake,
                    consumer: consumer_wake,
                };
                runtime.block_on(serve(s, std_listener, wakes, sa, fc));
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(RuntimeError::Start)?;
        Ok(ServerHandle {
            shared,
            local_addr,
            stop_accepting,
            force_close,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counters of this server.
    pub fn stats(&self) -> &Arc<ServerStats> {
        &self.shared.stats
    }

    /// Requests waiting for the interpreter.
    pub fn in_flight(&self) -> usize {
        self.shared.pending.len()
    }

    /// Shared state (for the binding's stats and credit checks).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stop sequence steps 1–2 (docs/internals/bridge.md#start-and-stop): close the listener, close
    /// idle keep-alive connections, let in-flight requests finish. Non-blocking.
    pub fn begin_stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.stop_accepting.notify_one();
    }

    /// The interpreter is exiting (docs/internals/bridge.md#start-and-stop): stop accepting and
    /// answer every request still waiting for Python with `503 Service Unavailable` (and
    /// `Connection: close`); streams in progress are cut.
    pub fn fail_in_flight(&self) {
        self.begin_stop();
        self.shared.pending.abandon_all(&self.shared.stats);
    }

    /// Re-read the TLS certificate and key (SIGHUP): later handshakes use the
    /// new ones, open connections keep theirs. An error keeps the old ones.
    /// Without TLS there is nothing to reload (`Ok`).
    pub fn reload_tls(&self) -> Result<bool, RuntimeError> {
        match &self.shared.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// Whether the stop sequence began.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// Cut every remaining connection, stop the runtime and join its thread.
    /// Blocking: call it without holding the GIL.
    pub fn close(&self) {
        self.begin_stop();
        self.force_close.notify_one();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// The wake-ups between the runtime and the interpreter thread.
struct Wakes {
    /// Responses pushed while the dispatcher is parked.
    responses: Arc<Notify>,
    /// Requests pushed while the interpreter is parked: the notification
    /// [`crate::consumer_wake::wake_consumer`] waits on, and the binding's own waker it calls
    /// (None when the binding set none).
    consumer: Option<(Arc<Notify>, crate::consumer_wake::Waker)>,
}

async fn serve(
    shared: Arc<Shared>,
    std_listener: std::net::TcpListener,
    wakes: Wakes,
    stop_accepting: Arc<Notify>,
    force_close: Arc<Notify>,
) {
    let listener = match tokio::net::TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(target: "viperhttp::server", "listener: {e}");
            return;
        }
    };
    shared
        .pending
        .set_timeout_ms(shared.config.timeouts.response_timeout_ms);
    let sweeper = tokio::spawn(sweep_timeouts(shared.pending.clone()));
    let upkeep = tokio::spawn(crate::upkeep::run());
    let dispatcher = tokio::spawn(dispatch_responses(
        shared.ipc.clone(),
        shared.pending.clone(),
        shared.stats.clone(),
        shared.ws.clone(),
        wakes.responses,
    ));
    let consumer_waker = wakes
        .consumer
        .map(|(pushed, wake)| tokio::spawn(crate::consumer_wake::wake_consumer(pushed, wake)));
    // Graceful drain by hand: hyper-util's GracefulShutdown does not take an http1
    // connection `with_upgrades()`. `stop` asks every connection to finish its
    // request and close; `alive` closes when the last connection task ends.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    let permits = Arc::new(Semaphore::new(shared.config.limits.max_connections.max(1)));
    let mut builder = http1::Builder::new();
    // No `pipeline_flush`: in hyper 1.x it turns off write backpressure, so a large
    // static file would be read into memory as fast as the disk allows.
    builder
        .title_case_headers(true)
        .keep_alive(shared.config.timeouts.keepalive_timeout_ms > 0);
    // Head guard (docs/internals/http.md): it owns the header and keep-alive idle deadlines, so
    // hyper's own header timer stays off.
    builder.header_read_timeout(None);
    let guard_limits = GuardLimits::new(&shared.config.limits, &shared.config.timeouts);
    // >= 2: the guard's synthetic head for a rejection carries two fields.
    // The head guard enforces `max_headers`; hyper only has to accept what passes.
    // Its default (100) parses into an inline array, while an explicit limit makes it
    // allocate and fill a vector per request, so set one only above the default.
    if shared.config.limits.max_headers > HYPER_DEFAULT_MAX_HEADERS {
        builder.max_headers(shared.config.limits.max_headers);
    }
    builder.max_buf_size(guard_limits.hyper_max_buf_size());

    let ctx = Arc::new(ConnCtx {
        shared: shared.clone(),
        h1: builder,
        guard_limits: Arc::new(guard_limits),
        h2: shared
            .config
            .http2
            .http2
            .then(|| H2Server::new(&shared.config)),
        tls: shared.tls.clone(),
        registry: ConnRegistry::default(),
        stop: stop_rx,
    });
    'accept: loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(target: "viperhttp::server", "accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop_accepting.notified() => break,
        };
        // max_connections: at the limit, idle connections make room for the new one
        // (nginx reuses idle keep-alive connections the same way); with none idle, it
        // waits here and later arrivals wait in the backlog.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => loop {
                ctx.registry.evict_idle(EVICT_BATCH);
                // Connections younger than MIN_IDLE_MS are spared; look again as they age.
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => break p,
                        Err(_) => break 'accept,
                    },
                    _ = stop_accepting.notified() => break 'accept,
                    _ = tokio::time::sleep(EVICT_RETRY) => {}
                }
            },
        };
        let _ = stream.set_nodelay(true);
        ServerStats::bump(&shared.stats.accepts_total);
        let open = shared
            .stats
            .connections_open
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        shared
            .stats
            .event_conn_peak
            .fetch_max(open, Ordering::Relaxed);
        let slot = ConnSlot::new(shared.stats.clone(), alive_tx.clone(), permit);
        spawn_connection(ctx.clone(), stream, peer, slot);
    }
    let registry = ctx.registry.clone();
    drop(ctx);
    drop(listener);
    // Drain: in-flight requests finish (Connection: close); idle ones close now;
    // HTTP/2 connections send GOAWAY and end once their streams finish
    // (docs/internals/tls-http2.md); WebSockets send close 1001 and end (docs/internals/websocket.md,
    // "Shutdown").
    shared.ws.go_away();
    let _ = stop_tx.send(true); // before `stop_all`: a connection not yet registered reads it
    registry.stop_all();
    drop(alive_tx);
    tokio::select! {
        _ = async { tokio::join!(alive_rx.recv(), shared.ws.drained()) } => {}
        _ = force_close.notified() => {}
    }
    dispatcher.abort();
    sweeper.abort();
    upkeep.abort();
    crate::overload::report_pending(true); // refusals of the last seconds are not lost
    if let Some(task) = consumer_waker {
        task.abort();
    }
}
