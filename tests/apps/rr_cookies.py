"""Test app for tests/test_cookies.py: Set-Cookie helpers and request.cookies round trip."""
import sys

import viperhttp
from viperhttp import responses

app = viperhttp.ViperHTTP()


@app.get("/set")
def set_all():
    resp = viperhttp.Response(body="ok", headers={"X-Keep": "k"})
    resp.set_cookie("sid", "abc123", max_age=3600, expires="Wed, 21 Oct 2037 07:28:00 GMT",
                    path="/app", domain="example.com", secure=True, httponly=True,
                    samesite="strict")
    resp.set_cookie("theme", "dark")
    resp.set_cookie("cross", "1", secure=True, samesite="none", path=None)
    resp.set_cookie("nosite", "v", samesite=None)
    resp.delete_cookie("old")
    return resp


@app.get("/set-module")
def set_module():
    resp = {"__vhttp_response__": True, "status_code": 200, "body": "plain dict",
            "headers": [("X-First", "1")], "content_type": None}
    responses.set_cookie(resp, "a", "1")
    responses.set_cookie(resp, "b", "2", httponly=True)
    responses.delete_cookie(resp, "c", path="/p", domain="d.example")
    return resp


@app.get("/set-expires")
def set_expires():
    return viperhttp.JSONResponse(body={"ok": True}).set_cookie("soon", "x", expires=60)


@app.get("/cookies")
def cookies(request):
    return {"cookies": request.cookies, "raw": request.headers.get("cookie")}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))
