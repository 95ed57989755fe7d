"""Test app for tests/test_templates.py: renders template files that the tests write.

`POST /render` takes JSON `{"path", "context", "strict", "stream", "headers", "status_code",
"content_type"}` and answers with `TemplateResponse`; `POST /render-str` calls
`render_template` and answers `{"ok": text}` or `{"error": str(exc), "type": name}`. A context
dict carrying `"__attrs__": {...}` becomes an object with those attributes, `"__tuple__": [...]`
a tuple. Paths are taken as given (the tests pass absolute host paths, or VFS paths when they
start the app with VIPERHTTP_VFS_ROOT).
"""
import sys
import types

import viperhttp

app = viperhttp.ViperHTTP()


def _convert(value):
    if isinstance(value, dict):
        if "__attrs__" in value:
            return types.SimpleNamespace(**{k: _convert(v) for k, v in value["__attrs__"].items()})
        if "__tuple__" in value:
            return tuple(_convert(v) for v in value["__tuple__"])
        return {k: _convert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_convert(v) for v in value]
    return value


@app.post("/render")
async def render(request):
    spec = request.json()
    kwargs = {k: spec[k] for k in ("strict", "stream", "headers", "status_code", "content_type")
              if k in spec}
    if "tpl_ctx" in spec:
        kwargs["tpl_ctx"] = _convert(spec["tpl_ctx"])
    else:
        kwargs["context"] = _convert(spec.get("context"))
    return viperhttp.TemplateResponse(spec["path"], **kwargs)


@app.post("/render-str")
async def render_str(request):
    spec = request.json()
    try:
        text = viperhttp.render_template(spec["path"], _convert(spec.get("context")),
                                         spec.get("strict", True))
    except Exception as exc:  # the tests check the exception type and text
        return {"error": str(exc), "type": type(exc).__name__}
    return {"ok": text}


@app.post("/render-bad-args")
async def render_bad_args(request):
    spec = request.json()
    out = {}
    for label, call in (
        ("path_int", lambda: viperhttp.render_template(5)),
        ("path_empty", lambda: viperhttp.render_template("")),
        ("context_list", lambda: viperhttp.render_template(spec["path"], [1])),
        ("response_context_list", lambda: viperhttp.TemplateResponse(spec["path"], "x")),
    ):
        try:
            call()
            out[label] = "no error"
        except Exception as exc:
            out[label] = f"{type(exc).__name__}: {exc}"
    return out


@app.get("/stats")
def stats():
    return viperhttp.template_stats()


@app.post("/clear")
async def clear(request):
    spec = request.json()
    viperhttp.template_clear_cache(spec.get("path"))
    return {"ok": True}


@app.post("/debug")
async def debug(request):
    spec = request.json()
    return {"debug": viperhttp.template_debug(spec.get("enabled"))}


@app.post("/configure")
async def configure(request):
    return viperhttp.template_configure(**(request.json()))


@app.post("/warmup")
async def warmup(request):
    spec = request.json()
    try:
        return viperhttp.template_warmup(spec["root"])
    except Exception as exc:
        return {"error": str(exc), "type": type(exc).__name__}


if __name__ == "__main__":
    app.run(port=int(sys.argv[1]), host="127.0.0.1")
