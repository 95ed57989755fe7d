"""Route once (tests/test_routing.py): the runtime's match reaches the handler through the IPC
record (docs/internals/ipc.md, "Route once"); a middleware that rewrites the path is routed
again; a match with more parameters than a record holds is routed by Python.

Run: python route_once_app.py PORT    Env: ROUTE_ONCE_MW=1 installs the rewriting middleware.
"""
import os
import sys

import viperhttp

app = viperhttp.ViperHTTP()


def carried(request):
    return request._route is not None


@app.get("/items/{item_id:int}/{name}")
def item(request, item_id, name):
    return {"carried": carried(request), "item_id": item_id, "name": name, "params": request.path_params}


@app.get("/bare/{item_id:int}")
def bare(request, item_id):
    # The carried match and the path parameters live in slots: a request whose handler touches
    # nothing else has no instance __dict__ (docs/internals/requests-responses.md#request).
    return {"carried": carried(request), "item_id": item_id, "instance_dict": sorted(vars(request))}


@app.get("/five/{a}/{b}/{c}/{d}/{e}")
def five(request, a, b, c, d, e):
    return {"carried": carried(request), "joined": "".join((a, b, c, d, e))}


@app.post("/items/{item_id:int}/{name}")
async def post_item(request, item_id, name):
    return {"carried": carried(request), "method": request.method, "item_id": item_id}


if os.environ.get("ROUTE_ONCE_MW") == "1":
    @app.middleware("http")
    async def rewrite(request, call_next):
        if request.path.startswith("/old/"):
            request.path = "/items/" + request.path[len("/old/"):]
        return await call_next(request)


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1", wifi=False)
