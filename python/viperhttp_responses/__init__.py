"""`viperhttp_responses`: the original-named helper module (docs/internals/framework.md).

Owns Server-Sent Events (docs/internals/websocket.md#server-sent-events): `EventSourceResponse`, the event
formatter `format_sse_event`, and `sse_passthrough`, which `StreamingResponse` uses to format dict items of a
`text/event-stream` stream (docs/internals/websocket.md#server-sent-events). Re-exports `RedirectResponse`
(`viperhttp.responses`) and `UploadFile` / `form_upload` (`viperhttp.forms`).

After import, `viperhttp.RedirectResponse`, `viperhttp.EventSourceResponse`,
`viperhttp.UploadFile` and `viperhttp.form_upload` exist, as in the original.
"""
from __future__ import annotations

import re
from typing import Any, AsyncIterator, Iterator, Optional

from viperhttp.forms import UploadFile, form_upload
from viperhttp.responses import (RedirectResponse, StreamingResponse, _media_alias, _merge_alias, json_dumps,
                                 _with_default_headers)

__all__ = [
    "RedirectResponse", "EventSourceResponse", "UploadFile", "form_upload", "format_sse_event",
    "sse_passthrough",
]

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


# The event-stream format ends a line at CR, LF or CRLF and nowhere else: `str.splitlines()`
# also splits at U+2028, U+0085, form feed and the like, which cut a JSON string in two.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> list:
    lines = _LINE_BREAK.split(text)
    if lines and not lines[-1]:
        lines.pop()  # a trailing line break ends the last line, it does not start another
    return lines


def _one_line(value: Any) -> str:
    """An `event` or `id` value on its one line: a line break in it would end the field and
    start whatever follows (a client-chosen room name becoming a forged event), so line breaks
    are removed, as sse-starlette does."""
    return _LINE_BREAK.sub("", _text(value))


#: `{"data": NO_DATA}`: an event without `data:` lines (a FastAPI `ServerSentEvent` carrying
#: only a comment, an id or a retry); the original's items always have one
NO_DATA: Any = object()


def spaced_comment(comment: Optional[str]) -> Optional[str]:
    """FastAPI writes comment lines as `: text` (the device framework as `:text`): each line
    gets its space here, the one formatter writes them."""
    if comment is None:
        return None
    return "\n".join(" " + line for line in comment.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def _data_lines(data: Any, lines: list) -> None:
    if data is NO_DATA:
        return
    if isinstance(data, (dict, list)):
        data = json_dumps(data).decode("utf-8")
    text = _text(data)
    if text:
        lines.extend("data: " + line for line in _lines(text))
    else:
        lines.append("data:")


def format_sse_event(item: Any) -> str:
    """One item → one event block ending in a blank line (docs/internals/websocket.md#server-sent-events).

    dict items: `comment` lines (`:<line>`), `event`, `id` (only when truthy), `retry` (when
    int-convertible), then `data` lines; anything else becomes `data:` lines only.
    """
    lines: list = []
    if isinstance(item, dict):
        comment = item.get("comment")
        if comment:
            lines.extend(":" + line for line in _lines(_text(comment)))
        event = item.get("event")
        if event:
            lines.append("event: " + _one_line(event))
        event_id = item.get("id")
        if event_id:
            lines.append("id: " + _one_line(event_id))
        retry = item.get("retry")
        if retry is not None:
            try:
                lines.append("retry: %d" % int(retry))
            except (TypeError, ValueError, OverflowError):
                pass
        _data_lines(item.get("data"), lines)
    else:
        _data_lines(item, lines)
    return "\n".join(lines) + "\n\n"


def _close_sync(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


async def _close_async(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def _is_buffer_like(body: Any) -> bool:
    return isinstance(body, (str, bytes, bytearray, memoryview)) or hasattr(body, "read")


def sse_passthrough(body: Any) -> Any:
    """Wrap a `text/event-stream` StreamingResponse body so dict items become SSE events;
    str/bytes items pass untouched (docs/internals/websocket.md#server-sent-events). Closing the wrapper
    closes the source,
    so the app's `finally` blocks run on disconnect (docs/internals/websocket.md#server-sent-events)."""
    if _is_buffer_like(body):
        return body
    if hasattr(body, "__aiter__"):
        return _apassthrough(body)
    return _passthrough(body)


def _passthrough(source: Any) -> Iterator[Any]:
    iterator = iter(source)
    try:
        for item in iterator:
            yield format_sse_event(item) if isinstance(item, dict) else item
    finally:
        _close_sync(iterator)


async def _apassthrough(source: Any) -> AsyncIterator[Any]:
    iterator = source.__aiter__()
    try:
        async for item in iterator:
            yield format_sse_event(item) if isinstance(item, dict) else item
    finally:
        await _close_async(iterator)


def _sse_sync(source: Any, first: Optional[str]) -> Iterator[str]:
    if first:
        yield first
    iterator = iter(source)
    try:
        for item in iterator:
            yield format_sse_event(item)
    finally:
        _close_sync(iterator)


async def _sse_async(source: Any, first: Optional[str], ping: Optional[float]) -> AsyncIterator[str]:
    if first:
        yield first
    iterator = source.__aiter__()
    try:
        if ping is None:
            async for item in iterator:
                yield format_sse_event(item)
            return
        # With `ping`, the next item is awaited in its own task so that a `:ping` comment can be
        # sent whenever the source stays silent for `ping` seconds
        # (docs/internals/websocket.md#server-sent-events).
        import asyncio  # here, not at module level (docs/internals/bridge.md#serving-without-an-event-loop)

        pending: Optional[asyncio.Future] = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(iterator.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=ping)
                if not done:
                    yield ":ping\n\n"
                    continue
                finished, pending = pending, None
                try:
                    item = finished.result()
                except StopAsyncIteration:
                    break
                yield format_sse_event(item)
        finally:
            if pending is not None:  # disconnect / cancellation while waiting
                pending.cancel()
                try:
                    await pending
                except BaseException:  # CancelledError or the source's own error: both moot now
                    pass
    finally:
        await _close_async(iterator)


def _with_sse_headers(headers: Any) -> Any:
    """Caller headers plus `Cache-Control: no-cache` and `X-Accel-Buffering: no`; a value the
    caller already gives (any case) wins (docs/internals/websocket.md#server-sent-events decision)."""
    return _with_default_headers(headers, (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")))


_NO_STREAM: Any = object()  # `stream` not given at all (None is an accepted, empty stream)


class EventSourceResponse(StreamingResponse):
    """`EventSourceResponse(stream, headers=None, retry=None, chunk_size=1024, ping=None)`.

    A chunked `text/event-stream; charset=utf-8` StreamingResponse whose items are each sent as
    one formatted event; `retry` (int) is sent first as `retry: N`; `ping` (seconds, async
    sources only) sends a `:ping` comment whenever no event was sent for that long. As every
    constructor (docs/internals/requests-responses.md#responses) it also takes `content=` (= `stream`) and
    `media_type=` (the content type); giving both `stream` and `content=` → `TypeError`.
    """

    __slots__ = ()

    def __init__(self, stream: Any = _NO_STREAM, headers: Any = None,
                 retry: Optional[int] = None, chunk_size: int = 1024,
                 ping: Optional[float] = None, *, content: Any = None,
                 media_type: Optional[str] = None) -> None:
        if stream is _NO_STREAM:
            if content is None:
                raise TypeError("EventSourceResponse() missing required argument: 'stream'")
            stream = None
        stream = _merge_alias(stream, content, "stream", "content")
        if stream is None:
            stream = ()
        if not (hasattr(stream, "__iter__") or hasattr(stream, "__aiter__")):
            raise TypeError("stream must be an iterable or an async iterable")
        first = None
        if retry is not None:
            try:
                first = "retry: %d\n\n" % int(retry)
            except (TypeError, ValueError, OverflowError):
                first = None  # as the original: a retry that is not an int is ignored
        if ping is not None and (isinstance(ping, bool) or not isinstance(ping, (int, float))
                                 or ping <= 0):
            raise ValueError("ping must be a positive number of seconds")
        if hasattr(stream, "__aiter__"):
            body: Any = _sse_async(stream, first, ping)
        else:
            # A sync source runs on the interpreter thread between yields to the loop (the
            # bridge yields after every item), or item by item in the thread pool for a
            # blocking route (docs/internals/bridge.md#streaming): no pings for it either way.
            body = _sse_sync(stream, first)
        self._init_stream(body, 200, _with_sse_headers(headers),
                          SSE_CONTENT_TYPE if media_type is None else _media_alias(None, media_type), chunk_size,
                          None, True)


def _install() -> None:
    try:
        import viperhttp
    except ImportError:  # the package is mid-import or broken: it sets nothing then
        return
    viperhttp.RedirectResponse = RedirectResponse  # type: ignore[attr-defined]
    viperhttp.EventSourceResponse = EventSourceResponse  # type: ignore[attr-defined]
    viperhttp.UploadFile = UploadFile  # type: ignore[attr-defined]
    viperhttp.form_upload = form_upload  # type: ignore[attr-defined]


_install()
