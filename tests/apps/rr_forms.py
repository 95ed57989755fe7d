"""Test app for tests/test_forms.py: echoes `request.form()` and exercises `UploadFile`.

Optional argv[2] "big" starts with a raised body limit for the 8 MiB upload test.
"""
import hashlib
import sys

import viperhttp
import viperhttp.forms
from viperhttp_responses import UploadFile, form_upload

app = viperhttp.ViperHTTP()


def _jsonable(value):
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):  # a file part
        data = value["data"]
        return {"filename": value["filename"], "content_type": value["content_type"],
                "size": len(data), "data": data.decode("latin-1"),
                "data_type": type(data).__name__}
    return value


@app.post("/form")
def form(request):
    return {"form": {k: _jsonable(v) for k, v in request.form().items()},
            "cached": request.form() is request.form()}


@app.post("/form-multi")
async def form_multi(request):
    """Starlette's FormData methods, the FastAPI way (`await request.form()`)."""
    form = await request.form()
    return {"tags": form.getlist("tag"), "none": form.getlist("none"),
            "items": [[k, v if isinstance(v, str) else v["filename"]] for k, v in form.multi_items()]}


@app.post("/form-small-files")
def form_small_files(request):
    # Set per request: the bridge may set MAX_FILE_SIZE from run(max_body_size=...) at start.
    viperhttp.forms.MAX_FILE_SIZE = 1000
    try:
        return {"form": {k: _jsonable(v) for k, v in request.form().items()}}
    finally:
        viperhttp.forms.MAX_FILE_SIZE = 1048576


@app.post("/multipart")
def multipart(request):
    form = request.form()
    info = form.get("file") or {}
    return {"title": form.get("title"), "file": {
        "filename": info.get("filename"), "content_type": info.get("content_type"),
        "size": len(info.get("data", b""))}}


@app.post("/uploadfile")
async def uploadfile(request):
    upload = form_upload(request.form(), "file")
    if upload is None:
        return {"upload": None}
    head = await upload.read(4)
    await upload.seek(0)
    body = await upload.read()
    sync_pos = upload.tell_sync()
    upload.seek_sync(0)
    sync_head = upload.read_sync(2)
    file_head = upload.file.read(3).decode()  # Starlette's sync file, same position: "led"
    await upload.close()
    return {"filename": upload.filename, "content_type": upload.content_type,
            "head": head.decode(), "body": body.decode(), "tell": sync_pos,
            "sync_head": sync_head.decode(), "closed": upload.closed,
            "after_close": (await upload.read()).decode(), "size_after_close": upload.size,
            "is_upload": isinstance(upload, UploadFile), "file_head": file_head}


@app.post("/big")
def big(request):
    form = request.form()
    data = form["file"]["data"]
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "note": form.get("note")}


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "big":
        app.run(port=int(sys.argv[1]), max_body_size=16 * 1024 * 1024,
                ipc_ring_size=64 * 1024 * 1024)
    else:
        app.run(port=int(sys.argv[1]))
