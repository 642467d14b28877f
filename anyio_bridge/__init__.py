"""asgiref's sync/async bridge and ASGI helpers, on anyio (asyncio and trio)."""

from ._alias import AsgirefAlreadyImportedError, install_as_asgiref
from ._version import __version__
from .sync import (
    AsyncSingleThreadContext,
    AsyncToSync,
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    iscoroutinefunction,
    markcoroutinefunction,
    sync_to_async,
)

__all__ = [
    "AsgirefAlreadyImportedError",
    "AsyncSingleThreadContext",
    "AsyncToSync",
    "SyncToAsync",
    "ThreadSensitiveContext",
    "__version__",
    "async_to_sync",
    "install_as_asgiref",
    "iscoroutinefunction",
    "markcoroutinefunction",
    "sync_to_async",
]
