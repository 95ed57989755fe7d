"""HTTP and WebSocket status codes by name, as `starlette.status` / `fastapi.status` spell them
(`status.HTTP_404_NOT_FOUND`, `status.WS_1008_POLICY_VIOLATION`).

The HTTP names come from `http.HTTPStatus` (`HTTP_<code>_<NAME>`), plus the spellings Starlette
keeps that an older `HTTPStatus` lacks; plain ints, so `status_code=status.HTTP_201_CREATED`
works everywhere a number does.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Dict

_EXTRA = {  # Starlette's names that HTTPStatus spells otherwise (or not at all) before 3.13
    "HTTP_306_RESERVED": 306,
    "HTTP_413_CONTENT_TOO_LARGE": 413,
    "HTTP_414_URI_TOO_LONG": 414,
    "HTTP_416_RANGE_NOT_SATISFIABLE": 416,
    "HTTP_422_UNPROCESSABLE_CONTENT": 422,
}

_WS = {
    "WS_1000_NORMAL_CLOSURE": 1000,
    "WS_1001_GOING_AWAY": 1001,
    "WS_1002_PROTOCOL_ERROR": 1002,
    "WS_1003_UNSUPPORTED_DATA": 1003,
    "WS_1005_NO_STATUS_RCVD": 1005,
    "WS_1006_ABNORMAL_CLOSURE": 1006,
    "WS_1007_INVALID_FRAME_PAYLOAD_DATA": 1007,
    "WS_1008_POLICY_VIOLATION": 1008,
    "WS_1009_MESSAGE_TOO_BIG": 1009,
    "WS_1010_MANDATORY_EXT": 1010,
    "WS_1011_INTERNAL_ERROR": 1011,
    "WS_1012_SERVICE_RESTART": 1012,
    "WS_1013_TRY_AGAIN_LATER": 1013,
    "WS_1014_BAD_GATEWAY": 1014,
    "WS_1015_TLS_HANDSHAKE": 1015,
}


def _names() -> Dict[str, int]:
    names = {f"HTTP_{member.value}_{name}": int(member.value) for name, member in HTTPStatus.__members__.items()}
    names.update(_EXTRA)
    names.update(_WS)
    return names


_ALL = _names()
globals().update(_ALL)
__all__ = sorted(_ALL)
