"""A run: start every server, warm them up, then the rounds of load windows.

All servers are started together and stay up for the whole run (an idle
server costs nothing).  Every round runs each metric on each server once,
one window right after the other; every other round runs both the metrics
and the servers in reverse order, so slow drift on the machine (other
processes, CPU frequency) hits all servers alike.  Around each window the
server's CPU time (its process tree's user + system) is read, which gives
its CPU time per request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .apps import PATHS
from .load import LoadError, problems, run_wrk, write_script
from .model import METRICS, Results, Settings, error_status, progress
from .servers import Server, ServerError, ServerSpec


def _ordered(items: Sequence[Any], round_no: int) -> list[Any]:
    return list(items) if round_no % 2 == 0 else list(reversed(items))


def usable(
    specs: Sequence[ServerSpec], metrics: Sequence[str], results: Results
) -> list[ServerSpec]:
    """The servers that can run here; the cells of the others get a status."""
    ready = []
    for spec in specs:
        missing = spec.missing()
        for metric in metrics:
            if METRICS[metric].path in spec.paths:
                cell = results.cell(metric, spec.key)
                if missing is not None:
                    cell.status = f"not installed ({missing})"
        if missing is None:
            ready.append(spec)
    return ready


def start(
    specs: Sequence[ServerSpec],
    metrics: Sequence[str],
    workdir: Path,
    results: Results,
    running: list[Server],
) -> list[Server]:
    """Start every server, then wait for each; failed ones get a status."""
    servers = []
    for spec in specs:
        servers.append(Server(spec, workdir))
        running.append(servers[-1])
    ready = []
    for server in servers:
        try:
            server.wait_ready()
        except ServerError as exc:
            for metric in metrics:
                if METRICS[metric].path in server.spec.paths:
                    results.cell(metric, server.spec.key).status = error_status(exc)
            server.stop()
            continue
        ready.append(server)
    return ready


def scripts(workdir: Path) -> dict[str, Path]:
    """The wrk check script of every path."""
    return {
        path: write_script(workdir, path.strip("/"), size, body)
        for path, (size, body) in PATHS.items()
    }


def warm_up(
    servers: Sequence[Server],
    metrics: Sequence[str],
    checks: dict[str, Path],
    settings: Settings,
) -> None:
    """Untimed load first: threads started, caches and code paths warm."""
    for server in servers:
        for metric in metrics:
            path = METRICS[metric].path
            if path not in server.spec.paths:
                continue
            with contextlib.suppress(LoadError):  # the timed windows report it
                run_wrk(
                    server.port,
                    path,
                    checks[path],
                    settings.connections,
                    settings.warmup,
                )


def window(
    server: Server,
    metric: str,
    round_no: int,
    checks: dict[str, Path],
    settings: Settings,
    results: Results,
) -> None:
    """One load window of *metric* on *server*, kept in its cell."""
    cell = results.cell(metric, server.spec.key)
    path = METRICS[metric].path
    results.current = (metric, server.spec.key)
    cpu_before = server.cpu_seconds()
    try:
        result = run_wrk(
            server.port, path, checks[path], settings.connections, settings.duration
        )
    except LoadError as exc:
        cell.status = error_status(exc)
        return
    cpu_after = server.cpu_seconds()
    if not server.alive():
        cell.status = f"error: server exited: {server.output_tail()}"
        return
    wrong = problems(result)
    requests = result["requests"]
    cpu = (
        None
        if cpu_before is None or cpu_after is None or not requests
        else round((cpu_after - cpu_before) / requests * 1e6, 1)
    )
    rss = server.rss_mib()
    cell.rounds[round_no] = {
        "requests": requests,
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "socket_errors": result["socket_errors"],
        "bad_responses": result["bad_status"] + result["bad_body"],
        "cpu_us_per_request": cpu,
        "cpu_s": None
        if cpu_before is None or cpu_after is None
        else round(cpu_after - cpu_before, 3),
        "rss_mib": None if rss is None else round(rss, 1),
    }
    if wrong is not None:
        cell.status = f"error: round {round_no + 1}: {wrong}"
        return
    cell.values[round_no] = result["rate"]


def run(
    specs: Sequence[ServerSpec],
    metrics: Sequence[str],
    settings: Settings,
    results: Results,
    workdir: Path,
    running: list[Server],
) -> None:
    """Every metric on every server, over ``settings.rounds`` rounds.

    *running* holds the servers while they run, for a watchdog to stop.
    """
    specs = usable(specs, metrics, results)
    checks = scripts(workdir)
    progress(f"starting {len(specs)} servers")
    servers = start(specs, metrics, workdir, results, running)
    try:
        progress(f"warm-up: {settings.warmup} s per server and path")
        warm_up(servers, metrics, checks, settings)
        for round_no in range(settings.rounds):
            progress(f"round {round_no + 1}/{settings.rounds}")
            for metric in _ordered(metrics, round_no):
                for server in _ordered(servers, round_no):
                    if METRICS[metric].path not in server.spec.paths:
                        continue
                    if results.cell(metric, server.spec.key).status is not None:
                        continue
                    window(server, metric, round_no, checks, settings, results)
        results.current = None
    finally:
        for server in servers:
            server.stop()
