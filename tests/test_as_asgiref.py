"""anyio-bridge installed as asgiref: anyio_bridge.as_asgiref and its front doors.

Installing the alias is process-wide, and this test process has the real
asgiref imported (other tests compare against it), so a real install happens
only in subprocesses here.  In this process, the installing code runs on a
module table and finder list of its own (``_alias._install``), and the
command line with the installing replaced; that is what counts for coverage.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import multiprocessing
import os
import pickle
import py_compile
import re
import signal
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asgiref
import asgiref.local
import asgiref.sync
import httpx
import pytest

import anyio_bridge
import anyio_bridge.local
import anyio_bridge.sync
from anyio_bridge import _alias, _serve
from anyio_bridge.__main__ import main as cli_main
from anyio_bridge._serve import AppSpec, ServeError, ServeOptions

REPO = Path(__file__).resolve().parent.parent
DOCS_PAGE = REPO / "docs" / "asgiref-alias.md"
WAIT = 60  # seconds: generous bound for things that must happen
URL = re.compile(r"http://\S+")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
OURS = {name: f"anyio_bridge.{name}" for name in _alias.SUBMODULES}
ENV_VAR = _alias.ENV_VAR


def python(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with *args*; return what it did."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def checked(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def environment(variable: str | None = None, **more: str) -> dict[str, str]:
    """This process's environment with ANYIO_BRIDGE_AS_ASGIREF set to
    *variable*, or without it, and the *more* variables set."""
    env = {name: value for name, value in os.environ.items() if name != ENV_VAR}
    if variable is not None:
        env[ENV_VAR] = variable
    return {**env, **more}


def docs_blocks(language: str) -> list[str]:
    return [
        code for lang, code in BLOCK.findall(DOCS_PAGE.read_text()) if lang == language
    ]


def docs_file(name: str) -> str:
    """The Python block of the docs page that starts with ``# <name>``."""
    (code,) = [code for code in docs_blocks("python") if code.startswith(f"# {name}\n")]
    return code


# --- installing, on tables of its own ----------------------------------------


def tables_without_asgiref() -> tuple[dict[str, Any], list[Any]]:
    """This process's modules minus asgiref's, and an empty sys.meta_path."""
    modules = {
        name: module
        for name, module in sys.modules.items()
        if not _alias._is_asgiref(name)
    }
    return modules, []


def test_install_maps_every_module() -> None:
    modules, meta_path = tables_without_asgiref()
    environ: dict[str, str] = {}
    package = _alias._install(modules, meta_path, environ)
    assert environ == {"ANYIO_BRIDGE_AS_ASGIREF": "1"}  # for child processes
    assert modules["asgiref"] is package
    assert package.__name__ == "asgiref"
    assert package.__version__ == _alias.ASGIREF_VERSION == "3.13.0"
    assert package.__alias_of__ == "anyio_bridge"
    assert package.__path__ == []
    assert package.__package__ == "asgiref"
    assert not hasattr(package, "__file__")
    (finder,) = meta_path
    assert package.__loader__ is finder
    spec = package.__spec__
    assert spec is not None
    assert spec.name == "asgiref"
    assert spec.submodule_search_locations == []
    assert "anyio-bridge" in repr(package)
    for name, target in OURS.items():
        assert modules[f"asgiref.{name}"] is sys.modules[target]
        assert getattr(package, name) is sys.modules[target]
    assert sorted(name for name in modules if _alias._is_asgiref(name)) == sorted(
        ["asgiref", *(f"asgiref.{name}" for name in OURS)]
    )


def test_install_again_changes_nothing() -> None:
    modules, meta_path = tables_without_asgiref()
    package = _alias._install(modules, meta_path, {})
    before = (dict(modules), list(meta_path))
    assert _alias._install(modules, meta_path, {}) is package
    assert (dict(modules), list(meta_path)) == before


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, "1"), ("", "1"), ("1", "1"), ("yes", "1"), ("0", "0")],
)
def test_install_sets_the_variable_for_child_processes(
    before: str | None, after: str
) -> None:
    """To 1, which child processes inherit; a 0 stays, to keep them without."""
    modules, meta_path = tables_without_asgiref()
    environ = {} if before is None else {ENV_VAR: before}
    _alias._install(modules, meta_path, environ)
    assert environ == {ENV_VAR: after}
    environ.pop(ENV_VAR)
    _alias._install(modules, meta_path, environ)  # installing again, too
    assert environ == {ENV_VAR: "1"}


def test_install_again_puts_back_what_was_removed() -> None:
    modules, meta_path = tables_without_asgiref()
    package = _alias._install(modules, meta_path, {})
    del modules["asgiref.sync"]
    meta_path.clear()
    assert _alias._install(modules, meta_path, {}) is package
    assert modules["asgiref.sync"] is anyio_bridge.sync
    (finder,) = meta_path
    assert package.__loader__ is finder


def test_the_real_asgiref_blocks_the_install() -> None:
    modules, meta_path, environ = dict(sys.modules), list[Any](), dict[str, str]()
    with pytest.raises(_alias.AsgirefAlreadyImportedError) as caught:
        _alias._install(modules, meta_path, environ)
    assert (modules, meta_path, environ) == (dict(sys.modules), [], {})
    error = caught.value
    assert {"asgiref", "asgiref.local", "asgiref.sync"} <= set(error.modules)
    assert list(error.modules) == sorted(error.modules)
    assert error.location == asgiref.__file__
    message = str(error)
    assert f"(the real asgiref, from {asgiref.__file__})" in message
    assert "sys.modules has asgiref, " in message
    for fix in (
        "`python -m anyio_bridge.as_asgiref SCRIPT [ARG ...]`",
        "`python -m anyio_bridge.as_asgiref -m MODULE [ARG ...]`",
        "`-p anyio_bridge.as_asgiref`",
        "`import anyio_bridge.as_asgiref` the first import of manage.py",
    ):
        assert fix in message


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("asgiref.sync", asgiref.sync),  # the real one next to the stand-in
        ("asgiref.local", anyio_bridge.sync),  # ours, under the wrong name
        ("asgiref._native", anyio_bridge.sync),  # not a module of asgiref
        ("asgiref.typing", None),  # imports of it blocked
    ],
)
def test_any_module_not_ours_blocks_the_install(name: str, module: Any) -> None:
    modules, meta_path = tables_without_asgiref()
    _alias._install(modules, meta_path, {})
    modules[name] = module
    before = (dict(modules), list(meta_path))
    with pytest.raises(_alias.AsgirefAlreadyImportedError) as caught:
        _alias._install(modules, meta_path, {})
    assert caught.value.modules == (name,)
    assert caught.value.location is None
    assert "already; sys.modules has " in str(caught.value)
    assert (dict(modules), list(meta_path)) == before


def test_a_blocked_asgiref_blocks_the_install() -> None:
    modules, meta_path = tables_without_asgiref()
    modules["asgiref"] = None
    with pytest.raises(_alias.AsgirefAlreadyImportedError) as caught:
        _alias._install(modules, meta_path, {})
    assert caught.value.modules == ("asgiref",)


def test_install_here_raises_and_changes_nothing() -> None:
    modules, meta_path = dict(sys.modules), list(sys.meta_path)
    environ = dict(os.environ)
    with pytest.raises(anyio_bridge.AsgirefAlreadyImportedError):
        anyio_bridge.install_as_asgiref()
    assert (dict(sys.modules), sys.meta_path) == (modules, meta_path)
    assert dict(os.environ) == environ
    assert "ANYIO_BRIDGE_AS_ASGIREF" not in environ


def test_importing_the_module_here_raises_and_changes_nothing() -> None:
    modules, meta_path = dict(sys.modules), list(sys.meta_path)
    with pytest.raises(anyio_bridge.AsgirefAlreadyImportedError):
        importlib.import_module("anyio_bridge.as_asgiref")
    assert (dict(sys.modules), sys.meta_path) == (modules, meta_path)


def test_error_class() -> None:
    error_class = anyio_bridge.AsgirefAlreadyImportedError
    assert error_class is _alias.AsgirefAlreadyImportedError
    assert issubclass(error_class, RuntimeError)
    assert not issubclass(error_class, ImportError)
    assert error_class.__module__ == "anyio_bridge"
    error = error_class(["asgiref.sync", "asgiref"], "/site/asgiref/__init__.py")
    assert error.modules == ("asgiref", "asgiref.sync")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is error_class
    assert (copy.modules, copy.location, str(copy)) == (
        error.modules,
        error.location,
        str(error),
    )


def test_public_names() -> None:
    assert anyio_bridge.install_as_asgiref is _alias.install_as_asgiref
    assert {"install_as_asgiref", "AsgirefAlreadyImportedError"} <= set(
        anyio_bridge.__all__
    )


def test_import_anyio_bridge_imports_no_more_for_it() -> None:
    """The alias costs nothing until it is installed."""
    code = "import sys, anyio_bridge; print(' '.join(sorted(sys.modules)))"
    loaded = set(checked(python("-c", code)).split())
    assert "anyio_bridge._alias" in loaded
    assert (
        not {
            "importlib.abc",
            "runpy",
            "anyio_bridge.testing",
            "anyio_bridge.server",
            "anyio_bridge.wsgi",
        }
        & loaded
    )


# --- the finder ----------------------------------------------------------------


@pytest.fixture
def finder() -> _alias._AsgirefFinder:
    modules, meta_path = tables_without_asgiref()
    _alias._install(modules, meta_path, {})
    (finder,) = meta_path
    assert isinstance(finder, _alias._AsgirefFinder)
    return finder


def test_finder_leaves_other_names_alone(finder: _alias._AsgirefFinder) -> None:
    for name in ("json", "asgiref_tools", "anyio_bridge.sync"):
        assert finder.find_spec(name, None) is None
    assert (
        repr(finder) == "<anyio_bridge._alias._AsgirefFinder: asgiref is anyio_bridge>"
    )


@pytest.mark.parametrize("name", ["asgiref.nope", "asgiref.sync.deeper"])
def test_finder_refuses_other_asgiref_modules(
    finder: _alias._AsgirefFinder, name: str
) -> None:
    with pytest.raises(ModuleNotFoundError) as caught:
        finder.find_spec(name, None)
    assert caught.value.name == name
    assert str(caught.value).startswith(f"No module named {name!r}: asgiref is ")
    assert "asgiref.sync, asgiref.testing" in str(caught.value)


def test_finder_loads_the_existing_module(finder: _alias._AsgirefFinder) -> None:
    """A name removed from sys.modules and imported again is the same module,
    with its own spec."""
    module = anyio_bridge.local
    own_spec = module.__spec__
    spec = finder.find_spec("asgiref.local", None)
    assert spec is not None
    assert spec.origin == module.__file__
    assert spec.loader is finder
    try:
        # What the import system does: this sets module.__spec__ to spec...
        assert importlib.util.module_from_spec(spec) is module
        # ...and the loader puts the module's own back.
        finder.exec_module(module)
    finally:
        module.__spec__ = own_spec
    assert module.__spec__ is own_spec


def test_finder_loads_the_stand_in(finder: _alias._AsgirefFinder) -> None:
    spec = finder.find_spec("asgiref", None)
    assert spec is not None
    assert spec is finder.package.__spec__
    assert importlib.util.module_from_spec(spec) is finder.package
    finder.exec_module(finder.package)
    assert finder.package.__spec__ is spec
    assert finder.package.sync is anyio_bridge.sync


# --- the alias in a process of its own -----------------------------------------

CHECK_ALIAS = """
import importlib, importlib.util, sys
import asgiref
import asgiref.sync
from asgiref import local
from asgiref.sync import sync_to_async
import anyio_bridge, anyio_bridge.sync, anyio_bridge.local
from anyio_bridge._alias import SUBMODULES

assert asgiref.sync is anyio_bridge.sync
assert local is anyio_bridge.local
assert sync_to_async is anyio_bridge.sync_to_async
assert asgiref.__version__ == "3.13.0"
assert asgiref.__alias_of__ == "anyio_bridge"
for name in SUBMODULES:
    module = importlib.import_module("asgiref." + name)
    assert module is sys.modules["anyio_bridge." + name], name
    assert getattr(asgiref, name) is module

# find_spec sees the alias, and nothing of the real asgiref.
origin = importlib.util.find_spec("asgiref").origin
assert origin == "anyio-bridge's stand-in for asgiref"
assert importlib.util.find_spec("asgiref.sync").name == "anyio_bridge.sync"
for name in ("asgiref.nope", "asgiref.sync.deeper"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        assert exc.name in (name, "asgiref.sync.deeper"), exc
    else:
        raise AssertionError(name)
try:
    importlib.util.find_spec("asgiref.nope")
except ModuleNotFoundError as exc:
    assert "anyio-bridge's stand-in" in str(exc)
else:
    raise AssertionError("find_spec")

# Removed from sys.modules, the names come back as the same modules.
own_spec = anyio_bridge.sync.__spec__
del sys.modules["asgiref.sync"], sys.modules["asgiref"]
import asgiref as again
import asgiref.sync as sync_again
assert again is asgiref and sync_again is anyio_bridge.sync
assert anyio_bridge.sync.__spec__ is own_spec
assert importlib.reload(asgiref) is asgiref and asgiref.sync is anyio_bridge.sync

# Installing again, any way, changes nothing.
finders = len(sys.meta_path)
assert anyio_bridge.install_as_asgiref() is asgiref
import anyio_bridge.as_asgiref
assert len(sys.meta_path) == finders
files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
assert not [f for f in files if "site-packages/asgiref" in f], files
print("alias ok")
"""


@pytest.mark.parametrize(
    "install",
    [
        "import anyio_bridge.as_asgiref",
        "import anyio_bridge; anyio_bridge.install_as_asgiref()",
    ],
)
def test_alias_in_a_fresh_process(install: str) -> None:
    assert checked(python("-c", install + "\n" + CHECK_ALIAS)) == "alias ok\n"


FRAMEWORKS = """
import anyio_bridge.as_asgiref
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "channels"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
import channels.db
import channels.generic.websocket
import channels.testing
import channels.worker
import daphne.cli
import daphne.server
import django.core.handlers.asgi
import django.core.handlers.wsgi
import django.test

import anyio_bridge.local, anyio_bridge.server, anyio_bridge.sync, anyio_bridge.testing

assert anyio_bridge.testing.ApplicationCommunicator in (
    channels.testing.ApplicationCommunicator.__mro__
)
assert channels.worker.Worker.__mro__[1] is anyio_bridge.server.StatelessServer
assert issubclass(channels.db.database_sync_to_async, anyio_bridge.sync.SyncToAsync)
assert django.core.handlers.asgi.sync_to_async is anyio_bridge.sync.sync_to_async
import django.urls.base
assert type(django.urls.base._prefixes) is anyio_bridge.local.Local
for name, module in list(sys.modules.items()):
    if name.startswith("asgiref."):
        assert module is sys.modules["anyio_bridge." + name[8:]], name
    file = getattr(module, "__file__", None) or ""
    assert "site-packages/asgiref" not in file, name
print("frameworks ok")
"""


def test_django_channels_and_daphne_import_ours() -> None:
    assert checked(python("-c", FRAMEWORKS)) == "frameworks ok\n"


def test_import_after_the_real_asgiref_fails_in_a_fresh_process() -> None:
    code = "import django.core.management\nimport anyio_bridge.as_asgiref\n"
    result = python("-c", code)
    assert result.returncode == 1
    last = result.stderr.splitlines()[-4]
    assert last.startswith(
        "anyio_bridge.AsgirefAlreadyImportedError: anyio-bridge cannot stand in "
        "for asgiref: asgiref is imported already (the real asgiref, from "
    )
    assert "sys.modules has asgiref, asgiref.current_thread_executor" in last


# --- python -m anyio_bridge.as_asgiref, in subprocesses --------------------------

#: Prints what a program sees of how it was started.
PROBE = """
import json, pickle, sys

import asgiref.sync


class Picklable:
    pass


print(json.dumps({
    "argv": sys.argv,
    "path0": sys.path[0],
    "name": __name__,
    "file": __file__,
    "spec": getattr(__spec__, "name", None),
    "package": __package__,
    "loader": type(__loader__).__name__,
    "main": sys.modules["__main__"].__dict__ is globals(),
    "pickles": type(pickle.loads(pickle.dumps(Picklable()))).__name__,
    "asgiref.sync": asgiref.sync.__name__,
}))
"""


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    """probe.py in sub/, and the package pkg with probe and __main__ modules."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "probe.py").write_text(PROBE)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "probe.py").write_text(PROBE)
    (tmp_path / "pkg" / "__main__.py").write_text(PROBE)
    return tmp_path


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
    monkeypatch.setattr(_alias, "install_as_asgiref", lambda: installs.append(None))
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


# --- pytest -p anyio_bridge.as_asgiref -------------------------------------------

#: A plugin installed as a package, which imports asgiref as pytest-django
#: does (through Django): pytest loads it through its entry point.
EARLY_PLUGIN = """
import asgiref.sync

SEEN = asgiref.sync.__name__
"""

ENTRY_POINTS = "[pytest11]\nimports_asgiref = imports_asgiref\n"

USER_TEST = """
import sys

import asgiref.sync
import anyio_bridge.sync


def test_asgiref_is_anyio_bridge():
    assert asgiref.sync is anyio_bridge.sync
    plugin = sys.modules.get("imports_asgiref")
    assert plugin is None or plugin.SEEN == "anyio_bridge.sync"
"""


@pytest.fixture
def pytest_project(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """A project to run pytest in; with_plugin puts imports_asgiref on its path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "imports_asgiref.py").write_text(EARLY_PLUGIN)
    dist_info = site / "imports_asgiref-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: imports-asgiref\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "real_asgiref_first.py").write_text("import asgiref.sync\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_user.py").write_text(USER_TEST)

    def run(
        *args: str, with_plugin: bool = True, variable: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = environment(variable, PYTHONPATH=str(site) if with_plugin else "")
        if not (project / "pyproject.toml").exists():
            (project / "pytest.ini").write_text("[pytest]\n")
        return python(
            "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, cwd=project, env=env
        )

    return run


def test_pytest_plugin_comes_before_plugins_that_import_asgiref(
    pytest_project: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = pytest_project("-p", "anyio_bridge.as_asgiref")
    assert "1 passed" in checked(result)


def test_pytest_plugin_in_addopts_as_the_docs_show(
    pytest_project: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    (toml,) = docs_blocks("toml")
    (tmp_path / "project" / "pyproject.toml").write_text(toml)
    result = pytest_project()
    assert "1 passed" in checked(result)


def test_pytest_plugin_after_a_plugin_that_imported_asgiref(
    pytest_project: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = pytest_project("-p", "real_asgiref_first", "-p", "anyio_bridge.as_asgiref")
    assert result.returncode != 0
    assert "AsgirefAlreadyImportedError: anyio-bridge cannot stand in" in result.stderr
    assert "sys.modules has asgiref, " in result.stderr
    assert "pass `-p anyio_bridge.as_asgiref`" in result.stderr


@pytest.mark.parametrize("with_plugin", [False, True])
def test_import_in_conftest(
    pytest_project: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    with_plugin: bool,
) -> None:
    """Works, unless a plugin imported asgiref before the conftest files."""
    (tmp_path / "project" / "conftest.py").write_text(
        "import anyio_bridge.as_asgiref\n"
    )
    result = pytest_project(with_plugin=with_plugin)
    if with_plugin:
        assert result.returncode != 0
        assert "AsgirefAlreadyImportedError" in result.stdout + result.stderr
    else:
        assert "1 passed" in checked(result)


# --- anyio-bridge serve --as-asgiref ----------------------------------------------


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
def webapp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None) -> str:
    """The name of a WSGI application module in the current directory."""
    name = f"alias_webapp_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [])\n"
        "    return [b'']\n"
    )
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    return name


def test_serve_refuses_when_the_real_asgiref_is_imported(webapp: str) -> None:
    options = ServeOptions(AppSpec(webapp, "app"), port=0, as_asgiref=True)
    with pytest.raises(ServeError, match="anyio-bridge cannot stand in for asgiref"):
        _serve.serve(options)
    assert webapp not in sys.modules  # refused before importing the application


def test_serve_command_reports_it(
    webapp: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli_main(["serve", "--as-asgiref", f"{webapp}:app", "--bind=127.0.0.1:0"]) == 1
    )
    err = capsys.readouterr().err
    assert err.startswith(
        "anyio-bridge serve: error: anyio-bridge cannot stand in for asgiref"
    )


def test_serve_installs_before_importing_in_every_process(
    webapp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the command's process, then in each worker (run here, as hypercorn's
    would)."""
    import hypercorn.run
    from hypercorn.config import Config
    from hypercorn.utils import load_application

    events: list[str] = []
    load = _serve.load_wsgi_app

    def install() -> None:
        events.append("install")

    def load_app(spec: AppSpec, directory: str | None = None) -> Any:
        events.append("load")
        return load(spec, directory)

    def run(config: Config) -> int:
        sockets = config.create_sockets()
        try:
            load_application(config.application_path, 1000)
        finally:
            for sock in sockets.insecure_sockets:
                sock.close()
        return 0

    monkeypatch.setattr(_alias, "install_as_asgiref", install)
    monkeypatch.setattr(_serve, "load_wsgi_app", load_app)
    monkeypatch.setattr(hypercorn.run, "run", run)
    options = ServeOptions(AppSpec(webapp, "app"), port=0, workers=2, as_asgiref=True)
    assert _serve.serve(options, output=io.StringIO()) == 0
    assert events == ["install", "load", "install", "load"]


def test_serve_without_the_option_installs_nothing(
    webapp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hypercorn.run
    from hypercorn.config import Config
    from hypercorn.utils import load_application

    def install() -> None:
        raise AssertionError("installed")

    def run(config: Config) -> int:
        sockets = config.create_sockets()
        try:
            load_application(config.application_path, 1000)
        finally:
            for sock in sockets.insecure_sockets:
                sock.close()
        return 0

    monkeypatch.setattr(_alias, "install_as_asgiref", install)
    monkeypatch.setattr(hypercorn.run, "run", run)
    options = ServeOptions(AppSpec(webapp, "app"), port=0, workers=2)
    assert _serve.serve(options, output=io.StringIO()) == 0


def test_command_line_option_reaches_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ServeOptions] = []

    def serve(options: ServeOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(_serve, "serve", serve)
    assert cli_main(["serve", "webapp:app", "--as-asgiref"]) == 0
    assert cli_main(["serve", "webapp:app"]) == 0
    assert [options.as_asgiref for options in seen] == [True, False]


# --- a Django project, as the docs set it up ---------------------------------------

SETTINGS = """
SECRET_KEY = "tests only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
USE_TZ = True
"""

URLS = """
import json
import os
import sys

import asgiref
import asgiref.local
import asgiref.sync
from django.http import HttpResponse
from django.urls import path


def report(request):
    modules = {
        name: getattr(module, "__name__", None)
        for name, module in list(sys.modules.items())
        if name.startswith("asgiref.")
    }
    body = {
        "sync": asgiref.sync.__name__,
        "local": asgiref.local.Local.__module__,
        "version": asgiref.__version__,
        "alias_of": getattr(asgiref, "__alias_of__", None),
        "modules": modules,
        "pid": os.getpid(),
    }
    return HttpResponse(json.dumps(body), content_type="application/json")


urlpatterns = [path("report", report)]
"""

PLAIN_WSGI = """
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
"""


@pytest.fixture
def django_project(tmp_path: Path) -> Path:
    """mysite/ with a /report view, manage.py and wsgi.py and asgi.py from the
    docs, and plain_wsgi.py: Django's wsgi.py without the alias."""
    pytest.importorskip("django")
    site = tmp_path / "mysite"
    site.mkdir()
    (site / "__init__.py").write_text("")
    (site / "settings.py").write_text(SETTINGS)
    (site / "urls.py").write_text(URLS)
    (site / "plain_wsgi.py").write_text(PLAIN_WSGI)
    (site / "wsgi.py").write_text(docs_file("mysite/wsgi.py"))
    (site / "asgi.py").write_text(docs_file("mysite/asgi.py"))
    (tmp_path / "manage.py").write_text(docs_file("manage.py"))
    return tmp_path


def check_report(report: dict[str, Any], *, aliased: bool) -> None:
    if aliased:
        assert report["sync"] == "anyio_bridge.sync"
        assert report["local"] == "anyio_bridge.local"
        assert report["version"] == "3.13.0"
        assert report["alias_of"] == "anyio_bridge"
        assert report["modules"] == {
            f"asgiref.{name}": target for name, target in OURS.items()
        }
    else:
        assert report["sync"] == "asgiref.sync"
        assert report["alias_of"] is None
        assert all(name == value for name, value in report["modules"].items())


def test_docs_manage_py(django_project: Path) -> None:
    code = "import asgiref.sync; print(asgiref.sync.__name__)"
    out = checked(python("manage.py", "shell", "-c", code, cwd=django_project))
    assert out.splitlines()[-1] == "anyio_bridge.sync"


DRIVE_WSGI = """
import json, sys
from wsgiref.util import setup_testing_defaults
from mysite.wsgi import application

environ = {"PATH_INFO": "/report"}
setup_testing_defaults(environ)
statuses = []
body = b"".join(application(environ, lambda status, headers: statuses.append(status)))
assert statuses == ["200 OK"], statuses
print(body.decode())
"""

DRIVE_ASGI = """
import asyncio, json
from mysite.asgi import application

async def main():
    sent = []
    messages = [{"type": "http.request", "body": b""}]
    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # no disconnect: Django stops listening
    async def send(message):
        sent.append(message)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": "/report", "raw_path": b"/report",
        "query_string": b"", "root_path": "", "headers": [],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }
    await application(scope, receive, send)
    assert sent[0]["status"] == 200, sent
    print(b"".join(m.get("body", b"") for m in sent[1:]).decode())

asyncio.run(main())
"""


@pytest.mark.parametrize("driver", [DRIVE_WSGI, DRIVE_ASGI], ids=["wsgi", "asgi"])
def test_docs_wsgi_and_asgi_modules(django_project: Path, driver: str) -> None:
    report = json.loads(checked(python("-c", driver, cwd=django_project)))
    check_report(report, aliased=True)


class Server:
    """A server command in a subprocess; its URL comes from its first line."""

    def __init__(self, args: list[str], cwd: Path, pass_fds: tuple[int, ...] = ()):
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=pass_fds,
        )

    def banner_url(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = URL.search(line)
        assert match is not None, line + self.stop()[1]
        return match.group()

    def stop(self) -> tuple[str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.communicate(timeout=WAIT)


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*args: str, cwd: Path, pass_fds: tuple[int, ...] = ()) -> Server:
        server = Server(list(args), cwd, pass_fds)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:  # pragma: no cover - a test failed
            server.process.kill()
        server.process.communicate(timeout=WAIT)


@pytest.mark.parametrize(
    ("options", "aliased"),
    [
        (["--as-asgiref", "--backend=trio", "--workers=2"], True),
        (["--as-asgiref", "--backend=asyncio"], True),
        (["--backend=asyncio"], False),
    ],
    ids=["trio-workers", "asyncio", "without"],
)
def test_serve_django(
    django_project: Path,
    servers: Callable[..., Server],
    options: list[str],
    aliased: bool,
) -> None:
    server = servers(
        "-m",
        "anyio_bridge",
        "serve",
        "mysite.plain_wsgi:application",
        "--bind=127.0.0.1:0",
        "--log-level=warning",
        *options,
        cwd=django_project,
    )
    url = server.banner_url()
    response = httpx.get(url + "/report", timeout=WAIT)
    assert response.status_code == 200, response.text
    report = response.json()
    check_report(report, aliased=aliased)
    workers = "--workers=2" in options
    assert (report["pid"] != server.process.pid) is workers
    _, err = server.stop()
    assert server.process.returncode == 0
    assert "Traceback" not in err


def test_docs_asgi_application_on_hypercorn_trio(
    tmp_path: Path, servers: Callable[..., Server]
) -> None:
    """The docs' myapp/asgi.py, its first import the alias, served by hypercorn's
    trio worker (asgiref's own sync_to_async needs asyncio)."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "asgi.py").write_text(docs_file("myapp/asgi.py"))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        fd = listener.fileno()
        server = servers(
            "-m",
            "hypercorn",
            "--worker-class",
            "trio",
            "--bind",
            f"fd://{fd}",
            "myapp.asgi:application",
            cwd=tmp_path,
            pass_fds=(fd,),
        )
        response = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=WAIT)
    assert response.status_code == 200
    assert response.text == "you asked for /hello"
    _, err = server.stop()
    assert "Traceback" not in err


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
    """anyio_bridge_as_asgiref.pth is _alias._pth_file_text(), and packaged."""
    text = (REPO / _alias.PTH_FILE).read_text()
    assert text == _alias._pth_file_text(), (
        f"regenerate {_alias.PTH_FILE}: python -c 'from anyio_bridge._alias import "
        f'*; open("{_alias.PTH_FILE}", "w").write(_pth_file_text())\''
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
    assert installed.read_text() == _alias._pth_file_text(), (
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
    pytest_project: Callable[..., subprocess.CompletedProcess[str]],
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
    result = pytest_project(*args, variable=variable)
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


# --- the .pth file's finder, in this process ------------------------------------


@pytest.fixture
def installed_package(monkeypatch: pytest.MonkeyPatch) -> list[types.ModuleType]:
    """install_as_asgiref() installs on tables of its own: the packages it
    returned."""
    modules, meta_path = tables_without_asgiref()
    installed: list[types.ModuleType] = []

    def install() -> types.ModuleType:
        installed.append(_alias._install(modules, meta_path, {}))
        return installed[-1]

    monkeypatch.setattr(_alias, "install_as_asgiref", install)
    return installed


@pytest.mark.parametrize("name", ["asgiref", "asgiref.sync"])
def test_first_import_installs_and_finds(
    installed_package: list[types.ModuleType],
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    spec = _alias._install_at_first_import("1", name)
    (package,) = installed_package
    assert spec is not None
    assert spec.name == name
    assert spec.loader is package.__loader__
    own_spec = anyio_bridge.sync.__spec__
    try:  # as the import system goes on
        module = importlib.util.module_from_spec(spec)
    finally:
        anyio_bridge.sync.__spec__ = own_spec
    assert module is (package if name == "asgiref" else anyio_bridge.sync)
    assert capsys.readouterr() == ("", "")


def test_first_import_with_a_name_asgiref_has_not(
    installed_package: list[types.ModuleType],
) -> None:
    with pytest.raises(ModuleNotFoundError, match="anyio-bridge's stand-in"):
        _alias._install_at_first_import("1", "asgiref.nope")


def test_first_import_with_a_value_it_does_not_know(
    installed_package: list[types.ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _alias._install_at_first_import("true", "asgiref") is None
    assert installed_package == []
    assert capsys.readouterr() == (
        "",
        "anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF='true' is neither 1 nor 0, so "
        "asgiref is not aliased in this process\n",
    )


def test_first_import_after_the_real_asgiref_here(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """This process has the real asgiref: installing fails, and changes nothing."""
    modules, meta_path = dict(sys.modules), list(sys.meta_path)
    environ = dict(os.environ)
    assert _alias._install_at_first_import("1", "asgiref") is None
    assert (dict(sys.modules), sys.meta_path) == (modules, meta_path)
    assert dict(os.environ) == environ
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        "anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF=1, but the real asgiref (from "
        f"{asgiref.__file__}) was imported before anyio_bridge_as_asgiref.pth ran "
        "(sys.modules has asgiref, "
    )
    assert err.endswith(", so asgiref is not aliased in this process\n")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            _alias.AsgirefAlreadyImportedError(["asgiref"]),
            "the real asgiref was imported before anyio_bridge_as_asgiref.pth ran "
            "(sys.modules has asgiref)",
        ),
        (
            ImportError("No module named 'anyio'\n  (and more)"),
            "installing anyio-bridge as asgiref failed (ImportError: No module "
            "named 'anyio' (and more))",
        ),
    ],
)
def test_first_import_reports_a_failed_install_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    message: str,
) -> None:
    def install() -> None:
        raise error

    monkeypatch.setattr(_alias, "install_as_asgiref", install)
    assert _alias._install_at_first_import("1", "asgiref") is None
    assert capsys.readouterr() == (
        "",
        f"anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF=1, but {message}, so asgiref is "
        "not aliased in this process\n",
    )


def test_docs_startup_message_is_the_real_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (shown,) = [
        code for code in docs_blocks("text") if code.startswith("anyio-bridge:")
    ]
    error = anyio_bridge.AsgirefAlreadyImportedError(
        ["asgiref", "asgiref.current_thread_executor", "asgiref.local", "asgiref.sync"],
        ".../site-packages/asgiref/__init__.py",
    )

    def install() -> None:
        raise error

    monkeypatch.setattr(_alias, "install_as_asgiref", install)
    _alias._install_at_first_import("1", "asgiref")
    assert capsys.readouterr().err == shown


# --- the rest of the docs page -------------------------------------------------


def test_docs_programs_run() -> None:
    """Each Python block that is not a file of a project runs as a program."""
    files = ("# manage.py\n", "# mysite/", "# myapp/")
    programs = [code for code in docs_blocks("python") if not code.startswith(files)]
    assert len(programs) == 3
    for code in programs:
        checked(python("-c", code))
    assert checked(python("-c", programs[1])).startswith("ran in 'anyio_bridge ")
    # The child that the variable keeps without the alias, in an aliased process.
    aliased = "import anyio_bridge.as_asgiref\n" + programs[2]
    assert checked(python("-c", aliased)) == "the real asgiref\n"


def test_docs_error_message_is_the_real_one() -> None:
    (shown,) = [code for code in docs_blocks("text") if "cannot stand in" in code]
    error = anyio_bridge.AsgirefAlreadyImportedError(
        ["asgiref", "asgiref.current_thread_executor", "asgiref.local", "asgiref.sync"],
        ".../site-packages/asgiref/__init__.py",
    )
    assert shown == f"anyio_bridge.AsgirefAlreadyImportedError: {error}\n"
