"""`urandom`: `random` with the device's `getrandbits(n)` (1 ≤ n ≤ 32) and `randint`."""
from __future__ import annotations

import random as _random
from random import randint  # noqa: F401
from typing import Any


def getrandbits(n: int) -> int:
    if not 1 <= n <= 32:
        raise ValueError("bits must be 1..32")
    return _random.getrandbits(n)


def __getattr__(name: str) -> Any:
    # `random`, `uniform`, `choice`, `seed`, ... are the standard module's.
    try:
        return getattr(_random, name)
    except AttributeError:
        raise AttributeError(f"module 'urandom' has no attribute {name!r}") from None
