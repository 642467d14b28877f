"""Serving: :func:`serve`, and the loop-side run with signals and shutdown.

With one worker the server runs in this process (``hypercorn.asyncio.serve``
or ``hypercorn.trio.serve``, in :func:`_serve_here`) until SIGINT (Ctrl-C) or
SIGTERM, then shuts down gracefully.  With more, ``hypercorn.run.run``
starts worker processes (:mod:`.workers`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TextIO

import anyio
import anyio.lowlevel
import sniffio

from ..wsgi import WsgiToAsgi
from . import app
from .config import check_server, make_config
from .listen import listener_url, open_listener
from .options import ServeOptions

if TYPE_CHECKING:
    from hypercorn.config import Config

__all__ = ["SHUTDOWN_MARGIN", "serve"]

logger = logging.getLogger("anyio_bridge.serve")

#: Seconds after hypercorn's graceful_timeout before a shutdown is forced.
SHUTDOWN_MARGIN: Final = 2.0


def serve(options: ServeOptions, output: TextIO | None = None) -> int:
    """Serve the application until SIGINT or SIGTERM; return the exit status.

    Prints the URL it listens on to *output* (standard output by default).

    :raises ServeError: the application or the server cannot be loaded, or
        the address cannot be bound.
    """
    out = sys.stdout if output is None else output
    if options.as_asgiref:
        app.install_alias()
    check_server(options.backend)
    directory = os.getcwd()
    application = app.wsgi_to_asgi(options.app, directory, options.threads)
    with open_listener(options.host, options.port) as listener:
        workers = "" if options.workers == 1 else f" ({options.workers} workers)"
        banner = (
            f"anyio-bridge: serving {options.app} on {options.backend}{workers} at "
            f"{listener_url(listener)} (press Ctrl+C to quit)"
        )
        config = make_config(options, listener, directory)
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
