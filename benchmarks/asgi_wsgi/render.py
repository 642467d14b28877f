"""The ASGI-under-WSGI report: Markdown (printed and written) and its JSON twin."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import report
from ..report import MiB, escape
from .adapters import A2WSGI, ADAPTERS, Adapter
from .model import METRICS, Cell, Metric, Results, Settings
from .servers import gunicorn_description
from .targets import TargetResult, evaluate_targets

TITLE = "anyio_bridge AsgiToWsgi benchmark: ASGI apps under gunicorn"
INTRO = (
    "One raw ASGI application (a plain `async def`, no framework) served "
    "through each adapter by gunicorn in a subprocess; the load comes from "
    "another process. Numbers are medians over rounds. **vs a2wsgi** = this "
    "adapter's median / a2wsgi's (for req/s higher is better, for time lower "
    "is better). Absolute numbers are machine-dependent, and the load "
    "generator shares the machine's CPUs with the server: compare ratios "
    "within this run only. a2wsgi runs on asyncio only."
)
TARGETS_EXPLANATION = (
    "Ratio targets: median over rounds of (AsgiToWsgi / a2wsgi in that "
    "round); IQR is the interquartile range of those per-round ratios (a "
    "limit inside it is a coin toss on this machine). Memory and thread "
    "targets: AsgiToWsgi's own numbers. Targets without a limit are for "
    "information."
)
TARGETS_HEADER = ("Target", "Value", "Rounds IQR", "Limit", "Result", "Medians")
VERSIONS = ("anyio", "trio", "a2wsgi", "gunicorn", "httpx", "psutil")


def environment(settings: Settings, argv: Sequence[str]) -> dict[str, Any]:
    recorded = {
        "quick": settings.quick,
        "rounds": settings.rounds,
        "window_s": settings.duration,
        "warmup_s": settings.warmup,
        "connections": settings.connections,
        "transfer_mib": settings.transfer_size / MiB,
        "transfer_timeout_s": settings.transfer_timeout,
        "memory_mib": settings.memory_size / MiB,
        "memory_timeout_s": settings.memory_timeout,
        "instances": settings.instances,
    }
    extra = {
        "settings": recorded,
        "load_generator": settings.load_generator_text,
        "server": gunicorn_description(),
    }
    return report.environment(argv, VERSIONS, extra, machine=True)


def _versus(results: Results, metric: Metric, cell: Cell) -> str:
    ratio = _vs_a2wsgi(results, metric.key, cell)
    return "—" if ratio is None else f"{ratio:.2f}"


def _vs_a2wsgi(results: Results, metric: str, cell: Cell) -> float | None:
    peer = results.get(metric, A2WSGI.key)
    if peer is None or not peer.ok or not peer.median():
        return None
    return cell.median() / peer.median()


def _status(cell: Cell | None) -> str | None:
    """The text a cell shows instead of numbers, or ``None`` if it has some."""
    if cell is None:
        return "not run"
    if cell.status is not None:
        return escape(cell.status)
    return None if cell.values else "not run"


def _rounds(settings: Settings) -> str:
    return f"{settings.rounds} round{'s' if settings.rounds != 1 else ''}"


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _throughput_section(
    results: Results, metric: Metric, settings: Settings
) -> list[str]:
    header = [
        "Adapter",
        metric.unit,
        "vs a2wsgi",
        "worker CPU µs/req",
        "p50 ms",
        "p99 ms",
        "socket errors",
        f"{metric.unit} per round",
    ]
    rows = []
    for adapter in ADAPTERS:
        cell = results.get(metric.key, adapter.key)
        status = _status(cell)
        if status is not None or cell is None:
            rows.append([escape(adapter.label), status or "", *["—"] * 6])
            continue
        errors = sum(
            item.get("socket_errors") or 0 for item in cell.info["rounds"].values()
        )
        per_round = ", ".join(metric.show(cell.values[n]) for n in sorted(cell.values))
        rows.append(
            [
                escape(adapter.label),
                metric.show(cell.median()),
                _versus(results, metric, cell),
                _us(cell.info_median("cpu_us_per_request")),
                _ms(cell.info_median("p50_ms")),
                _ms(cell.info_median("p99_ms")),
                str(errors),
                per_round,
            ]
        )
    return [
        f"{settings.connections} keep-alive connections, window "
        f"{settings.duration} s per round, median of {_rounds(settings)}; "
        "worker CPU = the gunicorn worker's user + system CPU time during the "
        "window / requests completed (what one request costs the server, "
        "less sensitive to other load on the machine than req/s); latency = "
        "median over rounds of the load generator's percentiles.",
        "",
        *report.table(header, "lrrrrrrl", rows),
    ]


def _transfer_section(results: Results, settings: Settings) -> list[str]:
    header = ["Adapter"]
    for direction in ("upload", "download"):
        header += [f"{direction} ms", f"{direction} MiB/s", "vs a2wsgi"]
    rows = []
    size_mib = settings.transfer_size / MiB
    for adapter in ADAPTERS:
        cells = [escape(adapter.label)]
        for direction in ("upload", "download"):
            cell = results.get(direction, adapter.key)
            status = _status(cell)
            if status is not None or cell is None:
                cells += [status or "", "—", "—"]
                continue
            cells += [
                METRICS[direction].show(cell.median()),
                f"{size_mib / cell.median():,.0f}",
                _versus(results, METRICS[direction], cell),
            ]
        rows.append(cells)
    return [
        f"{size_mib:g} MiB each way, client `httpx` streaming in the benchmark "
        "process (upload: a generator of 64 KiB chunks with `Content-Length` "
        "set, the app counts what it receives and answers the count; download: "
        "64 KiB `http.response.body` messages, counted by the client); both "
        f"sizes checked. Median of {_rounds(settings)}.",
        "",
        *report.table(header, "lrrrrrr", rows),
    ]


def _memory_section(results: Results, settings: Settings) -> list[str]:
    header = [
        "Adapter",
        "idle RSS MiB",
        "upload: growth MiB",
        "upload s",
        "download: growth MiB",
        "download s",
        "RSS after MiB",
    ]
    rows = []
    for adapter in ADAPTERS:
        up = results.get("rss_upload", adapter.key)
        down = results.get("rss_download", adapter.key)
        info = (up.info if up and up.ok else {}) or (down.info if down else {})
        cells = [escape(adapter.label), _mib(info.get("baseline_mib"))]
        for cell in (up, down):
            status = _status(cell)
            if status is not None or cell is None:
                cells += [status or "", "—"]
            else:
                cells += [f"{cell.values[0]:,.1f}", f"{cell.info['seconds']:.2f}"]
        after = down.info.get("after_mib") if down and down.ok else None
        rows.append([*cells, _mib(after)])
    size = f"{settings.memory_size / MiB:g} MiB"
    return [
        f"A fresh server per adapter; after a 1 MiB warm-up each way, a {size} "
        f"upload and then a {size} download (client `httpx`, streamed). "
        "Growth = the gunicorn worker's peak RSS during the transfer (sampled "
        "every 5 ms, and the kernel's VmHWM, reset before each transfer) minus "
        "its idle RSS before the first one.",
        "",
        *report.table(header, "lrrrrrr", rows),
    ]


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _threads_section(results: Results, settings: Settings) -> list[str]:
    header = [
        "Adapter",
        "threads at start",
        "after 1 adapter",
        f"after {settings.instances}",
        "growth",
        "after close()",
        "Python threads",
    ]
    rows = []
    for adapter in ADAPTERS:
        if adapter.reference:
            continue
        cell = results.get("threads", adapter.key)
        status = _status(cell)
        if status is not None or cell is None:
            rows.append([escape(adapter.label), status or "", *["—"] * 5])
            continue
        info = cell.info
        names = ", ".join(
            f"{name} x{count}" if count > 1 else name
            for name, count in info.get("python_threads", {}).items()
        )
        rows.append(
            [
                escape(adapter.label),
                str(info["baseline"]),
                str(info["after_1"]),
                str(info["after_n"]),
                f"{cell.values[0]:+.0f}",
                str(info["after_close"]) if adapter.ours else "(no close)",
                escape(names),
            ]
        )
    return [
        f"In a fresh process: {settings.instances} adapters built one after "
        "another, each serving one `GET /hello` called in-process from the "
        "main thread. Threads = the process's OS threads (`/proc/self/task`); "
        f"growth = after {settings.instances} - after 1.",
        "",
        *report.table(header, "lrrrrrl", rows),
    ]


def _target_value(result: TargetResult) -> str:
    if result.value is None:
        return "—"
    if result.target.kind == "max":
        return METRICS[result.target.metric].show(result.value)
    return f"{result.value:.2f}"


def render_markdown(
    env: dict[str, Any],
    settings: Settings,
    results: Results,
    targets: list[TargetResult],
    scenarios: Sequence[str],
    aborted: str | None = None,
) -> str:
    before = [
        f"server: {env['server']}",
        f"load generator: {env['load_generator']}, {settings.connections} connections",
        f"rounds: {settings.rounds} (adapters in reverse order every other "
        f"round); throughput window {settings.duration} s",
    ]
    elapsed = [f"elapsed: {env['elapsed_s']} s"] if "elapsed_s" in env else []
    lines = report.header(TITLE, env, before, elapsed, INTRO, aborted)

    sections: list[tuple[str, list[str]]] = []
    if "throughput" in scenarios:
        for key in ("hello", "sleep"):
            metric = METRICS[key]
            sections.append(
                (
                    f"{metric.title} ({metric.unit})",
                    _throughput_section(results, metric, settings),
                )
            )
    if "transfer" in scenarios:
        sections.append(
            (
                f"Transfers: {settings.transfer_size / MiB:g} MiB upload and download",
                _transfer_section(results, settings),
            )
        )
    if "memory" in scenarios:
        sections.append(
            (
                f"Memory: {settings.memory_size / MiB:g} MiB upload, then download, "
                "worker RSS",
                _memory_section(results, settings),
            )
        )
    if "threads" in scenarios:
        sections.append(
            (
                f"Threads after {settings.instances} adapter instances",
                _threads_section(results, settings),
            )
        )
    for number, (title, body) in enumerate(sections, 1):
        lines += [f"## {number}. {title}", "", *body, ""]

    # Between snippet markers: docs/asgi-under-wsgi.md shows this table alone.
    targets_lines = report.targets_section(
        TARGETS_EXPLANATION,
        TARGETS_HEADER,
        "lrrlll",
        (
            [
                escape(result.target.name),
                _target_value(result),
                report.spread_text(result.spread),
                result.limit_text(),
                result.verdict,
                escape(result.note),
            ]
            for result in targets
        ),
    )
    lines += [
        *targets_lines[:2],
        "<!-- --8<-- [start:targets] -->",
        *targets_lines[2:-1],
        "<!-- --8<-- [end:targets] -->",
        *targets_lines[-1:],
    ]
    return "\n".join(lines)


def _cells_json(results: Results) -> list[dict[str, Any]]:
    cells = []
    for (metric, adapter_key), cell in list(results.cells.items()):
        adapter: Adapter = next(a for a in ADAPTERS if a.key == adapter_key)
        item: dict[str, Any] = {
            "metric": metric,
            "unit": METRICS[metric].unit,
            "adapter": adapter_key,
            "backend": adapter.backend,
            "status": cell.status,
            "values": [cell.values[k] for k in sorted(cell.values)],
        }
        if cell.ok:
            item["median"] = cell.median()
            item["vs_a2wsgi"] = report.rounded(_vs_a2wsgi(results, metric, cell))
        if cell.info:
            info = dict(cell.info)
            if "rounds" in info:
                info["rounds"] = [info["rounds"][k] for k in sorted(info["rounds"])]
            item["info"] = info
        cells.append(item)
    return cells


def _target_json(result: TargetResult) -> dict[str, Any]:
    target = result.target
    return {
        "name": target.name,
        "metric": target.metric,
        "kind": target.kind,
        "adapter": target.adapter,
        "versus": target.versus,
        "value": report.rounded(result.value),
        "rounds_iqr": report.spread_json(result.spread),
        "limit": target.limit,
        "at_least": target.at_least,
        "result": result.verdict,
        "note": result.note,
    }


def write_report(
    output: Path,
    env: dict[str, Any],
    settings: Settings,
    results: Results,
    scenarios: Sequence[str],
    aborted: str | None = None,
) -> str:
    targets = evaluate_targets(settings, results, scenarios)
    markdown = render_markdown(env, settings, results, targets, scenarios, aborted)
    document = {
        "environment": env,
        "aborted": aborted,
        "cells": _cells_json(results),
        "targets": [_target_json(result) for result in targets],
    }
    report.write(output, markdown, document)
    return markdown
