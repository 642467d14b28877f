"""Scopes for tests: http_scope, websocket_scope and lifespan_scope.

Behind ``anyio_bridge.testing``: each builds a complete ASGI 3 scope of its
kind from a few arguments, with the defaults a test server would use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from .typing import HTTPScope, LifespanScope, WebSocketScope

__all__ = [
    "HeadersArg",
    "encode_headers",
    "http_scope",
    "lifespan_scope",
    "websocket_scope",
]


HeadersArg = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]
"""Headers for a scope: a mapping of names to values, or ``(name, value)``
pairs (``str`` or ``bytes``, so that a name can repeat)."""

_PATH_SAFE = "/%:@!$&'()*+,;=~"


def encode_headers(headers: HeadersArg) -> list[tuple[bytes, bytes]]:
    pairs: Iterable[tuple[str | bytes, str | bytes]]
    if isinstance(headers, Mapping):
        pairs = cast("Mapping[str, str]", headers).items()
    else:
        pairs = headers
    encoded = []
    for name, value in pairs:
        raw_name = name if isinstance(name, bytes) else name.encode("latin-1")
        raw_value = value if isinstance(value, bytes) else value.encode("latin-1")
        encoded.append((raw_name.lower(), raw_value))
    return encoded


def _split_target(path: str, query_string: bytes | str) -> tuple[str, bytes, bytes]:
    """``(path, raw_path, query_string)`` for a request target."""
    if "?" in path:
        if query_string:
            raise ValueError("give the query string in path or query_string, not both")
        path, query_string = path.split("?", 1)
    if isinstance(query_string, str):
        query_string = query_string.encode("latin-1")
    raw_path = quote(path, safe=_PATH_SAFE).encode("ascii")
    return unquote(path), raw_path, query_string


def _connection_scope(
    kind: str,
    path: str,
    query_string: bytes | str,
    headers: HeadersArg,
    scheme: str,
    http_version: str,
    root_path: str,
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    extensions: dict[str, dict[object, object]] | None,
) -> dict[str, Any]:
    """The keys HTTP and WebSocket scopes share."""
    decoded, raw_path, query = _split_target(path, query_string)
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": http_version,
        "scheme": scheme,
        "path": decoded,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": root_path,
        "headers": encode_headers(headers),
        "client": client,
        "server": server,
        "extensions": extensions,
    }


def http_scope(
    method: str = "GET",
    path: str = "/",
    *,
    query_string: bytes | str = b"",
    headers: HeadersArg = (),
    scheme: str = "http",
    http_version: str = "1.1",
    root_path: str = "",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
    extensions: dict[str, dict[object, object]] | None = None,
) -> HTTPScope:
    """Build the scope of an HTTP request.

    :param method: the request method; upper-cased.
    :param path: the request path, percent-encoded or not, optionally followed
        by ``?`` and the query string.  The scope's ``path`` is decoded and its
        ``raw_path`` encoded.
    :param query_string: the query string, without ``?``.
    :param headers: request headers; names are lower-cased, ``str`` is
        encoded as latin-1.  Nothing is added.
    :param scheme: ``"http"`` or ``"https"``.
    :param http_version: ``"1.0"``, ``"1.1"`` or ``"2"``.
    :param root_path: the mount point of the application.
    :param client: the client's ``(host, port)``, or ``None``.
    :param server: the server's ``(host, port)``, or ``None``.
    :param extensions: the ``extensions`` entry, if any.
    :returns: a new scope (ASGI 3.0, spec version 2.3).
    :raises ValueError: if *path* contains a query string and *query_string*
        is given too.
    """
    scope = _connection_scope(
        "http",
        path,
        query_string,
        headers,
        scheme,
        http_version,
        root_path,
        client,
        server,
        extensions,
    )
    scope["method"] = method.upper()
    return cast("HTTPScope", scope)


def websocket_scope(
    path: str = "/",
    *,
    query_string: bytes | str = b"",
    headers: HeadersArg = (),
    subprotocols: Iterable[str] = (),
    scheme: str = "ws",
    http_version: str = "1.1",
    root_path: str = "",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
    extensions: dict[str, dict[object, object]] | None = None,
) -> WebSocketScope:
    """Build the scope of a WebSocket connection.

    The parameters are those of :func:`http_scope`, without *method*, plus:

    :param subprotocols: the subprotocols the client offers, in order.
    :param scheme: ``"ws"`` or ``"wss"``.
    :returns: a new scope (ASGI 3.0, spec version 2.3).
    :raises ValueError: if *path* contains a query string and *query_string*
        is given too.
    """
    scope = _connection_scope(
        "websocket",
        path,
        query_string,
        headers,
        scheme,
        http_version,
        root_path,
        client,
        server,
        extensions,
    )
    scope["subprotocols"] = list(subprotocols)
    return cast("WebSocketScope", scope)


def lifespan_scope(state: dict[str, Any] | None = None) -> LifespanScope:
    """Build the scope of the lifespan connection.

    :param state: the ``state`` dictionary the server shares with requests;
        left out of the scope when ``None``.
    :returns: a new scope (ASGI 3.0, spec version 2.0).
    """
    scope: LifespanScope = {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
    }
    if state is not None:
        scope["state"] = state
    return scope
