"""Test app for tests/test_file_response.py: `FileResponse` served by the runtime
(docs/internals/static-files.md#fileresponse), files under the directory given as argv[2];
HTTP/1.1 and h2c on the same port. The environment variable FILE_RESPONSE_RUN (a JSON object)
adds app.run() keywords, e.g. TLS; GET /__stats returns server_stats()."""
import json
import os
import sys

import viperhttp
from viperhttp import FileResponse

app = viperhttp.ViperHTTP()
ROOT = sys.argv[2]


def _path(request):
    return os.path.join(ROOT, request.query_params.get("name", "large.txt"))


@app.get("/sync")
def sync_file(request):
    return FileResponse(_path(request))


@app.get("/async")
async def async_file(request):
    return FileResponse(_path(request))


@app.post("/post")
def post_file(request):
    return FileResponse(_path(request))


@app.get("/download")
def download(request):
    name = request.query_params.get("as", "report.csv")
    kind = request.query_params.get("kind", "attachment")
    return FileResponse(os.path.join(ROOT, "data"), filename=name, content_disposition_type=kind)


@app.get("/custom")
def custom(request):
    status = int(request.query_params.get("status", "200"))
    return FileResponse(_path(request), status_code=status, media_type="text/x-custom",
                        headers=[("X-App", "1"), ("Vary", "Origin"), ("Content-Range", "bytes 9-9/9"),
                                 ("Cache-Control", "no-store")])


@app.get("/status-tuple")
def status_tuple(request):
    return FileResponse(_path(request)), 201


@app.get("/bad-path")
def bad_path():
    return FileResponse(os.path.join(ROOT, "a\0b"))


@app.get("/__stats")
def stats():
    return viperhttp.server_stats()


@app.middleware("http")
async def wrap(request, call_next):
    resp = await call_next(request)
    if request.path == "/wrapped":
        resp.headers["X-Wrapped"] = resp.path if isinstance(resp, FileResponse) else "no"
    return resp


@app.get("/wrapped")
def wrapped(request):
    return FileResponse(_path(request))


if __name__ == "__main__":
    run = {"http2": True, **json.loads(os.environ.get("FILE_RESPONSE_RUN") or "{}")}
    app.run(port=int(sys.argv[1]), **run)
