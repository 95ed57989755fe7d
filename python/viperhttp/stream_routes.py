"""Path operations that `yield` (FastAPI's streaming responses; docs/internals/typed-api.md,
"Streaming path operations").

A route whose handler is a generator function (sync or `async`) streams what it yields, as
FastAPI does (0.165, the version compared):

- no `response_class`: JSON Lines (`application/jsonl`), one JSON document per item and line;
- `response_class=EventSourceResponse`: Server-Sent Events, each item the `data:` of one event
  as JSON, or a `ServerSentEvent` that sets the event's fields itself;
- another `response_class` (`StreamingResponse`): the items as they are (str/bytes chunks).

The item type comes from the return annotation (`-> AsyncIterable[Item]`, `Iterator[Item]`,
`Generator[Item, None, None]`, ...): each item is validated and dumped by it, and the OpenAPI
document describes it (`itemSchema`). The stream itself is the bridge's ordinary streamed
response (the runtime's chunked encoding, credit and cancellation), so nothing here is on the
path of other requests.
"""
from __future__ import annotations

import collections.abc
import logging
import sys
import typing
from typing import Any, Dict, List, Optional

from .callables import is_gen_callable
from .encoders import jsonable_encoder
from .responses import StreamingResponse, is_response, json_dumps
from .route_pipeline import current_request_var

__all__ = ["StreamPlan", "is_stream_handler", "compile_stream_plan", "release_unsent"]

log = logging.getLogger("viperhttp.bridge")

#: `typing.get_origin` of the annotations whose first argument is the item type
ITERABLES = {collections.abc.AsyncIterable, collections.abc.AsyncIterator, collections.abc.AsyncGenerator,
             collections.abc.Iterable, collections.abc.Iterator, collections.abc.Generator}
#: FastAPI's keep-alive comment interval for an idle async SSE stream (seconds)
SSE_PING_S = 15.0
#: the module of `ServerSentEvent`, a pydantic model: an item can be one only once it is loaded
_SSE_MODULE = "viperhttp.sse"
_modules = sys.modules


def _server_sent_event_class() -> Any:
    """`ServerSentEvent`, or None while `viperhttp.sse` is not loaded (then nothing is one):
    a look-up, not an import, so that plain items never load pydantic."""
    module = _modules.get(_SSE_MODULE)
    return None if module is None else module.ServerSentEvent


def is_stream_handler(handler: Any) -> bool:
    """A path operation that yields: FastAPI's test, the one of a `yield` dependency (also an
    instance whose `__call__` is a generator function)."""
    return is_gen_callable(handler)


class StreamPlan:
    """The response plan of a generator handler: `finish(generator)` → the streamed response."""

    __slots__ = ("kind", "item_type", "adapter", "status_code", "response_class", "where")
    #: the route pipeline hands its `yield` dependencies over (`finish(result, stack)`)
    streams = True

    def __init__(self, kind: str, item_type: Any, adapter: Any, status_code: Optional[int],
                 response_class: Any, where: str) -> None:
        self.kind = kind  # "jsonl", "sse" or "raw"
        self.item_type = item_type
        self.adapter = adapter
        self.status_code = status_code
        self.response_class = response_class
        self.where = where

    # The plan interface the route pipeline uses (typed_response.ResponsePlan's).
    def finish_bare(self, result: Any) -> Any:
        return self.finish(result)

    @staticmethod
    def takes(result: Any) -> bool:
        """Whether `result` is streamed (`finish` wraps it), not a Response or other value the
        generator function returned instead: only then does the pipeline hand its `yield`
        dependencies over to the stream."""
        return not (is_response(result) or isinstance(result, (str, bytes))
                    or not (hasattr(result, "__aiter__") or hasattr(result, "__iter__")))

    def finish(self, result: Any, stack: Any = None) -> Any:
        """The streamed response of the generator `result`. The generator runs later, in the
        bridge's stream task: it sees the request as `current_request()`, and `stack` (the
        route's entered `yield` dependencies, handed over by the pipeline when `takes(result)`)
        is torn down when the stream ends, as FastAPI keeps them open for a streaming response."""
        if not self.takes(result):
            return result  # a Response (or anything else) the generator function returned instead
        result = _in_request(result, current_request_var.get(), stack)
        status = self.status_code or 200
        if self.kind == "raw":
            if isinstance(self.response_class, type) and issubclass(self.response_class, StreamingResponse):
                return self.response_class(content=result, status_code=status)
            # a class that sends one body (HTMLResponse): its items streamed with its type
            return StreamingResponse(result, status_code=status,
                                     content_type=getattr(self.response_class, "_default_type", None))
        if self.kind == "jsonl":
            return StreamingResponse(_mapped(result, self._line), status_code=status,
                                     media_type="application/jsonl")
        from viperhttp_responses import EventSourceResponse

        # FastAPI takes the route's class only as the sign for SSE and sends its own event
        # stream: a subclass's `__init__` (which may not take `ping`) is never called.
        events = _mapped(result, self._event)
        response = EventSourceResponse(events, ping=SSE_PING_S if hasattr(result, "__aiter__") else None)
        if status != 200:
            response.status_code = status
        return response

    def _json(self, item: Any) -> bytes:
        if self.adapter is not None:
            return self.adapter.dump_json(self.adapter.validate_python(item, from_attributes=True))
        if hasattr(item, "model_dump_json"):
            return item.model_dump_json().encode("utf-8")
        return json_dumps(jsonable_encoder(item))

    def _line(self, item: Any) -> bytes:
        return self._json(item) + b"\n"

    def _event(self, item: Any) -> Dict[str, Any]:
        """One item as the dict our SSE formatter writes (viperhttp_responses.format_sse_event)."""
        sse_class = _server_sent_event_class()
        if sse_class is not None and isinstance(item, sse_class):
            from viperhttp_responses import NO_DATA, spaced_comment

            event: Dict[str, Any] = {"event": item.event, "id": item.id, "retry": item.retry,
                                     "comment": spaced_comment(item.comment), "data": NO_DATA}
            if item.raw_data is not None:
                event["data"] = item.raw_data
            elif item.data is not None:
                data = item.data
                event["data"] = (data.model_dump_json() if hasattr(data, "model_dump_json")
                                 else json_dumps(jsonable_encoder(data)).decode("utf-8"))
            return event
        return {"data": self._json(item).decode("utf-8")}


def _in_request(source: Any, request: Any, stack: Any) -> Any:
    """`source` run as its request's: `current_request()` is the request while it produces.
    With a handed-over dependency `stack`, a `_HandedOver` source that tears it down after the
    last item (or when the client left), or when the response is dropped unsent. Without one,
    an async source is `_produce`d (closed at its end) and a sync source stays a sync generator
    (the bridge may run it in the pool, as any stream)."""
    if stack:
        return _HandedOver(source, request, stack)
    if hasattr(source, "__aiter__"):
        return _produce(source, request, None)

    def gen() -> Any:
        current_request_var.set(request)
        yield from source
    return gen()


async def _produce(source: Any, request: Any, handed_over: Optional["_HandedOver"]) -> Any:
    """The one driver of a stream's source as its request's (a sync source inline): at its end,
    or when closed early, the source is closed and, handed over, the dependencies torn down."""
    current_request_var.set(request)
    try:
        if hasattr(source, "__aiter__"):
            async for item in source:
                yield item
        else:
            for item in source:
                yield item
    finally:
        if handed_over is None:
            await _close(source)
        else:
            await handed_over.release()


async def _close(source: Any) -> None:
    from viperhttp_responses import _close_async, _close_sync

    if hasattr(source, "aclose"):
        await _close_async(source)
    else:
        _close_sync(source)


class _HandedOver:
    """A streamed path operation's items together with the `yield` dependencies the pipeline
    handed over to it (docs/internals/typed-api.md, "Streaming path operations").

    The dependencies are torn down exactly once (`release`): after the last item, when the
    stream is closed early (the client left), or — the response never started — when whoever
    drops it calls `aclose()`: an async generator that never started runs no `finally` on
    `aclose()`, so the teardown is not left to it (nor to the garbage collector, which would
    only throw GeneratorExit in). The request keeps its handed-over sources
    (`request._handed_over`), so that the middleware chain and the bridge can release those a
    response they send does not carry (`release_unsent`). A sync source is driven from the
    async generator, inline, so that the teardown (possibly async) runs after it."""

    __slots__ = ("source", "stack", "items")

    def __init__(self, source: Any, request: Any, stack: Any) -> None:
        self.source = source
        self.stack: Any = stack
        self.items = _produce(source, request, self)
        if request is not None:
            held: Optional[List[_HandedOver]] = getattr(request, "_handed_over", None)
            if held is None:
                held = request._handed_over = []
            held.append(self)

    def __aiter__(self) -> "_HandedOver":
        return self

    def __anext__(self) -> Any:
        return self.items.__anext__()

    async def aclose(self) -> None:
        try:
            await self.items.aclose()  # started: its `finally` releases
        finally:
            await self.release()  # never started (or already released: nothing)

    async def release(self) -> None:
        """Closes the source, then tears the dependencies down (no error: FastAPI's teardown
        after a response). The first call only; a teardown failure is raised."""
        stack, self.stack = self.stack, None
        if stack is None:
            return
        from .deps import teardown

        try:
            await _close(self.source)
        finally:
            failed = await teardown(stack, None)
            if failed is not None:
                raise failed


async def release_unsent(request: Any) -> None:
    """Tears down the dependencies of every stream handed over for `request` that has not done
    so (`_HandedOver`): called when the response that goes out is not one of them (a middleware
    replaced it or raised after `call_next`), and by the bridge when a streamed response ended,
    sent or not (its head refused, the client gone). Failures are logged, as a stream's."""
    held = getattr(request, "_handed_over", None)
    if not held:
        return
    request._handed_over = None
    for source in held:
        try:
            await source.aclose()
        except Exception as exc:
            from .exceptions import where

            log.error("async_stream_error %r%s", exc, where(request), exc_info=True)


def _mapped(source: Any, step: Any) -> Any:
    """`source`'s items through `step`, keeping its kind: an async generator's stay async, a
    sync generator's stay sync (the bridge runs those inline or in the pool, as any stream)."""
    if hasattr(source, "__aiter__"):
        async def agen() -> Any:
            try:
                async for item in source:
                    yield step(item)
            finally:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()
        return agen()

    def gen() -> Any:
        try:
            for item in source:
                yield step(item)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
    return gen()


def _item_type(handler: Any) -> Any:
    from .signature import return_hint

    hint = return_hint(handler)  # an instance: its `__call__`'s annotation
    if typing.get_origin(hint) in ITERABLES:
        args = typing.get_args(hint)
        return args[0] if args else None
    return None


def compile_stream_plan(handler: Any, options: Dict[str, Any], where: str) -> StreamPlan:
    """The plan of a generator handler (`is_stream_handler`), from its route options."""
    from viperhttp_responses import EventSourceResponse

    rclass = options.get("response_class")
    if rclass is None:
        kind = "jsonl"
    elif isinstance(rclass, type) and issubclass(rclass, EventSourceResponse):
        kind = "sse"
    else:
        kind = "raw"
    item = _item_type(handler)
    adapter = None
    if kind != "raw" and item is not None and item is not typing.Any:
        sse_class = _server_sent_event_class()  # an annotation naming it has loaded it
        if not (sse_class is not None and isinstance(item, type) and issubclass(item, sse_class)):
            import pydantic  # late: only a stream route with an item annotation

            try:
                adapter = pydantic.TypeAdapter(item)
            except (pydantic.PydanticSchemaGenerationError, TypeError, ValueError) as exc:
                raise TypeError(f"unsupported stream item type ({where}): {exc}") from None
    return StreamPlan(kind, item, adapter, options.get("status_code"), rclass, where)
