"""MkDocs hook: fail the build when a benchmark chart is missing or stale.

``benchmarks/charts.py`` draws ``docs/charts/`` from ``benchmarks/results/*.json``
and stamps every file with the SHA-256 of the JSON it was made from.  Before the
build, this hook asks that same script which files the JSON present calls for
and compares their stamps with the JSON's current hashes (hashes, not mtimes:
a git checkout does not keep mtimes).  Registered in ``mkdocs.yml`` under
``hooks:``.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mkdocs.exceptions import PluginError

#: The script, found from this file so that it is the checkout's own.
CHARTS_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "charts.py"

log = logging.getLogger(f"mkdocs.hooks.{__name__}")


def load_charts(path: Path = CHARTS_SCRIPT) -> ModuleType:
    """``benchmarks/charts.py`` as a module (it is a script, not installed)."""
    name = "_anyio_bridge_benchmark_charts"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path
        raise PluginError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is made.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def on_config(config: Any) -> Any:
    """Check ``docs/charts/`` against ``benchmarks/results/`` before building."""
    charts = load_charts()
    root = Path(config["config_file_path"]).resolve().parent
    results_dir = root / "benchmarks" / "results"
    charts_dir = Path(config["docs_dir"]).resolve() / "charts"
    problems = charts.check(results_dir, charts_dir)
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise PluginError(
            f"The benchmark charts in {charts_dir} do not match "
            f"{results_dir}/*.json:\n{listed}\n"
            f"Run `{charts.COMMAND}` and commit docs/charts/."
        )
    try:
        _, notes = charts.plan(charts.load_sources(results_dir))
    except ValueError:  # pragma: no cover - check() has reported it
        notes = []
    for note in notes:
        log.info("benchmark charts: %s", note)
    return config
