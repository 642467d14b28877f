"""Django on anyio-bridge: the async ORM, transactions, the test client, and
requests served by Django's WSGI handler (through WsgiToAsgi) and ASGI handler.

Django imports ``asgiref.sync`` and ``asgiref.local``; with the alias those are
anyio-bridge's, so the async ORM runs from trio programs as well as asyncio.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import httpx
import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connections, transaction
from django.test import AsyncClient, Client

from anyio_bridge.testing import http_request
from anyio_bridge.wsgi import WsgiToAsgi

from .djangoapp import trace
from .djangoapp.models import Note
from .support import Barrier

pytestmark = pytest.mark.anyio


def texts() -> list[str]:
    return list(Note.objects.order_by("text").values_list("text", flat=True))


def current_connection() -> tuple[int, Any]:
    """The calling thread and its connection object."""
    return threading.get_ident(), connections["default"]


def assert_one_thread(record: trace.Trace) -> int:
    """Every sync part of the request ran, all on one thread: return it."""
    threads = record.threads()
    assert None not in threads, record
    assert len(threads) == 1, record
    (ident,) = threads
    assert ident is not None
    return ident


def assert_one_open_connection(record: trace.Trace) -> Any:
    """The view's sync parts used one connection, open in each of them:
    return it."""
    assert record.open_in_view, record
    assert all(record.open_in_view), record
    wrappers = {id(wrapper): wrapper for wrapper in record.connections}
    assert len(wrappers) == 1, record
    return record.connections[0]


# -- the async ORM -------------------------------------------------------------


async def test_async_orm_create_get_count_iterate_update_delete() -> None:
    await Note.objects.acreate(text="b")
    first = await Note.objects.acreate(text="a")
    assert await Note.objects.acount() == 2
    fetched = await Note.objects.aget(text="a")
    assert fetched.pk == first.pk
    assert [note.text async for note in Note.objects.order_by("text")] == ["a", "b"]
    assert await Note.objects.filter(text="b").aupdate(text="c") == 1
    assert await Note.objects.filter(text="c").aexists()
    await fetched.adelete()
    assert [note.text async for note in Note.objects.all()] == ["c"]
    with pytest.raises(Note.DoesNotExist):
        await Note.objects.aget(text="a")


@transaction.atomic
def create_both(first: str, second: str, *, fail: bool) -> bool:
    Note.objects.create(text=first)
    Note.objects.create(text=second)
    in_block = connections["default"].in_atomic_block
    if fail:
        raise ValueError("roll back")
    return in_block


async def test_atomic_function_through_sync_to_async() -> None:
    assert await sync_to_async(create_both)("a", "b", fail=False)
    with pytest.raises(ValueError, match="roll back"):
        await sync_to_async(create_both)("c", "d", fail=True)
    assert await sync_to_async(texts)() == ["a", "b"]
    assert [note.text async for note in Note.objects.order_by("text")] == ["a", "b"]


async def test_orm_calls_of_a_task_share_its_thread_and_connection() -> None:
    # Thread-sensitive calls (the ORM's and the program's own) run on one
    # thread, hence use one connection, which stays usable across calls.
    thread, wrapper = await sync_to_async(current_connection)()
    await Note.objects.acreate(text="a")
    assert wrapper.connection is not None  # opened on that thread by acreate
    assert await sync_to_async(current_connection)() == (thread, wrapper)
    assert await Note.objects.acount() == 1


async def test_connection_objects_are_per_thread_sensitive_context() -> None:
    # Two request-like contexts at once: each has its own thread and its own
    # connection, opened by the ORM there and closed as Django does it at the
    # end of a request.
    seen: dict[str, tuple[int, Any, bool]] = {}
    both_in = Barrier(2)

    async def request(name: str) -> None:
        async with ThreadSensitiveContext():
            await Note.objects.acreate(text=name)
            ident, wrapper = await sync_to_async(current_connection)()
            await both_in.wait()
            assert await sync_to_async(current_connection)() == (ident, wrapper)
            seen[name] = (ident, wrapper, wrapper.connection is not None)
            await sync_to_async(close_old_connections)()
            assert wrapper.connection is None

    outside = await sync_to_async(current_connection)()
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(request, "a")
        task_group.start_soon(request, "b")
    (thread_a, wrapper_a, open_a), (thread_b, wrapper_b, open_b) = (
        seen["a"],
        seen["b"],
    )
    assert open_a
    assert open_b
    assert len({thread_a, thread_b, outside[0]}) == 3
    assert len({id(wrapper_a), id(wrapper_b), id(outside[1])}) == 3
    assert await sync_to_async(texts)() == ["a", "b"]


# -- Django's test client --------------------------------------------------------


def test_test_client_sync_and_async_views() -> None:
    # From plain sync code: the async view runs on an event loop thread, its
    # sync_to_async calls come back to this thread, which waits for it.
    client = Client()
    response = client.get("/sync/", {"rid": "s"})
    assert (response.status_code, response.json()) == (200, {"notes": 1})
    response = client.get("/async/", {"rid": "a"})
    assert (response.status_code, response.json()) == (
        200,
        {"notes": 1, "library": "asyncio"},
    )
    for rid in ("s", "a"):
        assert assert_one_thread(trace.TRACES[rid]) == threading.get_ident()
        assert_one_open_connection(trace.TRACES[rid])
    assert texts() == ["a", "s"]


async def test_test_client_from_async_code(anyio_backend: str) -> None:
    # The sync client in a thread-sensitive call: the async view runs in the
    # task awaiting that call, on this test's own loop (trio or asyncio).
    client = Client()
    response = await sync_to_async(client.get)("/async/", {"rid": "a"})
    assert response.json() == {"notes": 1, "library": anyio_backend}
    response = await sync_to_async(client.get)("/sync/", {"rid": "s"})
    assert response.json() == {"notes": 1}
    shared, _ = await sync_to_async(current_connection)()
    for rid in ("a", "s"):
        assert assert_one_thread(trace.TRACES[rid]) == shared
        assert_one_open_connection(trace.TRACES[rid])


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_test_client() -> None:
    # asyncio only: AsyncClient sends request_started with Signal.asend(),
    # which runs receivers with asyncio.gather().
    client = AsyncClient()
    response = await client.get("/async/", {"rid": "a"})
    assert response.json() == {"notes": 1, "library": "asyncio"}
    response = await client.get("/sync/", {"rid": "s"})
    assert response.json() == {"notes": 1}
    for rid in ("a", "s"):
        assert_one_open_connection(trace.TRACES[rid])
    assert await sync_to_async(texts)() == ["a", "s"]


# -- served: the WSGI handler through WsgiToAsgi, the ASGI handler ----------------


async def serve_two_async_requests(app: Any, prefix: str) -> None:
    """Two concurrent requests to the async view, both inside it at once."""
    trace.GATES["pair"] = Barrier(2)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:

        async def get(rid: str) -> None:
            response = await client.get("/async/", params={"rid": rid, "gate": "pair"})
            assert response.status_code == 200
            assert response.json()["notes"] == 1

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(get, f"{prefix}-1")
            task_group.start_soon(get, f"{prefix}-2")


def assert_request_contexts(*rids: str) -> None:
    """Each request ran its sync parts on a thread of its own, with a
    connection of its own, closed by Django when the request finished."""
    threads = set()
    wrappers = set()
    for rid in rids:
        record = trace.TRACES[rid]
        threads.add(assert_one_thread(record))
        wrapper = assert_one_open_connection(record)
        wrappers.add(id(wrapper))
        assert record.closed_at_finish is True, record
        assert wrapper.connection is None
    assert len(threads) == len(rids)
    assert len(wrappers) == len(rids)


async def test_wsgi_handler_through_wsgi_to_asgi(anyio_backend: str) -> None:
    app = WsgiToAsgi(get_wsgi_application())
    response = await http_request(app, "GET", "/sync/?rid=s")
    assert (response.status, json.loads(response.body)) == (200, {"notes": 1})
    response = await http_request(app, "GET", "/async/?rid=a")
    assert response.header("content-type") == "application/json"
    # The async view ran on the server's loop, its sync parts on the
    # request's worker thread.
    assert (response.status, json.loads(response.body)) == (
        200,
        {"notes": 1, "library": anyio_backend},
    )
    for rid in ("s", "a"):
        record = trace.TRACES[rid]
        assert_one_thread(record)
        assert_one_open_connection(record)
        assert record.closed_at_finish is True, record

    await serve_two_async_requests(app, "w")
    assert_request_contexts("w-1", "w-2")
    assert await sync_to_async(texts)() == ["a", "s", "w-1", "w-2"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asgi_handler_runs_each_request_in_its_own_thread_context() -> None:
    # asyncio only: Django's ASGIHandler starts the view in a task of its own
    # with asyncio.create_task() and waits with asyncio.wait().
    shared, _ = await sync_to_async(current_connection)()
    app = get_asgi_application()
    response = await http_request(app, "GET", "/sync/?rid=s")
    assert (response.status, json.loads(response.body)) == (200, {"notes": 1})
    assert_request_contexts("s")
    await serve_two_async_requests(app, "a")
    # One ThreadSensitiveContext per request: the middleware, the
    # request_started receiver, Django's own sync_to_async of the ORM and the
    # view's own sync_to_async calls, and request_finished, on one thread per
    # request, not the process-wide one.
    assert_request_contexts("a-1", "a-2")
    assert shared not in {
        assert_one_thread(trace.TRACES[rid]) for rid in ("s", "a-1", "a-2")
    }
    assert await sync_to_async(texts)() == ["a-1", "a-2", "s"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asgi_handler_template_response_middleware() -> None:
    # asyncio only, as above. In async mode Django wraps a sync middleware's
    # process_template_response() in sync_to_async and names the middleware
    # from the wrapper's __self__.
    app = get_asgi_application()
    response = await http_request(app, "GET", "/template/?rid=t")
    assert (response.status, response.body) == (200, b"note t")
    assert response.header("x-template-middleware") == "TemplateResponseMiddleware"
    assert_request_contexts("t")
