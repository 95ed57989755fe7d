"""Raw HTTP/2 over a real socket: frames built and parsed by hand (RFC 9113 §4), header
blocks by the `hpack` package. For the attack and conformance tests, which send what a
well-behaved client library refuses to send; well-formed exchanges use the `h2` package or
httpx instead.
"""
from __future__ import annotations

import socket
import ssl
import struct
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

import hpack
import pytest

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
SETTINGS_TIMEOUT, STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL = 0x4, 0x5, 0x6, 0x7, 0x8
COMPRESSION_ERROR, ENHANCE_YOUR_CALM, HTTP_1_1_REQUIRED = 0x9, 0xb, 0xd

S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
S_INITIAL_WINDOW_SIZE, S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6


def frame(ftype: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def settings(*pairs: Tuple[int, int], ack: bool = False) -> bytes:
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def window_update(stream: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


def rst_stream(stream: int, code: int = CANCEL) -> bytes:
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def ping(data: bytes = b"12345678", ack: bool = False) -> bytes:
    return frame(PING, ACK if ack else 0, 0, data)


def goaway(last: int = 0, code: int = NO_ERROR) -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last, code))


def request_headers(path: str = "/hello", method: str = "GET", authority: str = "localhost",
                    extra: Iterable[Tuple[str, str]] = (), scheme: str = "http") -> List[Tuple[str, str]]:
    return [(":method", method), (":scheme", scheme), (":path", path), (":authority", authority), *extra]


@dataclass
class Frame:
    type: int
    flags: int
    stream: int
    payload: bytes

    @property
    def error_code(self) -> int:
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        raise ValueError("no error code")


@dataclass
class Stream:
    headers: List[Tuple[str, str]] = field(default_factory=list)
    data: bytes = b""
    ended: bool = False
    reset: Optional[int] = None

    @property
    def status(self) -> Optional[int]:
        for k, v in self.headers:
            if k == ":status":
                return int(v)
        return None


class RawH2:
    """A client connection: `send` raw bytes, `read_frame` / `until` frames back.
    `RawH2.close_all()` closes every connection opened so far (test teardown)."""

    opened: "List[RawH2]" = []

    @classmethod
    def close_all(cls) -> None:
        while cls.opened:
            cls.opened.pop().close()

    def __init__(self, port: int, *, tls: Optional[ssl.SSLContext] = None, host: str = "127.0.0.1",
                 preface: bool = True, client_settings: Iterable[Tuple[int, int]] = ()) -> None:
        sock = socket.create_connection((host, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        RawH2.opened.append(self)
        self.buf = b""
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = 65536
        self.frames: List[Frame] = []
        self.streams: Dict[int, Stream] = {}
        self.closed = False
        self.scheme = "https" if tls is not None else "http"
        if preface:
            self.send(PREFACE + settings(*client_settings))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def headers_frame(self, stream: int, headers: List[Tuple[str, str]], *, end_stream: bool = True,
                      end_headers: bool = True) -> bytes:
        block = self.encoder.encode(headers)
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return frame(HEADERS, flags, stream, block)

    def request(self, stream: int, path: str = "/hello", method: str = "GET", *, body: Optional[bytes] = None,
                extra: Iterable[Tuple[str, str]] = ()) -> None:
        hdrs = request_headers(path, method, extra=extra, scheme=self.scheme)
        out = self.headers_frame(stream, hdrs, end_stream=body is None)
        if body is not None:
            out += frame(DATA, END_STREAM, stream, body)
        self.send(out)

    def read_frame(self, timeout: float = 10.0) -> Optional[Frame]:
        """The next frame, or None at EOF / timeout (then `closed` says which)."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            except (ConnectionError, ssl.SSLError, OSError):
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk
        length = int.from_bytes(self.buf[:3], "big")
        f = Frame(self.buf[3], self.buf[4], struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF,
                  self.buf[9:9 + length])
        self.buf = self.buf[9 + length:]
        self.frames.append(f)
        self._apply(f)
        return f

    def _apply(self, f: Frame) -> None:
        if f.type == SETTINGS and not f.flags & ACK:
            try:
                self.send(settings(ack=True))
            except OSError:
                pass  # the server may already have closed (the tests look at what it sent)
        elif f.type in (HEADERS, CONTINUATION):
            st = self.streams.setdefault(f.stream, Stream())
            payload = f.payload
            if f.type == HEADERS:
                pad = 0
                if f.flags & PADDED:
                    pad = payload[0]
                    payload = payload[1:]
                if f.flags & PRIORITY_FLAG:
                    payload = payload[5:]
                payload = payload[:len(payload) - pad] if pad else payload
            st.headers.extend((k if isinstance(k, str) else k.decode(), v if isinstance(v, str) else v.decode())
                              for k, v in self.decoder.decode(payload))
            if f.flags & END_STREAM:
                st.ended = True
        elif f.type == DATA:
            st = self.streams.setdefault(f.stream, Stream())
            st.data += f.payload
            if f.flags & END_STREAM:
                st.ended = True
        elif f.type == RST_STREAM:
            self.streams.setdefault(f.stream, Stream()).reset = f.error_code

    def until(self, predicate, timeout: float = 10.0) -> bool:
        """Read frames until `predicate(self)` holds (True) or EOF / timeout (False)."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            left = deadline - time.monotonic()
            if left <= 0 or self.read_frame(left) is None:
                return predicate(self)
        return True

    def goaway(self) -> Optional[Frame]:
        return next((f for f in self.frames if f.type == GOAWAY), None)

    def wait_goaway_or_close(self, timeout: float = 10.0) -> Optional[Frame]:
        """The GOAWAY the server sent (reading on to EOF), or None if it closed without one."""
        self.until(lambda c: c.goaway() is not None or c.closed, timeout)
        return self.goaway()

    def stream_done(self, sid: int) -> bool:
        st = self.streams.get(sid)
        return st is not None and (st.ended or st.reset is not None)


@pytest.fixture(autouse=True)
def close_raw_h2_connections():
    """Autouse in the modules that import it: closes every `RawH2` a test left open."""
    yield
    RawH2.close_all()
