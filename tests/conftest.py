"""Shared fixtures: every test talks to a real server over real sockets.

`serve("apps/foo.py", *args, env={...})` starts the app script as a subprocess on a free
port (passed as the first argument and as PORT), waits until it accepts connections and
returns a `Server` with `.url(path)`, `.port`, `.client` (an httpx.Client) and `.logs()`.
Every server is stopped (SIGTERM, then SIGKILL) when the test ends.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.host = "127.0.0.1"
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.client = httpx.Client(base_url=self.base, timeout=10.0)

    def url(self, path: str) -> str:
        return self.base + path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connect(self) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> Optional[int]:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


def _wait_ready(proc: subprocess.Popen, port: int, log_path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"server did not start in {timeout}s:\n{log_path.read_text(errors='replace')}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    servers: list[Server] = []

    def start(script: str, *args: str, env: Optional[dict] = None, cwd: Optional[Path] = None) -> Server:
        # free_port() cannot reserve the port: another process may bind it before the server
        # does. Only that case ("Address already in use" at start) is retried, on a new port.
        for attempt in range(3):
            try:
                return start_once(script, *args, env=env, cwd=cwd)
            except RuntimeError as exc:
                if "Address already in use" not in str(exc) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def start_once(script: str, *args: str, env: Optional[dict] = None, cwd: Optional[Path] = None) -> Server:
        port = free_port()
        path = Path(script)
        if not path.is_absolute():
            path = (TESTS / script) if (TESTS / script).exists() else (ROOT / script)
        log_path = tmp_path / f"server-{port}.log"
        full_env = dict(os.environ)
        full_env["PORT"] = str(port)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.setdefault("VIPERHTTP_NO_UVLOOP", "1")
        if env:
            full_env.update(env)
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            [sys.executable, str(path), str(port), *args],
            stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=str(cwd or ROOT),
            stdin=subprocess.DEVNULL,
        )
        log.close()  # the child holds its own descriptor
        _wait_ready(proc, port, log_path)
        server = Server(proc, port, log_path)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def app() -> Iterator:
    """A fresh `viperhttp.ViperHTTP()` for in-process registration tests; the process-wide
    registries are reset before and after. Modules that serve an app define their own `app`."""
    import viperhttp

    viperhttp.reset()
    yield viperhttp.ViperHTTP()
    viperhttp.reset()


def raw_request(sock: socket.socket, data: bytes, *, expect_close: bool = False, timeout: float = 10.0) -> bytes:
    """Send raw bytes and read until the peer closes (expect_close) or one response is complete."""
    sock.settimeout(timeout)
    sock.sendall(data)
    buf = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        if not expect_close and _complete(buf):
            break
    return buf


def _complete(buf: bytes) -> bool:
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            return body.endswith(b"0\r\n\r\n")
    return True


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """One real redis-server for the whole test session, on a free port; stopped at the end."""
    from support.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()
collect_ignore = ["user_project"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """A headless Chromium for the pages a real browser must render (one per test module)."""
    from support import chromium

    if chromium.CHROMIUM is None:
        pytest.fail("chromium is not installed: run scripts/setup.sh --test")
    b = chromium.Browser()
    yield b
    b.close()
