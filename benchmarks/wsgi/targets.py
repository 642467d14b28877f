"""The targets: ours against the best peer, and ours' own memory numbers.

A ratio target pairs ours with the best peer (the one with the best median
on that backend) round by round (:func:`benchmarks.report.paired_ratio`); it
passes at or above its limit for req/s, at or below it for time.  The memory
targets look at ours alone.  A target that is not met says ``MISS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import report
from ..report import MiB
from .adapters import ADAPTERS, OURS
from .app import SLEEP_CONCURRENCY, SLEEP_S
from .model import METRICS, Cell, Results, Settings


@dataclass(frozen=True)
class Target:
    name: str
    metric: str
    #: "ratio": ours / best peer, PASS when >= limit (throughput) or <= limit
    #: (time); "rss": ours' RSS growth in MiB <= limit; "temp": ours' temp
    #: files <= limit; "info": a ratio with no limit
    kind: str
    limit: float | None

    @property
    def at_least(self) -> bool:
        """Whether the value must reach the limit rather than stay under it."""
        return self.kind == "ratio" and METRICS[self.metric].higher_is_better


def targets_for(settings: Settings) -> tuple[Target, ...]:
    size = f"{settings.transfer_size / MiB:g} MiB"
    big = f"{settings.memory_size / MiB:g} MiB"
    return (
        Target("hello world req/s vs best peer", "hello", "ratio", 2.0),
        Target(
            f"{SLEEP_S * 1000:g} ms x {SLEEP_CONCURRENCY} req/s vs best peer",
            "sleep",
            "ratio",
            1.3,
        ),
        Target(f"{size} download time vs best peer", "download", "ratio", 1.0),
        Target(f"{size} upload time vs best peer", "upload", "ratio", 1.0),
        Target("loopback hello req/s vs best peer", "loopback", "info", None),
        Target(f"{big} upload: peak RSS growth (MiB)", "mem_upload", "rss", 32),
        Target(f"{big} upload: temp files", "mem_upload", "temp", 0),
        Target(f"{big} download: peak RSS growth (MiB)", "mem_download", "rss", 32),
        Target(f"{big} download: temp files", "mem_download", "temp", 0),
    )


@dataclass(frozen=True)
class TargetResult:
    target: Target
    backend: str
    value: float | None = None
    spread: tuple[float, float] | None = None
    best_peer: str | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        target = self.target
        return report.verdict(
            self.value, target.limit, at_least=target.at_least, miss="MISS"
        )

    def limit_text(self) -> str:
        return report.limit_text(self.target.limit, at_least=self.target.at_least)


def best_peer(results: Results, metric: str, backend: str) -> tuple[str, Cell] | None:
    measured = [
        (adapter.key, cell)
        for adapter in ADAPTERS
        if not adapter.ours
        and (cell := results.get(metric, adapter.key, backend)) is not None
        and cell.ok
    ]
    if not measured:
        return None
    pick = max if METRICS[metric].higher_is_better else min
    return pick(measured, key=lambda item: item[1].median())


def evaluate(target: Target, backend: str, results: Results) -> TargetResult:
    metric = METRICS[target.metric]
    ours = results.get(target.metric, OURS.key, backend)
    if ours is None or not ours.ok:
        why = "not measured" if ours is None else (ours.status or "no value")
        return TargetResult(target, backend, note=f"ours: {why}")
    if target.kind == "rss":
        return TargetResult(target, backend, ours.median(), note="")
    if target.kind == "temp":
        files = float(ours.info.get("temp_files", 0))
        return TargetResult(target, backend, files)
    best = best_peer(results, target.metric, backend)
    if best is None:
        return TargetResult(target, backend, note="no peer measured")
    name, peer = best
    pooled = ours.median() / peer.median()
    value, spread = report.paired_ratio(ours.values, peer.values, pooled)
    note = f"{metric.show(ours.median())} vs {metric.show(peer.median())} {metric.unit}"
    return TargetResult(target, backend, value, spread, name, note)


def evaluate_targets(
    settings: Settings,
    results: Results,
    backends: tuple[str, ...],
    scenarios: Sequence[str],
) -> list[TargetResult]:
    return [
        evaluate(target, backend, results)
        for target in targets_for(settings)
        if METRICS[target.metric].scenario in scenarios
        for backend in backends
    ]
