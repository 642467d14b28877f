"""``python benchmarks/bench_asgi_wsgi.py``: the options, and a run start to end.

The same script, started as ``bench_asgi_wsgi.py --child KIND ...``, is the
gunicorn server (``serve``), the Python load generator (``load``) and the
thread-count process (``threads``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import REPO_ROOT, RESULTS_DIR, runner
from ..report import MiB
from .load import child_load, wrk_version
from .measure import Adapters, child_threads, run_memory, run_served, run_threads
from .model import SCENARIOS, Results, Settings
from .render import environment, write_report
from .servers import child_serve

DESCRIPTION = (
    "ASGI apps under gunicorn (gthread): anyio_bridge's AsgiToWsgi (asyncio, "
    "trio) against a2wsgi's ASGIMiddleware: throughput, transfers, memory, threads."
)
DEFAULT_OUTPUT = RESULTS_DIR / "asgi_wsgi.md"
PYTHON_LOAD = "python (asyncio keep-alive HTTP/1.1 client in a subprocess)"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 60 s): 1 round, 1 s windows, 4 MiB transfers, "
        "16 MiB memory runs",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeat for several; default: all)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of throughput and transfers (default 7, --quick 1)",
    )
    parser.add_argument(
        "--duration",
        type=int,
        help="whole seconds of each throughput window (default 3, --quick 1)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help="seconds of untimed load per server and path first (default 1, --quick 1)",
    )
    parser.add_argument(
        "--load-generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="throughput load: wrk, the Python client, or wrk if installed "
        "(default auto)",
    )
    parser.add_argument(
        "--transfer-mib",
        type=float,
        help="upload/download size in MiB (default 32, --quick 4)",
    )
    parser.add_argument(
        "--memory-mib",
        type=float,
        help="memory-scenario transfer size in MiB (default 256, --quick 16)",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=100,
        help="adapters built in the threads scenario (default 100)",
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

    args.rounds = pick(args.rounds, 7, 1)
    args.duration = pick(args.duration, 3, 1)
    args.warmup = pick(args.warmup, 1, 1)
    args.transfer_mib = pick(args.transfer_mib, 32.0, 4.0)
    args.memory_mib = pick(args.memory_mib, 256.0, 16.0)
    args.timeout = pick(args.timeout, 900.0, 120.0)
    if args.rounds < 1 or args.duration < 1 or args.warmup < 1:
        parser.error("--rounds, --duration and --warmup must be >= 1")
    if args.transfer_mib <= 0 or args.memory_mib <= 0:
        parser.error("transfer sizes must be > 0")
    if args.instances < 2:
        parser.error("--instances must be >= 2")
    args.scenario = [s for s in SCENARIOS if s in (args.scenario or SCENARIOS)]
    return args


def _load_generator(choice: str) -> tuple[str, str]:
    """The load generator to use and how the report names it."""
    version = wrk_version()
    if choice == "python" or (choice == "auto" and version is None):
        why = "" if choice == "python" or version else "; wrk is not installed"
        return "python", PYTHON_LOAD + why
    if version is None:
        raise SystemExit("--load-generator wrk: wrk is not installed")
    return "wrk", f"{version} (`wrk -t1 -c N -d S --latency`)"


def _child_main(argv: Sequence[str]) -> int:
    kind, *rest = argv
    if kind == "serve":
        child_serve(rest[0], rest[1])
    elif kind == "load":
        child_load(rest[0], rest[1], rest[2], rest[3])
    elif kind == "threads":
        child_threads(rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown child {kind!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child"]:
        return _child_main(argv[1:])
    args = parse_args(argv)
    generator, generator_text = _load_generator(args.load_generator)
    settings = Settings(
        quick=args.quick,
        rounds=args.rounds,
        duration=args.duration,
        warmup=args.warmup,
        load_generator=generator,
        load_generator_text=generator_text,
        transfer_size=int(args.transfer_mib * MiB),
        transfer_timeout=60.0 if not args.quick else 20.0,
        memory_size=int(args.memory_mib * MiB),
        memory_timeout=120.0 if not args.quick else 30.0,
        instances=args.instances,
    )
    scenarios: list[str] = args.scenario
    env = environment(settings, [sys.argv[0], *argv])
    results = Results()
    adapters = Adapters()
    output: Path = args.output
    workdir = Path(tempfile.mkdtemp(prefix="bench_asgi_wsgi_"))

    def run_scenarios() -> None:
        run_served(settings, scenarios, results, adapters, workdir)
        write_report(output, env, settings, results, scenarios)
        if "memory" in scenarios:
            run_memory(settings, results, adapters, workdir)
            write_report(output, env, settings, results, scenarios)
        if "threads" in scenarios:
            run_threads(settings, results, adapters)

    def mark_hung() -> str:
        if results.current is None:
            return "?"
        cell = results.cell(*results.current)
        if cell.status is None:
            cell.status = "error: hung: run timed out here"
        return " ".join(results.current)

    return runner.run(
        "bench_asgi_wsgi",
        run_scenarios,
        timeout=args.timeout,
        write_report=lambda aborted: write_report(
            output, env, settings, results, scenarios, aborted
        ),
        mark_hung=mark_hung,
        env=env,
        output=output,
        cleanup=lambda: shutil.rmtree(workdir, ignore_errors=True),
    )
