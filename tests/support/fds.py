"""The test process's descriptor limit, for tests that hold thousands of sockets (the server
they start inherits it)."""
from __future__ import annotations

import resource

import pytest


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
        pytest.skip(f"the test process may open only {soft} descriptors")
