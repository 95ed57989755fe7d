"""`uos`: `os` with the device's tuple shapes, over `vfs_root`-mapped paths (docs/guide/device-apps.md).

Every path argument goes through `viperhttp.files.resolve_path`, the single owner of the
`vfs_root` rule, so `/www/index.html` means `<vfs_root>/www/index.html` when the setting is on
and stays a host path when it is off.
"""
from __future__ import annotations

import os as _os
import posixpath
from collections import namedtuple
from typing import Any, Iterator, List, Tuple

from viperhttp.files import resolve_path as _resolve
from viperhttp.files import vfs_base

#: the device's working directory while `vfs_root` is set (a device path; `chdir` moves it, and
#: the process's own working directory with it, so relative `open()` calls follow)
_CWD = ["/"]


def _map(path: str) -> str:
    """A device path as a host path: relative ones from the device's working directory."""
    if vfs_base() is not None and not path.startswith("/"):
        path = posixpath.join(_CWD[0], path)
    return _resolve(path)

__all__ = ["stat", "listdir", "ilistdir", "mkdir", "remove", "rename", "rmdir", "urandom",
           "getcwd", "chdir", "uname", "statvfs", "mount", "umount", "dupterm", "sep", "sync"]

sep = "/"
_DIR, _FILE = 0x4000, 0x8000
_Uname = namedtuple("_Uname", "sysname nodename release version machine")


def stat(path: str) -> Tuple[int, ...]:
    """10-tuple as on the device: `[0]` mode (0x4000 = dir), `[6]` size, `[8]` mtime."""
    st = _os.stat(_map(path))
    mode = _DIR if _os.path.isdir(_map(path)) else _FILE
    return (mode | (st.st_mode & 0o777), st.st_ino, st.st_dev, st.st_nlink, st.st_uid,
            st.st_gid, st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


def listdir(path: str = ".") -> List[str]:
    return sorted(_os.listdir(_map(path)))


def ilistdir(path: str = ".") -> Iterator[Tuple[str, int, int, int]]:
    """Yields `(name, type, inode, size)`; type 0x4000 for directories, 0x8000 for files."""
    with _os.scandir(_map(path)) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            is_dir = entry.is_dir()
            size = 0 if is_dir else entry.stat().st_size
            yield (entry.name, _DIR if is_dir else _FILE, entry.inode(), size)


def mkdir(path: str) -> None:
    _os.mkdir(_map(path))


def remove(path: str) -> None:
    _os.remove(_map(path))


def rename(old: str, new: str) -> None:
    _os.rename(_map(old), _map(new))


def rmdir(path: str) -> None:
    _os.rmdir(_map(path))


def urandom(n: int) -> bytes:
    return _os.urandom(n)


def getcwd() -> str:
    """The device's working directory (`/` at start) while `vfs_root` is set, else the host's."""
    return _CWD[0] if vfs_base() is not None else _os.getcwd()


def chdir(path: str) -> None:
    if vfs_base() is None:
        _os.chdir(path)
        return
    target = posixpath.normpath(posixpath.join(_CWD[0], path))
    _os.chdir(_resolve(target))  # refused (ValueError) when it would leave the root
    _CWD[0] = target


def uname() -> Any:
    u = _os.uname()
    return _Uname(u.sysname, u.nodename, u.release, u.version, u.machine)


def statvfs(path: str = "/") -> Tuple[int, ...]:
    s = _os.statvfs(_map(path))
    return (s.f_bsize, s.f_frsize, s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree,
            s.f_favail, s.f_flag, s.f_namemax)


def sync() -> None:
    _os.sync()


def mount(*_args: Any, **_kw: Any) -> None:
    """No-op: the host's file system is already there."""


def umount(*_args: Any, **_kw: Any) -> None:
    """No-op."""


def dupterm(*_args: Any, **_kw: Any) -> None:
    """No-op: there is no REPL stream to duplicate."""


def __getattr__(name: str) -> Any:
    # Anything else the device's uos has under the same name as CPython's os.
    try:
        return getattr(_os, name)
    except AttributeError:
        raise AttributeError(f"module 'uos' has no attribute {name!r}") from None

