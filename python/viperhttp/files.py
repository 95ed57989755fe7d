"""Paths of `FileResponse` and the VFS mapping (docs/guide/device-apps.md#device-paths-vfs_root).

The file itself is served by the native runtime (docs/internals/static-files.md#fileresponse):
`FileResponse` only records the mapped, absolute path, and the runtime opens the file and applies
the static-file rules (content type, ETag, `Last-Modified`, conditionals, ranges, `.gz` siblings)
against the request it answers. The rules exist once, in Rust; `accepts_gzip` and `etag_matches`
here are the native functions under their old names (used by `TemplateResponse`).
"""
from __future__ import annotations

import os
from typing import Dict, Optional

from viperhttp import _native

__all__ = ["VFS_ROOT", "resolve_path", "host_path", "open_path", "vfs_base", "accepts_gzip", "etag_matches"]

#: VFS root (docs/guide/device-apps.md#device-paths-vfs_root). None = read env `VIPERHTTP_VFS_ROOT` at each
#: call; unset or empty there too = plain host paths. The bridge sets this from `run(vfs_root=...)`.
VFS_ROOT: Optional[str] = None


def accepts_gzip(value: Optional[str]) -> bool:
    """docs/internals/static-files.md#gzip, through the runtime's rule (`_native.accepts_gzip`)."""
    return _native.accepts_gzip(value)


def etag_matches(header: str, etag: str) -> bool:
    """`If-None-Match` weak comparison, through the runtime's rule (`_native.etag_matches`)."""
    return _native.etag_matches(header, etag)


#: each configured root as the absolute path it named when first seen: a relative root
#: (`VIPERHTTP_VFS_ROOT=./fs`) must not move when the app later calls `chdir`
_ABS_ROOTS: Dict[str, str] = {}


def _absolute_root(root: str) -> str:
    base = _ABS_ROOTS.get(root)
    if base is None:
        base = _ABS_ROOTS[root] = os.path.normpath(os.path.abspath(root))
    return base


if os.environ.get("VIPERHTTP_VFS_ROOT"):  # resolved now, before app code can `chdir`
    _absolute_root(os.environ["VIPERHTTP_VFS_ROOT"])


def vfs_base() -> Optional[str]:
    """The configured root as an absolute host path, or None when paths are host paths."""
    root = VFS_ROOT if VFS_ROOT is not None else os.environ.get("VIPERHTTP_VFS_ROOT")
    return _absolute_root(root) if root else None


def resolve_path(path: str) -> str:
    """Map a VFS path to a host path (docs/guide/device-apps.md#device-paths-vfs_root)."""
    base = vfs_base()
    if base is None:
        return path
    full = os.path.normpath(os.path.join(base, path.lstrip("/")))
    if full != base and not full.startswith(base.rstrip(os.sep) + os.sep):
        raise ValueError(f"path leaves vfs_root: {path!r}")
    return full


def open_path(path: str) -> str:
    """Where `compat.patch_open()`'s `open()` goes for an absolute `path`: the device path under
    the root when that file, or the folder it would be made in, exists there; else `path` as it
    is. So the framework's own already mapped paths (templates, sessions, OTA) are not mapped a
    second time, and the host's files (`/etc/mime.types` read by the standard library) stay
    reachable (docs/guide/device-apps.md#device-paths-vfs_root)."""
    base = vfs_base()
    if base is None or path == base or path.startswith(base.rstrip(os.sep) + os.sep):
        return path
    try:
        mapped = resolve_path(path)
    except ValueError:  # leaves the root through `..`: not a device path
        return path
    if os.path.exists(mapped) or os.path.isdir(os.path.dirname(mapped)):
        return mapped
    return path


def host_path(path: str) -> str:
    """The absolute host path a `FileResponse` hands to the runtime: VFS-mapped, then made
    absolute against the working directory now, so a later `chdir` cannot move it (the runtime
    refuses relative paths, docs/internals/ipc.md §2)."""
    return os.path.abspath(resolve_path(path))
