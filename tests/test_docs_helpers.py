"""FastAPI's `fastapi.openapi.docs` helpers as `viperhttp.openapi.docs` (docs/internals/api-docs.md,
"Your own docs pages"): FastAPI's self-hosting recipe (`docs_url=None`, `redoc_url=None`, routes
of its own) served over a real socket, its pages loading the bundled assets, and the Swagger UI
page rendered in headless Chromium with every host but 127.0.0.1 unreachable."""
import pytest

import viperhttp
from viperhttp import ViperHTTP
from viperhttp.testclient import TestClient


def _recipe_app(**swagger):
    """FastAPI's "Custom Docs UI Static Assets" recipe, as its tutorial writes it."""
    from viperhttp.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

    viperhttp.reset()
    app = ViperHTTP(docs_url=None, redoc_url=None, title="Shop")

    @app.get("/docs", include_in_schema=False)
    async def custom_swagger_ui_html():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=app.title + " - Swagger UI",
                                   oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url, **swagger)

    @app.get(app.swagger_ui_oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect():
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc_html():
        return get_redoc_html(openapi_url=app.openapi_url, title=app.title + " - ReDoc")

    @app.get("/users/{username}")
    async def read_user(username: str):
        return {"message": f"Hello {username}"}

    return app


def test_fastapis_self_hosted_docs_recipe_serves_the_bundled_assets():
    app = _recipe_app(swagger_ui_parameters={"deepLinking": False, "docExpansion": "none"},
                      init_oauth={"clientId": "shop-client"})
    try:
        with TestClient(app) as client:
            docs = client.get("/docs")
            assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
            page = docs.text
            # the bundled assets by default, served with the document although docs_url=None
            assert '<script src="/_viperhttp/docs/swagger-ui-bundle.js">' in page
            assert 'href="/_viperhttp/docs/swagger-ui.css"' in page
            for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
                assert client.get(f"/_viperhttp/docs/{asset}").status_code == 200, asset
            # FastAPI's page: one `"key": value,` line per parameter, the app's over the defaults
            assert '"deepLinking": false,' in page and '"deepLinking": true' not in page
            assert '"dom_id": "#swagger-ui",' in page and '"docExpansion": "none",' in page
            assert '"validatorUrl": null,' in page and "SwaggerUIBundle.presets.apis," in page
            assert 'ui.initOAuth({"clientId": "shop-client"})' in page
            assert "<title>Shop - Swagger UI</title>" in page and "https://" not in page
            redirect = client.get("/docs/oauth2-redirect").text
            assert "window.opener.swaggerUIRedirectOauth2" in redirect
            redoc = client.get("/redoc").text
            assert '<redoc spec-url="/openapi.json"></redoc>' in redoc
            assert '<script src="/_viperhttp/docs/redoc.standalone.js">' in redoc and "https://" not in redoc
            assert client.get("/users/ann").json() == {"message": "Hello ann"}
            assert set(client.get("/openapi.json").json()["paths"]) == {"/users/{username}"}
    finally:
        viperhttp.reset()


def test_the_helpers_take_fastapis_keywords():
    from viperhttp import HTMLResponse
    from viperhttp.openapi.docs import get_redoc_html, get_swagger_ui_html, swagger_ui_default_parameters

    page = get_swagger_ui_html(openapi_url="/api/openapi.json", title="T", swagger_js_url="/static/ui.js",
                               swagger_css_url="/static/ui.css", swagger_favicon_url="/static/fav.png",
                               swagger_ui_parameters={"syntaxHighlight": {"theme": "obsidian"}})
    assert isinstance(page, HTMLResponse)
    text = page.body
    assert '<script src="/static/ui.js">' in text and 'href="/static/ui.css"' in text
    assert '<link rel="shortcut icon" href="/static/fav.png">' in text
    assert '"syntaxHighlight": {"theme": "obsidian"},' in text and "url: \"/api/openapi.json\"," in text
    assert "oauth2RedirectUrl" not in text and "initOAuth" not in text and "_viperhttp" not in text
    # a value cannot close the <script> element (FastAPI's escaping)
    hostile = get_swagger_ui_html(openapi_url="/o", title="T", swagger_ui_parameters={"x": "</script>"})
    assert "</script>\"" not in hostile.body and "\\u003c/script\\u003e" in hostile.body
    assert swagger_ui_default_parameters["layout"] == "BaseLayout"
    redoc = get_redoc_html(openapi_url="/o", title="R", redoc_js_url="/static/redoc.js",
                           redoc_favicon_url="/static/fav.png", with_google_fonts=True).body
    assert '<script src="/static/redoc.js">' in redoc and "fonts.googleapis.com" in redoc
    assert '<link rel="shortcut icon" href="/static/fav.png">' in redoc


def test_a_self_hosted_swagger_ui_page_renders_offline(browser):
    app = _recipe_app(swagger_ui_parameters={"displayOperationId": True})
    try:
        with TestClient(app):
            base = f"http://127.0.0.1:{app.bound_port}"
            browser.navigate(base + "/docs")
            browser.wait_for("document.querySelectorAll('.opblock').length >= 1")
            shown = browser.evaluate("document.querySelector('.opblock [data-path]').getAttribute('data-path')")
            assert shown == "/users/{username}"
            configs = browser.evaluate("(() => { const c = ui.getConfigs(); "
                                       "return [c.displayOperationId, c.oauth2RedirectUrl, c.validatorUrl]; })()")
            assert configs == [True, base + "/docs/oauth2-redirect", None]
            outside = [u for u in browser.requested_urls()
                       if not (u.startswith("http://127.0.0.1:") or u.startswith(("data:", "blob:")))]
            assert outside == []
    finally:
        viperhttp.reset()
