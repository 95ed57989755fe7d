"""Packaging (docs/guide/deployment.md "Installing"): one abi3 wheel from `maturin build` that
installs into a clean venv and serves through the `viperhttp` console script; complete stubs
of the native module; `mypy --strict` on the examples."""
from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, free_port

VENV_BIN = Path(sys.executable).parent
# A wheel build recompiles the extension when the Rust sources changed since the last build
# (minutes on a shared 2-core machine), far past the suite's default per-test timeout.
pytestmark = pytest.mark.timeout(1500)


def test_native_stubs_are_complete():
    import viperhttp._native as native
    tree = ast.parse((ROOT / "python/viperhttp/_native.pyi").read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    built = {name for name in dir(native) if not name.startswith("__")
             and callable(getattr(native, name))}
    assert stubbed == built, (sorted(built - stubbed), sorted(stubbed - built))


def test_stubtest_passes_against_the_built_extension():
    # mypy's stubtest: every name, signature and class of the stub matches the binary.
    proc = subprocess.run([sys.executable, "-m", "mypy.stubtest", "viperhttp._native"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_on_the_examples():
    # The examples, plus the CLI, supervisor, TestClient and device shims (typed throughout).
    extra = ["python/viperhttp/cli.py", "python/viperhttp/supervisor.py",
             "python/viperhttp/testclient.py", "python/viperhttp/compat", "python/_viperhttp_boot"]
    proc = subprocess.run([str(VENV_BIN / "mypy"), "--strict", "--no-incremental",
                           *sorted(str(p) for p in (ROOT / "examples").glob("*.py")), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout


def test_mypy_strict_catches_a_wrong_type(tmp_path):
    # The stubs and py.typed really type the API: a misuse is an error.
    bad = tmp_path / "bad.py"
    bad.write_text("import viperhttp\napp = viperhttp.ViperHTTP(title=3)\n")
    proc = subprocess.run([str(VENV_BIN / "mypy"), "--strict", "--no-incremental", str(bad)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and "arg-type" in proc.stdout, proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([str(VENV_BIN / "maturin"), "build", "--release", "-q", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_one_abi3_wheel_with_everything(wheel):
    assert "-cp310-abi3-" in wheel.name, wheel.name  # one wheel for every CPython >= 3.10
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("viperhttp/py.typed", "viperhttp/_native.pyi", "viperhttp/cli.py",
                   "viperhttp/__main__.py", "viperhttp/testclient.py",
                   "viperhttp/compat/machine.py", "viperhttp/compat/uos.py",
                   "viperhttp/compat/uasyncio.py", "_viperhttp_boot/__init__.py",
                   "viperhttp_bridge/__init__.py", "viperhttp_session/__init__.py",
                   # the API docs pages' assets, served offline
                   "viperhttp_autodocs/assets/swagger-ui-bundle.js",
                   "viperhttp_autodocs/assets/swagger-ui.css",
                   "viperhttp_autodocs/assets/redoc.standalone.js",
                   # FastAPI's module paths (docs/index.md "Coming from FastAPI")
                   "viperhttp/middleware/cors.py", "viperhttp/middleware/trustedhost.py"):
        assert needed in names, needed
    # Every package an app imports carries py.typed, so `mypy --strict` reads its types.
    packages = {n.split("/")[0] for n in names if n.endswith("/__init__.py") and n.count("/") == 1}
    untyped = sorted(p for p in packages - {"_viperhttp_boot"} if f"{p}/py.typed" not in names)
    assert untyped == [], untyped
    assert any(n.endswith(".data/purelib/viperhttp_compat.pth") for n in names), names
    assert any(n.startswith("viperhttp/_native") and n.endswith(".so") for n in names)
    meta = next(n for n in names if n.endswith("entry_points.txt"))
    entry = zipfile.ZipFile(wheel).read(meta).decode().replace(" ", "")
    assert "viperhttp=viperhttp.cli:main" in entry, entry


def test_wheel_installs_in_a_clean_venv_and_serves(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    # pip from this environment installs into the fresh one (no network needed for pip itself).
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-4000:]
    py = venv / "bin/python"
    # Without the caller's PYTHONPATH (a worktree's python/ there would be imported instead).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # Device names resolve at interpreter start (the .pth hook), before viperhttp is imported.
    probe = subprocess.run([str(py), "-c", "import machine, uos; print(machine.freq())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "240000000", probe.stderr
    (tmp_path / "site_app.py").write_text(
        "from viperhttp import ViperHTTP\napp = ViperHTTP()\n"
        "@app.get('/hello')\ndef hello() -> dict:\n    return {'msg': 'from the wheel'}\n")
    port = free_port()
    proc = subprocess.Popen([str(venv / "bin/viperhttp"), "run", "site_app:app", "--host",
                             "127.0.0.1", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert r.json() == {"msg": "from the wheel"}
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5)
        assert docs.status_code == 200  # the API docs page and its assets come from the wheel
        where = subprocess.run([str(py), "-c", "import viperhttp; print(viperhttp.__file__)"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert where.stdout.startswith(str(venv)), where.stdout  # not the source tree
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    shutil.rmtree(venv, ignore_errors=True)
