"""The ``anyio-bridge`` command line: :func:`main` and ``info``.

``serve``'s arguments are in :mod:`.arguments`.

``anyio_bridge.__main__`` (``python -m anyio_bridge`` and the console
script) calls :func:`main`.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Sequence

from .._version import __version__
from .arguments import BACKENDS, BIND_VARIABLE, add_serve_arguments, serve_options
from .errors import INTERRUPTED, ServeError, UsageError, interrupted
from .serve import serve

__all__ = ["BACKENDS", "BIND_VARIABLE", "INTERRUPTED", "available_backends", "main"]


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


def _run_serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        options = serve_options(args)
    except UsageError as exc:
        parser.error(str(exc))
    try:
        return serve(options)
    except ServeError as exc:
        exc.report()
        return 1
    except KeyboardInterrupt:
        # Ctrl-C before the server took over the signal (while importing).
        return interrupted()


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
    serve_parser = commands.add_parser(
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
    add_serve_arguments(serve_parser)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _run_serve(serve_parser, args)
    return _info()
