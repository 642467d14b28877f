"""WSGI (PEP 3333) and ASGI, both ways, on asyncio and trio.

:class:`WsgiToAsgi` wraps a WSGI application into an ASGI 3 application.  Each
request runs the application on a worker thread, at most ``limiter`` at once;
the request body streams into ``wsgi.input`` as the application reads it and
the response streams out with bounded buffering.  See
``docs/wsgi-integration.md`` for the behaviour in full.

:class:`AsgiToWsgi` goes the other way: an ASGI application served by any
WSGI server (gunicorn, waitress, mod_wsgi...), running on one event loop
thread per process, asyncio or trio.  See ``docs/asgi-under-wsgi.md``.
"""

from __future__ import annotations

from ._asgi_wsgi.adapter import AsgiToWsgi
from ._wsgi.adapter import WsgiToAsgi
from ._wsgi.files import FileWrapper
from ._wsgi.input import ClientDisconnected, RequestBodyTooLarge
from ._wsgi.instance import WsgiToAsgiInstance

__all__ = [
    "AsgiToWsgi",
    "ClientDisconnected",
    "FileWrapper",
    "RequestBodyTooLarge",
    "WsgiToAsgi",
    "WsgiToAsgiInstance",
]
