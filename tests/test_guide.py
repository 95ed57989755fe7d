"""Every code sample of the user guide (docs/index.md, docs/guide/*.md) is executed.

Per page, each ```python block is written to a scratch directory (as `# file: NAME.py` on its
first line says, else `sample_N.py`), then:
- a block that defines `app = ...` is served with `python -m viperhttp run NAME:app`, and each of
  its `# $ curl [-X METHOD] [-d DATA] [-H 'K: V'] localhost:8000PATH -> [HTTP NNN] BODY` lines is
  sent for real and its answer compared (BODY exactly, when given);
- a `test_*.py` block is run with pytest and must pass;
- any other block is run with python and must exit 0.
"""
from __future__ import annotations

import os
import re
import socket
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import httpx
import pytest

from conftest import ROOT, free_port

DOCS = ROOT / "docs"
PAGES = [DOCS / "index.md", *sorted((DOCS / "guide").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
CHECK = re.compile(r"^\s*# \$ (curl .+?) -> (.*)$", re.M)


def _blocks(page: Path) -> List[Tuple[str, str]]:
    out = []
    for i, m in enumerate(FENCE.finditer(page.read_text())):
        code = m.group(1)
        first = code.splitlines()[0] if code else ""
        name = first[len("# file: "):].strip() if first.startswith("# file: ") else f"sample_{i}.py"
        out.append((name, code))
    return out


def _curl(base: str, cmd: str) -> httpx.Response:
    args = shlex.split(cmd)[1:]
    method, data, headers, url = "GET", None, {}, ""
    it = iter(args)
    for a in it:
        if a == "-X":
            method = next(it)
        elif a == "-d":
            data = next(it)
            if method == "GET":
                method = "POST"
        elif a == "-H":
            k, _, v = next(it).partition(":")
            headers[k.strip()] = v.strip()
        elif a == "-u":  # basic auth, as curl sends it
            import base64

            headers["Authorization"] = "Basic " + base64.b64encode(next(it).encode()).decode()
        elif a in ("-i", "-s"):
            continue
        else:
            url = a
    assert url.startswith("localhost:8000"), cmd
    if data is not None and "content-type" not in {k.lower() for k in headers}:
        headers["content-type"] = "application/x-www-form-urlencoded"
    return httpx.request(method, base + url[len("localhost:8000"):], content=data,
                         headers=headers, timeout=10)


def _env() -> dict:
    return dict(os.environ, VIPERHTTP_NO_UVLOOP="1", PYTHONUNBUFFERED="1")


def _serve_and_check(tmp: Path, name: str, code: str) -> int:
    port = free_port()
    log = tmp / f"{name}.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "viperhttp", "run", f"{name[:-3]}:app", "--host", "127.0.0.1",
             "--port", str(port)], cwd=tmp, env=_env(), stdout=f, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    checks = 0
    try:
        deadline = time.monotonic() + 20
        while True:
            # A TCP connect, not a request: a request would use up one of a rate-limited
            # sample's tokens and shift what its comments promise.
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        for cmd, expected in CHECK.findall(code):
            resp = _curl(base, cmd)
            expected = expected.strip()
            status = 200
            m = re.match(r"HTTP (\d{3})\s*(.*)$", expected)
            if m:
                status, expected = int(m.group(1)), m.group(2)
            assert resp.status_code == status, (name, cmd, resp.status_code, resp.text)
            if expected:
                assert resp.text == expected, (name, cmd, resp.text)
            checks += 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0, log.read_text()
    return checks


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_guide_samples_run(page, tmp_path):
    blocks = _blocks(page)
    assert blocks, f"{page.name} has no python samples"
    for name, code in blocks:
        (tmp_path / name).write_text(code)
    for name, code in blocks:
        if re.search(r"^app = ", code, re.M):
            _serve_and_check(tmp_path, name, code)
        elif name.startswith("test_"):
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   "-c", "/dev/null", "--rootdir", str(tmp_path), name],
                                  cwd=tmp_path, env=_env(), capture_output=True, text=True,
                                  timeout=120)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        else:
            proc = subprocess.run([sys.executable, name], cwd=tmp_path, env=_env(),
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, (name, proc.stdout + proc.stderr)


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_guide_links_resolve(page):
    for target, _anchor in LINK.findall(page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).resolve().exists(), (page.name, target)


@pytest.mark.parametrize("page", sorted((DOCS / "internals").glob("*.md")), ids=lambda p: p.name)
def test_internals_links_resolve(page):
    # The notes link to source files outside docs/, which mkdocs cannot check.
    for target, _anchor in LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).resolve().exists(), (page.name, target)
