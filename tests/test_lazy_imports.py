"""Heavy modules are imported only by apps that use them (docs/internals/benchmarks.md "Memory").

pydantic and pydantic-core (~7 MiB of RSS), `email`, `decimal`, `uuid`, `gzip`, ... are loaded
on first use: a typed route, a response model, a `FileResponse`, `gzip_static()`. These tests
fail if a module-level import brings one of them back into `import viperhttp` or the hello app.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ["pydantic", "pydantic_core", "email", "decimal", "uuid", "zoneinfo", "gzip", "lzma", "bz2",
         "tempfile", "importlib.abc", "concurrent.futures.thread", "datetime", "pathlib",
         # a sync app is served without an event loop (docs/internals/bridge.md#serving-without-an-event-loop)
         "asyncio", "ssl", "uvloop"]


def _loaded_after(code: str) -> list:
    probe = f"{code}\nimport sys\nprint([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return eval(out.stdout.strip().splitlines()[-1])  # a list literal printed by the probe


def test_import_viperhttp_loads_no_pydantic() -> None:
    out = subprocess.run([sys.executable, "-c", "import viperhttp, viperhttp_bridge, sys; print('pydantic' in sys.modules)"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_import_loads_no_heavy_module() -> None:
    # viperhttp_autodocs is what `run()` imports for /docs and /openapi.json.
    assert _loaded_after("import viperhttp, viperhttp_bridge, viperhttp_autodocs") == []


def test_star_import_loads_no_heavy_module() -> None:
    # a device app's `from viperhttp import *`: every name of `__all__` is resolved, so a name
    # resolved lazily on first use (`Security`, which imports pydantic) must not be listed there
    assert _loaded_after("from viperhttp import *\nassert ViperHTTP and Depends") == []


def test_untyped_routes_load_no_pydantic() -> None:
    code = ("import viperhttp\napp = viperhttp.ViperHTTP()\n"
            "@app.get('/a/{x}')\ndef a(x, request, q=None) -> dict: return {}\n"
            "@app.get('/b', status_code=201, tags=['t'])\ndef b() -> str: return ''\n"
            "@app.get('/c', deps={'d': viperhttp.Depends(lambda: 1)})\ndef c(d): return d\n")
    assert _loaded_after(code) == []


@pytest.mark.parametrize("declaration", [
    "def f(x: int): return x",
    "def f(q=viperhttp.Query(None)): return q",
    "def f(d=viperhttp.Depends(lambda: 1)): return d",
])
def test_a_typed_route_loads_pydantic(declaration: str) -> None:
    code = f"import viperhttp\napp = viperhttp.ViperHTTP()\n@app.get('/t')\n{declaration}\n"
    assert "pydantic" in _loaded_after(code)


def test_response_model_loads_pydantic() -> None:
    code = ("import dataclasses, viperhttp\napp = viperhttp.ViperHTTP()\n"
            "@dataclasses.dataclass\nclass M:\n    a: int\n"
            "@app.get('/m')\ndef m() -> M: return M(1)\n")
    assert "pydantic" in _loaded_after(code)


def test_served_hello_app_loads_no_heavy_module(serve) -> None:
    s = serve("apps/lazy_imports_app.py")
    assert s.client.get("/hello").json() == {"msg": "ok"}
    r = s.client.get("/created")
    assert (r.status_code, r.json()) == (201, {"created": True})
    assert s.client.get("/openapi.json").status_code == 200
    assert s.client.get("/loaded").json() == []


def test_encoder_knows_a_type_first_imported_by_a_handler(serve) -> None:
    s = serve("apps/lazy_imports_app.py")
    assert s.client.get("/uuid").json() == {"id": "00000000-0000-0000-0000-000000000001"}


def test_typed_route_imports_pydantic_and_validates(serve) -> None:
    s = serve("apps/lazy_imports_app.py", "typed")
    assert "pydantic" in s.client.get("/loaded").json()
    assert s.client.get("/items/5?q=x").json() == {"item_id": 5, "q": "x"}
    r = s.client.get("/items/five")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "item_id"]
    assert s.client.get("/hello").json() == {"msg": "ok"}


def test_sse_generator_route_with_plain_items_loads_no_pydantic() -> None:
    """An SSE path operation whose items are plain values needs no pydantic: `ServerSentEvent`
    (a pydantic model) is looked for only once its module is loaded. Each item imported it."""
    code = ("import viperhttp\nfrom viperhttp.testclient import TestClient\n"
            "from viperhttp_responses import EventSourceResponse\n"
            "app = viperhttp.ViperHTTP()\n"
            "@app.get('/events', response_class=EventSourceResponse)\n"
            "async def events():\n    yield {'n': 1}\n    yield 'two'\n"
            "with TestClient(app) as c:\n"
            "    assert c.get('/events').text == 'data: {\"n\":1}\\n\\ndata: \"two\"\\n\\n'\n")
    assert "pydantic" not in _loaded_after(code)
