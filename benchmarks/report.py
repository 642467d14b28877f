"""What both benchmarks report alike: environment, ratios, targets, files.

* :func:`environment` and :func:`header`: the machine, the versions and the
  command line, as a JSON object and as the head of the Markdown report;
* :func:`describe`: an exception as the text of an ``error: ...`` cell;
* :func:`paired_ratio`: a ratio taken round by round, with its IQR;
* :func:`verdict` and :func:`limit_text`: a target's result and its limit;
* :func:`table`, :func:`targets_section` and :func:`write`: Markdown tables,
  the Targets section, and the report written with its JSON twin.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


# ------------------------------------------------------------------ environment


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def bridge_version() -> str:
    """The version of the ``anyio_bridge`` that is imported (the checkout's)."""
    try:
        module = importlib.import_module("anyio_bridge._version")
    except Exception as exc:
        return f"unavailable ({type(exc).__name__}: {exc})"
    return str(getattr(module, "__version__", "unknown"))


def total_memory_mib() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MiB)
    except (ValueError, OSError, AttributeError):
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(
    argv: Sequence[str],
    dists: Sequence[str],
    settings: Mapping[str, Any],
    *,
    machine: bool = False,
) -> dict[str, Any]:
    """The ``environment`` object of a report.

    *dists* are the distributions whose versions are listed (anyio_bridge's
    own comes last); *settings* go between the versions and the command line.
    With *machine*, the CPU model and the RAM are recorded too.
    """
    env: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
    }
    if machine:
        env["cpu"] = cpu_model()
    env["cpus"] = os.cpu_count()
    if machine:
        env["memory_mib"] = total_memory_mib()
    env["versions"] = {dist: version(dist) for dist in dists} | {
        "anyio_bridge": bridge_version()
    }
    return env | dict(settings) | {"command": " ".join(["python", *argv])}


def header(
    title: str,
    env: Mapping[str, Any],
    before_command: Sequence[str],
    after_command: Sequence[str],
    intro: str,
    aborted: str | None,
) -> list[str]:
    """The head of a report: title, environment list, intro, abort notice.

    *before_command* and *after_command* are extra list items (settings).
    """
    python = f"- python: {env['python']} on {env['platform']}"
    if "cpu" in env:
        memory = f", {env['memory_mib']:,} MiB RAM" if env.get("memory_mib") else ""
        machine = [python, f"- machine: {env['cpu']}, {env['cpus']} CPUs{memory}"]
    else:
        machine = [f"{python} ({env['cpus']} CPUs)"]
    versions = ", ".join(f"{name} {v}" for name, v in env["versions"].items())
    lines = [
        f"# {title}",
        "",
        f"- date: {env['date']}",
        *machine,
        f"- versions: {versions}",
        *(f"- {item}" for item in before_command),
        f"- command: `{env['command']}`",
        *(f"- {item}" for item in after_command),
        "",
        intro,
        "",
    ]
    if aborted:
        lines += [f"**Run aborted: {aborted}. Results below are partial.**", ""]
    return lines


# ----------------------------------------------------------------- errors


def describe(exc: BaseException, *, first_leaf: bool = False) -> str:
    """*exc* in one line of at most 120 characters, for an ``error: ...`` cell.

    With *first_leaf*, an exception group is described by its first leaf.
    """
    while first_leaf and getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# ------------------------------------------------------------ ratios, targets


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def paired_ratio(
    numerator: Mapping[int, float], denominator: Mapping[int, float], pooled: float
) -> tuple[float, tuple[float, float] | None]:
    """Median over rounds of (numerator / denominator) and the IQR of those.

    Both map round number -> the value measured in that round.  The two
    sides of one round ran within seconds of each other, mostly on the same
    event loop and threads, so comparing round by round cancels slow drift.
    With no round measured on both sides, *pooled* (the ratio of the overall
    medians) stands in, without an IQR.
    """
    ratios = [
        value / denominator[round_no]
        for round_no, value in numerator.items()
        if denominator.get(round_no)
    ]
    if not ratios:
        return pooled, None
    return statistics.median(ratios), quartiles(ratios)


def verdict(
    value: float | None,
    limit: float | None,
    *,
    at_least: bool = False,
    miss: str = "FAIL",
) -> str:
    """``PASS`` when *value* is within *limit* (<=, or >= with *at_least*),
    else *miss*; ``info`` for a target without a limit, ``n/a`` for no value."""
    if value is None:
        return "n/a"
    if limit is None:
        return "info"
    within = value >= limit if at_least else value <= limit
    return "PASS" if within else miss


def limit_text(limit: float | None, *, at_least: bool = False, none: str = "—") -> str:
    if limit is None:
        return none
    return f"{'>=' if at_least else '<='} {limit:g}"


def spread_text(spread: tuple[float, float] | None) -> str:
    return "—" if spread is None else "{:.2f}..{:.2f}".format(*spread)


def rounded(value: float | None) -> float | None:
    """A ratio as the JSON keeps it."""
    return None if value is None else round(value, 4)


def spread_json(spread: tuple[float, float] | None) -> list[float] | None:
    return None if spread is None else [round(value, 4) for value in spread]


# ------------------------------------------------------------ Markdown, files


def escape(text: str) -> str:
    """*text* as one Markdown table cell."""
    return text.replace("|", "\\|")


def _table_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(
    header: Sequence[str], align: str, rows: Iterable[Sequence[str]]
) -> list[str]:
    """A Markdown table; *align* has a letter a column, ``l`` or ``r``."""
    rule = ["---:" if side == "r" else "---" for side in align]
    return [_table_row(header), _table_row(rule), *map(_table_row, rows)]


def targets_section(
    explanation: str, header: Sequence[str], align: str, rows: Iterable[Sequence[str]]
) -> list[str]:
    return ["## Targets", "", explanation, "", *table(header, align, rows), ""]


def write(output: Path, markdown: str, document: Mapping[str, Any]) -> None:
    """Write the Markdown report to *output* and its JSON twin next to it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown, encoding="utf-8")
    output.with_suffix(".json").write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
