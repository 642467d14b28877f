"""The adapter: :class:`WsgiToAsgi`, one :class:`~.instance.WsgiToAsgiInstance`
per request, all sharing one :class:`~.settings.Settings`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from anyio import CapacityLimiter

from .instance import WsgiToAsgiInstance
from .settings import DEFAULT_SEND_BUFFER, Settings, WSGIApp

__all__ = ["WsgiToAsgi"]


class WsgiToAsgi:
    """Serve a PEP 3333 (WSGI) application as an ASGI 3 application.

    :param wsgi_application: the WSGI application.
    :param duplicate_header_limit: requests repeating one header more often
        than this get ``400 Bad Request`` without reaching the application;
        ``None`` or 0 for no limit.
    :param limiter: how many requests may run the application at once: an
        :class:`anyio.CapacityLimiter`, a number of tokens (one limiter per
        event loop), or ``None`` for 64 tokens per event loop
        (:data:`DEFAULT_THREADS`), not shared with anything else.
    :param max_body_size: the largest request body accepted, in bytes
        (``None``: no limit).  A larger ``Content-Length`` gets ``413`` at
        once; a streamed body that grows past it makes ``wsgi.input`` reads
        raise :class:`RequestBodyTooLarge`.
    :param send_buffer_size: how many response bytes the application may
        produce ahead of the server before its thread waits.
    :raises ValueError: for a limiter below 1, a negative ``max_body_size`` or
        a ``send_buffer_size`` below 1.
    """

    def __init__(
        self,
        wsgi_application: WSGIApp,
        duplicate_header_limit: int | None = 100,
        *,
        limiter: CapacityLimiter | int | None = None,
        max_body_size: int | None = None,
        send_buffer_size: int = DEFAULT_SEND_BUFFER,
    ) -> None:
        self.wsgi_application = wsgi_application
        self._settings = Settings(
            wsgi_application,
            duplicate_header_limit,
            limiter,
            max_body_size,
            send_buffer_size,
        )

    @property
    def duplicate_header_limit(self) -> int | None:
        return self._settings.duplicate_header_limit

    async def __call__(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Any],
        send: Callable[[Any], Any],
    ) -> None:
        """Serve one ASGI connection scope (see :meth:`WsgiToAsgiInstance.__call__`)."""
        instance = WsgiToAsgiInstance(self.wsgi_application, _settings=self._settings)
        await instance(scope, receive, send)
