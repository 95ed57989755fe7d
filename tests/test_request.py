"""Request object (docs/internals/requests-responses.md#request) and query parsing
(docs/internals/requests-responses.md#request): in-process unit tests of the parsers,
then every member over a real socket (tests/apps/rr_request.py)."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from conftest import raw_request
from viperhttp.exceptions import HTTPException
from viperhttp.request import Headers, QueryParams, Request, State, parse_cookies, parse_query

FW = "apps/framework_surface_app.py"

# --- parse_query (docs/internals/requests-responses.md#request) ---------------------------------------------


@pytest.mark.parametrize("limit", [1, 0, -2])
def test_parse_query_limit_below_two_reads_one_pair(limit):
    # The pair that reaches the limit is always read; a limit below 1 is no error (fuzz finding).
    assert parse_query("a=1&b=2", limit) == {"a": "1"}
    assert parse_query("=x&a+b=%41&c=3", limit) == {"a b": "A"}
    assert QueryParams.getlist(parse_query("a=1&a=2"), "a") == ["1", "2"]


def test_parse_query_basic_and_decoding():
    q = parse_query("a=1&b=x+y&c=%41%4a%4A&d&e=&f=a=b")
    assert q == {"a": "1", "b": "x y", "c": "AJJ", "d": "", "e": "", "f": "a=b"}
    assert isinstance(q, QueryParams) and isinstance(q, dict)


def test_parse_query_bad_percent_stays_literal():
    q = parse_query("a=%zz&b=%4&c=%&d=100%25&e=%g1")
    assert q == {"a": "%zz", "b": "%4", "c": "%", "d": "100%", "e": "%g1"}


def test_parse_query_utf8_and_replacement_char():
    q = parse_query("u=caf%C3%A9&bad=%E9x&k%C3%A9y=v")
    assert q["u"] == "café"
    assert q["bad"] == "\ufffdx"
    assert q["kéy"] == "v"


# One decoder (crates/viperhttp-runtime/src/percent.rs) for path parameters, query strings and
# urlencoded forms: `+` is a space only in queries and forms; the rest is the same.
PERCENT = [
    ("a%20b", "a b", "a b"),
    ("a+b", "a+b", "a b"),
    ("%2B", "+", "+"),
    ("%zz%4", "%zz%4", "%zz%4"),
    ("100%", "100%", "100%"),
    ("%%41", "%A", "%A"),
    ("%C3%A9%c3%a9", "éé", "éé"),
    ("%FF", "\ufffd", "\ufffd"),
    ("a%E2%82z", "a\ufffdz", "a\ufffdz"),
]


@pytest.mark.parametrize("raw,in_path,in_query", PERCENT)
def test_one_percent_decoder_for_paths_queries_and_forms(raw, in_path, in_query):
    import viperhttp
    from viperhttp import _native
    from viperhttp.forms import parse_urlencoded

    viperhttp.reset()
    try:
        viperhttp.ViperHTTP().get("/p/{x}")(lambda x: x)
        _, params = _native.route_match("GET", "/p/" + raw)
    finally:
        viperhttp.reset()
    assert params == {"x": in_path}
    assert parse_query("x=" + raw)["x"] == in_query
    assert parse_urlencoded(("x=" + raw).encode())["x"] == in_query
    assert _native.percent_decode(raw.encode(), True).decode("utf-8", "replace") == in_query


def test_parse_query_raw_non_ascii_latin1_view():
    # The native side hands the raw target over latin-1 decoded: UTF-8 bytes of "é".
    raw = "n=" + "é".encode("utf-8").decode("latin-1")
    assert parse_query(raw)["n"] == "é"
    # A hand-built str with real Unicode still works.
    assert parse_query("n=é")["n"] == "é"


def test_parse_query_first_wins_and_getlist():
    q = parse_query("a=1&b=2&a=3&a=4")
    assert q["a"] == "1"
    assert q.getlist("a") == ["1", "3", "4"]
    assert q.getlist("b") == ["2"]
    assert q.getlist("missing") == []


def test_parse_query_empty_keys_ignored():
    assert parse_query("=1&&=&a=2&") == {"a": "2"}
    assert parse_query("") == {}


def test_parse_query_64_pair_limit():
    qs = "&".join(f"k{i}={i}" for i in range(70))
    q = parse_query(qs)
    assert len(q) == 64 and "k63" in q and "k64" not in q
    rep = "&".join(["x=1"] * 63 + ["x=last", "x=ignored", "y=ignored"])
    q = parse_query(rep)
    assert q.getlist("x") == ["1"] * 63 + ["last"]
    assert "y" not in q


def test_parse_query_bytes_input():
    assert parse_query(b"a=%20") == {"a": " "}


# --- headers and cookies ---------------------------------------------------------------------


def test_headers_from_blob_case_insensitive_and_repeats():
    blob = b"host\0h\0x-a\0one\0cookie\0a=1\0x-a\0two\0cookie\0b=2\0"
    r = Request._from_native(1, "GET", "/", "", blob, b"", None, "http", "1.1")
    h = r.headers
    assert isinstance(h, dict) and isinstance(h, Headers)
    assert h["X-A"] == "one, two" and h.get("x-a") == "one, two"
    assert h["cookie"] == "a=1; b=2"
    assert "HOST" in h and "nope" not in h and 5 not in h
    assert h.get(None) is None and h.get("Missing", "d") == "d"
    assert list(h) == ["host", "x-a", "cookie"]
    assert h.getlist("X-A") == ["one", "two"] and h.getlist("host") == ["h"] and h.getlist("no") == []
    h["X-A"] = "set"  # a value the app sets replaces the received lines
    assert h.getlist("x-a") == ["set"]


def test_headers_blob_non_utf8_value():
    blob = b"x-bin\0caf\xe9\0x-ok\0\xc3\xa9\0"
    r = Request._from_native(1, "GET", "/", "", blob, b"", None, "http", "1.1")
    assert r.headers["x-bin"] == "caf\xe9"  # latin-1, byte for byte
    assert r.headers["x-ok"] == "é"


def test_headers_public_constructor_forms():
    r = Request(headers={"X-Test": "yes", "Cookie": "a=1"})
    assert r.headers["x-test"] == "yes" and r.cookies == {"a": "1"}
    r = Request(headers=[("X-M", "1"), ("x-m", "2"), (b"Cookie", b"a=1"), ("cookie", "b=2")])
    assert r.headers["x-m"] == "1, 2"
    assert r.cookies == {"a": "1", "b": "2"}


@pytest.mark.parametrize("header,expected", [
    ("session=abc; theme=dark; empty=; spaced = value",
     {"session": "abc", "theme": "dark", "empty": "", "spaced": "value"}),
    ("a=1;a=2", {"a": "2"}),                      # later duplicates overwrite
    ("flag; =x; ;b=2", {"flag": "", "b": "2"}),    # no "=" → "", empty names skipped
    ('q="quoted"; p=%20', {"q": '"quoted"', "p": "%20"}),  # no unquoting / decoding
    ("\ta\r\n=\t1\n", {"a": "1"}),                # spaces, tabs, CR, LF trimmed
    ("k=a=b=c", {"k": "a=b=c"}),                  # split at the first "="
    ("", {}),
])
def test_parse_cookies(header, expected):
    assert parse_cookies(header) == expected


# --- Request object ----------------------------------------------------------------------------


def test_from_native_is_lazy():
    r = Request._from_native(7, "POST", "/p", "a=1", b"host\0h\0", b"x", ("1.2.3.4", 5), "https", "2")
    assert r.__dict__ == {}  # nothing parsed or stored beyond the slots
    assert (r.request_id, r.method, r.path, r.query, r.body) == (7, "POST", "/p", "a=1", b"x")
    assert (r.client, r.scheme, r.http_version) == (("1.2.3.4", 5), "https", "2")
    assert r._background is None and r.session is None and r.user is None
    assert r.__dict__ == {}
    routed = Request._from_native(8, "GET", "/u/1", "", b"", b"", None, "http", "1.1", 3, {"id": 1})
    assert routed._route == ("GET", "/u/1", 3, {"id": 1}) and routed.__dict__ == {}  # slots only
    routed.path_params = {"id": 2}
    assert routed.path_params == {"id": 2} and routed.__dict__ == {}
    assert r.query_params == {"a": "1"}
    assert "_qp" in r.__dict__ and "_headers" not in r.__dict__
    assert r.url == "https://h/p?a=1"


def test_public_constructor_defaults():
    r = Request()
    assert (r.method, r.path, r.query, r.body) == ("GET", "/", "", b"")
    assert r.headers == {} and r.cookies == {} and r.query_params == {}
    assert r.client is None and r.scheme == "http" and r.http_version == "1.1"
    assert r.url == "http://localhost/"
    r = Request("post", "/a?x=1", body="é")
    assert (r.method, r.path, r.query, r.body) == ("POST", "/a", "x=1", "é".encode())
    assert r.query_string == "x=1"


def test_query_params_setter_keeps_getlist():
    r = Request(path="/", query="page=2&tag=a&tag=b")
    r.query_params = {"page": 2, "tag": "a"}  # the framework's converted values
    assert r.query_params["page"] == 2
    assert isinstance(r.query_params, QueryParams)
    assert r.query_params.getlist("tag") == ["a", "b"]
    assert r.query_params.getlist("page") == ["2"]
    r.query_params = None
    assert r.query_params == {"page": "2", "tag": "a"}


def test_path_params_state_session_user_and_free_attributes():
    r = Request()
    assert r.path_params == {}
    r.path_params = {"id": 3}
    assert r.path_params == {"id": 3}
    assert isinstance(r.state, State) and isinstance(r.state, dict)
    r.state.x = 1
    assert r.state["x"] == 1
    with pytest.raises(AttributeError):
        r.state.missing
    del r.state.x
    assert r.state == {}
    r.state = {"y": 2}
    assert r.state.y == 2
    r.session, r.user, r.anything = {"s": 1}, "bob", 42
    assert (r.session, r.user, r.anything) == ({"s": 1}, "bob", 42)
    r.cookies = {"c": "d"}
    assert r.cookies == {"c": "d"}


def test_json_ok_cached_and_null():
    r = Request(body=b'{"a": [1, 2]}')
    first = r.json()
    assert first == {"a": [1, 2]} and r.json() is first
    r = Request(body=b"null")
    assert r.json() is None and r.json() is None
    assert asyncio.run(Request(body=b"[1]").ajson()) == [1]


@pytest.mark.parametrize("body", [b"", b"{bad", b"\xff\xfe{", b"[" * 100000, b"NaN", b"[Infinity]"])
def test_json_invalid(body):
    with pytest.raises(HTTPException) as info:
        Request(body=body).json()
    assert info.value.status_code == 400 and info.value.detail == "Invalid JSON"


def test_json_non_bytes_body():
    r = Request()
    r.body = "not bytes"
    with pytest.raises(HTTPException):
        r.json()


def test_is_disconnected_without_runtime_flag():
    assert asyncio.run(Request().is_disconnected()) is False


def test_repr():
    assert repr(Request("GET", "/x", "a=1")) == "<Request GET /x?a=1>"


# --- over a real socket ----------------------------------------------------------------------


def _raw_json(server, data: bytes) -> dict:
    """Send raw request bytes (so the query reaches the server exactly as written)."""
    with server.connect() as sock:
        resp = raw_request(sock, data)
    head, _, body = resp.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")), resp[:300]
    return json.loads(body)


def test_http_request_members(serve):
    server = serve("apps/rr_request.py")
    raw_query = "foo=1&bar=test&foo=2&sp=a+b%20c&bad=%zz&u=caf%C3%A9&&=x&flag"
    body = b"payload\xff"
    request = (
        f"POST /echo/it%20em?{raw_query} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "X-Test: yes\r\nX-Multi: one\r\nx-multi: two\r\n"
        "Cookie: session=abc; theme=dark\r\nCookie: empty=; spaced = value\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body
    d = _raw_json(server, request)
    assert d["method"] == "POST"
    assert d["path"] == "/echo/it%20em"  # raw, not percent-decoded (Pinned)
    assert d["item"] == "it em"
    assert d["path_params"] == {"item": "it em"}
    assert d["query"] == raw_query and d["query_string"] == raw_query
    assert d["query_params"] == {"foo": "1", "bar": "test", "sp": "a b c", "bad": "%zz",
                                 "u": "café", "flag": ""}
    assert d["getlist_foo"] == ["1", "2"]
    # Starlette's `str(request.query_params)`, for building links (it was the dict's repr); the
    # empty key Starlette keeps (`=x`) is dropped here, as parsing drops it (Pinned)
    assert d["query_params_str"] == "foo=1&bar=test&foo=2&sp=a+b+c&bad=%25zz&u=caf%C3%A9&flag="
    assert d["is_dict"] is True
    assert d["headers"]["x-test"] == "yes"
    assert d["x_test_ci"] == ["yes", "yes"]
    assert d["headers"]["x-multi"] == "one, two"
    assert d["getlist_multi"] == ["one", "two"] and d["getlist_test"] == ["yes"]  # Starlette's getlist
    assert d["headers"]["cookie"] == "session=abc; theme=dark; empty=; spaced = value"
    assert all(k == k.lower() for k in d["headers"])
    assert d["body"] == "payload\xff" and d["body_type"] == "bytes"
    assert d["cookies"] == {"session": "abc", "theme": "dark", "empty": "", "spaced": "value"}
    assert d["client"][0] == "127.0.0.1" and isinstance(d["client"][1], int)
    assert d["url"] == f"http://127.0.0.1:{server.port}/echo/it%20em?{raw_query}"
    assert d["scheme"] == "http" and d["http_version"] == "1.1"
    assert d["session"] is None and d["user"] is None
    assert d["current_is_same"] is True


def test_http_request_http10_and_no_host(serve):
    server = serve("apps/rr_request.py")
    d = _raw_json(server, b"GET /echo?a=1 HTTP/1.0\r\n\r\n")
    assert d["http_version"] == "1.0"
    assert d["url"] == "http://localhost/echo?a=1"


def test_http_request_httpx_client(serve):
    server = serve("apps/rr_request.py")
    r = server.client.post("/echo/x?foo=a&foo=b", content=b"body",
                           headers={"X-Test": "yes", "Cookie": "k=v"})
    assert r.status_code == 200
    d = r.json()
    assert d["getlist_foo"] == ["a", "b"] and d["query_params"] == {"foo": "a"}
    assert d["cookies"] == {"k": "v"} and d["x_test_ci"] == ["yes", "yes"]
    assert d["body"] == "body"


def test_http_request_defaults_get(serve):
    server = serve("apps/rr_request.py")
    d = server.client.get("/echo").json()
    assert d["query"] == "" and d["query_params"] == {} and d["getlist_foo"] == []
    assert d["body"] == "" and d["body_type"] == "bytes"
    assert d["cookies"] == {} and d["path_params"] == {}
    assert d["url"] == f"http://127.0.0.1:{server.port}/echo"


def test_http_json(serve):
    server = serve("apps/rr_request.py")
    r = server.client.post("/json", content=json.dumps({"msg": "hi", "count": 3, "u": "é"}),
                           headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    assert r.json() == {"data": {"msg": "hi", "count": 3, "u": "é"}, "cached": True}
    for bad in (b"{bad", b"", b"\xff"):
        r = server.client.post("/json", content=bad, headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert r.content == b'{"detail":"Invalid JSON"}'  # Pinned, compact
        assert r.headers["content-type"] == "application/json"
    r = server.client.post("/ajson", content=b"[1,2]")
    assert r.json() == {"data": [1, 2]}
    assert server.client.post("/ajson", content=b"nope").status_code == 400


def test_http_state_session_user_and_disconnect(serve):
    server = serve("apps/rr_request.py")
    d = server.client.get("/state").json()
    assert d == {"counter": 2, "state": {"counter": 2}, "custom": "free",
                 "session": {"sid": "s1"}, "user": "alice"}
    d = server.client.get("/disconnected").json()
    assert d == {"disconnected": False, "id_set": True}


def test_http_is_disconnected_true_after_client_left(serve):
    server = serve("apps/rr_request.py")
    sock = server.connect()
    sock.sendall(b"GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if server.client.get("/disconnects").json()["count"] == 1:
            break
        time.sleep(0.05)
    assert server.client.get("/disconnects").json() == {"count": 1}


# the Request injected by annotation -----------------------------------------------------------


def test_request_injected_by_annotation(serve):
    c = serve(FW).client
    assert c.get("/annotated?x=1").json() == {"is_request": True, "path": "/annotated", "x": "1"}


def test_first_header_reads_one_field_of_the_native_blob():
    from viperhttp.request import Request, first_header

    def request(blob):
        return Request._from_native(1, "POST", "/", "", blob, b"", None, "http", "1.1")

    # A value that spells the name is not the field; the first of repeated fields wins.
    blob = b"x-a\x00content-type\x00content-type\x00application/json\x00content-type\x00text/plain\x00"
    assert first_header(request(blob), "content-type") == "application/json"
    assert first_header(request(blob), "x-a") == "content-type"
    assert first_header(request(b"content-type\x00caf\xe9\x00"), "content-type") == "caf\xe9"  # latin-1
    assert first_header(request(b"host\x00h\x00"), "content-type") is None
    assert first_header(request(b""), "content-type") is None
    r = request(blob)
    r.headers = {"content-type": "text/html"}  # replaced headers are what counts
    assert first_header(r, "content-type") == "text/html"
