"""The targets of issue 12, and their evaluation.

A ratio target pairs two servers round by round
(:func:`benchmarks.report.paired_ratio`): ``anyio-bridge serve`` on one
backend against a peer measured in the same round, seconds apart on the
same machine.  It passes at or above its limit (req/s: higher is better);
a target that is not met says ``MISS``.  Targets without a limit are for
information; the CPU ones pair the server's CPU time per request the same
way (below 1: ``serve`` costs less CPU per request than the peer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import report
from .model import METRICS, Cell, Results
from .servers import (
    BRIDGE_UVICORN,
    GUNICORN,
    HYPERCORN_ASYNCIO,
    HYPERCORN_TRIO,
    SERVE_ASYNCIO,
    SERVE_TRIO,
    UVICORN_WSGI,
    ServerSpec,
)

_WHAT = {
    "hello": "hello req/s",
    "sleep": "20 ms view req/s",
    "stream": "1 MiB stream req/s",
}


@dataclass(frozen=True)
class Target:
    name: str
    metric: str
    #: "ratio": server / versus, req/s paired by round; "cpu": the same with
    #: the server's CPU time per request (information)
    kind: str
    server: str
    versus: str
    limit: float | None

    @property
    def at_least(self) -> bool:
        """Whether the value must reach the limit rather than stay under it."""
        return self.kind == "ratio" and METRICS[self.metric].higher_is_better


def _short(spec: ServerSpec) -> str:
    names = {
        SERVE_ASYNCIO.key: "serve asyncio",
        SERVE_TRIO.key: "serve trio",
        GUNICORN.key: "gunicorn gthread",
        HYPERCORN_ASYNCIO.key: "raw ASGI on hypercorn asyncio",
        HYPERCORN_TRIO.key: "raw ASGI on hypercorn trio",
        BRIDGE_UVICORN.key: "uvicorn + WsgiToAsgi",
        UVICORN_WSGI.key: "uvicorn --interface wsgi",
    }
    return names.get(spec.key, spec.key)


def _ratio(
    metric: str, server: ServerSpec, versus: ServerSpec, limit: float | None
) -> Target:
    name = f"{_WHAT[metric]}: {_short(server)} / {_short(versus)}"
    return Target(name, metric, "ratio", server.key, versus.key, limit)


def _cpu(metric: str, server: ServerSpec, versus: ServerSpec) -> Target:
    what = _WHAT[metric].replace("req/s", "CPU per request")
    name = f"{what}: {_short(server)} / {_short(versus)}"
    return Target(name, metric, "cpu", server.key, versus.key, None)


TARGETS: tuple[Target, ...] = (
    # issue 12
    _ratio("hello", SERVE_ASYNCIO, GUNICORN, 1.3),
    _ratio("sleep", SERVE_ASYNCIO, GUNICORN, 1.0),
    _ratio("hello", SERVE_TRIO, HYPERCORN_TRIO, 0.8),
    _ratio("sleep", SERVE_TRIO, GUNICORN, 0.8),
    # information
    _ratio("hello", SERVE_TRIO, GUNICORN, None),
    _ratio("hello", SERVE_ASYNCIO, HYPERCORN_ASYNCIO, None),
    _ratio("stream", SERVE_ASYNCIO, GUNICORN, None),
    _ratio("stream", SERVE_TRIO, GUNICORN, None),
    _ratio("hello", BRIDGE_UVICORN, UVICORN_WSGI, None),
    _ratio("sleep", BRIDGE_UVICORN, UVICORN_WSGI, None),
    _ratio("stream", BRIDGE_UVICORN, UVICORN_WSGI, None),
    *(
        _cpu(metric, server, GUNICORN)
        for metric in ("hello", "sleep")
        for server in (SERVE_ASYNCIO, SERVE_TRIO)
    ),
)


@dataclass(frozen=True)
class TargetResult:
    target: Target
    value: float | None = None
    spread: tuple[float, float] | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        target = self.target
        return report.verdict(
            self.value, target.limit, at_least=target.at_least, miss="MISS"
        )

    def limit_text(self) -> str:
        return report.limit_text(self.target.limit, at_least=self.target.at_least)


def _why(cell: Cell | None, key: str) -> str:
    why = "not measured" if cell is None else (cell.status or "no value")
    return f"{key}: {why}"


def evaluate(target: Target, results: Results) -> TargetResult:
    ours = results.get(target.metric, target.server)
    if ours is None or not ours.ok:
        return TargetResult(target, note=_why(ours, target.server))
    peer = results.get(target.metric, target.versus)
    if peer is None or not peer.ok or not peer.median():
        return TargetResult(target, note=_why(peer, target.versus))
    if target.kind == "cpu":
        return _cpu_ratio(target, ours, peer)
    pooled = ours.median() / peer.median()
    value, spread = report.paired_ratio(ours.values, peer.values, pooled)
    note = f"{ours.median():,.0f} vs {peer.median():,.0f} req/s"
    return TargetResult(target, value, spread, note)


def _cpu_ratio(target: Target, ours: Cell, peer: Cell) -> TargetResult:
    key = "cpu_us_per_request"
    mine, theirs = ours.info_median(key), peer.info_median(key)
    if mine is None or theirs is None or not theirs:
        return TargetResult(target, note="server CPU time not measured")
    value, spread = report.paired_ratio(
        ours.round_values(key), peer.round_values(key), mine / theirs
    )
    return TargetResult(target, value, spread, f"{mine:,.0f} vs {theirs:,.0f} µs")


def evaluate_targets(results: Results, metrics: Sequence[str]) -> list[TargetResult]:
    return [evaluate(target, results) for target in TARGETS if target.metric in metrics]
