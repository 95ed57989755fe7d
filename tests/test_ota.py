"""OTA over real sockets (docs/internals/ota.md): the begin/chunk/finalize flow on file-backed slots, every
error status, token sources, strict offsets, SHA-256 and size checks, abort, mark-valid, the
documentation aliases, the `esp32.Partition` device API, and `reboot=True` re-executing the
process. One server per module; each test starts from an aborted session.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from apps.bridge_support import wait_for
from conftest import ROOT, TESTS, Server, _wait_ready, free_port

TOKEN = "s3cret-token"
SLOT = 65536


def start_ota_server(tmp: Path, **env: str) -> Server:
    port = free_port()
    log_path = tmp / f"ota-{port}.log"
    full = dict(os.environ, PYTHONUNBUFFERED="1", VIPERHTTP_NO_UVLOOP="1", OTA_SLOT_SIZE=str(SLOT))
    full.pop("VIPERHTTP_VFS_ROOT", None)
    full.update(env)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(TESTS / "apps/ota_app.py"), str(port)], stdout=log,
                                stderr=subprocess.STDOUT, env=full, cwd=str(ROOT), stdin=subprocess.DEVNULL)
    _wait_ready(proc, port, log_path)
    return Server(proc, port, log_path)


@pytest.fixture(scope="module")
def slots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ota")


@pytest.fixture(scope="module")
def server(slots: Path) -> Iterator[Server]:
    srv = start_ota_server(slots, OTA_DIR=str(slots / "dir"), OTA_TOKEN=TOKEN,
                           OTA_APPLY_LOG=str(slots / "apply.log"))
    yield srv
    srv.stop()


@pytest.fixture
def ota(server: Server) -> Any:
    """POST/GET helper with the token header; the session is aborted before each test."""
    def call(method: str, path: str, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        headers.setdefault("X-OTA-Token", TOKEN)
        return server.client.request(method, "/ota" + path, headers=headers, **kw)
    call("POST", "/abort")
    return call


def octet(data: bytes) -> Dict[str, Any]:
    return {"content": data, "headers": {"X-OTA-Token": TOKEN, "Content-Type": "application/octet-stream"}}


def image(n: int = 10000) -> bytes:
    return bytes((i * 7 + 3) % 256 for i in range(n))


def test_full_flow_begin_chunks_finalize(ota, slots):
    img = image()
    sha = hashlib.sha256(img).hexdigest()
    r = ota("POST", "/begin", json={"expected_size": len(img), "expected_sha256": sha.upper()})
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["supported"] is True and st["active"] is True and st["last_error"] is None
    s = st["session"]
    assert s["written_bytes"] == 0 and s["expected_size"] == len(img) and s["expected_sha256"] == sha
    assert (s["capacity_bytes"], s["block_size"], s["block_count"]) == (SLOT, 4096, SLOT // 4096)
    assert s["remaining_bytes"] == len(img) and s["progress_pct"] == 0.0
    assert s["partition"]["label"] == "ota_1"
    assert s["partition"]["raw"] == [0, 0x11, SLOT, SLOT, "ota_1", False]
    assert st["running_partition"]["label"] == "ota_0" and st["next_update_partition"]["label"] == "ota_1"
    for off in range(0, len(img), 4000):
        r = ota("POST", f"/chunk?offset={off}", **octet(img[off:off + 4000]))
        assert r.status_code == 200, r.text
    s = r.json()["session"]
    assert s["written_bytes"] == len(img) and s["remaining_bytes"] == 0 and s["progress_pct"] == 100.0
    r = ota("POST", "/finalize", json={})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res == {"ok": True, "session_id": res["session_id"], "written_bytes": len(img),
                   "expected_size": len(img), "sha256": sha, "set_boot": True, "reboot": False,
                   "partition": s["partition"]}
    st = ota("GET", "/status").json()
    assert st["active"] is False and st["session"] is None and st["last_result"] == res
    assert st["boot_partition"]["label"] == "ota_1" and st["running_partition"]["label"] == "ota_0"
    slot_file = slots / "dir" / "ota_1.bin"
    data = slot_file.read_bytes()
    assert len(data) == SLOT and data[:len(img)] == img
    assert data[len(img):12288] == b"\xff" * (12288 - len(img))  # the rest of the last block is erased
    state = json.loads((slots / "dir" / "state.json").read_text())
    assert state == {"running": "ota_0", "boot": "ota_1", "valid": False}
    assert (slots / "apply.log").read_text().splitlines()[-1] == f"{slot_file} {len(img)}"


def test_token_sources_and_401(server, ota):
    c = server.client
    assert c.get("/ota/status").status_code == 401
    assert c.get("/ota/status").json() == {"detail": "invalid ota token"}
    assert c.get("/ota/status", headers={"X-OTA-Token": "wrong"}).status_code == 401
    assert c.get("/ota/status", headers={"x-ota-token": TOKEN}).status_code == 200
    assert c.get(f"/ota/status?token={TOKEN}").status_code == 200
    assert c.get("/ota/status?token=nope").status_code == 401
    assert c.get("/ota/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert c.get("/ota/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    # the header wins over the query parameter
    assert c.get(f"/ota/status?token={TOKEN}", headers={"X-OTA-Token": "bad"}).status_code == 401
    for path in ("/begin", "/chunk", "/write", "/finalize", "/abort", "/upload", "/mark-valid"):
        assert c.post("/ota" + path).status_code == 401, path


def test_begin_errors_400_and_409(ota):
    cases = [
        ({"expected_size": "abc"}, "expected_size must be an integer"),
        ({"expected_size": 1.5}, "expected_size must be an integer"),
        ({"expected_size": -1}, "expected_size must be >= 0"),
        ({"expected_size": SLOT + 1}, "expected_size exceeds partition capacity"),
        ({"expected_sha256": "abc"}, "expected_sha256 must be 64 hex characters"),
        ({"expected_sha256": "g" * 64}, "expected_sha256 must be 64 hex characters"),
    ]
    for body, detail in cases:
        r = ota("POST", "/begin", json=body)
        assert (r.status_code, r.json()) == (400, {"detail": detail}), body
    st = ota("GET", "/status").json()
    assert st["last_error"] == "expected_sha256 must be 64 hex characters" and st["active"] is False
    assert ota("POST", "/begin", json={}).status_code == 200
    r = ota("POST", "/begin", json={})
    assert (r.status_code, r.json()) == (409, {"detail": "ota session already active"})
    first = ota("GET", "/status").json()["session"]["id"]
    r = ota("POST", "/begin", json={"force": "yes"})
    assert r.status_code == 200 and r.json()["session"]["id"] == first + 1


def test_chunk_errors(ota):
    r = ota("POST", "/chunk", **octet(b"x"))
    assert (r.status_code, r.json()) == (409, {"detail": "ota session is not active"})
    assert ota("POST", "/begin", json={"expected_size": 10}).status_code == 200
    r = ota("POST", "/chunk", **octet(b""))
    assert (r.status_code, r.json()) == (400, {"detail": "empty chunk"})
    r = ota("POST", "/chunk", **octet(b"x" * 11))
    assert (r.status_code, r.json()) == (400, {"detail": "chunk exceeds expected_size"})
    r = ota("POST", "/chunk", json={"data_base64": "***"})
    assert (r.status_code, r.json()) == (400, {"detail": "invalid data_base64"})
    r = ota("POST", "/chunk", json={"data_hex": "zz"})
    assert (r.status_code, r.json()) == (400, {"detail": "invalid data_hex"})
    r = ota("POST", "/chunk?offset=x", **octet(b"a"))
    assert (r.status_code, r.json()) == (400, {"detail": "offset must be an integer"})
    assert ota("POST", "/begin", json={"force": True}).status_code == 200  # no expected size
    r = ota("POST", "/chunk", **octet(b"y" * (SLOT + 1)))
    assert (r.status_code, r.json()) == (400, {"detail": "chunk exceeds partition capacity"})


def test_route_layer_errors_are_recorded_in_last_error(ota):
    """Errors raised by the endpoints themselves (not the manager) also set `last_error`."""
    def last_error() -> Any:
        return ota("GET", "/status").json()["last_error"]

    assert ota("POST", "/begin", json={"expected_size": 10}).status_code == 200
    assert last_error() is None
    cases = [
        (lambda: ota("POST", "/chunk", **octet(b"")), "empty chunk"),
        (lambda: ota("POST", "/chunk", json={"data_base64": "***"}), "invalid data_base64"),
        (lambda: ota("POST", "/chunk", json={"data_hex": "zz"}), "invalid data_hex"),
        (lambda: ota("POST", "/chunk?offset=x", **octet(b"a")), "offset must be an integer"),
        (lambda: ota("POST", "/chunk", content=b"{nope", headers={"Content-Type": "application/json"}),
         "invalid JSON body"),
        (lambda: ota("POST", "/upload", **octet(b"")), "empty upload body"),
    ]
    for call, detail in cases:
        r = call()
        assert (r.status_code, r.json()) == (400, {"detail": detail})
        assert last_error() == detail
        ota("POST", "/begin", json={"force": True, "expected_size": 10})  # clears it
        assert last_error() is None
    # a wrong token is not an OTA call: nothing recorded
    r = ota("POST", "/chunk", headers={"X-OTA-Token": "wrong"}, content=b"")
    assert r.status_code == 401 and last_error() is None


def test_replayed_offset_is_409_and_client_resumes(ota):
    img = image(9000)
    assert ota("POST", "/begin", json={"size": len(img)}).status_code == 200  # `size` alias
    assert ota("POST", "/chunk?offset=0", **octet(img[:5000])).status_code == 200
    r = ota("POST", "/chunk?offset=0", **octet(img[:5000]))  # a retry that already landed
    assert (r.status_code, r.json()) == (409, {"detail": "offset mismatch: expected 5000, got 0"})
    r = ota("POST", "/chunk?offset=6000", **octet(img[5000:]))
    assert r.status_code == 409
    resume = ota("GET", "/status").json()["session"]["written_bytes"]
    assert resume == 5000
    # the /write alias and hex/base64 bodies
    assert ota("POST", f"/write?offset={resume}", json={"data_hex": img[5000:7000].hex()}).status_code == 200
    r = ota("POST", "/chunk", data={"data_base64": base64.b64encode(img[7000:]).decode(), "offset": "7000"})
    assert r.status_code == 200, r.text
    r = ota("POST", "/finalize", json={"sha256": hashlib.sha256(img).hexdigest(), "set_boot": "0"})
    assert r.status_code == 200 and r.json()["sha256"] == hashlib.sha256(img).hexdigest()
    assert r.json()["set_boot"] is False


def test_finalize_errors_leave_the_session_active(ota):
    r = ota("POST", "/finalize", json={})
    assert (r.status_code, r.json()) == (409, {"detail": "ota session is not active"})
    img = image(3000)
    sha = hashlib.sha256(img).hexdigest()
    assert ota("POST", "/begin", json={"expected_size": 4000, "expected_sha256": sha}).status_code == 200
    r = ota("POST", "/finalize", json={})
    assert (r.status_code, r.json()) == (409, {"detail": "no firmware bytes written"})
    assert ota("POST", "/chunk", **octet(img)).status_code == 200
    r = ota("POST", "/finalize", json={})
    assert (r.status_code, r.json()) == (409, {"detail": "written size does not match expected_size"})
    r = ota("POST", "/finalize", json={"sha256": "0" * 64})
    assert (r.status_code, r.json()) == (400, {"detail": "sha256 conflicts with expected_sha256"})
    r = ota("POST", "/finalize", json={"sha256": "xyz"})
    assert (r.status_code, r.json()) == (400, {"detail": "sha256 must be 64 hex characters"})
    st = ota("GET", "/status").json()
    assert st["active"] is True and st["session"]["written_bytes"] == 3000
    assert st["last_error"] == "sha256 must be 64 hex characters"
    r = ota("POST", "/finalize?strict_size=false&set_boot=off")
    assert r.status_code == 200 and r.json()["written_bytes"] == 3000 and r.json()["expected_size"] == 4000


def test_wrong_sha256_is_409(ota):
    img = image(5000)
    assert ota("POST", "/begin", json={"expected_sha256": "ab" * 32}).status_code == 200
    assert ota("POST", "/chunk", **octet(img)).status_code == 200
    r = ota("POST", "/finalize", json={"set_boot": False})
    assert (r.status_code, r.json()) == (409, {"detail": "sha256 mismatch"})
    assert ota("GET", "/status").json()["active"] is True


def test_abort_with_and_without_session(ota):
    r = ota("POST", "/abort")
    assert r.json() == {"ok": True, "aborted": False, "active": False}
    sid = ota("POST", "/begin", json={}).json()["session"]["id"]
    r = ota("POST", "/abort")
    assert r.json() == {"ok": True, "aborted": True, "session_id": sid, "active": False}
    st = ota("GET", "/status").json()
    assert st["active"] is False and st["last_error"] == "aborted"


def test_upload_whole_image_and_errors(ota, slots):
    img = image(7000)
    sha = hashlib.sha256(img).hexdigest()
    r = ota("POST", f"/upload?expected_sha256={sha}&set_boot=false", **octet(img))
    assert r.status_code == 200, r.text
    assert r.json()["sha256"] == sha and r.json()["written_bytes"] == 7000 and r.json()["set_boot"] is False
    r = ota("POST", "/upload", **octet(b""))
    assert (r.status_code, r.json()) == (400, {"detail": "empty upload body"})
    r = ota("POST", f"/upload?expected_sha256={'0' * 64}", **octet(img))
    assert (r.status_code, r.json()) == (409, {"detail": "sha256 mismatch"})
    st = ota("GET", "/status").json()
    assert st["active"] is False and st["last_error"] == "sha256 mismatch"  # apply aborted the session


def test_form_fields_and_boolean_spellings(ota):
    r = ota("POST", "/begin", data={"expected_size": "4", "force": "on"})
    assert r.status_code == 200 and r.json()["session"]["expected_size"] == 4
    assert ota("POST", "/chunk", json={"data_base64": base64.b64encode(b"abcd").decode(), "offset": 0}).status_code == 200
    r = ota("POST", "/finalize", data={"set_boot": "No", "reboot": "maybe"})  # unknown → default false
    assert r.status_code == 200 and r.json()["set_boot"] is False and r.json()["reboot"] is False


def test_json_integers_other_than_0_and_1_are_not_booleans(ota):
    """`"force": 2` / `"reboot": 2` are not spellings of true: the default applies."""
    assert ota("POST", "/begin", json={"expected_size": 4}).status_code == 200
    r = ota("POST", "/begin", json={"force": 2})
    assert (r.status_code, r.json()) == (409, {"detail": "ota session already active"})
    first = ota("GET", "/status").json()["session"]["id"]
    r = ota("POST", "/begin", json={"force": 1, "expected_size": 4})
    assert r.status_code == 200 and r.json()["session"]["id"] == first + 1
    assert ota("POST", "/chunk", **octet(b"abcd")).status_code == 200
    r = ota("POST", "/finalize", json={"reboot": 2, "set_boot": 0, "strict_size": -1})
    assert r.status_code == 200, r.text
    assert r.json()["reboot"] is False and r.json()["set_boot"] is False


def test_mark_valid(ota, slots):
    r = ota("POST", "/mark-valid")
    assert (r.status_code, r.json()) == (200, {"ok": True})
    assert json.loads((slots / "dir" / "state.json").read_text())["valid"] is True


def test_install_result_prefix_and_skipped_routes(server):
    r = server.client.get("/install-result").json()
    assert r["prefix"] == "/tools" and r["token_required"] is True
    assert (r["token_header"], r["token_query"]) == ("X-T2", "k")
    assert "POST /tools/abort" in r["skipped"] and "GET /tools/status" in r["installed"]
    assert "POST /tools/write" in r["installed"] and len(r["installed"]) == 7
    assert server.client.post("/tools/abort").json() == {"mine": True}
    assert server.client.get("/tools/status?k=t2").status_code == 200
    assert server.client.get("/tools/status", headers={"X-T2": "t2"}).status_code == 200
    assert server.client.get("/tools/status", headers={"X-OTA-Token": TOKEN}).status_code == 401
    docs = {(d["method"], d["path"]): d["docs"] for d in server.client.get("/route-docs").json()}
    assert docs[("POST", "/ota/chunk")]["tags"] == ["ota"]
    assert docs[("POST", "/ota/write")].get("include_in_schema") is False
    assert docs[("POST", "/ota/chunk")].get("include_in_schema", True) is True


def test_device_partition_api_runs_on_the_slots(server):
    r = server.client.get("/device-api").json()
    assert r["same"] is True and r["shim"] == "viperhttp.compat.esp32"
    assert r["running"][4] == "ota_0" and r["next"] == [0, 0x11, SLOT, SLOT, "ota_1", False]
    assert (r["blocks"], r["block_size"], r["read"], r["erased"]) == (SLOT // 4096, 4096, "ABCDEFGH", "ffffffff")
    assert r["found"] == ["ota_0", "ota_1"] and r["found_label"] == ["ota_1"]


def test_partition_unavailable_is_500(tmp_path):
    bad = tmp_path / "afile"
    bad.write_text("not a directory")
    srv = start_ota_server(tmp_path, OTA_DIR=str(bad))
    try:
        r = srv.client.post("/ota/begin", json={})
        assert r.status_code == 500 and r.json()["detail"].startswith("ota partition unavailable")
        assert srv.client.get("/ota/status").status_code == 500
        assert "Traceback" not in r.text
    finally:
        srv.stop()


def test_reboot_answers_first_then_reexecutes_on_the_new_slot(tmp_path):
    boot_log = tmp_path / "boot.log"
    srv = start_ota_server(tmp_path, OTA_DIR=str(tmp_path / "slots"), OTA_BOOT_LOG=str(boot_log))
    try:
        pid = srv.proc.pid
        img = image(5000)
        assert srv.client.post("/ota/begin", json={"expected_size": len(img)}).status_code == 200
        assert srv.client.post("/ota/chunk?offset=0", content=img,
                               headers={"Content-Type": "application/octet-stream"}).status_code == 200
        r = srv.client.post("/ota/finalize", json={"reboot": True})
        assert r.status_code == 200 and r.json()["reboot"] is True and r.json()["set_boot"] is True
        assert wait_for(lambda: len(boot_log.read_text().splitlines()) >= 2, 20), srv.logs()
        assert boot_log.read_text().splitlines() == [f"{pid} ota_0", f"{pid} ota_1"]
        _wait_ready(srv.proc, srv.port, srv.log_path)
        srv.client.close()
        srv.client = type(srv.client)(base_url=srv.base, timeout=10.0)
        st = srv.client.get("/ota/status").json()
        assert st["running_partition"]["label"] == "ota_1" and st["boot_partition"]["label"] == "ota_1"
        assert st["next_update_partition"]["label"] == "ota_0" and st["last_result"] is None
        assert srv.proc.poll() is None
    finally:
        srv.stop()


def test_reboot_reexecutes_a_module_started_with_interpreter_options(tmp_path):
    """`python -X utf8 -m apps.ota_app` comes back as `-X utf8 -m apps.ota_app` (sys.orig_argv),
    not as `python .../ota_app.py`, and the atexit handlers of the old process ran first."""
    port = free_port()
    log_path = tmp_path / "ota-m.log"
    argv_log = tmp_path / "argv.log"
    boot_log = tmp_path / "boot.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", VIPERHTTP_NO_UVLOOP="1", OTA_SLOT_SIZE=str(SLOT),
               OTA_DIR=str(tmp_path / "slots"), OTA_ARGV_LOG=str(argv_log), OTA_BOOT_LOG=str(boot_log))
    env.pop("VIPERHTTP_VFS_ROOT", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-X", "utf8", "-m", "apps.ota_app", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(TESTS),
                                stdin=subprocess.DEVNULL)
    _wait_ready(proc, port, log_path)
    srv = Server(proc, port, log_path)
    try:
        img = image(3000)
        assert srv.client.post("/ota/begin", json={"expected_size": len(img)}).status_code == 200
        assert srv.client.post("/ota/chunk", content=img,
                               headers={"Content-Type": "application/octet-stream"}).status_code == 200
        assert srv.client.post("/ota/finalize", json={"reboot": "yes"}).json()["reboot"] is True
        assert wait_for(lambda: len(boot_log.read_text().splitlines()) >= 2, 20), srv.logs()
        lines = argv_log.read_text().splitlines()
        started = [json.loads(x) for x in lines if x.startswith("{")]
        assert started == [{"pid": proc.pid, "module": True, "utf8": 1}] * 2, (lines, srv.logs())
        assert lines[1] == f"atexit {proc.pid}", lines  # the old process's atexit handler ran
        assert "ota_reexec" in srv.logs()  # logged and flushed before the exec
        assert boot_log.read_text().splitlines() == [f"{proc.pid} ota_0", f"{proc.pid} ota_1"]
        _wait_ready(srv.proc, srv.port, srv.log_path)
        srv.client.close()
        srv.client = type(srv.client)(base_url=srv.base, timeout=10.0)
        assert srv.client.get("/ota/status").json()["running_partition"]["label"] == "ota_1"
    finally:
        srv.stop()


def test_open_endpoints_on_a_public_address_log_a_warning(tmp_path):
    srv = start_ota_server(tmp_path, OTA_DIR=str(tmp_path / "slots"), OTA_HOST="0.0.0.0")
    try:
        assert srv.client.get("/ota/status").status_code == 200  # no token: open
        assert wait_for(lambda: "ota_no_token" in srv.logs(), 5), srv.logs()
        # ... to device tools, and to the server's own pages; a page of another site cannot
        # post an image (a text/plain POST needs no CORS preflight).
        own = f"http://127.0.0.1:{srv.port}"
        r = srv.client.post("/ota/upload", content=b"EVIL", headers={"Content-Type": "text/plain",
                                                                     "Origin": "https://evil.example"})
        assert (r.status_code, r.json()) == (403, {"detail": "cross-origin ota request refused; set ota_token"})
        assert srv.client.post("/ota/abort", headers={"Origin": "null"}).status_code == 403
        assert srv.client.post("/ota/abort", headers={"Origin": own}).status_code == 200
        assert srv.client.post("/ota/abort", headers={"Origin": own.replace("http:", "https:")}).status_code == 403
        assert srv.client.post("/ota/abort").status_code == 200
    finally:
        srv.stop()
    quiet = start_ota_server(tmp_path, OTA_DIR=str(tmp_path / "slots"), OTA_TOKEN="t")
    try:
        assert quiet.client.get("/ota/status", headers={"X-OTA-Token": "t"}).status_code == 200
        assert "ota_no_token" not in quiet.logs()
    finally:
        quiet.stop()
