"""The return-value table of docs/internals/requests-responses.md ("Return values"), as data.

One row per case: a factory for the value a handler returns (a fresh one per call: streams are
consumed, files are opened) and what the client must get. tests/test_response_serialisation.py
checks every row against `viperhttp_bridge.serialize_response` in-process, and
tests/apps/serialisation_app.py returns every row's value from real handlers so the same test
checks the wire. The expectations are written from the documented table, not from the code.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple, Type

import pydantic

from viperhttp import (FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response,
                       StreamingResponse)
from viperhttp_responses import EventSourceResponse, RedirectResponse

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
OCTET = "application/octet-stream"
HTML = "text/html; charset=utf-8"
SSE = "text/event-stream; charset=utf-8"


class Case(NamedTuple):
    make: Callable[[], Any]
    status: int
    body: bytes
    content_type: Optional[str]
    headers: Dict[str, str] = {}
    #: The exception `serialize_response` raises; the wire answers 500 for it.
    error: Optional[Type[BaseException]] = None
    #: A stream response: `serialize_response` hands it back unserialised; the bridge streams it.
    stream: bool = False


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Item(pydantic.BaseModel):
    name: str
    price: float


class Pair(NamedTuple):
    a: int
    b: str


class Thing:
    """An object with no JSON form: it keeps its `str()` text."""

    def __str__(self) -> str:
        return "a thing"


def _file() -> Path:
    # A fixed file both the test process and the server process can open; written atomically
    # so a concurrent writer never exposes a half-written file.
    path = Path(tempfile.gettempdir()) / "viperhttp-serialisation-case.txt"
    if not path.exists() or path.read_bytes() != b"file body\n":
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        tmp.write_bytes(b"file body\n")
        os.replace(tmp, path)
    return path


FILE = _file()
INTERNAL = (500, b"Internal Server Error", TEXT)

CASES: Dict[str, Case] = {
    # -- plain values ----------------------------------------------------------------------
    "str": Case(lambda: "héllo", 200, "héllo".encode(), TEXT),
    "str-empty": Case(lambda: "", 200, b"", TEXT),
    "str-subclass": Case(lambda: Name("sub"), 200, b"sub", TEXT),
    "bytes": Case(lambda: b"\x00\xff", 200, b"\x00\xff", OCTET),
    "bytes-empty": Case(lambda: b"", 200, b"", None),
    "bytearray": Case(lambda: bytearray(b"ba"), 200, b"ba", OCTET),
    "memoryview": Case(lambda: memoryview(b"xyz"), 200, b"xyz", OCTET),
    "memoryview-slice": Case(lambda: memoryview(b"abcdef")[1:3], 200, b"bc", OCTET),
    "memoryview-empty": Case(lambda: memoryview(b""), 200, b"", None),
    "dict": Case(lambda: {"a": 1, "u": "é", "l": [1.5, None, True]}, 200,
                 '{"a":1,"u":"é","l":[1.5,null,true]}'.encode(), JSON),
    "dict-empty": Case(lambda: {}, 200, b"{}", JSON),
    "dict-marker-not-true": Case(lambda: {"__vhttp_response__": 1, "k": "v"}, 200,
                                 b'{"__vhttp_response__":1,"k":"v"}', JSON),
    "list": Case(lambda: [1, "x", None, (2, 3)], 200, b'[1,"x",null,[2,3]]', JSON),
    "none": Case(lambda: None, 200, b"", None),
    "int": Case(lambda: 42, 200, b"42", TEXT),
    "float": Case(lambda: 1.5, 200, b"1.5", TEXT),
    "bool": Case(lambda: True, 200, b"True", TEXT),
    # -- tuples ----------------------------------------------------------------------------
    "tuple-status": Case(lambda: ({"created": True}, 201), 201, b'{"created":true}', JSON),
    "tuple-status-headers": Case(lambda: ("made", 202, {"X-Made": "yes"}), 202, b"made", TEXT,
                                 {"x-made": "yes"}),
    "tuple-status-header-list": Case(lambda: (b"raw", 203, [("X-A", "1")]), 203, b"raw", OCTET,
                                     {"x-a": "1"}),
    "tuple-status-none": Case(lambda: (None, 204), 204, b"", None),
    "tuple-response": Case(lambda: (PlainTextResponse("r"), 203), 203, b"r", TEXT),
    "tuple-plain": Case(lambda: (1, 2), 200, b"(1, 2)", TEXT),
    "tuple-status-out-of-range": Case(lambda: ("x", 99), 200, b"('x', 99)", TEXT),
    "tuple-status-bool": Case(lambda: ("x", True), 200, b"('x', True)", TEXT),
    "tuple-four": Case(lambda: ("x", 201, None, None), 200, b"('x', 201, None, None)", TEXT),
    "namedtuple": Case(lambda: Pair(1, "b"), 200, b'[1,"b"]', JSON),
    # -- other objects: JSON where it has a form, else str() ---------------------------------
    "datetime": Case(lambda: dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), 200,
                     b'"2024-01-02T03:04:05+00:00"', JSON),
    "date": Case(lambda: dt.date(2024, 1, 2), 200, b'"2024-01-02"', JSON),
    "uuid": Case(lambda: uuid.UUID("12345678-1234-5678-1234-567812345678"), 200,
                 b'"12345678-1234-5678-1234-567812345678"', JSON),
    "decimal": Case(lambda: decimal.Decimal("1.5"), 200, b"1.5", JSON),
    "enum": Case(lambda: Color.RED, 200, b'"red"', JSON),
    "int-enum": Case(lambda: Level.HIGH, 200, b"3", JSON),
    "set": Case(lambda: {3}, 200, b"[3]", JSON),
    "dataclass": Case(lambda: Point(1, 2), 200, b'{"x":1,"y":2}', JSON),
    "pydantic-model": Case(lambda: Item(name="n", price=2), 200, b'{"name":"n","price":2.0}', JSON),
    "object": Case(lambda: Thing(), 200, b"a thing", TEXT),
    # -- response objects --------------------------------------------------------------------
    "response": Case(lambda: Response(201, {"k": "v"}, [("X-A", "1")]), 201, b'{"k":"v"}', JSON,
                     {"x-a": "1"}),
    "response-int-body": Case(lambda: Response(body=3), 200, b"3", TEXT),
    "response-tuple-body": Case(lambda: Response(body=(1, 2)), 200, b"(1, 2)", TEXT),
    "response-memoryview-body": Case(lambda: Response(body=memoryview(b"mv")), 200, b"mv", OCTET),
    "response-empty-bytes": Case(lambda: Response(body=b""), 200, b"", None),
    "response-no-body": Case(lambda: Response(204), 204, b"", None),
    "response-content-type": Case(lambda: Response(body="x", content_type="text/x"), 200, b"x",
                                  "text/x"),
    "response-content-type-header-wins": Case(
        lambda: Response(body="x", content_type="text/x", headers={"Content-Type": "text/y"}), 200,
        b"x", "text/y"),
    "response-dict-literal": Case(lambda: {"__vhttp_response__": True, "body": "lit"}, 200, b"lit",
                                  TEXT),
    "json-response": Case(lambda: JSONResponse(body={"a": (1, 2)}), 200, b'{"a":[1,2]}', JSON),
    "html-response": Case(lambda: HTMLResponse("<h1>hi</h1>"), 200, b"<h1>hi</h1>", HTML),
    "plain-text-response": Case(lambda: PlainTextResponse("p", status_code=202), 202, b"p", TEXT),
    "redirect-response": Case(lambda: RedirectResponse("/to", 302), 302, b"", TEXT,
                              {"location": "/to"}),
    "streaming-response": Case(lambda: StreamingResponse([b"a", "b", memoryview(b"c")]), 200,
                               b"abc", OCTET, stream=True),
    "streaming-response-status-tuple": Case(
        lambda: (StreamingResponse([b"s"], content_type="text/s"), 206), 206, b"s", "text/s",
        stream=True),
    "file-response": Case(lambda: FileResponse(str(FILE)), 200, b"file body\n", TEXT,
                          {"accept-ranges": "bytes"}, stream=True),
    "event-source-response": Case(lambda: EventSourceResponse([{"data": "x"}]), 200, b"data: x\n\n",
                                  SSE, {"cache-control": "no-cache"}, stream=True),
    # -- values that cannot be sent: a logged 500 -------------------------------------------
    "dict-with-object": Case(lambda: {"o": object()}, *INTERNAL, error=TypeError),
    "dict-with-nan": Case(lambda: {"x": float("nan")}, *INTERNAL, error=ValueError),
    "list-with-set-of-objects": Case(lambda: [{object()}], *INTERNAL, error=TypeError),
    "response-status-out-of-range": Case(
        lambda: {"__vhttp_response__": True, "status_code": 1000, "body": "x"}, *INTERNAL,
        error=ValueError),
    "response-status-not-int": Case(
        lambda: {"__vhttp_response__": True, "status_code": "200", "body": "x"}, *INTERNAL,
        error=ValueError),
    "response-content-type-not-str": Case(
        lambda: {"__vhttp_response__": True, "body": "x", "content_type": 5}, *INTERNAL,
        error=TypeError),
    "response-header-injection": Case(lambda: Response(body="x", headers={"X": "a\r\nSet-Cookie: b"}),
                                      *INTERNAL, error=ValueError),
    "response-header-not-str": Case(lambda: Response(body="x", headers={"X": 1}), *INTERNAL,
                                    error=TypeError),
}


def effective(out: Dict[str, Any]) -> Tuple[int, bytes, Optional[str], Dict[str, str]]:
    """A `serialize_response` result as the client would see it: a `Content-Type` header
    wins over `content_type` (docs/internals/requests-responses.md); header names lower-cased."""
    headers = out["headers"] or {}
    pairs = headers.items() if isinstance(headers, dict) else headers
    lowered = {str(k).lower(): str(v) for k, v in pairs}
    content_type = lowered.pop("content-type", out["content_type"])
    return out["status_code"], out["body"], content_type, lowered
