"""The machinery behind ``anyio-bridge serve`` (see ``docs/cli.md``).

``serve`` imports a WSGI application from a ``MODULE:APP`` spec, wraps it in
:class:`~anyio_bridge.wsgi.WsgiToAsgi` and serves it with hypercorn on asyncio
or trio until SIGINT (Ctrl-C) or SIGTERM.

The listening socket is made here, before hypercorn starts, so that
``--bind 127.0.0.1:0`` works and the URL printed names the real port.  With
one worker the server runs in this process (``hypercorn.asyncio.serve`` or
``hypercorn.trio.serve``), and a :class:`hypercorn.config.Config` subclass
hands hypercorn the socket.  With more, ``hypercorn.run.run`` starts worker
processes: the socket goes to hypercorn as an ``fd://`` bind, and each worker
imports the application again through :func:`_worker_application`
(hypercorn only accepts an import path there).

With ``--as-asgiref`` (:attr:`ServeOptions.as_asgiref`), anyio-bridge is
installed as asgiref (:func:`anyio_bridge.install_as_asgiref`) before the
application is imported, here and in each worker process.

hypercorn is an optional dependency (the ``serve`` extra), imported only when
serving.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO, cast

import anyio
import anyio.lowlevel
import sniffio

from . import _alias
from ._coroutines import iscoroutinefunction
from .wsgi import WsgiToAsgi

if TYPE_CHECKING:
    from hypercorn.config import Config

__all__ = [
    "AppSpec",
    "ServeError",
    "ServeOptions",
    "UsageError",
    "load_wsgi_app",
    "open_listener",
    "parse_app_spec",
    "parse_bind",
    "serve",
]

logger = logging.getLogger("anyio_bridge.serve")

Backend = Literal["asyncio", "trio"]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
INSTALL_SERVE: Final = "pip install 'anyio-bridge[serve]'"
INSTALL_TRIO: Final = "pip install 'anyio-bridge[trio]'"
_MISSING: Final = object()
#: Seconds after hypercorn's graceful_timeout before a shutdown is forced.
SHUTDOWN_MARGIN: Final = 2.0
#: Exit status after Ctrl-C before serving started (while importing).
INTERRUPTED: Final = 130


class UsageError(ValueError):
    """A malformed command-line value (the command exits with status 2)."""


class ServeError(Exception):
    """The application cannot be served (the command exits with status 1).

    :param details: more to print before the message, such as the traceback
        of an exception the application's module raised on import.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class AppSpec:
    """Where the application is: ``module:attribute``.

    *module* is a dotted module name, imported with the current directory
    first on :data:`sys.path`, or the path of a ``.py`` file, imported under
    its file name with its directory first on :data:`sys.path` (as
    ``python path/to/file.py`` would).  *attribute* is a dotted attribute
    path inside the module.
    """

    module: str
    attribute: str

    @property
    def is_file(self) -> bool:
        """Whether :attr:`module` is the path of a ``.py`` file."""
        return self.module.endswith(".py")

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"


def _dotted(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def parse_app_spec(text: str) -> AppSpec:
    """Parse ``MODULE:APP`` (``MODULE`` may also be a ``.py`` file's path).

    :raises UsageError: the text is not of that form.
    """
    module, colon, attribute = text.rpartition(":")
    example = "for example myproject.wsgi:application or app.py:app"
    if not colon:
        raise UsageError(f"{text!r} has no ':'; expected MODULE:APP, {example}")
    if not module or not attribute:
        raise UsageError(f"{text!r} is not of the form MODULE:APP, {example}")
    if not _dotted(attribute):
        raise UsageError(
            f"{attribute!r} in {text!r} is not an attribute name (such as app "
            "or api.wsgi_app)"
        )
    spec = AppSpec(module, attribute)
    if not spec.is_file and not _dotted(module):
        raise UsageError(
            f"{module!r} in {text!r} is neither a dotted module name (such as "
            "package.module) nor the path of a .py file"
        )
    return spec


def parse_bind(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (an IPv6 host in brackets: ``[::1]:8000``).

    :raises UsageError: the text is not of that form or the port is out of
        range.
    """
    host, colon, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"{text!r}: put an IPv6 address in brackets, as [::1]:8000")
    if not colon or not host or not port_text.isdigit():
        raise UsageError(
            f"{text!r} is not of the form HOST:PORT, such as 127.0.0.1:8000"
        )
    port = int(port_text)
    if port > 65535:
        raise UsageError(f"port {port} in {text!r} is out of range (0 to 65535)")
    return host, port


def _import_module(spec: AppSpec, directory: str) -> ModuleType:
    path: Path | None = None
    if spec.is_file:
        path = Path(directory, spec.module).resolve()
        if not path.is_file():
            raise ServeError(f"cannot import {spec.module!r}: no such file {path}")
        name = path.stem
        if not name.isidentifier():
            raise ServeError(
                f"cannot import {spec.module!r}: {name!r} is not a valid module name"
            )
        search_path = str(path.parent)
    else:
        name = spec.module
        search_path = directory
    if sys.path[:1] != [search_path]:
        sys.path.insert(0, search_path)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name == missing or name.startswith(missing + "."):
            raise ServeError(
                f"cannot import {spec.module!r}: no module named {missing!r} "
                f"(looked in {search_path} and on sys.path)"
            ) from None
        raise ServeError(f"importing {spec.module!r} failed: {exc}") from None
    except Exception as exc:
        raise ServeError(
            f"importing {spec.module!r} failed: {type(exc).__name__}: {exc}",
            details="".join(traceback.format_exception(exc)),
        ) from None
    if path is not None and Path(module.__file__ or "").resolve() != path:
        raise ServeError(
            f"cannot import {spec.module!r}: the module name {name!r} is already "
            f"taken by {module.__file__ or module!r}; rename the file or use a "
            "dotted module name"
        )
    return module


def load_wsgi_app(spec: AppSpec, directory: str | None = None) -> WSGIApp:
    """Import and return the WSGI application *spec* names.

    :param directory: what relative names are found from (for a dotted module
        name, what goes first on :data:`sys.path`); the current directory by
        default.
    :raises ServeError: the module cannot be imported, lacks the attribute,
        or the attribute is not callable or is an ASGI application.
    """
    module = _import_module(spec, os.getcwd() if directory is None else directory)
    app: object = module
    for part in spec.attribute.split("."):
        app = getattr(app, part, _MISSING)
        if app is _MISSING:
            raise ServeError(
                f"module {spec.module!r} has no attribute {spec.attribute!r}"
            )
    if not callable(app):
        raise ServeError(
            f"{spec} is not a WSGI application: a {type(app).__name__} object "
            "is not callable"
        )
    if iscoroutinefunction(app) or (
        not isinstance(app, type) and iscoroutinefunction(type(app).__call__)
    ):
        raise ServeError(
            f"{spec} is an async callable, so an ASGI application, not a WSGI one; "
            "serve it with hypercorn or uvicorn directly"
        )
    return cast("WSGIApp", app)


def _check_server(backend: Backend) -> None:
    """Import hypercorn (and trio), or say how to install them."""
    if backend == "trio":
        try:
            import trio  # noqa: F401
        except ImportError:
            raise ServeError(
                f"--backend trio needs trio, which is not installed: {INSTALL_TRIO}"
            ) from None
    try:
        importlib.import_module(f"hypercorn.{backend}")
        import hypercorn.run  # noqa: F401
    except ImportError as exc:
        raise ServeError(
            f"anyio-bridge serve needs hypercorn, which is not installed ({exc}): "
            f"{INSTALL_SERVE}"
        ) from None


def open_listener(host: str, port: int, *, backlog: int = 100) -> socket.socket:
    """Return a TCP socket listening on *host*, *port* (0 for any free port).

    :raises ServeError: the address cannot be resolved or bound.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind(address)
        listener.listen(backlog)
    except OSError as exc:
        listener.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    listener.setblocking(False)
    return listener


def listener_url(listener: socket.socket) -> str:
    """The ``http://`` URL of a listening socket, with its actual port."""
    host, port = listener.getsockname()[:2]
    if listener.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class ServeOptions:
    """The options of ``anyio-bridge serve``."""

    app: AppSpec
    backend: Backend = "asyncio"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    #: ``limiter`` of :class:`~anyio_bridge.wsgi.WsgiToAsgi` (None: its default).
    threads: int | None = None
    root_path: str = ""
    log_level: str = "info"
    #: Install anyio-bridge as asgiref before importing the application.
    as_asgiref: bool = False


def _install_alias() -> None:
    """Install anyio-bridge as asgiref, or raise :class:`ServeError`."""
    try:
        _alias.install_as_asgiref()
    except _alias.AsgirefAlreadyImportedError as exc:
        raise ServeError(str(exc)) from None


def _worker_settings(options: ServeOptions, directory: str) -> str:
    settings = {
        "module": options.app.module,
        "attribute": options.app.attribute,
        "directory": directory,
        "threads": options.threads,
        "as_asgiref": options.as_asgiref,
    }
    return base64.urlsafe_b64encode(json.dumps(settings).encode()).decode("ascii")


def _worker_application(settings: str) -> WsgiToAsgi:
    """Build the application in a worker process started by ``hypercorn.run``.

    hypercorn evaluates ``anyio_bridge._serve:_worker_application('...')``, the
    application path :func:`serve` sets: *settings* is base64-encoded JSON (no
    ``:`` in it, which hypercorn would take for a separator).
    """
    values = json.loads(base64.urlsafe_b64decode(settings))
    if values["as_asgiref"]:
        _install_alias()
    spec = AppSpec(values["module"], values["attribute"])
    return WsgiToAsgi(
        load_wsgi_app(spec, values["directory"]), limiter=values["threads"]
    )


def _make_config(
    options: ServeOptions, listener: socket.socket, directory: str
) -> Config:
    from hypercorn.config import Config, Sockets

    config: Config
    if options.workers == 1:

        class ListenerConfig(Config):
            """Serves on *listener*, made beforehand, instead of on ``bind``."""

            def create_sockets(self) -> Sockets:
                return Sockets([], [listener], [])

        config = ListenerConfig()
    else:
        # hypercorn.run gives its worker processes a copy of the configuration
        # and of the sockets it makes from `bind`: the listener goes there as
        # a file descriptor, which hypercorn takes over (and closes at the end).
        config = Config()
        config.bind = [f"fd://{listener.detach()}"]
        config.application_path = (
            f"{__name__}:_worker_application({_worker_settings(options, directory)!r})"
        )
    config.worker_class = options.backend
    config.workers = options.workers
    config.root_path = options.root_path
    config.loglevel = options.log_level.upper()
    return config


def serve(options: ServeOptions, output: TextIO | None = None) -> int:
    """Serve the application until SIGINT or SIGTERM; return the exit status.

    Prints the URL it listens on to *output* (standard output by default).

    :raises ServeError: the application or the server cannot be loaded, or
        the address cannot be bound.
    """
    out = sys.stdout if output is None else output
    if options.as_asgiref:
        _install_alias()
    _check_server(options.backend)
    directory = os.getcwd()
    application = WsgiToAsgi(
        load_wsgi_app(options.app, directory), limiter=options.threads
    )
    with open_listener(options.host, options.port) as listener:
        workers = "" if options.workers == 1 else f" ({options.workers} workers)"
        banner = (
            f"anyio-bridge: serving {options.app} on {options.backend}{workers} at "
            f"{listener_url(listener)} (press Ctrl+C to quit)"
        )
        config = _make_config(options, listener, directory)
        if options.workers == 1:
            anyio.run(
                _serve_here, application, config, banner, out, backend=options.backend
            )
            return 0
        import hypercorn.run

        print(banner, file=out, flush=True)
        return hypercorn.run.run(config)


def _ignore_cancelled(
    cancelled: type[BaseException],
) -> Callable[[Any, dict[str, Any]], None]:
    """An asyncio exception handler that reports errors, except *cancelled*.

    At the end of a shutdown, asyncio's streams report the connections that
    hypercorn cancelled as errors on Python 3.11; those are not errors.
    """

    def handler(loop: Any, context: dict[str, Any]) -> None:
        if not isinstance(context.get("exception"), cancelled):
            loop.default_exception_handler(context)

    return handler


async def _serve_here(
    application: WsgiToAsgi, config: Config, banner: str, out: TextIO
) -> None:
    """Serve in this process until SIGINT or SIGTERM, then shut down gracefully.

    hypercorn lets the requests in progress finish, for up to its
    ``graceful_timeout`` (3 s), then cancels them.  Should it still be running
    :data:`SHUTDOWN_MARGIN` seconds after that, or on a second signal, the
    server is cancelled outright: hypercorn's asyncio server on Python 3.12+
    waits for every open connection to close before its own grace period
    starts, so a request stuck in the application would keep it up forever.
    """
    stop = anyio.Event()
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tasks:

            async def stop_after_grace_period() -> None:
                await anyio.sleep(max(0.0, config.graceful_timeout + SHUTDOWN_MARGIN))
                print(
                    "anyio-bridge: requests still running after the grace "
                    "period, stopping them",
                    file=out,
                    flush=True,
                )
                tasks.cancel_scope.cancel()

            async def watch_signals() -> None:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    if stop.is_set():
                        message = (
                            f"{name} received, already shutting down: stopping now"
                        )
                        tasks.cancel_scope.cancel()
                    else:
                        message = f"{name} received, shutting down"
                        stop.set()
                        tasks.start_soon(stop_after_grace_period)
                    print(f"anyio-bridge: {message}", file=out, flush=True)

            async def run_server() -> None:
                # In a task of its own: hypercorn's asyncio server can return
                # with a cancellation request left pending on its task (seen
                # with hypercorn 0.18 on Python 3.11), which must not reach
                # the task that owns the cancel scope.
                if sniffio.current_async_library() == "trio":
                    import hypercorn.trio

                    await hypercorn.trio.serve(
                        application, config, shutdown_trigger=stop.wait
                    )
                else:
                    import hypercorn.asyncio

                    # The running asyncio loop, reached without importing
                    # asyncio (see _backends).
                    loop: Any = anyio.lowlevel.current_token().native_token
                    loop.set_exception_handler(
                        _ignore_cancelled(anyio.get_cancelled_exc_class())
                    )
                    try:
                        await hypercorn.asyncio.serve(
                            application, config, shutdown_trigger=stop.wait
                        )
                    except Exception:
                        # Cancelled while waiting out its grace period,
                        # hypercorn 0.18's asyncio server raises
                        # InvalidStateError from its own clean-up.
                        if not tasks.cancel_scope.cancel_called:
                            raise
                        logger.debug("hypercorn failed while stopped", exc_info=True)
                tasks.cancel_scope.cancel()

            tasks.start_soon(watch_signals)
            tasks.start_soon(run_server)
            print(banner, file=out, flush=True)
