"""Paths of `FileResponse` and the VFS mapping (docs/guide/device-apps.md#device-paths-vfs_root).

The file itself is served by the native runtime (docs/internals/static-files.md#fileresponse):
`FileResponse` only records the mapped, absolute path, and the runtime opens the file and applies
the static-file rules (content type, ETag, `Last-Modified`, conditionals, ranges, `.gz` siblings)
against the request it answers. The rules exist once, in Rust; `accepts_gzip` and `etag_matches`
here are the native functions under their old names (used by `TemplateResponse`).
"""
from __future__ import annotations

import os
from typing import Optional

from viperhttp import _native

__all__ = ["VFS_ROOT", "resolve_path", "host_path", "accepts_gzip", "etag_matches"]

#: VFS root (docs/guide/device-apps.md#device-paths-vfs_root). None = read env `VIPERHTTP_VFS_ROOT` at each
#: call; unset or empty there too = plain host paths. The bridge sets this from `run(vfs_root=...)`.
VFS_ROOT: Optional[str] = None


def accepts_gzip(value: Optional[str]) -> bool:
    """docs/internals/static-files.md#gzip, through the runtime's rule (`_native.accepts_gzip`)."""
    return _native.accepts_gzip(value)


def etag_matches(header: str, etag: str) -> bool:
    """`If-None-Match` weak comparison, through the runtime's rule (`_native.etag_matches`)."""
    return _native.etag_matches(header, etag)


def resolve_path(path: str) -> str:
    """Map a VFS path to a host path (docs/guide/device-apps.md#device-paths-vfs_root)."""
    root = VFS_ROOT if VFS_ROOT is not None else os.environ.get("VIPERHTTP_VFS_ROOT")
    if not root:
        return path
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(base, path.lstrip("/")))
    if full != base and not full.startswith(base.rstrip(os.sep) + os.sep):
        raise ValueError(f"path leaves vfs_root: {path!r}")
    return full


def host_path(path: str) -> str:
    """The absolute host path a `FileResponse` hands to the runtime: VFS-mapped, then made
    absolute against the working directory now, so a later `chdir` cannot move it (the runtime
    refuses relative paths, docs/internals/ipc.md §2)."""
    return os.path.abspath(resolve_path(path))
