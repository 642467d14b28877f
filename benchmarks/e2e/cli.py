"""``python benchmarks/bench_e2e.py``: the options, and a run start to end.

Without ``wrk`` on PATH the run is skipped: it says how to install it
(``apt-get install -y wrk``) and writes nothing.  ``--profile SERVER:METRIC``
does not measure: it loads one server and records it with py-spy
(:mod:`.profile`).
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
from . import measure
from .load import INSTALL_WRK, WRK_THREADS, wrk_version
from .model import METRICS, Results, Settings, progress
from .render import environment, write_report
from .servers import SERVER_BY_KEY, SERVERS, Server

DESCRIPTION = (
    "End to end over loopback: wrk against anyio-bridge serve (asyncio, trio), "
    "gunicorn gthread, uvicorn --interface wsgi, granian's WSGI and WsgiToAsgi "
    "under uvicorn, serving Flask; raw ASGI hello on hypercorn and uvicorn."
)
DEFAULT_OUTPUT = RESULTS_DIR / "e2e.md"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 90 s): 2 rounds, 1 s windows, 1 s warm-up",
    )
    parser.add_argument(
        "--server",
        action="append",
        choices=list(SERVER_BY_KEY),
        help="measure only this server (repeat for several; default: all)",
    )
    parser.add_argument(
        "--metric",
        action="append",
        choices=list(METRICS),
        help="measure only this metric (repeat for several; default: all)",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of load windows (default 5, --quick 2)"
    )
    parser.add_argument(
        "--duration",
        type=int,
        help="whole seconds of each load window (default 3, --quick 1)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help="seconds of untimed load per server and path first (default 2, --quick 1)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="abort the whole run, keeping partial results, after this many "
        "seconds (default 720, --quick 150)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown report path; the JSON twin goes next to it "
        f"(default {DEFAULT_OUTPUT.relative_to(REPO_ROOT)})",
    )
    parser.add_argument(
        "--profile",
        metavar="SERVER:METRIC",
        help="instead of measuring: load SERVER with METRIC's path and record "
        "its busiest process with py-spy (--gil), then print a summary",
    )
    parser.add_argument(
        "--profile-seconds",
        type=int,
        default=5,
        help="seconds py-spy records (default 5)",
    )
    parser.add_argument(
        "--profile-all-threads",
        action="store_true",
        help="record every thread's samples, not only those holding the GIL",
    )
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, smoke: Any) -> Any:
        return value if value is not None else (smoke if quick else full)

    args.rounds = pick(args.rounds, 5, 2)
    args.duration = pick(args.duration, 3, 1)
    args.warmup = pick(args.warmup, 2, 1)
    args.timeout = pick(args.timeout, 720.0, 150.0)
    if args.rounds < 1 or args.duration < 1 or args.warmup < 1:
        parser.error("--rounds, --duration and --warmup must be >= 1")
    if args.profile is not None:
        server, _, metric = args.profile.partition(":")
        if server not in SERVER_BY_KEY or metric not in METRICS:
            parser.error(
                f"--profile SERVER:METRIC, SERVER one of {', '.join(SERVER_BY_KEY)}; "
                f"METRIC one of {', '.join(METRICS)}"
            )
        args.profile = (server, metric)
    args.server = [s for s in SERVERS if s.key in (args.server or SERVER_BY_KEY)]
    args.metric = [m for m in METRICS if m in (args.metric or METRICS)]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    version = wrk_version()
    if version is None:
        print(
            "bench_e2e: skipped: wrk is not installed (it is the load "
            f"generator); install it with `{INSTALL_WRK}` (Debian/Ubuntu) and "
            "run again. Nothing was written.",
            file=sys.stderr,
        )
        return 0
    settings = Settings(
        quick=args.quick,
        rounds=args.rounds,
        duration=args.duration,
        warmup=args.warmup,
        load_generator_text=f"{version} (`wrk -t{WRK_THREADS} -c N -d S --latency "
        "-s check.lua`)",
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    if args.profile is not None:
        from .profile import profile

        try:
            server_key, metric = args.profile
            return profile(
                server_key,
                metric,
                settings,
                workdir,
                seconds=args.profile_seconds,
                gil=not args.profile_all_threads,
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    metrics: list[str] = args.metric
    env = environment(settings, [sys.argv[0], *argv], args.server)
    results = Results()
    output: Path = args.output
    running: list[Server] = []

    def run() -> None:
        measure.run(args.server, metrics, settings, results, workdir, running)

    def cleanup() -> None:
        for server in running:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def mark_hung() -> str:
        if results.current is None:
            return "?"
        cell = results.cell(*results.current)
        if cell.status is None:
            cell.status = "error: hung: run timed out here"
        return " ".join(results.current)

    progress(
        f"{len(args.server)} servers, {len(metrics)} metrics, {settings.rounds} "
        f"rounds of {settings.duration} s windows"
    )
    return runner.run(
        "bench_e2e",
        run,
        timeout=args.timeout,
        write_report=lambda aborted: write_report(
            output, env, settings, results, metrics, aborted
        ),
        mark_hung=mark_hung,
        env=env,
        output=output,
        cleanup=cleanup,
    )
