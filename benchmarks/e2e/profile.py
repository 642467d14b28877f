"""``--profile SERVER:METRIC``: where a loaded server's time goes (py-spy).

Starts the one server, warms it up, puts it under wrk's load (64
connections) and meanwhile records its busiest process with ``py-spy record
-d S -r 250 -f raw --threads --gil`` (only the samples of the thread that
holds the GIL, unless ``--profile-all-threads``).  Then prints:

* how much of the sampled time had a thread holding the GIL, and the
  samples per kind of thread (the event loop's, the WSGI threads);
* per kind of thread, self time by package: the package of the innermost
  frame of a sample (``anyio_bridge._wsgi`` is the adapter's own code);
* on the event loop thread, the share of samples inside the adapter's
  request handling (a frame of ``anyio_bridge._wsgi`` on the stack, whatever
  runs below it: hypercorn's ``send`` too);
* the innermost functions with the most samples.

The raw file is kept (its path is printed) for a flame graph.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .apps import PATHS
from .load import GRACE_S, WRK_THREADS, write_script, wrk_path
from .measure import warm_up
from .model import METRICS, Settings, progress
from .servers import SERVER_BY_KEY, Server, ServerError

RATE = 250
#: frames of the event loop's scheduler: what is above them is a callback
_SCHEDULERS = (
    ("unrolled_run", "trio/_core/_run.py"),
    ("Handle._run", "asyncio/events.py"),
    ("_run", "asyncio/events.py"),
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _module(path: str) -> str:
    """A frame's file as a package name (``anyio_bridge._wsgi``, ``trio``)."""
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                path = path.split("/", 1)[1] if "/" in path else path
    if path.startswith("<frozen "):
        return path.strip("<>").split()[1]
    parts = path.removesuffix(".py").split("/")
    if parts[0] == "anyio_bridge" and len(parts) > 2:
        return ".".join(parts[:2])
    return parts[0] or path


def _frame(text: str) -> tuple[str, str]:
    match = _FRAME.match(text)
    if match is None:
        return text, "?"
    return match["function"], match["file"]


def _thread_kind(name: str) -> str:
    return re.sub(r"\d+", "N", name.strip())


def summarize(raw: Path, seconds: float, *, gil: bool = True, top: int = 20) -> str:
    """A text summary of py-spy's raw (collapsed stacks) output.

    *gil*: recorded with ``--gil`` (only the thread holding the GIL).
    """
    threads: Counter[str] = Counter()
    self_package: dict[str, Counter[str]] = {}
    leaves: Counter[str] = Counter()
    total = loop_samples = in_adapter = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        head, *frames = stack.split(";")
        kind = _thread_kind(head.split(":", 1)[1] if ":" in head else head)
        threads[kind] += count
        if not frames:
            continue
        parsed = [_frame(frame) for frame in frames]
        function, file = parsed[-1]
        self_package.setdefault(kind, Counter())[_module(file)] += count
        leaves[f"{function} ({file})"] += count
        if any(
            func == f and path.endswith(p)
            for func, path in parsed
            for f, p in _SCHEDULERS
        ):
            loop_samples += count
            if any(_module(path) == "anyio_bridge._wsgi" for _, path in parsed):
                in_adapter += count
    if not total:
        return "no samples"

    def share(counter: Counter[str], whole: int, limit: int) -> list[str]:
        return [
            f"  {count / whole * 100:5.1f} %  {name}"
            for name, count in counter.most_common(limit)
        ]

    possible = seconds * RATE
    if gil:
        held = f"{total / possible * 100:.0f} % of the time a thread held the GIL"
    else:
        held = "every thread, idle ones too"
    lines = [
        f"{total} samples, {possible:.0f} sampling ticks ({held})",
        "threads (share of samples):",
        *share(threads, total, 6),
    ]
    for kind, counter in sorted(self_package.items(), key=lambda i: -threads[i[0]]):
        lines += [f"self time by package, {kind} ({threads[kind]} samples):"]
        lines += share(counter, threads[kind], 10)
    if loop_samples:
        lines += [
            f"event loop thread inside the adapter's request handling "
            f"(anyio_bridge._wsgi on the stack): {in_adapter / loop_samples * 100:.0f} "
            "% of its samples"
        ]
    lines += [f"top {top} innermost functions:", *share(leaves, total, top)]
    return "\n".join(lines)


def profile(
    server_key: str,
    metric: str,
    settings: Settings,
    workdir: Path,
    *,
    seconds: int,
    gil: bool,
) -> int:
    """Record one server under load and print the summary; exit status."""
    py_spy = shutil.which("py-spy")
    wrk = wrk_path()
    if py_spy is None or wrk is None:
        missing = "py-spy (pip install py-spy)" if py_spy is None else "wrk"
        print(f"bench_e2e: --profile needs {missing}", file=sys.stderr)
        return 1
    spec = SERVER_BY_KEY[server_key]
    path = METRICS[metric].path
    if path not in spec.paths:
        print(f"bench_e2e: {server_key} does not serve {path}", file=sys.stderr)
        return 1
    size, body = PATHS[path]
    script = write_script(workdir, path.strip("/"), size, body)
    server = Server(spec, workdir)
    try:
        server.wait_ready()
        warm_up([server], [metric], {path: script}, settings)
        pid = server.busiest_pid()
        raw = Path(f"/tmp/bench_e2e-{server_key}-{metric}.txt")
        load_seconds = seconds + 3
        load = subprocess.Popen(
            [
                wrk,
                f"-t{WRK_THREADS}",
                f"-c{settings.connections}",
                f"-d{load_seconds}s",
                "-s",
                str(script),
                f"http://127.0.0.1:{server.port}{path}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(1.5)
        progress(f"py-spy: {seconds} s of pid {pid} ({spec.label}) under {path}")
        command = [
            py_spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(seconds),
            "-r",
            str(RATE),
            "-f",
            "raw",
            "--threads",
            *(["--gil"] if gil else []),
            "-o",
            str(raw),
        ]
        spy = subprocess.run(command, capture_output=True, text=True, check=False)
        output, _ = load.communicate(timeout=load_seconds + GRACE_S)
        rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
        sampled = "the GIL holder" if gil else "all threads"
        print(f"# profile: {spec.label}, {path}, {sampled}")
        print(f"wrk: {rate[1] if rate else '?'} req/s over {load_seconds} s")
        if spy.returncode != 0 or not raw.exists():
            print(f"py-spy failed: {spy.stderr.strip()[-300:]}")
            return 1
        print(f"raw stacks: {raw}")
        print(summarize(raw, seconds, gil=gil))
    except ServerError as exc:
        print(f"bench_e2e: {spec.key}: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    return 0
