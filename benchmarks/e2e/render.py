"""The end-to-end report: Markdown (printed and written) and its JSON twin.

The JSON mirrors ``results/asgi_wsgi.json`` (``environment``, ``aborted``,
``cells``, ``targets``, with the same keys in a cell and a target), so one
chart script reads both; it adds what makes it self-describing:
``metrics`` (title, unit, path), ``servers`` (label, backend, interface,
command line) and ``reference`` (the server the ``vs_...`` field of a cell
compares with).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import report
from ..report import escape
from .model import METRICS, SLEEP_CEILING, Cell, Metric, Results, Settings
from .servers import GUNICORN, SERVER_BY_KEY, SERVERS, ServerSpec, uvicorn_http
from .targets import TargetResult, evaluate_targets

TITLE = "anyio-bridge end to end: WSGI servers over loopback"
INTRO = (
    "Each server is a subprocess on 127.0.0.1 serving the same Flask "
    "application (the ASGI servers also serve a raw ASGI hello, their "
    "ceiling); the load is `wrk` in another process, and every response's "
    "status and body size is checked (a window with any wrong response or "
    "socket error fails its row). Numbers are medians over rounds. **vs "
    "gunicorn** = this server's median / gunicorn gthread's. The load "
    "generator and the server share the machine's CPUs, and absolute numbers "
    "swing between runs: compare ratios within this run only."
)
TARGETS_EXPLANATION = (
    "Ratio targets: median over rounds of (this server / the other in that "
    "round); IQR is the interquartile range of those per-round ratios (a "
    "limit inside it is a coin toss on this machine). Targets without a "
    "limit are for information; the CPU ones compare the server's CPU time "
    "per request (below 1: cheaper than the other)."
)
TARGETS_HEADER = ("Target", "Value", "Rounds IQR", "Limit", "Result", "Medians")
VERSIONS = (
    "anyio",
    "trio",
    "hypercorn",
    "h11",
    "flask",
    "werkzeug",
    "gunicorn",
    "uvicorn",
    "a2wsgi",
    "granian",
    "psutil",
)
REFERENCE = GUNICORN


def environment(
    settings: Settings, argv: Sequence[str], servers: Sequence[ServerSpec]
) -> dict[str, Any]:
    recorded = {
        "quick": settings.quick,
        "rounds": settings.rounds,
        "window_s": settings.duration,
        "warmup_s": settings.warmup,
        "connections": settings.connections,
        "threads": settings.threads,
        "servers": [spec.key for spec in servers],
    }
    extra = {
        "settings": recorded,
        "load_generator": settings.load_generator_text,
        "uvicorn_http": uvicorn_http(),
    }
    return report.environment(argv, VERSIONS, extra, machine=True)


def _status(cell: Cell | None) -> str | None:
    """The text a cell shows instead of numbers, or ``None`` if it has some."""
    if cell is None:
        return "not run"
    if cell.status is not None:
        return escape(cell.status)
    return None if cell.values else "not run"


def _vs_reference(results: Results, metric: str, cell: Cell) -> float | None:
    peer = results.get(metric, REFERENCE.key)
    if peer is None or not peer.ok or not peer.median() or not cell.ok:
        return None
    return cell.median() / peer.median()


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _rounds(settings: Settings) -> str:
    return f"{settings.rounds} round{'s' if settings.rounds != 1 else ''}"


def _extra_column(metric: Metric) -> str | None:
    if metric.key == "sleep":
        return f"% of {SLEEP_CEILING:,.0f}"
    return None


def _extra(metric: Metric, median: float) -> str:
    return f"{median / SLEEP_CEILING * 100:.0f} %"


def _section(results: Results, metric: Metric, settings: Settings) -> list[str]:
    extra = _extra_column(metric)
    header = [
        "Server",
        metric.unit,
        *([extra] if extra else []),
        "vs gunicorn",
        "server CPU µs/req",
        "p50 ms",
        "p99 ms",
        "RSS MiB",
        f"{metric.unit} per round",
    ]
    width = len(header) - 2
    rows = []
    for spec in SERVERS:
        cell = results.get(metric.key, spec.key)
        if cell is None:
            continue
        label = escape(spec.label)
        status = _status(cell)
        if status is not None:
            rows.append([label, status, *["—"] * width])
            continue
        per_round = ", ".join(f"{cell.values[n]:,.0f}" for n in sorted(cell.values))
        rows.append(
            [
                label,
                f"{cell.median():,.0f}",
                *([_extra(metric, cell.median())] if extra else []),
                _number(_vs_reference(results, metric.key, cell), 2),
                _number(cell.info_median("cpu_us_per_request")),
                _number(cell.info_median("p50_ms"), 1),
                _number(cell.info_median("p99_ms"), 1),
                _number(cell.info_median("rss_mib"), 0),
                per_round,
            ]
        )
    align = "l" + "r" * (len(header) - 2) + "l"
    return [
        f"{metric.app}. {settings.connections} keep-alive connections, window "
        f"{settings.duration} s per round, median of {_rounds(settings)}; "
        "server CPU = the server's process tree's user + system CPU time "
        "during the window / requests completed; latency = median over rounds "
        "of wrk's percentiles; RSS = the process tree's after the window.",
        "",
        *report.table(header, align, rows),
    ]


def _servers_section(results: Results) -> list[str]:
    rows = []
    for spec in SERVERS:
        if not any(server == spec.key for _, server in results.cells):
            continue
        rows.append(
            [
                escape(spec.label),
                spec.backend,
                "Flask app" if spec.interface == "wsgi" else "raw ASGI hello",
                escape(spec.settings),
            ]
        )
    return [
        "Started as `python -m NAME ...` (this interpreter), one process "
        "serving, access logs off, on a free port of 127.0.0.1. uvicorn's HTTP "
        f"parser here: {uvicorn_http()}.",
        "",
        *report.table(("Server", "Event loop", "Serves", "Settings"), "llll", rows),
    ]


def _target_value(result: TargetResult) -> str:
    return "—" if result.value is None else f"{result.value:.2f}"


def render_markdown(
    env: dict[str, Any],
    settings: Settings,
    results: Results,
    targets: list[TargetResult],
    metrics: Sequence[str],
    aborted: str | None,
) -> str:
    before = [
        f"load generator: {env['load_generator']}, {settings.connections} "
        "connections, every response checked (Lua)",
        f"rounds: {settings.rounds} (metrics and servers in reverse order every "
        f"other round); window {settings.duration} s, warm-up "
        f"{settings.warmup} s per server and path",
    ]
    after = [f"elapsed: {env['elapsed_s']} s"] if "elapsed_s" in env else []
    lines = report.header(TITLE, env, before, after, INTRO, aborted)
    sections = [("Servers", _servers_section(results))]
    for key in metrics:
        metric = METRICS[key]
        sections.append(
            (f"{metric.title} ({metric.unit})", _section(results, metric, settings))
        )
    for number, (title, body) in enumerate(sections, 1):
        lines += [f"## {number}. {title}", "", *body, ""]
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
    # Between snippet markers, so the docs can show this table alone.
    lines += [
        *targets_lines[:2],
        "<!-- --8<-- [start:targets] -->",
        *targets_lines[2:-1],
        "<!-- --8<-- [end:targets] -->",
        *targets_lines[-1:],
    ]
    return "\n".join(lines)


def _plain(label: str) -> str:
    """A label without its Markdown, for charts."""
    return label.replace("`", "")


def _cells_json(results: Results) -> list[dict[str, Any]]:
    cells = []
    for (metric, key), cell in list(results.cells.items()):
        spec = SERVER_BY_KEY[key]
        item: dict[str, Any] = {
            "metric": metric,
            "unit": METRICS[metric].unit,
            "adapter": key,
            "server": key,
            "label": _plain(spec.label),
            "backend": spec.backend,
            "interface": spec.interface,
            "ours": spec.ours,
            "status": cell.status,
            "values": [cell.values[n] for n in sorted(cell.values)],
        }
        if cell.ok:
            item["median"] = cell.median()
            item[f"vs_{REFERENCE.key}"] = report.rounded(
                _vs_reference(results, metric, cell)
            )
        if cell.rounds:
            item["info"] = {
                "rounds": [
                    {"round": n + 1, **cell.rounds[n]} for n in sorted(cell.rounds)
                ]
            }
        cells.append(item)
    return cells


def _target_json(result: TargetResult) -> dict[str, Any]:
    target = result.target
    return {
        "name": target.name,
        "metric": target.metric,
        "kind": target.kind,
        "adapter": target.server,
        "versus": target.versus,
        "value": report.rounded(result.value),
        "rounds_iqr": report.spread_json(result.spread),
        "limit": target.limit,
        "at_least": target.at_least,
        "result": result.verdict,
        "note": result.note,
    }


def _command_template(spec: ServerSpec) -> list[str]:
    """The server's command line, ``python`` and ``PORT`` for the variable parts."""
    command = spec.command(0)
    template = ["python"]
    for before, part in itertools.pairwise(command):
        if part == "127.0.0.1:0":
            part = "127.0.0.1:PORT"
        elif before == "--port":
            part = "PORT"
        template.append(part)
    return template


def _servers_json(results: Results) -> list[dict[str, Any]]:
    used = {server for _, server in results.cells}
    return [
        {
            "key": spec.key,
            "label": _plain(spec.label),
            "backend": spec.backend,
            "interface": spec.interface,
            "ours": spec.ours,
            "settings": spec.settings,
            "command": _command_template(spec),
        }
        for spec in SERVERS
        if spec.key in used
    ]


def write_report(
    output: Path,
    env: dict[str, Any],
    settings: Settings,
    results: Results,
    metrics: Sequence[str],
    aborted: str | None = None,
) -> str:
    targets = evaluate_targets(results, metrics)
    markdown = render_markdown(env, settings, results, targets, metrics, aborted)
    document = {
        "environment": env,
        "aborted": aborted,
        "reference": {"server": REFERENCE.key, "field": f"vs_{REFERENCE.key}"},
        "metrics": {
            key: {
                "title": METRICS[key].title,
                "unit": METRICS[key].unit,
                "path": METRICS[key].path,
                "app": METRICS[key].app,
                "higher_is_better": METRICS[key].higher_is_better,
            }
            for key in metrics
        },
        "servers": _servers_json(results),
        "cells": _cells_json(results),
        "targets": [_target_json(result) for result in targets],
    }
    report.write(output, markdown, document)
    return markdown
