"""The ASGI application ``serve`` runs: the WSGI application and its layers.

From the outside in, each only when its option asks for it::

    ProxyHeaders   --proxy-headers: the client and scheme a trusted proxy saw
    AccessLog      the access log (on by default)
    ShutdownGate   503 for requests still running past the graceful timeout
    StaticFiles    --static: files, without the application
    WsgiToAsgi     the WSGI application

The access log sits outside the gate and the files so that it logs their
responses too, and inside the proxy headers so that it logs the client they
give.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import app
from .access import AccessLog
from .options import ServeOptions
from .proxy import ProxyHeaders
from .shutdown import ShutdownGate
from .static import StaticFiles

__all__ = ["ASGIApp", "build_application"]

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Any], Awaitable[None]
]


def build_application(
    options: ServeOptions, directory: str, *, access_log: logging.Logger | None
) -> tuple[ASGIApp, ShutdownGate]:
    """The application of *options*, imported from *directory*, with its layers,
    logging requests to *access_log* (from :func:`.access.open_access_log`).

    Returns it, and its :class:`~.shutdown.ShutdownGate`.

    :raises ServeError: the application cannot be loaded, or a ``--static``
        directory does not exist.
    """
    application: ASGIApp = app.wsgi_to_asgi(options.app, directory, options.threads)
    if options.static:
        application = StaticFiles(application, options.static)
    gate = ShutdownGate(application)
    application = gate
    if access_log is not None:
        application = AccessLog(application, access_log)
    if options.proxy_headers is not None:
        application = ProxyHeaders(
            application,
            options.proxy_headers,
            options.forwarded_allow_ips,
            options.proxy_hops,
        )
    return application, gate
