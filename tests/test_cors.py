"""Native CORS, end to end over real sockets (docs/internals/cors-hosts-ratelimit.md#cors-corsrs).

The app (tests/apps/native_app.py) records every request that reaches a Python handler; GET
/__seen returns that list, which is how the tests prove a preflight never reaches Python.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from support.http1 import RawConn, RawResponse

APP = "apps/native_app.py"
TEXT = "text/plain; charset=utf-8"
DEFAULT_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"
ORIGIN = "https://app.example"


def start(serve, **config):
    return serve(APP, env={"NATIVE_APP_CONFIG": json.dumps(config)})


def request(server, target: str, *, method: str = "GET", headers: Optional[Dict[str, str]] = None,
            body: bytes = b"") -> RawResponse:
    lines = [f"{method} {target} HTTP/1.1", "Host: test"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with RawConn(server.connect()) as conn:
        return conn.request(raw, head_request=(method == "HEAD"))


def preflight(server, target: str = "/py/any", origin: str = ORIGIN, method: str = "POST",
              extra: Optional[Dict[str, str]] = None) -> RawResponse:
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    headers.update(extra or {})
    return request(server, target, method="OPTIONS", headers=headers)


def seen(server) -> List[str]:
    return json.loads(request(server, "/__seen").body)


def cors_headers(resp: RawResponse) -> Dict[str, str]:
    return {n.lower(): v for n, v in resp.headers if n.lower().startswith("access-control-")}


def vary_tokens(resp: RawResponse) -> List[str]:
    return [t.strip().lower() for v in resp.header_all("vary") for t in v.split(",") if t.strip()]


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    (root / "docs").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"static body\n")
    (root / "docs" / "index.html").write_bytes(b"<p>docs</p>\n")
    (root / "big.txt").write_bytes(b"compressible text line\n" * 100)
    return root


# --- preflight ----------------------------------------------------------------------------------


def test_preflight_any_origin_pinned_star(serve):
    server = start(serve, cors={}, catchall=True)
    resp = preflight(server, extra={"Access-Control-Request-Headers": "X-Custom, Content-Type"})
    assert resp.status == 204
    assert resp.reason == "No Content"
    assert resp.body == b""
    assert resp.header("content-length") is None, "204 carries no Content-Length (docs/internals/http.md)"
    assert resp.header("content-type") is None
    assert cors_headers(resp) == {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": DEFAULT_METHODS,
        "access-control-allow-headers": "*",
        "access-control-max-age": "600",
    }
    assert "origin" not in vary_tokens(resp), "nothing echoed, no credentials → no Vary: Origin"
    assert (resp.header("connection") or "").lower() == "keep-alive"


def test_preflight_never_reaches_python(serve, www):
    server = start(serve, cors={"allow_origins": [ORIGIN]}, catchall=True,
                   mounts=[["/s", str(www), False]])
    for target in ("/py/any", "/py/hello", "/anything/else", "/", "/s/a.txt", "/s/nope"):
        resp = preflight(server, target=target)
        assert resp.status == 204, target
        assert resp.header("access-control-allow-origin") == ORIGIN, target
        resp = preflight(server, target=target, origin="https://evil.example")
        assert resp.status == 403, target
    assert seen(server) == [], "a preflight reached a Python handler"
    # an OPTIONS without Access-Control-Request-Method is an ordinary request for Python
    resp = request(server, "/py/any", method="OPTIONS", headers={"Origin": ORIGIN})
    assert resp.status == 200
    assert resp.body == b"any OPTIONS"
    assert resp.header("access-control-allow-origin") == ORIGIN
    assert seen(server) == ["OPTIONS /py/any"]


def test_preflight_with_empty_request_method_is_not_a_preflight(serve):
    server = start(serve, cors={}, catchall=True)
    resp = request(server, "/py/any", method="OPTIONS",
                   headers={"Origin": ORIGIN, "Access-Control-Request-Method": ""})
    assert resp.status == 200
    assert resp.body == b"any OPTIONS"
    assert seen(server) == ["OPTIONS /py/any"]


def test_forbidden_origin_preflight_is_403(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN, "https://other.example"]}, catchall=True)
    for origin in ("https://evil.example", "https://app.example.evil", "http://app.example",
                   "https://APP.example", "null"):
        resp = preflight(server, origin=origin)
        assert resp.status == 403, origin
        assert resp.reason == "Forbidden"
        assert resp.body == b"CORS Forbidden", origin
        assert resp.header("content-type") == TEXT
        assert cors_headers(resp) == {}, (origin, resp.headers)
        assert (resp.header("connection") or "").lower() == "keep-alive"
    assert seen(server) == []


def test_preflight_custom_lists_and_max_age(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN], "allow_methods": ["GET", "POST"],
                                "allow_headers": ["X-A", "X-B"], "max_age": 123})
    resp = preflight(server, extra={"Access-Control-Request-Headers": "X-Z"})
    assert resp.status == 204
    assert cors_headers(resp) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "X-A, X-B",
        "access-control-max-age": "123",
    }
    assert "origin" in vary_tokens(resp)


def test_preflight_is_not_checked_against_configured_lists(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN], "allow_methods": ["GET"]})
    resp = preflight(server, method="DELETE", extra={"Access-Control-Request-Headers": "X-Nope"})
    assert resp.status == 204, "the browser checks the lists, not the server"
    assert resp.header("access-control-allow-methods") == "GET"


def test_max_age_zero_omits_header(serve):
    server = start(serve, cors={"max_age": 0})
    resp = preflight(server)
    assert resp.status == 204
    assert resp.header("access-control-max-age") is None, resp.headers
    assert resp.header("access-control-allow-origin") == "*"


def test_allow_methods_star_is_default_list(serve):
    server = start(serve, cors={"allow_methods": "*"})
    assert preflight(server).header("access-control-allow-methods") == DEFAULT_METHODS


# --- credentials ----------------------------------------------------------------------------


def test_credentials_echo_origin_and_vary(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN], "allow_credentials": True})
    resp = request(server, "/py/hello", headers={"Origin": ORIGIN})
    assert resp.status == 200
    assert resp.body == b"hello from python"
    assert resp.header("access-control-allow-origin") == ORIGIN
    assert resp.header("access-control-allow-credentials") == "true"
    assert "origin" in vary_tokens(resp)
    assert resp.header("access-control-allow-methods") is None, "preflight-only header on a simple response"
    assert resp.header("access-control-max-age") is None


def test_credentials_with_a_listed_origin_echo_it(serve):
    server = start(serve, cors={"allow_origins": ["https://whoever.test"], "allow_credentials": True})
    resp = request(server, "/py/hello", headers={"Origin": "https://whoever.test"})
    assert resp.header("access-control-allow-origin") == "https://whoever.test"
    assert resp.header("access-control-allow-credentials") == "true"
    assert "origin" in vary_tokens(resp)
    # `*` with credentials is refused at configuration (tests/test_hardening.py).


def test_credentials_preflight_echoes_request_headers(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN], "allow_credentials": True})
    resp = preflight(server, extra={"Access-Control-Request-Headers": "X-Custom, Content-Type"})
    assert resp.status == 204
    assert resp.header("access-control-allow-headers") == "X-Custom, Content-Type"
    assert resp.header("access-control-allow-credentials") == "true"
    assert resp.header("access-control-allow-origin") == ORIGIN
    assert "origin" in vary_tokens(resp)
    resp = preflight(server)  # no request headers → `*`
    assert resp.header("access-control-allow-headers") == "*"


def test_any_origin_simple_request_is_star_without_vary(serve):
    server = start(serve, cors={})
    resp = request(server, "/py/hello", headers={"Origin": "https://whoever.test"})
    assert resp.header("access-control-allow-origin") == "*"
    assert resp.header("access-control-allow-credentials") is None
    assert "origin" not in vary_tokens(resp)


# --- origin matching ------------------------------------------------------------------------


@pytest.mark.parametrize("origin, allowed", [
    ("https://a.example.com", True),
    ("https://deep.sub.example.com", True),
    ("http://x.example.com", True),
    ("https://example.com", False),
    ("https://evilexample.com", False),
    ("https://a.example.com.evil.test", False),
    ("https://exact.test", True),
    ("https://EXACT.test", False),
    ("https://exact.test:8443", False),
])
def test_wildcard_and_exact_origin_entries(serve, origin, allowed):
    server = start(serve, cors={"allow_origins": ["*.example.com", "https://exact.test"]})
    pre = preflight(server, origin=origin)
    simple = request(server, "/py/hello", headers={"Origin": origin})
    assert simple.status == 200
    if allowed:
        assert pre.status == 204, origin
        assert pre.header("access-control-allow-origin") == origin
        assert simple.header("access-control-allow-origin") == origin
        assert "origin" in vary_tokens(simple)
    else:
        assert pre.status == 403, origin
        assert cors_headers(simple) == {}, (origin, simple.headers)


def test_star_anywhere_in_list_allows_any(serve):
    server = start(serve, cors={"allow_origins": ["https://a.test", "*"]})
    assert request(server, "/py/hello", headers={"Origin": "https://z.test"}).header(
        "access-control-allow-origin") == "*"


def test_no_cors_headers_without_origin_or_when_not_allowed(serve, www):
    """No CORS headers; but `Vary: Origin`, as Starlette sends: the answer depends on the origin,
    and a shared cache must not give this response to an allowed origin's request."""
    server = start(serve, cors={"allow_origins": [ORIGIN], "expose_headers": ["X-Trace"]},
                   mounts=[["/s", str(www), False]])
    for target in ("/py/hello", "/s/a.txt", "/no/route"):
        for headers in ({}, {"Origin": ""}, {"Origin": "https://evil.example"}):
            resp = request(server, target, headers=headers)
            assert cors_headers(resp) == {}, (target, headers, resp.headers)
            assert vary_tokens(resp).count("origin") == 1, (target, headers, resp.headers)
    # Any origin without credentials: `*` for everyone, nothing varies.
    star = start(serve, cors={}, mounts=[["/s", str(www), False]])
    for target in ("/py/hello", "/s/a.txt"):
        assert "origin" not in vary_tokens(request(star, target)), target
    # OPTIONS + ACRM without Origin is not a preflight: it is routed normally
    resp = request(server, "/py/hello", method="OPTIONS", headers={"Access-Control-Request-Method": "GET"})
    assert resp.status == 405
    assert cors_headers(resp) == {}


# --- expose headers -------------------------------------------------------------------------


def test_expose_headers(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN], "expose_headers": ["X-Trace", "X-Other"]})
    resp = request(server, "/py/hello", headers={"Origin": ORIGIN})
    assert resp.header("access-control-expose-headers") == "X-Trace, X-Other"
    resp = preflight(server)
    assert resp.header("access-control-expose-headers") == "X-Trace, X-Other"
    resp = request(server, "/py/hello")
    assert resp.header("access-control-expose-headers") is None


# --- where the headers go -------------------------------------------------------------------


def test_cors_headers_on_python_responses(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN], "expose_headers": "X-Body-Len"})
    resp = request(server, "/py/echo", method="POST", headers={"Origin": ORIGIN}, body=b"abc")
    assert resp.status == 200
    assert resp.body == b"abc"
    assert resp.header("x-body-len") == "3"
    assert resp.header("access-control-allow-origin") == ORIGIN
    assert resp.header("access-control-expose-headers") == "X-Body-Len"


def test_python_own_allow_origin_is_not_duplicated(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN], "allow_credentials": True})
    resp = request(server, "/py/own-cors", headers={"Origin": ORIGIN})
    assert resp.status == 200
    assert resp.header_all("access-control-allow-origin") == ["https://own.example"]
    assert resp.header("access-control-allow-credentials") is None


def test_cors_headers_on_static_responses(serve, www):
    server = start(serve, cors={"allow_origins": [ORIGIN]}, mounts=[["/s", str(www), True]])
    h = {"Origin": ORIGIN}
    ok = request(server, "/s/a.txt", headers=h)
    assert ok.status == 200
    etag = ok.header("etag")
    cases = {
        "200": request(server, "/s/a.txt", headers=h),
        "304": request(server, "/s/a.txt", headers={**h, "If-None-Match": etag}),
        "206": request(server, "/s/a.txt", headers={**h, "Range": "bytes=0-3"}),
        "416": request(server, "/s/a.txt", headers={**h, "Range": "bytes=100-"}),
        "307": request(server, "/s/docs", headers=h),
        "404": request(server, "/s/missing.txt", headers=h),
        "405": request(server, "/s/a.txt", method="POST", headers=h, body=b"x"),
        "HEAD": request(server, "/s/a.txt", method="HEAD", headers=h),
    }
    expected_status = {"200": 200, "304": 304, "206": 206, "416": 416, "307": 307, "404": 404, "405": 405,
                       "HEAD": 200}
    for name, resp in cases.items():
        assert resp.status == expected_status[name], name
        assert resp.header("access-control-allow-origin") == ORIGIN, (name, resp.headers)
        assert "origin" in vary_tokens(resp), (name, resp.headers)


def test_vary_origin_added_next_to_accept_encoding(serve, www):
    server = start(serve, cors={"allow_origins": [ORIGIN]}, mounts=[["/s", str(www), False]])
    resp = request(server, "/s/big.txt", headers={"Origin": ORIGIN, "Accept-Encoding": "gzip"})
    assert resp.status == 200
    assert resp.header("content-encoding") == "gzip"
    tokens = vary_tokens(resp)
    assert "origin" in tokens and "accept-encoding" in tokens, resp.headers


def test_cors_headers_on_native_404_and_405(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN]})
    resp = request(server, "/no/such/route", headers={"Origin": ORIGIN})
    assert resp.status == 404 and resp.body == b"Not Found"
    assert resp.header("access-control-allow-origin") == ORIGIN
    resp = request(server, "/py/hello", method="DELETE", headers={"Origin": ORIGIN})
    assert resp.status == 405 and resp.body == b"Method Not Allowed"
    assert resp.header("allow") == "GET, HEAD"
    assert resp.header("access-control-allow-origin") == ORIGIN


def test_cors_headers_on_413_while_reading_a_chunked_body(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN]}, run={"max_body_size": 16})
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nOrigin: " + ORIGIN.encode()
                            + b"\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n" + b"x" * 17 + b"\r\n0\r\n\r\n")
    assert resp.status == 413
    assert resp.header("access-control-allow-origin") == ORIGIN


def test_413_from_content_length_is_a_head_rejection_without_cors(serve):
    """(decision, docs/internals/http.md) a Content-Length over the limit is refused by the head guard,
    before CORS is evaluated — like 414/431 — so it carries no CORS headers."""
    server = start(serve, cors={"allow_origins": [ORIGIN]}, run={"max_body_size": 16})
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"POST /py/echo HTTP/1.1\r\nHost: test\r\nOrigin: " + ORIGIN.encode()
                            + b"\r\nContent-Length: 17\r\n\r\n")
    assert resp.status == 413
    assert resp.header("access-control-allow-origin") is None


def test_cors_headers_on_429(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN]}, ratelimit={"rate": 1, "burst": 1})
    assert request(server, "/py/hello", headers={"Origin": ORIGIN}).status == 200
    resp = request(server, "/py/hello", headers={"Origin": ORIGIN})
    assert resp.status == 429
    assert resp.header("access-control-allow-origin") == ORIGIN


def test_no_cors_headers_on_unknown_method_405(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN]})
    resp = request(server, "/py/hello", method="BREW", headers={"Origin": ORIGIN})
    assert resp.status == 405
    assert resp.body == b"Method Not Allowed"
    assert resp.header("allow") is None
    assert cors_headers(resp) == {}, "the unknown-method 405 is decided before CORS"


def test_no_cors_headers_on_parse_error(serve):
    server = start(serve, cors={"allow_origins": [ORIGIN]})
    with RawConn(server.connect()) as conn:
        resp = conn.request(b"GET /py/hello HTTP/1.1\r\nHost: test\r\nOrigin: " + ORIGIN.encode()
                            + b"\r\nBad Header\r\n\r\n")
    assert resp.status == 400
    assert cors_headers(resp) == {}
