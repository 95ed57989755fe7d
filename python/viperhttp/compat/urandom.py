"""`urandom`: `random` with the device's `getrandbits(n)` (1 ≤ n ≤ 32) and `randint`."""
from __future__ import annotations

import random as _random
from random import *  # noqa: F401,F403
from random import randint  # noqa: F401


def getrandbits(n: int) -> int:
    if not 1 <= n <= 32:
        raise ValueError("bits must be 1..32")
    return _random.getrandbits(n)
