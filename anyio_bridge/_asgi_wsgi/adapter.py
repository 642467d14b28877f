""":class:`AsgiToWsgi`: an ASGI application as a WSGI callable."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._asgi.compatibility import guarantee_single_callable
from .exchange import logger
from .response import plain_response, respond
from .runtime import Runtime, current_generation
from .scope import body_plan, build_scope
from .settings import DEFAULT_CHUNK_SIZE, DEFAULT_SEND_BUFFER, LifespanMode, Settings
from .task import RequestTask

__all__ = ["AsgiToWsgi"]


class AsgiToWsgi:
    """Run an ASGI 3 (or 2) HTTP application under any WSGI server.

    The application runs on an event loop thread shared by every adapter of
    the process (one per backend), started on the first request and started
    afresh in a child process after :func:`os.fork`.  Each WSGI call hands
    its request to that loop and blocks the server's thread until the
    response starts; the body streams both ways with bounded buffering.

    :param app: the ASGI application.
    :param backend: ``"asyncio"`` or ``"trio"``.
    :param backend_options: passed to :func:`anyio.run` for the loop (e.g.
        ``{"use_uvloop": True}``); adapters with different options get
        different loop threads.
    :param lifespan: ``"auto"``, ``"on"`` or ``"off"``; see
        ``docs/asgi-under-wsgi.md``.
    :param lifespan_timeout: seconds startup and shutdown may each take
        (``None``: no limit).  A startup that overruns fails.
    :param response_timeout: seconds a request may wait for
        ``http.response.start`` before it is answered ``504`` and the
        application cancelled (``None``, the default: no limit).
    :param disconnect_grace: seconds the application may keep running after
        the server closed the response early (the client is gone) before it
        is cancelled.
    :param chunk_size: bytes read from ``wsgi.input`` per ``http.request``
        message (and per file chunk without ``wsgi.file_wrapper``).
    :param send_buffer_size: response bytes the application may send ahead
        of the server; past it, its ``send()`` waits.
    :raises TypeError: *app* is not callable, or an option has the wrong type.
    :raises ValueError: an option has an invalid value, or ``backend="trio"``
        without trio installed.
    """

    def __init__(
        self,
        app: Callable[..., Any],
        *,
        backend: str = "asyncio",
        backend_options: Mapping[str, Any] | None = None,
        lifespan: LifespanMode = "auto",
        lifespan_timeout: float | None = 60.0,
        response_timeout: float | None = None,
        disconnect_grace: float = 1.0,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        send_buffer_size: int = DEFAULT_SEND_BUFFER,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be an ASGI application, not {app!r}")
        #: The application as given.
        self.app = app
        self.settings = Settings(
            backend=backend,
            backend_options=backend_options,
            lifespan=lifespan,
            lifespan_timeout=lifespan_timeout,
            response_timeout=response_timeout,
            disconnect_grace=disconnect_grace,
            chunk_size=chunk_size,
            send_buffer_size=send_buffer_size,
        )
        self._asgi3 = guarantee_single_callable(app)
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _start(self) -> Runtime | None:
        with self._lock:
            if self._closed:
                return None
            runtime = self._runtime
            # Checked again under the lock: another thread's first request
            # may have made it meanwhile.
            if (
                runtime is None or runtime.generation != current_generation()
            ):  # pragma: no branch
                runtime = self._runtime = Runtime(self._asgi3, self.settings)
            return runtime

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        runtime = self._runtime
        if runtime is None or runtime.generation != current_generation():
            runtime = self._start()
        if runtime is None or runtime.closed:
            logger.warning("request after AsgiToWsgi.close(): answering 503")
            return plain_response(start_response, "503 Service Unavailable")
        plan = body_plan(environ)
        if plan.error is not None:
            return plain_response(start_response, plan.error)
        exchange = RequestTask(
            runtime,
            build_scope(environ),
            environ.get("wsgi.input"),
            plan.length,
            plan.announced,
        )
        exchange.read_small_body(runtime.settings.chunk_size)
        if not runtime.loop_thread.submit(exchange.run, contextvars.copy_context()):
            logger.warning("the event loop has stopped: answering 503")
            return plain_response(start_response, "503 Service Unavailable")
        return respond(exchange, environ, start_response)

    def close(self) -> None:
        """Shut the application down: run its lifespan shutdown, if it started.

        Blocks until the application answers (at most ``lifespan_timeout``);
        requests after this get ``503``.  Must not be called from the loop's
        own thread (from inside the application).

        :raises RuntimeError: called from the adapter's event loop thread.
        """
        runtime = self._runtime
        if (
            runtime is not None
            and runtime.loop_thread.thread is threading.current_thread()
        ):
            raise RuntimeError("AsgiToWsgi.close() cannot be called from its own loop")
        with self._lock:
            self._closed = True
            runtime = self._runtime
        if runtime is not None:
            runtime.close()

    def __repr__(self) -> str:
        return f"<AsgiToWsgi {self.app!r} backend={self.settings.backend!r}>"
