"""``python -m anyio_bridge.as_asgiref`` (``_alias.runner``)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import py_compile
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from anyio_bridge import _alias
from anyio_bridge._alias import runner

from .helpers import (
    REPO,
    checked,
    python,
)

# Installing is process-wide and this process has the real asgiref imported,
# so the private modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


# --- python -m anyio_bridge.as_asgiref, in subprocesses --------------------------


@pytest.mark.parametrize(
    "program",
    [
        ["sub/probe.py", "a", "-m", "b"],
        ["-m", "pkg.probe", "a", "--", "b"],
        ["-mpkg.probe", "a"],
        ["-m", "pkg", "a"],
    ],
)
def test_program_runs_as_python_would_run_it(
    programs: Path, program: list[str]
) -> None:
    plain = json.loads(checked(python(*program, cwd=programs)))
    aliased = json.loads(
        checked(python("-m", "anyio_bridge.as_asgiref", *program, cwd=programs))
    )
    assert plain.pop("asgiref.sync") == "asgiref.sync"
    assert aliased.pop("asgiref.sync") == "anyio_bridge.sync"
    assert aliased == plain
    assert aliased["name"] == "__main__"
    assert aliased["main"] is True
    assert aliased["pickles"] == "Picklable"


def test_program_exit_status_and_traceback(tmp_path: Path) -> None:
    (tmp_path / "leave.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "fail.py").write_text(
        "def fail():\n    raise ValueError('no')\n\nfail()\n"
    )
    assert (
        python("-m", "anyio_bridge.as_asgiref", "leave.py", cwd=tmp_path).returncode
        == 3
    )
    plain = python("fail.py", cwd=tmp_path)
    aliased = python("-m", "anyio_bridge.as_asgiref", "fail.py", cwd=tmp_path)
    assert aliased.returncode == plain.returncode == 1
    assert aliased.stderr == plain.stderr
    assert "_alias" not in aliased.stderr


def test_command_line_errors_in_a_fresh_process(tmp_path: Path) -> None:
    result = python("-m", "anyio_bridge.as_asgiref", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m anyio_bridge.as_asgiref SCRIPT")
    result = python("-m", "anyio_bridge.as_asgiref", "-m", "nowhere", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        1,
        "python -m anyio_bridge.as_asgiref: No module named nowhere\n",
    )


def test_command_reports_the_real_asgiref_imported_first(tmp_path: Path) -> None:
    (tmp_path / "program.py").write_text("print('ran')\n")
    code = (
        "import asgiref.sync, runpy, sys\n"
        "sys.argv[1:] = ['program.py']\n"
        "runpy.run_module('anyio_bridge.as_asgiref', run_name='__main__')\n"
    )
    result = python("-c", code, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "python -m anyio_bridge.as_asgiref: error: anyio-bridge cannot stand in"
    )
    assert "Traceback" not in result.stderr


# --- python -m anyio_bridge.as_asgiref, in this process ---------------------------


@pytest.fixture
def run_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., int]]:
    """main() in this process, in tmp_path, without installing the alias.

    sys.argv, sys.path, sys.modules["__main__"] and the modules the program
    imports are put back afterwards.
    """
    installs: list[None] = []
    monkeypatch.setattr(runner, "install_as_asgiref", lambda: installs.append(None))
    monkeypatch.setattr(sys, "argv", [str(REPO / "anyio_bridge" / "as_asgiref.py")])
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    monkeypatch.chdir(tmp_path)
    before = set(sys.modules)

    def run(*argv: str) -> int:
        installs.clear()
        status = _alias.main(list(argv))
        assert installs == [None]
        return status

    yield run
    for name in set(sys.modules) - before:
        del sys.modules[name]


RECORD = """
import sys
import __main__
record = {
    "argv": list(sys.argv),
    "path0": sys.path[0],
    "name": __name__,
    "file": __file__,
    "main": __main__.__dict__ is globals(),
}
"""


def recorded() -> dict[str, Any]:
    record: dict[str, Any] = sys.modules["__main__"].record
    return record


def test_run_a_script_here(run_here: Callable[..., int], tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "prog.py").write_text(RECORD)
    assert run_here("sub/prog.py", "x") == 0
    assert recorded() == {
        "argv": ["sub/prog.py", "x"],
        "path0": str(tmp_path / "sub"),
        "name": "__main__",
        "file": str(tmp_path / "sub" / "prog.py"),
        "main": True,
    }
    assert sys.argv == ["sub/prog.py", "x"]


def test_run_a_compiled_script_here(
    run_here: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source.py"
    source.write_text(RECORD + "print('compiled', record['argv'])\n")
    py_compile.compile(str(source), cfile=str(tmp_path / "prog.pyc"), doraise=True)
    source.unlink()
    assert run_here("prog.pyc", "x") == 0
    assert capsys.readouterr().out == "compiled ['prog.pyc', 'x']\n"


def test_run_a_directory_here(
    run_here: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__main__.py").write_text(
        "import sys\nprint(sys.argv, sys.path[0])\n"
    )
    path = list(sys.path)
    assert run_here("app", "x") == 0
    assert capsys.readouterr().out == "['app', 'x'] app\n"
    assert sys.path == path[1:]  # the current directory made way for app


def test_run_a_module_here(
    run_here: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = f"pkg_{os.getpid()}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "prog.py").write_text(
        "import sys\nprint(__name__, __spec__.name, sys.argv)\n"
    )
    importlib.invalidate_caches()
    path = list(sys.path)
    for argv in (["-m", f"{package}.prog", "x"], [f"-m{package}.prog", "x"]):
        assert run_here(*argv) == 0
        prog = str(tmp_path / package / "prog.py")
        assert capsys.readouterr().out == (f"__main__ {package}.prog {[prog, 'x']}\n")
        assert sys.path == path


def test_safe_path_leaves_sys_path_alone(
    run_here: Callable[..., int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = {
        name: getattr(sys.flags, name)
        for name in dir(sys.flags)
        if not name.startswith("_") and not callable(getattr(sys.flags, name))
    }
    monkeypatch.setattr(
        sys, "flags", types.SimpleNamespace(**{**flags, "safe_path": True})
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "prog.py").write_text(RECORD)
    path = list(sys.path)
    assert run_here("sub/prog.py") == 0
    assert recorded()["path0"] == path[0] == str(tmp_path)


def test_program_errors_here(
    run_here: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fail.py").write_text(
        "def fail():\n    raise ValueError('no')\n\nfail()\n"
    )
    (tmp_path / "syntax.py").write_text("x = (\n")
    (tmp_path / "leave.py").write_text("raise SystemExit(3)\n")

    assert run_here("fail.py") == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):\n  File ")
    assert err.endswith("ValueError: no\n")
    assert "_alias" not in err
    assert err.count('File "') == 2

    assert run_here("syntax.py") == 1
    err = capsys.readouterr().err
    assert err.startswith(f'  File "{tmp_path / "syntax.py"}", line 1\n')
    assert "SyntaxError" in err

    with pytest.raises(SystemExit) as leaving:
        run_here("leave.py")
    assert leaving.value.code == 3

    assert run_here("missing.py") == 2
    assert capsys.readouterr().err == (
        "python -m anyio_bridge.as_asgiref: can't open file "
        f"{str(tmp_path / 'missing.py')!r}: [Errno 2] No such file or directory\n"
    )
    assert run_here("-m", "nowhere_to_be_found") == 1
    assert capsys.readouterr().err == (
        "python -m anyio_bridge.as_asgiref: No module named nowhere_to_be_found\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "expected SCRIPT or -m MODULE"),
        (["-m"], "argument -m: expected a module name"),
        (["-c", "print()"], "unrecognized option '-c'"),
    ],
)
def test_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _alias.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "usage: python -m anyio_bridge.as_asgiref SCRIPT [ARG ...]\n"
        "       python -m anyio_bridge.as_asgiref -m MODULE [ARG ...]\n"
    )
    assert f"\npython -m anyio_bridge.as_asgiref: error: {message}" in err


def test_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["as_asgiref.py", "--help"])
    assert _alias.main() == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m anyio_bridge.as_asgiref SCRIPT")
    assert "-m MODULE  a module" in out


def test_command_reports_the_real_asgiref_here(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _alias.main(["never_run.py"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "python -m anyio_bridge.as_asgiref: error: anyio-bridge cannot stand in "
        "for asgiref: asgiref is imported already"
    )
