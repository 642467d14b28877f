"""The in-process scenarios: ``hello``, ``sleep`` and ``transfer``.

Every round runs each backend in a fresh ``anyio.run`` and, inside it, each
adapter's steps once; every other round runs backends, adapters and steps in
reverse order, so slow drift on the machine hits all of them alike.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from .adapters import ADAPTERS, Adapter
from .app import HELLO_CONCURRENCY, SLEEP_CONCURRENCY, ASGIApp
from .driving import HELLO_SCOPE, SLEEP_SCOPE, download, hello_like, throughput, upload
from .model import AppCache, Results, Settings, error_status, progress


@dataclass(frozen=True)
class InProcessStep:
    """One thing timed per adapter and round on one event loop."""

    metric: str
    measure: Callable[[ASGIApp, Settings], Any]
    #: cap on one measurement; hitting it means "timeout" when ``slow_ok``
    #: (a peer that is just very slow) and "error: hung" otherwise
    limit: Callable[[Settings], float]
    slow_ok: bool = False


def _measure_hello(app: ASGIApp, settings: Settings) -> Any:
    call = functools.partial(hello_like, app, HELLO_SCOPE)
    return throughput(call, HELLO_CONCURRENCY, settings.duration)


def _measure_sleep(app: ASGIApp, settings: Settings) -> Any:
    call = functools.partial(hello_like, app, SLEEP_SCOPE)
    return throughput(call, SLEEP_CONCURRENCY, settings.duration)


def _measure_download(app: ASGIApp, settings: Settings) -> Any:
    return download(app, settings.transfer_size)


def _measure_upload(app: ASGIApp, settings: Settings) -> Any:
    return upload(app, settings.transfer_size)


def throughput_limit(settings: Settings) -> float:
    # Warm-up, window and drain; asgiref's one thread drains 64 x 20 ms.
    return 3 * settings.duration + 60


def _transfer_limit(settings: Settings) -> float:
    return settings.transfer_timeout


IN_PROCESS: dict[str, tuple[InProcessStep, ...]] = {
    "hello": (InProcessStep("hello", _measure_hello, throughput_limit),),
    "sleep": (InProcessStep("sleep", _measure_sleep, throughput_limit),),
    "transfer": (
        InProcessStep("download", _measure_download, _transfer_limit, slow_ok=True),
        InProcessStep("upload", _measure_upload, _transfer_limit, slow_ok=True),
    ),
}


async def _in_process_round(
    steps: Sequence[InProcessStep],
    adapters: Sequence[Adapter],
    round_no: int,
    settings: Settings,
    results: Results,
    apps: AppCache,
) -> None:
    running = _running_backend()
    for adapter in adapters:
        # Alternate the order of the steps too (download/upload).
        for step in steps if round_no % 2 == 0 else steps[::-1]:
            cell = results.cell(step.metric, adapter.key, running)
            app = apps.for_cell(cell, adapter)
            if app is None:
                continue
            results.current = (step.metric, adapter.key, running)
            limit = step.limit(settings)
            gc.collect()
            try:
                with anyio.fail_after(limit):
                    value = await step.measure(app, settings)
            except TimeoutError:
                cell.status = (
                    f"timeout (> {limit:g} s)"
                    if step.slow_ok
                    else f"error: hung (no result in {limit:g} s)"
                )
            except Exception as exc:
                cell.status = error_status(exc)
            else:
                cell.values[round_no] = value
    results.current = None


def _running_backend() -> str:
    import sniffio

    return sniffio.current_async_library()


def run_in_process(
    scenario: str,
    settings: Settings,
    backends: tuple[str, ...],
    results: Results,
    apps: AppCache,
) -> None:
    steps = IN_PROCESS[scenario]
    for step in steps:
        for adapter in ADAPTERS:
            for backend in backends:
                results.cell(step.metric, adapter.key, backend)
    for round_no in range(settings.rounds):
        # Alternate the order so slow drift on a noisy machine hits all alike.
        order = 1 if round_no % 2 == 0 else -1
        progress(f"{scenario}: round {round_no + 1}/{settings.rounds}")
        for backend in backends[::order]:
            adapters = [a for a in ADAPTERS if backend in a.backends][::order]
            try:
                anyio.run(
                    _in_process_round,
                    steps,
                    adapters,
                    round_no,
                    settings,
                    results,
                    apps,
                    backend=backend,
                )
            except Exception as exc:  # the event loop itself failed
                for step in steps:
                    for adapter in adapters:
                        cell = results.cell(step.metric, adapter.key, backend)
                        cell.status = cell.status or error_status(exc)
