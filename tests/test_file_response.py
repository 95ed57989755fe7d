"""`FileResponse` served by the native runtime (docs/internals/static-files.md#fileresponse): the
app returns a `RESP_FILE` record (docs/internals/ipc.md §2) and the runtime applies the
static-file rules against the request it answers, then the app's status and headers. Real server,
real sockets, HTTP/1.1 and h2c."""
from __future__ import annotations

import gzip
import os
import time
from email.utils import formatdate
from urllib.parse import quote

import httpx
import pytest

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
    assert r.headers["content-type"] == "text/x-custom" and r.headers["x-app"] == "1"
    assert r.headers["cache-control"] == "no-store" and "content-range" not in r.headers
    assert r.headers.get_list("vary") == ["Accept-Encoding", "Origin"]
    assert r.headers["etag"] == etag
    r = c.get("/custom", headers={**IDENTITY, "Range": "bytes=0-1"})
    assert r.status_code == 206 and r.content == data[:2]
    assert r.headers["content-range"] == f"bytes 0-1/{len(data)}"  # the runtime's, not the app's
    assert r.headers["content-type"] == "text/x-custom" and r.headers["x-app"] == "1"
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
