"""A test server shared by the tests of a module (module- or session-scoped fixtures): started as
conftest's `serve` starts one, on a free port, with its log in `tmp`; the caller stops it."""
from __future__ import annotations

import os
import subprocess
import sys

import conftest


def start_module_server(tmp, script, env=None):
    port = conftest.free_port()
    log_path = tmp / f"server-{port}.log"
    full_env = dict(os.environ, PORT=str(port), PYTHONUNBUFFERED="1", VIPERHTTP_NO_UVLOOP="1", **(env or {}))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(conftest.TESTS / script), str(port)], stdout=log,
                                stderr=subprocess.STDOUT, env=full_env, cwd=str(conftest.ROOT),
                                stdin=subprocess.DEVNULL)
    conftest._wait_ready(proc, port, log_path)
    return conftest.Server(proc, port, log_path)
