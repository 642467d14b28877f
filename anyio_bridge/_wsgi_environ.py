"""Building a PEP 3333 environ from an ASGI HTTP scope, and the streams in it.

Everything here runs without an event loop: :func:`build_environ` on the loop
thread, the streams in the worker thread that runs the application.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO

__all__ = [
    "ERRORS",
    "ClientDisconnected",
    "DuplicateHeadersError",
    "FileWrapper",
    "InputStream",
    "RequestBodyTooLarge",
    "build_environ",
]

errors_logger = logging.getLogger("anyio_bridge.wsgi.errors")


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


class DuplicateHeadersError(ValueError):
    """A request header is repeated more often than the configured limit."""


class _ErrorStream(io.TextIOBase):
    """``wsgi.errors``: a text stream whose lines go to the logger
    ``anyio_bridge.wsgi.errors`` at ERROR level.

    Text is buffered per thread until a newline or :meth:`flush`, so lines
    written piecewise by concurrent requests never interleave.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors takes str, not {type(text).__name__}")
        pending: str = getattr(self._pending, "text", "") + text
        *lines, pending = pending.split("\n")
        for line in lines:
            errors_logger.error("%s", line)
        self._pending.text = pending
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pending: str = getattr(self._pending, "text", "")
        if pending:
            self._pending.text = ""
            errors_logger.error("%s", pending)

    def close(self) -> None:
        """Flush only: the stream is shared and stays usable."""
        self.flush()


#: The one ``wsgi.errors`` stream, shared by every request.
ERRORS = _ErrorStream()


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


class FileWrapper:
    """``wsgi.file_wrapper``: an iterable over a file, sent efficiently.

    Iterating reads *blksize* bytes at a time.  When the application returns
    a ``FileWrapper`` over a regular file still at its start, and the server
    supports the ``http.response.pathsend`` extension, the adapter hands the
    server the file's path instead of reading it.  :meth:`close` closes the
    file.
    """

    def __init__(self, filelike: BinaryIO | Any, blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        read, blksize = self.filelike.read, self.blksize
        while data := read(blksize):
            yield data

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


# Environ keys for header names, cached: most requests repeat a few names.
_header_keys: dict[bytes, str | None] = {
    b"content-type": "CONTENT_TYPE",
    b"content-length": "CONTENT_LENGTH",
}
_MAX_CACHED_KEYS = 512


def _header_key(name: bytes) -> str | None:
    key = _header_keys.get(name)
    if key is None and name not in _header_keys:
        if b"_" in name:
            # "X_Forwarded_For" must not pass for "X-Forwarded-For": like nginx
            # and gunicorn, drop names that would collide after the mapping.
            key = None
        else:
            key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if len(_header_keys) < _MAX_CACHED_KEYS:
            _header_keys[name] = key
    return key


def build_environ(
    scope: Mapping[str, Any],
    body: Any,
    *,
    duplicate_header_limit: int | None = 100,
) -> dict[str, Any]:
    """The PEP 3333 environ for an ASGI HTTP *scope* whose body is read from *body*.

    :param body: the ``wsgi.input`` stream (a file-like object).
    :param duplicate_header_limit: how many times one header name may occur;
        ``None`` or 0 for no limit.
    :raises DuplicateHeadersError: a header occurs more often than allowed.
    """
    root_path: str = scope.get("root_path", "")
    path: str = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    server = scope.get("server")
    if server is None:
        server_name, server_port = "localhost", "80"
    else:
        server_name = server[0]
        server_port = "0" if server[1] is None else str(server[1])
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode().decode("latin-1"),
        "PATH_INFO": path.encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": ERRORS,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
        "asgi.scope": scope,
    }
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    repeats: dict[str, int] | None = None
    for name, raw_value in scope.get("headers", ()):
        key = _header_key(name)
        if key is None:
            continue
        value = raw_value.decode("latin-1")
        previous = environ.get(key)
        if previous is None:
            environ[key] = value
            continue
        if repeats is None:
            repeats = {}
        count = repeats[key] = repeats.get(key, 1) + 1
        if duplicate_header_limit and count > duplicate_header_limit:
            raise DuplicateHeadersError(
                f"header {name.decode('latin-1')!r} occurs more than "
                f"{duplicate_header_limit} times"
            )
        separator = "; " if key == "HTTP_COOKIE" else ","
        environ[key] = previous + separator + value
    return environ
