"""`esp`: the few functions device apps call, as harmless stubs (docs/guide/device-apps.md)."""
from __future__ import annotations

from typing import Any

LOG_NONE, LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_VERBOSE = 0, 1, 2, 3, 4, 5
SLEEP_NONE, SLEEP_MODEM, SLEEP_LIGHT = 0, 1, 2


def flash_size() -> int:
    return 4 * 1024 * 1024


def flash_user_start() -> int:
    return 0x200000


def osdebug(*_args: Any, **_kw: Any) -> None:
    """No SDK log to silence."""


def sleep_type(*_args: int) -> int:
    return SLEEP_NONE


def gc_mem_free() -> int:
    from .ugc import mem_free
    return mem_free()
