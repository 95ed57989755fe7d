"""One table of return values (tests/support/response_cases.py, written from
docs/internals/requests-responses.md "Return values"), checked against both
`viperhttp_bridge.serialize_response` and the wire.

The rules have one implementation (crates/viperhttp-py/src/serialise.rs); this file is what
keeps the in-process answer and the client's answer the same: every row runs through
`serialize_response`, and through real `def` and `async def` handlers over a real socket, with
and without a Python middleware in front.
"""
from __future__ import annotations

import pytest

import viperhttp
import viperhttp_bridge
from viperhttp import responses
from support.response_cases import CASES, effective
from test_typed import start_module_server

#: Headers every wire response carries that the table does not speak about.
_TRANSPORT = {"content-length", "transfer-encoding", "date", "server", "connection", "content-type",
              "last-modified", "etag", "vary"}


def test_one_implementation():
    # The Python names are the native functions, not a second copy of the rules.
    assert viperhttp_bridge.serialize_response is viperhttp._native.serialize_response
    assert responses.serialize_response is viperhttp._native.serialize_response
    assert responses.normalize is viperhttp._native.normalize


@pytest.mark.parametrize("name", sorted(CASES))
def test_serialize_response(name):
    case = CASES[name]
    value = case.make()
    if case.error is not None:
        with pytest.raises(case.error):
            viperhttp_bridge.serialize_response(value)
        return
    out = viperhttp_bridge.serialize_response(value)
    assert out["__vhttp_response__"] is True
    if case.stream:
        # Handed back unserialised (the bridge streams it, or the runtime serves the file,
        # docs/internals/static-files.md#fileresponse); a status tuple's status is applied.
        assert (out.get("stream") is not None or out.get("file") is not None) and out["body"] is None
        assert out["status_code"] == case.status
        if type(value) is not tuple:
            assert out is value
        return
    assert type(out["body"]) is bytes
    status, body, content_type, headers = effective(out)
    assert (status, body, content_type) == (case.status, case.body, case.content_type)
    assert {k: v for k, v in headers.items() if k in case.headers} == case.headers


@pytest.mark.parametrize("name", sorted(CASES))
def test_normalize_keeps_the_status_and_content_type_of_the_table(name):
    case = CASES[name]
    value = case.make()
    if case.error is not None and case.error is not ValueError or name.startswith("dict-with"):
        return  # the error shows when the body is encoded, not when it is normalised
    resp = responses.normalize(value)
    assert resp["__vhttp_response__"] is True
    if isinstance(value, dict) and value.get("__vhttp_response__") is True:
        assert resp is value  # response dicts as they are
    elif case.error is None and not case.stream:
        status = resp["status_code"] or 200
        ct = resp["content_type"]
        headers = resp["headers"] or {}
        pairs = headers.items() if isinstance(headers, dict) else headers
        ct = {str(k).lower(): v for k, v in pairs}.get("content-type", ct)
        assert status == case.status
        if case.body:  # an empty body may leave the type to the serialiser
            assert ct == case.content_type


@pytest.fixture(scope="module", params=["plain", "middleware"])
def server(request, tmp_path_factory):
    env = {"SER_MIDDLEWARE": "1" if request.param == "middleware" else "0"}
    srv = start_module_server(tmp_path_factory.mktemp("ser"), "apps/serialisation_app.py", env=env)
    yield srv
    srv.stop()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_wire(server, kind):
    """Every row over a real socket; all mismatches reported at once."""
    wrong = []
    for name, case in sorted(CASES.items()):
        r = server.client.get(f"/{kind}/{name}")
        got = (r.status_code, r.content, r.headers.get("content-type"))
        want = (case.status, case.body, case.content_type)
        headers = {k: r.headers[k] for k in case.headers if k in r.headers}
        if got != want or headers != case.headers:
            wrong.append((name, got, want, headers))
    assert wrong == [], "\n".join(map(repr, wrong))
    assert server.proc.poll() is None


def test_wire_logs_each_500(server):
    server.client.get("/sync/dict-with-object")
    assert "handler_error TypeError" in server.logs()
