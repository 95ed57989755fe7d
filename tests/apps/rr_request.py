"""Test app for tests/test_request.py: echoes every Request member as JSON."""
import asyncio
import sys

import viperhttp

app = viperhttp.ViperHTTP()


def _describe(request):
    qp = request.query_params
    body = request.body
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "query_string": request.query_string,
        "query_params": dict(qp),
        "getlist_foo": qp.getlist("foo"),
        "query_params_str": str(qp),
        "headers": dict(request.headers),
        "is_dict": isinstance(request.headers, dict),
        "getlist_multi": request.headers.getlist("X-Multi"),
        "getlist_test": request.headers.getlist("x-test"),
        "x_test_ci": [request.headers.get("X-Test"), request.headers["x-TEST"] if "X-TeSt" in request.headers else None],
        "body": body.decode("latin-1"),
        # a bytes subclass since `await request.body()` works too (docs/internals/typed-api.md)
        "body_type": "bytes" if isinstance(body, bytes) else type(body).__name__,
        "cookies": request.cookies,
        "client": list(request.client) if request.client else None,
        "url": request.url,
        "scheme": request.scheme,
        "http_version": request.http_version,
        "path_params": request.path_params,
        "session": request.session,
        "user": request.user,
        "current_is_same": viperhttp.current_request() is request,
    }


@app.post("/echo/{item}")
def echo_item(request, item):
    out = _describe(request)
    out["item"] = item
    return out


@app.get("/echo")
def echo_get(request):
    return _describe(request)


@app.post("/json")
def json_body(request):
    first = request.json()
    second = request.json()  # cached: the same object
    return {"data": first, "cached": first is second}


@app.post("/ajson")
async def ajson_body(request):
    return {"data": await request.ajson()}


@app.get("/state")
def state(request):
    request.state.counter = 1
    request.state["counter"] += 1
    # Arbitrary attributes are allowed (docs/internals/requests-responses.md#request).
    request.custom_attribute = "free"
    request.session = {"sid": "s1"}
    request.user = "alice"
    return {
        "counter": request.state.counter,
        "state": dict(request.state),
        "custom": request.custom_attribute,
        "session": request.session,
        "user": request.user,
    }


@app.get("/disconnected")
async def disconnected(request):
    return {"disconnected": await request.is_disconnected(), "id_set": request.request_id is not None}


DISCONNECTS = []


@app.get("/wait-disconnect")
async def wait_disconnect(request):
    for _ in range(500):
        if await request.is_disconnected():
            DISCONNECTS.append(request.request_id)
            return "gone"
        await asyncio.sleep(0.01)
    return "timeout"


@app.get("/disconnects")
def disconnects():
    return {"count": len(DISCONNECTS)}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))
