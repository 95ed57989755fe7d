"""`FileResponse` served by the native runtime (docs/internals/static-files.md#fileresponse): the
app returns a `RESP_FILE` record (docs/internals/ipc.md §2) and the runtime applies the
static-file rules against the request it answers, then the app's status and headers. Real server,
real sockets, HTTP/1.1 and h2c."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
from email.utils import formatdate
from urllib.parse import quote

import httpx
import pytest

from support.http1 import RawConn
from support.tls_certs import make_cert

APP = "apps/file_response_app.py"
TEXT = "text/plain; charset=utf-8"
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture
def docroot(tmp_path):
    text = "".join(f"Line {i:04d} some padding text here\n" for i in range(500)).encode()
    (tmp_path / "large.txt").write_bytes(text)
    (tmp_path / "large.txt.gz").write_bytes(gzip.compress(text))
    (tmp_path / "page.html").write_bytes(b"<html><body>hi</body></html>")
    (tmp_path / "data").write_bytes(bytes(range(256)))
    (tmp_path / "empty.txt").write_bytes(b"")
    # several MiB, not a multiple of the 64 KiB read size, every byte position distinct-ish
    (tmp_path / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 12345))
    (tmp_path / "sub").mkdir()
    old = time.time() - 3600
    for name in ("large.txt", "large.txt.gz", "page.html", "data", "empty.txt", "big.bin"):
        os.utime(tmp_path / name, (old, old))
    return tmp_path


@pytest.fixture
def server(serve, docroot):
    return serve(APP, str(docroot))


def _validators(path):
    st = os.stat(path)
    return f'W/"{st.st_size:x}-{int(st.st_mtime):x}"', formatdate(int(st.st_mtime), usegmt=True)


@pytest.mark.parametrize("route", ["/sync", "/async"])
def test_200_304_range_416_if_range_from_sync_and_async_handlers(server, docroot, route):
    c = server.client
    data = (docroot / "large.txt").read_bytes()
    etag, lm = _validators(docroot / "large.txt")
    r = c.get(route, headers=IDENTITY)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == TEXT and r.headers["content-length"] == str(len(data))
    assert (r.headers["etag"], r.headers["last-modified"]) == (etag, lm)
    assert r.headers["accept-ranges"] == "bytes" and r.headers["vary"] == "Accept-Encoding"
    assert "cache-control" not in r.headers and "content-encoding" not in r.headers

    r = c.head(route, headers=IDENTITY)
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == str(len(data))
    assert r.headers["etag"] == etag

    # If-None-Match (weak compare, lists, *) and If-Modified-Since at and past the boundary
    for inm in (etag, etag[2:], f'"x", {etag}', "*"):
        r = c.get(route, headers={**IDENTITY, "If-None-Match": inm})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag, inm
        assert "content-type" not in r.headers
    assert c.get(route, headers={**IDENTITY, "If-None-Match": '"other"'}).status_code == 200
    assert c.head(route, headers={**IDENTITY, "If-None-Match": etag}).status_code == 304
    assert c.get(route, headers={**IDENTITY, "If-Modified-Since": lm}).status_code == 304
    st = os.stat(docroot / "large.txt")
    before = formatdate(int(st.st_mtime) - 1, usegmt=True)
    assert c.get(route, headers={**IDENTITY, "If-Modified-Since": before}).status_code == 200
    assert c.get(route, headers={**IDENTITY, "If-Modified-Since": "garbage"}).status_code == 200
    r = c.get(route, headers={**IDENTITY, "If-None-Match": '"other"', "If-Modified-Since": lm})
    assert r.status_code == 200  # If-None-Match wins

    # Range: first/last byte, suffix, clamped end; 416 past the end, multi-range, empty suffix
    n = len(data)
    for rng, lo, hi in (("bytes=0-0", 0, 0), ("bytes=0-63", 0, 63), (f"bytes={n - 1}-", n - 1, n - 1),
                        ("bytes=-32", n - 32, n - 1), (f"bytes=10-{n + 100}", 10, n - 1)):
        r = c.get(route, headers={**IDENTITY, "Range": rng})
        assert r.status_code == 206 and r.content == data[lo:hi + 1], rng
        assert r.headers["content-range"] == f"bytes {lo}-{hi}/{n}"
        assert r.headers["content-length"] == str(hi - lo + 1)
    for rng in (f"bytes={n}-", "bytes=0-3,8-15", "bytes=-0", "bytes=5-1"):
        r = c.get(route, headers={**IDENTITY, "Range": rng})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{n}", rng
        assert r.headers["etag"] == etag
    assert c.get(route, headers={**IDENTITY, "Range": "items=0-1"}).status_code == 200
    r = c.head(route, headers={**IDENTITY, "Range": "bytes=0-1"})
    assert r.status_code == 200 and r.headers["content-length"] == str(n)  # HEAD ignores Range

    # If-Range: only the exact date is a strong match; our weak ETag never is
    assert c.get(route, headers={**IDENTITY, "Range": "bytes=0-63", "If-Range": lm}).status_code == 206
    for if_range in (etag, before, '"nope"'):
        r = c.get(route, headers={**IDENTITY, "Range": "bytes=0-63", "If-Range": if_range})
        assert r.status_code == 200 and r.content == data, if_range
    assert c.get(route, headers={**IDENTITY, "Range": "bytes=0-1", "If-None-Match": etag}).status_code == 304


def test_gzip_sibling_and_accept_encoding(server, docroot):
    c = server.client
    data = (docroot / "large.txt").read_bytes()
    gz = (docroot / "large.txt.gz").read_bytes()
    gz_etag, _ = _validators(docroot / "large.txt.gz")
    r = c.get("/sync", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip" and r.content == data
    assert r.headers["content-length"] == str(len(gz)) and r.headers["etag"] == gz_etag
    assert r.headers["content-type"] == TEXT and r.headers["vary"] == "Accept-Encoding"
    r = c.get("/sync", headers={"Accept-Encoding": "gzip", "If-None-Match": gz_etag})
    assert r.status_code == 304 and r.headers["content-encoding"] == "gzip"
    for refused in ("gzip;q=0", "identity", "br", "gzip;q=0, *"):
        r = c.get("/sync", headers={"Accept-Encoding": refused})
        assert "content-encoding" not in r.headers and r.content == data, refused
        assert r.headers["vary"] == "Accept-Encoding"
    for accepted in ("x-gzip", "*", "br, gzip;q=0.5"):
        assert c.get("/sync", headers={"Accept-Encoding": accepted}).headers["content-encoding"] == "gzip"
    # a range applies to the .gz bytes
    with httpx.Client(base_url=server.base, headers={"Accept-Encoding": "gzip"}) as raw:
        with raw.stream("GET", "/sync", headers={"Range": "bytes=0-9"}) as r:
            assert r.status_code == 206 and b"".join(r.iter_raw()) == gz[:10]
    # no sibling: no Vary, and never on-the-fly gzip for a FileResponse
    r = c.get("/sync", params={"name": "page.html"}, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in r.headers and "vary" not in r.headers
    assert r.headers["content-type"] == "text/html; charset=utf-8"


def test_content_disposition_from_filename(server):
    c = server.client
    r = c.get("/download")
    assert r.headers["content-disposition"] == 'attachment; filename="report.csv"'
    assert r.headers["content-type"] == "text/csv; charset=utf-8"  # the type follows the filename
    assert r.content == bytes(range(256))
    r = c.get("/download", params={"as": "rapport été.pdf", "kind": "inline"})
    assert r.headers["content-disposition"] == "inline; filename*=utf-8''" + quote("rapport été.pdf")
    assert r.headers["content-type"] == "application/pdf"
    # a quote or a line break in the name cannot break out of the header
    r = c.get("/download", params={"as": 'a"b\r\nX-Evil: 1'})
    assert r.status_code == 200 and "x-evil" not in r.headers
    assert r.headers["content-disposition"] == "attachment; filename*=utf-8''" + quote('a"b\r\nX-Evil: 1')


def test_custom_status_headers_and_type_are_kept(server, docroot):
    c = server.client
    data = (docroot / "large.txt").read_bytes()
    etag, _ = _validators(docroot / "large.txt")
    r = c.get("/custom", params={"status": "203"}, headers={**IDENTITY, "Range": "bytes=0-1",
                                                            "If-None-Match": etag})
    # another status: no conditionals, no range; the whole file with that status
    assert r.status_code == 203 and r.content == data
    assert r.headers["content-type"] == "text/x-custom; charset=utf-8" and r.headers["x-app"] == "1"
    assert r.headers["cache-control"] == "no-store" and "content-range" not in r.headers
    assert r.headers.get_list("vary") == ["Accept-Encoding", "Origin"]
    assert r.headers["etag"] == etag
    r = c.get("/custom", headers={**IDENTITY, "Range": "bytes=0-1"})
    assert r.status_code == 206 and r.content == data[:2]
    assert r.headers["content-range"] == f"bytes 0-1/{len(data)}"  # the runtime's, not the app's
    assert r.headers["content-type"] == "text/x-custom; charset=utf-8" and r.headers["x-app"] == "1"
    r = c.get("/custom", headers={**IDENTITY, "If-None-Match": etag})
    assert r.status_code == 304 and r.headers["x-app"] == "1" and "content-type" not in r.headers
    r = c.get("/status-tuple", headers=IDENTITY)
    assert r.status_code == 201 and r.content == data
    r = c.post("/post", headers={**IDENTITY, "If-None-Match": etag, "Range": "bytes=0-1"})
    assert r.status_code == 200 and r.content == data  # conditionals are GET/HEAD only


def test_missing_file_directory_and_bad_path(server):
    c = server.client
    for name in ("nope.txt", "sub", "large.txt/x"):
        for route in ("/sync", "/custom"):
            r = c.get(route, params={"name": name})
            assert (r.status_code, r.content, r.headers["content-type"]) == (404, b"Not Found", TEXT)
            assert "x-app" not in r.headers
    r = c.get("/bad-path")
    assert r.status_code == 500 and "NUL in file path" in server.logs()
    assert "no regular file at the path" in server.logs()
    assert c.get("/sync", headers=IDENTITY).status_code == 200  # still serving


def test_large_file_byte_for_byte_over_http1_and_h2c(server, docroot):
    big = (docroot / "big.bin").read_bytes()
    r = server.client.get("/async", params={"name": "big.bin"})
    assert r.status_code == 200 and r.headers["content-length"] == str(len(big))
    assert r.headers["content-type"] == "application/octet-stream" and r.content == big
    r = server.client.get("/sync", params={"name": "big.bin"},
                          headers={"Range": f"bytes=65530-{3 * 65536 + 7}"})
    assert r.status_code == 206 and r.content == big[65530:3 * 65536 + 8]
    etag, _ = _validators(docroot / "big.bin")
    with httpx.Client(base_url=server.base, http1=False, http2=True, timeout=30) as h2:
        r = h2.get("/sync", params={"name": "big.bin"})
        assert r.http_version == "HTTP/2" and r.status_code == 200 and r.content == big
        assert r.headers["etag"] == etag
        r = h2.get("/async", params={"name": "big.bin"}, headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b""
        r = h2.get("/sync", params={"name": "big.bin"}, headers={"Range": "bytes=-100"})
        assert r.status_code == 206 and r.content == big[-100:]
        r = h2.head("/sync", params={"name": "big.bin"})
        assert r.status_code == 200 and r.headers["content-length"] == str(len(big))
        r = h2.get("/download", params={"as": "ünï.bin"})
        assert r.headers["content-disposition"].startswith("attachment; filename*=utf-8''")


def test_middleware_sees_and_wraps_the_response(server, docroot):
    r = server.client.get("/wrapped", headers=IDENTITY)
    assert r.status_code == 200 and r.content == (docroot / "large.txt").read_bytes()
    assert r.headers["x-wrapped"] == str(docroot / "large.txt")
    assert "Traceback" not in server.logs()


# --- sendfile (docs/internals/static-files.md#sendfile): a FileResponse body goes out zero-copy
# exactly when a mount's would: plain-TCP HTTP/1, a file above the open-file cache limit.
# `static_sendfile_responses` / `static_sendfile_bytes` count it, as for a mount.

LIMIT = 256 * 1024  # MAX_CACHED_FILE_BYTES (static_files/cache.rs): at or under it, no sendfile
BIG = {"limit.bin": LIMIT, "limit1.bin": LIMIT + 1, "m1.bin": 1 << 20, "m16.bin": 16 << 20}
FRAME = 1 << 20  # sendfile::FRAME_MAX: one sentinel frame per MiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def big_contents():
    return {name: os.urandom(size) for name, size in BIG.items()}


@pytest.fixture
def big_root(docroot, big_contents):
    for name, data in big_contents.items():
        (docroot / name).write_bytes(data)
    return docroot


def counters(base: str, **client) -> dict:
    with httpx.Client(timeout=10, **client) as c:
        s = c.get(f"{base}/__stats").json()
    return {"responses": s["static_sendfile_responses"], "bytes": s["static_sendfile_bytes"]}


def raw(route: str, name: str, headers: str = "", method: str = "GET") -> bytes:
    return f"{method} {route}?name={name} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode()


def test_large_file_response_goes_out_by_sendfile_byte_for_byte(serve, big_root, big_contents):
    server = serve(APP, str(big_root))
    before = counters(server.base)
    expected = 0
    with RawConn(server.connect(), timeout=30) as conn:
        for route in ("/sync", "/async"):
            for name, data in big_contents.items():
                r = conn.request(raw(route, name))
                assert r.status == 200 and r.header("content-length") == str(len(data)), name
                assert r.header("content-type") == "application/octet-stream"
                assert sha(r.body) == sha(data), (route, name)
                assert r.header("connection") == "keep-alive"
                expected += len(data) if len(data) > LIMIT else 0
        # the app's status and headers are merged as on the read path; any method gets the file
        r = conn.request(raw("/custom", "m16.bin&status=203"))
        assert r.status == 203 and r.header("x-app") == "1" and r.header("content-type") == "text/x-custom; charset=utf-8"
        assert r.header("cache-control") == "no-store" and r.header_all("vary") == ["Origin"]
        assert sha(r.body) == sha(big_contents["m16.bin"])
        r = conn.request(raw("/post", "m1.bin", "Content-Length: 0\r\n", method="POST"))
        assert r.status == 200 and sha(r.body) == sha(big_contents["m1.bin"])
        expected += BIG["m16.bin"] + BIG["m1.bin"]
    after = counters(server.base)
    # limit1, m1 and m16 from both routes, then /custom and /post; limit.bin is read
    assert after["responses"] - before["responses"] == 2 * 3 + 2
    assert after["bytes"] - before["bytes"] == expected


@pytest.mark.parametrize("value, first, last", [
    ("bytes=0-0", 0, 0),
    (f"bytes={FRAME - 10}-{3 * FRAME + 9}", FRAME - 10, 3 * FRAME + 9),  # across frames
    ("bytes=-70000", BIG["m16.bin"] - 70000, BIG["m16.bin"] - 1),
    (f"bytes={5 * FRAME}-", 5 * FRAME, BIG["m16.bin"] - 1),
])
def test_range_of_a_large_file_response_by_sendfile(serve, big_root, big_contents, value, first, last):
    server = serve(APP, str(big_root))
    data = big_contents["m16.bin"]
    _, lm = _validators(big_root / "m16.bin")
    before = counters(server.base)
    with RawConn(server.connect(), timeout=30) as conn:
        r = conn.request(raw("/sync", "m16.bin", f"Range: {value}\r\n"))
        assert r.status == 206 and r.header("content-range") == f"bytes {first}-{last}/{len(data)}"
        assert r.header("content-length") == str(last - first + 1)
        assert sha(r.body) == sha(data[first:last + 1])
        r = conn.request(raw("/async", "m16.bin", f"Range: {value}\r\nIf-Range: {lm}\r\n"))
        assert r.status == 206 and sha(r.body) == sha(data[first:last + 1])
        assert conn.request(raw("/sync", "data")).body == bytes(range(256))  # framing intact
    after = counters(server.base)
    assert after["responses"] - before["responses"] == 2
    assert after["bytes"] - before["bytes"] == 2 * (last - first + 1)


def test_head_and_304_of_a_large_file_response_send_no_body(serve, big_root, big_contents):
    server = serve(APP, str(big_root))
    data = big_contents["m16.bin"]
    etag, lm = _validators(big_root / "m16.bin")
    before = counters(server.base)
    with RawConn(server.connect(), timeout=30) as conn:
        h = conn.request(raw("/sync", "m16.bin", method="HEAD"), head_request=True)
        assert h.status == 200 and h.header("content-length") == str(len(data)) and h.body == b""
        assert h.header("etag") == etag
        h = conn.request(raw("/sync", "m16.bin", "Range: bytes=0-9\r\n", method="HEAD"), head_request=True)
        assert h.status == 200 and h.header("content-length") == str(len(data))  # HEAD ignores Range
        assert conn.request(raw("/sync", "m16.bin", f"If-None-Match: {etag}\r\n")).status == 304
        assert conn.request(raw("/async", "m16.bin", f"If-Modified-Since: {lm}\r\n")).status == 304
        assert counters(server.base) == before  # nothing was sent by sendfile
        # nothing stray was written after the bodiless answers: the next GET is in step
        r = conn.request(raw("/sync", "m16.bin"))
        assert r.status == 200 and sha(r.body) == sha(data)
    after = counters(server.base)
    assert after["responses"] - before["responses"] == 1
    assert after["bytes"] - before["bytes"] == len(data)


def test_file_response_over_tls_and_http2_keeps_the_read_path(serve, big_root, big_contents, tmp_path):
    data = big_contents["m16.bin"]
    cert = make_cert()
    cert_path, key_path = cert.write(tmp_path)
    run = {"https": True, "tls_cert_path": str(cert_path), "tls_key_path": str(key_path), "http2": True}
    tls = serve(APP, str(big_root), env={"FILE_RESPONSE_RUN": json.dumps(run)})
    base = f"https://localhost:{tls.port}"
    for http2 in (False, True):
        with httpx.Client(verify=cert.client_context(), http1=not http2, http2=http2, timeout=30) as c:
            for name in ("limit1.bin", "m16.bin"):
                r = c.get(f"{base}/sync", params={"name": name})
                assert r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
                assert r.status_code == 200 and sha(r.content) == sha(big_contents[name])
            r = c.get(f"{base}/async", params={"name": "m16.bin"}, headers={"Range": "bytes=-1"})
            assert r.status_code == 206 and r.content == data[-1:]
    assert counters(base, verify=cert.client_context()) == {"responses": 0, "bytes": 0}

    plain = serve(APP, str(big_root))  # HTTP/1 and h2c on one port
    with httpx.Client(http1=False, http2=True, timeout=30) as c:  # h2c, prior knowledge
        r = c.get(plain.url("/sync"), params={"name": "m16.bin"})
        assert r.http_version == "HTTP/2" and sha(r.content) == sha(data)
    assert counters(plain.base)["responses"] == 0
    with RawConn(plain.connect(), timeout=30) as conn:  # HTTP/1 on the same server: sendfile
        assert sha(conn.request(raw("/sync", "m16.bin")).body) == sha(data)
    assert counters(plain.base) == {"responses": 1, "bytes": len(data)}
