"""viperhttp_bridge: the dispatch loop between the native runtime and the app
(docs/internals/bridge.md). Runs on the one interpreter thread; every "worker" is an
asyncio task, never an OS thread.

Hot path (docs/internals/bridge.md#one-request): the wake-up fd fires → one native call takes a whole
batch of requests → each sync handler runs inline and its result is normalised, serialised and sent by one
native call; only awaitables get a task.
"""
from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from viperhttp import _native
from viperhttp.diagnostics import forward_native_logs as _forward_logs
from viperhttp.diagnostics import listen_address, refresh_access_log

from .knobs import split_run_kwargs

_log_pending = _native._log_pending
from . import direct
from .dispatch import Bridge
from .websocket import WebSocket

if TYPE_CHECKING:  # imported when a loop is made (docs/internals/bridge.md#serving-without-an-event-loop)
    import asyncio

log = logging.getLogger("viperhttp.bridge")

__all__ = [
    "run", "start", "shutdown", "serialize_response", "runtime_features", "bridge_stats", "Bridge",
    "WebSocket", "StartupHandlerError", "AddressInUseError",
]

#: The response dict a handler result becomes; the one implementation is
#: crates/viperhttp-py/src/serialise.rs (docs/internals/requests-responses.md).
serialize_response = _native.serialize_response


def runtime_features() -> Dict[str, bool]:
    return {"async_generator_supported": True}


def bridge_stats() -> Dict[str, Any]:
    """docs/internals/bridge.md#worker-model: live pool state (a fresh dict)."""
    b = Bridge.current
    if b is None:
        return {"running": False}
    return b.stats()


def _loop_already_set() -> Optional[asyncio.AbstractEventLoop]:
    """The loop set for this thread, without creating one. `policy.get_event_loop()` would
    create a plain asyncio loop on the main thread when none is set, which would keep uvloop
    from ever being chosen; the default policies keep the set loop in `_local._loop`."""
    import asyncio

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
    import asyncio

    loop = getattr(loop, "_device_loop_target", loop)  # a uasyncio loop wrapper (compat)
    if loop is not None:
        asyncio.set_event_loop(loop)
        return loop
    current = _loop_already_set()
    if current is not None and not current.is_closed():
        # An app that called asyncio.get_event_loop() (uasyncio style) and created tasks on it
        # before run() keeps that loop, so those tasks run. One an earlier run() in this thread
        # left with `run_forever` returning at once (`_end_device_run_forever`) is made whole
        # again: this run serves on it.
        if "run_forever" in getattr(current, "__dict__", {}):
            del current.run_forever  # type: ignore[method-assign]
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
    (`StartupHandlerError("startup failed")`, a `RuntimeError`, logged `startup_error`); handlers still
    running after `startup_timeout_s` are left running and serving starts: that
    background task is returned (None otherwise)."""
    import asyncio

    hooks = _hooks(app, "startup")
    if not hooks:
        return None
    task = loop.create_task(_call_hooks(hooks))
    if loop.is_running():  # started from a coroutine on this loop: it cannot be waited for here
        task.add_done_callback(_log_late_startup_failure)
        return task
    done, _pending = loop.run_until_complete(asyncio.wait({task}, timeout=timeout_s))
    if not done:
        log.warning("startup handlers still running after %ss; serving starts", timeout_s)
        task.add_done_callback(_log_late_startup_failure)
        return task
    exc = task.exception()
    if exc is not None:
        log.error("startup_error %r", exc, exc_info=exc)
        raise StartupHandlerError("startup failed") from exc
    return None


def _cancel_startup(loop: asyncio.AbstractEventLoop, task: "Optional[asyncio.Task[Any]]",
                    timeout_s: float) -> None:
    """Before the shutdown handlers: a startup still running in the background is cancelled
    and awaited, so that a lifespan context manager still entering is cancelled there (the
    default of `app.router.lifespan_context` runs the shutdown handlers on its way out if it had
    yielded) and cannot finish entering after the shutdown step (it would never be exited)."""
    import asyncio

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


def _hooks(app: Any, event: str) -> List[Callable[[], Any]]:
    getter = getattr(app, "_lifespan_hooks", None)
    if callable(getter):
        return list(getter(event))
    return list(getattr(app, f"_{event}_handlers", []) or [])


def _apply_python_limits(runtime_kw: Dict[str, Any]) -> None:
    """Limits that the Python side enforces too: form file size follows
    `max_body_size` (docs/internals/requests-responses.md#request), FileResponse paths follow `vfs_root`."""
    from viperhttp import files, forms

    body = runtime_kw.get("max_body_size")
    forms.MAX_FILE_SIZE = body if isinstance(body, int) and not isinstance(body, bool) and body > 0 else 1024 * 1024
    root = runtime_kw.get("vfs_root") or os.environ.get("VIPERHTTP_VFS_ROOT")
    if root is not None:
        files.VFS_ROOT = root


#: `run()` keywords set by the `viperhttp run` command line (viperhttp.cli); they override the
#: app's own, so a module that calls `app.run(port=...)` at import follows `--port`.
CLI_OVERRIDES: Dict[str, Any] = {}


class StartupHandlerError(RuntimeError):
    """A startup handler (or the lifespan's entry) raised: `run()` raises this, with the
    handler's exception as `__cause__` and the message `"startup failed"` (the original's
    `RuntimeError`, docs/internals/lifespan.md)."""


class StartFailure(SystemExit):
    """A start-up that cannot succeed, already logged in one line (docs/internals/tls-http2.md,
    "Start errors"): a script ends with status 1 and the message, `viperhttp run` with its
    start-up status 3 (not retried by the worker supervisor)."""


class AddressInUseError(OSError):
    """`run()` could not bind: something else listens on the address (docs/internals/bridge.md,
    "Start and stop"). An `OSError` with `errno` EADDRINUSE, as a socket's own bind error, and
    `host` / `port`; logged in one line first. Uncaught in a script, it ends it with that line
    and status 1 rather than the framework's stack, as uvicorn's `[Errno 98] error while
    attempting to bind on address ...` does."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"error while attempting to bind on address "
                                           f"{listen_address(host, port)}: Address already in use")
        self.host, self.port = host, port

    def __reduce__(self) -> Any:
        # rebuilt from (host, port), not OSError's (errno, strerror): pickling across processes
        # (multiprocessing, concurrent.futures) and copy.copy work
        return (type(self), (self.host, self.port))


def _address_in_use(exc: BaseException) -> bool:
    """The native bind error of a taken address (`bind H:P: Address already in use (os error 98)`:
    the runtime's `OSError` carries only that message)."""
    return isinstance(exc, OSError) and (exc.errno == errno.EADDRINUSE
                                         or f"(os error {errno.EADDRINUSE})" in str(exc))


def _one_line_when_uncaught() -> None:
    """An `AddressInUseError` nothing catches prints its one line, not the framework's stack
    (already logged; status 1 as any uncaught exception). Other exceptions, and a script's own
    `sys.excepthook`, are left as they are."""
    previous = sys.excepthook
    if previous is not sys.__excepthook__:
        return

    def hook(kind: Any, value: BaseException, tb: Any) -> None:
        if isinstance(value, AddressInUseError):
            sys.stderr.write(f"{kind.__name__}: {value}\n")
        else:
            previous(kind, value, tb)

    sys.excepthook = hook


def run(app: Any, port: int = 8080, host: str = "0.0.0.0", wifi: Optional[bool] = None,
        loop: Optional[asyncio.AbstractEventLoop] = None, block: bool = True,
        shutdown_timeout_s: float = 10, startup_timeout_s: float = 10, lifespan: bool = True,
        **kw: Any) -> Any:
    """Start the native runtime and the dispatch loop (docs/internals/bridge.md#start-and-stop). Blocks until
    SIGINT/SIGTERM or `app.stop()`, drains, runs shutdown hooks, returns None.
    With `block=False` it returns the loop, which the caller runs. `lifespan=False` serves
    without running the startup and shutdown hooks (uvicorn's `--lifespan off`; what a
    `TestClient` used without `with` does, as Starlette's)."""
    if CLI_OVERRIDES:  # `viperhttp run` settings win over the module's own run() keywords
        host = CLI_OVERRIDES.get("host", host)
        port = CLI_OVERRIDES.get("port", port)
        shutdown_timeout_s = CLI_OVERRIDES.get("shutdown_timeout_s", shutdown_timeout_s)
        wifi = CLI_OVERRIDES.get("wifi", wifi)
        kw.update({k: v for k, v in CLI_OVERRIDES.items()
                   if k not in ("host", "port", "shutdown_timeout_s", "wifi")})
    if isinstance(port, bool) or not isinstance(port, int) or not (0 <= port <= 65535):
        raise ValueError("invalid port")
    activate = getattr(app, "_activate", None)
    if activate is not None:  # an app made before the latest one serves again (framework.md)
        activate()
    in_coroutine = False
    if block and "asyncio" in sys.modules:  # no loop can run before asyncio was imported
        running = sys.modules["asyncio"]._get_running_loop()
        if running is not None:
            # Called from a coroutine (`uasyncio.run(main())` with `app.run()` inside): the
            # original's run() returned at once, serving beside the caller, and blocking here
            # would need the very loop this coroutine runs on (docs/guide/device-apps.md).
            loop, block, in_coroutine = running, False, True
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
        run_workers(host, port, workers, tls=bool(runtime_kw.get("https")))  # the workers serve
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
    if in_coroutine:
        log.info("run() inside a running event loop: serving on it and returning, as start() does")
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
    if wifi:  # only when the app asked for it: `app.run(port=8000)` of a FastAPI newcomer says nothing of Wi-Fi
        log.info("wifi=True: using the host's network (no Wi-Fi set-up on a computer)")
    # An app that uses no asyncio yet is served without an event loop until it needs one
    # (docs/internals/bridge.md#serving-without-an-event-loop); startup hooks run on a loop.
    # `sync_handlers="threadpool"` apps await the pool from their first request: a loop at once.
    lifespan = bool(lifespan)
    direct = (block and loop is None and "asyncio" not in sys.modules
              and not (lifespan and _hooks(app, "startup")) and not getattr(app, "_sync_threadpool", False))
    ev_loop = None if direct else _choose_loop(loop)

    # (4) startup handlers, before the listener binds (docs/internals/lifespan.md).
    startup_task = _run_startup(app, ev_loop, startup_timeout_s) if ev_loop is not None and lifespan else None
    startup_ran = ev_loop is not None and lifespan and bool(_hooks(app, "startup"))

    # (6)+(7) stop any previous server, start the native listener.
    if _native.bound_port() is not None:
        _native.close()
    main_thread = threading.current_thread() is threading.main_thread()
    try:
        bound = _native.start(host=host, port=port, **runtime_kw)
    except Exception as exc:
        if startup_ran and not ev_loop.is_running():  # type: ignore[union-attr]
            # The lifespan was entered but nothing will serve (the port is taken, a setting or
            # the certificate was refused): leave it, so what its startup opened is closed
            # (docs/internals/lifespan.md).
            _cancel_startup(ev_loop, startup_task, shutdown_timeout_s)  # type: ignore[arg-type]
            _run_shutdown(app, ev_loop, shutdown_timeout_s)
        if _address_in_use(exc):
            error = AddressInUseError(host, port)
            log.error("startup failed: %s", error)  # the words of `viperhttp run`'s other start errors
            if block and main_thread:
                _one_line_when_uncaught()
            raise error from None  # the runtime's own message says no more
        if not (isinstance(exc, (ValueError, OSError)) and runtime_kw.get("https") and block and main_thread):
            raise
        # A certificate or key that cannot be used ends a blocking script with one clear
        # line and status 1, not a traceback (docs/internals/tls-http2.md, "Start errors").
        hint = ""
        if isinstance(exc, _native.TlsCertMissingError):  # the message names the native setting; say the user's
            hint = " (give the certificate and key: --tls-cert/--tls-key, or tls_cert_path=/tls_key_path=)"
        log.error("tls_error %s%s", exc, hint)
        raise StartFailure(f"viperhttp: cannot start HTTPS: {exc}{hint}") from exc
    app.bound_port = bound
    scheme = "https" if runtime_kw.get("https") else "http"
    log.info("viperhttp serving on %s://%s", scheme, listen_address(host, bound))

    bridge = Bridge(app, ev_loop, knobs)
    refresh_access_log()
    app._shutdown_done = False
    Bridge.current = bridge
    app._bridge = bridge
    if ev_loop is not None:
        bridge.start()
        log.info(
            "bridge_workers_started %d min %d max %d queue %d autoscale %s",
            knobs.min_workers, knobs.min_workers, knobs.max_workers, knobs.queue_size, knobs.autoscale,
        )
    else:  # serve_started() serves directly; workers come with the loop, if one is needed
        log.info("bridge_started without an event loop: sync handlers run directly; the first "
                 "async request starts the loop and its workers (min %d max %d queue %d autoscale %s)",
                 knobs.min_workers, knobs.max_workers, knobs.queue_size, knobs.autoscale)
    bridge.shutdown_timeout_s = shutdown_timeout_s
    bridge.startup_task = startup_task  # a startup still running in the background, if any
    bridge.lifespan = lifespan  # the shutdown hooks run only where the startup ones did
    bridge.tls = bool(runtime_kw.get("https"))  # SIGHUP reloads the certificate while serving
    if not block:
        return ev_loop
    return serve_started(bridge)


def serve_started(bridge: "Bridge") -> None:
    """Serves a started bridge until SIGINT/SIGTERM or `app.stop()`, drains, runs shutdown
    hooks and closes the listener: the blocking half of `run()`, also used by a device app's
    `get_event_loop().run_forever()` after `start()` (docs/guide/device-apps.md)."""
    app = bridge.app
    shutdown_timeout_s = bridge.shutdown_timeout_s
    startup_task = bridge.startup_task

    previous: Dict[int, Any] = {}
    signals_seen = [0]
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum: int, _frame: Any) -> None:
            signals_seen[0] += 1
            if signals_seen[0] >= 3:  # a drain that cannot finish (a stuck sync handler)
                os._exit(128 + signum)
            if signals_seen[0] == 2:  # docs/internals/bridge.md#start-and-stop: skip the grace period
                bridge.skip_drain = True
            # Steps 1–3 at once, natively (thread-safe, non-blocking): the listener closes and
            # idle connections end even while a sync handler holds the loop (the signal
            # interrupts its sleep, this runs, the handler resumes). The grace period starts
            # now: requests of a batch in hand not started by its end are not started.
            bridge.mark_stop()
            _native.stop(0.0 if bridge.skip_drain else shutdown_timeout_s)
            bridge.call_soon_threadsafe(bridge.request_stop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        if hasattr(signal, "SIGHUP"):
            # Reloads the certificate with TLS; without, it stops nothing either (its default
            # action would end the process without a drain): docs/guide/deployment.md.
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, _on_sighup if bridge.tls else _on_plain_sighup)
        _watch_parent()
    ev_loop = bridge.loop
    try:
        drain_left: Optional[float] = None  # set once a drain has begun without a loop
        if ev_loop is None:  # no loop yet: serve directly until a request needs one, or the stop
            direct.serve(bridge)
            if bridge.loop is None:
                drain_left = direct.drain(bridge, shutdown_timeout_s)
            ev_loop = bridge.loop
            if ev_loop is not None and drain_left is None:  # the loop serves from here on
                bridge.start_polling()
                bridge.run_calls()
        if ev_loop is not None:
            if drain_left is None:
                assert bridge.stop_event is not None
                ev_loop.run_until_complete(bridge.stop_event.wait())
                drain_left = shutdown_timeout_s
            ev_loop.run_until_complete(bridge.drain(drain_left))  # a drain begun directly ends here
            _cancel_startup(ev_loop, startup_task, shutdown_timeout_s)
        if bridge.lifespan:
            ev_loop = _run_shutdown(app, ev_loop, shutdown_timeout_s)
        else:
            app._shutdown_done = True
        bridge.run_calls()  # scheduled from other threads while the hooks ran without a loop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        Bridge.current = None
        Bridge.served = True  # a later device-style run_forever() returns at once
        bridge.wake_pipe = None
        if threading.current_thread() is threading.main_thread() and ev_loop is not None:
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
        # The process exits with the app's status (docs/internals/bridge.md#start-and-stop).
        raise bridge.exit_request
    ota = sys.modules.get("viperhttp_ota")
    if ota is not None and ota.restart_pending():
        ota._reexec()  # OTA `reboot=True` (docs/internals/ota.md): stopped completely, now start again
    return None


def _run_shutdown(app: Any, ev_loop: Optional[asyncio.AbstractEventLoop],
                  timeout_s: float) -> Optional[asyncio.AbstractEventLoop]:
    """The shutdown hooks, on the serving loop; an app served without one gets a loop only if it
    has hooks to run. Returns the loop they ran on, if any."""
    if ev_loop is None:
        if not _hooks(app, "shutdown"):
            app._shutdown_done = True
            return None
        ev_loop = _choose_loop(None)
    import asyncio

    try:
        ev_loop.run_until_complete(asyncio.wait_for(shutdown(app), timeout_s))
    except asyncio.TimeoutError:
        log.error("shutdown_timeout")
    return ev_loop


def _end_device_run_forever(loop: asyncio.AbstractEventLoop) -> None:
    """After a blocking serve, the device idiom `app.run(); asyncio.get_event_loop().run_forever()`
    must end instead of hanging (docs/guide/device-apps.md): a direct `run_forever()` call on the
    served loop returns at once. `run_until_complete` (which runs the loop through
    `run_forever`) keeps working. A loop that cannot take the override (uvloop's) is replaced as
    this thread's current loop by a fresh one that has it."""
    import asyncio

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


def _watch_parent() -> None:
    """A worker of `viperhttp run --workers N` / `--reload` stops as on SIGTERM (drains, exits
    0) once its supervisor is gone, even when the supervisor was killed (SIGKILL, a crash) and
    could not tell it: otherwise it would serve on, orphaned, holding the port
    (docs/guide/deployment.md). Checked every half second by a daemon thread."""
    expected = os.environ.get("VIPERHTTP_PARENT_PID")
    if not expected or not expected.isdigit() or os.getppid() != int(expected):
        return
    parent = int(expected)

    def watch() -> None:
        while Bridge.current is not None:
            if os.getppid() != parent:
                log.warning("supervisor (pid %d) is gone: stopping", parent)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.5)

    threading.Thread(target=watch, name="viperhttp-parent-watch", daemon=True).start()


def _on_sighup(_signum: int, _frame: Any) -> None:
    """SIGHUP: re-read the TLS certificate and key (docs/internals/tls-http2.md, "Reload"). Open
    connections keep theirs; a bad new pair is logged and the old one stays in use."""
    try:
        _native.reload_tls()
    except (ValueError, OSError) as exc:
        log.error("tls_reload_error %s", exc)
    else:
        log.info("tls_reloaded")


def _on_plain_sighup(_signum: int, _frame: Any) -> None:
    log.info("sighup: no TLS certificate to reload; nothing to do (SIGTERM or SIGINT stops)")


def start(app: Any, loop: Optional[asyncio.AbstractEventLoop] = None) -> asyncio.AbstractEventLoop:
    """Non-blocking form (docs/internals/bridge.md#start-and-stop): schedules the dispatch loop, returns the
    loop."""
    return run(app, loop=loop, block=False)


async def shutdown(app: Any) -> None:
    """Run the app's shutdown handlers, at most once per run (docs/internals/lifespan.md);
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
    """Thread-safe graceful stop of a running app (docs/internals/bridge.md#start-and-stop `app.stop()`)."""
    bridge = getattr(app, "_bridge", None)
    if bridge is not None:
        bridge.call_soon_threadsafe(bridge.request_stop)
    else:
        _native.stop()
