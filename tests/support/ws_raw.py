"""A raw WebSocket client for protocol tests: hand-built handshakes and frames (RFC 6455 §5),
so tests can send what no well-behaved client library would (unmasked frames, bad UTF-8,
oversized control frames, stray continuations)."""
from __future__ import annotations

import base64
import os
import socket
import struct
from typing import Optional, Tuple

KEY = base64.b64encode(b"0123456789abcdef").decode()


def handshake_bytes(path: str, host: str = "127.0.0.1", key: Optional[str] = KEY,
                    version: Optional[str] = "13", extra: str = "", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    head = "\r\n".join(lines) + "\r\n" + extra + "\r\n"
    return head.encode("latin-1")


def read_head(sock: socket.socket) -> Tuple[bytes, bytes]:
    """Read one HTTP response head; returns (head, bytes already read after it)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def frame(opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True,
          rsv: int = 0) -> bytes:
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, key)
    return head + key + masked


def _mask_fast(payload: bytes, key: bytes) -> bytes:
    reps = (len(payload) + 3) // 4
    k = int.from_bytes(key * reps, "big")
    return (int.from_bytes(payload, "big") ^ (k >> (8 * (reps * 4 - len(payload))))).to_bytes(len(payload), "big")


class RawWs:
    """An opened raw WebSocket connection."""

    def __init__(self, sock: socket.socket, pending: bytes = b"") -> None:
        self.sock = sock
        self.buf = pending

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _need(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self) -> Tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the next server frame (servers never mask)."""
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._need(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._need(8))
        assert not b1 & 0x80, "server frames are never masked"
        return bool(b0 & 0x80), b0 & 0x0F, self._need(n)

    def recv_close(self) -> Tuple[int, bytes]:
        """Skip data/ping frames until a close frame; returns (code, reason)."""
        while True:
            _fin, op, payload = self.recv_frame()
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:]

    def close(self) -> None:
        self.sock.close()


def open_ws(host: str, port: int, path: str, timeout: float = 10.0, extra: str = "") -> RawWs:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(handshake_bytes(path, extra=extra))
    head, rest = read_head(sock)
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise AssertionError(f"handshake failed: {head!r}")
    return RawWs(sock, rest)


def raw_handshake(host: str, port: int, data: bytes, timeout: float = 10.0) -> Tuple[int, bytes, bytes]:
    """Send a hand-built request; returns (status, head, body) of the response."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        head, rest = read_head(sock)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = rest
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        status = int(head.split(b" ", 2)[1]) if head else 0
        return status, head, body
