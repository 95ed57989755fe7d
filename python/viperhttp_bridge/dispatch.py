"""The dispatch loop between the native runtime and the app (docs/internals/bridge.md).

Runs on the one interpreter thread; every "worker" is an asyncio task, never an OS thread.

Hot path: the wake-up fd fires → one native call takes a whole batch of requests → each
handler runs inline on the poller. A sync handler's result is normalised, serialised and sent
by one native call. An `async def` handler's coroutine is started inline too (*eager start*):
most finish without suspending and cost what a sync handler costs. Only a coroutine that
suspends occupies a worker, and the `bridge_*` limits (workers, queue, `503 Server Busy`)
apply to those.
"""
from __future__ import annotations

import contextvars
import logging
import os
import time
import types
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Generator, List, Optional, Set, Tuple

from viperhttp import _native
from viperhttp._native import BackpressureError
from viperhttp._native import is_cancelled as _is_cancelled
from viperhttp.diagnostics import forward_native_logs as _forward_logs
from viperhttp.diagnostics import refresh_access_log
from viperhttp.exceptions import report_unhandled
from viperhttp.route_pipeline import current_request_var

from .background import BackgroundRunner
from .knobs import BridgeKnobs
from .streaming import END_STREAM, run_stream
from .websocket import WsDispatcher

if TYPE_CHECKING:  # imported with the first event loop (docs/internals/bridge.md#serving-without-an-event-loop)
    import asyncio

log = logging.getLogger("viperhttp.bridge")
_log_pending = _native._log_pending

#: asyncio's task registry (what its own eager tasks use on 3.12+; present since 3.7), bound by
#: `Bridge._adopt_loop` when the first event loop is created.
_enter_task: Optional[Callable[[Any, Any], None]] = None
_leave_task: Optional[Callable[[Any, Any], None]] = None

_CoroutineType = types.CoroutineType
_step = _native._step_coroutine
_copy_context = contextvars.copy_context

#: A set, not a tuple: `in` on a tuple compares a coroutine's type with all eight (~80 ns).
_PLAIN_RESULTS = frozenset((dict, str, bytes, list, type(None), int, float, bytearray))
_INTERNAL_ERROR = {
    "__vhttp_response__": True,
    "status_code": 500,
    "body": "Internal Server Error",
    "headers": None,
    "content_type": "text/plain; charset=utf-8",
}
_SERVER_BUSY = {
    "__vhttp_response__": True,
    "status_code": 503,
    "body": "Server Busy",
    "headers": None,
    "content_type": "text/plain; charset=utf-8",
}
#: Requests taken from the native queue per poll call (a whole batch).
_BATCH_MAX = 256
#: How long the poller or a worker runs requests before it lets the event loop turn (timers,
#: other tasks): a batch of slow sync handlers otherwise held every `await asyncio.sleep()`
#: of the app for the whole batch (docs/internals/bridge.md#fairness).
_TURN_BUDGET_S = 0.02
_clock = time.perf_counter
#: Scaler period and idle ticks before one worker retires (docs/internals/bridge.md#worker-model).
_SCALE_CHECK_S = 0.1
_SCALE_DOWN_IDLE_TICKS = 20
#: Handed to an idle worker by the scaler: that worker exits.
_RETIRE = object()

#: (item, request or None, awaitable or None, context or None, first yielded value)
Entry = Tuple[tuple, Any, Any, Any, Any]


def _in_flight() -> int:
    """Requests the runtime waits on Python for (queued or running)."""
    try:
        return int(_native.ipc_stats().get("pending_ids", 0))
    except Exception:  # no runtime any more
        return 0


def _is_stream(result: Any) -> bool:
    return isinstance(result, dict) and result.get("stream") is not None and bool(result.get("__vhttp_response__"))


class _Resume:
    """Awaits a coroutine that has already been started (it suspended on `first`), stepping
    it inside its own context. Awaited by the worker task that was current while the coroutine
    started, so `asyncio.current_task()`, `asyncio.timeout()` and cancellation see one task
    from the first line of the handler to the last — the semantics of Python 3.12's eager
    tasks, which 3.9–3.11 do not have."""

    __slots__ = ("coro", "first", "ctx")

    def __init__(self, coro: Any, first: Any, ctx: contextvars.Context) -> None:
        self.coro, self.first, self.ctx = coro, first, ctx

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, run = self.coro, self.ctx.run
        yielded = self.first
        while True:
            try:
                sent = yield yielded  # the Task waits on what the handler waits on
            except BaseException as exc:  # CancelledError (and throw()) go to the handler
                try:
                    yielded = run(coro.throw, exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    yielded = run(coro.send, sent)
                except StopIteration as done:
                    return done.value


class _Worker:
    __slots__ = ("task", "waiter")

    def __init__(self) -> None:
        self.task: Optional[asyncio.Task] = None
        self.waiter: Optional[asyncio.Future] = None


class Bridge(BackgroundRunner):
    """One running bridge (docs/internals/bridge.md).

    - The poller (`on_wake`) takes native batches and handles each request inline while no
      request is waiting for a worker: a sync handler runs to completion, an `async def`
      handler's coroutine is started (eager start, below).
    - Eager start: the coroutine's first step runs on the poller, inside a fresh copy of the
      context and with an idle worker task registered as the current task. If it finishes,
      its result is sent at once and the worker stays idle. If it suspends, that same worker
      takes it over and awaits the rest. With no idle worker the request waits, unstarted,
      in the bridge queue (`bridge_queue_size`, FIFO; later requests queue behind it).
    - At most `bridge_max_workers` workers; the scaler adjusts their number between min and
      max. A full queue makes the poller stop taking messages; the request that did not fit
      waits up to `bridge_enqueue_wait_ms`, then is answered `503 Server Busy`. Waiting
      requests are admitted the moment a worker frees a queue slot (event-driven, no timer).
    """

    current: Optional["Bridge"] = None
    #: a blocking serve finished in this process (device-style `run_forever()` then returns)
    served = False
    shutdown_timeout_s: float = 10
    startup_task: Optional["asyncio.Task[Any]"] = None
    tls = False
    #: run() ran the startup hooks, so the stop runs the shutdown ones (`run(lifespan=False)`)
    lifespan = True

    def __init__(self, app: Any, loop: Optional[asyncio.AbstractEventLoop], knobs: BridgeKnobs) -> None:
        from viperhttp.request import Request

        self.app = app
        #: None while the bridge serves without an event loop (`direct.serve`); set, for good,
        #: by the first thing that needs one (docs/internals/bridge.md#serving-without-an-event-loop).
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.knobs = knobs
        self._from_native: Callable[..., Any] = Request._from_native
        self._handle: Callable[[Any], Any] = app._handle
        self._handle_error: Callable[[Any, Exception], Any] = app._handle_error
        self._send = _native._send_result
        self._poll = _native._poll_batch
        self._eager = False
        #: requests waiting for a worker, unstarted (≤ bridge_queue_size)
        self.queue: Deque[Entry] = deque()
        #: requests that found the queue full, with the time they did (→ 503 after the wait)
        self.backlog: Deque[Tuple[Entry, float]] = deque()
        self.workers: Set[asyncio.Task] = set()
        self.idle: List[_Worker] = []
        self.workers_busy = 0
        self.tasks: Set[asyncio.Task] = set()
        self.streams: Dict[int, asyncio.Task] = {}
        #: (method, route path) of routes whose inline sync stream was reported slow
        self.slow_stream_routes: Set[Tuple[str, str]] = set()
        #: the streams that are server-sent events: ended at once when a stop begins
        self.event_streams: Set[int] = set()
        self.bg_pending = 0  # background.py
        self.bg_watch: Optional[List[Any]] = None
        self.dispatched = 0
        self.eager_done = 0
        self.queue_peak = 0
        self.scale_ups = 0
        self.scale_downs = 0
        self.server_busy_503 = 0
        self.responses_dropped = 0
        self.skipped_cancelled = 0
        self._idle_ticks = 0
        self._ticks = 0
        self.running = False
        self.stop_event: Optional[asyncio.Event] = None  # with the loop; `stop_requested` before it
        self.stop_requested = False
        #: `call_soon_threadsafe` calls made while there is no loop (run by the direct loop or the tick)
        self._calls: Deque[Tuple[Callable[..., Any], tuple]] = deque()
        #: `direct.serve`'s wake-up pipe (read end, write end) while it serves, for calls from
        #: signal handlers and other threads (`direct.wake_pipe()`: one per process, never closed)
        self.wake_pipe: Optional[Tuple[int, int]] = None
        self.skip_drain = False  # set by a second SIGINT/SIGTERM
        #: when the stop was asked for (the grace period counts from then), and whether the
        #: drain runs: then every request of a batch is checked before it starts, the first too
        self.stop_at: Optional[float] = None
        self.draining = False
        self.exit_request: Optional[SystemExit] = None  # sys.exit() from app code
        self._scheduled = False
        #: the rest of a batch whose handlers used up a loop turn (`on_wake`), taken first
        self._carried: Optional[List[Any]] = None
        self._expiry_handle: Optional[asyncio.TimerHandle] = None
        self._tick_handle: Optional[asyncio.TimerHandle] = None
        self.ws = WsDispatcher(app, self._spawn)
        if loop is not None:
            self._adopt_loop(loop)

    # -- the event loop --------------------------------------------------
    def _adopt_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        global _enter_task, _leave_task
        import asyncio

        try:
            from asyncio.tasks import _enter_task, _leave_task
        except ImportError:  # pragma: no cover - an interpreter without them runs every coroutine on a worker
            _enter_task = _leave_task = None
        self.loop = loop
        self._eager = _enter_task is not None
        self.stop_event = asyncio.Event()
        if self.stop_requested:
            self.stop_event.set()

    def need_loop(self) -> None:
        """While serving without an event loop: the first coroutine, stream, background task or
        WebSocket creates it, with its workers (docs/internals/bridge.md#serving-without-an-event-loop).
        `direct.serve` returns after the batch in hand and the loop takes over."""
        if self.loop is not None:
            return
        from . import _choose_loop

        self._adopt_loop(_choose_loop(None))
        for _ in range(self.knobs.min_workers):
            self._spawn_worker()

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Runs `fn(*args)` soon on the interpreter thread, from any thread or a signal handler;
        False when the bridge's loop is closed."""
        loop = self.loop
        if loop is not None:
            if loop.is_closed():
                return False
            loop.call_soon_threadsafe(fn, *args)
            return True
        self._calls.append((fn, args))
        pipe = self.wake_pipe
        if pipe is not None:
            try:
                os.write(pipe[1], b"\0")
            except OSError:  # full (a wake-up is pending anyway) or closed (stopped)
                pass
        return True

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> None:
        """Runs `fn(*args)` on the interpreter thread after `delay_s`, with or without a loop."""
        if self.loop is not None:
            self.loop.call_later(delay_s, fn, *args)
            return
        import threading

        timer = threading.Timer(delay_s, self.call_soon_threadsafe, (fn, *args))
        timer.daemon = True
        timer.start()

    def run_calls(self) -> None:
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            try:
                fn(*args)
            except Exception as exc:
                log.error("bridge_call_error %r", exc, exc_info=True)

    # -- polling ---------------------------------------------------------
    def start(self) -> None:
        """Loop mode from the start: workers, then the poller."""
        for _ in range(self.knobs.min_workers):
            self._spawn_worker()
        self.start_polling()

    def start_polling(self) -> None:
        assert self.loop is not None
        self.running = True
        self.loop.add_reader(_native.wakeup_fd(), self._on_readable)
        self._tick_handle = self.loop.call_later(_SCALE_CHECK_S, self._tick)
        self.on_wake()

    def _on_readable(self) -> None:
        """The wake-up fd is readable: poll now, unless a poll is already scheduled for this
        turn. Polling again beside it left two `on_wake`s pending, the next turn three, and so
        on: under steady load one loop turn came to run a growing number of batches, and timers
        (every `await asyncio.sleep()`) waited for all of them (docs/internals/bridge.md#fairness)."""
        if not self._scheduled:
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
        batch = self._carried
        if batch:
            self._carried = None
            first = None  # polled in an earlier turn: each is checked for a departed client
        else:
            room = _BATCH_MAX if not self.queue else self.knobs.queue_size - len(self.queue)
            if room <= 0:
                # Queue full: take one message anyway so its bridge_enqueue_wait_ms clock
                # starts (it goes to the backlog); the backlog then stops further polling.
                room = 1
            batch = self.poll_batch(room)
            if not batch:
                return
            first = None if self.draining else batch[0]  # polled just now: fresh, unless stopping
        # Each message admitted here, in the loop (one Python call less per request than a method).
        handle_inline = self.handle_inline
        turn_ends = _clock() + _TURN_BUDGET_S
        taken = len(batch)
        for item in batch:
            if item[0].__class__ is str:  # ("ws_*", ...): handled inline in the poller
                self.ws.handle(item)
            elif item is not first and _is_cancelled(item[0]):
                self.client_gone(item[0])
            elif self.queue or self.backlog:  # FIFO: behind the requests already waiting
                self._enqueue((item, None, None, None, None))
            else:
                handle_inline(item)
                if _clock() > turn_ends:
                    # Slow handlers: the rest of the batch waits for the next turn, in order
                    # (`index` finds the item by identity first: this path only).
                    rest = batch[batch.index(item) + 1:]
                    if rest:
                        self._carried = rest
                        taken -= len(rest)
                    break
        self.dispatched += taken
        self._wake_soon()

    def client_gone(self, rid: int) -> None:
        """A request of the batch whose client left (or that timed out) while the handlers
        before it ran: it is not started, so nothing it would do happens after its client got
        an error or nothing (docs/internals/bridge.md#client-disconnect). The send clears the
        runtime's cancel mark and writes nothing."""
        self.skipped_cancelled += 1
        self._send_safe(rid, _INTERNAL_ERROR)

    def poll_batch(self, room: int) -> List[Any]:
        """Up to `room` messages (none: the consumer is parked); runtime log records first."""
        if _log_pending():
            _forward_logs()
        try:
            return self._poll(room)
        except Exception as exc:  # the poller never dies from an error
            log.error("bridge_loop_error %r", exc, exc_info=True)
            return []

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
        elif type(result) is _CoroutineType:
            if self.idle and self._eager:
                self._start_eagerly(item, request, result)
            else:
                self._enqueue((item, request, result, None, None))
        elif hasattr(result, "__await__"):
            self._enqueue((item, request, result, None, None))  # a worker awaits it
        else:
            self._deliver(rid, request, result)

    def _start_eagerly(self, item: tuple, request: Any, coro: Any) -> None:
        """Run the coroutine's first step now, as the task of the idle worker that takes it
        over if it suspends (docs/internals/bridge.md#eager-start)."""
        worker = self.idle[-1]
        loop = self.loop
        try:
            _enter_task(loop, worker.task)
        except RuntimeError:  # called from inside a task (drain, start): a worker runs it
            self._enqueue((item, request, coro, None, None))
            return
        self.workers_busy += 1
        ctx = _copy_context()
        try:
            # `_first_step` written out: this is the path of every `async def` request.
            try:
                done, value = _step(coro, ctx, current_request_var, request)
                if done and request._finish is not None:
                    value = request._finish(value)
            except Exception as exc:
                coro, done, value = self._on_error(request, exc, ctx)
        except SystemExit as exc:
            self.interpreter_exit(exc)
            return
        except BaseException as exc:  # KeyboardInterrupt and the like: a bug path
            log.error("http_worker_error %r", exc, exc_info=True)
            self._send_safe(item[0], _INTERNAL_ERROR)
            return
        finally:
            _leave_task(loop, worker.task)
            self.workers_busy -= 1  # a suspended coroutine is counted again by its worker
        if done:
            self.eager_done += 1
            if type(value) in _PLAIN_RESULTS and not (type(value) is dict and "stream" in value):
                self._send_plain(item[0], request, value)  # `_deliver`'s first case, one call less
            else:
                self._deliver(item[0], request, value)
            return
        if self.idle[-1] is worker:
            self.idle.pop()
        else:  # pragma: no cover - the handler's first step re-entered the bridge
            self.idle.remove(worker)
        assert worker.waiter is not None
        worker.waiter.set_result((item, request, coro, ctx, value))

    def _enqueue(self, entry: Entry) -> None:
        """A request for a worker: to an idle one at once, else into the bounded queue, else
        into the backlog, where it waits for a slot up to `bridge_enqueue_wait_ms`."""
        if self.loop is None:
            self.need_loop()
        if self.idle and not self.queue:
            self._hand_to_idle(entry)
            return
        if self.knobs.grow_on_demand and len(self.queue) >= len(self.idle) and self.loop.is_running():
            # No worker will be free for it: start one now (up to `bridge_max_workers`) rather
            # than at the scaler's next tick, so requests that wait on I/O wait side by side.
            self._grow(1)
        if (len(self.queue) < self.knobs.queue_size and not self.backlog) or not self.loop.is_running():
            # Before the loop runs (the switch from serving without one, or `start()`), what a
            # batch brings is queued whole: the workers that take it have not started yet.
            self.queue.append(entry)
            if len(self.queue) > self.queue_peak:
                self.queue_peak = len(self.queue)
            return
        if self.knobs.autoscale and not self.knobs.grow_on_demand:
            self._grow(1)
        self.backlog.append((entry, time.monotonic()))
        if self._expiry_handle is None:
            self._schedule_expiry()

    def _hand_to_idle(self, entry: Entry) -> None:
        worker = self.idle.pop()
        assert worker.waiter is not None
        worker.waiter.set_result(entry)

    def _admit_backlog(self) -> None:
        """A queue slot freed: move waiting requests in (event-driven admission); when the
        backlog empties, the poller resumes taking native messages."""
        queue, backlog, size = self.queue, self.backlog, self.knobs.queue_size
        while backlog and len(queue) < size:
            queue.append(backlog.popleft()[0])
        if not backlog:
            if self._expiry_handle is not None:
                self._expiry_handle.cancel()
                self._expiry_handle = None
            self._wake_soon()

    def _schedule_expiry(self) -> None:
        deadline = self.backlog[0][1] + self.knobs.enqueue_wait_ms / 1000.0
        self._expiry_handle = self.loop.call_at(
            self.loop.time() + max(0.0, deadline - time.monotonic()), self._expire_backlog)

    def _expire_backlog(self) -> None:
        """`bridge_enqueue_wait_ms` after a request found the queue full: `503 Server Busy`."""
        self._expiry_handle = None
        wait_s = self.knobs.enqueue_wait_ms / 1000.0
        now = time.monotonic()
        while self.backlog and now - self.backlog[0][1] >= wait_s:
            self._server_busy(self.backlog.popleft()[0])
        if self.backlog:
            self._schedule_expiry()
        else:
            self._wake_soon()

    def _server_busy(self, entry: Entry) -> None:
        item, awaitable = entry[0], entry[2]
        self.server_busy_503 += 1
        if awaitable is not None and hasattr(awaitable, "close"):
            awaitable.close()  # never started: close it so Python does not warn
        self._send_safe(item[0], _SERVER_BUSY)

    # -- workers ---------------------------------------------------------
    def _spawn_worker(self) -> None:
        worker = _Worker()
        task = self.loop.create_task(self._worker(worker))
        worker.task = task
        self.workers.add(task)
        task.add_done_callback(self.workers.discard)

    def _grow(self, n: int) -> int:
        added = 0
        while added < n and len(self.workers) < self.knobs.max_workers:
            self._spawn_worker()
            added += 1
        self.scale_ups += added
        return added

    async def _next_entry(self, worker: _Worker) -> Any:
        if self.queue:
            entry = self.queue.popleft()
            if self.backlog:
                self._admit_backlog()
            return entry
        waiter = worker.waiter = self.loop.create_future()
        self.idle.append(worker)
        try:
            return await waiter
        finally:
            worker.waiter = None
            if worker in self.idle:  # cancelled while idle
                self.idle.remove(worker)

    async def _worker(self, worker: _Worker) -> None:
        import asyncio

        count = 0
        yield_every = self.knobs.worker_yield_every
        while True:
            entry = await self._next_entry(worker)
            if entry is _RETIRE:
                self.scale_downs += 1
                return
            item = entry[0]
            self.workers_busy += 1
            started = _clock()
            try:
                await self._work(entry)
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
            if count >= yield_every or _clock() - started > _TURN_BUDGET_S:
                count = 0
                await asyncio.sleep(0)

    async def _work(self, entry: Entry) -> None:
        item, request, result, ctx, first = entry
        rid = item[0]
        if request is None:
            if _is_cancelled(rid):  # its client left while it waited for a worker
                self.client_gone(rid)
                return
            request = self._from_native(*item)
            result = self._handle(request)
        if ctx is None and type(result) is _CoroutineType:  # its own context, as a task would have
            ctx = _copy_context()
            result, done, first = self._first_step(request, result, ctx)
            if done:
                self._deliver(rid, request, first)
                return
        if ctx is not None:  # started, suspended on `first`
            result = await self._resume(request, result, first, ctx)
        elif hasattr(result, "__await__"):
            result = await result
        self._deliver(rid, request, result)

    def _first_step(self, request: Any, coro: Any, ctx: contextvars.Context) -> Tuple[Any, bool, Any]:
        """Steps a coroutine once inside `ctx` (a fresh copy) with the request current
        (docs/internals/bridge.md#bare-coroutine). Returns `(coroutine, done, value)`: the
        finished result (its response plan applied), or what the coroutine suspended on. What it
        raises goes to the app's exception handlers, run in `ctx`; an async one is stepped in
        turn and returned as the coroutine to resume."""
        try:
            done, value = _step(coro, ctx, current_request_var, request)
            if done and request._finish is not None:
                value = request._finish(value)
            return coro, done, value
        except Exception as exc:
            return self._on_error(request, exc, ctx)

    async def _resume(self, request: Any, coro: Any, first: Any, ctx: contextvars.Context) -> Any:
        """Awaits a started coroutine in its context on a worker; its response plan and its
        errors as in `_first_step`."""
        try:
            result = await _Resume(coro, first, ctx)
            if request._finish is not None:
                result = request._finish(result)
            return result
        except Exception as exc:
            coro, done, value = self._on_error(request, exc, ctx)
            return value if done else await _Resume(coro, value, ctx)

    def _on_error(self, request: Any, exc: Exception, ctx: contextvars.Context) -> Tuple[Any, bool, Any]:
        """The app's exception handlers for what a coroutine (or its response plan) raised, run
        in the request's context; an async one is stepped once there. `(coroutine, done, value)`
        as `_first_step` returns it. The response plan is dropped: it must not finish what an
        exception handler makes instead."""
        request._finish = None
        result = ctx.run(self._handle_error, request, exc)
        if type(result) is not _CoroutineType:
            return None, True, result
        done, value = _step(result, ctx, current_request_var, request)  # guard_awaitable: no raise
        return result, done, value

    # -- results ---------------------------------------------------------
    def _deliver(self, rid: int, request: Any, result: Any) -> None:
        # A plain value (the common case, for every caller: eager finish, worker, inline) is
        # sent at once; the same test `handle_inline` makes before it looks for a coroutine.
        if type(result) in _PLAIN_RESULTS and not (type(result) is dict and "stream" in result):
            self._send_plain(rid, request, result)
            return
        if type(result) is tuple:
            # `(StreamingResponse(...), 201)`: the status tuple is resolved first so a stream
            # inside it is still streamed (docs/internals/requests-responses.md).
            try:
                result = _native.normalize(result)
            except Exception as exc:
                self._send_failed(rid, exc)
                return
        if _is_stream(result):
            task = self._spawn(self._stream(rid, request, result))
            self.streams[rid] = task
            if str(result.get("content_type") or "").lower().startswith("text/event-stream"):
                self.event_streams.add(rid)
            return
        self._send_plain(rid, request, result)

    def _send_plain(self, rid: int, request: Any, result: Any) -> None:
        """Normalise, serialise and send natively; then the request's background tasks (claimed
        before the send, so whoever sees the response also sees them pending)."""
        if type(result) is not dict:
            self._adopt_response_background(request, result)
        batch = self._claim_background(request)
        try:
            self._send(rid, result)
        except BackpressureError as exc:
            self._unclaim(batch)
            self._dropped(rid, exc)
            return
        except Exception as exc:
            self._unclaim(batch)
            self._send_failed(rid, exc)
            return
        self._start_background(batch)

    async def _stream(self, rid: int, request: Any, resp: Dict[str, Any]) -> None:
        self._adopt_response_background(request, resp)
        batch = self._claim_background(request, keep=True)
        plan = self._plan_of(request)
        threaded = plan.pool_sources if plan is not None else bool(getattr(self.app, "_sync_threadpool", False))
        try:
            await run_stream(rid, resp, threaded, None if threaded else self._slow_stream(request, plan))
        finally:
            self.streams.pop(rid, None)
            self.event_streams.discard(rid)
            # with those the body added while it streamed
            self._start_background(self._claim_background(request, into=batch))

    def _plan_of(self, request: Any) -> Any:
        """The route plan that answered `request`, when the runtime's match names it."""
        carried = getattr(request, "_route", None)
        if carried is None:
            return None
        plans = getattr(self.app, "_routes_by_id", ())
        route_id = carried[2]
        return plans[route_id] if 0 <= route_id < len(plans) else None

    def _slow_stream(self, request: Any, plan: Any) -> Callable[[float], None]:
        """What an inline sync stream calls once when one item held the interpreter thread
        too long: a warning, once per route (as `slow_sync_handler` for handlers)."""
        key = (request.method, plan.path if plan is not None else request.path)

        def slow(ms: float) -> None:
            if key not in self.slow_stream_routes:
                self.slow_stream_routes.add(key)
                log.warning("slow_sync_stream %s %s: producing one item held the interpreter thread "
                            "%.0f ms; every other request waited. Use an async generator, or declare "
                            "the route with blocking=True to produce the items in the thread pool",
                            key[0], key[1], ms)
        return slow

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
        if self.loop is None:
            self.need_loop()
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _tick(self) -> None:
        """Every 100 ms: the scaler (docs/internals/bridge.md#worker-model) and the check that
        cancels stream tasks whose client went away."""
        if self._calls:  # made while the bridge had no loop yet (call_soon_threadsafe)
            self.run_calls()
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
        queued = len(self.queue) + len(self.backlog)
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
                if self.idle:
                    self._hand_to_idle(_RETIRE)  # one worker exits
        else:
            self._idle_ticks = 0

    # -- stop ------------------------------------------------------------
    def interpreter_exit(self, exc: SystemExit) -> None:
        """`sys.exit()` in app code ends the interpreter (docs/internals/bridge.md): the runtime stops
        accepting and answers every request waiting for Python — this one included — with
        `503 Service Unavailable` and `Connection: close`; then `run()` stops (shutdown hooks
        still run) and raises the same SystemExit, so the process exits with its status."""
        if self.exit_request is not None:
            return
        self.exit_request = exc
        if getattr(exc, "planned", False):  # machine.reset(): meant, not a failure
            log.info("interpreter_exit %r: in-flight requests get 503, stopping", exc)
        else:
            log.error("interpreter_exit %r: in-flight requests get 503, stopping", exc)
        _native._fail_in_flight()
        self.skip_drain = True
        self._set_stop()

    def request_stop(self) -> None:
        self.mark_stop()
        _native.stop()
        self._set_stop()

    def begin_drain(self, timeout_s: float) -> float:
        """The drain's start, with or without a loop; returns its deadline. Work not started
        by the end of the grace period counted from the signal is not started (natively:
        `is_cancelled` turns true); what runs may finish until `timeout_s` from now, so a
        response completed just after the first deadline still goes out."""
        self.mark_stop()
        first = not self.draining
        self.draining = True
        assert self.stop_at is not None
        _native.stop(max(0.0, self.stop_at + timeout_s - time.monotonic()))
        if first:
            log.info("stopping: %d request(s) in flight, up to %.1fs to finish", _in_flight(), timeout_s)
        return time.monotonic() + timeout_s

    def end_drain(self) -> None:
        """Before the runtime closes: says what the stop cuts."""
        left = _in_flight()
        if left:
            log.warning("stopping: %d request(s) not finished in time are cut", left)

    def mark_stop(self) -> None:
        """The moment a stop was asked for (the first time): the grace period counts from it."""
        if self.stop_at is None:
            self.stop_at = time.monotonic()

    def _set_stop(self) -> None:
        self.stop_requested = True
        if self.stop_event is not None:
            self.stop_event.set()

    def _idle(self) -> bool:
        # open_connections: after stop() idle connections close at once, so any left are
        # sending something (a static file, a stream) and get the grace period too.
        return (_native.in_flight() == 0 and not self.tasks and not self.queue
                and not self.backlog and self.workers_busy == 0
                and _native.open_connections() == 0)

    async def drain(self, timeout_s: float) -> None:
        """Graceful stop (docs/internals/bridge.md): stop accepting, let in-flight requests and
        background tasks finish up to the grace period, then cut the rest."""
        import asyncio

        deadline = self.begin_drain(timeout_s)
        # Server-sent event streams never end by themselves, and an EventSource reconnects on
        # its own: they end now, cleanly (the body's last chunk), instead of holding the stop
        # for the whole grace period and being cut (as sse-starlette does on shutdown).
        for rid in list(self.event_streams):
            task = self.streams.get(rid)
            if task is not None and not task.done():
                task.cancel(END_STREAM)
        while time.monotonic() < deadline and not self.skip_drain:
            if self._calls:  # made before a switch that happened during the drain
                self.run_calls()
            self.on_wake()  # requests still queued are dispatched
            if self._idle():
                break
            await asyncio.sleep(0.01)
        self.running = False
        assert self.loop is not None
        try:
            self.loop.remove_reader(_native.wakeup_fd())
        except Exception:
            pass
        for handle in (self._tick_handle, self._expiry_handle):
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
        else:
            self.end_drain()
        _native.close()

    def stats(self) -> Dict[str, Any]:
        k = self.knobs
        return {
            "running": self.running, "workers": len(self.workers), "workers_busy": self.workers_busy,
            "workers_min": k.min_workers, "workers_max": k.max_workers, "autoscale": k.autoscale,
            "grow_on_demand": k.grow_on_demand,
            "queue_size": k.queue_size, "queue_depth": len(self.queue) + len(self.backlog),
            "queue_peak": self.queue_peak, "scale_ups": self.scale_ups, "scale_downs": self.scale_downs,
            "server_busy_503": self.server_busy_503, "dispatched": self.dispatched,
            "eager_done": self.eager_done, "responses_dropped": self.responses_dropped,
            "skipped_cancelled": self.skipped_cancelled,
            "streams_active": len(self.streams), "bg_tasks_pending": self.bg_pending,
        }


