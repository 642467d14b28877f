"""ApplicationInstance: one application instance of a StatelessServer.

Behind ``anyio_bridge.server.ApplicationInstance``: an
:class:`~anyio_bridge._asgi.future.ApplicationRun` with the scope, the input
queue and the bookkeeping :class:`~anyio_bridge.server.StatelessServer` keeps
for it, readable like the dictionaries asgiref uses there.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from .future import ApplicationRun

if TYPE_CHECKING:
    import anyio

    from .queue import MessageQueue

__all__ = ["ApplicationInstance"]

#: The keys of asgiref's dictionaries, then the other attributes.
_KEYS = (
    "input_queue",
    "future",
    "scope",
    "last_used",
    "scope_id",
    "cancel_scope",
    "finished",
    "exception",
)


class ApplicationInstance(ApplicationRun):
    """One application instance of a :class:`StatelessServer`.

    The values in :attr:`StatelessServer.application_instances`, and what
    :meth:`StatelessServer.application_exception` receives.  asgiref uses
    dictionaries there, with the keys ``"input_queue"``, ``"future"``,
    ``"scope"`` and ``"last_used"``; for code written against them,
    ``instance[key]`` reads those (and the other attributes by name),
    ``instance.get(key)``, ``key in instance`` and ``instance.keys()`` work,
    and ``instance["last_used"] = time.time()`` sets :attr:`last_used`.

    :param finished: ``True`` for an instance that has already ended.
    :param exception: what such an instance raised, if anything.
    """

    def __init__(
        self,
        scope_id: Hashable,
        scope: Mapping[str, Any],
        input_queue: MessageQueue[Any],
        cancel_scope: anyio.CancelScope,
        last_used: float,
        finished: bool = False,
        exception: Exception | None = None,
    ) -> None:
        super().__init__(cancel_scope)
        #: The key the instance was created under.
        self.scope_id = scope_id
        #: The scope the application was called with.
        self.scope = scope
        #: Messages for the application's ``receive``.
        self.input_queue = input_queue
        #: :func:`time.time` value of the creation or the latest lookup, as in
        #: asgiref.
        self.last_used = last_used
        self.finished = finished
        self.exception = exception

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scope_id!r} {self.future!r}>"

    # cancel_scope, finished, exception and result are ApplicationRun's.

    def __getitem__(self, key: str) -> Any:
        """The attribute *key*, for asgiref-style ``details["scope"]`` access.

        ``details["future"]`` is :attr:`future`, an :class:`ApplicationFuture`
        that behaves as the asyncio task asgiref stores there.

        :raises KeyError: if *key* is not one of :meth:`keys`.
        """
        if key not in _KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: float) -> None:
        """Set :attr:`last_used`, as asgiref's own code does with
        ``details["last_used"] = time.time()``.

        :raises KeyError: for any other key: the rest is not to be replaced.
        """
        if key != "last_used":
            raise KeyError(key)
        self.last_used = value

    def __contains__(self, key: object) -> bool:
        return key in _KEYS

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]``, or *default* if *key* is not one of :meth:`keys`."""
        return getattr(self, key) if key in _KEYS else default

    def keys(self) -> tuple[str, ...]:
        """asgiref's keys, then the names of the other attributes."""
        return _KEYS
