"""Validators, conditional requests and byte ranges for :mod:`.static`.

RFC 9110: a file's ``ETag`` (strong, from its modification time and size)
and ``Last-Modified``; ``If-None-Match`` (weak comparison, ``*``) and,
without it, ``If-Modified-Since`` make a GET or HEAD ``304``; one
``Range: bytes=...`` of a GET, unless ``If-Range`` names an older version, is
a ``206`` or, beyond the end, ``416``.  A malformed ``Range``, or one with
several ranges, is ignored (the whole file is sent), as the RFC allows.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable
from email.utils import formatdate, mktime_tz, parsedate_tz
from typing import Final

__all__ = ["UNSATISFIABLE", "Request"]


class _Unsatisfiable(enum.Enum):
    UNSATISFIABLE = "unsatisfiable"


#: :meth:`Request.byte_range` of a range that starts past the end.
UNSATISFIABLE: Final = _Unsatisfiable.UNSATISFIABLE
_RANGE: Final = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)


def _timestamp(text: str) -> int | None:
    """An HTTP date as a POSIX timestamp, or None if it is not one."""
    parsed = parsedate_tz(text)
    return None if parsed is None else mktime_tz(parsed)


def _tags(header: str) -> list[str]:
    """The entity tags of ``If-None-Match``, without ``W/``."""
    return [tag.strip().removeprefix("W/") for tag in header.split(",")]


class Request:
    """A GET or HEAD request for a file whose status is *status*."""

    def __init__(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        method: str,
        status: os.stat_result,
    ) -> None:
        self._headers = {
            name: value.decode("latin-1")
            for name, value in headers
            if name in (b"if-none-match", b"if-modified-since", b"range", b"if-range")
        }
        self._method = method
        self.size = status.st_size
        self.modified = int(status.st_mtime)
        self.etag = f'"{status.st_mtime_ns:x}-{status.st_size:x}"'
        self.last_modified = formatdate(self.modified, usegmt=True)

    @property
    def validators(self) -> list[tuple[bytes, bytes]]:
        """The ``ETag`` and ``Last-Modified`` headers."""
        return [
            (b"etag", self.etag.encode("ascii")),
            (b"last-modified", self.last_modified.encode("ascii")),
        ]

    def not_modified(self) -> bool:
        """Whether the client's copy is current: answer ``304``."""
        if_none_match = self._headers.get(b"if-none-match")
        if if_none_match is not None:
            tags = _tags(if_none_match)
            return "*" in tags or self.etag in tags
        since = self._headers.get(b"if-modified-since")
        if since is None:
            return False
        timestamp = _timestamp(since)
        return timestamp is not None and self.modified <= timestamp

    def _if_range(self) -> bool:
        """Whether ``If-Range``, if any, names this version of the file."""
        if_range = self._headers.get(b"if-range")
        if if_range is None:
            return True
        if_range = if_range.strip()
        if if_range.startswith(('"', "W/")):
            return if_range == self.etag  # a strong comparison
        return _timestamp(if_range) == self.modified

    def byte_range(self) -> tuple[int, int] | _Unsatisfiable | None:
        """The first and last byte to send, :data:`UNSATISFIABLE`, or None
        for the whole file."""
        header = self._headers.get(b"range")
        if header is None or self._method != "GET" or not self._if_range():
            return None
        match = _RANGE.fullmatch(header.strip())
        if match is None:
            return None  # malformed, or several ranges
        first, last = match.groups()
        if not first:
            if not last:
                return None
            suffix = int(last)  # the last N bytes
            if not suffix or not self.size:
                return UNSATISFIABLE
            return max(0, self.size - suffix), self.size - 1
        start = int(first)
        if last and int(last) < start:
            return None
        if start >= self.size:
            return UNSATISFIABLE
        return start, min(int(last) if last else self.size, self.size - 1)
