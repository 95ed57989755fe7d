"""Middleware end to end (docs/internals/framework.md): priorities and observed order of two decorator and two
class middlewares, short-circuit, response editing, errors inside middleware, 404/405 through the chain;
registration and native-config errors in-process."""
import time

import pytest

from viperhttp import BaseHTTPMiddleware
from viperhttp.middleware import CORSMiddleware, RateLimitMiddleware, TrustedHostMiddleware

APP = "apps/fw_middleware_app.py"
MW = "apps/middleware_order_app.py"
TEXT = "text/plain; charset=utf-8"


def test_priority_order(serve):
    c = serve(APP).client
    r = c.get("/order")
    assert r.text == "ordered"
    assert r.headers["x-outer"] == "A" and r.headers["x-current"] == "yes"
    assert c.get("/order/log").json() == ["A:pre", "D:pre", "C:pre:c", "B:pre", "handler",
                                          "B:post", "C:post", "D:post", "A:post"]
    c.get("/order")
    assert c.get("/mw/instances").json() == {"C": 1, "D": 1}  # class entries are built once


def test_short_circuit_skips_the_handler(serve):
    c = serve(APP).client
    r = c.get("/blocked-target", headers={"X-Block": "1"})
    assert (r.status_code, r.content) == (418, b"blocked")
    assert c.get("/handler-calls").json() == {"n": 0}
    assert c.get("/blocked-target").text == "reached"
    assert c.get("/handler-calls").json() == {"n": 1}
    r = c.get("/mw/none")  # a middleware returning None gives 404
    assert (r.status_code, r.content) == (404, b"Not Found")


def test_middleware_edits_status_headers_body(serve):
    c = serve(APP).client
    r = c.get("/edit")
    assert r.status_code == 201
    assert r.content == b"edited:original"
    assert r.headers["x-edited"] == "1" and r.headers["x-outer"] == "A"
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_unmatched_requests_pass_through_the_chain(serve):
    c = serve(APP).client
    r = c.get("/no/such/path")
    assert (r.status_code, r.content, r.headers["content-type"]) == (404, b"Not Found", "text/plain; charset=utf-8")
    assert r.headers["x-outer"] == "A"
    r = c.get("/post-only")
    assert (r.status_code, r.content) == (405, b"Method Not Allowed")
    assert r.headers["allow"] == "POST" and r.headers["x-outer"] == "A"


def test_errors_inside_and_below_middleware(serve):
    server = serve(APP)
    c = server.client
    r = c.get("/mw/boom")
    assert (r.status_code, r.content) == (500, b"Internal Server Error")
    assert r.headers["x-inner-status"] == "500"  # the outer middleware received the 500
    r = c.get("/mw/custom")  # app exception handlers see middleware exceptions
    assert (r.status_code, r.json()) == (418, {"custom": True})
    r = c.get("/mw/http")  # ... including HTTPException (handler overrides the default JSON)
    assert (r.status_code, r.json()) == (403, {"overridden": "mw says no"})
    r = c.get("/http-error")
    assert (r.status_code, r.json(), r.headers["x-inner-status"]) == (404, {"overridden": "gone"}, "404")
    r = c.get("/q?n=x")  # 422 is a response, not an exception: handlers do not see it
    assert (r.status_code, r.content) == (422, b'{"detail":"Invalid query param: n"}')
    assert r.headers["x-outer"] == "A"
    r = c.get("/handler-boom")
    assert (r.status_code, r.content, r.headers["x-inner-status"]) == (500, b"Internal Server Error", "500")
    assert c.get("/order").text == "ordered"
    time.sleep(0.2)
    logs = server.logs()
    assert "middleware_error RuntimeError('middleware exploded')" in logs
    assert "RuntimeError: handler exploded" in logs


def test_registration_forms_and_errors(app):
    async def mw(request, call_next):
        return await call_next(request)

    class M(BaseHTTPMiddleware):
        pass

    class PureASGI:  # Starlette's raw middleware: it made every request a 500 once added
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            await self.app(scope, receive, send)

    assert app.middleware("http", priority=3)(mw) is mw
    app.add_middleware(M, priority=-1, flag=True)
    app.add_middleware_func(mw)
    assert app._middleware_stack() == [("func", mw, {}, 3), ("class", M, {"flag": True}, -1), ("func", mw, {}, 0)]
    for call, exc, message in (
        (lambda: app.middleware(1), TypeError, "middleware kind must be str"),
        (lambda: app.middleware("websocket"), ValueError, "only http middleware supported"),
        (lambda: app.middleware("http")(5), TypeError, "middleware must be callable"),
        (lambda: app.add_middleware(M, M), TypeError, "only middleware class positional arg supported"),
        (lambda: app.add_middleware_func(mw, 1), TypeError, "too many positional args"),
        (lambda: app.add_middleware_func("x"), TypeError, "middleware must be callable"),
        (lambda: BaseHTTPMiddleware().dispatch(None, None), NotImplementedError, "dispatch must be implemented"),
        (lambda: CORSMiddleware(allow_origins=["*"]), TypeError, "CORSMiddleware takes no arguments"),
        (lambda: app.add_middleware(PureASGI), TypeError, "'PureASGI' is ASGI middleware"),
    ):
        with pytest.raises(exc) as info:
            call()
        assert str(info.value).startswith(message), info.value
    assert len(app._middleware_stack()) == 3


def test_native_middleware_configuration(app):
    app.add_middleware(CORSMiddleware, allow_origins="https://a.example, https://b.example", max_age=0, priority=5)
    assert app._native_config["cors"] == {
        "allow_origins": ["https://a.example", "https://b.example"],
        "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"],
        "allow_headers": ["*"], "allow_credentials": False, "expose_headers": [], "max_age": 0}
    app.add_middleware(RateLimitMiddleware, max_requests=120, window_sec=60)
    assert app._native_config["rate_limit"] == {"rate": 2.0, "burst": 120, "enabled": True}
    app.add_middleware(RateLimitMiddleware, rate=5.0, burst=10.0)  # `float(os.environ[...])`
    assert app._native_config["rate_limit"] == {"rate": 5.0, "burst": 10.0, "enabled": True}
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com", "*.example.com"])
    assert app._native_config["trusted_host"]["allowed_hosts"] == ["example.com", "*.example.com"]
    assert app._middleware_stack() == []  # the built-ins are not chain entries
    for cls, kwargs, exc, message in (
        (CORSMiddleware, {"allow_origin": "*"}, TypeError, "unknown cors keyword"),
        (CORSMiddleware, {"max_age": -1}, ValueError, "max_age must be >= 0"),
        (CORSMiddleware, {"allow_origins": [1]}, TypeError, "cors list must contain strings"),
        (CORSMiddleware, {"allow_origins": 5}, TypeError, "cors value must be str or list"),
        (CORSMiddleware, {"allow_headers": ["x" * 300]}, ValueError, "cors value too long"),
        (RateLimitMiddleware, {"per_second": 1}, TypeError, "unknown ratelimit keyword"),
        (RateLimitMiddleware, {"rate": -1}, ValueError, "rate must be >= 0"),
        (RateLimitMiddleware, {"burst": -1}, ValueError, "burst must be >= 0"),
        (RateLimitMiddleware, {"burst": "10"}, TypeError, "burst must be a number"),
        (RateLimitMiddleware, {"rate": 1, "max_requests": 5}, TypeError, "max_requests/window_sec"),
        (TrustedHostMiddleware, {"hosts": []}, TypeError, "unknown trusted host keyword"),
        (TrustedHostMiddleware, {"allowed_hosts": [""]}, ValueError, "host value empty"),
        (TrustedHostMiddleware, {"allowed_hosts": ["h" * 128]}, ValueError, "host value too long"),
        (TrustedHostMiddleware, {"allowed_hosts": [1]}, TypeError, "allowed_hosts must contain strings"),
        (TrustedHostMiddleware, {"allowed_hosts": 1}, TypeError, "allowed_hosts must be str or list"),
    ):
        with pytest.raises(exc) as info:
            app.add_middleware(cls, **kwargs)
        assert str(info.value).startswith(message), (kwargs, info.value)


# middleware kinds, order and return values (apps/middleware_order_app.py) -----------------------


def test_func_sync_instance_and_equal_priority_middlewares_observed_order(serve):
    c = serve(MW).client
    calls_before = c.get("/instance-calls").json()["calls"]
    assert c.get("/order").text == "ordered"
    assert c.get("/order/log").json() == [
        "func_mw:pre", "eq_first:pre", "eq_second:pre", "instance:pre", "sync_mw:pre", "handler",
        "instance:post", "eq_second:post", "eq_first:post", "func_mw:post"]
    # the registered instance itself ran (it counts every request through the chain)
    assert c.get("/instance-calls").json()["calls"] == calls_before + 3

def test_base_http_middleware_instance_passed_to_add_middleware(serve):
    """docs/internals/framework.md: "Instances passed to add_middleware are used as they are"; the chain
    calls `inst.dispatch` (docs/internals/framework.md). The app registers
    `add_middleware(BaseInstance())`."""
    r = serve(MW, "base-instance").client.get("/order")
    assert (r.status_code, r.text, r.headers.get("x-base-instance")) == (200, "ordered", "1")

def test_base_http_middleware_with_a_dispatch_function(serve):
    # `app.add_middleware(BaseHTTPMiddleware, dispatch=func)`; the middleware sees `request.app`.
    r = serve(MW, "dispatch-function").client.get("/order")
    assert (r.status_code, r.text, r.headers.get("x-dispatch-function")) == (200, "ordered", "1")


def test_middleware_reads_the_body_iterator_and_sends_a_new_response(serve):
    c = serve(MW, "body-iterator").client
    r = c.get("/rewrite/json")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b'{"K":"V"}', "application/json")
    r = c.get("/rewrite/stream")
    assert (r.content, r.headers["content-type"], r.headers["x-s"]) == (b"ABCD", "text/x-words", "1")
    assert c.get("/order").text == "ordered"  # other paths untouched


def test_middleware_return_values_are_normalised(serve):
    c = serve(MW).client
    r = c.get("/mw/return-dict")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b'{"from":"middleware"}', "application/json")
    r = c.get("/mw/return-str")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"middleware text", TEXT)
    r = c.get("/mw/return-bytes")
    assert (r.content, r.headers["content-type"]) == (b"\x00mw", "application/octet-stream")

def test_http_exception_raised_by_middleware_default_json_and_outer_sees_it(serve):
    c = serve(MW).client
    r = c.get("/mw/raise-http")
    assert (r.status_code, r.content, r.headers["content-type"]) == (429, b'{"detail":"slow down"}', "application/json")
    assert r.headers["retry-after"] == "3"
    r = c.get("/mw/raise-http-outer-sees")
    assert (r.status_code, r.content, r.headers["x-outer-saw"]) == (451, b'{"detail":"legal"}', "451")

def test_call_next_with_a_replaced_request(serve):
    r = serve(MW).client.get("/mw/replace")
    assert r.json() == {"x_replaced": "yes", "body": "new-body", "swapped": "1", "is_current": True,
                        "is_original": False}
