"""The ratios the project tracks between rows, and how they are evaluated.

A target divides one row's median by another's on the same backend (or on
``denominator_backend``), round by round (:func:`benchmarks.report.paired_ratio`),
and passes when the ratio is at most its limit.  A target without a limit is
informational: the noise control (a row against an identical row: it should
be 1.00, and its distance from 1.00 is the noise of the run) and the
reference rows (the floor a bare thread sets).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ASYNCIO, ASYNCIO_ONLY, BOTH, report
from .measure import Results


@dataclass(frozen=True)
class Target:
    name: str
    numerator: str
    denominator: str
    #: PASS when ratio <= limit; None for informational ratios
    limit: float | None
    backends: tuple[str, ...]
    #: backend of the denominator row if it differs (asgiref only runs on asyncio)
    denominator_backend: str | None = None
    #: what an informational ratio (no limit) is expected to be, if anything
    expected: str = "—"


TARGETS: tuple[Target, ...] = (
    Target(
        "noise control: raw to_thread / the same call again",
        "raw_to_thread_control",
        "raw_to_thread",
        None,
        BOTH,
        expected="≈ 1",
    ),
    Target(
        "thread-sensitive sync_to_async / raw to_thread",
        "bridge_s2a_ts",
        "raw_to_thread",
        0.9,
        BOTH,
    ),
    Target(
        "thread-sensitive sync_to_async / asgiref thread-sensitive",
        "bridge_s2a_ts",
        "asgiref_s2a_ts",
        0.7,
        ASYNCIO_ONLY,
    ),
    Target(
        "reference: bare dedicated thread / asgiref thread-sensitive",
        "bare_thread",
        "asgiref_s2a_ts",
        None,
        ASYNCIO_ONLY,
    ),
    Target(
        "reference: bare dedicated thread / raw to_thread",
        "bare_thread",
        "raw_to_thread",
        None,
        BOTH,
    ),
    Target(
        "sync_to_async(thread_sensitive=False) / raw to_thread",
        "bridge_s2a_nts",
        "raw_to_thread",
        1.1,
        BOTH,
    ),
    Target(
        "async_to_sync from worker / raw from_thread.run",
        "bridge_a2s_worker",
        "raw_from_thread",
        1.1,
        BOTH,
    ),
    Target(
        "top-level async_to_sync / asgiref top-level",
        "bridge_a2s_top",
        "asgiref_a2s_top",
        0.2,
        BOTH,
        denominator_backend=ASYNCIO,
    ),
)


@dataclass(frozen=True)
class TargetResult:
    target: Target
    backend: str
    #: median over rounds of the per-round ratio of medians
    ratio: float | None = None
    #: interquartile range of the per-round ratios
    spread: tuple[float, float] | None = None
    #: ratio of the medians of all samples pooled together
    pooled: float | None = None
    #: "numerator / denominator µs" medians, or why there is no ratio
    note: str = ""

    @property
    def verdict(self) -> str:
        return report.verdict(self.ratio, self.target.limit)

    def limit_text(self) -> str:
        return report.limit_text(self.target.limit, none=self.target.expected)


def evaluate(target: Target, backend: str, results: Results) -> TargetResult:
    num = results.get(target.numerator, backend)
    den = results.get(target.denominator, target.denominator_backend or backend)
    if num is None or den is None or not num.ok or not den.ok:
        problems = [
            f"{key} {'not measured' if row is None else 'errored'}"
            for key, row in ((target.numerator, num), (target.denominator, den))
            if row is None or not row.ok
        ]
        return TargetResult(target, backend, note=", ".join(problems))
    pooled = num.median_us() / den.median_us()
    ratio, spread = report.paired_ratio(
        num.round_medians_ns, den.round_medians_ns, pooled
    )
    note = f"{num.median_us():.1f} / {den.median_us():.1f} µs"
    return TargetResult(target, backend, ratio, spread, pooled, note)


def evaluate_targets(results: Results, backends: tuple[str, ...]) -> list[TargetResult]:
    return [
        evaluate(target, backend, results)
        for target in TARGETS
        for backend in target.backends
        if backend in backends
    ]
