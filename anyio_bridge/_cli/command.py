"""The ``anyio-bridge`` command line: its arguments, :func:`main` and ``info``.

``anyio_bridge.__main__`` (``python -m anyio_bridge`` and the console
script) calls :func:`main`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from .._version import __version__
from .app import parse_app_spec
from .errors import ServeError, UsageError
from .listen import DEFAULT_HOST, DEFAULT_PORT, parse_bind
from .options import LOG_LEVELS, ServeOptions
from .serve import serve

__all__ = ["BACKENDS", "BIND_VARIABLE", "INTERRUPTED", "available_backends", "main"]

BACKENDS = ("asyncio", "trio")
#: Environment variable with the default of ``serve --bind``.
BIND_VARIABLE = "ANYIO_BRIDGE_BIND"
#: Exit status after Ctrl-C before serving started (while importing).
INTERRUPTED: Final = 130

_T = TypeVar("_T")


def available_backends() -> dict[str, bool]:
    """Map each backend anyio-bridge supports to whether it can be used here."""
    return {name: importlib.util.find_spec(name) is not None for name in BACKENDS}


def _info() -> int:
    print(f"anyio-bridge {__version__}")
    for name, usable in available_backends().items():
        state = (
            "available"
            if usable
            else f"not installed (pip install 'anyio-bridge[{name}]')"
        )
        print(f"  backend {name}: {state}")
    return 0


def _argument_type(parse: Callable[[str], _T]) -> Callable[[str], _T]:
    """An argparse ``type=`` that reports :class:`.errors.UsageError` as usage."""

    def convert(text: str) -> _T:
        try:
            return parse(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"expected a whole number of 1 or more, got {text!r}")
    return int(text)


def _root_path(text: str) -> str:
    if text and not text.startswith("/"):
        raise UsageError(f"{text!r} does not start with '/'")
    return text


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app",
        metavar="MODULE:APP",
        type=_argument_type(parse_app_spec),
        help="where the WSGI application is, e.g. myproject.wsgi:application",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="asyncio",
        help="event loop to serve on (default: asyncio)",
    )
    parser.add_argument(
        "--bind",
        metavar="HOST:PORT",
        type=_argument_type(parse_bind),
        # A string default goes through `type` too.
        default=os.environ.get(BIND_VARIABLE) or f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        help=(
            f"address to listen on (default: ${BIND_VARIABLE} if set, else "
            "127.0.0.1:8000; port 0 picks a free port; IPv6 as [::1]:8000)"
        ),
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=_argument_type(_positive_int),
        default=1,
        help="worker processes (default: 1, serving in this process)",
    )
    parser.add_argument(
        "--threads",
        metavar="N",
        type=_argument_type(_positive_int),
        default=None,
        help=(
            "requests running the application at once, per worker "
            "(WsgiToAsgi's limiter; default: 64)"
        ),
    )
    parser.add_argument(
        "--root-path",
        metavar="PATH",
        type=_argument_type(_root_path),
        default="",
        help="URL prefix the application is mounted under (its SCRIPT_NAME)",
    )
    parser.add_argument(
        "--as-asgiref",
        action="store_true",
        help=(
            "install anyio-bridge as asgiref (anyio_bridge.as_asgiref) before "
            "importing the application, in every worker: `import asgiref...` "
            "then gives anyio-bridge's modules"
        ),
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="hypercorn's log level (default: info)",
    )


def _run_serve(args: argparse.Namespace) -> int:
    host, port = args.bind
    options = ServeOptions(
        app=args.app,
        backend=args.backend,
        host=host,
        port=port,
        workers=args.workers,
        threads=args.threads,
        root_path=args.root_path,
        log_level=args.log_level,
        as_asgiref=args.as_asgiref,
    )
    try:
        return serve(options)
    except ServeError as exc:
        if exc.details:
            print(exc.details, end="", file=sys.stderr)
        print(f"anyio-bridge serve: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C before the server took over the signal (while importing).
        print("anyio-bridge serve: interrupted", file=sys.stderr)
        return INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="anyio-bridge",
        description="asgiref's bridge and ASGI helpers on anyio (asyncio and trio).",
    )
    parser.add_argument(
        "--version", action="version", version=f"anyio-bridge {__version__}"
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser(
        "info", help="print the version and the usable backends (default)"
    )
    _add_serve_arguments(
        commands.add_parser(
            "serve",
            help="serve a WSGI application with hypercorn, on asyncio or trio",
            description=(
                "Import the WSGI application MODULE:APP, wrap it in "
                "anyio_bridge.wsgi.WsgiToAsgi and serve it with hypercorn until "
                "Ctrl-C (SIGINT) or SIGTERM. MODULE is a dotted module name, "
                "imported with the current directory first on sys.path, or the "
                "path of a .py file."
            ),
        )
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _run_serve(args)
    return _info()
