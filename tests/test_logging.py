"""Runtime records reach Python logging (docs/internals/logging.md): the per-response access line
`<source> <METHOD> <raw-uri> -> <status> keep=<0|1>` on logger `viperhttp.access` when the app
configured a handler (never in the default set-up), runtime warnings on `viperhttp.*` always,
and `set_log_level` filtering both.
"""
from __future__ import annotations

import json
import socket

import pytest

from apps.bridge_support import wait_for, wait_for_log

APP = "apps/logging_app.py"


def send(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def get(port: int, path: str, host: str = "127.0.0.1", extra: str = "", method: str = "GET") -> bytes:
    return send(port, f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode())


@pytest.fixture
def static_dir(tmp_path):
    (tmp_path / "a.txt").write_text("hi")
    return tmp_path


def access_lines(server):
    return [ln.split("viperhttp.access INFO ", 1)[1] for ln in server.logs().splitlines()
            if "viperhttp.access INFO " in ln]


def test_access_line_per_source_when_logging_is_configured(serve, static_dir):
    srv = serve(APP, env={"APP_LOGGING": "basic", "STATIC_DIR": str(static_dir)})
    port = srv.port
    assert get(port, "/hello?x=1%202").startswith(b"HTTP/1.1 200")
    assert get(port, "/static/a.txt").startswith(b"HTTP/1.1 200")
    assert get(port, "/nope").startswith(b"HTTP/1.1 404")
    assert get(port, "/hello", host="evil.test").startswith(b"HTTP/1.1 400")
    assert get(port, "/hello", method="OPTIONS",
               extra="Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n"
               ).startswith(b"HTTP/1.1 204")
    assert get(port, "/hello", method="OPTIONS",
               extra="Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n"
               ).startswith(b"HTTP/1.1 403")
    expected = [
        "ipc GET /hello?x=1%202 -> 200 keep=0",
        "static GET /static/a.txt -> 200 keep=0",
        "simple GET /nope -> 404 keep=0",
        "trusted-host GET /hello -> 400 keep=0",
        "cors-preflight OPTIONS /hello -> 204 keep=0",
        "cors OPTIONS /hello -> 403 keep=0",
    ]
    assert wait_for(lambda: len(access_lines(srv)) >= len(expected), timeout=3), srv.logs()
    assert access_lines(srv) == expected


def test_refused_requests_are_logged_with_their_real_method_and_target(serve):
    # The head guard refuses these before hyper parses them; the access line still names
    # the request as far as it was read, and `-` for what never arrived whole.
    srv = serve(APP, env={"APP_LOGGING": "basic",
                          "APP_RUN": json.dumps({"max_body_size": 1000, "max_uri_len": 100,
                                                 "max_headers": 10})})
    port = srv.port
    host = "Host: 127.0.0.1\r\n"
    multipart = ("POST /upload?kind=photo HTTP/1.1\r\n" + host
                 + "Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 5000\r\n\r\n")
    assert send(port, multipart.encode()).startswith(b"HTTP/1.1 413 ")
    long_target = "/hello?pad=" + "x" * 200
    assert send(port, f"GET {long_target} HTTP/1.1\r\n{host}\r\n".encode()).startswith(b"HTTP/1.1 414 ")
    many = "".join(f"X-{i}: {i}\r\n" for i in range(20))
    assert send(port, f"DELETE /hello HTTP/1.1\r\n{host}{many}\r\n".encode()).startswith(b"HTTP/1.1 431 ")
    assert send(port, f"PUT /hello?a=1 HTTP/1.1\r\n{host}Bad Name: 1\r\n\r\n".encode()).startswith(
        b"HTTP/1.1 400 ")
    assert send(port, b"\x01\x02garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    # A chunk size past max_body_size: refused while the body is read, on the real request.
    chunked = "POST /upload HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nfffffffff\r\n"
    assert send(port, chunked.encode()).startswith(b"HTTP/1.1 413 ")
    expected = [
        "simple POST /upload?kind=photo -> 413 keep=0",
        f"simple GET {long_target[:100]}... -> 414 keep=0",
        "simple DELETE /hello -> 431 keep=0",
        "simple PUT /hello?a=1 -> 400 keep=0",
        "simple - - -> 400 keep=0",
        "ipc POST /upload -> 413 keep=0",
    ]
    assert wait_for(lambda: len(access_lines(srv)) >= len(expected), timeout=3), srv.logs()
    assert access_lines(srv) == expected


def test_http2_refusals_are_logged_like_http1_ones(serve):
    # Over HTTP/2 the per-stream limits refuse a stream before the service sees it; its line
    # names the request as h2 decoded it, a 414's target cut at max_uri_len as over HTTP/1.1,
    # and the connection (keep=1) goes on.
    import httpx

    srv = serve(APP, env={"APP_LOGGING": "basic",
                          "APP_RUN": json.dumps({"http2": True, "max_uri_len": 100, "max_headers": 10})})
    long_target = "/hello?pad=" + "x" * 200
    with httpx.Client(http1=False, http2=True, base_url=f"http://127.0.0.1:{srv.port}", timeout=10) as c:
        assert c.get("/hello").status_code == 200
        assert c.get(long_target).status_code == 414
        assert c.delete("/hello", headers={f"x-{i}": "v" for i in range(20)}).status_code == 431
        assert c.get("/hello").status_code == 200
    expected = [
        "ipc GET /hello -> 200 keep=1",
        f"simple GET {long_target[:100]}... -> 414 keep=1",
        "simple DELETE /hello -> 431 keep=1",
        "ipc GET /hello -> 200 keep=1",
    ]
    assert wait_for(lambda: len(access_lines(srv)) >= len(expected), timeout=3), srv.logs()
    assert access_lines(srv) == expected


def test_rate_limit_source_and_keep_alive_flag(serve):
    srv = serve(APP, env={"APP_LOGGING": "basic", "RATE": "1"})
    raw = send(srv.port, b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 3
               + b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert raw.count(b"429 Too Many Requests") == 2, raw
    assert wait_for(lambda: len(access_lines(srv)) >= 4, timeout=3), srv.logs()
    assert access_lines(srv) == [
        "ipc GET /hello -> 200 keep=1",
        "ipc GET /hello -> 200 keep=1",
        "rate-limit GET /hello -> 429 keep=1",
        "rate-limit GET /hello -> 429 keep=0",
    ]


def test_no_access_lines_in_the_default_set_up_but_warnings_show(serve, static_dir):
    srv = serve(APP, env={"STATIC_DIR": str(static_dir)})
    for _ in range(3):
        assert get(srv.port, "/hello").startswith(b"HTTP/1.1 200")
        assert get(srv.port, "/static/a.txt").startswith(b"HTTP/1.1 200")
    # the missing mount root is a runtime WARN, forwarded to viperhttp.static_files
    log = wait_for_log(srv, "WARNING viperhttp.static_files: static mount root missing")
    assert "/nonexistent/viperhttp-test-root" in log
    assert "set vfs_root, --vfs-root or VIPERHTTP_VFS_ROOT" in log  # no vfs_root: say what maps it
    srv.stop()
    assert "viperhttp.access" not in srv.logs()


def test_log_level_warn_silences_access_lines(serve):
    srv = serve(APP, env={"APP_LOGGING": "basic", "APP_LOG_LEVEL": "warn"})
    for _ in range(3):
        assert get(srv.port, "/hello").startswith(b"HTTP/1.1 200")
    wait_for_log(srv, "static mount root missing")  # warnings still pass
    srv.stop()
    assert "viperhttp.access" not in srv.logs()


def test_log_level_off_silences_runtime_warnings(serve):
    srv = serve(APP, env={"APP_LOGGING": "basic", "APP_LOG_LEVEL": "off"})
    assert get(srv.port, "/hello").startswith(b"HTTP/1.1 200")
    srv.stop()
    assert "static mount root missing" not in srv.logs()


@pytest.mark.parametrize("keywords, logged", [("", False), (", wifi=True", True)])
def test_the_wifi_line_only_when_the_app_asks_for_wifi(serve, tmp_path, keywords, logged):
    """`app.run(port=...)`, as docs/index.md writes it, logged `wifi=True: using the host's network`
    (the device's default), puzzling an app that never mentioned Wi-Fi; a device app's explicit
    `wifi=True` is still told why nothing is set up."""
    script = tmp_path / "run_app.py"
    script.write_text("import sys\nfrom viperhttp import ViperHTTP\napp = ViperHTTP()\n\n\n"
                      "@app.get('/')\ndef index():\n    return 'ok'\n\n\n"
                      f"app.run(port=int(sys.argv[1]), host='127.0.0.1'{keywords})\n")
    srv = serve(str(script))
    assert get(srv.port, "/").endswith(b"ok")
    assert ("wifi=True: using the host's network" in srv.logs()) is logged, srv.logs()
