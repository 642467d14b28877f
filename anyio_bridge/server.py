"""A base class for servers of stateless protocols, on asyncio and trio.

:class:`StatelessServer` is the counterpart of ``asgiref.server.StatelessServer``:
it keeps one ASGI application instance per "scope" (a user, a chat channel, a
device...) for protocols without connections, such as chat bots or message
queues.  A subclass reads incoming messages in :meth:`~StatelessServer.handle`
and writes the applications' messages out in
:meth:`~StatelessServer.application_send`.  ``docs/server-base.md`` explains
the lifecycle.
"""

from ._asgi.future import ApplicationCancelled, ApplicationFuture
from ._asgi.instance import ApplicationInstance
from ._asgi.queue import MessageQueue
from ._asgi.server import StatelessServer
from ._asgi.server import logger as logger  # not in __all__, as before

__all__ = [
    "ApplicationCancelled",
    "ApplicationFuture",
    "ApplicationInstance",
    "MessageQueue",
    "StatelessServer",
]
