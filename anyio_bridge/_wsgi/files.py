"""``wsgi.file_wrapper``, and when a response is sent with pathsend instead."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from stat import S_ISREG
from typing import Any, BinaryIO

__all__ = ["FileWrapper", "pathsend_path"]


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


def pathsend_path(
    wrapper: FileWrapper, scope: Mapping[str, Any], remaining: int | None
) -> str | None:
    """The path to hand to the server instead of reading *wrapper*, if any.

    Only for a server offering ``http.response.pathsend``, a regular file
    still at its start, opened under its own name, and a ``Content-Length``
    (*remaining*), if any, that is the file's size.
    """
    extensions = scope.get("extensions") or {}
    if "http.response.pathsend" not in extensions:
        return None
    filelike = wrapper.filelike
    try:
        name = filelike.name
        opened = os.fstat(filelike.fileno())
        at_start = filelike.tell() == 0
    except (AttributeError, OSError, ValueError):
        return None
    if not (isinstance(name, str) and at_start and S_ISREG(opened.st_mode)):
        return None
    path = os.path.abspath(name)
    try:
        same = os.path.samestat(os.stat(path), opened)
    except OSError:
        return None
    if not same or remaining not in (None, opened.st_size):
        return None
    return path
