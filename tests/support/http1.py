"""Raw HTTP/1.1 over a socket: a connection that sends bytes as given and reads responses one at
a time (pipelining, HEAD, exact header bytes), for tests that must see the wire itself."""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import List, Optional, Tuple


def build_request(method: str, path: str, body: Optional[bytes] = None, headers: str = "") -> bytes:
    """One request's bytes (`Host: test`, Content-Length when a body is given)."""
    out = f"{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}"
    if body is not None:
        out += f"Content-Length: {len(body)}\r\n"
    return out.encode("latin-1") + b"\r\n" + (body or b"")


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: List[Tuple[str, str]]
    body: bytes
    head_bytes: bytes = field(repr=False, default=b"")

    def header(self, name: str) -> Optional[str]:
        """First value of a header, names compared case-insensitively
        (docs/internals/http.md#responses-written-by-the-runtime)."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> List[str]:
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]


def parse_head(head: bytes) -> Tuple[int, str, List[Tuple[str, str]]]:
    """Status line + header lines (no trailing CRLFCRLF) → (status, reason, [(name, value)])."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    assert version == "HTTP/1.1", f"bad status line {lines[0]!r}"
    code, _, reason = rest.partition(" ")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        assert sep, f"bad header line {line!r}"
        headers.append((name.strip(), value.strip()))
    return int(code), reason, headers


class RawConn:
    """One TCP connection; sends raw bytes and reads responses one at a time, keeping any
    bytes that belong to the next response in a buffer (needed for pipelining and HEAD)."""

    def __init__(self, sock: socket.socket, timeout: float = 10.0) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed; unparsed bytes: {self.buf[:200]!r}")
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def peek(self, n: int) -> bytes:
        """The next n bytes on the connection, left unread."""
        while len(self.buf) < n:
            self._fill()
        return self.buf[:n]

    def _take_line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_response(self, *, head_request: bool = False) -> RawResponse:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status, reason, headers = parse_head(head)
        resp = RawResponse(status, reason, headers, b"", head)
        if head_request or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        if "chunked" in te:
            body = b""
            while True:
                size = int(self._take_line().split(b";")[0], 16)
                if size == 0:
                    while self._take_line():  # trailers up to the empty line
                        pass
                    break
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            resp.body = body
        elif resp.header("content-length") is not None:
            resp.body = self._take(int(resp.header("content-length")))
        else:  # no framing: body runs to EOF
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def request(self, data: bytes, **kw) -> RawResponse:
        self.send(data)
        return self.read_response(**kw)

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when nothing is left unread and the peer closed (recv → b"")."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawConn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
