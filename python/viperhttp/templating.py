"""Starlette's `Jinja2Templates` (FastAPI's `fastapi.templating`): plain Jinja2 over a
template directory, for apps ported from FastAPI (docs/guide/sessions-templates.md,
"Jinja2Templates"). The original's `TemplateResponse(path, context)` and its device-compatible
engine are `viperhttp.templates` (docs/internals/templates.md); this module does not use them, so
a FastAPI template renders exactly as Jinja2 renders it there.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .responses import HTMLResponse

__all__ = ["Jinja2Templates"]


class _TemplateResponse(HTMLResponse):
    """An `HTMLResponse` that keeps the template and context it was rendered from (Starlette's)."""

    __slots__ = ("template", "context")
    template: Any
    context: Dict[str, Any]


class Jinja2Templates:
    """`Jinja2Templates(directory="templates")` or `Jinja2Templates(env=jinja2.Environment(...))`,
    with `context_processors=[f(request) -> dict]`. Templates get `request` and Starlette's
    `url_for(name, **path_params)` (`request.url_for`: a route, or a named mount with `path=`)."""

    def __init__(self, directory: Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], None] = None,
                 *, context_processors: Optional[List[Callable[[Any], Dict[str, Any]]]] = None,
                 env: Any = None, **env_options: Any) -> None:
        import jinja2  # the templates extra; imported by the first Jinja2Templates only

        if (directory is None) == (env is None):
            raise TypeError("Jinja2Templates needs either directory= or env=")
        if env is None and directory is not None:
            # Starlette's environment: autoescaped HTML
            env_options.setdefault("loader", jinja2.FileSystemLoader(directory))
            env_options.setdefault("autoescape", True)
            env = jinja2.Environment(**env_options)

        @jinja2.pass_context
        def url_for(context: Any, name: str, /, **path_params: Any) -> Any:
            return context["request"].url_for(name, **path_params)

        env.globals.setdefault("url_for", url_for)
        self.env = env
        self.context_processors = list(context_processors or ())

    def get_template(self, name: str) -> Any:
        return self.env.get_template(name)

    def TemplateResponse(self, *args: Any, **kwargs: Any) -> HTMLResponse:  # noqa: N802 (Starlette's name)
        """`TemplateResponse(request, name, context=None, status_code=200, headers=None,
        media_type=None, background=None)`; Starlette's older `TemplateResponse(name, context)`
        with `context["request"]` works too."""
        names: Tuple[str, ...] = ("request", "name", "context", "status_code", "headers", "media_type",
                                  "background")
        if args and isinstance(args[0], str):  # the older order: name first, the request in the context
            names = ("name", "context", "status_code", "headers", "media_type", "background")
        if len(args) > len(names):
            raise TypeError("too many positional arguments to TemplateResponse")
        for key, value in zip(names, args):
            if key in kwargs:
                raise TypeError(f"TemplateResponse got {key!r} twice")
            kwargs[key] = value
        context: Dict[str, Any] = dict(kwargs.get("context") or {})
        request = kwargs.get("request", context.get("request"))
        if request is None:
            raise ValueError("TemplateResponse needs the request (its first argument)")
        if "name" not in kwargs:
            raise TypeError("TemplateResponse needs the template name")
        context.setdefault("request", request)
        for processor in self.context_processors:
            context.update(processor(request))
        template = self.get_template(kwargs["name"])
        response = _TemplateResponse(template.render(context), kwargs.get("status_code", 200),
                                     kwargs.get("headers"), media_type=kwargs.get("media_type"),
                                     background=kwargs.get("background"))
        response.template = template
        response.context = context
        return response

