"""``--static URL_PREFIX=DIRECTORY``: files served in front of the application.

:class:`StaticFiles` is an ASGI layer over :class:`~anyio_bridge.wsgi.WsgiToAsgi`:
a GET or HEAD request under a prefix gets the file, and any other request
under it ``405``; the application never sees them.  It uses anyio only, so
it runs on trio as on asyncio.

- **Paths**: the request's raw path is split into segments, each decoded on
  its own, so an encoded ``/`` or ``\\`` (``%2F``, ``%5C``) cannot make one.
  A segment that is empty (``//``, a trailing ``/``), ``.``, ``..``, hidden
  (starting with ``.``), holds a NUL, or does not decode as UTF-8, and a file
  that resolves (symlinks followed) outside the directory, or is not a
  regular file, are ``404``.
- **Responses**: the type from :mod:`mimetypes` (text in UTF-8); ``ETag``
  and ``Last-Modified``, with ``304`` for ``If-None-Match`` and
  ``If-Modified-Since`` (:mod:`.conditional`); one byte range (``206``,
  ``416``); ``Cache-Control: no-cache``, so that browsers check each time
  (cheaply, with a ``304``) and see a file as soon as it changes.
- **Sending**: through ``http.response.pathsend`` when the server offers it,
  else read in 64 KiB chunks with anyio's file I/O (in worker threads).
"""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Final
from urllib.parse import quote, unquote

import anyio
import anyio.to_thread

from .._wsgi.sender import simple_response
from . import conditional
from .errors import ServeError
from .options import StaticMount

__all__ = ["CHUNK_SIZE", "StaticFiles", "send_file", "url_segments"]

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[Any]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]

CHUNK_SIZE: Final = 64 * 1024
_ALLOW: Final = (b"allow", b"GET, HEAD")
#: The type of a compressed file, given its encoding (sent as it is on disk).
_ENCODED_TYPES: Final = {"gzip": "application/gzip", "bzip2": "application/x-bzip2"}


def url_segments(rest: bytes) -> list[str] | None:
    """The decoded segments of a raw path below a prefix (``/css/site.css``),
    or None when it cannot name a file of the directory."""
    if not rest.startswith(b"/"):
        return None
    segments = []
    for raw in rest[1:].split(b"/"):
        lowered = raw.lower()
        if b"%2f" in lowered or b"%5c" in lowered:
            return None
        try:
            segment = unquote(raw.decode("ascii"), errors="strict")
        except UnicodeDecodeError:
            return None
        if not segment or segment.startswith(".") or "\x00" in segment:
            return None
        if "\\" in segment:  # a raw one: an encoded one is refused above
            return None
        segments.append(segment)
    return segments


def _find(directory: str, segments: Sequence[str]) -> tuple[str, os.stat_result] | None:
    """The real path and status of a regular file of *directory* (a real
    path), or None; blocking."""
    path = os.path.realpath(os.path.join(directory, *segments))
    if os.path.commonpath([directory, path]) != directory:
        return None  # a symlink out of the directory
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (path, status) if stat.S_ISREG(status.st_mode) else None


def _content_type(path: str) -> bytes:
    kind, encoding = mimetypes.guess_type(path)
    if encoding is not None:
        kind = _ENCODED_TYPES.get(encoding, "application/octet-stream")
    elif kind is None:
        kind = "application/octet-stream"
    elif kind.startswith("text/"):
        kind += "; charset=utf-8"
    return kind.encode("latin-1")


async def send_file(send: _Send, path: str, start: int, length: int) -> None:
    """Send *length* bytes of the file at *path* from *start*, in chunks.

    :raises OSError: the file is shorter than that (it changed meanwhile).
    """
    async with await anyio.open_file(path, "rb") as file:
        if start:
            await file.seek(start)
        while length > 0:
            chunk = await file.read(min(CHUNK_SIZE, length))
            if not chunk:
                raise OSError(f"{path} changed while it was sent")
            length -= len(chunk)
            await send(
                {"type": "http.response.body", "body": chunk, "more_body": length > 0}
            )


class StaticFiles:
    """An ASGI layer serving the files of *mounts* in front of *app*.

    :raises ServeError: a directory does not exist.
    """

    def __init__(self, app: _ASGIApp, mounts: Sequence[StaticMount]) -> None:
        self.app = app
        self.mounts: list[tuple[bytes, str]] = []
        for mount in mounts:
            directory = os.path.realpath(mount.directory)
            if not os.path.isdir(directory):
                raise ServeError(
                    f"--static {mount}: no such directory {directory}; give the "
                    "directory of the files, such as /static=./static"
                )
            self.mounts.append((quote(mount.prefix).encode("ascii"), directory))
        # The longest prefix first, so that /static/admin wins over /static.
        self.mounts.sort(key=lambda mount: len(mount[0]), reverse=True)

    def _match(self, scope: _Scope) -> tuple[bytes, str] | None:
        raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        for prefix, directory in self.mounts:
            rest = raw_path[len(prefix) :]
            if raw_path.startswith(prefix) and rest[:1] in (b"", b"/"):
                return rest, directory
        return None

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "http":
            match = self._match(scope)
            if match is not None:
                await self._serve(scope, send, *match)
                return
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: _Scope, send: _Send, rest: bytes, directory: str
    ) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, [_ALLOW])
            return
        segments = url_segments(rest)
        found = None
        if segments is not None:
            found = await anyio.to_thread.run_sync(_find, directory, segments)
        if found is None:
            await _plain(send, 404)
            return
        path, status = found
        request = conditional.Request(scope["headers"], method, status)
        headers = [
            (b"content-type", _content_type(path)),
            *request.validators,
            (b"cache-control", b"no-cache"),
        ]
        if request.not_modified():
            await send(
                {"type": "http.response.start", "status": 304, "headers": headers}
            )
            await send({"type": "http.response.body"})
            return
        byte_range = request.byte_range()
        if byte_range is conditional.UNSATISFIABLE:
            await _plain(
                send, 416, [(b"content-range", f"bytes */{status.st_size}".encode())]
            )
            return
        headers.append((b"accept-ranges", b"bytes"))
        if byte_range is None:
            code, start, length = 200, 0, status.st_size
        else:
            code, (start, end) = 206, byte_range
            length = end - start + 1
            headers.append(
                (b"content-range", f"bytes {start}-{end}/{status.st_size}".encode())
            )
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": code, "headers": headers})
        if method == "HEAD" or not length:
            await send({"type": "http.response.body"})
        elif code == 200 and "http.response.pathsend" in scope.get("extensions", ()):
            await send({"type": "http.response.pathsend", "path": path})
        else:
            await send_file(send, path, start, length)


async def _plain(
    send: _Send, code: int, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A short plain-text response (404, 405, 416) with extra *headers*."""

    async def add_headers(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message["headers"], *headers]
        await send(message)

    await simple_response(add_headers, code)
