"""Spine test app (tests/test_spine.py): every behaviour of the request/response path between
the native runtime and one Python interpreter, over real sockets.

Run: python spine_app.py PORT [MODE]
  MODE "bridge" (default): viperhttp_bridge.run(app, port=PORT, wifi=False)
  MODE "app-run":          app.run(port=PORT)          (wifi left at its default, True)
  MODE "app-run-wifi":     app.run(port=PORT, wifi=True)
No Python middleware is installed, so unmatched paths and methods are answered natively.
"""
import sys

import viperhttp
import viperhttp_bridge
from viperhttp import Query, Response

app = viperhttp.ViperHTTP()


def typed(value):
    return {"value": value, "type": type(value).__name__}


# --- path parameters ---------------------------------------------------------------------


@app.get("/p/str/{v}")
def p_str(v):
    return typed(v)


@app.get("/p/int/{v:int}")
def p_int(v):
    return typed(v)


@app.get("/p/float/{v:float}")
def p_float(v):
    return typed(v)


@app.get("/p/bool/{v:bool}")
def p_bool(v):
    return typed(v)


@app.get("/p/path/{v:path}")
def p_path(v):
    return typed(v)


@app.get("/items/{id:int}")
def item(id):
    return typed(id)


# --- query parameters --------------------------------------------------------------------


@app.get("/q/page", query={"page": int})
def q_page(page):
    return typed(page)


@app.get("/q/defaults", query={
    "limit": Query(10, int),          # positional (default, cast)
    "name": Query("anon"),            # default only: cast None keeps the string
    "ratio": Query(default="0.5", cast=float),  # str default converted with the cast
    "tag": Query(None, str),          # None default stays None
})
def q_defaults(limit, name, ratio, tag):
    return {
        "limit": typed(limit), "name": typed(name), "ratio": typed(ratio), "tag": typed(tag),
    }


@app.get("/q/required-cast", query={"flag": Query(cast=bool)})
def q_required_cast(flag):
    return typed(flag)


@app.get("/q/extra", query={"page": int})
def q_extra(**kwargs):
    return {k: typed(v) for k, v in kwargs.items()}


@app.get("/q/raw")
def q_raw(q=""):
    req = viperhttp.current_request()
    return {"q": q, "raw": req.query, "params": dict(req.query_params)}


# --- request body and headers ------------------------------------------------------------


@app.post("/body")
def body_echo():
    return viperhttp.current_request().body


@app.get("/headers")
def headers():
    h = viperhttp.current_request().headers
    return {
        "lower": h["x-test"],
        "upper": h["X-TEST"],
        "get": h.get("X-Test"),
        "contains": "x-TEST" in h,
        "is_dict": isinstance(h, dict),
    }


# --- HEAD, markers, errors ---------------------------------------------------------------


@app.get("/head-target")
def head_target():
    return {"payload": "x" * 100, "n": 12345}


@app.get("/echo/{marker}")
def echo(marker):
    return Response(body="marker=" + marker, headers={"X-Marker": marker},
                    content_type="text/plain; charset=utf-8")


@app.get("/boom")
def boom():
    raise RuntimeError("spine-boom-7f3a")


@app.get("/client")
def client():
    host, port = viperhttp.current_request().client
    return {"host": host, "port": port}


@app.get("/ok")
def ok():
    return "ok"


# --- return-value normalisation ----------------------------------------------------------


@app.get("/r/dict")
def r_dict():
    return {"a": 1, "b": [1, 2], "c": {"d": None, "e": True}}


@app.get("/r/list")
def r_list():
    return [1, "two", 3.5, None, False]


@app.get("/r/str")
def r_str():
    return "plain text"


@app.get("/r/bytes")
def r_bytes():
    return b"\x00\x01raw\xff"


@app.get("/r/bytearray")
def r_bytearray():
    return bytearray(b"ba")


@app.get("/r/none")
def r_none():
    return None


@app.get("/r/int")
def r_int():
    return 42


@app.get("/r/unicode")
def r_unicode():
    return {"name": "Jörg", "city": "Zürich", "emoji": "✓"}


@app.get("/r/unicode-str")
def r_unicode_str():
    return "grüße ✓"


@app.get("/r/async")
async def r_async():
    return {"async": True}


if __name__ == "__main__":
    port = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "bridge"
    if mode == "bridge":
        viperhttp_bridge.run(app, port=port, wifi=False)
    elif mode == "app-run":
        app.run(port=port)
    elif mode == "app-run-wifi":
        app.run(port=port, wifi=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
