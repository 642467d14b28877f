"""``wsgi.input`` for a body still arriving, and the errors its reads raise.

Runs in the worker thread that runs the application, without an event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["ClientDisconnected", "InputStream", "RequestBodyTooLarge"]


class ClientDisconnected(OSError):
    """The client went away: raised by ``wsgi.input`` reads and ``write()``.

    An :class:`OSError`, as a broken socket would raise under a WSGI server,
    so frameworks treat it as an unreadable request.
    """


class RequestBodyTooLarge(ValueError):
    """The request body exceeds the adapter's ``max_body_size``.

    Raised by ``wsgi.input`` reads; if the application lets it propagate
    before starting a response, the client gets ``413 Content Too Large``.
    """


class InputStream:
    """``wsgi.input`` for a body that is still arriving.

    *pull* returns the next piece of the body (``b""`` at the end) and may
    raise :class:`ClientDisconnected` or :class:`RequestBodyTooLarge`; it is
    only called when the application asks for more than is buffered.
    """

    __slots__ = ("_buffer", "_eof", "_pull")

    def __init__(self, initial: bytes, pull: Callable[[], bytes]) -> None:
        self._buffer = bytearray(initial)
        self._pull = pull
        self._eof = False

    def _fill(self) -> bool:
        """Append the next piece to the buffer; ``False`` at the end."""
        if self._eof:
            return False
        data = self._pull()
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def _take(self, size: int) -> bytes:
        buffer = self._buffer
        data = bytes(buffer[:size])
        del buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Read up to *size* bytes; all that is left when *size* is negative
        or ``None``.  Returns less than *size* only at the end of the body."""
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(len(self._buffer))
        while len(self._buffer) < size and self._fill():
            pass
        return self._take(size)

    def readline(self, limit: int | None = -1) -> bytes:
        """Read one line, including its ``\\n``, of at most *limit* bytes."""
        if limit is None or limit < 0:
            limit = -1
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                size = end + 1
                break
            start = len(self._buffer)
            if 0 <= limit <= start or not self._fill():
                size = start
                break
        if 0 <= limit < size:
            size = limit
        return self._take(size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """Read lines until the end, or until they total *hint* bytes or more."""
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line
