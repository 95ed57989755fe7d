"""The original's all-in-one device app (`viperhttp_app.py` style) starts unchanged on a computer
and serves every extension: static files and templates from `/www`, sessions in the VFS, auth,
WebSocket, API docs and OTA (docs/guide/device-apps.md)."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect


@pytest.fixture
def vfs(tmp_path: Path) -> Path:
    root = tmp_path / "vfs"
    (root / "www" / "static").mkdir(parents=True)
    (root / "www" / "templates").mkdir(parents=True)
    (root / "www" / "static" / "app.js").write_bytes(b"console.log('device');\n")
    (root / "www" / "templates" / "page.html").write_text(
        "<h1>{{ name }}</h1>{% for i in items %}<li>{{ i }}</li>{% endfor %}\n")
    return root


def test_all_in_one_device_app_serves_every_extension(serve, vfs):
    server = serve("apps/device_full_app.py", env={"VIPERHTTP_VFS_ROOT": str(vfs)})
    c = server.client
    hello = c.get("/hello").json()
    assert hello["up_ms"] is True and hello["free"] is True and hello["uid"] > 0
    assert c.get("/static/app.js").content == b"console.log('device');\n"
    page = c.get("/page")
    assert page.status_code == 200 and "<h1>device</h1><li>a</li><li>b</li>" in page.text
    # auth: anonymous → 401; a session login (VFS store) → the user; a bearer token → the robot
    assert c.get("/me").status_code == 401
    assert c.post("/login?name=ada").status_code == 200
    assert c.get("/me").json() == {"user": {"sub": "ada"}}
    assert list((vfs / "sessions").iterdir())  # the session lives under the VFS root
    bearer = httpx.get(server.url("/me"), headers={"Authorization": "Bearer device-token"})
    assert bearer.json() == {"user": {"sub": "robot"}}
    # WebSocket
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        ws.send("hi")
        assert ws.recv(timeout=5) == "echo:hi"
    # API docs
    spec = c.get("/openapi.json").json()
    assert "/hello" in spec["paths"] and spec["info"]["title"] == "device"
    assert c.get("/docs").status_code == 200
    # OTA: the token is required
    assert c.get("/ota/status").status_code == 401
    status = c.get("/ota/status", headers={"X-OTA-Token": "ota-secret"})
    assert status.status_code == 200 and status.json()["supported"] is True
