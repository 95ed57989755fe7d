"""`viperhttp.sse`, FastAPI's `fastapi.sse`: `EventSourceResponse` (the device framework's,
docs/internals/websocket.md#server-sent-events) and `ServerSentEvent`, the event a path
operation that `yield`s may produce to set its fields itself (docs/internals/typed-api.md,
"Streaming path operations"). pydantic is loaded with this module, as FastAPI's is.
"""
from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, Field, model_validator

from viperhttp_responses import EventSourceResponse

__all__ = ["EventSourceResponse", "ServerSentEvent", "format_sse_event"]


def _one_line(name: str) -> Any:
    def check(value: Optional[str]) -> Optional[str]:
        if value is not None and ("\r" in value or "\n" in value):
            raise ValueError(f"SSE '{name}' must be a single line")
        if name == "id" and value is not None and "\0" in value:
            raise ValueError("SSE 'id' must not contain null characters")
        return value
    return AfterValidator(check)


class ServerSentEvent(BaseModel):
    """One event (FastAPI's): `data` is sent as JSON (a str too: `"hello"` with its quotes),
    `raw_data` as it is; `event`, `id` (one line each), `retry` (ms, ≥ 0), `comment`."""

    data: Any = None
    raw_data: Optional[str] = None
    event: Annotated[Optional[str], _one_line("event")] = None
    id: Annotated[Optional[str], _one_line("id")] = None
    retry: Annotated[Optional[int], Field(ge=0)] = None
    comment: Optional[str] = None

    @model_validator(mode="after")
    def _data_or_raw_data(self) -> "ServerSentEvent":
        if self.data is not None and self.raw_data is not None:
            raise ValueError("Cannot set both 'data' and 'raw_data' on the same ServerSentEvent")
        return self


def format_sse_event(*, data_str: Optional[str] = None, event: Optional[str] = None,
                     id: Optional[str] = None, retry: Optional[int] = None,  # noqa: A002 - FastAPI's name
                     comment: Optional[str] = None) -> bytes:
    """FastAPI's signature over the one SSE formatter (viperhttp_responses.format_sse_event)."""
    from viperhttp_responses import NO_DATA, spaced_comment
    from viperhttp_responses import format_sse_event as fmt

    item = {"data": NO_DATA if data_str is None else data_str, "event": event, "id": id,
            "retry": retry, "comment": spaced_comment(comment)}
    return fmt(item).encode("utf-8")
