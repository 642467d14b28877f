"""Running ASGI 2 ("double-callable") applications where ASGI 3 is expected.

ASGI 2 applications are called twice: first with the scope, which returns an
instance, and then that instance is awaited with `receive` and `send`.
ASGI 3 applications take all three arguments in one call.  The helpers here
tell the two styles apart and wrap ASGI 2 applications so that servers and
test harnesses only ever have to deal with ASGI 3.
"""

from ._asgi.compatibility import (
    DoubleCallableApplication,
    double_to_single_callable,
    guarantee_single_callable,
    is_double_callable,
)

__all__ = (
    "DoubleCallableApplication",
    "is_double_callable",
    "double_to_single_callable",
    "guarantee_single_callable",
)
