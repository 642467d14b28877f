"""The few operations that need an event loop's native API.

Everything else in the package is written against anyio.  What lives here is
what anyio has no public, cheap equivalent for:

* waking the loop from a foreign thread (``call_soon_threadsafe`` on asyncio,
  ``TrioToken.run_sync_soon`` on trio) -- measurably cheaper than
  :func:`anyio.from_thread.run_sync`, which blocks the calling thread;
* starting a task on a loop from a foreign thread without blocking that thread;
* telling whether the current thread is running an event loop, and whether a
  loop is still alive;
* making a thread that anyio did not start look like an anyio worker thread,
  so that :func:`anyio.from_thread.run` and
  :func:`anyio.from_thread.check_cancelled` work inside thread-sensitive calls.
  That needs anyio's and trio's thread-local state; every access is guarded so
  that a change in either library degrades to "not a worker thread" instead of
  breaking.

The module never imports asyncio: an asyncio loop is only ever reached through
the token anyio hands out, and ``sys.modules`` tells whether asyncio is loaded.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from anyio.lowlevel import EventLoopToken, current_token

try:  # anyio's private thread-local state, see the module docstring.
    from anyio._core._eventloop import threadlocals as _anyio_threadlocals
except ImportError:  # pragma: no cover - only with a future, reorganised anyio
    _anyio_threadlocals = None

__all__ = [
    "EventLoopToken",
    "backend_name",
    "call_soon_threadsafe",
    "claim_thread",
    "current_token",
    "foreign_worker_token",
    "forget_thread_claims",
    "loop_is_alive",
    "new_cancelled",
    "running_loop_here",
    "spawn_from_thread",
]


def backend_name(token: EventLoopToken) -> str:
    """Return ``"asyncio"`` or ``"trio"`` for the loop behind *token*."""
    return "trio" if _is_trio(token) else "asyncio"


def _is_trio(token: EventLoopToken) -> bool:
    trio = sys.modules.get("trio")
    return trio is not None and isinstance(token.native_token, trio.lowlevel.TrioToken)


def call_soon_threadsafe(
    token: EventLoopToken, func: Callable[..., object], *args: object
) -> bool:
    """Schedule ``func(*args)`` on the loop behind *token*; callable from any thread.

    Returns ``False`` instead of raising when that loop has already finished.
    """
    native: Any = token.native_token
    try:
        if _is_trio(token):
            native.run_sync_soon(func, *args)
        else:
            native.call_soon_threadsafe(func, *args)
    except RuntimeError:  # asyncio: loop closed; trio: RunFinishedError
        return False
    return True


def spawn_from_thread(
    token: EventLoopToken,
    async_fn: Callable[[], Awaitable[object]],
    context: contextvars.Context,
) -> bool:
    """Start ``async_fn()`` as a new task on the loop behind *token*, in *context*.

    Callable from any thread other than the loop's; it does not wait for the
    task.  The task must not raise: on trio it is a system task, whose errors
    would crash the whole run.  Returns ``False`` if the loop has finished.
    """
    native: Any = token.native_token
    if _is_trio(token):
        trio: Any = sys.modules["trio"]

        def start_trio() -> None:
            trio.lowlevel.spawn_system_task(async_fn, context=context)

        return call_soon_threadsafe(token, start_trio)

    def start_asyncio() -> None:
        context.run(native.create_task, async_fn())

    return call_soon_threadsafe(token, start_asyncio)


def running_loop_here() -> bool:
    """Return ``True`` if the current thread is running an asyncio or trio loop."""
    asyncio: Any = sys.modules.get("asyncio")
    if asyncio is not None and asyncio._get_running_loop() is not None:
        return True
    trio: Any = sys.modules.get("trio")
    return trio is not None and bool(trio.lowlevel.in_trio_run())


def loop_is_alive(token: EventLoopToken) -> bool:
    """Return ``False`` once the loop behind *token* can no longer run callbacks."""
    native: Any = token.native_token
    if _is_trio(token):
        return call_soon_threadsafe(token, _noop)
    return not native.is_closed()


def _noop() -> None:
    pass


def foreign_worker_token() -> EventLoopToken | None:
    """Return the loop token of an anyio or trio worker thread we did not start.

    ``None`` when the current thread is not such a worker thread.
    """
    token = getattr(_anyio_threadlocals, "current_token", None)
    if isinstance(token, EventLoopToken):
        return token
    trio: Any = sys.modules.get("trio")
    if trio is None:
        return None
    try:  # a thread started by trio.to_thread.run_sync directly
        trio_token = trio._threads.PARENT_TASK_DATA.token
    except AttributeError:
        return None
    from anyio._backends._trio import TrioBackend

    return EventLoopToken(TrioBackend, trio_token)


def new_cancelled(token: EventLoopToken) -> BaseException:
    """Return a fresh instance of the cancellation exception of *token*'s backend."""
    if _is_trio(token):
        return sys.modules["trio"].Cancelled._create()  # type: ignore[no-any-return]
    return token.backend_class.cancelled_exception_class()()


class ThreadClaim:
    """What a thread-sensitive call shares with the thread that runs it.

    Created on the loop thread; :meth:`cancel` is called there when the caller
    is cancelled, and makes :func:`anyio.from_thread.check_cancelled` raise in
    the worker thread from then on.
    """

    __slots__ = ("cancel_scope", "token", "trio_cancel_register")

    def __init__(self, token: EventLoopToken, cancel_scope: object | None) -> None:
        self.token = token
        # asyncio: anyio walks this scope and its parents in check_cancelled().
        self.cancel_scope = cancel_scope
        # trio: trio.from_thread.check_cancelled() calls element 0 when set.
        self.trio_cancel_register: list[Callable[[], object] | None] = [None]

    def cancel(self) -> None:
        if _is_trio(self.token):
            self.trio_cancel_register[0] = self._raise_trio_cancelled

    def _raise_trio_cancelled(self) -> None:
        raise new_cancelled(self.token)


@contextmanager
def claim_thread(claim: ThreadClaim) -> Iterator[None]:
    """Make the current thread look like an anyio worker thread of *claim*'s loop.

    Inside, :func:`anyio.from_thread.run`, :func:`anyio.from_thread.run_sync` and
    :func:`anyio.from_thread.check_cancelled` work as in a thread started by
    :func:`anyio.to_thread.run_sync`.  Restores the previous state on exit, so
    claims nest.
    """
    local = _anyio_threadlocals
    saved_anyio = (
        getattr(local, "current_token", None),
        getattr(local, "current_cancel_scope", None),
    )
    trio_data: Any = None
    saved_trio: tuple[Any, ...] | None = None
    if _is_trio(claim.token):
        trio_data = getattr(sys.modules["trio"]._threads, "PARENT_TASK_DATA", None)
        saved_trio = tuple(getattr(trio_data, name, None) for name in _TRIO_FIELDS)
        _set_fields(
            trio_data,
            _TRIO_FIELDS,
            # abandon_on_cancel=True makes trio.from_thread.run use the token
            # (a system task) rather than messages to a host task we don't have.
            (claim.token.native_token, True, claim.trio_cancel_register, [None]),
        )
    _set_fields(local, _ANYIO_FIELDS, (claim.token, claim.cancel_scope))
    try:
        yield
    finally:
        _set_fields(local, _ANYIO_FIELDS, saved_anyio)
        if saved_trio is not None:
            _set_fields(trio_data, _TRIO_FIELDS, saved_trio)


_ANYIO_FIELDS = ("current_token", "current_cancel_scope")
_TRIO_FIELDS = ("token", "abandon_on_cancel", "cancel_register", "task_register")


def _set_fields(obj: Any, names: tuple[str, ...], values: tuple[Any, ...]) -> None:
    if obj is None:  # pragma: no cover - library internals moved; degrade quietly
        return
    for name, value in zip(names, values):
        if value is None:
            if hasattr(obj, name):
                delattr(obj, name)
        else:
            setattr(obj, name, value)


def forget_thread_claims() -> None:
    """Drop anyio's and trio's worker-thread state of the current thread.

    Called in a child process after :func:`os.fork`: the loop that state points
    to lives in the parent and must never be used from the child.
    """
    _set_fields(_anyio_threadlocals, _ANYIO_FIELDS, (None, None))
    trio: Any = sys.modules.get("trio")
    if trio is not None:
        data = getattr(trio._threads, "PARENT_TASK_DATA", None)
        _set_fields(data, _TRIO_FIELDS, (None,) * len(_TRIO_FIELDS))
