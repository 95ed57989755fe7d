"""`viperhttp run module:app` and `python -m viperhttp run ...` (docs/guide/deployment.md).

One worker serves in this process. `--workers N` makes this process a supervisor
(`viperhttp.supervisor`) of N fresh interpreters that share the port with `SO_REUSEPORT`;
`--reload` makes it a watcher that restarts one child on `.py` changes. A start-up failure
(the module or attribute is missing, a startup handler fails, the port cannot be bound) exits
with status 3, so process managers can tell it from a crash.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

#: exit status of a failed start-up
EXIT_STARTUP = 3

log = logging.getLogger("viperhttp.cli")


class StartupError(Exception):
    """The app could not be loaded or started; `traceback`: the exception whose traceback the
    log line should carry (the app's own code failed), else None."""

    def __init__(self, message: str, traceback: Optional[BaseException] = None) -> None:
        super().__init__(message)
        self.traceback = traceback


def _bounded(low: int, high: int) -> Any:
    """An argparse type: an int in `low..high`, else a usage error naming the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}..{high}")
        return value
    return parse


# What a FastAPI user types first has no `dev` command here; the examples say what to write
# instead, and that the default port is the device's 8080 (docs/guide/deployment.md).
_EXAMPLES = """examples:
  viperhttp run main:app                 serve `app` of main.py on 0.0.0.0:8080
  viperhttp run main.py --port 8000      a file path works too (as `fastapi run main.py`)
  viperhttp run main:app --reload --host 127.0.0.1
                                         development (FastAPI's `fastapi dev`)
  viperhttp run main:app --workers 4     four processes sharing the port

`viperhttp run --help` lists every option."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="viperhttp", description="Run a ViperHTTP app.", epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import version

    parser.add_argument("--version", action="version", version=f"viperhttp {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve an app: viperhttp run module:app")
    run.add_argument("target", help="module:attribute or path/to/file.py[:attribute] (attribute defaults to `app`)")
    run.add_argument("--host", default="0.0.0.0",
                     help="address to listen on (default 0.0.0.0: every interface; 127.0.0.1: this machine only)")
    run.add_argument("--port", type=_bounded(0, 65535), default=8080,
                     help="port to listen on (default 8080; 0 picks a free one)")
    run.add_argument("--workers", type=int, default=1,
                     help="processes sharing the port with SO_REUSEPORT (default 1)")
    run.add_argument("--reload", action="store_true", help="restart on .py changes (dev only)")
    run.add_argument("--vfs-root", default=None, help="directory that device paths (/www) map to")
    run.add_argument("--log-level", default="info",
                     choices=["critical", "error", "warning", "info", "debug", "trace"])
    run.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=False,
                     help="one log line per response (default off)")
    run.add_argument("--shared-store", default=None,
                     help="redis://host:port/db for state shared by workers")
    run.add_argument("--https", action="store_true", help="serve HTTPS (needs --tls-cert and --tls-key)")
    run.add_argument("--tls-cert", default=None, metavar="PEM",
                     help="certificate chain file (PEM); implies --https; SIGHUP re-reads it")
    run.add_argument("--tls-key", default=None, metavar="PEM", help="private key file (PEM)")
    run.add_argument("--http2", action="store_true",
                     help="also serve HTTP/2 (ALPN h2 with HTTPS, prior knowledge or h2c upgrade without)")
    run.add_argument("--http2-max-streams", type=_bounded(1, 64), default=None, metavar="N",
                     help="concurrent streams per HTTP/2 connection (default 8, at most 64)")
    run.add_argument("--app-dir", default=".", help="directory put first on sys.path")
    run.add_argument("--bridge-max-workers", type=_bounded(1, 65535), default=None, metavar="N",
                     help="async handlers that may wait at once (default 256, started on demand)")
    run.add_argument("--bridge-queue-size", type=_bounded(1, 1 << 20), default=None, metavar="N",
                     help="requests that may wait for a free worker before 503 (default 256)")
    run.add_argument("--forwarded-allow-ips", default=os.environ.get("FORWARDED_ALLOW_IPS"), metavar="LIST",
                     help="proxies whose X-Forwarded-For/-Proto are believed: addresses, CIDR blocks or *"
                          " (default: none, or $FORWARDED_ALLOW_IPS)")
    run.add_argument("--max-body-size", type=int, default=None, metavar="BYTES",
                     help="largest request body, uploads included (default 1 MiB)")
    run.add_argument("--shutdown-timeout", type=float, default=None, metavar="SECONDS",
                     help="how long a stop waits for requests in progress (default 10)")
    # Set by a supervisor for its children: bind with SO_REUSEPORT.
    run.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    return parser


def run_keywords(args: argparse.Namespace) -> Dict[str, Any]:
    """The `app.run()` keywords that the command line sets (they override the module's own)."""
    kw: Dict[str, Any] = {"host": args.host, "port": args.port}
    if args.vfs_root:
        kw["vfs_root"] = os.path.abspath(args.vfs_root)
    if args.reuse_port:
        kw["reuse_port"] = True
    if args.shared_store:
        kw["shared_store"] = args.shared_store
    if args.https:
        kw["https"] = True
    if args.tls_cert:
        kw["tls_cert_path"] = args.tls_cert
    if args.tls_key:
        kw["tls_key_path"] = args.tls_key
    if args.http2:
        kw["http2"] = True
    if args.http2_max_streams is not None:
        kw["http2_max_streams"] = args.http2_max_streams
    if args.bridge_max_workers is not None:
        # the default pool's shape with another bound: 4 workers at start, one more for each
        # request no worker is free for (docs/internals/bridge.md#default-pool)
        kw["bridge_min_workers"] = min(4, args.bridge_max_workers)
        kw["bridge_max_workers"] = args.bridge_max_workers
        kw["bridge_grow_on_demand"] = True
    if args.bridge_queue_size is not None:
        kw["bridge_queue_size"] = args.bridge_queue_size
    if args.forwarded_allow_ips:
        kw["forwarded_allow_ips"] = args.forwarded_allow_ips
    if args.max_body_size is not None:
        kw["max_body_size"] = args.max_body_size
    if args.shutdown_timeout is not None:
        kw["shutdown_timeout_s"] = args.shutdown_timeout
    return kw


def _configure_logging(args: argparse.Namespace) -> None:
    level = "debug" if args.log_level == "trace" else args.log_level
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    import viperhttp
    viperhttp.set_log_level(args.log_level)
    access = logging.getLogger("viperhttp.access")
    access.setLevel(logging.INFO if args.access_log else logging.WARNING)


def load_app(target: str, app_dir: str, cwd: Optional[str] = None) -> Any:
    """Imports `module:attr`. A module that serves at import (`app.run()` at the bottom, the
    device style) has served by the time this returns; the caller sees that via the bridge.
    A file target is relative to `cwd` (the working directory the command started in, which
    `--vfs-root` has left by now), by default the current one."""
    module_name, _, attr = target.partition(":")
    if not module_name:
        raise StartupError(f"invalid target {target!r}: expected module:app")
    path = os.path.abspath(app_dir)
    if module_name.endswith(".py"):
        # `viperhttp run main.py` / `src/app/main.py:api`, as `fastapi run main.py` takes it
        path, module_name = _module_of_file(module_name, cwd or os.getcwd())
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except SystemExit:
        raise
    except Exception as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == module_name:
            raise StartupError(f"module {module_name!r} not found") from exc
        # the app's own code failed: its traceback says where (file and line)
        raise StartupError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}",
                           traceback=exc) from exc
    app = getattr(module, attr or "app", None)
    if app is None:
        import viperhttp_bridge
        if viperhttp_bridge.Bridge.served:
            return None
        raise StartupError(f"module {module_name!r} has no attribute {attr or 'app'!r}")
    if not callable(getattr(app, "run", None)):
        # a dict, a factory function: one line, exit 3, not a traceback from inside the CLI
        hint = " (a factory? call it at module level: app = create_app())" if callable(app) else ""
        raise StartupError(f"{target!r} is a {type(app).__name__}, not a ViperHTTP app{hint}")
    return app


def _module_of_file(file: str, cwd: str) -> Tuple[str, str]:
    """(directory for sys.path, dotted module name) of a `.py` file, relative to `cwd`: the
    directories above it that hold an `__init__.py` make its package (FastAPI CLI's rule), so
    the app's relative imports work."""
    full = os.path.abspath(os.path.join(cwd, file))
    if not os.path.isfile(full):
        raise StartupError(f"file {file!r} not found")
    directory, name = os.path.split(full)
    parts = [name[:-3]]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    return directory, ".".join(parts)


def serve_one(args: argparse.Namespace) -> int:
    """Serves in this process until stopped; the exit status."""
    import viperhttp
    import viperhttp_bridge
    viperhttp.compat.install()
    _configure_logging(args)
    overrides = run_keywords(args)
    if args.vfs_root:
        os.environ["VIPERHTTP_VFS_ROOT"] = overrides["vfs_root"]
    if args.shared_store:
        os.environ["VIPERHTTP_SHARED_STORE"] = args.shared_store
    viperhttp_bridge.CLI_OVERRIDES.update(overrides)
    # The device's `wifi=True` start line means nothing under the host's own command.
    viperhttp_bridge.CLI_OVERRIDES["wifi"] = False
    app: Any = None
    try:
        app_dir = os.path.abspath(args.app_dir)
        started_in = os.getcwd()  # a file target is relative to it, as `--app-dir` is
        if args.vfs_root:
            if not os.path.isdir(overrides["vfs_root"]):
                # named, with what to do: a raw "[Errno 2] No such file or directory" did not say
                # which option it was about (docs/guide/device-apps.md)
                raise StartupError(f"--vfs-root {args.vfs_root!r} is not a directory "
                                   f"(the device's files live there: create it first)")
            os.chdir(overrides["vfs_root"])  # device apps open relative paths from their root
        app = load_app(args.target, app_dir, started_in)
        if app is None or viperhttp_bridge.Bridge.served:
            return 0  # the module served at import and has stopped
        app.run()
    except StartupError as exc:
        log.error("startup failed: %s", exc, exc_info=exc.traceback)
        return EXIT_STARTUP
    except (viperhttp_bridge.StartFailure, viperhttp_bridge.AddressInUseError):
        return EXIT_STARTUP  # already logged in one line (a certificate that cannot be used, a taken port)
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        if viperhttp_bridge.Bridge.current is None and getattr(app, "bound_port", None) is None:
            # a setting the runtime refused (`--port 99999`, a bad store URL): its message is
            # the whole story, the framework's stack is not; a startup handler's own error
            # (logged with its traceback as `startup_error`) is named rather than repeated
            cause = exc.__cause__
            if isinstance(exc, viperhttp_bridge.StartupHandlerError) and cause is not None:
                log.error("startup failed: a startup handler raised %s: %s", type(cause).__name__, cause)
            else:
                log.error("startup failed: %s", exc)
            return EXIT_STARTUP
        raise
    return 0


def child_argv(args: argparse.Namespace, reuse_port: bool) -> List[str]:
    """The command line of one worker: this CLI in a fresh interpreter, one worker."""
    argv = [sys.executable, "-m", "viperhttp", "run", args.target, "--host", args.host,
            "--port", str(args.port), "--log-level", args.log_level, "--app-dir",
            os.path.abspath(args.app_dir)]
    if args.vfs_root:
        argv += ["--vfs-root", os.path.abspath(args.vfs_root)]
    if args.access_log:
        argv.append("--access-log")
    if args.shared_store:
        argv += ["--shared-store", args.shared_store]
    if args.https:
        argv.append("--https")
    if args.tls_cert:
        argv += ["--tls-cert", os.path.abspath(args.tls_cert)]
    if args.tls_key:
        argv += ["--tls-key", os.path.abspath(args.tls_key)]
    if args.http2:
        argv.append("--http2")
    if args.http2_max_streams is not None:
        argv += ["--http2-max-streams", str(args.http2_max_streams)]
    for flag, value in (("--bridge-max-workers", args.bridge_max_workers),
                        ("--bridge-queue-size", args.bridge_queue_size),
                        ("--max-body-size", args.max_body_size), ("--shutdown-timeout", args.shutdown_timeout),
                        ("--forwarded-allow-ips", args.forwarded_allow_ips)):
        if value is not None:
            argv += [flag, str(value)]
    if reuse_port:
        argv.append("--reuse-port")
    return argv


#: `fastapi dev` options that take a value (the word after them is not the app's path)
_DEV_VALUE_OPTIONS = ("--host", "--port", "--app", "--entrypoint", "-e", "--root-path", "--reload-dir",
                      "--forwarded-allow-ips")


def _fastapi_dev_words(words: List[str]) -> Tuple[str, Dict[str, str]]:
    """The path and the `--host` / `--port` of a `fastapi dev` command line, options in any
    order (`fastapi dev --port 9000 main.py`); the path defaults to FastAPI's `main:app`."""
    target, given, i = "main:app", {}, 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            name, eq, value = word.partition("=")
            if not eq and name in _DEV_VALUE_OPTIONS and i + 1 < len(words):
                i, value = i + 1, words[i + 1]
            given[name] = value
        elif target == "main:app":
            target = word
        i += 1
    return target, given


def main(argv: Optional[List[str]] = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["dev"]:
        # FastAPI's `fastapi dev main.py`: argparse's "invalid choice: 'dev'" did not say what to
        # write instead (docs/guide/deployment.md)
        target, given = _fastapi_dev_words(words[1:])
        print(f"viperhttp: there is no `dev` command; for FastAPI's `fastapi dev`, write:\n"
              f"  viperhttp run {target} --reload --host {given.get('--host', '127.0.0.1')} "
              f"--port {given.get('--port', '8000')}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        print("viperhttp: --workers must be >= 1", file=sys.stderr)
        return 2
    if (args.tls_cert or args.tls_key) and not args.https:
        args.https = True  # a certificate means HTTPS, as uvicorn's --ssl-certfile does
    if args.reload:
        if args.workers > 1:
            print("viperhttp: --reload runs one worker; --workers ignored", file=sys.stderr)
        from .supervisor import reload_loop
        return reload_loop(args)
    if args.workers > 1:
        from .supervisor import supervise
        return supervise(args)
    return serve_one(args)
