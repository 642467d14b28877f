"""A deadline for a block of async code, on asyncio and trio.

The implementation behind the front door :mod:`anyio_bridge.timeout`.

:class:`timeout` is the counterpart of ``asgiref.timeout.timeout``: a context
manager that cancels the code inside it once a deadline passes and then raises
the built-in :class:`TimeoutError`.  It is built on an :class:`anyio.CancelScope`,
so it follows anyio's (that is, trio's) cancellation rules on both backends;
``docs/timeout.md`` explains them.
"""

from __future__ import annotations

import enum
import math
from types import TracebackType

import anyio

__all__ = ["timeout"]


class _State(enum.Enum):
    CREATED = "created"
    ENTERED = "entered"
    EXITED = "exited"


class timeout:  # lower case, like asgiref's (and asyncio's) timeout
    """Cancel the block inside after *seconds* and raise :class:`TimeoutError`.

    Use it as ``async with timeout(5):`` or ``with timeout(5):``, in a task
    (a coroutine run by asyncio or trio); the two forms behave the same.  Each
    instance can be entered once.

    The clock starts when the block is entered.  When the deadline passes, the
    code inside is cancelled at its next checkpoint (an ``await`` that yields to
    the event loop), exactly like code in an :class:`anyio.CancelScope` whose
    deadline passed, and leaving the block then raises :class:`TimeoutError`.
    A block that finishes without reaching a checkpoint after the deadline
    finishes normally.

    Only this timeout's own deadline turns into :class:`TimeoutError`.  When an
    enclosing cancel scope, an enclosing timeout or the event loop cancels the
    block, the backend's cancellation exception goes through unchanged and
    :attr:`expired` stays ``False``.  So, with nested timeouts, the one whose
    deadline fired raises :class:`TimeoutError` and an outer one sees that
    exception like any other.  When the deadlines of several nested timeouts
    have all passed, the outermost of them is the one that fires.

    :param seconds: how long the block may run, in seconds, counted from
        entering it.  Zero or a negative value cancels the block at its first
        checkpoint.  ``None`` sets no deadline (one can still be set with
        :meth:`reschedule`).
    :param loop: accepted for compatibility with asgiref and not used: the
        timeout always applies to the task that enters it, on its own loop.
    :raises ValueError: if *seconds* is NaN.
    """

    __slots__ = ("_scope", "_seconds", "_state")

    # The public home of the class, as shown by repr() (asgiref.timeout.timeout
    # is this class under the asgiref stand-in).
    __module__ = "anyio_bridge.timeout"

    def __init__(self, seconds: float | None, *, loop: object = None) -> None:
        if seconds is not None and math.isnan(seconds):
            raise ValueError("the timeout must not be NaN")
        self._seconds = seconds
        self._state = _State.CREATED
        self._scope: anyio.CancelScope | None = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__module__}.{type(self).__qualname__}"
            f" {self._state.value} seconds={self._seconds!r}>"
        )

    # -- entering and leaving ----------------------------------------------

    def __enter__(self) -> timeout:
        """Start the clock.

        :raises RuntimeError: if this instance was entered before, or if no
            asyncio or trio event loop is running in the current thread
            (:class:`anyio.NoEventLoopError` is a :class:`RuntimeError`).
        """
        if self._state is not _State.CREATED:
            raise RuntimeError("a timeout can only be entered once")
        deadline = math.inf
        if self._seconds is not None:
            deadline = anyio.current_time() + self._seconds
        scope = anyio.CancelScope(deadline=deadline)
        scope.__enter__()
        self._scope = scope
        self._state = _State.ENTERED
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the clock.

        :raises TimeoutError: if this timeout's deadline cancelled the block.
            The cancellation exception is its ``__cause__``.
        :raises RuntimeError: when the cancel scope cannot be left (for example
            when leaving in another task than the one that entered).
        """
        scope = self._scope
        if self._state is not _State.ENTERED or scope is None:
            raise RuntimeError("this timeout is not active")
        try:
            # Raises what it does not swallow; its return value is not used, as
            # trio's scope also returns True when there was no exception.
            scope.__exit__(exc_type, exc, tb)
        finally:
            self._state = _State.EXITED
        if scope.cancelled_caught:
            # The scope only catches the cancellation it caused itself, and
            # nothing but the deadline ever cancels it (it is never exposed).
            raise TimeoutError from exc

    async def __aenter__(self) -> timeout:
        """Same as ``with``; see :meth:`__enter__`."""
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Same as ``with``; see :meth:`__exit__`."""
        self.__exit__(exc_type, exc, tb)

    # -- state ---------------------------------------------------------------

    @property
    def expired(self) -> bool:
        """``True`` once the deadline has interrupted the block.

        It becomes ``True`` when leaving the block raises :class:`TimeoutError`
        (or, in the rare case where the cancelled code also raised other
        exceptions in an exception group, those).  It stays ``False`` in every
        other case: before and inside the block, when the block finished in
        time, and when something else (an outer scope or timeout) cancelled
        it.
        """
        return self._scope is not None and self._scope.cancelled_caught

    @property
    def deadline(self) -> float | None:
        """The deadline on :func:`anyio.current_time`'s clock.

        ``None`` before the block is entered and while no deadline is set.
        """
        if self._scope is None or self._scope.deadline == math.inf:
            return None
        return self._scope.deadline

    @property
    def remaining(self) -> float | None:
        """Seconds left until the deadline, never negative.

        ``None`` when there is no deadline (see :attr:`deadline`); ``0.0`` once
        the deadline has passed.  Reading it needs a running event loop.
        """
        deadline = self.deadline
        if deadline is None:
            return None
        return max(0.0, deadline - anyio.current_time())

    # -- moving the deadline ---------------------------------------------------

    def reschedule(self, deadline: float | None) -> None:
        """Move the deadline to *deadline*, on :func:`anyio.current_time`'s clock.

        A deadline in the past makes the block cancelled at its next
        checkpoint; ``None`` removes the deadline.  Once the deadline has
        fired (the block is being cancelled), moving it no longer stops the
        block from ending with :class:`TimeoutError`.

        :param deadline: the new absolute deadline, or ``None``.
        :raises RuntimeError: unless called inside the block.
        :raises ValueError: if *deadline* is NaN.
        """
        scope = self._active_scope()
        if deadline is not None and math.isnan(deadline):
            raise ValueError("the deadline must not be NaN")
        scope.deadline = math.inf if deadline is None else deadline

    def shift(self, delay: float) -> None:
        """Move the deadline by *delay* seconds (later if positive, else earlier).

        :param delay: seconds to add to the current deadline.
        :raises RuntimeError: unless called inside the block, or if the
            timeout has no deadline (use :meth:`reschedule` to set one).
        :raises ValueError: if *delay* is NaN.
        """
        deadline = self._active_scope().deadline
        if deadline == math.inf:
            raise RuntimeError("cannot shift a timeout that has no deadline")
        self.reschedule(deadline + delay)

    def _active_scope(self) -> anyio.CancelScope:
        if self._state is not _State.ENTERED or self._scope is None:
            raise RuntimeError("the deadline can only be moved inside the block")
        return self._scope
