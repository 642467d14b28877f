"""The application's lifespan, once per process, on the adapter's loop.

``lifespan="auto"`` (the default) sends ``lifespan.startup`` before the first
request and carries on without lifespan when the application raises on the
lifespan scope (it does not support it); ``"on"`` treats that as a failed
startup; ``"off"`` never sends lifespan events.  A failed startup (the
application sent ``lifespan.startup.failed``, raised under ``"on"``, or did
not finish within ``lifespan_timeout``) is logged once and every request is
answered ``500``.  After a successful startup each request's scope gets a
shallow copy of the lifespan ``state``, as the ASGI spec asks.

Shutdown (:meth:`Lifespan.shutdown`) is called from a thread other than the
loop's: :meth:`AsgiToWsgi.close` or interpreter exit.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from .._backends import Loop
    from .settings import Settings

__all__ = ["Lifespan"]

logger = logging.getLogger("anyio_bridge.wsgi")
_NEW, _STARTING, _RUNNING, _OVER = range(4)


class Lifespan:
    """The lifespan of one application in this process."""

    def __init__(self, app: Any, settings: Settings, loop: Loop) -> None:
        self._app = app
        self._settings = settings
        self._loop = loop
        self._phase = _NEW
        self._ready = settings.lifespan == "off"
        #: Why startup failed (every request gets 500), or None.
        self.error: str | None = None
        #: The state each request's scope gets a copy of, when lifespan ran.
        self.state: dict[str, Any] | None = None
        self._started: anyio.Event | None = None
        self._shutdown: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._startup_over = False
        self._stopped = threading.Event()

    async def started(self) -> str | None:
        """Wait for startup (starting it on first use); its error, or None.

        Called by request tasks, on the loop.
        """
        if self._ready:
            return self.error
        if self._phase == _NEW:
            self._phase = _STARTING
            self._started = anyio.Event()
            self._shutdown = anyio.Event()
            self._loop.start_task(self._main, contextvars.Context())
        assert self._started is not None
        await self._started.wait()
        return self.error

    async def _main(self) -> None:
        settings = self._settings
        state: dict[str, Any] = {}
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": state,
        }
        timeout = settings.lifespan_timeout
        deadline = math.inf if timeout is None else anyio.current_time() + timeout
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "lifespan.startup"}
            assert self._shutdown is not None
            await self._shutdown.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete" and not self._startup_over:
                self._startup_done(None, state)
            elif kind == "lifespan.startup.failed" and not self._startup_over:
                reason = message.get("message") or "the application gave no reason"
                self._startup_done(f"ASGI lifespan startup failed: {reason}")
            elif kind == "lifespan.shutdown.complete" and self._phase == _OVER:
                logger.debug("ASGI lifespan shutdown complete")
            elif kind == "lifespan.shutdown.failed" and self._phase == _OVER:
                reason = message.get("message") or "the application gave no reason"
                logger.error("ASGI lifespan shutdown failed: %s", reason)
            else:
                raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")

        try:
            with anyio.CancelScope(deadline=deadline) as cancel_scope:
                self._scope = cancel_scope
                await self._app(scope, receive, send)
            if cancel_scope.cancelled_caught:
                self._cancelled()
            elif not self._startup_over:
                self._unsupported("it returned without completing startup", None)
        except BaseException as exc:
            if not self._startup_over:
                self._unsupported(f"it raised {type(exc).__name__}: {exc}", exc)
            elif not isinstance(exc, self._loop.cancelled_class):
                logger.exception("Exception in ASGI lifespan", exc_info=exc)
        finally:
            self._phase = _OVER
            self._startup_done(
                None if self._settings.lifespan == "auto" else "lifespan ended"
            )
            self._stopped.set()

    def _cancelled(self) -> None:
        if not self._startup_over:
            self._startup_done(
                "ASGI lifespan startup did not complete within "
                f"lifespan_timeout={self._settings.lifespan_timeout}s"
            )
        else:
            logger.warning(
                "ASGI lifespan shutdown did not complete within lifespan_timeout=%ss",
                self._settings.lifespan_timeout,
            )

    def _unsupported(self, why: str, exc: BaseException | None) -> None:
        if self._settings.lifespan == "auto":
            logger.info("ASGI lifespan not supported by the application (%s)", why)
            self._startup_done(None)
        else:
            self._startup_done(f"ASGI lifespan startup failed: {why}", exc=exc)

    def _startup_done(
        self,
        error: str | None,
        state: dict[str, Any] | None = None,
        exc: BaseException | None = None,
    ) -> None:
        if self._startup_over:
            return
        self._startup_over = True
        if error is not None:
            logger.error("%s; every request is answered 500", error, exc_info=exc)
        self.error = error
        self.state = state
        self._ready = True
        if self._phase == _STARTING:
            self._phase = _RUNNING
        assert self._started is not None
        assert self._scope is not None  # set before the application runs
        self._started.set()
        self._scope.deadline = math.inf

    def shutdown(self) -> None:
        """Send ``lifespan.shutdown`` and wait for the application's answer.

        Call from any thread but the loop's.  Waits at most
        ``lifespan_timeout``, then cancels the lifespan task; does nothing if
        lifespan never started or already ended.
        """
        if self._phase == _NEW or self._stopped.is_set():
            return
        if not self._loop.call_soon_threadsafe(self._begin_shutdown):
            # pragma: no cover - defensive: a loop that stops cancels the
            # lifespan task, which sets _stopped first (checked above).
            return  # pragma: no cover
        timeout = self._settings.lifespan_timeout
        # The task's own deadline ends it; the margin covers a loop that is
        # too busy (or blocked) to get there.
        self._stopped.wait(None if timeout is None else timeout + 5)

    def _begin_shutdown(self) -> None:
        self._phase = _OVER
        timeout = self._settings.lifespan_timeout
        scope = self._scope
        if scope is not None and timeout is not None:
            scope.deadline = self._loop.time() + timeout
        assert self._shutdown is not None
        self._shutdown.set()
