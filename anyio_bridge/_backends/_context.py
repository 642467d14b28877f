"""Running a coroutine in a given context, on any event loop.

Used by the trio backend's parked task runners and by the bridge, which runs
an ``async_to_sync`` coroutine in the task awaiting the thread's call.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable, Generator
from contextvars import Context
from typing import Any, TypeVar

__all__ = ["run_in_context"]

_T = TypeVar("_T")


@types.coroutine
def run_in_context(
    context: Context, factory: Callable[[], Awaitable[_T]]
) -> Generator[Any, Any, _T]:
    """Await ``factory()`` from the current task, but in *context*.

    Every step of the awaitable runs inside ``context.run``: its context
    variables are those of *context*, and what it sets lands there, while the
    awaiting task keeps its own context.  What the awaitable yields to the
    event loop, and what the loop sends or throws back (results, cancellation),
    passes through unchanged, so this works on any event loop.
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
