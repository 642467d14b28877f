"""The targets of issue 11, and their evaluation.

A ratio target pairs two adapters round by round
(:func:`benchmarks.report.paired_ratio`): AsgiToWsgi on one backend against
a2wsgi's ``ASGIMiddleware`` measured in the same round, a minute or less
apart on the same machine.  It passes at or above its limit for req/s, at
or below it for time.  The memory and thread targets look at AsgiToWsgi's
own numbers.  A target that is not met says ``MISS``.  The CPU rows (for
information) pair the gunicorn worker's CPU time per request the same way:
below 1, AsgiToWsgi costs the server less per request than a2wsgi.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import report
from ..report import MiB
from .adapters import A2WSGI, OURS_ASYNCIO, OURS_TRIO, Adapter
from .apps import CONCURRENCY, SLEEP_S
from .model import METRICS, Cell, Results, Settings


@dataclass(frozen=True)
class Target:
    name: str
    metric: str
    #: "ratio": adapter / versus, paired by round; "cpu": the same with the
    #: worker's CPU time per request (info); "max": adapter's own value
    kind: str
    adapter: str
    limit: float | None
    versus: str | None = None

    @property
    def at_least(self) -> bool:
        """Whether the value must reach the limit rather than stay under it."""
        return self.kind == "ratio" and METRICS[self.metric].higher_is_better


def _ratio(metric: str, what: str, ours: Adapter, limit: float | None) -> Target:
    name = f"{what}: {ours.backend} / a2wsgi"
    return Target(name, metric, "ratio", ours.key, limit, A2WSGI.key)


def _cpu(metric: str, what: str, ours: Adapter) -> Target:
    name = f"{what}: {ours.backend} / a2wsgi"
    return Target(name, metric, "cpu", ours.key, None, A2WSGI.key)


def _own(metric: str, what: str, ours: Adapter, limit: float) -> Target:
    return Target(f"{what}, {ours.backend}", metric, "max", ours.key, limit)


def targets_for(settings: Settings) -> tuple[Target, ...]:
    both = (OURS_ASYNCIO, OURS_TRIO)
    sleep = f"{SLEEP_S * 1000:g} ms sleep x {CONCURRENCY} req/s"
    size = f"{settings.transfer_size / MiB:g} MiB"
    big = f"{settings.memory_size / MiB:g} MiB"
    more = f"threads added by {settings.instances - 1} more adapters"
    directions = ("upload", "download")
    return (
        _ratio("hello", "hello req/s", OURS_ASYNCIO, 1.5),
        _ratio("hello", "hello req/s", OURS_TRIO, 1.0),
        _ratio("sleep", sleep, OURS_ASYNCIO, 1.3),
        _ratio("sleep", sleep, OURS_TRIO, None),
        *(_cpu("hello", "hello worker CPU per request", ours) for ours in both),
        *(_cpu("sleep", "20 ms sleep worker CPU per request", ours) for ours in both),
        *(
            _ratio(d, f"{size} {d} time", ours, None)
            for d in directions
            for ours in both
        ),
        *(
            _own(f"rss_{d}", f"{big} {d}: worker RSS growth MiB", ours, 32)
            for d in directions
            for ours in both
        ),
        *(_own("threads", more, ours, 0) for ours in both),
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


def _own_note(target: Target, info: dict[str, Any]) -> str:
    if target.metric == "threads":
        first, last = info.get("after_1"), info.get("after_n")
        return f"{first} threads after 1 adapter, {last} after all"
    return f"idle {info.get('baseline_mib')} MiB, peak {info.get('peak_mib')} MiB"


def evaluate(target: Target, results: Results) -> TargetResult:
    metric = METRICS[target.metric]
    ours = results.get(target.metric, target.adapter)
    if ours is None or not ours.ok:
        why = "not measured" if ours is None else (ours.status or "no value")
        return TargetResult(target, note=f"{target.adapter}: {why}")
    if target.kind == "max":
        return TargetResult(target, ours.median(), note=_own_note(target, ours.info))
    assert target.versus is not None
    peer = results.get(target.metric, target.versus)
    if peer is None or not peer.ok or not peer.median():
        why = "not measured" if peer is None else (peer.status or "no value")
        return TargetResult(target, note=f"{target.versus}: {why}")
    if target.kind == "cpu":
        return _cpu_ratio(target, ours, peer)
    pooled = ours.median() / peer.median()
    value, spread = report.paired_ratio(ours.values, peer.values, pooled)
    note = f"{metric.show(ours.median())} vs {metric.show(peer.median())} {metric.unit}"
    return TargetResult(target, value, spread, note)


def _cpu_ratio(target: Target, ours: Cell, peer: Cell) -> TargetResult:
    key = "cpu_us_per_request"
    mine, theirs = ours.info_median(key), peer.info_median(key)
    if mine is None or theirs is None:
        return TargetResult(target, note="worker CPU time not measured")
    value, spread = report.paired_ratio(
        _per_round(ours, key), _per_round(peer, key), mine / theirs
    )
    return TargetResult(target, value, spread, f"{mine:,.0f} vs {theirs:,.0f} µs")


def _per_round(cell: Cell, key: str) -> dict[int, float]:
    return {
        round_no: item[key]
        for round_no, item in cell.info.get("rounds", {}).items()
        if item.get(key) is not None
    }


def evaluate_targets(
    settings: Settings, results: Results, scenarios: Sequence[str]
) -> list[TargetResult]:
    return [
        evaluate(target, results)
        for target in targets_for(settings)
        if METRICS[target.metric].scenario in scenarios
    ]
