"""Coroutine helpers: recognising and marking coroutine functions on every
supported Python, and running a coroutine in a given context.

Python 3.12 added `inspect.markcoroutinefunction`; before that the only
marker was asyncio's private ``_is_coroutine`` attribute, which
`asyncio.iscoroutinefunction` (used by Django to detect async middleware)
looks for.  This module hides that difference.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections.abc import Awaitable, Callable, Generator
from contextvars import Context
from typing import Any, TypeVar

__all__ = ["iscoroutinefunction", "markcoroutinefunction", "run_in_context"]

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


def _asyncio_marker() -> object:
    # On Python < 3.12 the only coroutine marker that
    # asyncio.iscoroutinefunction() honours is the private sentinel
    # asyncio.coroutines._is_coroutine (see _backends._private).  It is
    # imported lazily and only on those versions.
    from .._backends import _private

    return _private.asyncio_coroutine_marker()


def iscoroutinefunction(func: object) -> bool:
    """Return ``True`` if *func* is a coroutine function or marked as one.

    Unlike `inspect.iscoroutinefunction` on Python 3.10 and 3.11, this also
    recognises objects marked by `markcoroutinefunction`, including marked
    `functools.partial` objects and bound methods of marked functions.
    """
    if inspect.iscoroutinefunction(func):
        return True
    while True:
        if _is_marked(func):
            return True
        if inspect.ismethod(func):
            func = func.__func__
        elif isinstance(func, functools.partial):
            func = func.func
        else:
            return False


if sys.version_info >= (3, 12):  # pragma: no cover - CI measures coverage on 3.11

    def _is_marked(func: object) -> bool:
        return inspect.iscoroutinefunction(func)

else:

    def _is_marked(func: object) -> bool:
        return getattr(func, "_is_coroutine", None) is _asyncio_marker()


def markcoroutinefunction(func: _F) -> _F:
    """Mark *func* so that coroutine-function checks return ``True`` for it.

    Use it on a synchronous callable that returns an awaitable.  The mark is
    seen by `iscoroutinefunction`, by `inspect.iscoroutinefunction` on Python
    3.12+ and by `asyncio.iscoroutinefunction` on every version.  Returns
    *func* itself.
    """
    if sys.version_info >= (3, 12):  # pragma: no cover - CI measures on 3.11
        return inspect.markcoroutinefunction(func)
    func._is_coroutine = _asyncio_marker()  # type: ignore[attr-defined]
    return func


@types.coroutine
def run_in_context(
    context: Context, factory: Callable[[], Awaitable[_T]]
) -> Generator[Any, Any, _T]:
    """Await ``factory()`` from the current task, but in *context*.

    Every step of the awaitable runs inside ``context.run``: its context
    variables are those of *context*, and what it sets lands there, while the
    awaiting task keeps its own context.  What the awaitable yields to the
    event loop, and what the loop sends or throws back (results, cancellation),
    passes through unchanged, so this works on any event loop.  Used to run an
    ``async_to_sync`` coroutine in the task that awaits the thread's call,
    rather than in a new task.
    """
    iterator = context.run(_await_iterator, factory)
    send, throw = iterator.send, iterator.throw
    message: Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                yielded = context.run(send, message)
            else:
                yielded = context.run(throw, error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            error = None
        try:
            message = yield yielded
        except BaseException as exc:  # thrown in by the loop, e.g. cancellation
            error = exc
            message = None


def _await_iterator(factory: Callable[[], Awaitable[Any]]) -> Generator[Any, Any, Any]:
    return factory().__await__()
