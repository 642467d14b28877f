"""Which thread ran each part of a request, and what its database connection did.

A request names itself with a ``rid`` query parameter.  The middleware, the
``request_started`` and ``request_finished`` receivers and the views record
into :data:`TRACES` under that name:

* ``middleware``: the thread of the (sync-only) middleware;
* ``started``: the thread of the ``request_started`` receiver;
* ``view``: the threads of the view's sync parts (a sync view itself, or an
  async view's own ``sync_to_async`` calls), with the connection object of
  that thread and whether it was open there (it is, if Django's own
  ``sync_to_async`` of the ORM call before ran on the same thread);
* ``finished``: the thread of the ``request_finished`` receiver, and whether
  the thread's connection was closed by then (Django's
  ``close_old_connections`` receiver runs first).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from django.core.signals import request_finished, request_started
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ..support import Barrier


@dataclasses.dataclass
class Trace:
    middleware: int | None = None
    started: int | None = None
    view: list[int] = dataclasses.field(default_factory=list)
    connections: list[Any] = dataclasses.field(default_factory=list)
    open_in_view: list[bool] = dataclasses.field(default_factory=list)
    finished: int | None = None
    closed_at_finish: bool | None = None

    def threads(self) -> set[int | None]:
        """Every thread that ran a sync part of the request (``None``: a part
        that did not run)."""
        return {self.middleware, self.started, *self.view, self.finished}


TRACES: dict[str, Trace] = {}
#: The request each thread is serving, set by the middleware.
_ACTIVE: dict[int, str] = {}
_lock = threading.Lock()


def trace(rid: str) -> Trace:
    with _lock:
        return TRACES.setdefault(rid, Trace())


def reset() -> None:
    """Forget every trace; put the receivers last again."""
    with _lock:
        TRACES.clear()
        _ACTIVE.clear()
        GATES.clear()
    connect_receivers()


def record_view(rid: str) -> None:
    """Record the calling thread and its connection as running the view."""
    wrapper = connections["default"]
    record = trace(rid)
    record.view.append(threading.get_ident())
    record.connections.append(wrapper)
    record.open_in_view.append(wrapper.connection is not None)


def trace_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """A sync-only middleware (Django adapts it under the ASGI handler)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        rid = request.GET.get("rid")
        if rid is not None:
            ident = threading.get_ident()
            trace(rid).middleware = ident
            with _lock:
                _ACTIVE[ident] = rid
        return get_response(request)

    return middleware


class TemplateResponseMiddleware:
    """A sync-only middleware with a process_template_response() hook.

    Under the ASGI handler Django wraps the hook in sync_to_async and reads
    the wrapper's ``__self__`` to name the middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_template_response(
        self, request: HttpRequest, response: TemplateResponse
    ) -> TemplateResponse:
        rid = request.GET.get("rid")
        if rid is not None:
            record_view(rid)
        response.headers["x-template-middleware"] = type(self).__name__
        return response


def _on_request_started(
    sender: object,
    environ: dict[str, Any] | None = None,
    scope: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    if environ is not None:
        query = environ.get("QUERY_STRING", "")
    else:
        assert scope is not None
        query = scope["query_string"]  # Django's AsyncClient puts a str there
        if isinstance(query, bytes):
            query = query.decode()
    rid = parse_qs(query).get("rid")
    if rid:
        trace(rid[0]).started = threading.get_ident()


def _on_request_finished(sender: object, **kwargs: Any) -> None:
    ident = threading.get_ident()
    with _lock:
        rid = _ACTIVE.pop(ident, None)
    if rid is not None:
        record = trace(rid)
        record.finished = ident
        record.closed_at_finish = connections["default"].connection is None


def connect_receivers() -> None:
    """(Re)connect the receivers, last: after Django's close_old_connections.

    Django's test clients disconnect and reconnect close_old_connections
    around each request, which moves it to the end of the list; calling this
    again puts the receivers back after it.
    """
    for signal, receiver in (
        (request_started, _on_request_started),
        (request_finished, _on_request_finished),
    ):
        signal.disconnect(dispatch_uid="compat-trace")
        signal.connect(receiver, dispatch_uid="compat-trace")


#: Barriers views wait at, by the name in their ``gate`` query parameter.
GATES: dict[str, Barrier] = {}
