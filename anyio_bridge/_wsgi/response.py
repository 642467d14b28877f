"""The worker thread's side of a response: what the application describes.

The application's ``start_response`` records the status and headers, its
``write()`` and response iterable hand body parts to the channel's outbox
(:mod:`.channel`), each part as soon as it is made, the thread waiting while
more than ``send_buffer_size`` bytes are not yet sent.  A list or tuple
response is handed over whole; ``Content-Length`` and ``HEAD`` cut the body
short; errors become a 500 while nothing was handed over yet.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from contextvars import Context
from types import TracebackType
from typing import Any, Final

from .._bridge.local import bridge_enter
from .channel import BODY, ERROR, NOBODY, PATHSEND, Aborted, Channel
from .files import FileWrapper, pathsend_path
from .input import ClientDisconnected

__all__ = ["ExcInfo", "Headers", "ResponseWriter", "Start", "parse_start"]

logger = logging.getLogger("anyio_bridge.wsgi")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
Headers = list[tuple[bytes, bytes]]
Start = tuple[int, Headers]

_BAD_HEADER_CHARS: Final = frozenset("\r\n\0")
_BAD_NAME_CHARS: Final = frozenset("\r\n\0: \t")


class ResponseWriter(Channel):
    """The response as the application describes it, in its worker thread.

    :meth:`_run` is the job the worker thread runs: the application, its
    response iterable and ``close()``, in the request's context.
    """

    # Set by the request task before the thread starts.
    _environ: dict[str, Any]
    _context: Context
    _source_thread: int

    def __init__(self) -> None:
        super().__init__()
        self._status: int | None = None
        self._headers: Headers = []
        self._started = False  # the start left the thread: no more changes
        self._streaming = False  # part of the response was handed over
        self._remaining: int | None = None  # Content-Length left to send
        self._head = False
        self._last = b""  # the part that completes a Content-Length
        #: Parts of a list or tuple response, handed over together at the end.
        self._held: list[bytes] | None = None

    def start_response(
        self,
        status: str,
        response_headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        """PEP 3333's ``start_response``: record the status and headers.

        Returns the ``write()`` callable.

        :raises ValueError: the status is not ``"NNN reason"``, or a header
            name or value is not a latin-1 string free of CR, LF and NUL.
        :raises RuntimeError: called a second time without *exc_info*.
        :raises BaseException: ``exc_info[1]``, when called with *exc_info*
            after the response start has been handed to the server.
        """
        if exc_info is not None:
            try:
                if self._started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise RuntimeError(
                "start_response() was already called; call it again only with exc_info"
            )
        self._status, self._headers, self._remaining = parse_start(
            status, response_headers
        )
        return self._write

    def _run(self) -> Callable[[], None]:
        """The job run by the worker thread: returns the final hand-over."""
        try:
            final = self._context.run(self._run_app)
        except BaseException as exc:  # pragma: no cover - _run_app catches all
            final = (ERROR, None, exc)
        return functools.partial(self._finish, final)

    def _run_app(self) -> tuple[Any, ...]:
        bridge_enter(self._source_thread)
        claim = self._claim
        saved = claim.enter()
        try:
            try:
                result = self._settings.app(self._environ, self.start_response)
            except BaseException as exc:
                return self._failed(exc)
            try:
                final = self._respond_with(result)
            except BaseException as exc:
                final = self._failed(exc)
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as exc:
                    if final[0] != ERROR:
                        final = self._failed(exc)
                    else:
                        logger.exception("close() of the WSGI response failed")
            return final
        finally:
            claim.leave(saved)

    def _respond_with(self, result: Iterable[bytes]) -> tuple[Any, ...]:
        if isinstance(result, FileWrapper) and not (
            self._status is None or self._head or self._started
        ):
            path = pathsend_path(result, self.scope, self._remaining)
            if path is not None:
                start = self._take_start()
                return (PATHSEND, start, path)
        if not (self._head and self._status is not None):
            # A list or tuple is made in one go: hand it over whole, with one
            # wake-up of the request task, instead of part by part.
            if isinstance(result, (list, tuple)):
                self._held = []
            for data in result:
                if not isinstance(data, bytes):
                    raise TypeError(
                        "the WSGI response iterable must yield bytes, not "
                        f"{type(data).__name__}"
                    )
                if self._add(data):
                    break
        if self._status is None:
            raise RuntimeError("the WSGI application did not call start_response()")
        return self._final()

    def _add(self, data: bytes) -> bool:
        """Hand response bytes over; ``True`` when the response is complete."""
        if self._aborted is not None:
            raise Aborted
        if self._status is None:
            raise RuntimeError("the WSGI application sent body before start_response()")
        if self._head:
            return True
        remaining = self._remaining
        done = False
        if remaining is not None:
            if len(data) >= remaining:
                data = data[:remaining]
                done = True
            self._remaining = remaining - len(data)
        if data and not done and self._held is not None:
            self._held.append(data)
        elif data and not done:
            # Handed over at once: the request task may be sending already,
            # or the application may block before its next part.
            start = self._take_start()
            with self._lock:
                self._outbox.append((BODY, start, data, True))
                self._pending += len(data)
                self._waiter.wake_batched()
                self._waiter = NOBODY
            self._streaming = True
            self._wait_for_room()
        elif data:
            self._last = data
        return done

    def _final(self) -> tuple[Any, ...]:
        """The last body item: whatever is left, and the start if still here."""
        data, self._last = self._last, b""
        held, self._held = self._held, None
        if held:
            data = b"".join([*held, data])
        return (BODY, self._take_start(), data, False)

    def _take_start(self) -> Start | None:
        if self._started:
            return None
        self._started = True
        assert self._status is not None
        return (self._status, self._headers)

    def _wait_for_room(self) -> None:
        limit = self._settings.send_buffer_size
        if self._pending <= limit:
            return
        with self._lock:
            while self._pending > limit and self._aborted is None:
                self._wait_for_change()
            if self._aborted is not None:
                raise Aborted

    def _failed(self, exc: BaseException) -> tuple[Any, ...]:
        if isinstance(exc, Aborted) or self._aborted is not None:
            logger.debug("WSGI request aborted", exc_info=exc)
        else:
            request = f"{self.scope.get('method')} {self.scope.get('path')}"
            logger.error("Exception in WSGI application (%s)", request, exc_info=exc)
        # Until a first part was handed over, a 500 can still replace it all.
        self._started = True
        return (ERROR, None if self._streaming else (500, []), exc)

    def _write(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        try:
            self._add(data)
        except Aborted:
            raise ClientDisconnected("the client disconnected") from None


def parse_start(
    status: str, headers: list[tuple[str, str]]
) -> tuple[int, Headers, int | None]:
    if not (
        isinstance(status, str)
        and len(status) >= 4
        and status[:3].isdigit()
        and status[3] == " "
        and not _BAD_HEADER_CHARS.intersection(status)
    ):
        raise ValueError(f"status must look like '200 OK', not {status!r}")
    raw: Headers = []
    remaining: int | None = None
    for name, value in headers:
        if not (
            isinstance(name, str)
            and isinstance(value, str)
            and name
            and not _BAD_NAME_CHARS.intersection(name)
            and not _BAD_HEADER_CHARS.intersection(value)
        ):
            raise ValueError(f"invalid response header: {name!r}: {value!r}")
        # HTTP allows no space or tab around a field value, and some servers
        # (uvicorn with h11) drop the response if there is one; Django writes
        # every Set-Cookie value with a leading space.
        value = value.strip(" \t")
        try:
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise ValueError(
                f"response header is not latin-1: {name!r}: {value!r}"
            ) from None
        if raw[-1][0] == b"content-length":
            if not value.isdigit():
                raise ValueError(f"invalid Content-Length: {value!r}")
            remaining = int(value)
    return int(status[:3]), raw, remaining
