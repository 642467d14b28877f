"""The WSGI adapter report: Markdown (printed and written) and its JSON twin."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import report
from ..report import MiB, escape
from .adapters import ADAPTERS, Adapter
from .model import METRICS, Metric, Results, Settings
from .targets import TargetResult, best_peer, evaluate_targets

TITLE = "anyio_bridge WSGI adapter benchmark"
INTRO = (
    "Numbers are medians over rounds. **vs best peer** = this adapter / the "
    "best peer on the same backend (for req/s higher is better, for time and "
    "memory lower is better). Absolute numbers are machine-dependent; compare "
    "ratios within this run only. hypercorn `WSGIWrapper` is driven through a "
    "shim (`sync_spawn` = `anyio.to_thread.run_sync`, `call_soon` = "
    "`anyio.from_thread.run`); over loopback, hypercorn's asyncio worker runs "
    'it natively (`mode="wsgi"`), and its trio worker, which cannot start a '
    "WSGI app, through the shim with `trio.to_thread.run_sync` / "
    "`trio.from_thread.run`. asgiref and a2wsgi run on asyncio only."
)
TARGETS_EXPLANATION = (
    "Ratio targets: median over rounds of (ours / best peer in that round), "
    "the best peer being the one with the best median; IQR is the "
    "interquartile range of those per-round ratios (a target inside it is "
    "a coin toss on this machine). Memory targets: ours' own numbers."
)
TARGETS_HEADER = (
    "Target",
    "Backend",
    "Value",
    "Rounds IQR",
    "Target",
    "Result",
    "Best peer",
    "Medians",
)
VERSIONS = ("anyio", "trio", "asgiref", "a2wsgi", "hypercorn", "starlette", "httpx")


def environment(settings: Settings, argv: Sequence[str]) -> dict[str, Any]:
    recorded = {
        "quick": settings.quick,
        "rounds": settings.rounds,
        "window_s": settings.duration,
        "transfer_mib": settings.transfer_size / MiB,
        "transfer_timeout_s": settings.transfer_timeout,
        "memory_mib": settings.memory_size / MiB,
        "memory_timeout_s": settings.memory_timeout,
        "memory_cap_mib": settings.memory_cap_mib,
    }
    return report.environment(argv, VERSIONS, {"settings": recorded}, machine=True)


def _value_cells(
    results: Results, metric: Metric, adapter: Adapter, backend: str
) -> tuple[str, str]:
    cell = results.get(metric.key, adapter.key, backend)
    if cell is None:
        return "not run", "—"
    if cell.status is not None:
        return escape(cell.status), "—"
    if not cell.values:
        return "not run", "—"
    value = metric.show(cell.median())
    best = best_peer(results, metric.key, backend)
    if best is None:
        return value, "—"
    return value, f"{cell.median() / best[1].median():.2f}"


def _settings_line(metric: Metric, settings: Settings) -> str:
    if metric.scenario == "transfer":
        size = f"{settings.transfer_size / MiB:g} MiB"
        what = (
            "download: generator of 64 KiB chunks"
            if metric.key == "download"
            else ("upload: 64 KiB `http.request` messages, read in 64 KiB pieces")
        )
        return f"{size}, {what}; time per transfer, median of {settings.rounds} rounds"
    return (
        f"window {settings.duration:g} s per round, median of {settings.rounds} rounds"
    )


def _memory_rows(results: Results, backends: tuple[str, ...]) -> list[list[str]]:
    rows = []
    for adapter in ADAPTERS:
        for backend in backends:
            if backend not in adapter.backends:
                continue
            cells = [escape(adapter.label), backend]
            for direction in ("upload", "download"):
                cell = results.get(f"mem_{direction}", adapter.key, backend)
                if cell is None:
                    cells += ["not run", "—", "—"]
                elif cell.status is not None:
                    cells += [escape(cell.status), "—", "—"]
                else:
                    info = cell.info
                    cells += [
                        f"{cell.values[0]:,.1f}",
                        f"{info.get('temp_files', 0)} "
                        f"({info.get('temp_peak_mib', 0):,.1f})",
                        f"{info.get('seconds', 0):.3f}",
                    ]
            rows.append(cells)
    return rows


def _target_value(result: TargetResult) -> str:
    if result.value is None:
        return "—"
    if result.target.kind == "temp":
        return f"{result.value:.0f}"
    if result.target.kind == "rss":
        return f"{result.value:.1f}"
    return f"{result.value:.2f}"


def render_markdown(
    env: dict[str, Any],
    settings: Settings,
    results: Results,
    targets: list[TargetResult],
    backends: tuple[str, ...],
    scenarios: Sequence[str],
    aborted: str | None = None,
) -> str:
    rounds = (
        f"rounds: {settings.rounds} (adapters, backends and transfer directions "
        f"in reverse order every other round); throughput window "
        f"{settings.duration:g} s"
    )
    elapsed = [f"elapsed: {env['elapsed_s']} s"] if "elapsed_s" in env else []
    lines = report.header(TITLE, env, [rounds], elapsed, INTRO, aborted)

    number = 0
    for metric in METRICS.values():
        if metric.scenario not in scenarios or metric.scenario == "memory":
            continue
        number += 1
        header = ["Adapter"]
        for backend in backends:
            header += [f"{backend} {metric.unit}", f"{backend} vs best peer"]
        rows = []
        for adapter in ADAPTERS:
            cells = [escape(adapter.label)]
            for backend in backends:
                cells += _value_cells(results, metric, adapter, backend)
            rows.append(cells)
        lines += [
            f"## {number}. {metric.title} ({metric.unit})",
            "",
            _settings_line(metric, settings),
            "",
            *report.table(header, "l" + "r" * 2 * len(backends), rows),
            "",
        ]

    if "memory" in scenarios:
        number += 1
        size = f"{settings.memory_size / MiB:g} MiB"
        header = ["Adapter", "Backend"]
        for direction in ("upload", "download"):
            header += [
                f"{direction} RSS growth MiB",
                f"{direction} temp files (peak MiB)",
                f"{direction} s",
            ]
        lines += [
            f"## {number}. Memory: {size} upload and download, each in a fresh process",
            "",
            "Peak RSS growth over the process's RSS after a warm-up transfer; temp "
            "files = files opened for writing under `TMPDIR` (an empty directory) "
            "during the transfer, temp peak = their largest total size; time = the "
            f"transfer alone. Each run is capped at {settings.memory_timeout:g} s "
            f"and {settings.memory_cap_mib:,} MiB RSS.",
            "",
            *report.table(header, "llrrrrrr", _memory_rows(results, backends)),
            "",
        ]

    lines += report.targets_section(
        TARGETS_EXPLANATION,
        TARGETS_HEADER,
        "llrrrlll",
        (
            [
                escape(result.target.name),
                result.backend,
                _target_value(result),
                report.spread_text(result.spread),
                result.limit_text(),
                result.verdict,
                result.best_peer or "—",
                escape(result.note),
            ]
            for result in targets
        ),
    )
    return "\n".join(lines)


def _cells_json(results: Results) -> list[dict[str, Any]]:
    cells = []
    for (metric, adapter, backend), cell in list(results.cells.items()):
        item: dict[str, Any] = {
            "metric": metric,
            "unit": METRICS[metric].unit,
            "adapter": adapter,
            "backend": backend,
            "status": cell.status,
            "values": [cell.values[k] for k in sorted(cell.values)],
        }
        if cell.ok:
            item["median"] = cell.median()
            best = best_peer(results, metric, backend)
            if best is not None:
                item["vs_best_peer"] = round(cell.median() / best[1].median(), 4)
        if cell.info:
            item["info"] = cell.info
        cells.append(item)
    return cells


def _target_json(result: TargetResult) -> dict[str, Any]:
    target = result.target
    return {
        "name": target.name,
        "metric": target.metric,
        "kind": target.kind,
        "backend": result.backend,
        "value": report.rounded(result.value),
        "rounds_iqr": report.spread_json(result.spread),
        "limit": target.limit,
        "best_peer": result.best_peer,
        "result": result.verdict,
        "note": result.note,
    }


def write_report(
    output: Path,
    env: dict[str, Any],
    settings: Settings,
    results: Results,
    backends: tuple[str, ...],
    scenarios: Sequence[str],
    aborted: str | None = None,
) -> str:
    targets = evaluate_targets(settings, results, backends, scenarios)
    markdown = render_markdown(
        env, settings, results, targets, backends, scenarios, aborted
    )
    document = {
        "environment": env,
        "aborted": aborted,
        "cells": _cells_json(results),
        "targets": [_target_json(result) for result in targets],
    }
    report.write(output, markdown, document)
    return markdown
