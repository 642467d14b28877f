"""Shared by the tests of the asgiref stand-in: running Python, the docs
page, tables to install on, and programs that report what they see."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from anyio_bridge import _alias
from anyio_bridge._alias import package as alias_package

REPO = Path(__file__).resolve().parents[2]
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


def tables_without_asgiref() -> tuple[dict[str, Any], list[Any]]:
    """This process's modules minus asgiref's, and an empty sys.meta_path."""
    modules = {
        name: module
        for name, module in sys.modules.items()
        if not alias_package.is_asgiref(name)
    }
    return modules, []


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
