"""The sync bridge report: Markdown (printed and written) and its JSON twin."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import report
from ..report import escape
from .measure import Results, Row, Settings
from .rows import SECTIONS
from .targets import TargetResult, evaluate_targets

TITLE = "anyio_bridge sync bridge benchmark"
INTRO = (
    "Per-call cost in µs (median / 90th percentile). Absolute numbers are "
    "machine-dependent; compare ratios within this run only."
)
TARGETS_EXPLANATION = (
    "Ratio = median over rounds of (numerator median / denominator median in "
    "that round); IQR is the interquartile range of those per-round ratios. "
    "PASS when ratio <= target. The reference lines show the floor: a bare "
    "dedicated thread that does nothing but hand over a call. The "
    "noise-control line compares two identical "
    "rows: its distance from 1.00 shows how noisy this run was."
)
TARGETS_HEADER = (
    "Target",
    "Backend",
    "Ratio",
    "Rounds IQR",
    "Target",
    "Result",
    "Medians",
)
VERSIONS = ("anyio", "trio", "asgiref", "asyncer")


def environment(settings: Settings, argv: Sequence[str]) -> dict[str, Any]:
    placement = settings.placement
    rounds = {
        "calls_per_row": settings.calls_per_round * settings.rounds,
        "rounds": settings.rounds,
        "warmup": settings.warmup,
        "rewarmup_per_round": settings.warmup_for(1),
    }
    return report.environment(argv, VERSIONS, rounds) | {
        "placement": placement.name,
        "placement_cpus": list(placement.cpus),
    }


def _row_cells(row: Row | None) -> tuple[str, str]:
    if row is None:
        return "—", "—"
    if row.error is not None:
        return escape(f"error: {row.error}"), "—"
    if not row.samples_ns:
        return "not run", "—"
    median = f"{row.median_us():.1f}"
    if row.truncated:
        median += f" (n={len(row.samples_ns)})"
    return median, f"{row.p90_us():.1f}"


def _placement_text(env: dict[str, Any]) -> str:
    cpus = env["placement_cpus"]
    if env["placement"] == "one-cpu":
        return f"`one-cpu`: every thread pinned to CPU {cpus[0]}"
    if env["placement"] == "two-cpus":
        return (
            f"`two-cpus`: the main thread (event loop, top-level caller) on CPU "
            f"{cpus[0]}, every other thread on CPU {cpus[1]} (top-level rows: "
            "free, see benchmarks/README.md)"
        )
    return "`free`: left to the OS scheduler"


def render_markdown(
    env: dict[str, Any],
    results: Results,
    targets: list[TargetResult],
    backends: tuple[str, ...],
    aborted: str | None = None,
) -> str:
    rounds = (
        f"calls per row: {env['calls_per_row']}, interleaved over {env['rounds']} "
        f"rounds (warm-up: {env['warmup']} calls, then "
        f"{env['rewarmup_per_round']} per later round)"
    )
    placement = f"thread placement: {_placement_text(env)}"
    lines = report.header(TITLE, env, [rounds], [placement], INTRO, aborted)

    header = ["Case"]
    for backend in backends:
        header += [f"{backend} median", f"{backend} p90"]
    for title, cases in SECTIONS:
        rows = []
        seen: set[str] = set()
        for case in cases:
            if case.key in seen:
                continue
            seen.add(case.key)
            cells = [escape(case.label)]
            for backend in backends:
                cells += _row_cells(results.get(case.key, backend))
            rows.append(cells)
        align = "l" + "r" * 2 * len(backends)
        lines += [f"## {title}", "", *report.table(header, align, rows), ""]

    lines += report.targets_section(
        TARGETS_EXPLANATION,
        TARGETS_HEADER,
        "llrrrll",
        (
            [
                escape(result.target.name),
                result.backend,
                "—" if result.ratio is None else f"{result.ratio:.3f}",
                report.spread_text(result.spread),
                result.limit_text(),
                result.verdict,
                escape(result.note),
            ]
            for result in targets
        ),
    )
    return "\n".join(lines)


def _row_json(row: Row) -> dict[str, Any]:
    item: dict[str, Any] = {
        "section": row.section,
        "key": row.key,
        "label": row.label,
        "backend": row.backend,
        "calls": len(row.samples_ns),
        "error": row.error,
    }
    if row.ok:
        item |= {
            "median_us": round(row.median_us(), 3),
            "p90_us": round(row.p90_us(), 3),
            "mean_us": round(statistics.fmean(row.samples_ns) / 1000, 3),
            "min_us": round(min(row.samples_ns) / 1000, 3),
            "truncated": row.truncated,
            "round_medians_us": [
                round(m / 1000, 3) for m in row.round_medians_ns.values()
            ],
        }
    return item


def _target_json(result: TargetResult) -> dict[str, Any]:
    target = result.target
    return {
        "name": target.name,
        "numerator": target.numerator,
        "denominator": target.denominator,
        "backend": result.backend,
        "ratio": report.rounded(result.ratio),
        "rounds_iqr": report.spread_json(result.spread),
        "pooled_ratio": report.rounded(result.pooled),
        "limit": target.limit,
        "result": result.verdict,
        "note": result.note,
    }


def write_report(
    output: Path,
    env: dict[str, Any],
    results: Results,
    backends: tuple[str, ...],
    aborted: str | None = None,
) -> str:
    targets = evaluate_targets(results, backends)
    markdown = render_markdown(env, results, targets, backends, aborted)
    document = {
        "environment": env,
        "aborted": aborted,
        "rows": [_row_json(row) for row in list(results.rows.values())],
        "targets": [_target_json(result) for result in targets],
    }
    report.write(output, markdown, document)
    return markdown
