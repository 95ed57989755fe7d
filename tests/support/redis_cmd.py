"""Talk to a test redis-server with raw RESP (no client library in the test process)."""
from __future__ import annotations

import socket
from typing import Any, List


def _read_line(f: Any) -> bytes:
    return f.readline().rstrip(b"\r\n")


def _read(f: Any) -> Any:
    line = _read_line(f)
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        return [_read(f) for _ in range(int(rest))]
    raise ValueError(f"unexpected RESP reply {line!r}")


def redis_cmd(port: int, *args: str) -> Any:
    parts: List[bytes] = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(parts))
        with s.makefile("rb") as f:
            return _read(f)
