"""AsgiToWsgi's options: defaults, and validation when the adapter is made."""

from __future__ import annotations

import importlib.util
import math
import threading
from typing import Any

import pytest

from anyio_bridge.wsgi import AsgiToWsgi

from .driver import BACKENDS, Receive, Scope, Send, make_environ, request, serve, text

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await text(send, b"ok")


def test_defaults(backend: str) -> None:
    adapter = AsgiToWsgi(app, backend=backend)
    settings = adapter.settings
    assert adapter.app is app
    assert settings.backend == backend
    assert settings.backend_options is None
    assert settings.lifespan == "auto"
    assert settings.lifespan_timeout == 60.0
    assert settings.response_timeout is None
    assert settings.disconnect_grace == 1.0
    assert settings.chunk_size == 64 * 1024
    assert settings.send_buffer_size == 256 * 1024
    assert repr(adapter) == f"<AsgiToWsgi {app!r} backend={backend!r}>"
    adapter.close()  # never used: nothing to shut down


def test_values_are_kept(backend: str) -> None:
    options = {"debug": False} if backend == "asyncio" else {"instruments": ()}
    adapter = AsgiToWsgi(
        app,
        backend=backend,
        backend_options=options,
        lifespan="off",
        lifespan_timeout=5,
        response_timeout=math.inf,
        disconnect_grace=0,
        chunk_size=1,
        send_buffer_size=1,
    )
    settings = adapter.settings
    assert settings.backend_options == options
    assert settings.backend_options is not options  # a copy
    assert settings.lifespan == "off"
    assert settings.lifespan_timeout == 5.0
    assert isinstance(settings.lifespan_timeout, float)
    assert settings.response_timeout == math.inf
    assert settings.disconnect_grace == 0.0
    assert (settings.chunk_size, settings.send_buffer_size) == (1, 1)
    adapter.close()


def test_empty_backend_options_are_none(backend: str) -> None:
    adapter = AsgiToWsgi(app, backend=backend, backend_options={})
    assert adapter.settings.backend_options is None
    adapter.close()


def test_tiny_sizes_work(backend: str) -> None:
    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        data = b""
        while True:
            message = await receive()
            data += message["body"]
            if not message["more_body"]:
                break
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        for byte in data:
            await send(
                {"type": "http.response.body", "body": bytes([byte]), "more_body": True}
            )
        await send({"type": "http.response.body"})

    environ = make_environ("POST", body=b"tiny steps")
    with serve(echo, backend=backend, chunk_size=1, send_buffer_size=1) as adapter:
        assert request(adapter, environ).body == b"tiny steps"


BAD: list[Any] = [
    pytest.param(
        {"backend": "uvloop"},
        ValueError,
        "backend must be 'asyncio' or 'trio', not 'uvloop'",
        id="backend",
    ),
    pytest.param(
        {"backend_options": [("debug", True)]},
        TypeError,
        "backend_options must be a mapping or None",
        id="options",
    ),
    pytest.param(
        {"lifespan": "yes"},
        ValueError,
        "lifespan must be 'auto', 'on' or 'off', not 'yes'",
        id="lifespan",
    ),
    pytest.param(
        {"lifespan": True}, ValueError, "lifespan must be", id="lifespan-bool"
    ),
    pytest.param(
        {"lifespan_timeout": "5"},
        TypeError,
        "lifespan_timeout must be a number of seconds, not '5'",
        id="lt-str",
    ),
    pytest.param(
        {"lifespan_timeout": True},
        TypeError,
        "lifespan_timeout must be a number",
        id="lt-bool",
    ),
    pytest.param(
        {"lifespan_timeout": -1},
        ValueError,
        "lifespan_timeout must not be negative, got -1",
        id="lt-neg",
    ),
    pytest.param(
        {"lifespan_timeout": math.nan},
        ValueError,
        "lifespan_timeout must not be negative, got nan",
        id="lt-nan",
    ),
    pytest.param(
        {"response_timeout": "1"},
        TypeError,
        "response_timeout must be a number",
        id="rt-str",
    ),
    pytest.param(
        {"response_timeout": -0.5},
        ValueError,
        "response_timeout must not be negative",
        id="rt-neg",
    ),
    pytest.param(
        {"disconnect_grace": None},
        TypeError,
        "disconnect_grace must be a number of seconds, not None",
        id="dg-none",
    ),
    pytest.param(
        {"disconnect_grace": -1.0},
        ValueError,
        "disconnect_grace must not be negative",
        id="dg-neg",
    ),
    pytest.param(
        {"chunk_size": 0}, ValueError, "chunk_size must be at least 1, got 0", id="cs-0"
    ),
    pytest.param(
        {"chunk_size": 1.5},
        TypeError,
        "chunk_size must be an int, not 1.5",
        id="cs-float",
    ),
    pytest.param(
        {"chunk_size": True}, TypeError, "chunk_size must be an int", id="cs-bool"
    ),
    pytest.param(
        {"send_buffer_size": -5},
        ValueError,
        "send_buffer_size must be at least 1, got -5",
        id="sb-neg",
    ),
    pytest.param(
        {"send_buffer_size": "big"},
        TypeError,
        "send_buffer_size must be an int, not 'big'",
        id="sb-str",
    ),
]


@pytest.mark.parametrize(("options", "error", "match"), BAD)
def test_invalid_options(
    backend: str, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    options.setdefault("backend", backend)
    threads = threading.active_count()
    with pytest.raises(error) as info:
        AsgiToWsgi(app, **options)
    assert str(info.value).startswith(match)
    assert threading.active_count() == threads  # checked before any loop


@pytest.mark.parametrize("not_an_app", [None, "app", 5])
def test_app_must_be_callable(backend: str, not_an_app: Any) -> None:
    with pytest.raises(TypeError, match="app must be an ASGI application, not "):
        AsgiToWsgi(not_an_app, backend=backend)


def test_trio_backend_without_trio(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec

    def no_trio(name: str, package: str | None = None) -> Any:
        return None if name == "trio" else find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", no_trio)
    if backend == "trio":
        with pytest.raises(ValueError, match=r"pip install 'anyio-bridge\[trio\]'"):
            AsgiToWsgi(app, backend=backend)
    else:  # asyncio does not need trio
        AsgiToWsgi(app, backend=backend).close()
