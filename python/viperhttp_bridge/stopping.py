"""Stopping (docs/internals/bridge.md#start-and-stop): a stop asked for (signal, `app.stop()`,
`sys.exit()` in app code), then the graceful drain: in-flight requests and background tasks get
the grace period, what is left is cut. A mixin of `Bridge` (dispatch.py), on the bridge's own
state."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Optional, Set, Tuple

from viperhttp import _native

from .streaming import END_STREAM

if TYPE_CHECKING:  # imported with the first event loop (docs/internals/bridge.md#serving-without-an-event-loop)
    import asyncio

    from .workers import Entry

log = logging.getLogger("viperhttp.bridge")


def _in_flight() -> int:
    """Requests the runtime waits on Python for (queued or running)."""
    try:
        return int(_native.ipc_stats().get("pending_ids", 0))
    except Exception:  # no runtime any more
        return 0


class Stopping:
    """How `Bridge` stops: the stop requests, then the drain."""

    if TYPE_CHECKING:  # what it uses of `Bridge` and of its other mixins
        loop: Optional[asyncio.AbstractEventLoop]
        running: bool
        stop_event: Optional[asyncio.Event]
        stop_requested: bool
        skip_drain: bool
        stop_at: Optional[float]
        draining: bool
        exit_request: Optional[SystemExit]
        _calls: Deque[Tuple[Callable[..., Any], Tuple[Any, ...]]]
        queue: Deque[Entry]
        backlog: Deque[Tuple[Entry, float]]
        workers: Set[asyncio.Task[Any]]
        workers_busy: int
        tasks: Set[asyncio.Task[Any]]
        streams: Dict[int, asyncio.Task[Any]]
        event_streams: Set[int]
        _tick_handle: Optional[asyncio.TimerHandle]
        _expiry_handle: Optional[asyncio.TimerHandle]

        def run_calls(self) -> None: ...
        def on_wake(self) -> None: ...

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
