"""A FastAPI app ported by changing only the package name (docs/index.md "Coming from FastAPI"):
FastAPI's import spellings a newcomer writes on day one resolve to the same objects and serve
over a real socket (the tenth user trial, docs/internals/coverage.md)."""
from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

from conftest import ROOT


# As FastAPI's tutorial writes it, with `fastapi` replaced by `viperhttp`.
APP = textwrap.dedent('''
    from typing import Annotated

    from viperhttp import Depends, HTTPException, Security, ViperHTTP
    from viperhttp.middleware.cors import CORSMiddleware
    from viperhttp.middleware.trustedhost import TrustedHostMiddleware
    from viperhttp.security import OAuth2PasswordBearer, SecurityScopes
    from viperhttp.testclient import TestClient

    app = ViperHTTP()
    app.add_middleware(CORSMiddleware, allow_origins=["https://app.example"], allow_methods=["*"])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["testserver"])
    oauth2 = OAuth2PasswordBearer(tokenUrl="token", scopes={"items": "Read items."})


    def current_user(scopes: SecurityScopes, token: Annotated[str, Depends(oauth2)]) -> str:
        if "items" in scopes.scopes and token != "ada":
            raise HTTPException(401, "Not enough permissions")
        return token


    @app.get("/items")
    def items(user: Annotated[str, Security(current_user, scopes=["items"])]) -> dict:
        return {"user": user}


    with TestClient(app) as client:
        ok = client.get("/items", headers={"Authorization": "Bearer ada",
                                           "Origin": "https://app.example"})
        print(ok.status_code, ok.json(), ok.headers.get("access-control-allow-origin"))
        print(client.get("/items", headers={"Authorization": "Bearer bob"}).status_code)
        pre = client.options("/items", headers={"Origin": "https://app.example",
                                                "Access-Control-Request-Method": "GET"})
        print(pre.status_code, pre.headers.get("access-control-allow-origin"))
        print(client.get("/items", headers={"Host": "evil.example"}).status_code)
''')


def test_fastapi_import_paths_serve_an_app(tmp_path):
    (tmp_path / "ported.py").write_text(APP)
    proc = subprocess.run([sys.executable, "ported.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "200 {'user': 'ada'} https://app.example",  # Security's scopes reached the dependency
        "401",
        "204 https://app.example",                  # the native preflight, configured
        "400",                                      # the native trusted-host check, configured
    ], proc.stdout


def test_the_module_paths_are_the_same_classes():
    import viperhttp
    from viperhttp import middleware, security
    from viperhttp.middleware.cors import CORSMiddleware
    from viperhttp.middleware.trustedhost import TrustedHostMiddleware
    from viperhttp.routing import APIRouter, APIWebSocketRoute, Mount

    assert APIRouter is viperhttp.APIRouter is viperhttp.Router  # fastapi.routing.APIRouter
    assert CORSMiddleware is middleware.CORSMiddleware
    assert TrustedHostMiddleware is middleware.TrustedHostMiddleware
    assert viperhttp.Security is security.Security
    from viperhttp import app_routes  # fastapi.routing's route classes
    assert (APIWebSocketRoute, Mount) == (app_routes.APIWebSocketRoute, app_routes.Mount)


def test_the_docs_urls_show_their_defaults_as_fastapi():
    # `help(ViperHTTP)` and editors show the signature: real defaults, not `<object object at ...>`
    import viperhttp

    params = inspect.signature(viperhttp.ViperHTTP).parameters
    assert (params["openapi_url"].default, params["docs_url"].default, params["redoc_url"].default) \
        == ("/openapi.json", "/docs", "/redoc")


def test_help_of_a_route_decorator_lists_its_keywords():
    # `help(app.get)` showed only `get(self, *args, **kwargs)`: nothing said which keywords
    # (FastAPI's `response_model`, `status_code`, ... and the original's `query`, `deps`) it takes
    import viperhttp

    for method in ("get", "post", "put", "patch", "delete", "options", "head"):
        doc = " ".join((getattr(viperhttp.ViperHTTP, method).__doc__ or "").split())
        assert f"answers {method.upper()} requests" in doc, doc
        for keyword in ("response_model", "status_code", "tags", "dependencies", "responses",
                        "summary", "blocking", "query", "deps"):
            assert f"`{keyword}`" in doc, (method, keyword)
    assert viperhttp.APIRouter.get.__doc__ == viperhttp.ViperHTTP.get.__doc__


def test_mypy_strict_sees_the_types_of_every_public_package(tmp_path):
    # Each package of the wheel that apps import carries py.typed; without it mypy --strict
    # stops at `import viperhttp_autodocs` ("missing library stubs or py.typed marker").
    app = tmp_path / "typed_imports.py"
    app.write_text(textwrap.dedent('''
        import viperhttp_auth
        import viperhttp_autodocs
        import viperhttp_bridge
        import viperhttp_lifespan
        import viperhttp_ota
        import viperhttp_responses
        import viperhttp_session
        import viperhttp_ws
        from viperhttp import Security, ViperHTTP
        from viperhttp.middleware.cors import CORSMiddleware
        from viperhttp.middleware.trustedhost import TrustedHostMiddleware

        app = ViperHTTP(docs_url="/api-docs")
        app.add_middleware(CORSMiddleware, allow_origins=["*"])
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["*"])
        dep = Security(lambda: 1, scopes=["a"])


        @app.get("/x")
        @viperhttp_autodocs.docs_meta(summary="x")
        def x() -> dict[str, int]:
            return {"x": 1}
    '''))
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(app)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "Success: no issues found" in proc.stdout, proc.stdout
