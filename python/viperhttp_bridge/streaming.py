"""Streaming responses through the ring (docs/internals/bridge.md#streaming): sources (buffers,
`.read(n)` objects, sync and async iterables) are cut into `chunk_size` frames
sent with `stream_send`; the producer respects the per-request frame credit and
stops when the client is gone."""
from __future__ import annotations

import logging
from typing import Any, AsyncIterator, Dict, Iterator, Optional

from viperhttp import _native
from viperhttp._native import BackpressureError
from viperhttp.exceptions import where
from viperhttp.threadpool import SLOW_INLINE_SECONDS, _clock

log = logging.getLogger("viperhttp.bridge")

#: the producer's wait for frame credit: 1 ms, doubling to 50 ms while the client does not read
_CREDIT_POLL_S = 0.001
_CREDIT_POLL_MAX_S = 0.05

#: the cancel message that ends a stream cleanly (its last chunk sent) instead of cutting it
END_STREAM = "viperhttp: end of stream at stop"


def _coerce(item: Any) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    if isinstance(item, memoryview):
        return item.tobytes()
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TypeError("stream chunk must be bytes or str")


async def _pieces(source: Any, chunk_size: int, threaded: Optional["ThreadedSource"] = None,
                  slow: Any = None) -> AsyncIterator[bytes]:
    """Every source kind as one async iterator of non-empty byte pieces. A sync iterable is
    iterated in the thread pool when `threaded` is given (a blocking route), else inline."""
    import asyncio  # here, not at module level (docs/internals/bridge.md#serving-without-an-event-loop)

    if isinstance(source, (bytes, bytearray, memoryview, str)):
        data = _coerce(source)
        for i in range(0, len(data), chunk_size):
            yield data[i:i + chunk_size]
        return
    if hasattr(source, "__aiter__"):
        async for item in source:
            if item is None:
                continue
            data = _coerce(item)
            for i in range(0, len(data), chunk_size):
                yield data[i:i + chunk_size]
        return
    if hasattr(source, "read"):
        while True:
            data = source.read(chunk_size)
            if not data:
                return
            yield _coerce(data)
            await asyncio.sleep(0)
    if threaded is not None:
        # A blocking route's sync iterable: each item is produced in the thread pool, as
        # Starlette's `iterate_in_threadpool`, so a generator that sleeps holds up nobody.
        it = iter(source)
        while True:
            item = await threaded.next(it)
            if item is _DONE:
                return
            if item is None:
                continue
            data = _coerce(item)
            for i in range(0, len(data), chunk_size):
                yield data[i:i + chunk_size]
    # A sync iterable: inline, one loop turn between items (docs/internals/bridge.md#streaming).
    for item in _timed(source, slow):
        if item is None:
            continue
        data = _coerce(item)
        for i in range(0, len(data), chunk_size):
            yield data[i:i + chunk_size]
        await asyncio.sleep(0)


def _timed(source: Any, slow: Any) -> Iterator[Any]:
    """The items of an inline sync iterable; `slow(ms)` is told once when producing one held
    the interpreter thread longer than SLOW_INLINE_SECONDS (every other request waited)."""
    it = iter(source)
    while True:
        started = _clock()
        try:
            item = next(it)
        except StopIteration:
            return
        if slow is not None and _clock() - started > SLOW_INLINE_SECONDS:
            slow((_clock() - started) * 1000)
            slow = None
        yield item


_DONE = object()


class ThreadedSource:
    """`next()` of a sync iterator in the thread pool. A stream cancelled while an item is
    being produced (the client left, a stop) cannot close the generator then ("generator
    already executing"): the close runs in the pool once that item is done, so the
    generator's `finally` still runs."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: Any = None

    async def next(self, it: Any) -> Any:
        import asyncio

        from viperhttp.threadpool import submit

        # Counted as the pool's other calls: an item still blocking at the end of a stop is
        # reported and does not hold the exit.
        future = submit(next, it, _DONE)
        self.pending = future
        try:
            return await asyncio.wrap_future(future)
        finally:
            if future.done():
                self.pending = None

    def close(self, close: Any, request: Any = None) -> bool:
        """True when the close was deferred behind the item being produced."""
        pending = self.pending
        if pending is None or pending.done():
            return False
        pending.add_done_callback(lambda _f: _close_quietly(close, request))
        return True


def _close_quietly(close: Any, request: Any = None) -> None:
    try:
        close()
    except Exception as exc:
        log.error("async_stream_error %r%s", exc, where(request), exc_info=True)


async def _close_source(source: Any, threaded: Optional["ThreadedSource"] = None, request: Any = None) -> None:
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception as exc:
            log.error("async_stream_error %r%s", exc, where(request), exc_info=True)
        return
    close = getattr(source, "close", None)
    if close is not None and not isinstance(source, (bytes, bytearray, str, memoryview)):
        if threaded is not None and threaded.close(close, request):
            return
        _close_quietly(close, request)


def _client_gone(rid: int) -> None:
    """The stream ends because its client left (the id is marked cancelled): the terminal
    frame is what clears that mark (docs/internals/ipc.md#9-request-ids), so it is sent here
    too, where the producer stops. Without it every stream whose client left half-way kept
    one cancelled id for the life of the process. The runtime writes nothing for it."""
    try:
        _native.stream_send(rid, None, abort=True)
    except Exception:  # the runtime stopped meanwhile (another thread): no mark is left to clear
        pass


def _dropped(rid: int, exc: BackpressureError) -> None:
    log.warning("stream_dropped request_id=%d %s: %s", rid, type(exc).__name__, exc)


async def run_stream(rid: int, resp: Dict[str, Any], threaded: bool = False, slow: Any = None,
                     request: Any = None) -> None:
    """Sends one streamed response. `threaded`: produce a sync iterable's items in the thread
    pool (the route is `blocking`); `slow(ms)`: told once when an inline item was slow;
    `request`: named by the error lines."""
    import asyncio  # here, not at module level (docs/internals/bridge.md#serving-without-an-event-loop)

    source = resp["stream"]
    chunk_size = resp.get("chunk_size") or 16384
    if not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError("chunk_size must be > 0")
    total = resp.get("total_len") or 0
    if total < 0:
        raise ValueError("total_len must be >= 0")
    chunked = bool(resp.get("chunked")) or total == 0
    status = resp.get("status_code") or 200
    send = _native.stream_send
    credit = _native._stream_credit
    try:
        ok = send(rid, b"", status_code=status, headers=resp.get("headers"),
                  content_type=resp.get("content_type"), total_len=total, chunked=chunked,
                  send_headers=True)
    except BackpressureError as exc:
        _dropped(rid, exc)
        await _close_source(source, None, request)
        return
    except Exception as exc:
        log.error("async_stream_error %r%s", exc, where(request), exc_info=True)
        await _close_source(source, None, request)
        return
    if not ok:
        await _close_source(source, None, request)  # first: clearing the mark may raise at a stop
        _client_gone(rid)
        return
    pool = ThreadedSource() if threaded and not _is_buffer_or_async(source) else None
    pieces = _pieces(source, chunk_size, pool, slow)
    try:
        async for piece in pieces:
            pause = _CREDIT_POLL_S
            while not credit(rid):
                if _native.is_cancelled(rid):
                    _client_gone(rid)
                    return
                # Backing off: a client that stopped reading costs a wake-up every 50 ms, not
                # every millisecond (500 stalled streams kept a core busy).
                await asyncio.sleep(pause)
                pause = min(pause * 2, _CREDIT_POLL_MAX_S)
            if not send(rid, piece):
                _client_gone(rid)
                return  # client gone: stop producing
        send(rid, None, final=True)
    except asyncio.CancelledError as exc:
        if exc.args and exc.args[0] == END_STREAM:  # a stop ends an event stream cleanly
            send(rid, None, final=True)
            return
        send(rid, None, abort=True)
        raise
    except BackpressureError as exc:
        # The runtime took no frame within ipc_ring_wait_ms (or is stopping): the stream ends
        # here, which is backpressure, not a producer error (docs/internals/bridge.md).
        _dropped(rid, exc)
        try:
            send(rid, None, abort=True)
        except Exception:
            pass
    except Exception as exc:
        log.error("async_stream_error %r%s", exc, where(request), exc_info=True)
        try:
            send(rid, None, abort=True)
        except Exception:
            pass
    finally:
        await pieces.aclose()
        await _close_source(source, pool, request)


def _is_buffer_or_async(source: Any) -> bool:
    return (isinstance(source, (bytes, bytearray, memoryview, str)) or hasattr(source, "__aiter__")
            or hasattr(source, "read"))
