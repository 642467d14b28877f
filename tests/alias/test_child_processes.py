"""Child processes: ANYIO_BRIDGE_AS_ASGIREF and anyio_bridge_as_asgiref.pth."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asgiref
import asgiref.local
import asgiref.sync
import httpx
import pytest

from anyio_bridge import _alias
from anyio_bridge._alias import startup

from .helpers import (
    CHECK_ALIAS,
    REPO,
    WAIT,
    check_report,
    checked,
    environment,
    python,
)

# Installing is process-wide and this process has the real asgiref imported,
# so the private modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


# --- child processes: ANYIO_BRIDGE_AS_ASGIREF and anyio_bridge_as_asgiref.pth ------

#: The .pth file's finder, as sys.meta_path shows it.
PTH_FINDER = "<class 'anyio_bridge_as_asgiref.pth.AnyioBridgeAsAsgiref'>"

#: What a child process reports: what it had when it started, then what
#: importing asgiref gave it.
REPORT_ASGIREF = """
import json, os, sys

at_start = sorted(name for name in sys.modules if name.startswith(("anyio", "asgiref")))
finders = [repr(finder) for finder in sys.meta_path]
import asgiref, asgiref.sync

print(json.dumps({
    "at_start": at_start,
    "finders": finders,
    "alias_of": getattr(asgiref, "__alias_of__", None),
    "sync": asgiref.sync.__name__,
    "file": getattr(asgiref, "__file__", None),
    "variable": os.environ.get("ANYIO_BRIDGE_AS_ASGIREF"),
    "pid": os.getpid(),
}))
"""


def check_child(report: dict[str, Any], *, aliased: bool) -> None:
    if aliased:
        assert report["alias_of"] == "anyio_bridge"
        assert report["sync"] == "anyio_bridge.sync"
        assert report["file"] is None
    else:
        assert report["alias_of"] is None
        assert report["sync"] == "asgiref.sync"
        assert report["file"] == asgiref.__file__


def child_report(
    variable: str | None, cwd: Path | None = None
) -> tuple[dict[str, Any], str]:
    """REPORT_ASGIREF from a child started with ANYIO_BRIDGE_AS_ASGIREF set to
    *variable* (or without it); and what it wrote on stderr."""
    result = python("-c", REPORT_ASGIREF, cwd=cwd, env=environment(variable))
    return json.loads(checked(result)), result.stderr


def test_pth_file_is_generated_from_the_code() -> None:
    """anyio_bridge_as_asgiref.pth is startup.pth_file_text(), and packaged."""
    text = (REPO / _alias.PTH_FILE).read_text()
    assert text == startup.pth_file_text(), (
        f"regenerate {_alias.PTH_FILE}: python -c 'from anyio_bridge._alias.startup "
        f'import pth_file_text; open("{_alias.PTH_FILE}", "w").write(pth_file_text())\''
    )
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(lines) == 1
    assert lines[0].startswith(
        'import os; os.environ.get("ANYIO_BRIDGE_AS_ASGIREF", "") not in ("", "0") '
        "and exec('import os, sys\\n"
    )
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"{_alias.PTH_FILE}" = "{_alias.PTH_FILE}"' in pyproject  # the wheel
    assert f'    "{_alias.PTH_FILE}",\n' in pyproject  # the sdist


@pytest.fixture(scope="module")
def installed_pth() -> Path:
    """The .pth file in this environment's site-packages: the project's own."""
    import sysconfig

    installed = Path(sysconfig.get_path("purelib")) / _alias.PTH_FILE
    assert installed.is_file(), (
        f"{installed} is missing: anyio-bridge was installed before it shipped "
        "the file; install it again (pip install -e .)"
    )
    assert installed.read_text() == startup.pth_file_text(), (
        f"{installed} is not the project's {_alias.PTH_FILE}: install "
        "anyio-bridge again (pip install -e .)"
    )
    return installed


@pytest.mark.usefixtures("installed_pth")
@pytest.mark.parametrize("variable", [None, "", "0"])
def test_pth_file_is_inert_without_the_variable(variable: str | None) -> None:
    report, err = child_report(variable)
    assert report["at_start"] == []
    assert PTH_FINDER not in report["finders"]
    check_child(report, aliased=False)
    assert err == ""


@pytest.mark.usefixtures("installed_pth")
def test_the_variable_installs_the_alias_at_the_first_import() -> None:
    """Nothing is imported at startup; once is enough, though a virtual
    environment's .pth files are read twice."""
    report, err = child_report("1")
    assert report["at_start"] == []
    assert report["finders"].count(PTH_FINDER) == 1
    check_child(report, aliased=True)
    assert report["variable"] == "1"
    assert err == ""
    # Everything CHECK_ALIAS checks, with no install of its own.
    result = python("-c", CHECK_ALIAS, env=environment("1"))
    assert checked(result) == "alias ok\n"
    assert result.stderr == ""


@pytest.mark.usefixtures("installed_pth")
def test_the_variable_with_a_value_it_does_not_know() -> None:
    report, err = child_report("yes")
    check_child(report, aliased=False)
    assert err == (
        "anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF='yes' is neither 1 nor 0, so asgiref "
        "is not aliased in this process\n"
    )


@pytest.mark.usefixtures("installed_pth")
def test_the_variable_with_an_anyio_bridge_that_cannot_be_imported(
    tmp_path: Path,
) -> None:
    (tmp_path / "anyio_bridge").mkdir()
    (tmp_path / "anyio_bridge" / "__init__.py").write_text(
        "raise ImportError('broken on purpose')\n"
    )
    report, err = child_report("1", cwd=tmp_path)  # first on sys.path (-c)
    check_child(report, aliased=False)
    assert err == (
        "anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF is set, but importing anyio_bridge "
        "failed (ImportError('broken on purpose')), so asgiref is not aliased in "
        "this process\n"
    )


READ_PTH_AFTER_ASGIREF = """
import os, site, sys

import asgiref.sync

os.environ["ANYIO_BRIDGE_AS_ASGIREF"] = "1"
site.addsitedir(sys.argv[1])
site.addsitedir(sys.argv[1])  # as Python does in a virtual environment
print(sys.modules["asgiref.sync"].__name__)
"""


def test_the_variable_after_the_real_asgiref_was_imported(
    installed_pth: Path, tmp_path: Path
) -> None:
    """As when a .pth file that is read before this one imports asgiref."""
    (tmp_path / installed_pth.name).write_text(installed_pth.read_text())
    result = python("-c", READ_PTH_AFTER_ASGIREF, str(tmp_path), env=environment())
    assert checked(result) == "asgiref.sync\n"
    assert result.stderr == (
        "anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF=1, but the real asgiref (from "
        f"{asgiref.__file__}) was imported before anyio_bridge_as_asgiref.pth ran "
        "(sys.modules has asgiref, asgiref.current_thread_executor, asgiref.local, "
        "asgiref.sync), so asgiref is not aliased in this process\n"
    )


#: Imports asgiref at its top, as asgiref's own tests do, so that a spawned
#: child imports it again when it imports the program; reports asgiref in
#: the program and in a child started with each method given.
MULTIPROCESSING = """
import json
import multiprocessing
import os
import sys

import asgiref.sync


def report():
    return {
        "sync": asgiref.sync.__name__,
        "variable": os.environ.get("ANYIO_BRIDGE_AS_ASGIREF"),
        "pid": os.getpid(),
    }


if __name__ == "__main__":
    reports = {"parent": report()}
    for method in sys.argv[1:]:
        with multiprocessing.get_context(method).Pool(1) as pool:
            reports[method] = pool.apply(report)
    print(json.dumps(reports))
"""


@pytest.mark.usefixtures("installed_pth")
@pytest.mark.parametrize(
    ("method", "variable", "aliased"),
    [
        ("spawn", None, True),
        ("forkserver", None, True),
        ("spawn", "0", False),  # started with 0: its children are left alone
    ],
)
def test_multiprocessing_children_get_the_alias(
    tmp_path: Path, method: str, variable: str | None, aliased: bool
) -> None:
    if method not in multiprocessing.get_all_start_methods():  # pragma: no cover
        pytest.skip(f"no {method} start method here")
    (tmp_path / "program.py").write_text(MULTIPROCESSING)
    result = python(
        "-m",
        "anyio_bridge.as_asgiref",
        "program.py",
        method,
        cwd=tmp_path,
        env=environment(variable),
    )
    reports = json.loads(checked(result))
    assert reports["parent"]["sync"] == "anyio_bridge.sync"
    assert reports["parent"]["variable"] == ("1" if variable is None else variable)
    child = reports[method]
    assert child["pid"] != reports["parent"]["pid"]
    assert child["sync"] == ("anyio_bridge.sync" if aliased else "asgiref.sync")
    assert result.stderr == ""


#: Installs the alias, then reports a child started with the environment it
#: inherits, with the variable removed, and with it set to 0.
SUBPROCESSES = """
import anyio_bridge.as_asgiref

import json
import os
import subprocess
import sys


def child(env):
    command = [sys.executable, "-c", sys.argv[1]]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr, result
    return json.loads(result.stdout)


removed = {k: v for k, v in os.environ.items() if k != "ANYIO_BRIDGE_AS_ASGIREF"}
print(json.dumps({
    "inherited": child(None),
    "removed": child(removed),
    "zero": child({**os.environ, "ANYIO_BRIDGE_AS_ASGIREF": "0"}),
}))
"""


@pytest.mark.usefixtures("installed_pth")
def test_subprocesses_get_the_alias_unless_the_variable_says_otherwise() -> None:
    reports = json.loads(
        checked(python("-c", SUBPROCESSES, REPORT_ASGIREF, env=environment()))
    )
    check_child(reports["inherited"], aliased=True)
    assert reports["inherited"]["variable"] == "1"
    for name in ("removed", "zero"):
        check_child(reports[name], aliased=False)
        assert PTH_FINDER not in reports[name]["finders"]


@pytest.mark.usefixtures("installed_pth")
def test_front_doors_in_a_process_started_with_the_variable(programs: Path) -> None:
    """They install the alias as usual, and the finder never has to."""
    env = environment("1")
    result = python(
        "-W",
        "error",
        "-m",
        "anyio_bridge.as_asgiref",
        "sub/probe.py",
        cwd=programs,
        env=env,
    )
    assert json.loads(checked(result))["asgiref.sync"] == "anyio_bridge.sync"
    assert result.stderr == ""
    code = "import anyio_bridge.as_asgiref, asgiref.sync; print(asgiref.sync.__name__)"
    result = python("-W", "error", "-c", code, env=env)
    assert (checked(result), result.stderr) == ("anyio_bridge.sync\n", "")


@pytest.mark.usefixtures("installed_pth")
@pytest.mark.parametrize(
    ("args", "variable"),
    [((), "1"), (("-p", "anyio_bridge.as_asgiref"), "1")],
    ids=["variable", "variable-and-plugin"],
)
def test_pytest_started_with_the_variable(
    project_with_pytest: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    args: tuple[str, ...],
    variable: str,
) -> None:
    """As pytest-xdist's workers are: anyio is not imported before pytest marks
    it for assertion rewriting (which warns, an error here), and a plugin
    installed as a package that imports asgiref gets the alias."""
    (tmp_path / "project" / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'
    )
    result = project_with_pytest(*args, variable=variable)
    assert "1 passed" in checked(result)
    assert "Warning" not in result.stdout + result.stderr


PLAIN_MANAGE_PY = """
import os
import sys

from django.core.management import execute_from_command_line

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    execute_from_command_line(sys.argv)
"""


@pytest.mark.usefixtures("installed_pth")
def test_runserver_reloader_child_gets_the_alias(django_project: Path) -> None:
    """python -m anyio_bridge.as_asgiref manage.py runserver, manage.py as
    Django writes it: the reloader's child process, which serves, has the
    alias."""
    (django_project / "plain_manage.py").write_text(PLAIN_MANAGE_PY)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "anyio_bridge.as_asgiref", "plain_manage.py"]
    process = subprocess.Popen(
        [*command, "runserver", f"127.0.0.1:{port}"],
        cwd=django_project,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C goes to the reloader and its child
    )
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/report", timeout=WAIT)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "runserver did not answer"
                time.sleep(0.2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=WAIT)
    assert response.status_code == 200, response.text
    report = response.json()
    check_report(report, aliased=True)
    assert report["pid"] != process.pid  # served by the reloader's child
    assert "Traceback" not in err
