"""The benchmark charts: current, deterministic, and checked by the docs build.

``benchmarks/charts.py`` draws ``docs/charts/`` from ``benchmarks/results/``;
``docs/hooks/charts_check.py`` fails ``mkdocs build`` when a chart is missing
or stale.  Both are scripts, not installed modules, so they are loaded from
their files here as MkDocs loads the hook.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "charts.py"
HOOK = REPO / "docs" / "hooks" / "charts_check.py"
RESULTS = REPO / "benchmarks" / "results"
CHARTS = REPO / "docs" / "charts"
SVG = "{http://www.w3.org/2000/svg}"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


charts = _load(SCRIPT, "_test_benchmark_charts")


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    """The docs hook; it needs MkDocs (the ``docs`` extra)."""
    pytest.importorskip("mkdocs")
    return _load(HOOK, "_test_charts_check_hook")


def _copy(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """The results and charts in *tmp_path*, and the config the hook reads."""
    results = tmp_path / "benchmarks" / "results"
    docs = tmp_path / "docs"
    shutil.copytree(RESULTS, results, ignore=shutil.ignore_patterns("*.md"))
    shutil.copytree(CHARTS, docs / "charts")
    config = {"config_file_path": str(tmp_path / "mkdocs.yml"), "docs_dir": str(docs)}
    return results, docs / "charts", config


def _cells_report() -> dict[str, Any]:
    """A report of cells as the end-to-end benchmark writes it."""
    servers = [
        # key, label, backend, interface, ours, req/s
        ("serve-asyncio", "anyio-bridge serve", "asyncio", "wsgi", True, 3000.0),
        ("gunicorn", "gunicorn gthread", "-", "wsgi", False, 2500.0),
        ("hypercorn-trio", "hypercorn trio, raw ASGI", "trio", "asgi", False, 2000.0),
    ]
    cells = [
        {
            "metric": metric,
            "unit": "req/s",
            "adapter": key,
            "label": label,
            "backend": backend,
            "interface": interface,
            "ours": ours,
            "status": None,
            "values": [value, value],
            "median": value,
        }
        for metric in ("hello", "sleep")
        for key, label, backend, interface, ours, value in servers
    ]
    targets = [
        {
            "name": "hello req/s: serve asyncio / gunicorn gthread",
            "metric": "hello",
            "kind": "ratio",
            "adapter": "serve-asyncio",
            "versus": "gunicorn",
            "value": 1.2,
            "rounds_iqr": [1.1, 1.3],
            "limit": 1.3,
            "at_least": True,
            "result": "MISS",
            "note": "",
        }
    ]
    return {
        "environment": {},
        "aborted": None,
        "metrics": {"hello": {"title": "Flask hello", "higher_is_better": True}},
        "cells": cells,
        "targets": targets,
    }


# ------------------------------------------------------------ committed files


def test_committed_charts_are_current() -> None:
    """What the docs hook checks: no chart missing, none older than its JSON."""
    assert charts.check(RESULTS, CHARTS) == []


def test_committed_charts_are_what_the_script_draws() -> None:
    """Byte for byte, so a change to the drawing is committed with its charts."""
    outputs, _ = charts.plan(charts.load_sources(RESULTS))
    stale = [
        output.name
        for output in outputs
        if (CHARTS / output.name).read_text(encoding="utf-8") != output.render()
    ]
    assert not stale, f"run `python benchmarks/charts.py`: {stale} differ"


def test_every_results_json_is_charted() -> None:
    """Each benchmark report in results/ is one the script knows."""
    sources = charts.load_sources(RESULTS)
    assert [source.name for source in sources if source.kind is None] == []
    outputs, notes = charts.plan(sources)
    assert notes == []
    charted = {source.name for output in outputs for source in output.sources}
    assert charted == {source.name for source in sources}


def test_docs_use_the_hook_and_every_chart() -> None:
    assert "docs/hooks/charts_check.py" in (REPO / "mkdocs.yml").read_text()
    page = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    outputs, _ = charts.plan(charts.load_sources(RESULTS))
    for output in outputs:
        if output.name.endswith(".svg"):
            assert f"](charts/{output.name})" in page, output.name
    assert '--8<-- "docs/charts/summary.md"' in page


@pytest.mark.parametrize("path", sorted(CHARTS.glob("*.svg")), ids=lambda p: p.name)
def test_svg_is_accessible_and_readable(path: Path) -> None:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    assert root.get("width") == "720"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None
    assert title.text
    assert desc is not None
    assert desc.text
    assert len(desc.text) > len(title.text)
    metadata = root.find(f"{SVG}metadata")
    assert metadata is not None
    assert re.search(r"source-sha256=[0-9a-f]{64}", metadata.text or "")
    # No background: the page's shows through, in light and dark themes.
    assert all(rect.get("width") != "720" for rect in root.iter(f"{SVG}rect"))
    text = path.read_text(encoding="utf-8")
    sizes = [int(size) for size in re.findall(r"font-size[=:]\s*\"?(\d+)", text)]
    assert sizes
    assert min(sizes) >= 12


# ----------------------------------------------------------------- the script


def test_script_is_deterministic(tmp_path: Path) -> None:
    """Two runs, with different hash seeds, write the same bytes."""
    written = []
    for seed in ("1", "2"):
        out = tmp_path / f"run{seed}"
        subprocess.run(
            [sys.executable, str(SCRIPT), "--charts", str(out)],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        written.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert written[0] == written[1]
    assert written[0] == {p.name: p.read_bytes() for p in sorted(CHARTS.iterdir())}


def test_check_option_exits_with_1_when_stale(tmp_path: Path) -> None:
    results, charts_dir, _ = _copy(tmp_path)
    (charts_dir / "sync-calls.svg").unlink()
    command = [sys.executable, str(SCRIPT), "--results", str(results)]
    stale = subprocess.run(
        [*command, "--charts", str(charts_dir), "--check"],
        capture_output=True,
        text=True,
    )
    assert stale.returncode == 1
    assert "sync-calls.svg is missing" in stale.stderr
    assert "python benchmarks/charts.py" in stale.stderr
    subprocess.run([*command, "--charts", str(charts_dir)], check=True)
    assert charts.check(results, charts_dir) == []


def test_unknown_json_is_skipped_with_a_note(tmp_path: Path, hook: ModuleType) -> None:
    results, charts_dir, config = _copy(tmp_path)
    (results / "notes.json").write_text('{"hello": "world"}\n')
    _, notes = charts.plan(charts.load_sources(results))
    assert notes == [
        "notes.json: skipped, not a structure charts.py knows "
        "(neither sync rows nor cells, with targets)"
    ]
    assert charts.check(results, charts_dir) == []
    assert hook.on_config(config) is config


def test_new_report_of_cells_gets_charts(tmp_path: Path) -> None:
    """A new benchmark writing cells like asgi_wsgi.json is charted as is."""
    results, charts_dir, _ = _copy(tmp_path)
    # As before the committed e2e report existed: its charts not drawn yet.
    for chart in charts_dir.glob("e2e-*.svg"):
        chart.unlink()
    (results / "e2e.json").write_text(json.dumps(_cells_report()))
    problems = charts.check(results, charts_dir)
    assert "e2e-targets.svg is missing" in problems
    assert "e2e-hello.svg is missing" in problems
    assert "summary.md is older than e2e.json (hash differs)" in problems
    charts.write_all(results, charts_dir)
    assert charts.check(results, charts_dir) == []
    hello = (charts_dir / "e2e-hello.svg").read_text(encoding="utf-8")
    assert "End to end over loopback: Flask hello" in hello
    assert "anyio-bridge serve" in hello
    assert "the server&#x27;s ceiling" in hello or "the server's ceiling" in hello
    assert charts.file_sha256(results / "e2e.json") in hello
    targets = (charts_dir / "e2e-targets.svg").read_text(encoding="utf-8")
    assert "1.20 MISS" in targets
    summary = (charts_dir / "summary.md").read_text(encoding="utf-8")
    assert (
        "| hello req/s: serve asyncio / gunicorn gthread | ≥ 1.3 | **MISS**" in summary
    )


def test_charts_of_a_removed_json_are_removed(tmp_path: Path) -> None:
    results, charts_dir, _ = _copy(tmp_path)
    (results / "wsgi.json").unlink()
    assert "wsgi-hello.svg was made from JSON that is gone" in charts.check(
        results, charts_dir
    )
    done, _ = charts.write_all(results, charts_dir)
    assert "removed wsgi-hello.svg (its JSON is gone)" in done
    assert not (charts_dir / "wsgi-hello.svg").exists()
    assert charts.check(results, charts_dir) == []


# -------------------------------------------------------------------- the hook


def test_hook_passes_on_current_charts(tmp_path: Path, hook: ModuleType) -> None:
    _, _, config = _copy(tmp_path)
    assert hook.on_config(config) is config


def test_hook_fails_on_a_missing_chart(tmp_path: Path, hook: ModuleType) -> None:
    _, charts_dir, config = _copy(tmp_path)
    (charts_dir / "wsgi-targets.svg").unlink()
    with pytest.raises(hook.PluginError) as info:
        hook.on_config(config)
    message = str(info.value)
    assert "wsgi-targets.svg is missing" in message
    assert "Run `python benchmarks/charts.py`" in message


def test_hook_fails_on_a_chart_older_than_its_json(
    tmp_path: Path, hook: ModuleType
) -> None:
    results, _, config = _copy(tmp_path)
    document = json.loads((results / "sync-one-cpu.json").read_text())
    document["targets"][0]["ratio"] = 0.5
    (results / "sync-one-cpu.json").write_text(json.dumps(document, indent=2))
    with pytest.raises(hook.PluginError) as info:
        hook.on_config(config)
    message = str(info.value)
    assert "sync-one-cpu-targets.svg is older than sync-one-cpu.json" in message
    assert "sync-targets-by-placement.svg is older than sync-one-cpu.json" in message
    assert "summary.md is older than sync-one-cpu.json" in message
    assert "wsgi-targets.svg" not in message


def test_hook_ignores_mtimes_and_line_endings(tmp_path: Path, hook: ModuleType) -> None:
    """Hashes, not mtimes: a checkout's timestamps and CRLF change nothing."""
    results, _, config = _copy(tmp_path)
    path = results / "wsgi.json"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    os.utime(path, (4_000_000_000, 4_000_000_000))
    assert hook.on_config(config) is config


def test_hook_fails_on_a_chart_of_another_version(
    tmp_path: Path, hook: ModuleType
) -> None:
    _, charts_dir, config = _copy(tmp_path)
    path = charts_dir / "asgi_wsgi-hello.svg"
    text = path.read_text(encoding="utf-8")
    old = f"chart-version={charts.CHART_VERSION} "
    path.write_text(text.replace(old, "chart-version=0 "), encoding="utf-8")
    with pytest.raises(hook.PluginError, match="drawn by chart version 0"):
        hook.on_config(config)


def test_hook_fails_on_invalid_json(tmp_path: Path, hook: ModuleType) -> None:
    results, _, config = _copy(tmp_path)
    (results / "broken.json").write_text("{")
    with pytest.raises(hook.PluginError, match=r"broken\.json: not valid JSON"):
        hook.on_config(config)


# ----------------------------------------------------------------- the drawing


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_palette_contrast_on_both_themes(scheme: str) -> None:
    """Bars stand out (3:1) on Material's white and slate pages alike; text is
    4.5:1 on its own scheme and still 3:1 if the browser picks the other."""
    background = charts.BACKGROUNDS[scheme]
    for name, fill in charts.FILLS.items():
        assert _contrast(fill, background) >= 3, name
    own = charts.TEXT_LIGHT if scheme == "light" else charts.TEXT_DARK
    other = charts.TEXT_DARK if scheme == "light" else charts.TEXT_LIGHT
    assert _contrast(own, background) >= 4.5
    assert _contrast(other, background) >= 3


def test_names_split_into_title_and_tags() -> None:
    assert charts.split_names(["hello: asyncio / a2wsgi", "hello: trio / a2wsgi"]) == (
        "hello: … / a2wsgi",
        ["asyncio", "trio"],
    )
    assert charts.split_names(["same", "same"]) == ("same", ["", ""])


def test_axis_ticks_are_round() -> None:
    assert charts.axis_ticks(1.04) == [0, 0.25, 0.5, 0.75, 1, 1.25]
    assert charts.axis_ticks(21478) == [0, 5000, 10000, 15000, 20000, 25000]
    assert charts.axis_ticks(0) == [0, 0.2, 0.4, 0.6, 0.8, 1]


def test_headings_of_collapsed_reports_leave_the_contents() -> None:
    """docs/hooks/details_toc.py: what is left is nested again by level."""
    pytest.importorskip("mkdocs")
    from mkdocs.structure.toc import AnchorLink, TableOfContents

    details_toc = _load(REPO / "docs" / "hooks" / "details_toc.py", "_test_toc")
    results = AnchorLink("Results", "results", 2)
    free = AnchorLink("Free", "free", 3)
    targets = AnchorLink("Targets", "targets", 2)  # the report's, in <details>
    one_cpu = AnchorLink("One CPU", "one-cpu", 3)  # after it: its child today
    method = AnchorLink("Method", "method", 2)
    results.children = [free]
    targets.children = [one_cpu]
    toc = TableOfContents([results, targets, method])

    html = (
        '<h2 id="results">Results</h2><h3 id="free">Free</h3>'
        '<details><summary>Report</summary><h2 id="targets">Targets</h2>'
        '</details><h3 id="one-cpu">One CPU</h3><h2 id="method">Method</h2>'
    )

    class Page:
        pass

    page = Page()
    page.toc = toc  # type: ignore[attr-defined]
    assert details_toc.on_page_content(html, page) == html
    pruned = page.toc  # type: ignore[attr-defined]
    assert [item.id for item in pruned] == ["results", "method"]
    assert [item.id for item in pruned.items[0].children] == ["free", "one-cpu"]
