"""``python benchmarks/bench_wsgi.py``: the options, and a run from start to end.

The same script, started as ``bench_wsgi.py --child KIND ...``, is the child
process of the ``loopback`` (``serve``) and ``memory`` scenarios.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import REPO_ROOT, RESULTS_DIR, available_backends, runner
from ..report import MiB, total_memory_mib
from .inprocess import IN_PROCESS, run_in_process
from .loopback import child_serve, run_loopback
from .memory import child_memory, run_memory
from .model import SCENARIOS, AppCache, Results, Settings
from .render import environment, write_report

DESCRIPTION = "WSGI-to-ASGI adapters side by side: throughput, transfers, memory."
DEFAULT_OUTPUT = RESULTS_DIR / "wsgi.md"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 60 s): 1 round, 0.25 s windows, 1 MiB transfers, "
        "4 MiB memory runs",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeat for several; default: all)",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per scenario (default 5, --quick 1)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of each throughput window (default 1, --quick 0.25)",
    )
    parser.add_argument(
        "--transfer-mib",
        type=float,
        help="in-process download/upload size in MiB (default 32, --quick 1)",
    )
    parser.add_argument(
        "--memory-mib",
        type=float,
        help="memory-scenario transfer size in MiB (default 256, --quick 4)",
    )
    parser.add_argument(
        "--memory-timeout",
        type=float,
        help="seconds one memory subprocess may take (default 40, --quick 20)",
    )
    parser.add_argument(
        "--memory-cap-mib",
        type=int,
        help="kill a memory subprocess above this RSS (default: 4096 or half "
        "the RAM, whichever is less)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="abort the whole run, keeping partial results, after this many "
        "seconds (default 900, --quick 120)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown report path; the JSON twin goes next to it "
        f"(default {DEFAULT_OUTPUT.relative_to(REPO_ROOT)})",
    )
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, smoke: Any) -> Any:
        return value if value is not None else (smoke if quick else full)

    args.rounds = pick(args.rounds, 5, 1)
    args.duration = pick(args.duration, 1.0, 0.25)
    args.transfer_mib = pick(args.transfer_mib, 32.0, 1.0)
    args.memory_mib = pick(args.memory_mib, 256.0, 4.0)
    args.memory_timeout = pick(args.memory_timeout, 40.0, 20.0)
    args.timeout = pick(args.timeout, 900.0, 120.0)
    if args.memory_cap_mib is None:
        total = total_memory_mib()
        args.memory_cap_mib = min(4096, total // 2) if total else 4096
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds must be >= 1 and --duration > 0")
    if args.transfer_mib <= 0 or args.memory_mib <= 0:
        parser.error("transfer sizes must be > 0")
    args.scenario = [s for s in SCENARIOS if s in (args.scenario or SCENARIOS)]
    return args


def _child_main(argv: Sequence[str]) -> int:
    kind, *rest = argv
    if kind == "serve":
        child_serve(rest[0], rest[1])
    elif kind == "memory":
        child_memory(rest[0], rest[1], rest[2], int(rest[3]), rest[4])
    else:
        raise SystemExit(f"unknown child {kind!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child"]:
        return _child_main(argv[1:])
    args = parse_args(argv)
    settings = Settings(
        quick=args.quick,
        rounds=args.rounds,
        duration=args.duration,
        transfer_size=int(args.transfer_mib * MiB),
        transfer_timeout=60.0 if not args.quick else 20.0,
        memory_size=int(args.memory_mib * MiB),
        memory_timeout=args.memory_timeout,
        memory_cap_mib=args.memory_cap_mib,
    )
    scenarios: list[str] = args.scenario
    backends = available_backends()
    env = environment(settings, [sys.argv[0], *argv])
    results = Results()
    apps = AppCache()
    output: Path = args.output
    workdir = Path(tempfile.mkdtemp(prefix="bench_wsgi_"))

    def run_scenarios() -> None:
        for scenario in scenarios:
            if scenario in IN_PROCESS:
                run_in_process(scenario, settings, backends, results, apps)
            elif scenario == "loopback":
                run_loopback(settings, backends, results, apps, workdir)
            else:
                run_memory(settings, backends, results, apps, workdir)
            # Keep what we have if the session is cut off.
            write_report(output, env, settings, results, backends, scenarios)

    def mark_hung() -> str:
        if results.current is None:
            return "?"
        cell = results.cell(*results.current)
        if cell.status is None:
            cell.status = "error: hung: run timed out here"
        return " ".join(results.current)

    return runner.run(
        "bench_wsgi",
        run_scenarios,
        timeout=args.timeout,
        write_report=lambda aborted: write_report(
            output, env, settings, results, backends, scenarios, aborted
        ),
        mark_hung=mark_hung,
        env=env,
        output=output,
        cleanup=lambda: shutil.rmtree(workdir, ignore_errors=True),
    )
