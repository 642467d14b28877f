"""Running ASGI 2 ("double-callable") applications where ASGI 3 is expected.

The implementation behind the front door `anyio_bridge.compatibility`.

ASGI 2 applications are called twice: first with the scope, which returns an
instance, and then that instance is awaited with `receive` and `send`.
ASGI 3 applications take all three arguments in one call.  The helpers here
tell the two styles apart and wrap ASGI 2 applications so that servers and
test harnesses only ever have to deal with ASGI 3.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias, cast

from .._bridge.coroutines import iscoroutinefunction
from .typing import (
    ASGI3Application,
    ASGIApplication,
    ASGIReceiveCallable,
    ASGISendCallable,
    Scope,
)

__all__ = (
    "DoubleCallableApplication",
    "is_double_callable",
    "double_to_single_callable",
    "guarantee_single_callable",
)

DoubleCallableApplication: TypeAlias = Callable[
    [Scope], Callable[[ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
]
"""Any ASGI 2 style callable: called with the scope, it returns a callable
that is then awaited with `receive` and `send`.  Covers
[`ASGI2Application`][anyio_bridge.typing.ASGI2Application] classes as well as
plain functions and instances written in that style."""


def is_double_callable(
    application: ASGIApplication | DoubleCallableApplication,
) -> bool:
    """Tell whether *application* uses the ASGI 2 (double-callable) style.

    The checks run in this order and the first one that applies decides:

    1. a truthy `_asgi_single_callable` attribute means `False`;
    2. a truthy `_asgi_double_callable` attribute means `True`;
    3. a class means `True`, since calling it only builds an instance;
    4. an object whose `__call__` is a coroutine function means `False`;
    5. otherwise the answer is `True` unless *application* itself is a
       coroutine function.

    Coroutine functions are recognised by the package's own check, so
    functions marked with `markcoroutinefunction`, bound methods and
    `functools.partial` objects count too.  Setting one of the two attributes
    is the way to override the guess, e.g. for a synchronous callable that
    returns a coroutine.

    Returns:
        `True` for a double-callable application, `False` for a
        single-callable one.  Nothing is called and nothing is raised.
    """
    if getattr(application, "_asgi_single_callable", False):
        return False
    if getattr(application, "_asgi_double_callable", False):
        return True
    if inspect.isclass(application):
        return True
    # The __call__ attribute itself is inspected here (an instance whose class
    # defines `async def __call__`), not whether the object is callable.
    call = getattr(application, "__call__", None)  # noqa: B004
    if iscoroutinefunction(call):
        return False
    return not iscoroutinefunction(application)


def double_to_single_callable(
    application: ASGIApplication | DoubleCallableApplication,
) -> ASGI3Application:
    """Wrap a double-callable *application* as an ASGI 3 application.

    No check is made that *application* really is double-callable; use
    [`guarantee_single_callable`][anyio_bridge.compatibility.guarantee_single_callable]
    when that is not known.

    Returns:
        A new coroutine function `(scope, receive, send)`.  Each time it is
        awaited it calls `application(scope)` and awaits the result with
        `receive` and `send`.  Exceptions raised by either step propagate
        unchanged to whoever awaits the wrapper.
    """
    double = cast("DoubleCallableApplication", application)

    async def single_callable(
        scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        instance = double(scope)
        await instance(receive, send)

    return single_callable


def guarantee_single_callable(
    application: ASGIApplication | DoubleCallableApplication,
) -> ASGI3Application:
    """Return *application* in ASGI 3 (single-callable) style.

    Use this in servers and test harnesses that also want to accept ASGI 2
    applications.

    Returns:
        *application* itself when
        [`is_double_callable`][anyio_bridge.compatibility.is_double_callable]
        says it is single-callable, otherwise the wrapper made by
        [`double_to_single_callable`][anyio_bridge.compatibility.double_to_single_callable].
        Nothing is raised here; an object that is not an application at all
        only fails once it is called.
    """
    if is_double_callable(application):
        return double_to_single_callable(application)
    return cast("ASGI3Application", application)
