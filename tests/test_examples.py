"""The examples/ apps, started as their docstrings document and driven over real sockets.

Each docstring says `Run: .venv/bin/python examples/<name>.py [PORT]   (default 8080, or $PORT)`;
the `serve` fixture runs the script with this interpreter, passing the port as the first
argument (and as $PORT), from the repository root. The endpoints and curl lines of each
docstring are exercised, then SIGTERM must end the process with exit code 0.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELLO = "examples/hello.py"
ROUTERS = "examples/routers_deps.py"
MIDDLEWARE = "examples/middleware_errors.py"
TEXT = "text/plain; charset=utf-8"


def test_examples_are_run_with_the_venv_interpreter():
    # The documented command is `.venv/bin/python examples/...`; the fixture uses sys.executable.
    assert Path(sys.executable).parent.parent.resolve() == (ROOT / ".venv").resolve() or \
        Path(sys.prefix).resolve() == (ROOT / ".venv").resolve(), sys.executable
    for script in (HELLO, ROUTERS, MIDDLEWARE):
        doc = (ROOT / script).read_text()
        assert f"Run: .venv/bin/python {script} [PORT]" in doc, script


# --- examples/hello.py -----------------------------------------------------------------------


def test_hello_documented_endpoints(serve):
    server = serve(HELLO)
    r = server.client.get("/hello")  # curl localhost:8080/hello → {"msg":"ok"}
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b'{"msg":"ok"}', "application/json")
    r = server.client.get("/plain")  # curl localhost:8080/plain → hello
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"hello", TEXT)
    r = server.client.get("/missing")
    assert (r.status_code, r.content) == (404, b"Not Found")
    assert server.stop() == 0, server.logs()


# --- examples/routers_deps.py ----------------------------------------------------------------


def test_routers_deps_documented_endpoints(serve):
    server = serve(ROUTERS)
    c = server.client
    # curl localhost:8080/api/v1/items?limit=2
    r = c.get("/api/v1/items?limit=2")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == b'[{"id":1,"name":"item 1"},{"id":2,"name":"item 2"}]'
    # curl -H 'X-User: ada' localhost:8080/api/v1/me
    r = c.get("/api/v1/me", headers={"X-User": "ada"})
    assert r.json() == {"user": "ada", "session": "open"}  # teardown runs after the handler
    assert server.stop() == 0, server.logs()


def test_routers_deps_query_spec_path_params_and_errors(serve):
    c = serve(ROUTERS).client
    assert len(c.get("/api/v1/items").json()) == 5  # Query(10, int) default, 5 items exist
    r = c.get("/api/v1/items?limit=x")
    assert (r.status_code, r.content) == (422, b'{"detail":"Invalid query param: limit"}')
    assert c.get("/api/v1/items/3").json() == {"id": 3, "name": "item 3"}
    r = c.get("/api/v1/items/99")
    assert (r.status_code, r.content, r.headers["content-type"]) == (404, b'{"detail":"no item 99"}',
                                                                    "application/json")
    r = c.get("/api/v1/items/abc")  # {item_id:int} does not match: native 404
    assert (r.status_code, r.content, r.headers["content-type"]) == (404, b"Not Found", TEXT)
    r = c.get("/api/v1/me")  # the current_user dependency raises HTTPException(401, headers=...)
    assert (r.status_code, r.content) == (401, b'{"detail":"missing X-User header"}')
    assert r.headers["www-authenticate"] == "X-User"
    assert c.get("/v1/items").status_code == 404  # only reachable under the /api prefix
    assert c.post("/api/v1/items").status_code == 405


# --- examples/middleware_errors.py -----------------------------------------------------------


def _elapsed_ok(response) -> bool:
    return re.fullmatch(r"\d+\.\d\d", response.headers.get("x-elapsed-ms", "")) is not None


def test_middleware_errors_documented_endpoints(serve):
    server = serve(MIDDLEWARE)
    c = server.client
    r = c.get("/public")  # curl -i localhost:8080/public
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"hello", TEXT)
    assert _elapsed_ok(r) and r.headers["x-served-by"] == "example"
    # curl -i -H 'Authorization: Bearer secret' localhost:8080/private/7 → OutOfStock → 409
    r = c.get("/private/7", headers={"Authorization": "Bearer secret"})
    assert (r.status_code, r.content) == (409, b'{"detail":"out of stock","item":7}')
    assert r.headers["content-type"] == "application/json"
    assert _elapsed_ok(r) and r.headers["x-served-by"] == "example"
    r = c.get("/private/8", headers={"Authorization": "Bearer secret"})
    assert (r.status_code, r.json()) == (200, {"item": 8})
    assert server.stop() == 0, server.logs()


def test_middleware_errors_short_circuit_and_unhandled_500(serve):
    server = serve(MIDDLEWARE)
    c = server.client
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = c.get("/private/8", headers=headers)  # require_token answers without the handler
        assert (r.status_code, r.content) == (401, b'{"detail":"bad token"}')
        assert r.headers["www-authenticate"] == "Bearer"
        # timing (priority -10) and ServerName (0) wrap the short-circuit (priority 10)
        assert _elapsed_ok(r) and r.headers["x-served-by"] == "example"
    r = c.get("/crash")
    assert (r.status_code, r.content, r.headers["content-type"]) == (500, b"Internal Server Error", TEXT)
    assert b"traceback" not in r.content.lower() and b"never to the client" not in r.content
    assert _elapsed_ok(r) and r.headers["x-served-by"] == "example"
    r = c.get("/nowhere")  # unmatched paths pass through the chain too
    assert (r.status_code, r.content) == (404, b"Not Found") and r.headers["x-served-by"] == "example"
    deadline = time.monotonic() + 5
    while "never to the client" not in server.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    logs = server.logs()
    assert "Traceback (most recent call last)" in logs
    assert "RuntimeError: this traceback goes to the log, never to the client" in logs
    assert c.get("/public").text == "hello"  # still serving
