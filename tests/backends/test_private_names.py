"""The private names of anyio, trio and asyncio the package relies on.

Each test names the symbol: when an upgrade moves one, the failure says which,
what it is for, and what the package does without it (the package itself
degrades instead of failing; see ``anyio_bridge/_backends/_private.py``).
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

import anyio
import anyio.to_thread
import pytest
import trio

from anyio_bridge import _backends
from anyio_bridge._backends import _private, _trio
from anyio_bridge._backends._base import Backend

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", _private.NAMES, ids=lambda name: name.symbol)
def test_the_private_name_is_where_the_package_looks(
    name: _private.PrivateName,
) -> None:
    if name.symbol == "asyncio.coroutines:_is_coroutine" and sys.version_info >= (
        3,
        12,
    ):
        pytest.skip("only used before Python 3.12")
    if name.symbol == "anyio:CancelScope._parent_scope":
        found = _parent_of_a_nested_asyncio_scope()
    else:
        found = _private._lookup(name.symbol)
    assert found is not None, (
        f"{name.symbol} has moved or gone. anyio-bridge uses it for "
        f"{name.purpose}; without it {name.without}. Update "
        "anyio_bridge/_backends/_private.py."
    )


def _parent_of_a_nested_asyncio_scope() -> object:
    """An instance attribute: found on a real nested scope, or None."""
    found: list[object] = []

    async def main() -> None:
        with anyio.CancelScope() as outer, anyio.CancelScope() as inner:
            parent = _private.cancel_scope_parent(inner)
            found.append(parent if parent is outer else None)

    anyio.run(main, backend="asyncio")
    return found[0]


def test_anyio_worker_threads_keep_their_state_where_the_package_looks() -> None:
    fields = ("current_token", "current_cancel_scope")
    seen: dict[str, bool] = {}

    def in_worker() -> None:
        state = _private.anyio_thread_state()
        for field in fields:
            seen[field] = hasattr(state, field)

    async def main() -> None:
        await anyio.to_thread.run_sync(in_worker)

    anyio.run(main)
    missing = [field for field in fields if not seen[field]]
    assert not missing, (
        f"anyio._core._eventloop.threadlocals no longer has {missing} in worker "
        "threads: update anyio_bridge/_backends/__init__.py (ThreadClaim)"
    )


def test_trio_worker_threads_keep_their_state_where_the_package_looks() -> None:
    fields = ("token", "abandon_on_cancel", "cancel_register", "task_register")
    seen: dict[str, bool] = {}

    def in_worker() -> None:
        state = _private.trio_thread_state()
        for field in fields:
            seen[field] = hasattr(state, field)

    async def main() -> None:
        await trio.to_thread.run_sync(in_worker)

    trio.run(main)
    missing = [field for field in fields if not seen[field]]
    assert not missing, (
        f"trio._threads.PARENT_TASK_DATA no longer has {missing} in worker "
        "threads: update anyio_bridge/_backends/_trio.py (enter_worker)"
    )


# -- what the package does when a name has moved ---------------------------------


def test_a_moved_name_is_none() -> None:
    assert _private._lookup("anyio_bridge_no_such_module:name") is None
    assert _private._lookup("anyio:no_such_name.attribute") is None


def test_without_trio_loaded_there_is_no_trio_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "trio")
    assert _private.trio_thread_state() is None


async def test_without_anyio_task_states_threads_get_no_cancel_scope(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(_private._cache, "anyio._backends._asyncio:_task_states", None)
    assert _private.asyncio_task_cancel_scope()() is None


async def test_the_running_asyncio_loop_without_the_fast_function(
    anyio_backend: str,
) -> None:
    import asyncio

    expected = asyncio.get_running_loop() if anyio_backend == "asyncio" else None
    assert _private._running_loop_by_exception() is expected


def test_trio_cancelled_without_its_private_constructor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Cancelled(BaseException):
        def __init__(self) -> None:  # pragma: no cover - must not be called
            raise TypeError("no public constructor")

    monkeypatch.setitem(sys.modules, "trio", types.SimpleNamespace(Cancelled=Cancelled))
    assert isinstance(_private.new_trio_cancelled(), Cancelled)


def test_asyncio_running_loop_falls_back_when_the_fast_function_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    monkeypatch.delattr(asyncio, "_get_running_loop")
    assert _private.asyncio_running_loop() is _private._running_loop_by_exception


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_claims_work_without_anyio_or_trio_thread_state(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bridge threads are then no anyio/trio worker threads, but calls work."""
    monkeypatch.setattr(_backends, "_ANYIO_STATE", None)
    monkeypatch.setattr(_private, "trio_thread_state", lambda: None)
    monkeypatch.setattr(_trio.BACKEND, "_data", None)  # looked up once, then kept
    results: list[Any] = []

    async def main() -> None:
        loop = _backends.current_loop()
        claim = _backends.ThreadClaim(loop, None)

        def in_thread() -> None:
            saved = claim.enter()
            results.append(_backends.foreign_worker_loop())
            _backends.ThreadClaim.leave(saved)
            _backends.forget_thread_claims()

        thread = threading.Thread(target=in_thread)
        thread.start()
        await anyio.to_thread.run_sync(thread.join)

    anyio.run(main, backend=backend)
    assert results == [None]


def test_the_backends_implement_the_interface() -> None:
    backends: tuple[Backend, ...] = _backends._BACKENDS
    assert [backend.name for backend in backends] == ["asyncio", "trio"]
    assert isinstance(_trio.BACKEND, _trio.TrioBackend)
