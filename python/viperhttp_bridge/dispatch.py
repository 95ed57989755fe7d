"""The dispatch loop between the native runtime and the app (docs/internals/bridge.md).

Runs on the one interpreter thread; every "worker" is an asyncio task, never an OS thread.

Hot path: the wake-up fd fires → one native call takes a whole batch of requests → each
handler runs inline on the poller. A sync handler's result is normalised, serialised and sent
by one native call. An `async def` handler's coroutine is started inline too (*eager start*):
most finish without suspending and cost what a sync handler costs. Only a coroutine that
suspends occupies a worker, and the `bridge_*` limits (workers, queue, `503 Server Busy`)
apply to those.

`Bridge` is defined here: its state, its event loop and the poller. One request's other steps
are its mixins, one module each: `coroutines.py` (the eager start and the steps after it),
`workers.py` (the queue, the backlog and the workers), `delivery.py` (sending the result, or
handing a stream to its task), `background.py` (the request's background tasks) and
`stopping.py` (stop and drain).
"""
from __future__ import annotations

import logging
import os
import time
import types
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from viperhttp import _native
from viperhttp._native import is_cancelled as _is_cancelled
from viperhttp.diagnostics import forward_native_logs as _forward_logs
from viperhttp.diagnostics import refresh_access_log

from .background import BackgroundRunner
from .coroutines import CoroutineRunner, bind_task_registry
from .delivery import _INTERNAL_ERROR, _PLAIN_RESULTS, Delivery
from .knobs import BridgeKnobs
from .stopping import Stopping
from .websocket import WsDispatcher
from .workers import _TURN_BUDGET_S, Entry, WorkerPool, _Worker

if TYPE_CHECKING:  # imported with the first event loop (docs/internals/bridge.md#serving-without-an-event-loop)
    import asyncio

log = logging.getLogger("viperhttp.bridge")
_log_pending = _native._log_pending

_CoroutineType = types.CoroutineType

#: Requests taken from the native queue per poll call (a whole batch).
_BATCH_MAX = 256
_clock = time.perf_counter
#: The tick's period: the scaler, cancelled streams, runtime log records
#: (docs/internals/bridge.md#worker-model).
_SCALE_CHECK_S = 0.1


# BackgroundRunner last: its `_spawn` and `interpreter_exit` are placeholders, which Bridge and
# Stopping must come before to override.
class Bridge(Delivery, CoroutineRunner, WorkerPool, Stopping, BackgroundRunner):
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
        import asyncio

        self.loop = loop
        self._eager = bind_task_registry()
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
