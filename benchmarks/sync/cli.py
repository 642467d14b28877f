"""``python benchmarks/bench_sync.py``: the options, and a run from start to end."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import REPO_ROOT, RESULTS_DIR, available_backends, runner
from .measure import REWARMUP, Results, Settings, run_benchmarks
from .placement import Placement
from .render import environment, write_report

DESCRIPTION = "Per-call cost of the sync <-> async bridges, side by side."
DEFAULT_OUTPUT = RESULTS_DIR / "sync.md"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--quick", action="store_true", help="300 calls per row, 50 warm-up calls"
    )
    parser.add_argument(
        "--calls", type=int, help="timed calls per row (default 3000, --quick 300)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help=f"warm-up calls per row (default 200, --quick 50); "
        f"later rounds re-warm with {REWARMUP}",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="split each row's calls over this many interleaved rounds (default 10)",
    )
    parser.add_argument(
        "--row-budget",
        type=float,
        default=10.0,
        help="seconds one row may take in all before it is cut short (default 10)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="abort the whole run, keeping partial results, after this many seconds",
    )
    parser.add_argument(
        "--placement",
        choices=Placement.NAMES,
        default="free",
        help="pin threads: free (default), one-cpu, or two-cpus (loop on one "
        "CPU, other threads on another); Linux only",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="Markdown report path; the JSON twin goes next to it (default "
        f"{DEFAULT_OUTPUT.relative_to(REPO_ROOT)}, or sync-PLACEMENT.md when "
        "pinned)",
    )
    args = parser.parse_args(argv)
    if args.output is None:
        args.output = (
            DEFAULT_OUTPUT
            if args.placement == "free"
            else DEFAULT_OUTPUT.with_name(f"sync-{args.placement}.md")
        )
    if args.placement != "free":
        if not hasattr(os, "sched_setaffinity") or not os.path.isdir("/proc/self/task"):
            parser.error("--placement needs Linux (sched_setaffinity, /proc)")
        if args.placement == "two-cpus" and len(os.sched_getaffinity(0)) < 2:
            parser.error("--placement two-cpus needs two CPUs")
    if args.calls is None:
        args.calls = 300 if args.quick else 3000
    if args.warmup is None:
        args.warmup = 50 if args.quick else 200
    if args.calls < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--calls and --rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    placement = Placement(args.placement)
    placement.apply()
    settings = Settings(
        calls=args.calls,
        warmup=args.warmup,
        rounds=min(args.rounds, args.calls),
        row_budget_s=args.row_budget,
        placement=placement,
    )
    backends = available_backends()
    env = environment(settings, [sys.argv[0], *argv])
    results = Results()
    output: Path = args.output

    def mark_hung() -> str:
        row = results.current
        if row is None:
            return "?"
        if row.error is None:
            row.error = "hung: run timed out here"
        return f"{row.label} [{row.backend}]"

    return runner.run(
        "bench_sync",
        lambda: run_benchmarks(settings, backends, results),
        timeout=args.timeout,
        write_report=lambda aborted: write_report(
            output, env, results, backends, aborted
        ),
        mark_hung=mark_hung,
        env=env,
        output=output,
    )
