"""Native static files, end to end over real sockets (docs/internals/static-files.md).

Every test starts tests/apps/native_app.py as a subprocess with its mounts given in
NATIVE_APP_CONFIG (JSON) and builds the served tree in the test's tmp dir. Requests go out as
raw bytes (`RawConn` from tests/support/http1.py) so that header values, framing and exact bytes can be
checked without an HTTP client normalising paths or adding `Accept-Encoding`.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
import time
import zlib
from email.utils import formatdate
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from support.http1 import RawConn, RawResponse

APP = "apps/native_app.py"
TEXT = "text/plain; charset=utf-8"
MTIME = 1700000000  # Tue, 14 Nov 2023 22:13:20 GMT; every fixture file gets this mtime
LAST_MODIFIED = formatdate(MTIME, usegmt=True)
RANGE_BYTES = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable mod 256
BIG_TEXT = ("".join(f"line {i:05d}: the quick brown fox jumps over the lazy dog\n" for i in range(80))).encode()
SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT"


def start(serve, **config):
    return serve(APP, env={"NATIVE_APP_CONFIG": json.dumps(config)})


def request(server, target: str, *, method: str = "GET", headers: Optional[Dict[str, str]] = None,
            body: bytes = b"") -> RawResponse:
    """One request on a fresh connection, exact bytes on the wire."""
    lines = [f"{method} {target} HTTP/1.1", "Host: test"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with RawConn(server.connect()) as conn:
        return conn.request(raw, head_request=(method == "HEAD"))


def etag_of(path: Path, suffix: str = "") -> str:
    st = path.stat()
    return f'W/"{st.st_size:x}-{int(st.st_mtime):x}{suffix}"'


def without_date(resp: RawResponse) -> bytes:
    """The response bytes minus the `Date` line (which may tick between two requests)."""
    lines = [ln for ln in resp.head_bytes.split(b"\r\n") if not ln.lower().startswith(b"date:")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + resp.body


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (MTIME, MTIME))
    return path


# content types (docs/internals/static-files.md#responses): file name → expected Content-Type
CONTENT_TYPES = {
    "page.html": "text/html; charset=utf-8",
    "page.htm": "text/html; charset=utf-8",
    "UPPER.HTML": "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "app.js": "application/javascript",
    "data.json": "application/json",
    "img.png": "image/png",
    "photo.jpg": "image/jpeg",
    "photo.jpeg": "image/jpeg",
    "Photo.JpG": "image/jpeg",
    "anim.gif": "image/gif",
    "icon.svg": "image/svg+xml",
    "fav.ico": "image/x-icon",
    "notes.txt": "text/plain; charset=utf-8",
    "mod.wasm": "application/wasm",
    "mod.mjs": "application/javascript",
    "app.js.map": "application/json",
    "site.webmanifest": "application/json",
    "feed.xml": "application/xml",
    "img.webp": "image/webp",
    "img.avif": "image/avif",
    "font.woff": "font/woff",
    "font.woff2": "font/woff2",
    "font.ttf": "font/ttf",
    "font.otf": "font/otf",
    "clip.mp4": "video/mp4",
    "clip.webm": "video/webm",
    "song.mp3": "audio/mpeg",
    "sound.wav": "audio/wav",
    "doc.pdf": "application/pdf",
    "table.csv": "text/csv; charset=utf-8",
    "readme.md": "text/markdown; charset=utf-8",
    "noext": "application/octet-stream",
    "file.unknown": "application/octet-stream",
    "archive.tar.bz2": "application/octet-stream",
    "dir.v2/noext": "application/octet-stream",  # the dot is in a directory, not the last segment
    "dir.v2/x.css": "text/css; charset=utf-8",
}


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    write(root / "a.txt", b"hello static\n")
    write(root / "index.html", b"<h1>root index</h1>\n")
    write(root / "docs" / "index.html", b"<h1>docs index</h1>\n")
    write(root / "docs" / "page.txt", b"docs page\n")
    (root / "emptydir").mkdir()
    write(root / "range.bin", RANGE_BYTES)
    write(root / "big.txt", BIG_TEXT)  # compressible, > 1024 bytes, no .gz sibling
    write(root / "at1024.txt", b"x" * 1024)
    write(root / "at1023.txt", b"x" * 1023)
    write(root / "big.png", os.urandom(4096))  # not a compressible type
    pre = b"console.log('precompressed sibling');\n" * 60
    write(root / "pre.js", pre)
    write(root / "pre.js.gz", gzip.compress(pre, mtime=0))
    write(root / "small.css", b"body{}\n")
    write(root / "small.css.gz", gzip.compress(b"body{}\n", mtime=0))
    write(root / "a b.txt", b"space in name\n")
    write(root / "a+b.txt", b"plus in name\n")
    write(root / "100%.txt", b"percent in name\n")
    write(root / "\u00fc.txt", "umlaut\n".encode())
    write(root / "empty.txt", b"")
    for name in CONTENT_TYPES:
        write(root / "types" / name, b"type probe " + name.encode() + b"\n")
    outside = write(tmp_path / "outside" / "secret.txt", SECRET)
    write(tmp_path / "secret.txt", SECRET)
    os.symlink(outside, root / "link_out.txt")
    os.symlink(tmp_path / "outside", root / "linkdir_out")
    os.symlink(root / "a.txt", root / "link_in.txt")
    return root


# --- content types -------------------------------------------------------------------------


def test_content_types_by_extension(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    wrong: List[str] = []
    for name, expected in CONTENT_TYPES.items():
        resp = request(server, f"/s/types/{name}")
        if resp.status != 200 or resp.header("content-type") != expected:
            wrong.append(f"GET /s/types/{name}: expected 200 {expected!r}, "
                         f"got {resp.status} {resp.header('content-type')!r}")
        elif resp.body != b"type probe " + name.encode() + b"\n":
            wrong.append(f"GET /s/types/{name}: wrong body {resp.body!r}")
    assert not wrong, "\n".join(wrong)


# --- resolution, index, redirect -----------------------------------------------------------


def test_plain_file_and_query_ignored(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    for target in ("/s/a.txt", "/s/a.txt?v=1&x=y", "/s/docs/page.txt"):
        resp = request(server, target)
        assert resp.status == 200, target
        assert resp.header("content-length") == str(len(resp.body))
    assert request(server, "/s/a.txt?v=1").body == b"hello static\n"
    assert request(server, "/s/docs/page.txt").body == b"docs page\n"


def test_prefix_must_be_followed_by_slash(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/sa.txt")
    assert resp.status == 404 and resp.body == b"Not Found"
    resp = request(server, "/s2/a.txt")
    assert resp.status == 404 and resp.body == b"Not Found"


def test_html_mode_index_and_prefix_exactly(serve, www):
    server = start(serve, mounts=[["/site", str(www), True]])
    for target in ("/site", "/site/", "/site?x=1"):
        resp = request(server, target)
        assert resp.status == 200, target
        assert resp.body == b"<h1>root index</h1>\n", target
        assert resp.header("content-type") == "text/html; charset=utf-8", target
        assert resp.header("location") is None, target
    resp = request(server, "/site/docs/")
    assert resp.status == 200
    assert resp.body == b"<h1>docs index</h1>\n"
    assert resp.header("content-type") == "text/html; charset=utf-8"
    # a directory without an index is a native 404 in html mode
    resp = request(server, "/site/emptydir/")
    assert resp.status == 404 and resp.body == b"Not Found"


def test_html_mode_directory_without_slash_is_307(serve, www):
    server = start(serve, mounts=[["/site", str(www), True]])
    resp = request(server, "/site/docs")
    assert resp.status == 307
    assert resp.reason == "Temporary Redirect"
    assert resp.header("location") == "/site/docs/"
    assert resp.body == b""
    resp = request(server, "/site/docs?lang=en&x=1")
    assert resp.status == 307
    assert resp.header("location") == "/site/docs/?lang=en&x=1"
    # a file is not redirected
    resp = request(server, "/site/docs/page.txt")
    assert resp.status == 200 and resp.body == b"docs page\n"


def test_directory_without_html_mode_is_not_served(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    for target in ("/s", "/s/", "/s/docs", "/s/docs/", "/s/emptydir"):
        resp = request(server, target)
        assert resp.status == 404, target
        assert resp.body == b"Not Found", target
        assert resp.header("content-type") == TEXT, target


def test_missing_file_is_native_404_without_cache_headers(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/nope.txt")
    assert resp.status == 404
    assert resp.body == b"Not Found"
    assert resp.header("content-type") == TEXT
    assert resp.header("cache-control") is None
    assert resp.header("etag") is None


# --- headers, ETag, caching -----------------------------------------------------------------


def test_200_headers_etag_last_modified_cache_control(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/a.txt")
    assert resp.status == 200
    assert resp.body == b"hello static\n"
    assert resp.header("content-type") == TEXT
    assert resp.header("content-length") == "13"
    assert resp.header("etag") == etag_of(www / "a.txt") == f'W/"d-{MTIME:x}"'
    assert resp.header("last-modified") == LAST_MODIFIED
    assert resp.header("accept-ranges") == "bytes"
    assert resp.header("cache-control") == "public, max-age=300"
    assert resp.header("content-encoding") is None
    assert resp.header("date"), "every response carries Date (docs/internals/http.md)"


def test_static_max_age_zero_sends_no_cache_control(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]], run={"static_max_age": 0})
    resp = request(server, "/s/a.txt")
    assert resp.status == 200
    assert resp.header("cache-control") is None, resp.headers
    resp = request(server, "/s/a.txt", headers={"If-None-Match": etag_of(www / "a.txt")})
    assert resp.status == 304
    assert resp.header("cache-control") is None, resp.headers
    resp = request(server, "/s/range.bin", headers={"Range": "bytes=0-1"})
    assert resp.status == 206
    assert resp.header("cache-control") is None, resp.headers


def test_static_max_age_custom_value(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]], run={"static_max_age": 86400})
    assert request(server, "/s/a.txt").header("cache-control") == "public, max-age=86400"


def _assert_304(resp: RawResponse, etag: str) -> None:
    assert resp.status == 304, resp
    assert resp.reason == "Not Modified"
    assert resp.body == b""
    assert resp.header("content-length") is None, "304 carries no Content-Length (docs/internals/http.md)"
    assert resp.header("etag") == etag
    assert resp.header("last-modified") == LAST_MODIFIED
    assert resp.header("accept-ranges") == "bytes"
    assert resp.header("cache-control") == "public, max-age=300"


def test_if_none_match_exact_is_304(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    etag = etag_of(www / "a.txt")
    _assert_304(request(server, "/s/a.txt", headers={"If-None-Match": etag}), etag)


def test_if_none_match_star_is_304(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    _assert_304(request(server, "/s/a.txt", headers={"If-None-Match": "*"}), etag_of(www / "a.txt"))


def test_if_none_match_weak_comparison(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    etag = etag_of(www / "a.txt")
    strong = etag[2:]  # "d-6553f100" without W/
    _assert_304(request(server, "/s/a.txt", headers={"If-None-Match": strong}), etag)


def test_if_none_match_list(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    etag = etag_of(www / "a.txt")
    for value in (f'"nope", {etag}', f'W/"x-1",{etag} , "y"', f'"other",   {etag[2:]}'):
        _assert_304(request(server, "/s/a.txt", headers={"If-None-Match": value}), etag)
    # two If-None-Match lines are one list
    with RawConn(server.connect()) as conn:
        resp = conn.request(b'GET /s/a.txt HTTP/1.1\r\nHost: test\r\nIf-None-Match: "nope"\r\n'
                            b"If-None-Match: " + etag.encode() + b"\r\n\r\n")
    _assert_304(resp, etag)


def test_if_none_match_no_match_is_200(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    for value in ('"nope"', 'W/"d-1"', 'W/"e-6553f100"'):
        resp = request(server, "/s/a.txt", headers={"If-None-Match": value})
        assert resp.status == 200, value
        assert resp.body == b"hello static\n"


def test_if_modified_since(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    etag = etag_of(www / "a.txt")
    _assert_304(request(server, "/s/a.txt", headers={"If-Modified-Since": LAST_MODIFIED}), etag)
    later = formatdate(MTIME + 3600, usegmt=True)
    _assert_304(request(server, "/s/a.txt", headers={"If-Modified-Since": later}), etag)
    earlier = formatdate(MTIME - 1, usegmt=True)
    resp = request(server, "/s/a.txt", headers={"If-Modified-Since": earlier})
    assert resp.status == 200 and resp.body == b"hello static\n"
    resp = request(server, "/s/a.txt", headers={"If-Modified-Since": "not a date"})
    assert resp.status == 200 and resp.body == b"hello static\n"
    # If-None-Match wins: a non-matching tag with a satisfied date is a 200
    resp = request(server, "/s/a.txt", headers={"If-None-Match": '"nope"', "If-Modified-Since": later})
    assert resp.status == 200 and resp.body == b"hello static\n"


def test_head_is_headers_only_with_full_content_length(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    get_resp = request(server, "/s/big.txt")
    with RawConn(server.connect()) as conn:
        conn.send(b"HEAD /s/big.txt HTTP/1.1\r\nHost: test\r\nRange: bytes=0-9\r\n\r\n"
                  b"GET /s/a.txt HTTP/1.1\r\nHost: test\r\n\r\n")
        head = conn.read_response(head_request=True)
        assert head.status == 200, "Range is ignored for HEAD (docs/internals/static-files.md#responses)"
        assert head.header("content-length") == str(len(BIG_TEXT))
        assert head.header("content-type") == TEXT
        assert head.header("etag") == get_resp.header("etag")
        assert head.header("last-modified") == LAST_MODIFIED
        assert head.header("cache-control") == "public, max-age=300"
        assert conn.peek(9) == b"HTTP/1.1 ", "HEAD response carried body bytes"
        nxt = conn.read_response()
        assert nxt.status == 200 and nxt.body == b"hello static\n"


# --- gzip -------------------------------------------------------------------------------------


def test_gz_sibling_served_with_accept_encoding(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    gz = (www / "pre.js.gz").read_bytes()
    resp = request(server, "/s/pre.js", headers={"Accept-Encoding": "gzip, deflate"})
    assert resp.status == 200
    assert resp.header("content-encoding") == "gzip"
    assert "accept-encoding" in (resp.header("vary") or "").lower()
    assert resp.header("content-type") == "application/javascript"
    assert resp.body == gz
    assert resp.header("content-length") == str(len(gz))
    assert resp.header("etag") == etag_of(www / "pre.js.gz")
    assert gzip.decompress(resp.body) == (www / "pre.js").read_bytes()
    # 304 of the gzip representation keeps the gzip headers
    resp = request(server, "/s/pre.js", headers={"Accept-Encoding": "gzip",
                                                 "If-None-Match": etag_of(www / "pre.js.gz")})
    assert resp.status == 304
    assert resp.header("content-encoding") == "gzip"
    assert "accept-encoding" in (resp.header("vary") or "").lower()


def test_gz_sibling_wins_even_below_1024_bytes(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/small.css", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.header("content-encoding") == "gzip"
    assert resp.body == (www / "small.css.gz").read_bytes()
    assert resp.header("content-type") == "text/css; charset=utf-8"


def test_identity_when_gzip_not_accepted_still_varies(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/pre.js")
    assert resp.status == 200
    assert resp.header("content-encoding") is None
    assert resp.body == (www / "pre.js").read_bytes()
    assert resp.header("etag") == etag_of(www / "pre.js")
    assert "accept-encoding" in (resp.header("vary") or "").lower(), \
        "Vary: Accept-Encoding on every 200 of a file with a gzip variant (static-files.md#gzip)"


def test_on_the_fly_gzip_for_compressible_file(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    for attempt in range(2):  # second time from the LRU
        resp = request(server, "/s/big.txt", headers={"Accept-Encoding": "gzip"})
        assert resp.status == 200, attempt
        assert resp.header("content-encoding") == "gzip", attempt
        assert "accept-encoding" in (resp.header("vary") or "").lower()
        assert resp.header("content-type") == TEXT
        assert resp.header("content-length") == str(len(resp.body))
        assert len(resp.body) < len(BIG_TEXT)
        assert zlib.decompress(resp.body, 16 + zlib.MAX_WBITS) == BIG_TEXT, attempt
        assert resp.header("etag") == etag_of(www / "big.txt", "-gz")
    # 304 on the -gz tag
    resp = request(server, "/s/big.txt", headers={"Accept-Encoding": "gzip",
                                                 "If-None-Match": etag_of(www / "big.txt", "-gz")})
    assert resp.status == 304
    assert resp.header("content-encoding") == "gzip"
    # identity for a client without gzip, Vary still present
    resp = request(server, "/s/big.txt")
    assert resp.status == 200
    assert resp.header("content-encoding") is None
    assert resp.body == BIG_TEXT
    assert "accept-encoding" in (resp.header("vary") or "").lower()


def test_on_the_fly_gzip_size_boundary(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/at1024.txt", headers={"Accept-Encoding": "gzip"})
    assert resp.header("content-encoding") == "gzip", "1024 bytes is compressible (≥ 1024)"
    assert gzip.decompress(resp.body) == b"x" * 1024
    resp = request(server, "/s/at1023.txt", headers={"Accept-Encoding": "gzip"})
    assert resp.header("content-encoding") is None, "1023 bytes is below the on-the-fly minimum"
    assert resp.body == b"x" * 1023
    assert resp.header("vary") is None, "no gzip variant → no Vary"


def test_no_on_the_fly_gzip_for_incompressible_type(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/big.png", headers={"Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.header("content-encoding") is None
    assert resp.body == (www / "big.png").read_bytes()
    assert resp.header("vary") is None


@pytest.mark.parametrize("accept, gzipped", [
    ("gzip;q=0", False),
    ("gzip; q=0.0, deflate", False),
    ("gzip;q=0, *", False),
    ("deflate, br", False),
    ("identity", False),
    ("x-gzip", True),
    ("*", True),
    ("GZIP", True),
    ("deflate, gzip;q=0.5", True),
])
def test_accept_encoding_q_values(serve, www, accept, gzipped):
    server = start(serve, mounts=[["/s", str(www), False]])
    for path, plain in (("/s/big.txt", BIG_TEXT), ("/s/pre.js", (www / "pre.js").read_bytes())):
        resp = request(server, path, headers={"Accept-Encoding": accept})
        assert resp.status == 200, (accept, path)
        if gzipped:
            assert resp.header("content-encoding") == "gzip", (accept, path)
            assert gzip.decompress(resp.body) == plain, (accept, path)
        else:
            assert resp.header("content-encoding") is None, (accept, path)
            assert resp.body == plain, (accept, path)


# --- ranges (Pinned) --------------------------------------------------------------------------


def test_range_first_64_bytes(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/range.bin", headers={"Range": "bytes=0-63"})
    assert resp.status == 206
    assert resp.reason == "Partial Content"
    assert resp.body == RANGE_BYTES[:64]
    assert resp.header("content-length") == "64"
    assert resp.header("content-range") == "bytes 0-63/1024"
    assert resp.header("accept-ranges") == "bytes"
    assert resp.header("etag") == etag_of(www / "range.bin")
    assert resp.header("cache-control") == "public, max-age=300"


def test_range_suffix(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/range.bin", headers={"Range": "bytes=-32"})
    assert resp.status == 206
    assert resp.body == RANGE_BYTES[-32:]
    assert resp.header("content-range") == "bytes 992-1023/1024"


def test_range_open_ended_and_clamped(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/range.bin", headers={"Range": "bytes=1000-"})
    assert resp.status == 206
    assert resp.body == RANGE_BYTES[1000:]
    assert resp.header("content-range") == "bytes 1000-1023/1024"
    resp = request(server, "/s/range.bin", headers={"Range": "bytes=10-999999"})
    assert resp.status == 206
    assert resp.body == RANGE_BYTES[10:]
    assert resp.header("content-range") == "bytes 10-1023/1024"


@pytest.mark.parametrize("value", ["bytes=999999999-", "bytes=0-3,8-15", "bytes=1024-", "bytes=5-2",
                                   "bytes=-0", "bytes=abc", "bytes="])
def test_range_unsatisfiable_is_416(serve, www, value):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/range.bin", headers={"Range": value})
    assert resp.status == 416, value
    assert resp.header("content-range") == "bytes */1024", value
    assert resp.header("accept-ranges") == "bytes"
    assert resp.header("etag") == etag_of(www / "range.bin")
    assert resp.header("last-modified") == LAST_MODIFIED
    assert resp.header("cache-control") is None, "no Cache-Control on 416 (docs/internals/static-files.md)"
    assert resp.body == b""


def test_range_on_empty_file_is_416(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/empty.txt", headers={"Range": "bytes=0-0"})
    assert resp.status == 416
    assert resp.header("content-range") == "bytes */0"


def test_range_other_unit_is_ignored(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/range.bin", headers={"Range": "items=0-5"})
    assert resp.status == 200
    assert resp.body == RANGE_BYTES


def test_if_range(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    etag = etag_of(www / "range.bin")
    stale_date = formatdate(MTIME - 86400, usegmt=True)
    # A weak ETag, even the current one, is never a strong match (RFC 9110 §13.1.5).
    for stale in (stale_date, 'W/"400-1"', etag):
        resp = request(server, "/s/range.bin", headers={"Range": "bytes=0-63", "If-Range": stale})
        assert resp.status == 200, stale
        assert resp.body == RANGE_BYTES, stale
        assert resp.header("accept-ranges") == "bytes"
        assert resp.header("content-range") is None
    for fresh in (LAST_MODIFIED,):
        resp = request(server, "/s/range.bin", headers={"Range": "bytes=0-63", "If-Range": fresh})
        assert resp.status == 206, fresh
        assert resp.body == RANGE_BYTES[:64], fresh


def test_if_none_match_beats_range(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    etag = etag_of(www / "range.bin")
    resp = request(server, "/s/range.bin", headers={"Range": "bytes=0-63", "If-None-Match": etag})
    assert resp.status == 304


def test_range_on_compressible_file_gets_identity(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/big.txt", headers={"Range": "bytes=0-99", "Accept-Encoding": "gzip"})
    assert resp.status == 206
    assert resp.header("content-encoding") is None
    assert resp.body == BIG_TEXT[:100]
    assert resp.header("content-range") == f"bytes 0-99/{len(BIG_TEXT)}"


def test_range_over_gz_sibling_applies_to_gz_bytes(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    gz = (www / "pre.js.gz").read_bytes()
    resp = request(server, "/s/pre.js", headers={"Range": "bytes=0-9", "Accept-Encoding": "gzip"})
    assert resp.status == 206
    assert resp.header("content-encoding") == "gzip"
    assert resp.body == gz[:10]
    assert resp.header("content-range") == f"bytes 0-9/{len(gz)}"


# --- methods ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_non_get_on_mount_is_405_with_allow(serve, www, method):
    server = start(serve, mounts=[["/s", str(www), False]], files=[["/favicon.ico", str(www / "types" / "fav.ico")]])
    for target in ("/s/a.txt", "/s/nope.txt", "/favicon.ico"):
        resp = request(server, target, method=method, body=b"x=1" if method != "DELETE" else b"")
        assert resp.status == 405, (method, target)
        assert resp.body == b"Method Not Allowed"
        assert resp.header("allow") == "GET, HEAD", (method, target)
        assert resp.header("content-type") == TEXT
        assert resp.header("cache-control") is None


# --- traversal and containment ----------------------------------------------------------------


TRAVERSALS = [
    "/s/%2e%2e/outside/secret.txt",
    "/s/%2E%2E/secret.txt",
    "/s/%2e%2e%2fsecret.txt",
    "/s/..%2fsecret.txt",
    "/s/..%2Foutside%2Fsecret.txt",
    "/s/docs%2f..%2f..%2fsecret.txt",
    "/s/.%2e/secret.txt",
    "/s/%2e./secret.txt",
    "/s/%5c..%5csecret.txt",
    "/s/..%5csecret.txt",
    "/s/a.txt%00",
    "/s/a.txt%00.png",
    "/s/%00",
    "/s/link_out.txt",
    "/s/linkdir_out/secret.txt",
    "/s/%2e",
    "/s/docs/%2e%2e/%2e%2e/secret.txt",
    "/s/bad%zzescape.txt",
    "/s/bad%e",
]


def test_traversal_refused_with_missing_file_bytes(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    missing = request(server, "/s/does-not-exist.txt")
    assert missing.status == 404 and missing.body == b"Not Found"
    reference = without_date(missing)
    wrong = []
    for target in TRAVERSALS:
        resp = request(server, target)
        assert SECRET not in resp.body, f"{target} leaked the file outside the root"
        if without_date(resp) != reference:
            wrong.append(f"GET {target}: expected the missing-file 404 bytes, got {resp.status} "
                         f"{resp.headers} {resp.body[:80]!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("target", [
    "/s/../secret.txt",
    "/s/../outside/secret.txt",
    "/s/docs/../../secret.txt",
    "/s/..",
    "/s/..\\secret.txt",
    "/s/docs\\..\\..\\secret.txt",
])
def test_raw_dotdot_and_backslash_fall_through_to_python_404(serve, www, target):
    """Raw `..` segments and `\\` are not a static match (docs/internals/static-files.md#resolution): the
    request
    falls through to routing, which answers the native 404 (no route claims the path)."""
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, target)
    assert SECRET not in resp.body
    assert resp.status == 404, resp
    assert resp.body == b"Not Found"
    assert without_date(resp) == without_date(request(server, "/s/does-not-exist.txt"))
    assert json.loads(request(server, "/__seen").body) == [], "nothing reached a Python handler"


def test_raw_dotdot_reaches_python_when_a_route_claims_it(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]], catchall=True)
    resp = request(server, "/s/../secret.txt")
    assert SECRET not in resp.body
    assert resp.status == 200
    assert resp.body.startswith(b"caught GET /s/../secret.txt")


def test_symlink_inside_root_is_followed(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/link_in.txt")
    assert resp.status == 200
    assert resp.body == b"hello static\n"


def test_percent_decoded_names(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    cases = {
        "/s/a%20b.txt": b"space in name\n",
        "/s/a+b.txt": b"plus in name\n",
        "/s/a%2Bb.txt": b"plus in name\n",
        "/s/100%25.txt": b"percent in name\n",
        "/s/%C3%BC.txt": "umlaut\n".encode(),
        "/s/%61.txt": b"hello static\n",
        "/s/docs/page%2etxt": b"docs page\n",
    }
    for target, body in cases.items():
        resp = request(server, target)
        assert resp.status == 200, target
        assert resp.body == body, target
    # `+` stays `+`: no "a b.txt" through a plus
    assert request(server, "/s/a+b.txt").body != b"space in name\n"


# --- file mounts ------------------------------------------------------------------------------


def test_mount_file_exact_path(serve, www):
    fav = www / "types" / "fav.ico"
    server = start(serve, files=[["/favicon.ico", str(fav)]])
    resp = request(server, "/favicon.ico")
    assert resp.status == 200
    assert resp.body == fav.read_bytes()
    assert resp.header("content-type") == "image/x-icon"
    assert resp.header("etag") == etag_of(fav)
    assert resp.header("cache-control") == "public, max-age=300"
    assert request(server, "/favicon.ico?v=3").status == 200
    assert request(server, "/favicon.ico", headers={"If-None-Match": etag_of(fav)}).status == 304
    for target in ("/favicon.ico/", "/favicon.ICO", "/favicon.ico/x", "/favicon", "/%66avicon.ico"):
        resp = request(server, target)
        assert resp.status == 404, target
        assert resp.body == b"Not Found", target


def test_mount_file_wins_over_directory_mount(serve, www, tmp_path):
    other = write(tmp_path / "other.txt", b"the file mount\n")
    server = start(serve, mounts=[["/s", str(www), False]], files=[["/s/a.txt", str(other)]])
    assert request(server, "/s/a.txt").body == b"the file mount\n"
    assert request(server, "/s/docs/page.txt").body == b"docs page\n"


def test_directory_mounts_in_registration_order(serve, www, tmp_path):
    second = tmp_path / "second"
    write(second / "only-second.txt", b"second root\n")
    write(second / "a.txt", b"shadowed\n")
    server = start(serve, mounts=[["/s", str(www), False], ["/s/docs", str(second), False]])
    # /s is tried first and claims /s/docs/page.txt
    assert request(server, "/s/docs/page.txt").body == b"docs page\n"


# --- transfer ---------------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_file_streams_correctly_without_buffering(serve, tmp_path):
    root = tmp_path / "large"
    size = 20 * 1024 * 1024
    data = os.urandom(1024 * 1024) * 20
    write(root / "large.bin", data)
    expected = hashlib.sha256(data).hexdigest()
    server = start(serve, mounts=[["/big", str(root), False]])
    # warm up the process (first request, allocator arenas) before the baseline
    assert request(server, "/big/nope").status == 404
    before = _rss_kib(server.proc.pid)
    peak = before
    for _ in range(3):
        h = hashlib.sha256()
        n = 0
        with server.client.stream("GET", "/big/large.bin") as resp:
            assert resp.status_code == 200
            assert resp.headers["content-length"] == str(size)
            assert resp.headers["content-type"] == "application/octet-stream"
            for chunk in resp.iter_raw(1024 * 1024):
                h.update(chunk)
                n += len(chunk)
                peak = max(peak, _rss_kib(server.proc.pid))
        assert n == size
        assert h.hexdigest() == expected
    after = _rss_kib(server.proc.pid)
    grew_kib = max(peak, after) - before
    assert grew_kib < size // 1024 // 2, f"RSS grew by {grew_kib} KiB while serving a {size >> 20} MiB file"
    # a range deep inside the large file
    r = server.client.get("/big/large.bin", headers={"Range": "bytes=15728640-15728767"})
    assert r.status_code == 206
    assert r.content == data[15728640:15728768]


def test_static_served_while_python_thread_is_blocked(serve, www):
    server = start(serve, mounts=[["/s", str(www), False]])
    result: Dict[str, object] = {}

    def slow() -> None:
        t0 = time.monotonic()
        with RawConn(server.connect(), timeout=20) as conn:
            r = conn.request(b"GET /py/sleep?s=3 HTTP/1.1\r\nHost: test\r\n\r\n")
        result["status"], result["body"], result["elapsed"] = r.status, r.body, time.monotonic() - t0

    th = threading.Thread(target=slow)
    th.start()
    try:
        time.sleep(0.4)  # let the slow request reach the interpreter and start sleeping
        t0 = time.monotonic()
        resp = request(server, "/s/a.txt")
        static_elapsed = time.monotonic() - t0
        t0 = time.monotonic()
        missing = request(server, "/no/such/route")
        notfound_elapsed = time.monotonic() - t0
        t0 = time.monotonic()
        big = request(server, "/s/big.txt", headers={"Accept-Encoding": "gzip"})
        gzip_elapsed = time.monotonic() - t0
    finally:
        th.join(timeout=20)
    assert resp.status == 200 and resp.body == b"hello static\n"
    assert missing.status == 404 and missing.body == b"Not Found"
    assert big.status == 200 and gzip.decompress(big.body) == BIG_TEXT
    assert result.get("status") == 200 and result.get("body") == b"slept", result
    assert result["elapsed"] >= 2.9, result  # the handler really held the interpreter
    assert static_elapsed < 0.5, f"static file took {static_elapsed:.2f}s while Python slept"
    assert notfound_elapsed < 0.5, f"native 404 took {notfound_elapsed:.2f}s while Python slept"
    assert gzip_elapsed < 0.5, f"on-the-fly gzip took {gzip_elapsed:.2f}s while Python slept"


def test_static_never_reaches_python(serve, www):
    server = start(serve, mounts=[["/s", str(www), True]], catchall=True)
    for target in ("/s/a.txt", "/s/nope.txt", "/s", "/s/docs", "/s/%2e%2e/secret.txt", "/s/link_out.txt"):
        request(server, target)
    request(server, "/s/a.txt", method="POST", body=b"x")
    assert json.loads(request(server, "/__seen").body) == []
