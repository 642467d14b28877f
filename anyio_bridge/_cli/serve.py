"""Serving: :func:`serve`, and the loop-side run with signals and shutdown.

With one worker the server runs in this process (``hypercorn.asyncio.serve``
or ``hypercorn.trio.serve``, in :func:`_serve_here`) until SIGINT (Ctrl-C) or
SIGTERM, then shuts down gracefully.  With more, ``hypercorn.run.run``
starts worker processes (:mod:`.workers`).  With ``--reload``, this process
supervises another that serves (:mod:`.reload`), which calls
:func:`serve_on` with the listening socket.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TextIO

import anyio
import anyio.lowlevel
import sniffio

from . import app
from .access import close_access_log, open_access_log
from .config import check_server, check_tls, make_config
from .listen import listener_url, open_listener
from .options import ServeOptions
from .shutdown import ShutdownGate
from .stack import ASGIApp, build_application

if TYPE_CHECKING:
    from hypercorn.config import Config

__all__ = [
    "SHUTDOWN_MARGIN",
    "Supervised",
    "banner",
    "check_options",
    "serve",
    "serve_on",
]

logger = logging.getLogger("anyio_bridge.serve")

#: Seconds after the graceful timeout before a shutdown is forced.
SHUTDOWN_MARGIN: Final = 2.0


@dataclass(frozen=True)
class Supervised:
    """How the server that ``--reload``'s supervisor runs is told to stop."""

    #: Returns when the supervisor is gone, with what to say: the server then
    #: shuts down as on SIGTERM.
    supervisor_gone: Callable[[], Awaitable[str]]
    #: The signal of a reload: the server shuts down without a word (the
    #: supervisor says why).
    reload_signal: int


def check_options(options: ServeOptions) -> None:
    """What can be checked before importing the application.

    :raises ServeError: hypercorn (or trio) is not installed, or the TLS
        certificate cannot be loaded.
    """
    check_server(options.backend)
    check_tls(options)


def banner(options: ServeOptions, listener: socket.socket) -> str:
    """The one line ``serve`` prints once it listens."""
    workers = "" if options.workers == 1 else f" ({options.workers} workers)"
    reload = " with reload" if options.reload else ""
    return (
        f"anyio-bridge: serving {options.app} on {options.backend}{workers}"
        f"{reload} at {listener_url(listener, tls=options.tls)} "
        "(press Ctrl+C to quit)"
    )


def serve(options: ServeOptions, output: TextIO | None = None) -> int:
    """Serve the application until SIGINT or SIGTERM; return the exit status.

    Prints the URL it listens on to *output* (standard output by default),
    and the access log, unless it goes to a file.

    :raises ServeError: the application or the server cannot be loaded, or
        the address cannot be bound.
    """
    out = sys.stdout if output is None else output
    if options.reload:
        from .reload import supervise

        return supervise(options, out)
    return serve_on(options, None, out)


def serve_on(
    options: ServeOptions,
    listener: socket.socket | None,
    out: TextIO,
    *,
    loaded: Callable[[], None] | None = None,
    supervised: Supervised | None = None,
) -> int:
    """:func:`serve`, on *listener* if given (without printing the banner),
    else on a new one.

    *loaded* is called once the application is imported; *supervised* is
    for the server of ``--reload`` (one worker).
    """
    if options.as_asgiref:
        app.install_alias()
    check_options(options)
    directory = os.getcwd()
    access_log = open_access_log(options.access_log, options.log_level, out)
    try:
        application, gate = build_application(options, directory, access_log=access_log)
        if loaded is not None:
            loaded()
        if listener is not None:
            config = make_config(options, listener, directory)
            return _run(options, application, gate, config, None, out, supervised)
        with open_listener(options.host, options.port) as new_listener:
            line = banner(options, new_listener)  # before make_config detaches it
            config = make_config(options, new_listener, directory)
            return _run(options, application, gate, config, line, out, supervised)
    finally:
        if access_log is not None:
            close_access_log(access_log)


def _run(
    options: ServeOptions,
    application: ASGIApp,
    gate: ShutdownGate,
    config: Config,
    line: str | None,
    out: TextIO,
    supervised: Supervised | None,
) -> int:
    if options.workers == 1:
        # hypercorn's own cut comes after the gate's (see _serve_here).
        config.graceful_timeout = options.graceful_timeout + SHUTDOWN_MARGIN
        server = _Server(application, gate, config, options.graceful_timeout, out)
        server.supervised = supervised
        anyio.run(_serve_here, server, line, backend=options.backend)
        return 0
    import hypercorn.run

    print(line, file=out, flush=True)
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


class _Server:
    """What :func:`_serve_here` serves, and how it shuts down."""

    def __init__(
        self,
        application: ASGIApp,
        gate: ShutdownGate,
        config: Config,
        graceful_timeout: float,
        out: TextIO,
    ) -> None:
        self.application = application
        self.gate = gate
        self.config = config
        self.graceful_timeout = graceful_timeout
        self.out = out
        self.supervised: Supervised | None = None

    def say(self, message: str) -> None:
        print(f"anyio-bridge: {message}", file=self.out, flush=True)

    async def run(self, shutdown_trigger: Callable[[], Awaitable[None]]) -> None:
        if sniffio.current_async_library() == "trio":
            import hypercorn.trio

            await hypercorn.trio.serve(
                self.application,  # type: ignore[arg-type]
                self.config,
                shutdown_trigger=shutdown_trigger,
            )
        else:
            import hypercorn.asyncio

            # The running asyncio loop, reached without importing asyncio
            # (see _backends).
            loop: Any = anyio.lowlevel.current_token().native_token
            loop.set_exception_handler(
                _ignore_cancelled(anyio.get_cancelled_exc_class())
            )
            await hypercorn.asyncio.serve(
                self.application,  # type: ignore[arg-type]
                self.config,
                shutdown_trigger=shutdown_trigger,
            )


async def _serve_here(server: _Server, line: str | None) -> None:
    """Serve in this process until SIGINT or SIGTERM, then shut down gracefully.

    hypercorn stops accepting connections and lets the requests in progress
    finish.  After the graceful timeout the gate cuts those still running:
    ``503`` for those that had sent nothing, a closed connection for the
    others (:mod:`.shutdown`), the same on both backends.  Should the server
    still be running :data:`SHUTDOWN_MARGIN` seconds after that, or on a
    second signal, it is cancelled outright: hypercorn's asyncio server on
    Python 3.12+ waits for every open connection to close before its own
    grace period starts.
    """
    supervised = server.supervised
    signums = [signal.SIGINT, signal.SIGTERM]
    if supervised is not None:
        signums.append(signal.Signals(supervised.reload_signal))
    stop = anyio.Event()
    with anyio.open_signal_receiver(*signums) as signals:
        async with anyio.create_task_group() as tasks:

            async def cut_after_grace_period() -> None:
                await anyio.sleep(server.graceful_timeout)
                running = server.gate.drain()
                if running:
                    server.say(
                        f"graceful timeout: {running} request(s) still running, "
                        "cut (503 if no response had started)"
                    )
                await anyio.sleep(max(0.0, SHUTDOWN_MARGIN))
                server.say(
                    "requests still running after the grace period, stopping them"
                )
                tasks.cancel_scope.cancel()

            def shut_down(reason: str | None) -> None:
                """Begin the graceful shutdown or, if begun, stop at once; say
                why unless *reason* is None (a reload)."""
                if stop.is_set():
                    message = f"{reason}, already shutting down: stopping now"
                    tasks.cancel_scope.cancel()
                else:
                    message = f"{reason}, shutting down"
                    stop.set()
                    tasks.start_soon(cut_after_grace_period)
                if reason is not None:
                    server.say(message)

            async def watch_signals() -> None:
                async for signum in signals:
                    if supervised is not None and signum == supervised.reload_signal:
                        shut_down(None)
                    else:
                        shut_down(f"{signal.Signals(signum).name} received")

            async def watch_supervisor(supervised: Supervised) -> None:
                shut_down(await supervised.supervisor_gone())

            async def run_server() -> None:
                # In a task of its own: hypercorn's asyncio server can return
                # with a cancellation request left pending on its task (seen
                # with hypercorn 0.18 on Python 3.11), which must not reach
                # the task that owns the cancel scope.
                try:
                    await server.run(stop.wait)
                except Exception:
                    # Cancelled while waiting out its grace period,
                    # hypercorn 0.18's asyncio server raises
                    # InvalidStateError from its own clean-up.
                    if not tasks.cancel_scope.cancel_called:
                        raise
                    logger.debug("hypercorn failed while stopped", exc_info=True)
                tasks.cancel_scope.cancel()

            tasks.start_soon(watch_signals)
            if supervised is not None:
                tasks.start_soon(watch_supervisor, supervised)
            tasks.start_soon(run_server)
            if line is not None:
                print(line, file=server.out, flush=True)
