"""Building a PEP 3333 environ from an ASGI HTTP scope; ``wsgi.errors``.

Everything here runs without an event loop: :func:`build_environ` on the loop
thread, the error stream in the worker thread that runs the application.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from .files import FileWrapper

__all__ = ["ERRORS", "DuplicateHeadersError", "build_environ"]

errors_logger = logging.getLogger("anyio_bridge.wsgi.errors")


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
    # The mount point, without a trailing slash (PEP 3333's SCRIPT_NAME).  The
    # path is split at a "/" boundary only: "/application" is not under "/app",
    # and a path outside the mount keeps its whole self (as in asgiref).
    root_path: str = scope.get("root_path", "").rstrip("/")
    path: str = scope["path"]
    if root_path and (path == root_path or path.startswith(root_path + "/")):
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
