"""Test ASGI applications on asyncio and trio.

:class:`ApplicationCommunicator` runs an application as a server would and
lets a test exchange messages with it; it follows ``asgiref.testing``.  On top
of it, :func:`http_scope`, :func:`websocket_scope` and :func:`lifespan_scope`
build scopes, and :func:`http_request` makes a whole HTTP request in one
call.  ``docs/testing.md`` describes the behaviour in full; the companion
pytest plugin is :mod:`anyio_bridge.pytest_plugin`.
"""

from .._asgi.communicator import ApplicationCommunicator
from .._asgi.communicator import Message as Message  # not in __all__, as before
from .._asgi.future import ApplicationCancelled, ApplicationFuture
from .._asgi.request import HttpResponse, http_request
from .._asgi.scopes import HeadersArg as HeadersArg  # not in __all__, as before
from .._asgi.scopes import http_scope, lifespan_scope, websocket_scope

__all__ = [
    "ApplicationCancelled",
    "ApplicationCommunicator",
    "ApplicationFuture",
    "HttpResponse",
    "http_request",
    "http_scope",
    "lifespan_scope",
    "websocket_scope",
]
