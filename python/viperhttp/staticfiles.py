"""`viperhttp.staticfiles.StaticFiles`, the spelling of `fastapi.staticfiles`: what
`app.mount("/static", StaticFiles(directory="static"), name="static")` mounts. It only names
the directory and its options; the files are served by the native runtime as every mount
(docs/internals/static-files.md), so it is not an ASGI application and serves nothing itself."""
from __future__ import annotations

import os
from typing import Any, Optional

__all__ = ["StaticFiles"]


class StaticFiles:
    """`StaticFiles(directory=..., html=False, check_dir=True)`: `html=True` serves `index.html`
    for a directory, as Starlette's. `packages=` (files inside installed packages) is not
    supported: give the directory."""

    __slots__ = ("directory", "html")

    def __init__(self, *, directory: Any = None, packages: Any = None, html: bool = False,
                 check_dir: bool = True, follow_symlink: bool = False) -> None:
        if packages is not None:
            raise TypeError("StaticFiles(packages=...) is not supported: give directory=")
        if directory is None:
            raise TypeError("StaticFiles needs directory=")
        directory = os.fspath(directory)
        if check_dir and not os.path.isdir(directory):
            raise RuntimeError(f"Directory '{directory}' does not exist")  # Starlette's error
        self.directory: str = directory
        self.html = bool(html)

    def __repr__(self) -> str:
        return f"StaticFiles(directory={self.directory!r}, html={self.html})"


def mount_source(root: Any, html: bool) -> "tuple[Any, bool, Optional[str]]":
    """What `app.mount` was given, as (directory, html, refusal): a `StaticFiles` gives its own."""
    if isinstance(root, StaticFiles):
        return root.directory, root.html or html, None
    if hasattr(root, "add_api_route") or hasattr(root, "_routes_by_id"):
        return root, html, ("mounting another app is not supported (one app serves per process): "
                            "include its routes with an APIRouter and app.include_router(...)")
    return root, html, None
