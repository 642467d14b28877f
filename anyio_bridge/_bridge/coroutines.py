"""Coroutine helpers: recognising and marking coroutine functions on every
supported Python (and, from :mod:`anyio_bridge._backends`, running a coroutine
in a given context).

Python 3.12 added `inspect.markcoroutinefunction`; before that the only
marker was asyncio's private ``_is_coroutine`` attribute, which
`asyncio.iscoroutinefunction` (used by Django to detect async middleware)
looks for.  This module hides that difference.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from .._backends._context import run_in_context

__all__ = ["iscoroutinefunction", "markcoroutinefunction", "run_in_context"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _asyncio_marker() -> object:
    # On Python < 3.12 the only coroutine marker that
    # asyncio.iscoroutinefunction() honours is a private sentinel of asyncio's
    # coroutines module (read in _backends._private, like every private name).
    # It is looked up lazily and only on those versions.
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
