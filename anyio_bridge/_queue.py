"""Moved to :mod:`anyio_bridge._asgi.queue`."""

# moved to anyio_bridge._asgi.queue; shim until the imports are updated
from ._asgi.queue import MessageQueue, QueueEmpty

__all__ = ["MessageQueue", "QueueEmpty"]
