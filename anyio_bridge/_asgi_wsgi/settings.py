"""The options of one :class:`~anyio_bridge.wsgi.AsgiToWsgi`, checked once.

Everything is validated when the adapter is made, so a typo fails at import
time with a message naming the option, not on the first request.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping
from typing import Any, Final, Literal

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_SEND_BUFFER", "Settings"]

LifespanMode = Literal["auto", "on", "off"]

#: Bytes read from ``wsgi.input`` per ``http.request`` message.
DEFAULT_CHUNK_SIZE: Final = 64 * 1024
#: Response bytes the application may send ahead of the WSGI server.
DEFAULT_SEND_BUFFER: Final = 256 * 1024
_BACKENDS: Final = ("asyncio", "trio")
_LIFESPAN: Final = ("auto", "on", "off")


def _timeout(name: str, value: object, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return float(value)


def _size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value!r}")
    return value


class Settings:
    """The checked options; see :class:`~anyio_bridge.wsgi.AsgiToWsgi`."""

    __slots__ = (
        "backend",
        "backend_options",
        "chunk_size",
        "disconnect_grace",
        "lifespan",
        "lifespan_timeout",
        "response_timeout",
        "send_buffer_size",
    )

    def __init__(
        self,
        *,
        backend: str,
        backend_options: Mapping[str, Any] | None,
        lifespan: str,
        lifespan_timeout: float | None,
        response_timeout: float | None,
        disconnect_grace: float,
        chunk_size: int,
        send_buffer_size: int,
    ) -> None:
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be 'asyncio' or 'trio', not {backend!r}")
        if backend == "trio" and importlib.util.find_spec("trio") is None:
            raise ValueError(
                "backend='trio' needs trio: pip install 'anyio-bridge[trio]'"
            )
        if backend_options is not None and not isinstance(backend_options, Mapping):
            raise TypeError(
                f"backend_options must be a mapping or None, not {backend_options!r}"
            )
        if lifespan not in _LIFESPAN:
            raise ValueError(
                f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}"
            )
        self.backend = backend
        self.backend_options = dict(backend_options) if backend_options else None
        self.lifespan: LifespanMode = lifespan  # type: ignore[assignment]
        self.lifespan_timeout = _timeout("lifespan_timeout", lifespan_timeout)
        self.response_timeout = _timeout("response_timeout", response_timeout)
        grace = _timeout("disconnect_grace", disconnect_grace, allow_none=False)
        assert grace is not None
        self.disconnect_grace = grace
        self.chunk_size = _size("chunk_size", chunk_size)
        self.send_buffer_size = _size("send_buffer_size", send_buffer_size)
