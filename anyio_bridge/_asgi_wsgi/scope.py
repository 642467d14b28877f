"""The ASGI HTTP scope of a request, built from its PEP 3333 environ.

PEP 3333 hands the application native strings that carry the request's bytes
decoded as latin-1; the ASGI scope wants the path decoded from UTF-8 and the
query string and headers as bytes.  The mapping, key by key:

* ``path``: ``SCRIPT_NAME + PATH_INFO`` (ASGI's path includes the root path),
  re-encoded as latin-1 and decoded as UTF-8;
* ``raw_path``: the path part of ``RAW_URI`` or ``REQUEST_URI`` when the
  server sets one and it still matches the path; otherwise the path,
  percent-encoded;
* ``root_path``: ``SCRIPT_NAME``, decoded the same way;
* ``headers``: every ``HTTP_*`` key plus ``CONTENT_TYPE`` and
  ``CONTENT_LENGTH``, in the environ's order, names lower-cased with ``_``
  turned back into ``-``;
* ``server``: ``(SERVER_NAME, SERVER_PORT)``; ``client``:
  ``(REMOTE_ADDR, REMOTE_PORT)`` with port 0 when the server does not say;
* ``http_version`` from ``SERVER_PROTOCOL``; ``scheme`` from
  ``wsgi.url_scheme``.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

__all__ = ["ASGI_VERSION", "BodyPlan", "body_plan", "build_scope"]

#: HTTP spec 2.4: ``send()`` raises an :class:`OSError` once the client is gone.
ASGI_VERSION: Final = {"version": "3.0", "spec_version": "2.4"}
_HTTP_VERSIONS: Final = {
    "HTTP/1.0": "1.0",
    "HTTP/1.1": "1.1",
    "HTTP/2": "2",
    "HTTP/2.0": "2",
    "HTTP/3": "3",
}
_SPECIAL: Final = {"CONTENT_TYPE": b"content-type", "CONTENT_LENGTH": b"content-length"}
_PATH_SAFE: Final = "/!$&'()*+,;=:@-._~"


def _text(value: str) -> str:
    """A PEP 3333 native string (bytes as latin-1) as the text ASGI wants."""
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a server that already decoded it
        return value


def _raw_path(environ: dict[str, Any], path: str) -> bytes:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if not raw.startswith("/"):  # absolute-form request target
            raw = urlsplit(raw).path
        raw = raw.partition("?")[0]
        # Only if no middleware rewrote the path since the server read it.
        if raw == path or unquote(raw, errors="replace") == path:
            try:
                return raw.encode("latin-1")  # type: ignore[no-any-return]
            except UnicodeEncodeError:
                pass
    return quote(path, safe=_PATH_SAFE).encode("ascii")


def _address(host: object, port: object) -> tuple[str, int] | None:
    if not isinstance(host, str) or not host:
        return None
    try:
        number = int(port)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = 0
    return (host, number)


def build_scope(environ: dict[str, Any]) -> dict[str, Any]:
    """The ASGI ``http`` scope for *environ* (without ``state``)."""
    root_path = _text(environ.get("SCRIPT_NAME", ""))
    path = root_path + _text(environ.get("PATH_INFO", ""))
    headers: list[tuple[bytes, bytes]] = []
    special = _SPECIAL
    has_special = "CONTENT_TYPE" in environ, "CONTENT_LENGTH" in environ
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if (key == "HTTP_CONTENT_TYPE" and has_special[0]) or (
                key == "HTTP_CONTENT_LENGTH" and has_special[1]
            ):
                continue
            name = key[5:].replace("_", "-").lower().encode("latin-1")
        elif key in special:
            if not value:
                continue
            name = special[key]
        else:
            continue
        headers.append((name, value.encode("latin-1")))
    return {
        "type": "http",
        "asgi": ASGI_VERSION.copy(),
        "http_version": _HTTP_VERSIONS.get(environ.get("SERVER_PROTOCOL", ""), "1.1"),
        "method": environ.get("REQUEST_METHOD", "GET").upper(),
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": path,
        "raw_path": _raw_path(environ, path),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": root_path,
        "headers": headers,
        "client": _address(environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")),
        "server": _address(environ.get("SERVER_NAME"), environ.get("SERVER_PORT")),
        "extensions": {"http.response.pathsend": {}},
    }


class BodyPlan:
    """How much of ``wsgi.input`` belongs to the request.

    ``length`` is the number of bytes to read, or ``None`` to read to EOF
    (the server set ``wsgi.input_terminated``).  ``error`` is a status line
    to answer with instead of running the application.
    """

    __slots__ = ("announced", "error", "length")

    def __init__(
        self, length: int | None, error: str | None = None, announced: int | None = None
    ) -> None:
        self.length = length
        self.error = error
        #: CONTENT_LENGTH when reading to EOF: an EOF short of it is a client gone.
        self.announced = announced


_EMPTY: Final = BodyPlan(0)


def body_plan(environ: dict[str, Any]) -> BodyPlan:
    """Decide how to read the request body of *environ*.

    PEP 3333 lets an application read ``CONTENT_LENGTH`` bytes, or to EOF
    when the server sets ``wsgi.input_terminated`` (gunicorn does for chunked
    uploads).  A chunked request on a server that sets neither cannot be read
    without risking a hang or a silently empty body: it is answered
    ``411 Length Required``.  A malformed ``CONTENT_LENGTH`` is ``400``.
    """
    length = environ.get("CONTENT_LENGTH")
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length:
        if not (length.isascii() and length.isdigit()):
            return BodyPlan(0, "400 Bad Request")
        size = int(length)
    elif chunked:
        size = None
    else:
        return _EMPTY  # HTTP/1.1: no length and not chunked is no body
    if environ.get("wsgi.input_terminated"):
        # Read to EOF; an EOF short of the announced length is a client gone
        # (gunicorn sets the flag on every request and ends a cut-off body
        # with a plain EOF).
        return BodyPlan(None, announced=size)
    if size is None:
        return BodyPlan(0, "411 Length Required")
    return BodyPlan(size) if size else _EMPTY
