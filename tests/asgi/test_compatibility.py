"""Tests for anyio_bridge.compatibility."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import pytest

from anyio_bridge.compatibility import (
    double_to_single_callable,
    guarantee_single_callable,
    is_double_callable,
)
from anyio_bridge.sync import iscoroutinefunction, markcoroutinefunction
from anyio_bridge.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    LifespanScope,
    Scope,
)

SCOPE: LifespanScope = {
    "type": "lifespan",
    "asgi": {"version": "2.0", "spec_version": "2.0"},
}


# --------------------------------------------------------------------------
# Sample applications
# --------------------------------------------------------------------------


class DoubleApp:
    """ASGI 2 class: records its scope and answers lifespan.startup."""

    instances: ClassVar[list[DoubleApp]] = []

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        DoubleApp.instances.append(self)

    async def __call__(
        self, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        event = await receive()
        assert event["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})


class SyncCallInstance:
    """Instance whose synchronous __call__ returns the ASGI 2 inner callable."""

    def __call__(
        self, scope: Scope
    ) -> Callable[[ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]:
        return DoubleApp(scope)


async def single_function(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})


def double_function(
    scope: Scope,
) -> Callable[[ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]:
    async def inner(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": scope["type"]})

    return inner


class SingleMethods:
    async def app(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        await single_function(scope, receive, send)


def sync_returning_coroutine(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> Awaitable[None]:
    return single_function(scope, receive, send)


def marked_sync_function(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> Awaitable[None]:
    return single_function(scope, receive, send)


async def _partial_target(
    marker: str, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    await single_function(scope, receive, send)


class HintedSingleClass(DoubleApp):
    """A class would normally count as double-callable; the hint overrides it."""

    _asgi_single_callable = True


async def hinted_double_coroutine(
    scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    raise AssertionError("never called")


hinted_double_coroutine._asgi_double_callable = True  # type: ignore[attr-defined]


class FalsyHints(DoubleApp):
    """Hints that are present but false are ignored."""

    _asgi_single_callable = False
    _asgi_double_callable = 0


class AsyncCallInstance:
    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        await single_function(scope, receive, send)


DOUBLE: dict[str, Any] = {
    "class": DoubleApp,
    "class-with-async-call": AsyncCallInstance,
    "instance-with-sync-call": SyncCallInstance(),
    "function": double_function,
    "sync-returning-coroutine": sync_returning_coroutine,
    "hint-on-coroutine-function": hinted_double_coroutine,
    "falsy-hints": FalsyHints,
    "lambda": lambda scope: DoubleApp(scope),
    "not-callable": object(),
}

SINGLE: dict[str, Any] = {
    "coroutine-function": single_function,
    "instance-with-async-call": AsyncCallInstance(),
    "bound-async-method": SingleMethods().app,
    "partial": functools.partial(_partial_target, "marker"),
    "marked-sync-function": markcoroutinefunction(marked_sync_function),
    "hint-on-class": HintedSingleClass,
}


# --------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------


@pytest.mark.parametrize("application", DOUBLE.values(), ids=DOUBLE.keys())
def test_detects_double_callable(application: Any) -> None:
    assert is_double_callable(application) is True


@pytest.mark.parametrize("application", SINGLE.values(), ids=SINGLE.keys())
def test_detects_single_callable(application: Any) -> None:
    assert is_double_callable(application) is False


def test_hint_on_instance_wins_over_async_call() -> None:
    instance = AsyncCallInstance()
    instance._asgi_double_callable = True  # type: ignore[attr-defined]
    assert is_double_callable(instance) is True


def test_single_hint_is_checked_first() -> None:
    def both(
        scope: Scope,
    ) -> Callable[[ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]:
        raise AssertionError("never called")

    both._asgi_single_callable = True  # type: ignore[attr-defined]
    both._asgi_double_callable = True  # type: ignore[attr-defined]
    assert is_double_callable(both) is False


def test_detection_does_not_call_the_application() -> None:
    calls: list[object] = []

    class Recorder(DoubleApp):
        def __init__(self, scope: Scope) -> None:
            calls.append(scope)

    assert is_double_callable(Recorder) is True
    assert calls == []


@pytest.mark.parametrize(
    "application",
    [*DOUBLE.values(), *SINGLE.values()],
    ids=[*DOUBLE.keys(), *SINGLE.keys()],
)
def test_detection_matches_asgiref(application: Any) -> None:
    asgiref_compatibility = pytest.importorskip("asgiref.compatibility")
    expected = asgiref_compatibility.is_double_callable(application)
    assert is_double_callable(application) is expected


# --------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------


class Channel:
    """Minimal receive/send pair that serves one lifespan.startup event."""

    def __init__(self) -> None:
        self.sent: list[ASGISendEvent] = []

    async def receive(self) -> ASGIReceiveEvent:
        return {"type": "lifespan.startup"}

    async def send(self, event: ASGISendEvent) -> None:
        self.sent.append(event)


def test_double_to_single_returns_new_coroutine_function() -> None:
    wrapped = double_to_single_callable(DoubleApp)
    original: object = DoubleApp
    assert wrapped is not original
    assert inspect.iscoroutinefunction(wrapped)
    assert iscoroutinefunction(wrapped)
    assert is_double_callable(wrapped) is False


@pytest.mark.anyio
async def test_converted_class_runs() -> None:
    DoubleApp.instances.clear()
    wrapped = double_to_single_callable(DoubleApp)
    first, second = Channel(), Channel()

    await wrapped(SCOPE, first.receive, first.send)
    await wrapped(SCOPE, second.receive, second.send)

    assert first.sent == [{"type": "lifespan.startup.complete"}]
    assert second.sent == [{"type": "lifespan.startup.complete"}]
    # A fresh instance is built for every call, each seeing its own scope.
    assert len(DoubleApp.instances) == 2
    assert DoubleApp.instances[0] is not DoubleApp.instances[1]
    assert all(instance.scope is SCOPE for instance in DoubleApp.instances)


@pytest.mark.anyio
async def test_converted_function_runs() -> None:
    channel = Channel()
    await double_to_single_callable(double_function)(
        SCOPE, channel.receive, channel.send
    )
    assert channel.sent == [{"type": "lifespan.startup.failed", "message": "lifespan"}]


@pytest.mark.anyio
async def test_converted_sync_call_instance_runs() -> None:
    channel = Channel()
    await double_to_single_callable(SyncCallInstance())(
        SCOPE, channel.receive, channel.send
    )
    assert channel.sent == [{"type": "lifespan.startup.complete"}]


@pytest.mark.anyio
async def test_constructor_error_propagates() -> None:
    class Broken(DoubleApp):
        def __init__(self, scope: Scope) -> None:
            raise LookupError(scope["type"])

    channel = Channel()
    with pytest.raises(LookupError, match="lifespan"):
        await double_to_single_callable(Broken)(SCOPE, channel.receive, channel.send)


@pytest.mark.anyio
async def test_call_error_propagates() -> None:
    class Failing(DoubleApp):
        async def __call__(
            self, receive: ASGIReceiveCallable, send: ASGISendCallable
        ) -> None:
            raise RuntimeError("boom")

    channel = Channel()
    with pytest.raises(RuntimeError, match="boom"):
        await double_to_single_callable(Failing)(SCOPE, channel.receive, channel.send)
    assert channel.sent == []


# --------------------------------------------------------------------------
# guarantee_single_callable
# --------------------------------------------------------------------------


@pytest.mark.parametrize("application", SINGLE.values(), ids=SINGLE.keys())
def test_guarantee_keeps_single_callable(application: Any) -> None:
    assert guarantee_single_callable(application) is application


@pytest.mark.parametrize("application", DOUBLE.values(), ids=DOUBLE.keys())
def test_guarantee_wraps_double_callable(application: Any) -> None:
    wrapped = guarantee_single_callable(application)
    assert wrapped is not application
    assert is_double_callable(wrapped) is False
    # Wrapping twice changes nothing.
    assert guarantee_single_callable(wrapped) is wrapped


@pytest.mark.anyio
@pytest.mark.parametrize(
    "application",
    [
        DoubleApp,
        double_function,
        SyncCallInstance(),
        single_function,
        AsyncCallInstance(),
    ],
    ids=["class", "function", "sync-instance", "coroutine", "async-instance"],
)
async def test_guaranteed_app_runs(application: Any) -> None:
    channel = Channel()
    await guarantee_single_callable(application)(SCOPE, channel.receive, channel.send)
    assert len(channel.sent) == 1
    assert channel.sent[0]["type"].startswith("lifespan.startup.")
