"""Hostile and ambiguous HTTP/1.1, end to end over raw sockets (docs/internals/http.md).

A corpus of malformed or ambiguous requests, each sent on a fresh connection to one shared
server (tests/apps/native_app.py with a catch-all route for every method), with the exact
outcome docs/internals/http.md asks for: a status (and, for parse errors, `Connection: close` + close), a
sequence of statuses for pipelined input, or a clean close.

The app records every request its handlers see. After each case the test asserts that no
smuggled request (`/SMUGGLED-…`) and no rejected request reached a handler; the last test
checks the whole record against the requests that were supposed to get through.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import pytest

import conftest

APP = "apps/native_app.py"
TEXT = "text/plain; charset=utf-8"
H = b"Host: x\r\n"
ALLOW_ALL = "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"
REASONS = {
    400: "Bad Request", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
    414: "URI Too Long", 431: "Request Header Fields Too Large", 501: "Not Implemented",
    505: "HTTP Version Not Supported",
}
# statuses the runtime answers as parse errors: text body = reason, Connection: close, then close
CLOSING = {400, 408, 413, 414, 431, 501, 505}


# --- a version-tolerant raw reader ----------------------------------------------------------------


@dataclass
class Resp:
    version: str
    status: int
    reason: str
    headers: List[Tuple[str, str]]
    body: bytes
    raw_head: bytes = field(repr=False, default=b"")

    def header(self, name: str) -> Optional[str]:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None


class Conn:
    def __init__(self, sock: socket.socket, timeout: float = 3.0) -> None:
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(self.buf)
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read(self, head_request: bool = False) -> Resp:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        headers = []
        for ln in lines[1:]:
            n, _, v = ln.partition(":")
            headers.append((n.strip(), v.strip()))
        resp = Resp(version, int(code), reason, headers, b"", head)
        if head_request or resp.status in (204, 304) or resp.status < 200:
            return resp
        if "chunked" in (resp.header("transfer-encoding") or "").lower():
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._take(size)
                self._take(2)
            resp.body = body
        elif resp.header("content-length") is not None:
            resp.body = self._take(int(resp.header("content-length")))
        return resp

    def closed(self, timeout: float = 3.0) -> bool:
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


# --- the shared server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    port = conftest.free_port()
    log_path = tmp / "server.log"
    config = {"catchall": True, "run": {"header_timeout_ms": 500, "body_timeout_ms": 500,
                                        "max_body_size": 4096}}
    env = dict(os.environ, PORT=str(port), PYTHONUNBUFFERED="1", NATIVE_APP_CONFIG=json.dumps(config))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(conftest.TESTS / APP), str(port)], stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=str(conftest.ROOT),
                                stdin=subprocess.DEVNULL)
    conftest._wait_ready(proc, port, log_path)
    srv = conftest.Server(proc, port, log_path)
    yield srv
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        srv.stop()


def seen(server) -> List[str]:
    conn = Conn(server.connect())
    try:
        conn.send(b"GET /__seen HTTP/1.1\r\nHost: x\r\n\r\n")
        return json.loads(conn.read().body)
    finally:
        conn.close()


# --- the corpus ----------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    data: bytes
    statuses: List[int]          # expected responses in order; [] = clean close, no bytes
    reach: List[str] = field(default_factory=list)  # "METHOD /path" the handler must see
    body_len: Optional[int] = None  # for a 200: the body length the handler saw
    half_close: bool = False


def req(case_id: str, method: bytes = b"GET", extra: bytes = b"", body: bytes = b"",
        version: bytes = b"HTTP/1.1", host: bytes = H) -> bytes:
    return method + b" /h/" + case_id.encode() + b" " + version + b"\r\n" + host + extra + b"\r\n" + body


def ok(case_id: str, data: bytes, method: str = "GET", body_len: Optional[int] = None, path: str = "") -> Case:
    return Case(case_id, data, [200], [f"{method} {path or '/h/' + case_id}"], body_len)


def bad(case_id: str, data: bytes, status: int = 400) -> Case:
    return Case(case_id, data, [status])


SMUGGLE = b"GET /SMUGGLED-%s HTTP/1.1\r\nHost: x\r\n\r\n"


def smuggle(case_id: str) -> bytes:
    return SMUGGLE % case_id.encode()


BODY_WITH_REQUEST = b"GET /SMUGGLED-inbody HTTP/1.1\r\nHost: x\r\n\r\n"

CORPUS: List[Case] = [
    # --- Content-Length / Transfer-Encoding framing (docs/internals/http.md, 7) ---
    bad("cl-te", req("cl-te", b"POST", b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
                     b"0\r\n\r\n" + smuggle("cl-te"))),
    bad("te-cl", req("te-cl", b"POST", b"Transfer-Encoding: chunked\r\nContent-Length: 6\r\n",
                     b"0\r\n\r\n" + smuggle("te-cl"))),
    bad("cl-te-classic", req("cl-te-classic", b"POST", b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                             b"5c\r\nGPOST /SMUGGLED-cl-te-classic HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n"
                             b"\r\nx=1\r\n0\r\n\r\n")),
    bad("te-cl-zero", req("te-cl-zero", b"POST", b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
                          b"0\r\n\r\n")),
    ok("cl-dup-same", req("cl-dup-same", b"POST", b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
       "POST", 5),
    bad("cl-dup-differ", req("cl-dup-differ", b"POST", b"Content-Length: 5\r\nContent-Length: 6\r\n",
                             b"hello!" + smuggle("cl-dup-differ"))),
    bad("cl-list", req("cl-list", b"POST", b"Content-Length: 5, 6\r\n", b"hello!")),
    bad("cl-list-same", req("cl-list-same", b"POST", b"Content-Length: 5, 5\r\n", b"hello")),
    bad("cl-negative", req("cl-negative", b"POST", b"Content-Length: -1\r\n", b"hello")),
    bad("cl-plus", req("cl-plus", b"POST", b"Content-Length: +5\r\n", b"hello")),
    bad("cl-hex", req("cl-hex", b"POST", b"Content-Length: 0x5\r\n", b"hello")),
    bad("cl-suffix", req("cl-suffix", b"POST", b"Content-Length: 5a\r\n", b"hello")),
    bad("cl-empty", req("cl-empty", b"POST", b"Content-Length: \r\n", b"hello")),
    bad("cl-overflow", req("cl-overflow", b"POST", b"Content-Length: 99999999999999999999999\r\n", b"hello")),
    ok("cl-trailing-space", req("cl-trailing-space", b"POST", b"Content-Length: 5 \t\r\n", b"hello"), "POST", 5),
    ok("cl-in-body", req("cl-in-body", b"POST", b"Content-Length: %d\r\n" % len(BODY_WITH_REQUEST),
                         BODY_WITH_REQUEST), "POST", len(BODY_WITH_REQUEST)),
    ok("get-with-body", req("get-with-body", b"GET", b"Content-Length: 3\r\n", b"abc"), "GET", 3),
    bad("te-gzip", req("te-gzip", b"POST", b"Transfer-Encoding: gzip\r\n", b"hello")),
    bad("te-identity", req("te-identity", b"POST", b"Transfer-Encoding: identity\r\n", b"hello")),
    bad("te-xchunked", req("te-xchunked", b"POST", b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n")),
    bad("te-gzip-chunked", req("te-gzip-chunked", b"POST", b"Transfer-Encoding: gzip, chunked\r\n",
                               b"0\r\n\r\n"), 501),
    bad("te-chunked-twice", req("te-chunked-twice", b"POST", b"Transfer-Encoding: chunked, chunked\r\n",
                                b"0\r\n\r\n")),
    bad("te-two-lines", req("te-two-lines", b"POST", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                            b"0\r\n\r\n")),
    bad("te-chunked-gzip", req("te-chunked-gzip", b"POST", b"Transfer-Encoding: chunked, gzip\r\n",
                               b"0\r\n\r\n")),
    bad("te-http10", req("te-http10", b"POST", b"Transfer-Encoding: chunked\r\n",
                         b"5\r\nhello\r\n0\r\n\r\n", version=b"HTTP/1.0")),
    ok("te-case", req("te-case", b"POST", b"Transfer-Encoding: Chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"), "POST", 5),
    # hyper frames by the last element of the last line only: an empty trailing element makes
    # it refuse (with an empty body), so the guard refuses first with its own 400 body.
    bad("te-trailing-comma", req("te-trailing-comma", b"POST", b"Transfer-Encoding: chunked,\r\n",
                                 b"0\r\n\r\n")),
    bad("te-trailing-comma-space", req("te-trailing-comma-space", b"POST",
                                       b"Transfer-Encoding: chunked, \r\n", b"0\r\n\r\n")),
    bad("te-empty-last-line", req("te-empty-last-line", b"POST",
                                  b"Transfer-Encoding: chunked\r\nTransfer-Encoding: \r\n", b"0\r\n\r\n")),
    ok("te-leading-comma", req("te-leading-comma", b"POST", b"Transfer-Encoding: , chunked\r\n",
                               b"5\r\nhello\r\n0\r\n\r\n"), "POST", 5),
    # --- chunk sizes and extensions ---
    ok("chunk-ext", req("chunk-ext", b"POST", b"Transfer-Encoding: chunked\r\n",
                        b"5;name=value\r\nhello\r\n3;x\r\nabc\r\n0;end=1\r\n\r\n"), "POST", 8),
    ok("chunk-trailers", req("chunk-trailers", b"POST", b"Transfer-Encoding: chunked\r\n",
                             b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"), "POST", 5),
    ok("chunk-upper-hex", req("chunk-upper-hex", b"POST", b"Transfer-Encoding: chunked\r\n",
                              b"A\r\n0123456789\r\n0\r\n\r\n"), "POST", 10),
    bad("chunk-size-nonhex", req("chunk-size-nonhex", b"POST", b"Transfer-Encoding: chunked\r\n",
                                 b"zz\r\nhello\r\n0\r\n\r\n")),
    bad("chunk-size-negative", req("chunk-size-negative", b"POST", b"Transfer-Encoding: chunked\r\n",
                                   b"-5\r\nhello\r\n0\r\n\r\n")),
    bad("chunk-size-0x", req("chunk-size-0x", b"POST", b"Transfer-Encoding: chunked\r\n",
                             b"0x5\r\nhello\r\n0\r\n\r\n")),
    # A size past u64 is past max_body_size long before it overflows: 413 at its digit
    # (docs/internals/http.md, "Request bodies").
    bad("chunk-size-overflow", req("chunk-size-overflow", b"POST", b"Transfer-Encoding: chunked\r\n",
                                   b"fffffffffffffffffff1\r\nhello\r\n0\r\n\r\n"), 413),
    bad("chunk-size-leading-space", req("chunk-size-leading-space", b"POST", b"Transfer-Encoding: chunked\r\n",
                                        b" 5\r\nhello\r\n0\r\n\r\n")),
    bad("chunk-size-empty", req("chunk-size-empty", b"POST", b"Transfer-Encoding: chunked\r\n",
                                b"\r\nhello\r\n0\r\n\r\n")),
    bad("chunk-data-too-long", req("chunk-data-too-long", b"POST", b"Transfer-Encoding: chunked\r\n",
                                   b"3\r\nhello\r\n0\r\n\r\n")),
    bad("chunk-missing-crlf", req("chunk-missing-crlf", b"POST", b"Transfer-Encoding: chunked\r\n",
                                  b"5\r\nhelloX0\r\n\r\n" + smuggle("chunk-missing-crlf"))),
    bad("chunk-bare-lf", req("chunk-bare-lf", b"POST", b"Transfer-Encoding: chunked\r\n",
                             b"5\nhello\n0\n\n")),
    bad("chunk-ext-bare-lf", req("chunk-ext-bare-lf", b"POST", b"Transfer-Encoding: chunked\r\n",
                                 b"5;a=b\nc\r\nhello\r\n0\r\n\r\n")),
    bad("chunked-over-max-body", req("chunked-over-max-body", b"POST", b"Transfer-Encoding: chunked\r\n",
                                     b"1000\r\n" + b"a" * 4096 + b"\r\n1\r\nb\r\n0\r\n\r\n"), 413),
    bad("cl-over-max-body", req("cl-over-max-body", b"POST", b"Content-Length: 4097\r\n"), 413),
    # --- obs-fold, line endings, whitespace (docs/internals/http.md, 11) ---
    bad("obs-fold-sp", req("obs-fold-sp", extra=b"X-A: a\r\n b\r\n")),
    bad("obs-fold-ht", req("obs-fold-ht", extra=b"X-A: a\r\n\tb\r\n")),
    bad("first-header-folded", b"GET /h/first-header-folded HTTP/1.1\r\n Host: x\r\n\r\n"),
    bad("bare-lf-all", b"GET /h/bare-lf-all HTTP/1.1\nHost: x\n\n"),
    bad("bare-lf-header", b"GET /h/bare-lf-header HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
    bad("bare-lf-request-line", b"GET /h/bare-lf-request-line HTTP/1.1\nHost: x\r\n\r\n"),
    bad("bare-lf-end", b"GET /h/bare-lf-end HTTP/1.1\r\nHost: x\r\n\n"),
    bad("bare-cr-value", req("bare-cr-value", extra=b"X-A: a\rb\r\n")),
    bad("bare-cr-request-line", b"GET /h/bare-cr-request-line HTTP/1.1\rHost: x\r\n\r\n"),
    bad("space-before-colon", req("space-before-colon", extra=b"X-A : b\r\n")),
    bad("space-before-colon-cl", req("space-before-colon-cl", b"POST", b"Content-Length : 5\r\n", b"hello")),
    bad("tab-before-colon", req("tab-before-colon", extra=b"X-A\t: b\r\n")),
    bad("empty-header-name", req("empty-header-name", extra=b": value\r\n")),
    bad("no-colon", req("no-colon", extra=b"Bad Header\r\n")),
    # --- invalid header names, NUL and control bytes ---
    bad("name-paren", req("name-paren", extra=b"X(A): b\r\n")),
    bad("name-quote", req("name-quote", extra=b'X"A: b\r\n')),
    bad("name-slash", req("name-slash", extra=b"X/A: b\r\n")),
    bad("name-at", req("name-at", extra=b"X@A: b\r\n")),
    bad("name-non-ascii", req("name-non-ascii", extra=b"H\xc3\xa9ader: v\r\n")),
    bad("name-nul", req("name-nul", extra=b"X-\x00A: b\r\n")),
    bad("value-nul", req("value-nul", extra=b"X-A: a\x00b\r\n")),
    bad("value-ctl-01", req("value-ctl-01", extra=b"X-A: a\x01b\r\n")),
    bad("value-ctl-1f", req("value-ctl-1f", extra=b"X-A: a\x1fb\r\n")),
    bad("value-del", req("value-del", extra=b"X-A: a\x7fb\r\n")),
    ok("value-htab", req("value-htab", extra=b"X-A: a\tb\r\n")),
    ok("value-obs-text", req("value-obs-text", extra=b"X-A: caf\xe9\r\n")),
    bad("target-nul", b"GET /h/target-nul\x00x HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("target-ctl", b"GET /h/target-ctl\x0bx HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("target-del", b"GET /h/target-del\x7f HTTP/1.1\r\nHost: x\r\n\r\n"),
    # --- methods (docs/internals/http.md) and the request line (docs/internals/http.md, 2) ---
    Case("method-lowercase", req("method-lowercase", b"get"), [405]),
    Case("method-unknown", req("method-unknown", b"BREW"), [405]),
    Case("method-trace", req("method-trace", b"TRACE"), [405]),
    Case("method-connect", b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", [405]),
    bad("method-bad-token", req("method-bad-token", b"G@T")),
    bad("method-nul", req("method-nul", b"GE\x00T")),
    bad("method-empty", b" /h/method-empty HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("two-spaces", b"GET  /h/two-spaces HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("two-spaces-version", b"GET /h/two-spaces-version  HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("trailing-space", b"GET /h/trailing-space HTTP/1.1 \r\nHost: x\r\n\r\n"),
    bad("tab-separator", b"GET\t/h/tab-separator HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("missing-version", b"GET /h/missing-version\r\nHost: x\r\n\r\n"),
    bad("missing-second-sp", b"GET /h/missing-second-spHTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("version-lowercase", req("version-lowercase", version=b"http/1.1")),
    bad("version-https", req("version-https", version=b"HTTPS/1.1")),
    bad("version-no-minor", req("version-no-minor", version=b"HTTP/1")),
    bad("version-two-digit-minor", req("version-two-digit-minor", version=b"HTTP/1.10")),
    bad("version-1.2", req("version-1.2", version=b"HTTP/1.2"), 505),
    bad("version-2.0", req("version-2.0", version=b"HTTP/2.0"), 505),
    bad("version-3.0", req("version-3.0", version=b"HTTP/3.0"), 505),
    bad("version-0.9", req("version-0.9", version=b"HTTP/0.9"), 505),
    bad("garbage", b"\x00\x01\x02 hello\r\n\r\n"),
    bad("tls-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32 + b"\r\n\r\n"),
    # --- request targets (docs/internals/http.md) ---
    bad("target-relative", b"GET h/target-relative HTTP/1.1\r\nHost: x\r\n\r\n"),
    ok("absolute-form", b"GET http://x/h/absolute-form?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
       path="/h/absolute-form?q=1"),
    ok("absolute-form-https", b"GET https://x:8443/h/absolute-form-https HTTP/1.1\r\nHost: y\r\n\r\n"),
    bad("absolute-form-ftp", b"GET ftp://x/h/absolute-form-ftp HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("absolute-form-no-path", b"GET http://x HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("absolute-form-no-host", b"GET http://x/h/absolute-form-no-host HTTP/1.1\r\n\r\n"),
    Case("asterisk-options", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", [204]),
    bad("asterisk-get", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("asterisk-post", b"POST * HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    # --- Host (docs/internals/http.md) ---
    ok("http10-no-host", req("http10-no-host", version=b"HTTP/1.0", host=b"")),
    bad("http11-no-host", req("http11-no-host", host=b"")),
    bad("two-hosts", req("two-hosts", host=b"Host: x\r\nHost: y\r\n")),
    bad("two-hosts-same", req("two-hosts-same", host=b"Host: x\r\nHost: x\r\n")),
    bad("host-space", req("host-space", host=b"Host: a b\r\n")),
    bad("host-userinfo", req("host-userinfo", host=b"Host: user@x\r\n")),
    bad("host-slash", req("host-slash", host=b"Host: x/y\r\n")),
    bad("host-bad-port", req("host-bad-port", host=b"Host: x:abc\r\n")),
    bad("host-empty-port", req("host-empty-port", host=b"Host: x:\r\n")),
    ok("host-empty", req("host-empty", host=b"Host:\r\n")),
    ok("host-v6", req("host-v6", host=b"Host: [::1]:8080\r\n")),
    ok("host-port", req("host-port", host=b"Host: example.com:65535\r\n")),
    # --- sizes (docs/internals/http.md, 5) ---
    bad("uri-9000", b"GET /h/uri-9000?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    bad("uri-100k", b"GET /h/uri-100k?" + b"q" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    bad("header-20k", req("header-20k", extra=b"X-Big: " + b"b" * 20_000 + b"\r\n"), 431),
    bad("headers-150", req("headers-150", extra=b"".join(b"X-%d: v\r\n" % i for i in range(150))), 431),
    # --- truncated input ---
    bad("truncated-body", req("truncated-body", b"POST", b"Content-Length: 10\r\n", b"hello"), 408),
    bad("truncated-chunk", req("truncated-chunk", b"POST", b"Transfer-Encoding: chunked\r\n", b"a\r\nhel"), 408),
    bad("truncated-head", b"GET /h/truncated-head HTTP/1.1\r\nHost: x\r\nX-A: b\r\n", 408),
    # (decision, docs/internals/http.md) the truncated body never reaches Python; the runtime answers
    # 400 + close on the half-closed connection (the client may still read it).
    Case("half-close-mid-body", req("half-close-mid-body", b"POST", b"Content-Length: 10\r\n", b"hello"),
         [400], half_close=True),
    # --- pipelining after an error: the valid request before the bad one gets its answer first ---
    Case("pipe-then-garbage", req("pipe-then-garbage") + b"BAD LINE\r\n\r\n" + smuggle("pipe-then-garbage"),
         [200, 400], ["GET /h/pipe-then-garbage"]),
    Case("pipe-then-obs-fold", req("pipe-then-obs-fold") + req("pipe-then-obs-fold-2", extra=b"X-A: a\r\n b\r\n"),
         [200, 400], ["GET /h/pipe-then-obs-fold"]),
    Case("pipe-then-505", req("pipe-then-505") + req("pipe-then-505-2", version=b"HTTP/1.2"),
         [200, 505], ["GET /h/pipe-then-505"]),
    Case("pipe-two-then-cl-te", req("pipe-two-then-cl-te") + req("pipe-two-then-cl-te-2")
         + req("pipe-two-then-cl-te-3", b"POST", b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
               b"0\r\n\r\n" + smuggle("pipe-two-then-cl-te")),
         [200, 200, 400], ["GET /h/pipe-two-then-cl-te", "GET /h/pipe-two-then-cl-te-2"]),
    Case("pipe-garbage-first", b"GARBAGE\r\n\r\n" + smuggle("pipe-garbage-first"), [400]),
    Case("pipe-unknown-method-keeps-alive", req("pipe-unknown-method-keeps-alive", b"BREW")
         + req("pipe-unknown-method-keeps-alive-2"), [405, 200], ["GET /h/pipe-unknown-method-keeps-alive-2"]),
    Case("pipe-post-then-get", req("pipe-post-then-get", b"POST", b"Content-Length: 3\r\n", b"abc")
         + req("pipe-post-then-get-2"), [200, 200],
         ["POST /h/pipe-post-then-get", "GET /h/pipe-post-then-get-2"]),
    Case("pipe-then-dup-cl", req("pipe-then-dup-cl")
         + req("pipe-then-dup-cl-2", b"POST", b"Content-Length: 1\r\nContent-Length: 40\r\n",
               b"x" + smuggle("pipe-then-dup-cl")),
         [200, 400], ["GET /h/pipe-then-dup-cl"]),
    # --- leniency the RFC asks for ---
    ok("leading-crlf", b"\r\n" + req("leading-crlf")),
]

IDS = [c.id for c in CORPUS]
assert len(IDS) == len(set(IDS)), "duplicate case ids"
assert len(CORPUS) >= 60


def run_case(server, case: Case) -> Tuple[List[Resp], bool, bytes]:
    conn = Conn(server.connect())
    try:
        conn.send(case.data)
        if case.half_close:
            conn.sock.shutdown(socket.SHUT_WR)
        responses: List[Resp] = []
        for _ in case.statuses:
            try:
                responses.append(conn.read())
            except (EOFError, socket.timeout, ConnectionResetError):
                break
        closing = not case.statuses or case.statuses[-1] in CLOSING
        # a closing case must see the close soon; otherwise only look for stray extra bytes
        closed = conn.closed(timeout=2.0 if closing else 0.2)
        return responses, closed, conn.buf
    finally:
        conn.close()


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_hostile_request(server, case: Case):
    assert server.proc.poll() is None, "server died earlier in the corpus"
    before = len(seen(server))
    responses, closed, leftover = run_case(server, case)
    got = [r.status for r in responses]
    assert got == case.statuses, (
        f"{case.id}: sent {case.data[:160]!r}: expected statuses {case.statuses}, got {got} "
        f"(closed={closed}, first head={responses[0].raw_head[:200] if responses else leftover[:200]!r})")
    for r in responses:
        if r.status in CLOSING:
            assert r.body == REASONS[r.status].encode(), (case.id, r)
            assert r.header("content-type") == TEXT, (case.id, r.headers)
            assert (r.header("connection") or "").lower() == "close", (case.id, r.headers)
        if r.status == 405:
            assert r.body == b"Method Not Allowed"
            assert r.header("allow") is None, "unknown method: no Allow (docs/internals/http.md)"
            assert (r.header("connection") or "").lower() == "keep-alive"
        if r.status == 204:
            assert r.header("allow") == ALLOW_ALL, (case.id, r.headers)
            assert r.body == b""
        if r.status == 200:
            assert r.body.startswith(b"caught "), (case.id, r.body)
    if case.statuses and case.statuses[-1] in CLOSING or not case.statuses:
        assert closed, f"{case.id}: connection not closed after {got} (leftover {leftover[:120]!r})"
    if case.body_len is not None:
        assert responses[0].body.endswith(b" len=%d" % case.body_len), (case.id, responses[0].body)
    # what reached Python: exactly the expected requests, never a smuggled or rejected one
    time.sleep(0.05)
    new = seen(server)[before:]
    assert not [e for e in new if "SMUGGLED" in e], f"{case.id}: smuggled request reached the app: {new}"
    assert sorted(new) == sorted(case.reach), f"{case.id}: handler saw {new}, expected {case.reach}"


def test_whole_record_has_no_unexpected_request(server):
    allowed = {e for c in CORPUS for e in c.reach}
    allowed |= {"GET /h/status-line-10", "GET /h/ka-10", "GET /h/ka-10-2", "GET /h/after"}
    record = seen(server)
    unexpected = [e for e in record if e not in allowed]
    assert not unexpected, f"requests reached the app that the corpus did not allow: {unexpected}"


def test_http10_response_status_line_is_http10(server):
    """(decision, docs/internals/http.md) docs/internals/http.md#responses-written-by-the-runtime writes
    `HTTP/1.1`, but the original rejects HTTP/1.0 outright; the host accepts it and, like hyper (which
    enforces it), answers an HTTP/1.0 request
    with an `HTTP/1.0` status line and no chunking, then closes."""
    conn = Conn(server.connect())
    try:
        conn.send(b"GET /h/status-line-10 HTTP/1.0\r\n\r\n")
        resp = conn.read()
    finally:
        conn.close()
    assert resp.status == 200
    status_line = resp.raw_head.split(b"\r\n")[0]
    assert resp.version == "HTTP/1.0", f"got status line {status_line!r}"
    assert (resp.header("connection") or "").lower() == "close", "HTTP/1.0 without keep-alive closes"


def test_http10_keep_alive_on_request(server):
    conn = Conn(server.connect())
    try:
        conn.send(b"GET /h/ka-10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = conn.read()
        assert first.status == 200
        assert (first.header("connection") or "").lower() == "keep-alive"
        conn.send(b"GET /h/ka-10-2 HTTP/1.0\r\n\r\n")
        second = conn.read()
        assert second.status == 200
        assert conn.closed()
    finally:
        conn.close()


def test_server_still_serves_after_corpus(server):
    conn = Conn(server.connect())
    try:
        conn.send(b"GET /h/after HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = conn.read()
    finally:
        conn.close()
    assert resp.status == 200
    assert resp.body == b"caught GET /h/after len=0"
