"""The worker pool (docs/internals/bridge.md#worker-model): the bounded bridge queue and the
backlog behind it (`503 Server Busy` after `bridge_enqueue_wait_ms`), the worker tasks that run
what cannot finish inline, and the scaler that sizes the pool. A mixin of `Bridge` (dispatch.py),
on the bridge's own state."""
from __future__ import annotations

import contextvars
import logging
import time
import types
from typing import TYPE_CHECKING, Any, Callable, Deque, List, Optional, Set, Tuple

from viperhttp._native import is_cancelled as _is_cancelled

from .delivery import _INTERNAL_ERROR

if TYPE_CHECKING:  # imported with the first event loop (docs/internals/bridge.md#serving-without-an-event-loop)
    import asyncio

    from .knobs import BridgeKnobs

log = logging.getLogger("viperhttp.bridge")

_CoroutineType = types.CoroutineType
_copy_context = contextvars.copy_context

#: The answer to a request still in the backlog `bridge_enqueue_wait_ms` after it found the queue full.
_SERVER_BUSY = {
    "__vhttp_response__": True,
    "status_code": 503,
    "body": "Server Busy",
    "headers": None,
    "content_type": "text/plain; charset=utf-8",
}
#: How long the poller or a worker runs requests before it lets the event loop turn (timers,
#: other tasks): a batch of slow sync handlers otherwise held every `await asyncio.sleep()`
#: of the app for the whole batch (docs/internals/bridge.md#fairness). Read by the poller
#: (`Bridge.on_wake`) too.
_TURN_BUDGET_S = 0.02
_clock = time.perf_counter
#: Idle scaler ticks before one worker retires (docs/internals/bridge.md#worker-model).
_SCALE_DOWN_IDLE_TICKS = 20
#: Handed to an idle worker by the scaler: that worker exits.
_RETIRE = object()

#: (item, request or None, awaitable or None, context or None, first yielded value)
Entry = Tuple[tuple, Any, Any, Any, Any]


class _Worker:
    __slots__ = ("task", "waiter")

    def __init__(self) -> None:
        self.task: Optional[asyncio.Task] = None
        self.waiter: Optional[asyncio.Future] = None


class WorkerPool:
    """The pool half of `Bridge`: where a request waits for a worker, and the workers."""

    if TYPE_CHECKING:  # what it uses of `Bridge` and of its other mixins
        loop: Optional[asyncio.AbstractEventLoop]
        knobs: BridgeKnobs
        _from_native: Callable[..., Any]
        _handle: Callable[[Any], Any]
        queue: Deque[Entry]
        backlog: Deque[Tuple[Entry, float]]
        workers: Set[asyncio.Task[Any]]
        idle: List[_Worker]
        workers_busy: int
        queue_peak: int
        scale_ups: int
        scale_downs: int
        server_busy_503: int
        _idle_ticks: int
        _expiry_handle: Optional[asyncio.TimerHandle]

        def need_loop(self) -> None: ...
        def _wake_soon(self) -> None: ...
        def client_gone(self, rid: int) -> None: ...
        def _first_step(self, request: Any, coro: Any, ctx: contextvars.Context) -> Tuple[Any, bool, Any]: ...
        async def _resume(self, request: Any, coro: Any, first: Any, ctx: contextvars.Context) -> Any: ...
        def _deliver(self, rid: int, request: Any, result: Any) -> None: ...
        def _send_safe(self, rid: int, resp: Any) -> None: ...
        def interpreter_exit(self, exc: SystemExit) -> None: ...

    # -- the queue and the backlog ---------------------------------------
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

    # -- the scaler (run by `Bridge._tick`) ------------------------------
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
