"""Large uploads (tests/test_forms.py): uploads up to `max_body_size`, raised to exactly
8 MiB (docs/internals/requests-responses.md#request; docs/internals/http.md#limits). The bridge sets the form
file limit from `run(max_body_size=...)`, so a file part of almost 8 MiB must parse.

Run as `python upload_app.py PORT`.
"""
import hashlib
import sys

import viperhttp
import viperhttp.forms

app = viperhttp.ViperHTTP()
LIMIT = 8 * 1024 * 1024


@app.post("/upload")
def upload(request):
    form = request.form()
    data = form["file"]["data"]
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "note": form.get("note"),
            "body_len": len(request.body), "file_limit": viperhttp.forms.MAX_FILE_SIZE}


@app.post("/raw")
def raw(request):
    return {"body_len": len(request.body), "sha256": hashlib.sha256(request.body).hexdigest()}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), max_body_size=LIMIT, ipc_ring_size=32 * 1024 * 1024)
