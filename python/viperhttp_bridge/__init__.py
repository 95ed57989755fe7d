"""viperhttp_bridge: the dispatch loop between the native runtime and the app
(runtime.md §3). Runs on the one interpreter thread; every "worker" is an
asyncio task, never an OS thread.

Hot path (runtime.md §3.1 decisions (a)–(c)): the wake-up fd fires → one
native call takes a whole batch of requests → each sync handler runs inline
and its result is normalised, serialised and sent by one native call; only
awaitables get a task.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from viperhttp import _native
from viperhttp._native import BackpressureError
from viperhttp.diagnostics import forward_native_logs as _forward_logs
from viperhttp.diagnostics import refresh_access_log
from viperhttp.exceptions import report_unhandled

from .knobs import BridgeKnobs, split_run_kwargs

_log_pending = _native._log_pending
from .streaming import run_stream
from .websocket import WebSocket, WsDispatcher

log = logging.getLogger("viperhttp.bridge")

__all__ = [
    "run", "start", "shutdown", "serialize_response", "runtime_features", "bridge_stats", "Bridge",
    "WebSocket",
]

_PLAIN_RESULTS = (dict, str, bytes, list, type(None), int, float, bytearray)
_INTERNAL_ERROR = {
    "__vhttp_response__": True,
    "status_code": 500,
    "body": "Internal Server Error",
    "headers": None,
    "content_type": "text/plain; charset=utf-8",
}
#: Requests taken from the native queue per poll call (a whole batch, 3.1 (b)).
_BATCH_MAX = 256


def serialize_response(resp: Any) -> Any:
    """runtime.md §3.7 (implemented in viperhttp.responses)."""
    from viperhttp.responses import serialize_response as _ser
    return _ser(resp)


def runtime_features() -> Dict[str, bool]:
    return {"async_generator_supported": True}


def _is_stream(result: Any) -> bool:
    return isinstance(result, dict) and result.get("stream") is not None and bool(result.get("__vhttp_response__"))


_SERVER_BUSY = {
    "__vhttp_response__": True,
    "status_code": 503,
    "body": "Server Busy",
    "headers": None,
    "content_type": "text/plain; charset=utf-8",
}
#: Scaler period and idle ticks before one worker retires (runtime.md §3.3 fixed internals).
_SCALE_CHECK_S = 0.1
_SCALE_DOWN_IDLE_TICKS = 20


class Bridge:
    """One running bridge (runtime.md §3.1, §3.4).

    - The poller (`on_wake`) takes native batches. While the bridge queue is
      empty, a request is handled inline: a sync handler runs to completion
      with no task and no queue hop. A request whose handling is async, or any
      request arriving while the queue is non-empty (FIFO), goes through the
      bounded bridge queue to the worker tasks.
    - At most `bridge_max_workers` workers; the scaler adjusts their number
      between min and max; a full queue makes the poller wait up to
      `bridge_enqueue_wait_ms` (it takes no new messages meanwhile), then the
      request is answered `503 Server Busy`.
    """

    current: Optional["Bridge"] = None
    #: a blocking serve finished in this process (device-style `run_forever()` then returns)
    served = False
    shutdown_timeout_s: float = 10
    startup_task: Optional["asyncio.Task[Any]"] = None
    tls = False

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop, knobs: BridgeKnobs) -> None:
        from viperhttp.request import Request

        self.app = app
        self.loop = loop
        self.knobs = knobs
        self._from_native: Callable[..., Any] = Request._from_native
        self._handle: Callable[[Any], Any] = app._handle
        self._send = _native._send_result
        self._poll = _native._poll_batch
        self.queue: "asyncio.Queue[Any]" = asyncio.Queue(maxsize=knobs.queue_size)
        self.workers: Set[asyncio.Task] = set()
        self.workers_busy = 0
        self.backlog: Deque[Tuple[Tuple[tuple, Any, Any], float]] = deque()
        self.tasks: Set[asyncio.Task] = set()
        self.streams: Dict[int, asyncio.Task] = {}
        self.bg_pending = 0
        self.dispatched = 0
        self.queue_peak = 0
        self.scale_ups = 0
        self.scale_downs = 0
        self.server_busy_503 = 0
        self.responses_dropped = 0
        self._idle_ticks = 0
        self._ticks = 0
        self.running = False
        self.stop_event = asyncio.Event()
        self.skip_drain = False  # set by a second SIGINT/SIGTERM
        self.exit_request: Optional[SystemExit] = None  # sys.exit() from app code (§9.4)
        self._scheduled = False
        self._retry_handle: Optional[asyncio.TimerHandle] = None
        self._tick_handle: Optional[asyncio.TimerHandle] = None
        self.ws = WsDispatcher(app, self._spawn)

    # -- polling ---------------------------------------------------------
    def start(self) -> None:
        self.running = True
        for _ in range(self.knobs.min_workers):
            self._spawn_worker()
        self.loop.add_reader(_native.wakeup_fd(), self.on_wake)
        self._tick_handle = self.loop.call_later(_SCALE_CHECK_S, self._tick)
        self.on_wake()

    def _wake_soon(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self.on_wake)

    def on_wake(self) -> None:
        """Take one batch and admit it; if the batch was non-empty, come back
        after one loop turn (other tasks run in between). An empty poll parks the
        native consumer, so the next push makes the wake-up fd readable."""
        self._scheduled = False
        if self.backlog:
            return  # waiting for bridge-queue space: the native queue absorbs meanwhile
        room = _BATCH_MAX if self.queue.empty() else self.knobs.queue_size - self.queue.qsize()
        if room <= 0:
            # Queue full: take one message anyway so its bridge_enqueue_wait_ms clock
            # starts (it goes to the backlog); the backlog then stops further polling.
            room = 1
        if _log_pending():
            _forward_logs()
        try:
            batch = self._poll(room)
        except Exception as exc:  # the poller never dies from an error (3.2)
            log.error("bridge_loop_error %r", exc, exc_info=True)
            return
        if not batch:
            return
        admit = self.admit
        for item in batch:
            admit(item)
        self.dispatched += len(batch)
        self._wake_soon()

    def admit(self, item: tuple) -> None:
        if item[0].__class__ is str:  # ("ws_*", ...): handled inline in the poller
            self.ws.handle(item)
            return
        if self.backlog:
            self.backlog.append(((item, None, None), 0.0))
        elif self.queue.empty():
            self.handle_inline(item)
        else:
            self._enqueue(item, None, None)

    def handle_inline(self, item: tuple) -> None:
        rid = item[0]
        try:
            request = self._from_native(*item)
            result = self._handle(request)
        except SystemExit as exc:
            self.interpreter_exit(exc)
            return
        except BaseException as exc:  # _handle converts app errors; this is a bug path
            log.error("http_worker_error %r", exc, exc_info=True)
            self._send_safe(rid, _INTERNAL_ERROR)
            return
        if type(result) in _PLAIN_RESULTS and not (type(result) is dict and "stream" in result):
            self._send_plain(rid, request, result)
        elif hasattr(result, "__await__"):
            self._enqueue(item, request, result)  # a worker awaits it
        else:
            self._deliver(rid, request, result)

    def _enqueue(self, item: tuple, request: Any, awaitable: Any) -> None:
        try:
            self.queue.put_nowait((item, request, awaitable))
        except asyncio.QueueFull:
            if self.knobs.autoscale:
                self._grow(1)
            self.backlog.append(((item, request, awaitable), time.monotonic()))
            self._schedule_retry()
            return
        depth = self.queue.qsize()
        if depth > self.queue_peak:
            self.queue_peak = depth

    def _schedule_retry(self) -> None:
        if self._retry_handle is None:
            self._retry_handle = self.loop.call_later(0.001, self._retry_backlog)

    def _retry_backlog(self) -> None:
        """runtime.md §3.2 (host decision): retry every 1 ms until
        `bridge_enqueue_wait_ms` has passed since the first failure, then 503."""
        self._retry_handle = None
        wait_s = self.knobs.enqueue_wait_ms / 1000.0
        while self.backlog:
            entry, first_fail = self.backlog[0]
            if not first_fail:
                first_fail = time.monotonic()
                self.backlog[0] = (entry, first_fail)
            try:
                self.queue.put_nowait(entry)
            except asyncio.QueueFull:
                if self.knobs.autoscale:
                    self._grow(1)
                if time.monotonic() - first_fail < wait_s:
                    self._schedule_retry()
                    return
                self.backlog.popleft()
                self._server_busy(entry)
                continue
            self.backlog.popleft()
        self._wake_soon()

    def _server_busy(self, entry: Any) -> None:
        item, request, awaitable = entry
        self.server_busy_503 += 1
        if awaitable is not None and hasattr(awaitable, "close"):
            awaitable.close()  # never started: close it so Python does not warn
        self._send_safe(item[0], _SERVER_BUSY)

    # -- workers ---------------------------------------------------------
    def _spawn_worker(self) -> None:
        task = self.loop.create_task(self._worker())
        self.workers.add(task)
        task.add_done_callback(self.workers.discard)

    def _grow(self, n: int) -> int:
        added = 0
        while added < n and len(self.workers) < self.knobs.max_workers:
            self._spawn_worker()
            added += 1
        self.scale_ups += added
        return added

    async def _worker(self) -> None:
        count = 0
        yield_every = self.knobs.worker_yield_every
        while True:
            entry = await self.queue.get()
            if entry is None:
                self.scale_downs += 1
                return
            self._wake_soon()  # a slot freed: the poller may take more
            item, request, awaitable = entry
            self.workers_busy += 1
            try:
                await self._work(item, request, awaitable)
            except asyncio.CancelledError:
                raise
            except SystemExit as exc:
                self.interpreter_exit(exc)
            except BaseException as exc:
                log.error("http_worker_error %r", exc, exc_info=True)
                self._send_safe(item[0], _INTERNAL_ERROR)
            finally:
                self.workers_busy -= 1
            count += 1
            if count >= yield_every:
                count = 0
                await asyncio.sleep(0)

    async def _work(self, item: tuple, request: Any, awaitable: Any) -> None:
        rid = item[0]
        if request is None:
            request = self._from_native(*item)
            result = self._handle(request)
        else:
            result = awaitable
        if hasattr(result, "__await__"):
            result = await result
        self._deliver(rid, request, result)

    # -- results ---------------------------------------------------------
    def _deliver(self, rid: int, request: Any, result: Any) -> None:
        if _is_stream(result):
            task = self._spawn(self._stream(rid, request, result))
            self.streams[rid] = task
            return
        self._send_plain(rid, request, result)

    def _send_plain(self, rid: int, request: Any, result: Any) -> None:
        """Normalise, serialise and send natively; then the request's background tasks."""
        try:
            self._send(rid, result)
        except BackpressureError as exc:
            self._dropped(rid, exc)
            return
        except Exception as exc:
            self._send_failed(rid, exc)
            return
        if request._background is not None:
            self._run_background(request)

    async def _stream(self, rid: int, request: Any, resp: Dict[str, Any]) -> None:
        try:
            await run_stream(rid, resp)
        finally:
            self.streams.pop(rid, None)
            if request._background is not None:
                self._run_background(request)

    def _send_failed(self, rid: int, exc: BaseException) -> None:
        # Serialisation failed (e.g. a value JSON cannot encode): 500, logged.
        log.error("handler_error %r", exc, exc_info=True)
        report_unhandled(exc)
        self._send_safe(rid, _INTERNAL_ERROR)

    def _dropped(self, rid: int, exc: BackpressureError) -> None:
        """The runtime did not take the response (ring or queue full for `ipc_ring_wait_ms`, or
        stopping): not the handler's fault, so no handler_error and no 500, which would meet the
        same full ring. The client gets the runtime's 504 (docs/internals/bridge.md, "Native errors").
        Background tasks are dropped, as for any request that did not complete."""
        self.responses_dropped += 1
        log.warning("response_dropped request_id=%d %s: %s", rid, type(exc).__name__, exc)

    def _send_safe(self, rid: int, resp: Any) -> None:
        try:
            self._send(rid, resp)
        except BackpressureError as exc:
            self._dropped(rid, exc)
        except Exception as exc:
            log.error("http_worker_error %r", exc, exc_info=True)

    # -- tasks -----------------------------------------------------------
    def _spawn(self, coro: Any) -> asyncio.Task:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _run_background(self, request: Any) -> None:
        tasks = request._background
        request._background = None
        drain = getattr(tasks, "drain_tasks", None)
        items = drain() if drain is not None else list(tasks)
        for func, args, kwargs in items:
            self.bg_pending += 1
            self._spawn(self._background_task(func, args, kwargs))

    async def _background_task(self, func: Callable, args: tuple, kwargs: dict) -> None:
        try:
            if getattr(self.app, "_sync_threadpool", False) and not _is_async_callable(func):
                # ViperHTTP(sync_handlers="threadpool"): sync tasks too (docs/internals/typed-api.md).
                from viperhttp.threadpool import run_in_threadpool

                result = await run_in_threadpool(func, *args, **kwargs)
            else:
                result = func(*args, **kwargs)
            if hasattr(result, "__await__"):
                await result
        except asyncio.CancelledError:
            raise
        except SystemExit as exc:
            self.interpreter_exit(exc)
        except BaseException as exc:
            log.error("bg_task_error %r", exc, exc_info=True)
        finally:
            self.bg_pending -= 1

    def _tick(self) -> None:
        """Every 100 ms: the scaler (runtime.md §3.4) and the check that cancels
        stream tasks whose client went away (§3.6)."""
        try:
            for rid, task in list(self.streams.items()):
                if _native.is_cancelled(rid) and not task.done():
                    task.cancel()
            self._scale()
        except Exception as exc:
            log.error("bridge_scaler_error %r", exc, exc_info=True)
        try:
            # Runtime records (static and reject access lines arrive without a wake-up),
            # and once a second whether Python now has a handler for access lines.
            _forward_logs()
            self._ticks += 1
            if self._ticks % 10 == 0:
                refresh_access_log()
        except Exception as exc:
            log.error("bridge_loop_error %r", exc, exc_info=True)
        if self.running:
            self._tick_handle = self.loop.call_later(_SCALE_CHECK_S, self._tick)

    def _scale(self) -> None:
        k = self.knobs
        workers = len(self.workers)
        queued = self.queue.qsize()
        if workers < k.min_workers:
            self._grow(k.min_workers - workers)
        elif not k.autoscale:
            return
        elif queued > workers and workers < k.max_workers:
            target = min(max(queued, k.min_workers), k.max_workers)
            self._grow(min(target - workers, k.scale_up_max_burst))
            self._idle_ticks = 0
        elif queued == 0 and workers > k.min_workers and self.workers_busy < workers:
            self._idle_ticks += 1
            if self._idle_ticks >= _SCALE_DOWN_IDLE_TICKS:
                self._idle_ticks = 0
                self.queue.put_nowait(None)  # one worker exits
        else:
            self._idle_ticks = 0

    # -- stop ------------------------------------------------------------
    def interpreter_exit(self, exc: SystemExit) -> None:
        """`sys.exit()` in app code ends the interpreter (runtime.md §9.4): the runtime stops
        accepting and answers every request waiting for Python — this one included — with
        `503 Service Unavailable` and `Connection: close`; then `run()` stops (shutdown hooks
        still run) and raises the same SystemExit, so the process exits with its status."""
        if self.exit_request is not None:
            return
        self.exit_request = exc
        log.error("interpreter_exit %r: in-flight requests get 503, stopping", exc)
        _native._fail_in_flight()
        self.skip_drain = True
        self.stop_event.set()

    def request_stop(self) -> None:
        _native.stop()
        self.stop_event.set()

    def _idle(self) -> bool:
        # open_connections: after stop() idle connections close at once, so any left are
        # sending something (a static file, a stream) and get the grace period too.
        return (_native.in_flight() == 0 and not self.tasks and self.queue.empty()
                and not self.backlog and self.workers_busy == 0
                and _native.open_connections() == 0)

    async def drain(self, timeout_s: float) -> None:
        """runtime.md §9.1 steps 1–5: stop accepting, let in-flight requests and
        background tasks finish up to the grace period, then cut the rest."""
        _native.stop()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.skip_drain:
            self.on_wake()  # requests still queued are dispatched
            if self._idle():
                break
            await asyncio.sleep(0.01)
        self.running = False
        try:
            self.loop.remove_reader(_native.wakeup_fd())
        except Exception:
            pass
        for handle in (self._tick_handle, self._retry_handle):
            if handle is not None:
                handle.cancel()
        pending = list(self.tasks) + list(self.workers)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self.exit_request is not None:
            # Let the runtime write the 503s before its connections are cut (bounded).
            until = time.monotonic() + 2.0
            while _native.open_connections() and time.monotonic() < until:
                await asyncio.sleep(0.01)
        _native.close()

    def stats(self) -> Dict[str, Any]:
        k = self.knobs
        return {
            "running": self.running, "workers": len(self.workers), "workers_busy": self.workers_busy,
            "workers_min": k.min_workers, "workers_max": k.max_workers, "autoscale": k.autoscale,
            "queue_size": k.queue_size, "queue_depth": self.queue.qsize() + len(self.backlog),
            "queue_peak": self.queue_peak, "scale_ups": self.scale_ups, "scale_downs": self.scale_downs,
            "server_busy_503": self.server_busy_503, "dispatched": self.dispatched,
            "responses_dropped": self.responses_dropped,
            "streams_active": len(self.streams), "bg_tasks_pending": self.bg_pending,
        }


def bridge_stats() -> Dict[str, Any]:
    """runtime.md §3.4: live pool state (a fresh dict)."""
    b = Bridge.current
    if b is None:
        return {"running": False}
    return b.stats()


def _loop_already_set() -> Optional[asyncio.AbstractEventLoop]:
    """The loop set for this thread, without creating one. `policy.get_event_loop()` would
    create a plain asyncio loop on the main thread when none is set, which would keep uvloop
    from ever being chosen; the default policies keep the set loop in `_local._loop`."""
    policy = asyncio.get_event_loop_policy()
    local = getattr(policy, "_local", None)
    if local is not None:
        loop = getattr(local, "_loop", None)
        return loop if isinstance(loop, asyncio.AbstractEventLoop) else None
    # A policy without that layout (e.g. a third-party one): ask it, as before.
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return policy.get_event_loop()
    except RuntimeError:
        return None


def _choose_loop(loop: Optional[asyncio.AbstractEventLoop]) -> asyncio.AbstractEventLoop:
    loop = getattr(loop, "_device_loop_target", loop)  # a uasyncio loop wrapper (compat)
    if loop is not None:
        asyncio.set_event_loop(loop)
        return loop
    current = _loop_already_set()
    if current is not None and not current.is_closed():
        # An app that called asyncio.get_event_loop() (uasyncio style) and created tasks on it
        # before run() keeps that loop, so those tasks run.
        return current
    new_loop: asyncio.AbstractEventLoop
    if not os.environ.get("VIPERHTTP_NO_UVLOOP"):
        try:
            import uvloop  # type: ignore[import-not-found]
            new_loop = uvloop.new_event_loop()
        except ImportError:
            new_loop = asyncio.new_event_loop()
    else:
        new_loop = asyncio.new_event_loop()
    asyncio.set_event_loop(new_loop)
    return new_loop


def _ensure_logging() -> None:
    """Give `viperhttp` logs a stderr handler when the app configured none, so
    startup lines and tracebacks are seen (like uvicorn's default)."""
    root = logging.getLogger()
    vlog = logging.getLogger("viperhttp")
    if not root.handlers and not vlog.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        h._viperhttp_default = True  # type: ignore[attr-defined]  # no access lines for it
        vlog.addHandler(h)
        if vlog.level == logging.NOTSET:
            vlog.setLevel(logging.INFO)


def _log_late_startup_failure(task: "asyncio.Task[Any]") -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("startup_error %r", exc, exc_info=exc)


def _run_startup(app: Any, loop: asyncio.AbstractEventLoop,
                 timeout_s: float) -> "Optional[asyncio.Task[Any]]":
    """Startup handlers in order, each awaited; a failure stops the start
    (`RuntimeError("startup failed")`, logged `startup_error`); handlers still
    running after `startup_timeout_s` are left running and serving starts: that
    background task is returned (None otherwise)."""
    hooks = _hooks(app, "startup")
    if not hooks:
        return None
    task = loop.create_task(_call_hooks(hooks))
    done, _pending = loop.run_until_complete(asyncio.wait({task}, timeout=timeout_s))
    if not done:
        log.warning("startup handlers still running after %ss; serving starts", timeout_s)
        task.add_done_callback(_log_late_startup_failure)
        return task
    exc = task.exception()
    if exc is not None:
        log.error("startup_error %r", exc, exc_info=exc)
        raise RuntimeError("startup failed") from exc
    return None


def _cancel_startup(loop: asyncio.AbstractEventLoop, task: "Optional[asyncio.Task[Any]]",
                    timeout_s: float) -> None:
    """Before the shutdown handlers: a startup still running in the background is cancelled
    and awaited, so that a lifespan context manager is either exited by the cancellation
    (entered: `_lifespan_startup` exits it with the CancelledError) or never entered, and
    cannot finish entering after the shutdown step (it would never be exited)."""
    if task is None or task.done():
        return
    log.warning("startup_cancelled: startup handlers still running at shutdown")
    task.cancel()
    try:
        loop.run_until_complete(asyncio.wait({task}, timeout=timeout_s))
    except Exception:  # pragma: no cover - asyncio.wait does not raise the task's error
        pass
    if not task.done():
        log.error("startup_cancel_timeout: startup handlers ignored the cancellation")


async def _call_hooks(hooks: List[Callable[[], Any]]) -> None:
    for hook in hooks:
        result = hook()
        if hasattr(result, "__await__"):
            await result


def _is_async_callable(func: Any) -> bool:
    func = inspect.unwrap(func)
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))


def _hooks(app: Any, event: str) -> List[Callable[[], Any]]:
    getter = getattr(app, "_lifespan_hooks", None)
    if callable(getter):
        return list(getter(event))
    return list(getattr(app, f"_{event}_handlers", []) or [])


def _apply_python_limits(runtime_kw: Dict[str, Any]) -> None:
    """Limits that the Python side enforces too: form file size follows
    `max_body_size` (api.md §6), FileResponse paths follow `vfs_root`."""
    from viperhttp import files, forms

    body = runtime_kw.get("max_body_size")
    forms.MAX_FILE_SIZE = body if isinstance(body, int) and not isinstance(body, bool) and body > 0 else 1024 * 1024
    root = runtime_kw.get("vfs_root") or os.environ.get("VIPERHTTP_VFS_ROOT")
    if root is not None:
        files.VFS_ROOT = root


#: `run()` keywords set by the `viperhttp run` command line (viperhttp.cli); they override the
#: app's own, so a module that calls `app.run(port=...)` at import follows `--port`.
CLI_OVERRIDES: Dict[str, Any] = {}


def run(app: Any, port: int = 8080, host: str = "0.0.0.0", wifi: bool = True,
        loop: Optional[asyncio.AbstractEventLoop] = None, block: bool = True,
        shutdown_timeout_s: float = 10, startup_timeout_s: float = 10, **kw: Any) -> Any:
    """Start the native runtime and the dispatch loop (api.md §2.3). Blocks until
    SIGINT/SIGTERM or `app.stop()`, drains, runs shutdown hooks, returns None.
    With `block=False` it returns the loop, which the caller runs."""
    if CLI_OVERRIDES:  # `viperhttp run` settings win over the module's own run() keywords
        host = CLI_OVERRIDES.get("host", host)
        port = CLI_OVERRIDES.get("port", port)
        kw.update({k: v for k, v in CLI_OVERRIDES.items() if k not in ("host", "port")})
    if isinstance(port, bool) or not isinstance(port, int) or not (0 <= port <= 65535):
        raise ValueError("invalid port")
    knobs, runtime_kw, _other = split_run_kwargs(kw)
    if os.environ.get("VIPERHTTP_WORKER"):
        # One of several worker processes (viperhttp.supervisor): share the port.
        runtime_kw["reuse_port"] = True
        port = int(os.environ.get("VIPERHTTP_WORKER_PORT") or port)
    elif _other.get("workers") not in (None, 1):
        workers = _other["workers"]
        if isinstance(workers, bool) or not isinstance(workers, int):
            raise TypeError("workers must be an int")
        if not 1 <= workers <= 1024:
            raise ValueError("workers out of range")
        from viperhttp.supervisor import run_workers
        run_workers(host, port, workers)  # this process supervises; the workers serve
        return None
    if not runtime_kw.get("vfs_root") and os.environ.get("VIPERHTTP_VFS_ROOT"):
        # The env form of the setting reaches the native static mounts too (docs/guide/device-apps.md).
        runtime_kw["vfs_root"] = os.environ["VIPERHTTP_VFS_ROOT"]
    _apply_python_limits(runtime_kw)
    if runtime_kw.get("shared_store"):
        # Read by a SessionMiddleware created without a store (docs/internals/sessions-auth.md); the
        # environment also reaches worker processes.
        os.environ["VIPERHTTP_SHARED_STORE"] = str(runtime_kw["shared_store"])
    elif os.environ.get("VIPERHTTP_SHARED_STORE"):
        # The native rate limiter uses the store too (docs/guide/deployment.md "Shared state with Redis").
        runtime_kw["shared_store"] = os.environ["VIPERHTTP_SHARED_STORE"]
    _ensure_logging()
    if any(key.startswith("ota") for key in _other):  # OTA routes/slots (docs/internals/ota.md)
        from viperhttp_ota.routes import install_from_run
        install_from_run(app, _other, host)
    # /openapi.json, /docs, /redoc: after every route, before the listener (docs/internals/api-docs.md).
    try:
        import viperhttp_autodocs
    except ModuleNotFoundError as exc:
        if exc.name != "viperhttp_autodocs":
            raise
    else:
        viperhttp_autodocs.install_from_run(app, _other)
    if wifi:
        log.info("wifi=True: using the host's network (no Wi-Fi set-up on a computer)")
    ev_loop = _choose_loop(loop)

    # (4) startup handlers, before the listener binds (extensions.md §7).
    startup_task = _run_startup(app, ev_loop, startup_timeout_s)

    # (6)+(7) stop any previous server, start the native listener.
    if _native.bound_port() is not None:
        _native.close()
    main_thread = threading.current_thread() is threading.main_thread()
    try:
        bound = _native.start(host=host, port=port, **runtime_kw)
    except (ValueError, OSError) as exc:
        if not (runtime_kw.get("https") and block and main_thread):
            raise
        # A certificate or key that cannot be used ends a blocking script with one clear
        # line and status 1, not a traceback (docs/internals/tls-http2.md, "Start errors").
        log.error("tls_error %s", exc)
        raise SystemExit(f"viperhttp: cannot start HTTPS: {exc}") from exc
    app.bound_port = bound
    scheme = "https" if runtime_kw.get("https") else "http"
    log.info("viperhttp serving on %s://%s:%d", scheme, host, bound)

    bridge = Bridge(app, ev_loop, knobs)
    refresh_access_log()
    app._shutdown_done = False
    Bridge.current = bridge
    app._bridge = bridge
    bridge.start()
    log.info(
        "bridge_workers_started %d min %d max %d queue %d autoscale %s",
        knobs.min_workers, knobs.min_workers, knobs.max_workers, knobs.queue_size, knobs.autoscale,
    )
    bridge.shutdown_timeout_s = shutdown_timeout_s
    bridge.startup_task = startup_task  # a startup still running in the background, if any
    bridge.tls = bool(runtime_kw.get("https"))  # SIGHUP reloads the certificate while serving
    if not block:
        return ev_loop
    return serve_started(bridge)


def serve_started(bridge: "Bridge") -> None:
    """Serves a started bridge until SIGINT/SIGTERM or `app.stop()`, drains, runs shutdown
    hooks and closes the listener: the blocking half of `run()`, also used by a device app's
    `get_event_loop().run_forever()` after `start()` (docs/guide/device-apps.md)."""
    ev_loop, app = bridge.loop, bridge.app
    shutdown_timeout_s = bridge.shutdown_timeout_s
    startup_task = bridge.startup_task

    previous: Dict[int, Any] = {}
    signals_seen = [0]
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum: int, _frame: Any) -> None:
            signals_seen[0] += 1
            if signals_seen[0] >= 3:  # a drain that cannot finish (a stuck sync handler)
                os._exit(128 + signum)
            if signals_seen[0] == 2:  # runtime.md §9.1 step 6: skip the grace period
                bridge.skip_drain = True
            # Steps 1–3 at once, natively (thread-safe, non-blocking): the listener closes and
            # idle connections end even while a sync handler holds the loop (the signal
            # interrupts its sleep, this runs, the handler resumes).
            _native.stop()
            ev_loop.call_soon_threadsafe(bridge.request_stop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        if bridge.tls and hasattr(signal, "SIGHUP"):
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _on_sighup)
    try:
        ev_loop.run_until_complete(bridge.stop_event.wait())
        ev_loop.run_until_complete(bridge.drain(shutdown_timeout_s))
        _cancel_startup(ev_loop, startup_task, shutdown_timeout_s)
        try:
            ev_loop.run_until_complete(asyncio.wait_for(shutdown(app), shutdown_timeout_s))
        except asyncio.TimeoutError:
            log.error("shutdown_timeout")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        Bridge.current = None
        Bridge.served = True  # a later device-style run_forever() returns at once
        if threading.current_thread() is threading.main_thread():
            _end_device_run_forever(ev_loop)
        if _native.bound_port() is not None:
            _native.close()
        # Queued thread-pool work is dropped; running calls finish on their own (a thread
        # cannot be stopped). docs/internals/typed-api.md "Blocking code".
        from viperhttp.threadpool import shutdown as _threadpool_shutdown

        _threadpool_shutdown()
        try:
            _forward_logs()  # what the runtime logged while stopping
        except Exception:
            pass
    if bridge.exit_request is not None:
        raise bridge.exit_request  # the process exits with the app's status (§9.4)
    ota = sys.modules.get("viperhttp_ota")
    if ota is not None and ota.restart_pending():
        ota._reexec()  # OTA `reboot=True` (docs/internals/ota.md): stopped completely, now start again
    return None


def _end_device_run_forever(loop: asyncio.AbstractEventLoop) -> None:
    """After a blocking serve, the device idiom `app.run(); asyncio.get_event_loop().run_forever()`
    must end instead of hanging (docs/guide/device-apps.md): a direct `run_forever()` call on the
    served loop returns at once. `run_until_complete` (which runs the loop through
    `run_forever`) keeps working. A loop that cannot take the override (uvloop's) is replaced as
    this thread's current loop by a fresh one that has it."""
    if loop.is_closed():
        return
    target = loop
    try:
        original = target.run_forever
        target.run_forever = _returns_at_once(original)  # type: ignore[method-assign]
    except AttributeError:  # a C-level loop without an instance dict
        target = asyncio.new_event_loop()
        original = target.run_forever
        target.run_forever = _returns_at_once(original)  # type: ignore[method-assign]
        asyncio.set_event_loop(target)


def _returns_at_once(original: Callable[[], None]) -> Callable[[], None]:
    def run_forever() -> None:
        if sys._getframe(1).f_code.co_name == "run_until_complete":
            original()
    return run_forever


def _on_sighup(_signum: int, _frame: Any) -> None:
    """SIGHUP: re-read the TLS certificate and key (docs/internals/tls-http2.md, "Reload"). Open
    connections keep theirs; a bad new pair is logged and the old one stays in use."""
    try:
        _native.reload_tls()
    except (ValueError, OSError) as exc:
        log.error("tls_reload_error %s", exc)
    else:
        log.info("tls_reloaded")


def start(app: Any, loop: Optional[asyncio.AbstractEventLoop] = None) -> asyncio.AbstractEventLoop:
    """Non-blocking form (api.md §2.3): schedules the dispatch loop, returns the loop."""
    return run(app, loop=loop, block=False)


async def shutdown(app: Any) -> None:
    """Run the app's shutdown handlers, at most once per run (extensions.md §7);
    each handler's failure is logged and the others still run."""
    if getattr(app, "_shutdown_done", False):
        return
    app._shutdown_done = True
    for hook in _hooks(app, "shutdown"):
        try:
            result = hook()
            if hasattr(result, "__await__"):
                await result
        except Exception as exc:
            log.error("shutdown_error %r", exc, exc_info=True)


def stop_app(app: Any) -> None:
    """Thread-safe graceful stop of a running app (api.md §2.3 `app.stop()`)."""
    bridge = getattr(app, "_bridge", None)
    if bridge is not None:
        bridge.loop.call_soon_threadsafe(bridge.request_stop)
    else:
        _native.stop()
