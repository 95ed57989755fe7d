"""Native trusted-host check, end to end over real sockets
(docs/internals/cors-hosts-ratelimit.md#trusted-host-trusted_hostrs)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from typing import List, Optional

import pytest

import conftest
from conftest import raw_request
from support.http1 import RawConn, RawResponse, parse_head

APP = "apps/native_app.py"
TEXT = "text/plain; charset=utf-8"
HOSTS = ["example.com", "*.example.org", "[::1]", "[fe80::2]:8080", "api.test:8443", "LOCALHOST"]


def start(serve, **config):
    return serve(APP, env={"NATIVE_APP_CONFIG": json.dumps(config)})


def with_host(host: Optional[str], target: str = "/py/hello", extra: str = "",
              version: str = "HTTP/1.1") -> bytes:
    host_line = "" if host is None else f"Host: {host}\r\n"
    return f"GET {target} {version}\r\n{host_line}{extra}\r\n".encode("latin-1")


def send(server, data: bytes) -> RawResponse:
    with RawConn(server.connect()) as conn:
        return conn.request(data)


def send10(server, data: bytes) -> RawResponse:
    """An HTTP/1.0 exchange: the server closes after the response. The status line's version
    is not checked here (test_hostile_http.py does); everything else is parsed as usual."""
    with server.connect() as sock:
        raw = raw_request(sock, data, expect_close=True)
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete response: {raw!r}"
    version, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
    assert version in ("HTTP/1.0", "HTTP/1.1"), raw
    _, reason, headers = parse_head(b"HTTP/1.1 " + head.partition(b" ")[2])
    return RawResponse(int(rest.split(" ")[0]), reason, headers, body, head)


def seen(server) -> List[str]:
    with RawConn(server.connect()) as conn:
        return json.loads(conn.request(with_host("example.com", "/__seen")).body)


def assert_invalid_host(resp: RawResponse) -> None:
    assert resp.status == 400, resp
    assert resp.reason == "Bad Request"
    assert resp.body == b"Invalid Host"
    assert resp.header("content-type") == TEXT
    assert not [n for n, _ in resp.headers if n.lower().startswith("access-control-")], resp.headers


ALLOWED = [
    "example.com", "EXAMPLE.com", "example.com:8080", "example.com:1", "  example.com  ",
    "a.example.org", "a.b.example.org", "A.EXAMPLE.ORG:9", "x-y.example.org",
    "[::1]", "[::1]:8080",
    "[fe80::2]:8080",
    "api.test:8443", "API.TEST:8443",
    "localhost", "localhost:3000",
]
REJECTED = [
    "other.com", "example.com.evil", "notexample.com", "sub.example.com",
    "example.org", "xexample.org", "example.org:80", ".example.org.evil",
    "[::2]", "[::10]:8080",
    "[fe80::2]", "[fe80::2]:9090",
    "api.test", "api.test:80",
    "",
]


@pytest.fixture(scope="module")
def trusted(tmp_path_factory):
    """One server for the matrix below (starting one per case would dominate the run time)."""
    tmp = tmp_path_factory.mktemp("trusted")
    port = conftest.free_port()
    log_path = tmp / "server.log"
    env = dict(os.environ, PORT=str(port), PYTHONUNBUFFERED="1",
               NATIVE_APP_CONFIG=json.dumps({"trusted": {"allowed_hosts": HOSTS}}))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(conftest.TESTS / APP), str(port)], stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=str(conftest.ROOT),
                                stdin=subprocess.DEVNULL)
    conftest._wait_ready(proc, port, log_path)
    server = conftest.Server(proc, port, log_path)
    yield server
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        server.stop()


@pytest.mark.parametrize("host", ALLOWED)
def test_allowed_host(trusted, host):
    resp = send(trusted, with_host(host))
    assert resp.status == 200, (host, resp)
    assert resp.body == b"hello from python"


@pytest.mark.parametrize("host", REJECTED)
def test_rejected_host(trusted, host):
    assert_invalid_host(send(trusted, with_host(host)))


def test_reject_keeps_the_connection_alive(trusted):
    with RawConn(trusted.connect()) as conn:
        resp = conn.request(with_host("evil.test"))
        assert_invalid_host(resp)
        assert (resp.header("connection") or "").lower() == "keep-alive"
        ok = conn.request(with_host("example.com"))
        assert ok.status == 200 and ok.body == b"hello from python"
        assert_invalid_host(conn.request(with_host("evil.test")))
        assert conn.request(with_host("example.com")).status == 200


def test_rejected_requests_never_reach_python(trusted):
    before = seen(trusted)
    for host in ("evil.test", "example.org", "[::2]"):
        assert_invalid_host(send(trusted, with_host(host, "/py/hello?marker=rejected")))
    after = seen(trusted)
    assert [e for e in after[len(before):] if "marker=rejected" in e] == []


def test_http10_without_host_is_rejected_when_checking(trusted):
    assert_invalid_host(send10(trusted, with_host(None, version="HTTP/1.0")))


def test_absolute_form_authority_is_the_host(trusted):
    resp = send(trusted, b"GET http://example.com/py/hello HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert resp.status == 200 and resp.body == b"hello from python"
    # the target's authority replaces Host for the check (docs/internals/http.md,
    # docs/internals/cors-hosts-ratelimit.md#trusted-host-trusted_hostrs)
    assert_invalid_host(send(trusted, b"GET http://evil.test/py/hello HTTP/1.1\r\nHost: example.com\r\n\r\n"))
    resp = send(trusted, b"GET http://a.example.org:81/py/hello HTTP/1.1\r\nHost: evil.test\r\n\r\n")
    assert resp.status == 200, resp


def test_trusted_host_applies_to_static_and_native_404(serve, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.txt").write_bytes(b"static\n")
    server = start(serve, trusted={"allowed_hosts": ["good.test"]}, mounts=[["/s", str(root), False]])
    assert send(server, with_host("good.test", "/s/a.txt")).body == b"static\n"
    assert_invalid_host(send(server, with_host("bad.test", "/s/a.txt")))
    assert_invalid_host(send(server, with_host("bad.test", "/s/missing")))
    assert_invalid_host(send(server, with_host("bad.test", "/no/route")))
    assert send(server, with_host("good.test", "/no/route")).status == 404


def test_reject_comes_before_cors_and_carries_no_cors_headers(serve):
    server = start(serve, trusted={"allowed_hosts": ["good.test"]},
                   cors={"allow_origins": ["https://app.example"]})
    resp = send(server, with_host("bad.test", extra="Origin: https://app.example\r\n"))
    assert_invalid_host(resp)
    pre = send(server, b"OPTIONS /py/hello HTTP/1.1\r\nHost: bad.test\r\nOrigin: https://app.example\r\n"
                       b"Access-Control-Request-Method: GET\r\n\r\n")
    assert_invalid_host(pre)
    ok = send(server, with_host("good.test", extra="Origin: https://app.example\r\n"))
    assert ok.status == 200
    assert ok.header("access-control-allow-origin") == "https://app.example"


def test_rejects_take_no_rate_limit_token(serve):
    server = start(serve, trusted={"allowed_hosts": ["good.test"]}, ratelimit={"rate": 1, "burst": 2})
    for _ in range(5):
        assert_invalid_host(send(server, with_host("bad.test")))
    assert send(server, with_host("good.test")).status == 200
    assert send(server, with_host("good.test")).status == 200
    assert send(server, with_host("good.test")).status == 429


@pytest.mark.parametrize("config", [
    {"allowed_hosts": ["good.test"], "enabled": False},
    {"allowed_hosts": ["good.test", "*"]},
    {"allowed_hosts": "*"},
    {"allowed_hosts": []},
    {},
])
def test_check_disabled(serve, config):
    server = start(serve, trusted=config)
    for host in ("anything.test", "good.test", "", "[::9]:1"):
        resp = send(server, with_host(host))
        assert resp.status == 200, (config, host, resp)
    # with nothing checked, HTTP/1.0 without Host passes
    # (docs/internals/cors-hosts-ratelimit.md#trusted-host-trusted_hostrs decision)
    resp = send10(server, with_host(None, version="HTTP/1.0"))
    assert resp.status == 200, (config, resp)
    assert resp.body == b"hello from python"


def test_single_string_entry(serve):
    server = start(serve, trusted={"allowed_hosts": "only.test"})
    assert send(server, with_host("only.test:1")).status == 200
    assert_invalid_host(send(server, with_host("other.test")))
