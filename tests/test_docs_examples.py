"""Every complete program in README.md and docs/ runs, as written.

A Python block is a complete program when it starts an event loop
(``anyio.run``, ``trio.run``, ``asyncio.run``, ``.run(backend=...)``) or has a
``__main__`` guard.  Each runs in a fresh interpreter (some install the asgiref
stand-in, which is process-wide) from the repository root, and must exit 0
without writing to stderr.  Programs that stand for a file of the reader's own
project (they import ``myproject``, ``mysite``...) are listed in
:data:`PROJECT_FILES`; the test fails if that list goes stale, so that no new
example is skipped silently.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
STARTS_A_PROGRAM = re.compile(
    r"\b(anyio|trio|asyncio)\.run\(|\.run\(backend|__name__ == \"__main__\""
)

#: Blocks that are files of the reader's project, not programs on their own
#: (``tests/test_as_asgiref.py`` runs the alias page's inside a project).
PROJECT_FILES = {
    "asgiref-alias.md#3": "manage.py of a Django project",
    "wsgi-integration.md#1": "serves the reader's myproject.wsgi application",
}


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for index, code in enumerate(BLOCK.findall(page.read_text())):
            if STARTS_A_PROGRAM.search(code):
                found.append((f"{page.name}#{index}", code))
    return found


PROGRAMS = [(name, code) for name, code in _blocks() if name not in PROJECT_FILES]


def test_the_project_files_listed_are_still_in_the_docs() -> None:
    assert set(PROJECT_FILES) <= {name for name, _ in _blocks()}


@pytest.mark.parametrize(
    "code", [pytest.param(code, id=name) for name, code in PROGRAMS]
)
def test_program_runs(code: str) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("ANYIO_BRIDGE_", "COV_", "COVERAGE_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
