"""Attribute storage local to a context, that follows calls across the bridge.

:class:`Local` is what :mod:`asgiref.local` offers, built on
:mod:`contextvars`: every asyncio/trio task sees its own values (tasks start with
a copy of their parent's), and because :func:`~anyio_bridge.sync.sync_to_async`
and :func:`~anyio_bridge.sync.async_to_sync` carry context variables across in
both directions, a value set on one side of a call is visible on the other.
A thread that merely inherits a copy of a context (Python 3.14's free-threaded
build, ``anyio.to_thread.run_sync``) sees none of its values.  Reading a
missing attribute raises :exc:`AttributeError`, as does setting one of the
class's own names.

The implementation, and how values are bound to threads, is in
:mod:`anyio_bridge._bridge.local`; ``Local`` reports this module as its own.
"""

from __future__ import annotations

from ._bridge.local import Local

__all__ = ["Local"]

Local.__module__ = __name__
