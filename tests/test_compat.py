"""Django, Channels and Flask on anyio-bridge in place of asgiref: tests/compat.

Those tests need ``import asgiref`` to give anyio-bridge's modules, for the
whole process, while this suite compares anyio-bridge with the real asgiref.
So they run here in a child pytest process that installs the alias first
(``-p anyio_bridge.as_asgiref``); tests/conftest.py keeps them out of this
suite's collection.  The child measures no coverage (``--no-cov``): this
suite's coverage of anyio_bridge/ is complete without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPAT = Path(__file__).resolve().parent / "compat"


@pytest.mark.timeout(300)
def test_compat_suite_passes_with_the_asgiref_alias() -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "anyio_bridge.as_asgiref",
        str(COMPAT),
        "--confcutdir",
        str(COMPAT),  # the child loads tests/compat/conftest.py only
        "-p",
        "no:cacheprovider",
        "--no-cov",
        "-q",
    ]
    # Nor does coverage's own subprocess start-up measure the child.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG")
    }
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = [
            part.decode(errors="replace") if isinstance(part, bytes) else part or ""
            for part in (exc.stdout, exc.stderr)
        ]
        pytest.fail(
            f"{' '.join(command)} took over {exc.timeout} s:\n" + "\n".join(output),
            pytrace=False,
        )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited with {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
