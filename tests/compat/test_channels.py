"""Channels on anyio-bridge: consumers driven by Channels' own
``WebsocketCommunicator``, and ``database_sync_to_async``.

Channels' consumers are asyncio-only by nature: ``AsyncConsumer.__call__``
waits for messages with ``asyncio.ensure_future()`` and ``asyncio.wait()``
(``channels.utils.await_many_dispatch``), so the consumer tests run on asyncio
only.  What Channels builds on asgiref alone runs on both backends: its
``WebsocketCommunicator`` (a subclass of ``asgiref.testing``'s communicator)
driving a plain ASGI application, and ``database_sync_to_async`` (a
``SyncToAsync`` subclass that overrides ``thread_handler`` to close old
database connections around each call).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import anyio
import channels.db
import pytest
from asgiref.sync import sync_to_async
from channels.db import aclose_old_connections, database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.db import connections

from .djangoapp.models import Note

pytestmark = pytest.mark.anyio

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])

Events = list[tuple[Any, ...]]


# -- database_sync_to_async ----------------------------------------------------------


async def test_database_sync_to_async_closes_old_connections_around_each_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int]] = []

    def spy() -> None:
        calls.append(("close_old_connections", threading.get_ident()))

    monkeypatch.setattr(channels.db, "close_old_connections", spy)

    @database_sync_to_async
    def create(text: str) -> str:
        calls.append(("create", threading.get_ident()))
        if not text:
            raise ValueError("no text")
        return Note.objects.create(text=text).text

    assert await create("a") == "a"
    with pytest.raises(ValueError, match="no text"):
        await create("")
    assert [name for name, _ in calls] == [
        "close_old_connections",
        "create",
        "close_old_connections",
    ] * 2
    # All on the thread-sensitive thread: the one the function ran on.
    assert len({ident for _, ident in calls}) == 1
    assert await Note.objects.acount() == 1


async def test_database_sync_to_async_closes_the_connection_after_the_call() -> None:
    @database_sync_to_async
    def create(text: str) -> Any:
        Note.objects.create(text=text)
        return connections["default"]

    @sync_to_async
    def create_plain(text: str) -> Any:
        Note.objects.create(text=text)
        return connections["default"]

    # CONN_MAX_AGE = 0: close_old_connections() closes a connection at once.
    wrapper = await create("a")
    assert wrapper.connection is None
    # A plain sync_to_async call, on the same thread, leaves it open...
    assert await create_plain("b") is wrapper
    assert wrapper.connection is not None
    # ...until the next close, here Channels' async helper.
    await aclose_old_connections()
    assert wrapper.connection is None
    assert await Note.objects.acount() == 2


async def test_database_sync_to_async_on_a_method() -> None:
    class Store:
        @database_sync_to_async
        def add(self, text: str) -> int:
            Note.objects.create(text=text)
            return Note.objects.count()

    store = Store()
    assert await store.add("a") == 1
    assert await store.add("b") == 2


# -- WebsocketCommunicator with a plain ASGI application -------------------------


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """A websocket echo written on anyio, that never answers "quiet"."""
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": scope["subprotocols"][0]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await anyio.sleep(0)
        if message.get("text") != "quiet":
            await send({"type": "websocket.send", "text": message.get("text")})


async def test_websocket_communicator_drives_a_plain_application() -> None:
    async with WebsocketCommunicator(
        echo_app, "/echo/?x=1", subprotocols=["v1"]
    ) as communicator:
        assert await communicator.connect() == (True, "v1")
        assert communicator.scope["query_string"] == b"x=1"
        await communicator.send_to(text_data="hello")
        assert await communicator.receive_from() == "hello"
        await communicator.send_json_to({"n": 1})
        assert await communicator.receive_json_from() == {"n": 1}
        await communicator.send_to(text_data="quiet")
        assert await communicator.receive_nothing()
        await communicator.disconnect()
        assert communicator.future.done()
        assert not communicator.future.cancelled()


async def test_websocket_communicator_timeout_then_disconnect_plain_app() -> None:
    # asgiref's communicator cancels the application when receive_output()
    # times out; the next call raises the application's cancellation, an
    # asyncio.CancelledError (on trio too: code written for asgiref catches
    # that), so Channels' disconnect() (send_input, then wait) raises it.
    async with WebsocketCommunicator(
        echo_app, "/echo/", subprotocols=["v1"]
    ) as communicator:
        assert await communicator.connect() == (True, "v1")
        await communicator.send_to(text_data="quiet")
        with pytest.raises(TimeoutError):
            await communicator.receive_output(timeout=0.05)
        assert communicator.future.cancelled()
        with pytest.raises(asyncio.CancelledError):
            await communicator.disconnect()


# -- consumers (asyncio only) ------------------------------------------------------


class NoteConsumer(WebsocketConsumer):
    """A sync consumer: its handlers run in database_sync_to_async."""

    def __init__(self, events: Events, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events = events

    def connect(self) -> None:
        self.events.append(("connect", threading.get_ident()))
        self.accept()

    def receive(self, text_data: str | None = None, bytes_data: Any = None) -> None:
        self.events.append(("receive", threading.get_ident()))
        if text_data == "quiet":
            return
        Note.objects.create(text=text_data)
        self.send(text_data=json.dumps({"notes": Note.objects.count()}))

    def disconnect(self, code: int) -> None:
        self.events.append(("disconnect", threading.get_ident(), code))


class AsyncNoteConsumer(AsyncWebsocketConsumer):
    def __init__(self, events: Events, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events = events

    async def connect(self) -> None:
        self.events.append(("connect",))
        await self.accept(self.scope["subprotocols"][0])

    async def receive(
        self, text_data: str | None = None, bytes_data: Any = None
    ) -> None:
        self.events.append(("receive",))
        if text_data == "quiet":
            return
        assert text_data is not None
        notes = await self.create(text_data)
        await self.send(text_data=json.dumps({"notes": notes}))

    @database_sync_to_async
    def create(self, text: str) -> int:
        Note.objects.create(text=text)
        return Note.objects.count()

    async def disconnect(self, code: int) -> None:
        self.events.append(("disconnect", code))


@asyncio_only
async def test_sync_websocket_consumer() -> None:
    events: Events = []
    communicator = WebsocketCommunicator(NoteConsumer.as_asgi(events=events), "/n/")
    assert await communicator.connect() == (True, None)
    await communicator.send_to(text_data="a")
    assert await communicator.receive_json_from() == {"notes": 1}
    await communicator.send_to(text_data="b")
    assert await communicator.receive_json_from() == {"notes": 2}
    await communicator.disconnect(code=4000)
    assert [event[0] for event in events] == [
        "connect",
        "receive",
        "receive",
        "disconnect",
    ]
    assert events[-1][2] == 4000
    # Every handler ran thread-sensitively: on one thread.
    assert len({event[1] for event in events}) == 1
    assert await Note.objects.acount() == 2


@asyncio_only
async def test_async_websocket_consumer() -> None:
    events: Events = []
    communicator = WebsocketCommunicator(
        AsyncNoteConsumer.as_asgi(events=events), "/n/", subprotocols=["notes"]
    )
    assert await communicator.connect() == (True, "notes")
    await communicator.send_to(text_data="a")
    assert await communicator.receive_json_from() == {"notes": 1}
    await communicator.send_to(text_data="quiet")
    assert await communicator.receive_nothing()
    await communicator.disconnect()
    assert events == [("connect",), ("receive",), ("receive",), ("disconnect", 1000)]


@asyncio_only
@pytest.mark.parametrize("consumer", [NoteConsumer, AsyncNoteConsumer])
async def test_consumer_timeout_then_disconnect(consumer: Any) -> None:
    # As with asgiref: receive_output() timing out cancels the consumer, and
    # disconnect() then raises its CancelledError; the consumer's own
    # disconnect() handler never runs.
    events: Events = []
    communicator = WebsocketCommunicator(
        consumer.as_asgi(events=events), "/n/", subprotocols=["notes"]
    )
    assert (await communicator.connect())[0]
    with pytest.raises(TimeoutError):
        await communicator.receive_output(timeout=0.05)
    assert communicator.future.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await communicator.disconnect()
    assert [event[0] for event in events] == ["connect"]
