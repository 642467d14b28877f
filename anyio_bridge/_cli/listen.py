"""Listening: ``--bind HOST:PORT`` parsed, the socket opened, its URL.

The listening socket is made here, before hypercorn starts, so that
``--bind 127.0.0.1:0`` works and the URL printed names the real port.
"""

from __future__ import annotations

import errno
import socket
from typing import Final

from .errors import ServeError, UsageError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "listener_url",
    "open_listener",
    "parse_bind",
]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000


def parse_bind(text: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (an IPv6 host in brackets: ``[::1]:8000``).

    :raises UsageError: the text is not of that form or the port is out of
        range.
    """
    host, colon, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"{text!r}: put an IPv6 address in brackets, as [::1]:8000")
    if not colon or not host or not port_text.isdigit():
        raise UsageError(
            f"{text!r} is not of the form HOST:PORT, such as 127.0.0.1:8000"
        )
    port = int(port_text)
    if port > 65535:
        raise UsageError(f"port {port} in {text!r} is out of range (0 to 65535)")
    return host, port


def open_listener(host: str, port: int, *, backlog: int = 100) -> socket.socket:
    """Return a TCP socket listening on *host*, *port* (0 for any free port).

    :raises ServeError: the address cannot be resolved or bound.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind(address)
        listener.listen(backlog)
    except OSError as exc:
        listener.close()
        raise ServeError(
            f"cannot listen on {host}:{port}: {exc}{_advice(exc, host)}"
        ) from None
    listener.setblocking(False)
    return listener


def _advice(error: OSError, host: str) -> str:
    """What to do about *error*, from binding to *host*."""
    if error.errno == errno.EADDRINUSE:
        return (
            "; another server is listening there: stop it, or choose another "
            f"port with --bind {host}:PORT (port 0 picks a free one)"
        )
    if error.errno == errno.EACCES:
        return "; ports below 1024 need privileges: choose a port above 1023"
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"; {host} is not an address of this machine: use 127.0.0.1, or "
            "0.0.0.0 for all its addresses"
        )
    return ""


def listener_url(listener: socket.socket, *, tls: bool = False) -> str:
    """The ``http://`` (``https://`` with *tls*) URL of a listening socket,
    with its actual port."""
    host, port = listener.getsockname()[:2]
    if listener.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"
