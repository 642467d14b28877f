"""``--proxy-headers``: the client's address and scheme as a proxy saw them.

:class:`ProxyHeaders` is the outermost layer of the application ``serve``
runs.  For a request from a trusted peer (``--forwarded-allow-ips``), it
takes the client's address and the scheme from ``X-Forwarded-For`` and
``X-Forwarded-Proto`` (or from RFC 7239's ``Forwarded``, which proxies
configured for it send instead) into the scope's ``client`` and ``scheme``:
``REMOTE_ADDR`` and ``wsgi.url_scheme`` for the WSGI application.  Each of
the ``--proxy-hops`` proxies adds its entry at the end, so the one to take
is that many from the end: entries further left came from the client and
cannot be trusted.  Requests from other peers keep their headers but not
their effect.

hypercorn's ``ProxyFixMiddleware`` counts hops but trusts every peer, so a
client reaching the server directly could choose its address; hence this
small one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any, Final

from .options import ProxyMode

__all__ = ["ProxyHeaders", "parse_forwarded"]

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[Any]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]

#: Peers remembered as trusted or not (the cache is emptied when full).
_CACHE_SIZE: Final = 1024
#: The schemes a proxy may forward, for HTTP and websocket scopes.
_SCHEMES: Final = {
    "http": {"http": "http", "https": "https"},
    "websocket": {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"},
}


def _values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """The comma-separated entries of every *name* header, in order."""
    values: list[str] = []
    for header, value in headers:
        if header == name:
            values.extend(_split(value.decode("latin-1"), ","))
    return values


def _split(text: str, separator: str) -> list[str]:
    """*text* split at *separator*, except inside quoted strings; stripped."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _unquote(value: str) -> str:
    """A token, or a quoted string without its quotes and escapes."""
    if len(value) < 2 or not value[0] == value[-1] == '"':
        return value
    chars, escaped = [], False
    for char in value[1:-1]:
        if char == "\\" and not escaped:
            escaped = True
            continue
        chars.append(char)
        escaped = False
    return "".join(chars)


def _node(value: str) -> tuple[str, int]:
    """An RFC 7239 node (``192.0.2.1:80``, ``[2001:db8::1]:80``, ``unknown``)."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    else:
        host, port = value, ""
    return host, int(port) if port.isdecimal() and port.isascii() else 0


def parse_forwarded(element: str) -> dict[str, str]:
    """The parameters of one ``Forwarded`` element, names in lower case."""
    parameters = {}
    for pair in _split(element, ";"):
        name, equals, value = pair.partition("=")
        if equals:
            parameters[name.strip().lower()] = _unquote(value.strip())
    return parameters


class ProxyHeaders:
    """An ASGI layer applying proxy headers from trusted peers."""

    def __init__(
        self, app: _ASGIApp, mode: ProxyMode, trusted: Sequence[str], hops: int
    ) -> None:
        self.app = app
        self.mode = mode
        self.hops = hops
        self._trust_all = "*" in trusted
        self._networks = [
            ipaddress.ip_network(entry, strict=False)
            for entry in trusted
            if entry != "*"
        ]
        self._trusted: dict[str, bool] = {}

    def trusts(self, client: Sequence[Any] | None) -> bool:
        """Whether the headers of a request from *client* are believed."""
        if self._trust_all:
            return True
        if not client:
            return False
        host = str(client[0])
        trusted = self._trusted.get(host)
        if trusted is None:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                trusted = False
            else:
                trusted = any(address in network for network in self._networks)
            if len(self._trusted) >= _CACHE_SIZE:
                self._trusted.clear()
            self._trusted[host] = trusted
        return trusted

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        kind = scope["type"]
        if kind in _SCHEMES and self.trusts(scope.get("client")):
            scope = self._forwarded(scope, kind)
        await self.app(scope, receive, send)

    def _forwarded(self, scope: _Scope, kind: str) -> _Scope:
        headers = scope["headers"]
        client: tuple[str, int] | None = None
        proto: str | None = None
        if self.mode == "forwarded":
            elements = _values(headers, b"forwarded")
            if len(elements) >= self.hops:
                parameters = parse_forwarded(elements[-self.hops])
                if "for" in parameters:
                    client = _node(parameters["for"])
                proto = parameters.get("proto")
        else:
            addresses = _values(headers, b"x-forwarded-for")
            if len(addresses) >= self.hops:
                client = (addresses[-self.hops], 0)
            protos = _values(headers, b"x-forwarded-proto")
            if len(protos) >= self.hops:
                proto = protos[-self.hops]
        scheme = _SCHEMES[kind].get((proto or "").lower())
        if client is None and scheme is None:
            return scope
        scope = dict(scope)
        if client is not None:
            scope["client"] = client
        if scheme is not None:
            scope["scheme"] = scheme
        return scope
