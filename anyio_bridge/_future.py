"""Moved to :mod:`anyio_bridge._asgi.future`."""

# moved to anyio_bridge._asgi.future; shim until the imports are updated
from ._asgi.future import ApplicationCancelled, ApplicationFuture, ApplicationRun

__all__ = ["ApplicationCancelled", "ApplicationFuture", "ApplicationRun"]
