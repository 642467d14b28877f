"""The process-wide state and the abandoned-calls registry
(anyio_bridge._bridge.state), on private instances: shutting down or resetting
after a fork cannot be done to the shared ones in a test run."""

from __future__ import annotations

import threading

import pytest

from anyio_bridge._bridge import state


class Recorder:
    def __init__(self) -> None:
        self.ran = threading.Event()

    def run(self) -> None:
        self.ran.set()


def test_process_state_shutdown_and_fork_reset() -> None:
    process = state._Process()
    sync_thread = process.shared_sync_thread()
    loop = process.loop_thread("asyncio")
    assert process.shared_sync_thread() is sync_thread
    assert process.loop_thread("asyncio") is loop
    process.shutdown()
    assert not sync_thread.thread.is_alive()
    assert not loop.thread.is_alive()
    process.after_fork_in_child()
    process.shutdown()  # nothing to stop


class FakeAbandonedCall:
    def __init__(self, loop: object) -> None:
        self.loop = loop

    def describe(self) -> str:
        return "a call left running"


def test_waiting_for_abandoned_calls_can_time_out() -> None:
    registry = state._Abandoned()
    loop, other_loop = object(), object()
    registry.add(FakeAbandonedCall(loop))
    assert registry.wait(other_loop, timeout=0)
    assert not registry.wait(loop, timeout=0)
    assert len(registry.running(loop)) == 1
    assert registry.running(other_loop) == []


def test_shutdown_reports_calls_left_running_and_does_not_wait_for_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    process = state._Process()
    thread = process.shared_sync_thread()
    release = threading.Event()
    call = FakeAbandonedCall(object())
    thread.submit(Recorder())  # runs at once
    thread.submit(type("Stuck", (), {"run": lambda _: release.wait(10)})())
    state.abandoned.add(call)
    try:
        process.shutdown()
        # Not joined: the thread is still busy with the stuck call.
        assert thread.thread.is_alive()
    finally:
        state.abandoned.discard(call)
        release.set()
        thread.thread.join(10)
    assert [r.getMessage() for r in caplog.records] == [
        "a call left running is still running at interpreter exit: its caller "
        "was cancelled and did not wait for it; it is stopped with the process."
    ]
