"""Edge cases of docs/internals/framework.md, docs/internals/requests-responses.md#responses on the wire
(tests/test_api_conformance.py).

Run: python api_conformance_app.py PORT
"""
import sys

import viperhttp
from viperhttp import BackgroundTasks, Depends, Request
from viperhttp_responses import EventSourceResponse, RedirectResponse

app = viperhttp.ViperHTTP()


def _kind(value):
    return "Request" if isinstance(value, Request) else repr(value)


# --- docs/internals/framework.md: every parameter named `request` or annotated `Request` gets the request ---

@app.get("/inject/sync")
def inject_sync(req: Request, request=None):
    return {"req": _kind(req), "request": _kind(request), "same": req is request}


@app.get("/inject/async")
async def inject_async(request, other: "viperhttp.Request" = None):
    return {"request": _kind(request), "other": _kind(other), "same": request is other}


@app.get("/inject/path/{request}")
def inject_path(request, req: Request = None):
    # `request` is a path parameter here: it keeps the path value, `req` gets the Request.
    return {"request": _kind(request), "req": _kind(req)}


def both_requests(r: Request, request=None):
    return {"r": _kind(r), "request": _kind(request), "same": r is request}


@app.get("/inject/dep", deps={"seen": Depends(both_requests)})
def inject_dep(seen, req: Request, request=None):
    return {"dep": seen, "req": _kind(req), "request": _kind(request)}


@app.get("/inject/bg")
def inject_bg(background_tasks, tasks: BackgroundTasks = None):
    return {"same": tasks is background_tasks, "type": type(tasks).__name__}


# --- docs/internals/requests-responses.md#responses: `content=` / `media_type=` on every constructor --------

@app.get("/alias/redirect")
def alias_redirect():
    return RedirectResponse("/target", 302, content="<a href=/target>moved</a>",
                            media_type="text/html; charset=utf-8")


@app.get("/alias/sse")
def alias_sse():
    return EventSourceResponse(content=iter([{"event": "a", "data": "1"}, "two"]),
                               media_type="text/event-stream")


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]))
