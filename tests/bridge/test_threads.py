"""SyncThread and LoopThread (anyio_bridge._bridge.threads), directly: their
lifecycle and settling cannot be observed through the public entry points."""

from __future__ import annotations

import threading

import pytest

from anyio_bridge._bridge import state
from anyio_bridge._bridge.threads import LoopThread, SyncThread


class Recorder:
    def __init__(self) -> None:
        self.ran = threading.Event()

    def run(self) -> None:
        self.ran.set()


def test_sync_thread_lifecycle() -> None:
    thread = SyncThread("test sync thread")
    first = Recorder()
    assert thread.submit(first)
    thread.close()
    thread.close()  # idempotent
    assert not thread.submit(Recorder())
    thread.thread.join(5)
    assert first.ran.is_set()
    assert thread.exited
    settled = threading.Event()
    thread.on_settle(settled.set)  # already exited: called at once
    assert settled.is_set()


def test_sync_thread_settles_when_it_blocks() -> None:
    thread = SyncThread("test sync thread")
    settled = threading.Event()
    thread.on_settle(settled.set)
    assert not settled.is_set()
    thread.enter_blocking()
    assert settled.is_set()
    later = threading.Event()
    thread.on_settle(later.set)  # blocked now: called at once
    assert later.is_set()
    thread.exit_blocking()
    thread.close()
    thread.thread.join(5)


def test_loop_thread_start_failure_is_raised() -> None:
    with pytest.raises(LookupError):
        LoopThread("no-such-backend", "test loop")


def test_pool_prefixes_cover_shared_threads() -> None:
    names = {
        state.process.shared_sync_thread().thread.name,
        state.process.loop_thread("asyncio").thread.name,
    }
    assert names == {"anyio_bridge thread-sensitive", "anyio_bridge asyncio loop"}
