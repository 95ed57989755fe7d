"""Client-side helpers shared by the bridge-runtime tests (test_bridge_workers.py,
test_overload.py, test_background.py, test_streaming.py, test_lifespan.py, test_shutdown.py,
test_load.py). Not an app: imported by the tests as `apps.bridge_support`.

Every request here is sent on its own connection with `Connection: close` and read until the
server closes, so "exactly one response per request" can be checked on the bytes: the parser
reports whether the response was complete and what (if anything) followed it.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple


TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent


@dataclass
class Resp:
    """One parsed HTTP/1.1 response read from a connection that was then closed."""

    status: int = 0                   # 0 = no status line at all
    reason: str = ""
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    complete: bool = False            # framing satisfied (Content-Length reached / 0-chunk seen)
    chunked: bool = False
    chunk_sizes: List[int] = field(default_factory=list)  # sizes of the data chunks on the wire
    trailing: bytes = b""             # bytes after the complete response (must be empty)
    raw: bytes = b""
    error: Optional[str] = None       # transport error (refused, reset, timeout) if any
    elapsed: float = 0.0              # seconds from send to EOF
    t_send: float = 0.0               # time.monotonic() when the request was sent

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def summary(self) -> str:
        return (f"status={self.status} reason={self.reason!r} complete={self.complete} "
                f"error={self.error} headers={self.headers} body={self.body[:200]!r} "
                f"trailing={self.trailing[:80]!r} elapsed={self.elapsed:.3f}")


def parse_response(raw: bytes) -> Resp:
    r = Resp(raw=raw)
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return r
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        return r
    r.status = int(parts[1])
    r.reason = parts[2] if len(parts) > 2 else ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        r.headers.append((name.strip(), value.strip()))
    te = (r.header("transfer-encoding") or "").lower()
    cl = r.header("content-length")
    if r.status in (204, 304) or 100 <= r.status < 200:
        r.complete, r.trailing = True, rest
    elif "chunked" in te:
        r.chunked = True
        body = b""
        pos = 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                size = int(rest[pos:eol].split(b";")[0], 16)
            except ValueError:
                break
            pos = eol + 2
            if size == 0:
                end = rest.find(b"\r\n", pos)  # no trailers are sent: the empty line follows
                if end == pos:
                    r.complete = True
                    pos += 2
                break
            r.chunk_sizes.append(size)
            if len(rest) < pos + size + 2:
                body += rest[pos:pos + size]
                pos = len(rest)
                break
            body += rest[pos:pos + size]
            pos += size + 2
        r.body = body
        if r.complete:
            r.trailing = rest[pos:]
    elif cl is not None:
        n = int(cl)
        r.body = rest[:n]
        r.complete = len(rest) >= n
        r.trailing = rest[n:]
    else:
        r.body, r.complete = rest, True
    return r


def build_request(path: str, method: str = "GET", headers: Optional[Dict[str, str]] = None,
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def request(port: int, path: str, method: str = "GET", headers: Optional[Dict[str, str]] = None,
            body: bytes = b"", timeout: float = 15.0) -> Resp:
    """Blocking: one request on a fresh connection, read to EOF."""
    t0 = time.monotonic()
    raw = b""
    error = None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(build_request(path, method, headers, body))
            while True:
                chunk = s.recv(262144)
                if not chunk:
                    break
                raw += chunk
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    r = parse_response(raw)
    r.error, r.elapsed, r.t_send = error, time.monotonic() - t0, t0
    return r


async def arequest(port: int, path: str, method: str = "GET", headers: Optional[Dict[str, str]] = None,
                   body: bytes = b"", timeout: float = 15.0, delay: float = 0.0) -> Resp:
    """Asyncio form of `request` (for bursts of hundreds of concurrent connections)."""
    if delay:
        await asyncio.sleep(delay)
    t0 = time.monotonic()
    raw = b""
    error = None
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(build_request(path, method, headers, body))
        await writer.drain()
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError()
            chunk = await asyncio.wait_for(reader.read(262144), left)
            if not chunk:
                break
            raw += chunk
    except (OSError, asyncio.TimeoutError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.TimeoutError):
                pass
    r = parse_response(raw)
    r.error, r.elapsed, r.t_send = error, time.monotonic() - t0, t0
    return r


def burst(port: int, paths: Sequence[str], *, stagger: float = 0.0, timeout: float = 15.0,
          method: str = "GET") -> List[Resp]:
    """Sends every path on its own connection at once (or `stagger` seconds apart) and waits
    for all; results are in the order of `paths`."""
    async def main() -> List[Resp]:
        return await asyncio.gather(*(
            arequest(port, p, method=method, timeout=timeout, delay=i * stagger)
            for i, p in enumerate(paths)
        ))
    return asyncio.run(main())


def get_json(port: int, path: str, timeout: float = 15.0) -> Any:
    r = request(port, path, timeout=timeout)
    assert r.status == 200 and r.complete, f"GET {path}: {r.summary()}"
    return r.json()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def connect_refused(port: int) -> bool:
    """True once a connect is refused. Racing the listener's close, a probe can also be reset
    (its handshake completed in the accept queue of a listener that then closed: the listener is
    gone, so True) or time out (its SYN dropped mid-close: "not yet", a `wait_for` probes again)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    except (socket.timeout, TimeoutError):
        return False


def wait_for(pred, timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return bool(pred())


def wait_for_log(server, *needles: str, timeout: float = 5.0) -> str:
    wait_for(lambda: all(n in server.logs() for n in needles), timeout)
    return server.logs()


def app_env(kw: Optional[Dict[str, Any]] = None, **extra: str) -> Dict[str, str]:
    """Environment for the bridge test apps: run() keywords as JSON in BRIDGE_KW."""
    env = {"BRIDGE_KW": json.dumps(kw or {})}
    env.update(extra)
    return env


def run_script(script: str, *args: str, env: Optional[Dict[str, str]] = None,
               timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Runs an app script to completion (for start-time errors); stdout+stderr in .stdout."""
    full_env = dict(os.environ)
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.setdefault("VIPERHTTP_NO_UVLOOP", "1")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, str(TESTS / script), *args], env=full_env, cwd=str(ROOT),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=timeout, text=True,
    )


def quiet_serve(serve):
    """conftest's `serve` with only the harness's own ResourceWarnings silenced (the strict
    `filterwarnings = error` stays on for the tests themselves)."""
    def start(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            return serve(*args, **kwargs)
    return start


def stop_timed(server, timeout: float = 20.0) -> Tuple[Optional[int], float]:
    """SIGTERM the server and wait: (exit code, seconds until it exited)."""
    t0 = time.monotonic()
    code = server.stop(timeout=timeout)
    return code, time.monotonic() - t0


def read_one(sock: socket.socket, timeout: float = 10.0) -> Resp:
    """Reads one complete response from a keep-alive connection (or up to EOF/timeout)."""
    sock.settimeout(timeout)
    raw = b""
    t0 = time.monotonic()
    error = None
    while True:
        r = parse_response(raw)
        if r.complete:
            break
        try:
            chunk = sock.recv(65536)
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
            break
        if not chunk:
            break
        raw += chunk
    r = parse_response(raw)
    r.error, r.elapsed = error, time.monotonic() - t0
    return r


def brief(results: Sequence[Resp]) -> List[Tuple[int, bytes, float]]:
    """Compact (status, body prefix, elapsed) rows for assertion messages."""
    return [(r.status, r.body[:24], round(r.elapsed, 3)) for r in results]
