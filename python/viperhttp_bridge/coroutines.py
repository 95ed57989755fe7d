"""Running a handler's coroutine (docs/internals/bridge.md#eager-start, #bare-coroutine): its
first step inline on the poller, as the task of an idle worker (*eager start*); if it suspends,
the rest on that worker (`_Resume`); what it raises through the app's exception handlers, in the
request's own context. A mixin of `Bridge` (dispatch.py), on the bridge's own state."""
from __future__ import annotations

import contextvars
import logging
import types
from typing import TYPE_CHECKING, Any, Callable, Generator, List, Optional, Tuple

from viperhttp import _native
from viperhttp.route_pipeline import current_request_var

from .delivery import _INTERNAL_ERROR, _PLAIN_RESULTS

if TYPE_CHECKING:  # imported with the first event loop (docs/internals/bridge.md#serving-without-an-event-loop)
    import asyncio

    from .workers import Entry, _Worker

log = logging.getLogger("viperhttp.bridge")

#: asyncio's task registry (what its own eager tasks use on 3.12+; present since 3.7), bound by
#: `bind_task_registry` when the bridge adopts its first event loop (`Bridge._adopt_loop`).
_enter_task: Optional[Callable[[Any, Any], None]] = None
_leave_task: Optional[Callable[[Any, Any], None]] = None

_CoroutineType = types.CoroutineType
_step = _native._step_coroutine
_copy_context = contextvars.copy_context


def bind_task_registry() -> bool:
    """Binds asyncio's task registry; called with the first event loop, as asyncio is imported
    only then (docs/internals/bridge.md#serving-without-an-event-loop). False when there is none."""
    global _enter_task, _leave_task
    try:
        from asyncio.tasks import _enter_task, _leave_task
    except ImportError:  # pragma: no cover - an interpreter without them runs every coroutine on a worker
        _enter_task = _leave_task = None
    return _enter_task is not None


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


class CoroutineRunner:
    """The coroutine half of `Bridge`: the eager first step, and the steps after it."""

    if TYPE_CHECKING:  # what it uses of `Bridge` and of its other mixins
        loop: Optional[asyncio.AbstractEventLoop]
        idle: List[_Worker]
        workers_busy: int
        eager_done: int
        _handle_error: Callable[[Any, Exception], Any]

        def _enqueue(self, entry: Entry) -> None: ...
        def _deliver(self, rid: int, request: Any, result: Any) -> None: ...
        def _send_plain(self, rid: int, request: Any, result: Any) -> None: ...
        def _send_safe(self, rid: int, resp: Any) -> None: ...
        def interpreter_exit(self, exc: SystemExit) -> None: ...

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
