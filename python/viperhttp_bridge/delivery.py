"""Sending a request's result (docs/internals/bridge.md, "One request"): a plain value goes out
in one native call (`_native._send_result`: normalised, serialised, written to the response
ring); a streamed response is handed to its own task (`streaming.run_stream`); a result that
cannot be serialised, or that the runtime does not take, is reported here. A mixin of `Bridge`
(dispatch.py), on the bridge's own state."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

from viperhttp import _native
from viperhttp._native import BackpressureError
from viperhttp.exceptions import report_unhandled, where

from .streaming import run_stream

if TYPE_CHECKING:  # imported with the first event loop (docs/internals/bridge.md#serving-without-an-event-loop)
    import asyncio

    from .background import Batch

log = logging.getLogger("viperhttp.bridge")

#: A set, not a tuple: `in` on a tuple compares a coroutine's type with all eight (~80 ns).
_PLAIN_RESULTS = frozenset((dict, str, bytes, list, type(None), int, float, bytearray))
#: The 500 the bridge answers itself (a result it cannot send, a bug path); also the send that
#: ends a request whose client left before it started (`Bridge.client_gone`), which writes nothing.
_INTERNAL_ERROR = {
    "__vhttp_response__": True,
    "status_code": 500,
    "body": "Internal Server Error",
    "headers": None,
    "content_type": "text/plain; charset=utf-8",
}


def _is_stream(result: Any) -> bool:
    return isinstance(result, dict) and result.get("stream") is not None and bool(result.get("__vhttp_response__"))


class Delivery:
    """The sending half of `Bridge`: every way a request's answer leaves the interpreter."""

    if TYPE_CHECKING:  # what it uses of `Bridge` and of its background half (background.py)
        app: Any
        _send: Callable[[int, Any], None]
        streams: Dict[int, asyncio.Task[Any]]
        event_streams: Set[int]
        slow_stream_routes: Set[Tuple[str, str]]
        responses_dropped: int

        def _spawn(self, coro: Any) -> asyncio.Task[Any]: ...
        def _adopt_response_background(self, request: Any, result: Any) -> None: ...
        def _claim_background(self, request: Any, keep: bool = False, into: Optional[Batch] = None
                              ) -> Optional[Batch]: ...
        def _unclaim(self, batch: Optional[Batch]) -> None: ...
        def _start_background(self, batch: Optional[Batch]) -> None: ...

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
                self._send_failed(rid, exc, request)
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
            self._send_failed(rid, exc, request)
            return
        self._start_background(batch)

    async def _stream(self, rid: int, request: Any, resp: Dict[str, Any]) -> None:
        self._adopt_response_background(request, resp)
        batch = self._claim_background(request, keep=True)
        plan = self._plan_of(request)
        threaded = plan.pool_sources if plan is not None else bool(getattr(self.app, "_sync_threadpool", False))
        try:
            await run_stream(rid, resp, threaded, None if threaded else self._slow_stream(request, plan),
                             request)
        finally:
            self.streams.pop(rid, None)
            self.event_streams.discard(rid)
            if getattr(request, "_handed_over", None):
                # `yield` dependencies a stream took over and did not release: its head was
                # never sent (refused, the client gone) or it was not this response's stream
                from viperhttp.stream_routes import release_unsent

                await release_unsent(request)
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

    def _send_failed(self, rid: int, exc: BaseException, request: Any = None) -> None:
        # Serialisation failed (e.g. a value JSON cannot encode): 500, logged.
        log.error("handler_error %r%s", exc, where(request), exc_info=True)
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
