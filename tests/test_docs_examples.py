"""The complete examples in the docs run, on both backends, as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
PAGES = ["timeout.md", "testing.md", "server-base.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def runnable_examples() -> list[object]:
    """Each page's self-contained examples: those that start an event loop."""
    examples = []
    for page in PAGES:
        blocks = BLOCK.findall((DOCS / page).read_text())
        runnable = [
            block
            for block in blocks
            if "anyio.run(" in block or ".run(backend" in block
        ]
        assert runnable, f"{page} has no runnable example"
        examples += [
            pytest.param(block, id=f"{page}#{i}") for i, block in enumerate(runnable)
        ]
    return examples


@pytest.mark.parametrize("code", runnable_examples())
def test_example_runs(code: str) -> None:
    exec(compile(code, "<docs example>", "exec"), {"__name__": "docs_example"})
