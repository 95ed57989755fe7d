"""A bounded thread pool for blocking sync code (docs/internals/typed-api.md "Blocking code").

The interpreter thread runs `def` handlers inline by default (the original's behaviour, and
the fast path). Routes declared `blocking=True`, or every sync handler with
`ViperHTTP(sync_handlers="threadpool")`, run here instead, so a handler sleeping on I/O no
longer stalls every other request. The pool is created on first use; its size is
`ViperHTTP(threadpool_size=...)` (default 40, Starlette's limit).
"""
from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

if TYPE_CHECKING:
    from .daemon_pool import DaemonThreadPool

__all__ = ["run_in_threadpool", "run_sync", "submit", "configure", "warn_if_slow", "shutdown", "running",
           "SLOW_INLINE_SECONDS"]

log = logging.getLogger("viperhttp.bridge")

DEFAULT_SIZE = 40
#: An inline sync handler holding the interpreter thread longer than this is reported once.
SLOW_INLINE_SECONDS = 0.100

_state: Dict[str, Any] = {"size": DEFAULT_SIZE}
_pool: List[Optional[DaemonThreadPool]] = [None]


def configure(size: int) -> None:
    """Sets the pool size for the next pool; the running pool (if any) keeps its size."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError("threadpool_size must be an int >= 1")
    _state["size"] = size


def _executor() -> DaemonThreadPool:
    pool = _pool[0]
    if pool is None:
        # late: `concurrent.futures` (and `queue`) only for apps that use the pool
        from .daemon_pool import DaemonThreadPool

        pool = _pool[0] = DaemonThreadPool(max_workers=_state["size"], thread_name_prefix="viperhttp-sync")
    return pool


_running_lock = threading.Lock()
_running = [0]


def _counted(call: Callable[[], Any]) -> Any:
    """`call()` counted while it runs: `running()` tells a stop what is still busy."""
    with _running_lock:
        _running[0] += 1
    try:
        return call()
    finally:
        with _running_lock:
            _running[0] -= 1


def running() -> int:
    """Calls still running in the pool (a stop that ends while some do logs how many)."""
    return _running[0]


def submit(func: Callable[..., Any], *args: Any) -> Any:
    """`func(*args)` in the pool, counted in `running()`, with the caller's context variables
    (so `current_request()` works inside); the `concurrent.futures.Future`."""
    ctx = contextvars.copy_context()
    return _executor().submit(_counted, functools.partial(ctx.run, func, *args))


async def run_in_threadpool(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs `func(*args, **kwargs)` in the pool and awaits it (`submit`)."""
    import asyncio  # here, not at module level (docs/internals/bridge.md#serving-without-an-event-loop)

    return await asyncio.wrap_future(submit(functools.partial(func, *args, **kwargs)))


def run_sync(func: Callable[..., Any], kwargs: Dict[str, Any]) -> Any:
    """`run_in_threadpool(func, **kwargs)` as an awaitable (the route pipeline's spelling)."""
    return run_in_threadpool(func, **kwargs)


#: a second slow call of a route within this many seconds of the first is reported (`warn_if_slow`)
SLOW_REPEAT_SECONDS = 60.0


def warn_if_slow(plan: Any, started: float) -> None:
    """Logs once per route, at an inline call that held the interpreter thread too long
    within `SLOW_REPEAT_SECONDS` of the route's previous such call.

    One slow call proves nothing about the handler: on a shared machine the OS can keep the
    interpreter thread off the CPU for 100 ms in the middle of a 5 µs handler (seen twice in 15
    minutes of the soak, docs/internals/benchmarks.md "Soak"), and the advice to declare it
    `blocking=True` was then wrong. A handler that blocks, always or only sometimes (a cache
    miss), does so again soon under traffic; two pauses of the OS a minute apart on one route
    are rare. Quick calls cost nothing more (only slow calls write `plan.last_slow`)."""
    now = time.perf_counter()
    elapsed = now - started
    if elapsed <= SLOW_INLINE_SECONDS:
        return
    previous, plan.last_slow = plan.last_slow, now
    if now - previous <= SLOW_REPEAT_SECONDS and not plan.slow_warned:
        plan.slow_warned = True
        log.warning("slow_sync_handler %s %s held the interpreter thread %.0f ms; every other request "
                    "waited. Declare the route with blocking=True (or ViperHTTP(sync_handlers="
                    "\"threadpool\")) to run it in the thread pool", plan.method, plan.path, elapsed * 1000)


def shutdown() -> None:
    """Stops the pool when `run()` ends (queued calls are cancelled); a later run starts a
    new one. Calls still running are said in the log: their threads are daemon threads, so
    neither `viperhttp run` nor a script's own exit waits for them."""
    pool, _pool[0] = _pool[0], None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
    left = running()
    if left:
        log.warning("%d blocking call(s) still running in the thread pool are left behind", left)


_clock = time.perf_counter
