"""HTTPS (docs/internals/tls-http2.md): certificates from paths and inline PEM in every key format,
ALPN, TLS 1.2 and 1.3, the handshake deadline and counters, plain HTTP on the TLS port, clear
start errors, and certificate reload on SIGHUP without dropping connections."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import TESTS, free_port
from support.tls_certs import make_cert

APP = "apps/tls_app.py"


def tls_kw(cert_path: Path, key_path: Path, **extra) -> dict:
    return {"TLS_KW": json.dumps({"https": True, "tls_cert_path": str(cert_path),
                                  "tls_key_path": str(key_path), **extra})}


def stats(port: int, ctx: ssl.SSLContext) -> dict:
    with httpx.Client(verify=ctx, timeout=10) as c:
        return c.get(f"https://localhost:{port}/stats").json()


@pytest.mark.parametrize("key_format, marker", [("sec1", b"EC PRIVATE KEY"), ("pkcs1", b"RSA PRIVATE KEY"),
                                                ("pkcs8", b"-----BEGIN PRIVATE KEY")])
def test_https_serves_with_each_key_format_from_paths(serve, tmp_path, key_format, marker):
    cert = make_cert(key_format)
    assert marker in cert.key_pem
    srv = serve(APP, env=tls_kw(*cert.write(tmp_path)))
    with httpx.Client(verify=cert.client_context(), timeout=10) as c:
        r = c.get(f"https://localhost:{srv.port}/info")
        assert r.status_code == 200
        assert r.json()["scheme"] == "https" and r.json()["http_version"] == "1.1"
        assert r.http_version == "HTTP/1.1"
    s = stats(srv.port, cert.client_context())
    assert s["server"]["https_enabled"] is True and s["https"] == {"configured": True, "active": True}
    assert s["server"]["https_handshake_ok"] >= 2


@pytest.mark.parametrize("as_bytes", [False, True])
def test_inline_pem_as_str_or_bytes_wins_over_paths(serve, tmp_path, as_bytes):
    cert = make_cert("pkcs8")
    pem = (lambda b: b.decode()) if not as_bytes else (lambda b: b.decode("latin-1"))
    # JSON carries text; the app turns it back into bytes when asked to.
    kw = {"https": True, "tls_cert_pem": pem(cert.cert_pem), "tls_key_pem": pem(cert.key_pem),
          # paths that do not exist: PEM takes precedence, so they are never read
          "tls_cert_path": "/nonexistent/c.pem", "tls_key_path": "/nonexistent/k.pem"}
    env = {"TLS_KW": json.dumps(kw), "TLS_PEM_BYTES": "1" if as_bytes else ""}
    srv = serve(APP, env=env)
    with httpx.Client(verify=cert.client_context(), timeout=10) as c:
        assert c.get(f"https://localhost:{srv.port}/hello").json() == {"message": "Hello, World!"}


def test_alpn_offers_h2_then_http11_only_with_http2(serve, tmp_path):
    cert = make_cert()
    paths = cert.write(tmp_path)
    with_h2 = serve(APP, env=tls_kw(*paths, http2=True))
    without = serve(APP, env=tls_kw(*paths))

    def negotiated(port: int, offer) -> "str | None":
        ctx = cert.client_context(offer)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.selected_alpn_protocol()

    assert negotiated(with_h2.port, ["h2", "http/1.1"]) == "h2"
    assert negotiated(with_h2.port, ["http/1.1", "h2"]) == "h2"  # the server's order wins
    assert negotiated(with_h2.port, ["http/1.1"]) == "http/1.1"
    assert negotiated(without.port, ["h2", "http/1.1"]) == "http/1.1"
    assert negotiated(without.port, None) is None
    # A client that negotiates nothing gets HTTP/1.1.
    with httpx.Client(verify=cert.client_context(), timeout=10) as c:
        assert c.get(f"https://localhost:{with_h2.port}/info").json()["http_version"] == "1.1"


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_12_and_13_are_both_served(serve, tmp_path, version):
    cert = make_cert()
    srv = serve(APP, env=tls_kw(*cert.write(tmp_path)))
    ctx = cert.client_context()
    v = getattr(ssl.TLSVersion, version)
    ctx.minimum_version = ctx.maximum_version = v
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == version.replace("_", ".")
            tls.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"Hello, World!" in data


def test_plain_http_on_the_tls_port_is_answered_400_closed_and_counted(serve, tmp_path):
    """nginx's, Caddy's and Go's behaviour: the mistake is named in a plain 400, never the app's
    answer in the clear; a real client (httpx) sees the 400 and its text."""
    cert = make_cert()
    srv = serve(APP, env=tls_kw(*cert.write(tmp_path)))
    before = stats(srv.port, cert.client_context())["server"]["https_handshake_fail"]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: close" in head, got
    assert body == b"This port speaks HTTPS: use an https:// URL.\n" and b"Hello" not in got
    r = httpx.get(f"http://127.0.0.1:{srv.port}/hello", timeout=10)
    assert r.status_code == 400 and "https://" in r.text
    # a request that comes in pieces is read whole before the answer (no reset destroys it)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"POST /hello HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)
        s.sendall(b"Content-Length: 5\r\n\r\nhello")
        assert s.recv(4096).startswith(b"HTTP/1.1 400")
    # an empty line before the request line (RFC 9112 §2.2) and bare-LF line ends are HTTP too
    for raw in (b"\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /hello HTTP/1.1\nHost: x\n\n"):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(raw)
            assert s.recv(4096).startswith(b"HTTP/1.1 400 Bad Request\r\n"), raw
    after = stats(srv.port, cert.client_context())["server"]
    assert after["https_handshake_fail"] == before + 5
    assert after["https_handshake_ok"] >= 2


def test_handshake_deadline_closes_a_silent_client(serve, tmp_path):
    cert = make_cert()
    srv = serve(APP, env=tls_kw(*cert.write(tmp_path), tls_handshake_timeout_ms=300))
    before = stats(srv.port, cert.client_context())["server"]["https_handshake_fail"]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        t0 = time.monotonic()
        assert s.recv(1) == b""  # closed by the server, nothing sent
        assert time.monotonic() - t0 < 5
    # A client that finishes its handshake inside the deadline is served.
    assert stats(srv.port, cert.client_context())["server"]["https_handshake_fail"] == before + 1


def test_handshake_just_inside_the_deadline_succeeds(serve, tmp_path):
    cert = make_cert()
    srv = serve(APP, env=tls_kw(*cert.write(tmp_path), tls_handshake_timeout_ms=1500))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw:
        time.sleep(0.5)  # idle, well inside the deadline
        with cert.client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert tls.recv(65536).startswith(b"HTTP/1.1 200")


def run_app_expecting_failure(tmp_path: Path, kw: dict) -> "subprocess.CompletedProcess[str]":
    port = free_port()
    env = dict(os.environ, TLS_KW=json.dumps(kw), PYTHONUNBUFFERED="1", VIPERHTTP_NO_UVLOOP="1")
    return subprocess.run([sys.executable, str(TESTS / APP), str(port)], env=env, capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def _start_error_cases(tmp_path: Path) -> "list[tuple[dict, str]]":
    good = make_cert()
    other = make_cert()
    cert, key = good.write(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    _, other_key = other.write(tmp_path, "other")
    return [
        ({"https": True}, "cert_pem required when https enabled"),
        ({"https": True, "tls_cert_path": str(cert)}, "key_pem required when https enabled"),
        ({"https": True, "tls_cert_path": str(tmp_path / "missing.pem"), "tls_key_path": str(key)},
         "missing.pem"),
        ({"https": True, "tls_cert_path": str(tmp_path), "tls_key_path": str(key)}, "cannot read TLS certificate"),
        ({"https": True, "tls_cert_path": str(garbage), "tls_key_path": str(key)}, "invalid TLS certificate PEM"),
        ({"https": True, "tls_cert_path": str(empty), "tls_key_path": str(key)}, "no CERTIFICATE block"),
        ({"https": True, "tls_cert_path": str(cert), "tls_key_path": str(empty)}, "no PRIVATE KEY"),
        ({"https": True, "tls_cert_path": str(cert), "tls_key_path": str(cert)}, "private key"),
        ({"https": True, "tls_cert_path": str(cert), "tls_key_path": str(other_key)}, "invalid TLS certificate/key"),
    ]


def test_start_errors_are_one_clear_line_and_a_non_zero_exit(tmp_path):
    for kw, message in _start_error_cases(tmp_path):
        proc = run_app_expecting_failure(tmp_path, kw)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, (kw, out)
        assert message in out, (kw, out)
        assert "Traceback" not in out and "panicked" not in out and "RUST_BACKTRACE" not in out, out
        assert "serving on" not in out  # nothing was bound


def test_tls_knob_types_are_checked():
    import viperhttp._native as native

    with pytest.raises(TypeError):
        native.start(host="127.0.0.1", port=0, https=True, tls_cert_pem=5, tls_key_pem="x")
    with pytest.raises(TypeError):
        native.start(host="127.0.0.1", port=0, https=True, tls_cert_path=b"/x", tls_key_path="/y")
    for bad in (-1, 65):
        with pytest.raises(ValueError, match="http2_max_streams out of range"):
            native.start(host="127.0.0.1", port=0, http2_max_streams=bad)  # checked even without http2
    assert native.bound_port() is None
    for good, advertised in ((0, 8), (1, 1), (64, 64)):  # 0 means the default, 8
        native.start(host="127.0.0.1", port=0, http2=True, http2_max_streams=good)
        try:
            assert native.http2_status() == {"configured": True, "active": True, "max_streams": advertised}
        finally:
            native.close()


def _get_on(conn: http.client.HTTPSConnection, path: str = "/hello") -> int:
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def test_sighup_reloads_the_certificate_without_dropping_connections(serve, tmp_path):
    first, second = make_cert(), make_cert("pkcs8")
    cert_path, key_path = first.write(tmp_path)
    srv = serve(APP, env=tls_kw(cert_path, key_path))
    kept = http.client.HTTPSConnection("localhost", srv.port, context=first.client_context(), timeout=10)
    assert _get_on(kept) == 200
    # New files in place, then SIGHUP.
    second.write(tmp_path)
    os.replace(tmp_path / "server-cert.pem", cert_path)
    os.replace(tmp_path / "server-key.pem", key_path)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "tls_reloaded" not in srv.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "tls_reloaded" in srv.logs()
    # The open connection still works, on its old session.
    assert _get_on(kept) == 200
    # New handshakes present the new certificate: trusted by the new CA only.
    with httpx.Client(verify=second.client_context(), timeout=10) as c:
        assert c.get(f"https://localhost:{srv.port}/hello").status_code == 200
    with pytest.raises(httpx.ConnectError):
        with httpx.Client(verify=first.client_context(), timeout=10) as c:
            c.get(f"https://localhost:{srv.port}/hello")
    # A broken file on reload: logged, the current certificate stays in use.
    key_path.write_text("broken\n")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "tls_reload_error" not in srv.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "tls_reload_error" in srv.logs()
    with httpx.Client(verify=second.client_context(), timeout=10) as c:
        assert c.get(f"https://localhost:{srv.port}/hello").status_code == 200
    assert _get_on(kept) == 200
    kept.close()
    assert srv.proc.poll() is None  # SIGHUP did not end the process


def test_tls_cert_and_tls_key_are_aliases_of_the_paths(serve, tmp_path):
    cert = make_cert()
    cert_path, key_path = cert.write(tmp_path)
    srv = serve(APP, env={"TLS_KW": json.dumps({"https": True, "http2": True, "tls_cert": str(cert_path),
                                                "tls_key": str(key_path)})})
    with httpx.Client(verify=cert.client_context(), http2=True, timeout=10) as c:
        r = c.get(f"https://localhost:{srv.port}/info")
        assert r.status_code == 200 and r.http_version == "HTTP/2"


def test_pem_given_without_https_is_ignored(serve):
    srv = serve(APP, env={"TLS_KW": json.dumps({"tls_cert_pem": "not a certificate", "tls_key_pem": "nor a key"})})
    r = httpx.get(f"http://127.0.0.1:{srv.port}/info", timeout=10)
    assert r.json()["scheme"] == "http"


def test_websocket_over_tls_uses_the_same_tls_layer(serve, tmp_path):
    import websocket  # websocket-client

    cert = make_cert()
    srv = serve(APP, env=tls_kw(*cert.write(tmp_path), http2=True))
    ca = cert.ca_file(tmp_path)
    ws = websocket.create_connection(f"wss://localhost:{srv.port}/ws/echo", timeout=10,
                                     sslopt={"ca_certs": str(ca), "cert_reqs": ssl.CERT_REQUIRED})
    try:
        ws.send("hi")
        assert ws.recv() == "echo:hi"
    finally:
        ws.close()


# --- the original's low-level transport functions (docs/internals/tls-http2.md#low-level-functions) ---

LOWLEVEL_APP = "apps/lowlevel_tls_app.py"


@pytest.mark.parametrize("mode", ["configure", "explicit"])
def test_low_level_start_serves_tls_and_http2_and_refuses_reconfiguring(serve, tmp_path, mode):
    cert = make_cert()
    cert_path, key_path = cert.write(tmp_path)
    srv = serve(LOWLEVEL_APP, env={"LOWLEVEL_CERT": str(cert_path), "LOWLEVEL_KEY": str(key_path),
                                   "LOWLEVEL_MODE": mode})
    with httpx.Client(verify=cert.client_context(), http2=True, timeout=10) as c:
        r = c.get(f"https://127.0.0.1:{srv.port}/status")
    assert r.status_code == 200 and r.http_version == "HTTP/2", r
    data = r.json()
    assert data["before"] == {"https": {"configured": False, "active": False},
                              "http2": {"configured": False, "active": False, "max_streams": 8}}
    if mode == "configure":
        assert data["configured"] == {"https": {"configured": True, "active": False},
                                      "http2": {"configured": True, "active": False, "max_streams": 12}}
    running = data["running"]
    assert running["https"] == {"configured": True, "active": True}
    assert running["http2"] == {"configured": True, "active": True,
                                "max_streams": 12 if mode == "configure" else 16}
    assert running["busy_https"] and running["busy_http2"] and running["busy_start"], running


def test_low_level_start_argument_rules():
    """Run in a child interpreter: nothing here may start a server in the test process."""
    code = """
import viperhttp
def err(call):
    try:
        call()
    except (ValueError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"
print(err(lambda: viperhttp.start(0, cert_pem="x")))
print(err(lambda: viperhttp.start(0, key_pem=b"x")))
print(err(lambda: viperhttp.start(0, http2_max_streams=16)))
print(err(lambda: viperhttp.start(0, http2=True, http2_max_streams=65)))
print(err(lambda: viperhttp.configure_http2(True, max_streams=-1)))
print(err(lambda: viperhttp.start(0, https=True, host="127.0.0.1")))
viperhttp.configure_https(True, None, None)
print(viperhttp.https_status())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "ValueError: set https flag when passing cert_pem/key_pem",
        "ValueError: set https flag when passing cert_pem/key_pem",
        "ValueError: set http2 flag when passing http2_max_streams",
        "ValueError: http2_max_streams out of range",
        "ValueError: http2_max_streams out of range",
        "TlsCertMissingError: cert_pem required when https enabled",  # a ValueError (caught above)
        "{'configured': False, 'active': False}",
    ]
