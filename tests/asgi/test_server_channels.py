"""Channels' Worker, which subclasses asgiref's StatelessServer and awaits
handle() without arun(): a worker written the same way, and the real one
under the asgiref stand-in."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from anyio_bridge.server import StatelessServer

from .server_helpers import Receive, Send

pytestmark = pytest.mark.anyio


# Channels' Worker (channels/worker.py) subclasses asgiref's StatelessServer,
# and Channels' tests await worker.handle() directly, without arun().  Channels
# is asyncio-only (its handle() uses asyncio.ensure_future and asyncio.wait), so
# these two run on asyncio only.


class ChannelsStyleWorker(StatelessServer):
    """Channels 4.3's Worker, line for line, on anyio_bridge's StatelessServer."""

    def __init__(
        self,
        application: Callable[..., Any],
        channels: list[str],
        channel_layer: InMemoryLayer,
        max_applications: int = 1000,
    ) -> None:
        super().__init__(application, max_applications)
        self.channels = channels
        self.channel_layer = channel_layer

    async def handle(self) -> None:
        listeners = [
            asyncio.ensure_future(self.listener(channel)) for channel in self.channels
        ]
        await asyncio.wait(listeners)
        for listener in listeners:
            listener.result()

    async def listener(self, channel: str) -> None:
        while True:
            message = await self.channel_layer.receive(channel)
            if not message.get("type", None):
                raise ValueError("Worker received message with no type.")
            scope = {"type": "channel", "channel": channel}
            instance_queue = self.get_or_create_application_instance(channel, scope)
            await instance_queue.put(message)


class InMemoryLayer:
    """The two calls of a Channels channel layer that the Worker makes."""

    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.queues.setdefault(channel, asyncio.Queue()).put_nowait(message)

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self.queues.setdefault(channel, asyncio.Queue()).get()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_channels_style_worker_awaited_directly() -> None:
    got: list[int] = []
    both = asyncio.Event()

    async def consumer(scope: Any, receive: Receive, send: Send) -> None:
        assert scope == {"type": "channel", "channel": "work"}
        while True:
            message = await receive()
            got.append(message["v"])
            if len(got) == 2:
                both.set()

    layer = InMemoryLayer()
    worker = ChannelsStyleWorker(consumer, ["work"], layer)
    task = asyncio.ensure_future(worker.handle())
    await layer.send("work", {"type": "hello", "v": 1})
    await layer.send("work", {"type": "hello", "v": 2})
    await both.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert got == [1, 2]
    # One instance for the channel, which outlives handle() as in asgiref.
    assert list(worker.application_instances) == ["work"]
    future = worker.application_instances["work"]["future"]
    worker.delete_application_instance("work")
    with pytest.raises(asyncio.CancelledError):
        await future
    assert future.cancelled()


_REAL_CHANNELS_WORKER = """
import anyio_bridge.as_asgiref  # before anything imports asgiref

import asyncio

import asgiref.server
from django.conf import settings

settings.configure()

from channels.consumer import AsyncConsumer
from channels.layers import InMemoryChannelLayer
from channels.routing import ChannelNameRouter
from channels.worker import Worker

import anyio_bridge.server

assert asgiref.server.StatelessServer is anyio_bridge.server.StatelessServer


async def main():
    got = []
    both = asyncio.Event()

    class Consumer(AsyncConsumer):
        async def hello(self, message):
            got.append(message["v"])
            if len(got) == 2:
                both.set()

    layer = InMemoryChannelLayer()
    worker = Worker(ChannelNameRouter({"work": Consumer.as_asgi()}), ["work"], layer)
    task = asyncio.ensure_future(worker.handle())
    await layer.send("work", {"type": "hello", "v": 1})
    await layer.send("work", {"type": "hello", "v": 2})
    await both.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert got == [1, 2], got
    assert list(worker.application_instances) == ["work"]
    future = worker.application_instances["work"]["future"]
    worker.delete_application_instance("work")
    try:
        await future
    except asyncio.CancelledError:
        pass
    assert future.cancelled()
    print("ok")


asyncio.run(main())
"""


def test_real_channels_worker_awaited_directly_under_the_alias() -> None:
    """Channels imports asgiref itself: its Worker runs in a child process
    that installs the asgiref alias first (this one compares with asgiref)."""
    pytest.importorskip("channels")
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG")
    }
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", _REAL_CHANNELS_WORKER],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr
