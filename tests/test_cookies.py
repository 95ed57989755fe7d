"""Cookies: Set-Cookie helpers (docs/internals/requests-responses.md#cookies) and the request side
(docs/internals/requests-responses.md#request `cookies`), in
process and on the wire (tests/apps/rr_cookies.py)."""
from __future__ import annotations

import datetime as dt
import re
import time
from email.utils import parsedate_to_datetime

import httpx
import pytest

from conftest import raw_request
from viperhttp.responses import JSONResponse, Response, delete_cookie, set_cookie

ALL = ("sid=abc123; Path=/app; Domain=example.com; Max-Age=3600; Expires=Wed, 21 Oct 2037 07:28:00 GMT; "
       "Secure; HttpOnly; SameSite=Strict")
DELETED = "old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax"


def cookies_of(resp):
    return [v for k, v in resp["headers"] if k == "Set-Cookie"]


def test_attribute_order_and_defaults():
    r = Response(body="x")
    r.set_cookie("sid", "abc123", max_age=3600, expires="Wed, 21 Oct 2037 07:28:00 GMT", path="/app",
                 domain="example.com", secure=True, httponly=True, samesite="strict")
    r.set_cookie("theme", "dark")
    r.set_cookie("cross", "1", secure=True, samesite="None", path=None)
    r.set_cookie("nosite", "v", samesite=None)
    r.delete_cookie("old")
    assert cookies_of(r) == [ALL, "theme=dark; Path=/; SameSite=Lax", "cross=1; Secure; SameSite=None",
                             "nosite=v; Path=/", DELETED]


def test_dict_headers_become_a_list_keeping_entries():
    r = Response(body="x", headers={"X-A": "1", "X-B": "2"})
    assert r.set_cookie("a", "1") is r
    assert r["headers"] == [("X-A", "1"), ("X-B", "2"), ("Set-Cookie", "a=1; Path=/; SameSite=Lax")]
    plain = {"__vhttp_response__": True, "body": "x"}
    assert set_cookie(plain, "k", "v", samesite="LAX") is plain
    assert plain["headers"] == [("Set-Cookie", "k=v; Path=/; SameSite=Lax")]
    tup = {"__vhttp_response__": True, "headers": (("X", "y"),)}
    delete_cookie(tup, "gone", path="/p", domain="d", secure=True, httponly=True, samesite="strict")
    assert tup["headers"] == [("X", "y"), ("Set-Cookie", "gone=; Path=/p; Domain=d; Max-Age=0; "
                              "Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Strict")]


def test_expires_forms():
    r = Response()
    before = time.time()
    r.set_cookie("a", expires=120)
    value = cookies_of(r)[0]
    assert value.startswith("a=; Path=/; Expires=") and value.endswith(" GMT; SameSite=Lax")
    when = parsedate_to_datetime(re.search(r"Expires=([^;]+)", value).group(1)).timestamp()
    assert before + 118 <= when <= time.time() + 121
    r = Response()
    r.set_cookie("b", "1", expires=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), max_age=0)
    assert cookies_of(r) == ["b=1; Path=/; Max-Age=0; Expires=Wed, 02 Jan 2030 03:04:05 GMT; SameSite=Lax"]
    with pytest.raises(TypeError):
        Response().set_cookie("c", expires=[1])


@pytest.mark.parametrize("kwargs", [
    {"key": ""}, {"key": "a b"}, {"key": "a=b"}, {"key": "a;b"}, {"key": None},
    {"key": "k", "value": "x\r\nInjected: 1"}, {"key": "k", "value": "a;b"},
    {"key": "k", "path": "/\n"}, {"key": "k", "domain": "a;b"}, {"key": "k", "samesite": "sometimes"},
])
def test_invalid_cookie_arguments(kwargs):
    with pytest.raises(ValueError):
        set_cookie(Response(), **kwargs)


def test_value_emitted_as_given():
    r = JSONResponse(body={})
    r.set_cookie("q", "a=b%20c!#$&'()*+-./:<=>?@[]^_`{|}~")
    r.set_cookie("d", '"quoted-octets"')
    assert cookies_of(r) == ["q=a=b%20c!#$&'()*+-./:<=>?@[]^_`{|}~; Path=/; SameSite=Lax",
                             'd="quoted-octets"; Path=/; SameSite=Lax']


@pytest.mark.parametrize("value", ['"quoted value",x=1', "a b", "a,b", 'a"b', "a\\b", '"a b"', "é",
                                   "\x01", "\x7f", "\t"])
def test_value_outside_cookie_octets_is_refused(value):
    # RFC 6265 §4.1.1: no space, DQUOTE (except one surrounding pair), comma, semicolon,
    # backslash, control or non-ASCII character; nothing is quoted silently.
    with pytest.raises(ValueError, match="invalid cookie value"):
        Response().set_cookie("q", value)


# --- over a real socket ----------------------------------------------------------------------


def set_cookie_lines(server, path: str) -> list:
    with server.connect() as sock:
        resp = raw_request(sock, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = resp.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    assert head[0].startswith("HTTP/1.1 200"), head
    return [line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("set-cookie:")], head


def test_http_set_cookie_lines(serve):
    server = serve("apps/rr_cookies.py")
    lines, head = set_cookie_lines(server, "/set")
    assert lines == [ALL, "theme=dark; Path=/; SameSite=Lax", "cross=1; Secure; SameSite=None",
                     "nosite=v; Path=/", DELETED]
    assert "x-keep: k" in [h.lower() for h in head]
    lines, head = set_cookie_lines(server, "/set-module")
    assert lines == ["a=1; Path=/; SameSite=Lax", "b=2; Path=/; HttpOnly; SameSite=Lax",
                     "c=; Path=/p; Domain=d.example; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax"]
    assert "x-first: 1" in [h.lower() for h in head]
    r = server.client.get("/set-expires")
    assert r.json() == {"ok": True}
    [value] = r.headers.get_list("set-cookie")
    assert re.fullmatch(r"soon=x; Path=/; Expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT; SameSite=Lax", value)


def test_http_cookie_round_trip(serve):
    server = serve("apps/rr_cookies.py")
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
        r = client.get("/set-module")  # a=1 and b=2 apply to "/", c is deleted
        assert r.status_code == 200
        assert dict(client.cookies) == {"a": "1", "b": "2"}
        assert client.get("/cookies").json()["cookies"] == {"a": "1", "b": "2"}
    r = server.client.get("/cookies", headers={"Cookie": 'x=1; y="q"; x=2; ; novalue; sp = a b\t; =e'})
    assert r.json() == {"cookies": {"x": "2", "y": '"q"', "novalue": "", "sp": "a b"},
                        "raw": 'x=1; y="q"; x=2; ; novalue; sp = a b\t; =e'}
