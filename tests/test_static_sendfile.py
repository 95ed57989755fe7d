"""Static files above the open-file cache limit go out with sendfile(2) on plain-TCP HTTP/1
(docs/internals/static-files.md#sendfile), end to end over real sockets.

Each test checks the exact bytes (sha256) and, through the `static_sendfile_responses` /
`static_sendfile_bytes` counters, which path served them: files at or under the 256 KiB cache
limit come from memory, larger ones by sendfile, and TLS and HTTP/2 keep the read path.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Dict

import httpx
import pytest

from support.http1 import RawConn
from support.tls_certs import make_cert

APP = "apps/native_app.py"
LIMIT = 256 * 1024  # MAX_CACHED_FILE_BYTES (static_files/cache.rs)
SIZES = {"empty.bin": 0, "one.bin": 1, "k100.bin": 100 * 1024, "limit.bin": LIMIT,
         "limit1.bin": LIMIT + 1, "m10.bin": 10 * 1024 * 1024}
SENDFILE = {"limit1.bin", "m10.bin"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def contents() -> Dict[str, bytes]:
    return {name: os.urandom(size) for name, size in SIZES.items()}


@pytest.fixture
def root(tmp_path: Path, contents) -> Path:
    www = tmp_path / "www"
    www.mkdir()
    for name, data in contents.items():
        (www / name).write_bytes(data)
    return www


def start(serve, root: Path, **run):
    config = {"mounts": [["/s", str(root), False]], "run": run}
    return serve(APP, env={"NATIVE_APP_CONFIG": json.dumps(config)})


def counters(server) -> Dict[str, int]:
    s = httpx.get(server.url("/__stats"), timeout=10).json()
    return {"responses": s["static_sendfile_responses"], "bytes": s["static_sendfile_bytes"]}


def get(name: str, headers: str = "", method: str = "GET") -> bytes:
    return f"{method} /s/{name} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode()


def test_every_size_byte_for_byte_on_one_keepalive_connection(serve, root, contents):
    server = start(serve, root)
    before = counters(server)
    with RawConn(server.connect(), timeout=30) as conn:
        for _ in range(2):
            for name, data in contents.items():
                r = conn.request(get(name))
                assert r.status == 200, name
                assert r.header("content-length") == str(len(data))
                assert sha(r.body) == sha(data), name
                assert r.header("connection") == "keep-alive"
    after = counters(server)
    assert after["responses"] - before["responses"] == 2 * len(SENDFILE)
    assert after["bytes"] - before["bytes"] == 2 * sum(SIZES[n] for n in SENDFILE)


def test_pipelined_mix_of_sendfile_cached_head_304_and_range(serve, root, contents):
    server = start(serve, root)
    big = contents["m10.bin"]
    with RawConn(server.connect()) as conn:
        etag = conn.request(get("m10.bin", method="HEAD"), head_request=True).header("etag")
    batch = [
        (get("m10.bin"), 200, big),
        (get("k100.bin"), 200, contents["k100.bin"]),
        (get("limit1.bin", method="HEAD"), 200, b""),
        (get("m10.bin", f"If-None-Match: {etag}\r\n"), 304, b""),
        (get("m10.bin", "Range: bytes=1000-2999999\r\n"), 206, big[1000:3000000]),
        (get("limit1.bin"), 200, contents["limit1.bin"]),
        (get("one.bin"), 200, contents["one.bin"]),
    ]
    before = counters(server)
    with RawConn(server.connect(), timeout=30) as conn:
        conn.send(b"".join(req for req, _, _ in batch))
        for req, status, body in batch:
            r = conn.read_response(head_request=req.startswith(b"HEAD"))
            assert r.status == status, req
            assert sha(r.body) == sha(body), req
        # the connection is still in step: one more request answers normally
        assert conn.request(get("limit1.bin")).body == contents["limit1.bin"]
    after = counters(server)
    assert after["responses"] - before["responses"] == 4  # 200 m10, 206, 200 limit1 twice


@pytest.mark.parametrize("value, first, last", [
    ("bytes=0-0", 0, 0),                       # first byte
    (f"bytes={LIMIT}-{LIMIT}", LIMIT, LIMIT),   # last byte
    ("bytes=1000-200999", 1000, 200999),        # middle
    ("bytes=-70000", LIMIT + 1 - 70000, LIMIT),  # suffix
    ("bytes=5-", 5, LIMIT),                     # open-ended
])
def test_ranges_on_a_sendfile_file(serve, root, contents, value, first, last):
    server = start(serve, root)
    data = contents["limit1.bin"]
    before = counters(server)
    with RawConn(server.connect()) as conn:
        r = conn.request(get("limit1.bin", f"Range: {value}\r\n"))
        assert r.status == 206
        assert r.header("content-range") == f"bytes {first}-{last}/{len(data)}"
        assert r.body == data[first:last + 1]
        assert conn.request(get("one.bin")).body == contents["one.bin"]  # framing intact
    after = counters(server)
    assert after["responses"] - before["responses"] == 1
    assert after["bytes"] - before["bytes"] == last - first + 1


def test_head_and_304_send_no_body(serve, root, contents):
    server = start(serve, root)
    before = counters(server)
    with RawConn(server.connect()) as conn:
        h = conn.request(get("m10.bin", method="HEAD"), head_request=True)
        assert h.status == 200 and h.header("content-length") == str(SIZES["m10.bin"])
        nm = conn.request(get("m10.bin", f"If-None-Match: {h.header('etag')}\r\n"))
        assert nm.status == 304 and nm.body == b""
        ims = conn.request(get("m10.bin", f"If-Modified-Since: {h.header('last-modified')}\r\n"))
        assert ims.status == 304
        # nothing stray was written after the bodiless answers
        assert conn.request(get("one.bin")).body == contents["one.bin"]
    assert counters(server) == before


def test_gz_sibling_is_sent_by_sendfile_and_on_the_fly_gzip_from_memory(serve, root):
    text = b"".join(b"line %06d of a compressible static text file\n" % i for i in range(8000))
    assert len(text) > LIMIT
    (root / "sib.txt").write_bytes(text)
    sibling = gzip.compress(text, mtime=0)
    (root / "sib.txt.gz").write_bytes(sibling)
    (root / "fly.txt").write_bytes(text)  # no sibling: gzip on the fly (<= 4 MiB)
    server = start(serve, root)
    before = counters(server)
    with RawConn(server.connect()) as conn:
        r = conn.request(get("sib.txt", "Accept-Encoding: gzip\r\n"))
        assert r.header("content-encoding") == "gzip" and r.body == sibling
        r = conn.request(get("sib.txt"))
        assert r.header("content-encoding") is None and r.body == text
        r = conn.request(get("sib.txt", "Accept-Encoding: gzip\r\nRange: bytes=10-99\r\n"))
        assert r.status == 206 and r.body == sibling[10:100]
        mid = counters(server)
        assert mid["responses"] - before["responses"] == 3
        r = conn.request(get("fly.txt", "Accept-Encoding: gzip\r\n"))
        assert r.header("content-encoding") == "gzip" and gzip.decompress(r.body) == text
        assert counters(server)["responses"] == mid["responses"], "on-the-fly gzip stays in memory"
        r = conn.request(get("fly.txt", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n"))
        assert r.status == 206 and r.body == text[:10]  # a range gets identity: by sendfile
    assert counters(server)["responses"] == mid["responses"] + 1


def test_https_http2_and_h2c_keep_the_read_path_with_the_same_bytes(serve, root, contents, tmp_path):
    cert = make_cert()
    cert_path, key_path = cert.write(tmp_path)
    tls = start(serve, root, https=True, tls_cert_path=str(cert_path), tls_key_path=str(key_path), http2=True)
    base = f"https://localhost:{tls.port}"
    for http2 in (False, True):
        with httpx.Client(verify=cert.client_context(), http1=not http2, http2=http2, timeout=30) as c:
            for name in ("limit1.bin", "m10.bin"):
                r = c.get(f"{base}/s/{name}")
                assert r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
                assert sha(r.content) == sha(contents[name])
            r = c.get(f"{base}/s/m10.bin", headers={"Range": "bytes=-1"})
            assert r.status_code == 206 and r.content == contents["m10.bin"][-1:]
            stats = c.get(f"{base}/__stats").json()
            assert stats["static_sendfile_responses"] == 0 and stats["static_sendfile_bytes"] == 0

    plain = start(serve, root, http2=True)
    with httpx.Client(http1=False, http2=True, timeout=30) as c:  # h2c, prior knowledge
        r = c.get(plain.url("/s/m10.bin"))
        assert r.http_version == "HTTP/2" and sha(r.content) == sha(contents["m10.bin"])
    assert counters(plain)["responses"] == 0
    with RawConn(plain.connect()) as conn:  # HTTP/1 on the same server: sendfile
        assert sha(conn.request(get("m10.bin")).body) == sha(contents["m10.bin"])
    assert counters(plain)["responses"] == 1


def slow_reader(server) -> socket.socket:
    """A connection with a small receive buffer, so the server's sendfile blocks early."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    s.settimeout(20)
    s.connect(("127.0.0.1", server.port))
    return s


def read_head(s: socket.socket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, "closed before the head"
        buf += chunk
    return buf


def test_file_truncated_while_sent_closes_the_connection_and_the_server_goes_on(serve, root, contents):
    size = 48 * 1024 * 1024
    data = os.urandom(1024 * 1024) * 48
    victim = root / "victim.bin"
    victim.write_bytes(data)
    server = start(serve, root)
    s = slow_reader(server)
    s.sendall(get("victim.bin"))
    buf = read_head(s)
    head, _, body = buf.partition(b"\r\n\r\n")
    assert f"Content-Length: {size}".encode() in head
    while len(body) < 256 * 1024:
        body += s.recv(65536)
    assert body == data[:len(body)]
    os.truncate(victim, 0)
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < 15:
        try:
            chunk = s.recv(1 << 20)
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        body += chunk
    s.close()
    assert closed, "the connection stayed open after the file shrank"
    assert len(body) < size
    deadline = time.monotonic() + 5
    while "static file shrank while being sent" not in server.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "static file shrank while being sent" in server.logs()
    with RawConn(server.connect(), timeout=30) as conn:  # others are still served
        assert sha(conn.request(get("m10.bin")).body) == sha(contents["m10.bin"])


def test_client_leaving_mid_send_frees_the_connection(serve, root, contents):
    server = start(serve, root)
    for linger in (False, True):
        s = slow_reader(server)
        s.sendall(get("m10.bin"))
        read_head(s)
        s.recv(65536)
        if linger:  # RST instead of FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stats = httpx.get(server.url("/__stats"), timeout=10).json()
        if stats["connections_open"] <= 1:  # only the stats request itself
            break
        time.sleep(0.1)
    assert stats["connections_open"] <= 1, stats["connections_open"]
    with RawConn(server.connect(), timeout=30) as conn:
        assert sha(conn.request(get("m10.bin")).body) == sha(contents["m10.bin"])
    assert "panicked" not in server.logs()
