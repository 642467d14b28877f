"""Draw the benchmark results as SVG charts: ``python benchmarks/charts.py``.

Reads every ``benchmarks/results/*.json`` that a benchmark wrote and writes, to
``docs/charts/``:

* for a sync bridge report (``sync*.json``, one per thread placement): its
  ratios against their targets (``<stem>-targets.svg``) and the median µs per
  call of every row (``<stem>-calls.svg``); from all of them together, the
  tracked targets in every placement side by side
  (``sync-targets-by-placement.svg``);
* for a report made of cells (``wsgi.json``, ``asgi_wsgi.json``, ``e2e.json``
  and any other with the same structure): its ratio targets
  (``<stem>-targets.svg``) and one chart per metric, the median of every
  adapter or server (``<stem>-<metric>.svg``);
* ``summary.md``: one Markdown table of every target that has a limit, with
  its verdict, which ``docs/benchmarks.md`` includes.

A JSON file of another structure is skipped with a note.  Every file written
carries a stamp (``anyio-bridge-chart chart-version=N source=NAME
source-sha256=HEX ...``): the version of this script's drawing and the SHA-256
of each JSON it was made from.  :func:`check` compares those stamps with the
JSON files present, and the MkDocs hook ``docs/hooks/charts_check.py`` fails
the docs build when a chart is missing or stale.  Hashes, not mtimes: a git
checkout does not keep mtimes.

Only the standard library is used, and the output depends on nothing but the
JSON (no dates, no randomness), so running the script twice writes the same
bytes.  ``--check`` only checks, and exits with 1 when something is stale.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

#: Bump when the drawing changes, so the committed charts count as stale.
CHART_VERSION = 1

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
CHARTS_DIR = REPO_ROOT / "docs" / "charts"
SUMMARY_NAME = "summary.md"
COMMAND = "python benchmarks/charts.py"

STAMP_MARK = "anyio-bridge-chart"
_STAMP_RE = re.compile(
    STAMP_MARK + r" chart-version=(?P<version>\d+)"
    r"(?P<sources>(?: source=\S+ source-sha256=[0-9a-f]{64})*)"
)
_SOURCE_RE = re.compile(r"source=(\S+) source-sha256=([0-9a-f]{64})")

JSONDoc = Mapping[str, Any]


# ----------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """One results JSON file: its name, its hash and what it holds."""

    path: Path
    sha256: str
    doc: JSONDoc
    #: "sync", "cells", or None for a structure this script does not know
    kind: str | None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def stem(self) -> str:
        return self.path.stem


def file_sha256(path: Path) -> str:
    """The SHA-256 of *path*, line endings normalised (a CRLF checkout too)."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def _is_dict_list(value: object, keys: Iterable[str]) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and all(key in item for key in keys) for item in value
    )


def kind_of(doc: object) -> str | None:
    """Which chart builder knows *doc*: ``"sync"``, ``"cells"`` or None."""
    if not isinstance(doc, dict) or not _is_dict_list(
        doc.get("targets"), ("name", "result", "limit")
    ):
        return None
    if _is_dict_list(doc.get("rows"), ("key", "backend", "median_us")) and all(
        "ratio" in target for target in doc["targets"]
    ):
        return "sync"
    if _is_dict_list(doc.get("cells"), ("metric", "unit", "adapter")) and all(
        "value" in target for target in doc["targets"]
    ):
        return "cells"
    return None


def load_sources(results_dir: Path) -> list[Source]:
    """Every ``*.json`` in *results_dir*, sorted by name.

    A file that is not valid JSON raises ``ValueError`` naming it.
    """
    sources = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        sources.append(Source(path, file_sha256(path), doc, kind_of(doc)))
    return sources


# -------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Output:
    """One file this script writes: its name, its sources, how to make it."""

    name: str
    sources: tuple[Source, ...]
    render: Callable[[], str] = field(compare=False)


def plan(sources: Sequence[Source]) -> tuple[list[Output], list[str]]:
    """The files to write for *sources*, and a note for each skipped source.

    The docs hook derives the expected charts from this, so what the script
    writes and what the build expects never disagree.
    """
    outputs: list[Output] = []
    notes: list[str] = []
    sync_sources = sorted(
        (source for source in sources if source.kind == "sync"), key=_placement_order
    )
    known = [source for source in sources if source.kind is not None]
    for source in sources:
        if source.kind is None:
            notes.append(
                f"{source.name}: skipped, not a structure charts.py knows "
                "(neither sync rows nor cells, with targets)"
            )
        elif source.kind == "sync":
            outputs += _sync_outputs(source)
        else:
            outputs += _cells_outputs(source)
    if sync_sources:
        outputs.append(
            Output(
                "sync-targets-by-placement.svg",
                tuple(sync_sources),
                lambda: sync_by_placement_chart(sync_sources),
            )
        )
    if known:
        outputs.append(
            Output(SUMMARY_NAME, tuple(known), lambda: summary_markdown(known))
        )
    names = [output.name for output in outputs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"two charts would be named {', '.join(duplicates)}")
    return outputs, notes


# ------------------------------------------------------------------ labels

#: Titles of the benchmarks, by the stem of their JSON file.
BENCHMARK_TITLES = {
    "sync": "Sync bridges",
    "wsgi": "WsgiToAsgi",
    "asgi_wsgi": "AsgiToWsgi under gunicorn",
    "e2e": "End to end over loopback",
}

PLACEMENTS = {"free": "free", "one-cpu": "one CPU", "two-cpus": "two CPUs"}

#: Short names of the sync benchmark's rows (the report's are long).
SYNC_ROW_LABELS = {
    "raw_to_thread": "anyio to_thread.run_sync",
    "bridge_s2a_ts": "anyio-bridge sync_to_async, thread-sensitive",
    "bridge_s2a_nts": "anyio-bridge sync_to_async, thread_sensitive=False",
    "asgiref_s2a_ts": "asgiref sync_to_async, thread-sensitive",
    "asgiref_s2a_nts": "asgiref sync_to_async, thread_sensitive=False",
    "asyncer_asyncify": "asyncer asyncify",
    "bare_thread": "reference: bare dedicated thread",
    "raw_to_thread_control": "noise control: to_thread.run_sync again",
    "raw_from_thread": "anyio from_thread.run",
    "bridge_a2s_worker": "anyio-bridge async_to_sync",
    "asgiref_a2s_worker": "asgiref async_to_sync",
    "asyncer_syncify_worker": "asyncer syncify",
    "raw_anyio_run": "anyio.run per call",
    "asgiref_a2s_top": "asgiref async_to_sync",
    "bridge_a2s_top": "anyio-bridge async_to_sync",
}

#: Names of adapters and servers, by benchmark stem, then key.
ADAPTER_LABELS: dict[str, dict[str, str]] = {
    "wsgi": {
        "anyio_bridge": "anyio-bridge WsgiToAsgi",
        "asgiref": "asgiref WsgiToAsgi",
        "a2wsgi": "a2wsgi WSGIMiddleware",
        "hypercorn": "hypercorn WSGIWrapper",
        "starlette": "starlette WSGIMiddleware",
    },
    "asgi_wsgi": {
        "ours-asyncio": "anyio-bridge AsgiToWsgi (asyncio)",
        "ours-trio": "anyio-bridge AsgiToWsgi (trio)",
        "a2wsgi": "a2wsgi ASGIMiddleware (asyncio)",
        "wsgi": "reference: a plain WSGI app",
    },
}

#: Titles of the metrics, by benchmark stem, then metric key.
METRIC_TITLES: dict[str, dict[str, str]] = {
    "wsgi": {
        "hello": "hello world, 32 concurrent, in-process",
        "sleep": "app blocking 20 ms, 64 concurrent, in-process",
        "download": "32 MiB download, in-process",
        "upload": "32 MiB upload, in-process",
        "loopback": "hello world through hypercorn, 16 connections",
        "mem_upload": "256 MiB upload, peak RSS growth",
        "mem_download": "256 MiB download, peak RSS growth",
    },
    "asgi_wsgi": {
        "hello": "hello world, 64 connections",
        "sleep": "await anyio.sleep(0.02), 64 connections",
        "upload": "32 MiB upload",
        "download": "32 MiB download",
        "rss_upload": "256 MiB upload, worker RSS growth",
        "rss_download": "256 MiB download, worker RSS growth",
        "threads": "threads added by 99 more adapters",
    },
}


def benchmark_title(stem: str) -> str:
    if stem in BENCHMARK_TITLES:
        return BENCHMARK_TITLES[stem]
    if stem.startswith("sync"):
        return BENCHMARK_TITLES["sync"]
    return stem.replace("_", " ")


def placement_of(source: Source) -> str:
    env = source.doc.get("environment")
    placement = env.get("placement") if isinstance(env, dict) else None
    if isinstance(placement, str):
        return PLACEMENTS.get(placement, placement)
    return source.stem


def _placement_order(source: Source) -> tuple[int, str]:
    env = source.doc.get("environment")
    placement = env.get("placement") if isinstance(env, dict) else None
    order = list(PLACEMENTS)
    return (order.index(placement) if placement in order else len(order), source.name)


def adapter_label(stem: str, cell: Mapping[str, Any]) -> str:
    key = str(cell["adapter"])
    if isinstance(cell.get("label"), str):
        return _plain(cell["label"])
    return ADAPTER_LABELS.get(stem, {}).get(key, key)


def adapter_role(cell: Mapping[str, Any]) -> str:
    """``ours``, ``peer`` or ``ref`` (a reference that is no adapter).

    A report may say so (``ours``, ``reference``; ``interface: "asgi"`` is a
    raw ASGI app, a server's own ceiling); otherwise the key tells.
    """
    if cell.get("reference") is True or cell.get("interface") == "asgi":
        return "ref"
    if isinstance(cell.get("ours"), bool):
        return "ours" if cell["ours"] else "peer"
    key = str(cell["adapter"]).lower()
    if key in ("wsgi", "reference") or key.startswith(("reference", "raw")):
        return "ref"
    if key.startswith("ours") or "anyio" in key or "bridge" in key:
        return "ours"
    return "peer"


def sync_row_role(key: str) -> str:
    if key.startswith("bridge_"):
        return "ours"
    if key in ("bare_thread", "raw_to_thread_control"):
        return "ref"
    return "peer"


def _plain(text: str) -> str:
    """*text* without Markdown backticks, arrows drawn as arrows."""
    return text.replace("`", "").replace("->", "→")


# -------------------------------------------------------------- the model


@dataclass(frozen=True)
class Bar:
    """One bar: a value, or a status text in place of the bar."""

    value: float | None
    text: str
    #: CSS class of the bar: pass, miss, info, ours, peer, ref
    style: str
    tag: str | None = None
    limit: float | None = None
    spread: tuple[float, float] | None = None


@dataclass(frozen=True)
class Row:
    label: str
    bars: tuple[Bar, ...]
    #: a second label line (the limit shared by the row's bars)
    note: str | None = None


@dataclass(frozen=True)
class Group:
    title: str | None
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Chart:
    title: str
    subtitle: str
    axis_label: str
    groups: tuple[Group, ...]
    #: (CSS class, text) pairs; class "limit" and "iqr" draw lines
    legend: tuple[tuple[str, str], ...]
    value_format: Callable[[float], str]
    sources: tuple[Source, ...]
    desc_intro: str


# ---------------------------------------------------------------- targets


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def target_value(target: Mapping[str, Any]) -> float | None:
    return _number(target.get("ratio", target.get("value")))


def target_at_least(target: Mapping[str, Any]) -> bool:
    """Whether the limit is a floor; old reports do not say, so infer it."""
    if isinstance(target.get("at_least"), bool):
        return bool(target["at_least"])
    value, limit = target_value(target), _number(target.get("limit"))
    if value is None or limit is None or value == limit:
        return False
    return (value > limit) == (target.get("result") == "PASS")


def target_style(target: Mapping[str, Any]) -> str:
    result = target.get("result")
    if _number(target.get("limit")) is None or result in ("info", "n/a", None):
        return "info"
    return "pass" if result == "PASS" else "miss"


def limit_text(target: Mapping[str, Any]) -> str:
    limit = _number(target.get("limit"))
    if limit is None:
        return "no limit"
    return f"{'≥' if target_at_least(target) else '≤'} {limit:g}"


def target_spread(target: Mapping[str, Any]) -> tuple[float, float] | None:
    spread = target.get("rounds_iqr")
    if isinstance(spread, list) and len(spread) == 2:
        low, high = _number(spread[0]), _number(spread[1])
        if low is not None and high is not None:
            return (low, high)
    return None


def is_ratio_target(target: Mapping[str, Any]) -> bool:
    """A ratio to a peer (charted), not an absolute number (MiB, threads)."""
    if "ratio" in target:
        return True
    return bool(target.get("versus") or target.get("best_peer")) or target.get(
        "kind"
    ) in ("ratio", "cpu")


def _where(target: Mapping[str, Any]) -> str:
    backend = target.get("backend")
    if isinstance(backend, str) and backend not in ("", "-"):
        return backend
    adapter = target.get("adapter")
    if isinstance(adapter, str) and adapter.startswith("ours-"):
        return adapter.removeprefix("ours-")
    return str(adapter or "")


def _ratio(value: float) -> str:
    return f"{value:.2f}"


def _ratio_bar(target: Mapping[str, Any], tag: str | None, *, own_limit: bool) -> Bar:
    value = target_value(target)
    style = target_style(target)
    verdict = "" if style == "info" else f" {target['result']}"
    limit = _number(target.get("limit"))
    text = "n/a" if value is None else f"{_ratio(value)}{verdict}"
    if own_limit and limit is not None:
        text += f" ({limit_text(target)})"
    return Bar(value, text, style, tag, limit, target_spread(target))


def split_names(names: Sequence[str]) -> tuple[str, list[str]]:
    """One label for targets named alike, and what tells each apart.

    ``["x: asyncio / y", "x: trio / y"]`` gives ``("x: … / y", ["asyncio",
    "trio"])``; identical names give the name and empty strings.
    """
    first = names[0]
    if all(name == first for name in names):
        return first, ["" for _ in names]
    words = [re.split(r"(\s+)", name) for name in names]
    size = min(len(parts) for parts in words)
    head = 0
    while head < size and all(parts[head] == words[0][head] for parts in words):
        head += 1
    tail = 0
    while tail < size - head and all(
        parts[-1 - tail] == words[0][-1 - tail] for parts in words
    ):
        tail += 1
    prefix = "".join(words[0][:head])
    suffix = "".join(words[0][len(words[0]) - tail :])
    middles = ["".join(parts[head : len(parts) - tail]).strip() for parts in words]
    return f"{prefix}…{suffix}", middles


def _rows_of_targets(targets: Sequence[Mapping[str, Any]]) -> tuple[Row, ...]:
    """One row per target, or per metric, kind and peer: a bar per backend."""
    grouped: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for target in targets:
        key: tuple[str, ...] = (str(target["name"]),)
        if "metric" in target:
            key = (str(target["metric"]), str(target.get("kind", "")))
            if target.get("versus"):
                key += (str(target["versus"]),)
        grouped.setdefault(key, []).append(target)
    rows = []
    for members in grouped.values():
        limits = {limit_text(target) for target in members}
        shared = len(limits) == 1 and _number(members[0].get("limit")) is not None
        title, middles = split_names([str(target["name"]) for target in members])
        bars = []
        for target, middle in zip(members, middles, strict=True):
            backend = target.get("backend")
            tag = middle or (str(backend) if backend else "")
            if not tag and len(members) > 1:
                tag = _where(target)
            bars.append(_ratio_bar(target, tag or None, own_limit=not shared))
        note = f"target {limits.pop()}" if shared else None
        rows.append(Row(_plain(title), tuple(bars), note))
    return tuple(rows)


def _ratio_legend(groups: Sequence[Group]) -> tuple[tuple[str, str], ...]:
    styles = [bar.style for group in groups for row in group.rows for bar in row.bars]
    words = sorted(
        {
            bar.text.split()[1]
            for group in groups
            for row in group.rows
            for bar in row.bars
            if bar.style == "miss" and len(bar.text.split()) > 1
        }
    )
    legend: list[tuple[str, str]] = []
    if "pass" in styles:
        legend.append(("pass", "PASS"))
    if "miss" in styles:
        legend.append(("miss", " / ".join(words) or "MISS"))
    if "info" in styles:
        legend.append(("info", "no limit: for information"))
    if any(
        bar.limit is not None
        for group in groups
        for row in group.rows
        for bar in row.bars
    ):
        legend.append(("limit", "limit"))
    if any(bar.spread for group in groups for row in group.rows for bar in row.bars):
        legend.append(("iqr", "IQR over rounds"))
    return tuple(legend)


RATIO_SUBTITLE = (
    "Each bar is a ratio, the median over rounds of the two sides measured in "
    "the same round; the dashed line is the target's limit."
)


# -------------------------------------------------------------------- sync


def _sync_outputs(source: Source) -> list[Output]:
    return [
        Output(
            f"{source.stem}-targets.svg", (source,), lambda: sync_targets_chart(source)
        ),
        Output(f"{source.stem}-calls.svg", (source,), lambda: sync_calls_chart(source)),
    ]


def sync_targets_chart(source: Source) -> str:
    placement = placement_of(source)
    groups = (Group(None, _rows_of_targets(source.doc["targets"])),)
    return render_svg(
        Chart(
            title=f"Sync bridges, {placement} placement: every ratio",
            subtitle=RATIO_SUBTITLE + " Lower is better: less time per call.",
            axis_label="ratio of medians per call (lower is better)",
            groups=groups,
            legend=_ratio_legend(groups),
            value_format=_tick_ratio,
            sources=(source,),
            desc_intro=f"Ratios of the sync bridge benchmark, {placement} placement.",
        )
    )


def _us(value: float) -> str:
    return f"{value:,.1f} µs"


def sync_calls_chart(source: Source) -> str:
    placement = placement_of(source)
    sections: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for row in source.doc["rows"]:
        sections.setdefault(str(row.get("section", "")), {}).setdefault(
            str(row["key"]), []
        ).append(row)
    groups = []
    for section, by_key in sections.items():
        rows = []
        for key, members in by_key.items():
            bars = []
            for member in members:
                value = _number(member.get("median_us"))
                error = member.get("error")
                text = (
                    _us(value)
                    if value is not None and not error
                    else str(error or "no value")
                )
                bars.append(
                    Bar(
                        value if not error else None,
                        text,
                        sync_row_role(key),
                        str(member["backend"]),
                    )
                )
            label = SYNC_ROW_LABELS.get(key) or _plain(
                str(members[0].get("label", key))
            )
            rows.append(Row(label, tuple(bars)))
        groups.append(Group(_plain(section) or None, tuple(rows)))
    return render_svg(
        Chart(
            title=f"Sync bridges, {placement} placement: time per call",
            subtitle=(
                "Median µs per call over all rounds, one call at a time, the callee "
                "a no-op: pure bridging overhead. Lower is better."
            ),
            axis_label="µs per call (median, lower is better)",
            groups=tuple(groups),
            legend=(
                ("ours", "anyio-bridge"),
                ("peer", "anyio, asgiref, asyncer"),
                ("ref", "reference and noise control"),
            ),
            value_format=_tick_number,
            sources=(source,),
            desc_intro=f"Median time per call, sync bridge benchmark, {placement}.",
        )
    )


def sync_by_placement_chart(sources: Sequence[Source]) -> str:
    """The targets with a limit, one group each, a row per placement."""
    names: list[str] = []
    for source in sources:
        for target in source.doc["targets"]:
            if _number(target.get("limit")) is not None and target["name"] not in names:
                names.append(str(target["name"]))
    groups = []
    for name in names:
        rows = []
        limits = set()
        for source in sources:
            members = [t for t in source.doc["targets"] if t["name"] == name]
            limits |= {limit_text(target) for target in members}
            if members:
                bars = tuple(
                    _ratio_bar(target, str(target.get("backend")), own_limit=False)
                    for target in members
                )
                rows.append(Row(placement_of(source), bars))
        title = _plain(name) + (
            f"  (target {limits.pop()})" if len(limits) == 1 else ""
        )
        groups.append(Group(title, tuple(rows)))
    placements = ", ".join(placement_of(source) for source in sources)
    return render_svg(
        Chart(
            title="Sync bridges: the targets in every thread placement",
            subtitle=RATIO_SUBTITLE
            + " Lower is better. Placements: where the threads may run"
            " (see Method).",
            axis_label="ratio of medians per call (lower is better)",
            groups=tuple(groups),
            legend=_ratio_legend(groups),
            value_format=_tick_ratio,
            sources=tuple(sources),
            desc_intro=f"Sync bridge targets per thread placement ({placements}).",
        )
    )


# ------------------------------------------------------------------- cells


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "metric"


def _metrics(source: Source) -> list[str]:
    metrics: list[str] = []
    for cell in source.doc["cells"]:
        if cell["metric"] not in metrics:
            metrics.append(str(cell["metric"]))
    return metrics


def _cells_outputs(source: Source) -> list[Output]:
    outputs = []
    if any(is_ratio_target(target) for target in source.doc["targets"]):
        outputs.append(
            Output(
                f"{source.stem}-targets.svg",
                (source,),
                lambda: cells_targets_chart(source),
            )
        )
    outputs += [
        Output(
            f"{source.stem}-{_slug(metric)}.svg",
            (source,),
            functools.partial(cells_metric_chart, source, metric),
        )
        for metric in _metrics(source)
    ]
    return outputs


def cells_targets_chart(source: Source) -> str:
    title = benchmark_title(source.stem)
    targets = [target for target in source.doc["targets"] if is_ratio_target(target)]
    groups = (Group(None, _rows_of_targets(targets)),)
    return render_svg(
        Chart(
            title=f"{title}: ratios against the targets",
            subtitle=RATIO_SUBTITLE
            + " Req/s: higher is better; time and CPU per request: lower is"
            " better.",
            axis_label="ratio to the peer (median over rounds)",
            groups=groups,
            legend=_ratio_legend(groups),
            value_format=_tick_ratio,
            sources=(source,),
            desc_intro=f"Ratio targets of the {title} benchmark.",
        )
    )


def _metric_description(source: Source, metric: str) -> Mapping[str, Any]:
    """What the report says of *metric* (``metrics.KEY``: title, ...), if it does."""
    metrics = source.doc.get("metrics")
    described = metrics.get(metric) if isinstance(metrics, dict) else None
    return described if isinstance(described, dict) else {}


def _unit_scale(unit: str) -> tuple[str, float]:
    """How a unit is shown, and the factor from the JSON's number.

    The WSGI benchmarks keep transfer times in seconds under the unit
    ``ms`` (their reports multiply by 1000).
    """
    if unit == "ms":
        return "ms", 1000.0
    return unit, 1.0


def _format_value(value: float, unit: str) -> str:
    if unit == "threads":
        return f"{value:+,.0f} threads"
    if abs(value) >= 100 or value == int(value):
        number = f"{value:,.0f}"
    elif abs(value) >= 1:
        number = f"{value:,.1f}"
    else:
        number = f"{value:,.2f}"
    return f"{number} {unit}"


def cells_metric_chart(source: Source, metric: str) -> str:
    stem = source.stem
    cells = [cell for cell in source.doc["cells"] if cell["metric"] == metric]
    unit, factor = _unit_scale(str(cells[0]["unit"]))
    described = _metric_description(source, metric)
    higher = described.get("higher_is_better")
    if not isinstance(higher, bool):
        higher = "/s" in unit
    backends_of: dict[str, list[str]] = {}
    for cell in cells:
        backends_of.setdefault(str(cell["adapter"]), []).append(
            str(cell.get("backend"))
        )
    tagged = any(len(backends) > 1 for backends in backends_of.values())
    rows: dict[str, list[Bar]] = {}
    labels: dict[str, str] = {}
    left_out: list[str] = []
    for cell in cells:
        adapter = str(cell["adapter"])
        labels[adapter] = adapter_label(stem, cell)
        if cell.get("status") == "n/a":
            left_out.append(f"{labels[adapter]} on {cell.get('backend')}")
            continue
        value = _number(cell.get("median"))
        status = cell.get("status")
        shown = value * factor if value is not None and not status else None
        text = (
            _format_value(shown, unit)
            if shown is not None
            else str(status or "no value")
        )
        tag = str(cell.get("backend")) if tagged else None
        rows.setdefault(adapter, []).append(Bar(shown, text, adapter_role(cell), tag))
    title = benchmark_title(stem)
    metric_title = str(
        described.get("title")
        or METRIC_TITLES.get(stem, {}).get(metric, metric.replace("_", " "))
    )
    roles = {bar.style for bars in rows.values() for bar in bars}
    refs = [cell for cell in cells if adapter_role(cell) == "ref"]
    ceiling = bool(refs) and all(cell.get("interface") == "asgi" for cell in refs)
    legend = tuple(
        (role, text)
        for role, text in (
            ("ours", "anyio-bridge"),
            ("peer", "peers"),
            ("ref", "raw ASGI app: the server's ceiling" if ceiling else "reference"),
        )
        if role in roles
    )
    better = "higher" if higher else "lower"
    rounds = max((len(cell.get("values") or ()) for cell in cells), default=0)
    measured = f"median of {rounds} rounds" if rounds > 1 else "one measurement"
    return render_svg(
        Chart(
            title=f"{title}: {metric_title}",
            subtitle=f"{unit}, {measured}; {better} is better."
            + (f" Cannot run: {', '.join(left_out)}." if left_out else ""),
            axis_label=f"{unit} ({better} is better)",
            groups=(
                Group(
                    None,
                    tuple(Row(labels[key], tuple(bars)) for key, bars in rows.items()),
                ),
            ),
            legend=legend,
            value_format=_tick_number,
            sources=(source,),
            desc_intro=f"{title} benchmark, {metric_title}, in {unit}.",
        )
    )


# ----------------------------------------------------------------- summary


def _value_text(target: Mapping[str, Any]) -> str:
    value = target_value(target)
    if value is None:
        return "n/a"
    if "ratio" in target or is_ratio_target(target):
        return _ratio(value)
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _range(values: Sequence[str]) -> str:
    numbers = sorted(values, key=lambda text: float(text) if _is_float(text) else 0.0)
    if not numbers:
        return ""
    return (
        numbers[0]
        if numbers[0] == numbers[-1]
        else f"{numbers[0]}\N{EN DASH}{numbers[-1]}"
    )


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _benchmark_order(source: Source) -> tuple[int, tuple[int, str]]:
    """Sync reports first (by placement), then as BENCHMARK_TITLES lists them."""
    stems = list(BENCHMARK_TITLES)
    stem = "sync" if source.kind == "sync" else source.stem
    rank = stems.index(stem) if stem in stems else len(stems)
    return rank, _placement_order(source)


def _summary_name(name: str) -> str:
    """A target's name without its backend, to merge asyncio and trio."""
    return re.sub(r",\s*(asyncio|trio)$", "", name)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def summary_markdown(sources: Sequence[Source]) -> str:
    """One table: every target with a limit, merged over backends and placements."""
    rows: dict[tuple[str, str, str], list[tuple[str, Mapping[str, Any]]]] = {}
    for source in sorted(sources, key=_benchmark_order):
        benchmark = benchmark_title(source.stem)
        for target in source.doc["targets"]:
            if _number(target.get("limit")) is None:
                continue
            where = _where(target)
            if source.kind == "sync":
                where = f"{placement_of(source)} {where}".strip()
            key = (benchmark, _summary_name(str(target["name"])), limit_text(target))
            rows.setdefault(key, []).append((where, target))
    lines = [
        stamp_comment(sources),
        "",
        "| Benchmark | Target | Limit | Result |",
        "| --- | --- | --- | --- |",
    ]
    for (benchmark, name, limit), members in rows.items():
        misses = [(w, t) for w, t in members if target_style(t) == "miss"]
        passes = [(w, t) for w, t in members if target_style(t) == "pass"]
        if misses:
            word = "/".join(sorted({str(t["result"]) for _, t in misses}))
            result = f"**{word}**: " + ", ".join(
                f"{where if len(members) > 1 else ''} {_value_text(t)}".strip()
                for where, t in misses
            )
            if passes:
                result += (
                    f"; PASS elsewhere ({_range([_value_text(t) for _, t in passes])})"
                )
        elif passes:
            result = f"PASS ({_range([_value_text(t) for _, t in passes])})"
        else:
            result = "n/a"
        cells = (benchmark, _plain(name), limit, result)
        lines.append("| " + " | ".join(_md_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- drawing

WIDTH = 720
MARGIN = 16
FONT = (
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
)
FONT_SIZE = 12
TITLE_SIZE = 16
GROUP_SIZE = 13
#: how much wider bold text is, for the width estimates
BOLD = 1.1
LINE = 16  # a line of 12 px text
BAR_HEIGHT = 13
BAR_PITCH = 17
LABEL_MAX = 250
LABEL_MIN = 110

#: Mid-tones that keep >= 3:1 contrast on Material's white and slate pages;
#: text is darker on light pages and lighter on dark ones (the SVG follows
#: the page's colour scheme where the browser passes it on, the system's
#: otherwise), and even in the wrong scheme it keeps 3:1.
TEXT_LIGHT = "#6b6b6b"
TEXT_DARK = "#949494"
FILLS = {
    "pass": "#2e9d5a",
    "miss": "#d9480f",
    "info": "#8a8a8a",
    "ours": "#3b7dd8",
    "peer": "#8a8a8a",
}
#: the page backgrounds: Material's default and slate schemes
BACKGROUNDS = {"light": "#ffffff", "dark": "#1e2029"}

STYLE = f"""
text {{ fill: {TEXT_LIGHT}; }}
.title {{ font-size: {TITLE_SIZE}px; font-weight: 700; }}
.group {{ font-size: {GROUP_SIZE}px; font-weight: 700; }}
.status {{ font-style: italic; }}
.grid {{ stroke: {TEXT_LIGHT}; stroke-opacity: 0.3; stroke-width: 1; }}
.axis {{ stroke: {TEXT_LIGHT}; stroke-width: 1; }}
.limit {{ stroke: {TEXT_LIGHT}; stroke-width: 2; stroke-dasharray: 4 3; }}
.iqr {{ stroke: {TEXT_LIGHT}; stroke-width: 1.5; }}
.pass {{ fill: {FILLS["pass"]}; }}
.miss {{ fill: {FILLS["miss"]}; }}
.info {{ fill: {FILLS["info"]}; }}
.ours {{ fill: {FILLS["ours"]}; }}
.peer {{ fill: {FILLS["peer"]}; }}
.ref {{ fill: none; stroke: {TEXT_LIGHT}; stroke-width: 1.5; }}
@media (prefers-color-scheme: dark) {{
  text {{ fill: {TEXT_DARK}; }}
  .grid, .axis, .limit, .iqr, .ref {{ stroke: {TEXT_DARK}; }}
}}
""".strip()


def _n(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


_NARROW = set("fijlrtI.,:;!|'()[] ")
_WIDE = set("mwMW@%")


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """A generous estimate of *text*'s width in a sans-serif font."""
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 0.34
        elif char in _WIDE:
            width += 0.9
        elif char.isupper() or char.isdigit():
            width += 0.68
        else:
            width += 0.6
    return width * size


def wrap(text: str, width: float, size: float = FONT_SIZE) -> list[str]:
    """*text* in lines no wider than *width* (a long word is cut with …)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if text_width(candidate, size) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    return [_fit(line, width, size) for line in lines]


def _fit(text: str, width: float, size: float = FONT_SIZE) -> str:
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _nice_step(raw: float) -> float:
    exponent = math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * 10**exponent
        if step >= raw:
            return float(step)
    return float(10 ** (exponent + 1))  # pragma: no cover - 10 always fits


def axis_ticks(maximum: float) -> list[float]:
    """Round ticks from 0 to at least *maximum*, four to eight of them."""
    if maximum <= 0:
        maximum = 1.0
    step = _nice_step(maximum / 5)
    count = math.ceil(maximum / step - 1e-9)
    return [round(step * index, 10) for index in range(count + 1)]


def _tick_ratio(value: float) -> str:
    return f"{value:g}"


def _tick_number(value: float) -> str:
    if value >= 1000 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:g}"


class _Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(
        self, tag: str, attrs: Mapping[str, str | float], text: str | None = None
    ) -> None:
        rendered = " ".join(
            f"{key}={quoteattr(_n(value) if isinstance(value, float) else str(value))}"
            for key, value in attrs.items()
        )
        if text is None:
            self.parts.append(f"<{tag} {rendered}/>")
        else:
            self.parts.append(f"<{tag} {rendered}>{escape(text)}</{tag}>")

    def text(self, x: float, y: float, text: str, **attrs: str) -> None:
        self.add("text", {"x": float(x), "y": float(y), **_css(attrs)}, text)


def _css(attrs: Mapping[str, str]) -> dict[str, str]:
    return {key.rstrip("_").replace("_", "-"): value for key, value in attrs.items()}


def stamp(sources: Sequence[Source]) -> str:
    """The text that says which JSON (by hash) and which drawing made a file."""
    parts = [f"{STAMP_MARK} chart-version={CHART_VERSION}"]
    parts += [f"source={s.name} source-sha256={s.sha256}" for s in sources]
    return " ".join(parts)


def stamp_comment(sources: Sequence[Source]) -> str:
    return f"<!-- {stamp(sources)}; made by `{COMMAND}`, do not edit -->"


def _bar_values(chart: Chart) -> list[float]:
    values = []
    for group in chart.groups:
        for row in group.rows:
            for bar in row.bars:
                values += [v for v in (bar.value, bar.limit) if v is not None]
                if bar.spread:
                    values.append(bar.spread[1])
    return values


def _desc(chart: Chart) -> str:
    lines = [chart.desc_intro, chart.subtitle]
    for group in chart.groups:
        if group.title:
            lines.append(f"{group.title}:")
        for row in group.rows:
            bars = "; ".join(
                f"{bar.tag}: {bar.text}" if bar.tag else bar.text for bar in row.bars
            )
            note = f" ({row.note})" if row.note else ""
            lines.append(f"{row.label}{note}: {bars}.")
    return "\n".join(lines)


def render_svg(chart: Chart) -> str:
    """*chart* as a standalone SVG document (text ending in a newline)."""
    rows = [row for group in chart.groups for row in group.rows]
    natural = max(
        [text_width(row.label) for row in rows]
        + [text_width(row.note) for row in rows if row.note]
        + [LABEL_MIN]
    )
    label_width = min(LABEL_MAX, natural)
    value_width = max(
        text_width(f"{bar.text} · {bar.tag}" if bar.tag else bar.text)
        for row in rows
        for bar in row.bars
    )
    plot_left = MARGIN + label_width + 10
    plot_right = max(plot_left + 160, WIDTH - MARGIN - value_width - 8)
    ticks = axis_ticks(max(_bar_values(chart), default=0.0))
    top_value = ticks[-1]

    def x_of(value: float) -> float:
        return plot_left + (plot_right - plot_left) * max(0.0, value) / top_value

    body = _Svg()
    y = 8.0
    for line in wrap(chart.title, WIDTH - 2 * MARGIN, TITLE_SIZE * BOLD):
        y += 20
        body.text(MARGIN, y, line, class_="title")
    for line in wrap(chart.subtitle, WIDTH - 2 * MARGIN):
        y += LINE
        body.text(MARGIN, y, line)
    y += LINE + 6
    x = float(MARGIN)
    for style, text in chart.legend:
        if style in ("limit", "iqr"):
            body.add(
                "line",
                {"x1": x + 7, "y1": y - 11, "x2": x + 7, "y2": y + 2, "class": style}
                if style == "limit"
                else {"x1": x, "y1": y - 4, "x2": x + 14, "y2": y - 4, "class": style},
            )
        else:
            body.add(
                "rect",
                {"x": x, "y": y - 10, "width": 14.0, "height": 11.0, "class": style},
            )
        body.text(x + 20, y, text)
        x += 20 + text_width(text) + 18
    y += 12
    plot_top = y
    content = _Svg()
    for index, group in enumerate(chart.groups):
        if group.title:
            if index:
                y += 6
            y += LINE + 2
            for line in wrap(group.title, WIDTH - 2 * MARGIN, GROUP_SIZE * BOLD):
                content.text(MARGIN, y, line, class_="group")
                y += LINE
            y -= LINE - 6
        for row in group.rows:
            y = _draw_row(content, row, y + 4, label_width, x_of)
    plot_bottom = y + 4
    grid = _Svg()
    for tick in ticks:
        grid.add(
            "line",
            {
                "x1": x_of(tick),
                "y1": plot_top,
                "x2": x_of(tick),
                "y2": plot_bottom,
                "class": "grid",
            },
        )
        grid.text(
            x_of(tick), plot_bottom + 16, chart.value_format(tick), text_anchor="middle"
        )
    grid.add(
        "line",
        {
            "x1": plot_left,
            "y1": plot_bottom,
            "x2": plot_right,
            "y2": plot_bottom,
            "class": "axis",
        },
    )
    height = plot_bottom + 42
    grid.text(
        (plot_left + plot_right) / 2,
        plot_bottom + 34,
        chart.axis_label,
        text_anchor="middle",
    )
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{_n(height)}" viewBox="0 0 {WIDTH} {_n(height)}" role="img" '
        f'aria-labelledby="title desc" font-family="{FONT}" font-size="{FONT_SIZE}">',
        f'<title id="title">{escape(chart.title)}</title>',
        f'<desc id="desc">{escape(_desc(chart))}</desc>',
        f"<metadata>{escape(stamp(chart.sources))}</metadata>",
        f"<style>\n{STYLE}\n</style>",
    ]
    parts = head + grid.parts + content.parts + body.parts + ["</svg>"]
    return "\n".join(parts) + "\n"


def _draw_row(
    svg: _Svg,
    row: Row,
    top: float,
    label_width: float,
    x_of: Callable[[float], float],
) -> float:
    """Draw *row* from *top*; return its bottom."""
    lines = wrap(row.label, label_width)
    if row.note:
        lines.append(_fit(row.note, label_width))
    height = max(len(lines) * LINE, len(row.bars) * BAR_PITCH)
    label_x = MARGIN + label_width
    first = top + (height - len(lines) * LINE) / 2 + 12
    for index, line in enumerate(lines):
        svg.text(label_x, first + index * LINE, line, text_anchor="end")
    bar_top = top + (height - len(row.bars) * BAR_PITCH) / 2 + 2
    zero = x_of(0.0)
    for index, bar in enumerate(row.bars):
        y = bar_top + index * BAR_PITCH
        middle = y + BAR_HEIGHT / 2
        end = zero
        if bar.value is not None:
            end = x_of(bar.value)
            svg.add(
                "rect",
                {
                    "x": zero,
                    "y": y,
                    "width": max(end - zero, 1.0),
                    "height": float(BAR_HEIGHT),
                    "class": bar.style,
                },
            )
        if bar.spread:
            low, high = x_of(bar.spread[0]), x_of(bar.spread[1])
            svg.add(
                "line",
                {"x1": low, "y1": middle, "x2": high, "y2": middle, "class": "iqr"},
            )
            for cap in (low, high):
                svg.add(
                    "line",
                    {
                        "x1": cap,
                        "y1": middle - 4,
                        "x2": cap,
                        "y2": middle + 4,
                        "class": "iqr",
                    },
                )
            end = max(end, high)
        if bar.limit is not None:
            limit_x = x_of(bar.limit)
            svg.add(
                "line",
                {
                    "x1": limit_x,
                    "y1": y - 2,
                    "x2": limit_x,
                    "y2": y + BAR_HEIGHT + 2,
                    "class": "limit",
                },
            )
            end = max(end, limit_x)
        text = f"{bar.text} · {bar.tag}" if bar.tag else bar.text
        attrs = {} if bar.value is not None else {"class_": "status"}
        svg.text(end + 6, middle + 4, text, **attrs)
    return top + height


# ---------------------------------------------------------------- checking


def read_stamp(path: Path) -> tuple[int, dict[str, str]] | None:
    """The chart version and the source hashes stamped in *path*, if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = _STAMP_RE.search(text)
    if match is None:
        return None
    return int(match["version"]), dict(_SOURCE_RE.findall(match["sources"]))


def _stamped_files(charts_dir: Path) -> list[Path]:
    files = sorted(charts_dir.glob("*.svg")) + sorted(charts_dir.glob("*.md"))
    return [path for path in files if read_stamp(path) is not None]


def check(results_dir: Path = RESULTS_DIR, charts_dir: Path = CHARTS_DIR) -> list[str]:
    """What is missing or stale in *charts_dir*; empty when all is current."""
    try:
        outputs, _ = plan(load_sources(results_dir))
    except ValueError as exc:
        return [str(exc)]
    problems = []
    for output in outputs:
        path = charts_dir / output.name
        if not path.exists():
            problems.append(f"{output.name} is missing")
            continue
        found = read_stamp(path)
        if found is None:
            problems.append(f"{output.name} has no {STAMP_MARK} stamp")
            continue
        version, hashes = found
        if version != CHART_VERSION:
            problems.append(
                f"{output.name} was drawn by chart version {version}, "
                f"charts.py is at {CHART_VERSION}"
            )
        expected = {source.name: source.sha256 for source in output.sources}
        for name, sha256 in expected.items():
            if name not in hashes:
                problems.append(f"{output.name} was not made from {name}")
            elif hashes[name] != sha256:
                problems.append(f"{output.name} is older than {name} (hash differs)")
        problems += [
            f"{output.name} was made from {name}, no longer a source"
            for name in sorted(set(hashes) - set(expected))
        ]
    expected_names = {output.name for output in outputs}
    problems += [
        f"{path.name} was made from JSON that is gone"
        for path in _stamped_files(charts_dir)
        if path.name not in expected_names
    ]
    return problems


def write_all(
    results_dir: Path = RESULTS_DIR, charts_dir: Path = CHARTS_DIR
) -> tuple[list[str], list[str]]:
    """Write every chart; remove stamped ones no JSON makes any more.

    Returns (what was done, one line per file; the notes on skipped JSON).
    """
    outputs, notes = plan(load_sources(results_dir))
    charts_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for output in outputs:
        path = charts_dir / output.name
        data = output.render().encode("utf-8")
        if path.exists() and path.read_bytes() == data:
            done.append(f"unchanged {path.name}")
        else:
            path.write_bytes(data)
            done.append(f"wrote {path.name}")
    expected_names = {output.name for output in outputs}
    for path in _stamped_files(charts_dir):
        if path.name not in expected_names:
            path.unlink()
            done.append(f"removed {path.name} (its JSON is gone)")
    return done, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit with 1 if a chart is missing or stale",
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS_DIR, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--charts", type=Path, default=CHARTS_DIR, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.results, args.charts)
        for problem in problems:
            print(f"charts: {problem}", file=sys.stderr)
        if problems:
            print(f"charts: run `{COMMAND}`", file=sys.stderr)
        return 1 if problems else 0
    done, notes = write_all(args.results, args.charts)
    for line in done:
        print(f"charts: {line}")
    for note in notes:
        print(f"charts: note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
