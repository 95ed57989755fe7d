"""Waiting for a line in a test server's log (conftest.Server.logs())."""
from __future__ import annotations

import time
from typing import Any


def wait_for_log(server: Any, *needles: str, timeout: float = 5.0) -> str:
    """The log once every needle is in it, or as it is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    logs = server.logs()
    while not all(n in logs for n in needles) and time.monotonic() < deadline:
        time.sleep(0.05)
        logs = server.logs()
    return logs
