"""The arguments of ``anyio-bridge serve``: argparse definitions and parsers.

Malformed values are usage errors (status 2); :func:`serve_options` turns
the parsed arguments into :class:`~.options.ServeOptions`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Callable
from typing import Final, TypeVar

from .._version import __version__
from .app import parse_app_spec
from .errors import UsageError
from .listen import DEFAULT_HOST, DEFAULT_PORT, parse_bind
from .options import LOG_LEVELS, ServeOptions, StaticMount

__all__ = [
    "BACKENDS",
    "BIND_VARIABLE",
    "add_serve_arguments",
    "parse_allow_ips",
    "parse_seconds",
    "parse_static",
    "serve_options",
]

BACKENDS = ("asyncio", "trio")
#: Environment variable with the default of ``serve --bind``.
BIND_VARIABLE: Final = "ANYIO_BRIDGE_BIND"

_T = TypeVar("_T")
_NUMBER = re.compile(r"\d+(\.\d*)?|\.\d+")


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


def parse_seconds(text: str) -> float:
    """A number of seconds, 0 or more (``2``, ``0.5``)."""
    if not _NUMBER.fullmatch(text):
        raise UsageError(f"expected a number of seconds, 0 or more, got {text!r}")
    return float(text)


def parse_static(text: str) -> StaticMount:
    """``URL_PREFIX=DIRECTORY``, such as ``/static=./static``."""
    prefix, equals, directory = text.partition("=")
    if not equals or not directory:
        raise UsageError(
            f"{text!r} is not of the form URL_PREFIX=DIRECTORY, such as "
            "/static=./static"
        )
    prefix = prefix.rstrip("/")
    if not prefix.startswith("/") or "//" in prefix:
        raise UsageError(
            f"{text!r}: the URL prefix must start with '/' and name a path "
            "below the root, such as /static"
        )
    if any(part in (".", "..") for part in prefix.split("/")):
        raise UsageError(f"{text!r}: the URL prefix cannot hold '.' or '..'")
    return StaticMount(prefix, directory)


def parse_allow_ips(text: str) -> tuple[str, ...]:
    """Comma-separated addresses or networks (``10.0.0.0/8``), or ``*``."""
    entries = tuple(entry.strip() for entry in text.split(",") if entry.strip())
    if not entries:
        raise UsageError("expected addresses or networks, such as 127.0.0.1,::1")
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise UsageError(
                f"{entry!r} is neither an IP address, a network such as "
                "10.0.0.0/8, nor '*'"
            ) from None
    return entries


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``serve``."""
    add = parser.add_argument
    add(
        "app",
        metavar="MODULE:APP",
        type=_argument_type(parse_app_spec),
        help="where the WSGI application is, e.g. myproject.wsgi:application",
    )
    add("--version", action="version", version=f"anyio-bridge {__version__}")
    add(
        "--backend",
        choices=BACKENDS,
        default="asyncio",
        help="event loop to serve on (default: asyncio)",
    )
    add(
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
    add(
        "--workers",
        metavar="N",
        type=_argument_type(_positive_int),
        default=1,
        help="worker processes (default: 1, serving in this process)",
    )
    add(
        "--threads",
        metavar="N",
        type=_argument_type(_positive_int),
        default=None,
        help=(
            "requests running the application at once, per worker "
            "(WsgiToAsgi's limiter; default: 64)"
        ),
    )
    add(
        "--root-path",
        metavar="PATH",
        type=_argument_type(_root_path),
        default="",
        help="URL prefix the application is mounted under (its SCRIPT_NAME)",
    )
    add(
        "--static",
        metavar="URL_PREFIX=DIRECTORY",
        type=_argument_type(parse_static),
        action="append",
        default=[],
        help=(
            "serve the files of DIRECTORY under URL_PREFIX, without the "
            "application (repeatable), e.g. /static=./static"
        ),
    )
    add(
        "--reload",
        action="store_true",
        help="restart when a Python file of the application changes (development)",
    )
    add(
        "--access-log",
        metavar="-|FILE|off",
        default="-",
        help="where the access log goes: standard output (-, the default), a file, "
        "or off",
    )
    add(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="log level (default: info; the access log needs info or debug)",
    )
    add("--certfile", metavar="FILE", help="TLS certificate (PEM): serve HTTPS")
    add("--keyfile", metavar="FILE", help="private key of --certfile (PEM)")
    add(
        "--proxy-headers",
        nargs="?",
        const="x-forwarded",
        choices=("x-forwarded", "forwarded"),
        help=(
            "take the client's address and scheme from X-Forwarded-For and "
            "X-Forwarded-Proto (or RFC 7239's Forwarded: --proxy-headers "
            "forwarded), sent by a trusted proxy"
        ),
    )
    add(
        "--forwarded-allow-ips",
        metavar="IPS",
        type=_argument_type(parse_allow_ips),
        default=("127.0.0.1", "::1"),
        help=(
            "the proxies trusted with --proxy-headers: comma-separated addresses "
            "or networks, or * (default: 127.0.0.1,::1)"
        ),
    )
    add(
        "--proxy-hops",
        metavar="N",
        type=_argument_type(_positive_int),
        default=1,
        help="proxies in front of the server, each adding to the headers (default 1)",
    )
    add(
        "--graceful-timeout",
        metavar="SECONDS",
        type=_argument_type(parse_seconds),
        default=3.0,
        help=(
            "on shutdown, how long requests in progress may finish; those "
            "still waiting for a response then get 503 (default: 3)"
        ),
    )
    add(
        "--keep-alive",
        metavar="SECONDS",
        type=_argument_type(parse_seconds),
        default=5.0,
        help="how long an idle keep-alive connection stays open (default: 5)",
    )
    add(
        "--as-asgiref",
        action="store_true",
        help=(
            "install anyio-bridge as asgiref (anyio_bridge.as_asgiref) before "
            "importing the application, in every worker: `import asgiref...` "
            "then gives anyio-bridge's modules"
        ),
    )


def serve_options(args: argparse.Namespace) -> ServeOptions:
    """The options of the parsed arguments.

    :raises UsageError: options that do not go together.
    """
    if (args.certfile is None) != (args.keyfile is None):
        raise UsageError("--certfile and --keyfile go together: give both")
    if args.reload and args.workers != 1:
        raise UsageError("--reload serves with one worker: leave out --workers")
    host, port = args.bind
    return ServeOptions(
        app=args.app,
        backend=args.backend,
        host=host,
        port=port,
        workers=args.workers,
        threads=args.threads,
        root_path=args.root_path,
        log_level=args.log_level,
        as_asgiref=args.as_asgiref,
        access_log=args.access_log,
        static=tuple(args.static),
        reload=args.reload,
        certfile=args.certfile,
        keyfile=args.keyfile,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        proxy_hops=args.proxy_hops,
        graceful_timeout=args.graceful_timeout,
        keep_alive=args.keep_alive,
    )
