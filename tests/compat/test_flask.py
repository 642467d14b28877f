"""Flask's async views on anyio-bridge.

Flask runs an ``async def`` view with ``asgiref.sync.async_to_sync``; with the
alias that is anyio-bridge's, so the view runs on the loop of the server that
called the WSGI application (asyncio or trio, through WsgiToAsgi), or on an
event loop thread when Flask's test client is called from plain sync code.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import flask
import httpx
import pytest
import sniffio
from asgiref.sync import sync_to_async

from anyio_bridge.wsgi import WsgiToAsgi

from .support import Barrier

pytestmark = pytest.mark.anyio


def make_app(gates: dict[str, Barrier] | None = None) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.before_request
    def remember_thread() -> None:
        flask.g.thread = threading.get_ident()

    @app.get("/sync")
    def sync_view() -> Any:
        return {"thread": threading.get_ident(), "wsgi_thread": flask.g.thread}

    @app.get("/async")
    async def async_view() -> Any:
        await anyio.sleep(0)
        gate = (gates or {}).get(flask.request.args.get("gate", ""))
        if gate is not None:
            await gate.wait()
        return {
            # Flask's request context and g travelled into the coroutine...
            "name": flask.request.args["name"],
            "wsgi_thread": flask.g.thread,
            "library": sniffio.current_async_library(),
            # ...and thread-sensitive calls go back to the thread it blocks.
            "sync_thread": await sync_to_async(threading.get_ident)(),
        }

    @app.get("/async-fail")
    async def async_fail() -> Any:
        await anyio.sleep(0)
        raise LookupError("async view failed")

    @app.errorhandler(LookupError)
    def lookup_error(error: LookupError) -> Any:
        return {"error": str(error)}, 409

    return app


def test_test_client_from_sync_code() -> None:
    client = make_app().test_client()
    response = client.get("/sync")
    assert response.json == {
        "thread": threading.get_ident(),
        "wsgi_thread": threading.get_ident(),
    }
    response = client.get("/async?name=ann")
    assert response.json == {
        "name": "ann",
        "wsgi_thread": threading.get_ident(),
        "library": "asyncio",  # async_to_sync's loop thread, by default
        "sync_thread": threading.get_ident(),
    }
    response = client.get("/async-fail")
    assert (response.status_code, response.json) == (
        409,
        {"error": "async view failed"},
    )


async def test_test_client_from_async_code(anyio_backend: str) -> None:
    # In a thread-sensitive call, async_to_sync runs the view in the task
    # that awaits the call: on this test's loop.
    client = make_app().test_client()
    response = await sync_to_async(client.get)("/async?name=bob")
    assert response.json is not None
    assert response.json["library"] == anyio_backend
    assert response.json["sync_thread"] == response.json["wsgi_thread"]
    response = await sync_to_async(client.get)("/async-fail")
    assert response.status_code == 409


async def test_async_views_through_wsgi_to_asgi(anyio_backend: str) -> None:
    gates = {"pair": Barrier(2)}
    app = WsgiToAsgi(make_app(gates))
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://testserver"
    ) as client:
        response = await client.get("/sync")
        assert response.json()["thread"] == response.json()["wsgi_thread"]
        assert response.json()["thread"] != threading.get_ident()
        assert (await client.get("/async-fail")).status_code == 409

        async def get(name: str) -> None:
            response = await client.get("/async", params={"name": name, "gate": "pair"})
            assert response.status_code == 200
            results[name] = response.json()

        # Two requests inside their async views at once: the views run
        # concurrently on the server's loop, each blocking only its own
        # worker thread.
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(get, "ann")
            task_group.start_soon(get, "bob")

    assert results["ann"]["name"] == "ann"
    assert results["bob"]["name"] == "bob"
    for result in results.values():
        assert result["library"] == anyio_backend == sniffio.current_async_library()
        assert result["sync_thread"] == result["wsgi_thread"]
    assert results["ann"]["wsgi_thread"] != results["bob"]["wsgi_thread"]
