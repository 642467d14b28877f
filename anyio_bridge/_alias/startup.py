"""The startup hook that carries the alias into child processes.

:func:`~.install.install_as_asgiref` sets :data:`~.install.ENV_VAR` to ``1``
in :data:`os.environ`, which child processes inherit, and the distribution
ships :data:`~.install.PTH_FILE` into site-packages (its text is
:func:`pth_file_text`).  In a process that starts with the variable set (and
not ``0``), that file's line puts a small finder first on
:data:`sys.meta_path` (:data:`PTH_CODE`), which installs the alias when the
process first imports asgiref (:func:`install_at_first_import`).  A spawned
or forkserver ``multiprocessing`` child, a ``subprocess`` running Python, or
Django's autoreloader re-executing ``sys.argv`` thus gets the alias, and a
child that never imports asgiref does not even import anyio-bridge.

The finder of environments installed before this package existed imports
``anyio_bridge._alias._install_at_first_import``, as :data:`PTH_CODE` still
does: :mod:`anyio_bridge._alias` keeps exporting it under that name.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from typing import Final

from .install import ENV_VAR, PTH_FILE, AsgirefAlreadyImportedError, install_as_asgiref
from .package import AsgirefFinder

__all__ = ["PTH_CODE", "install_at_first_import", "pth_file_text"]

#: What :data:`PTH_FILE` runs at the start of a process whose environment has
#: :data:`ENV_VAR`, neither empty nor ``0``: it puts a finder first on
#: :data:`sys.meta_path`, and imports nothing more until the process first
#: imports asgiref.  Then the finder imports anyio-bridge and hands over to
#: :func:`install_at_first_import`, once.  The finder stays on sys.meta_path
#: (removing an entry could make an import running in another thread skip
#: the next finder), and is the mark that the file ran: Python reads a
#: virtual environment's .pth files twice.  It runs with site's namespace as
#: its globals, hence the imports in the method.
PTH_CODE: Final = """\
import os, sys


class AnyioBridgeAsAsgiref:
    \"\"\"Installs anyio-bridge as asgiref when the process first imports asgiref.\"\"\"

    __module__ = "anyio_bridge_as_asgiref.pth"
    variable = ""
    fired = False

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if cls.fired or not (name == "asgiref" or name.startswith("asgiref.")):
            return None
        cls.fired = True
        try:
            from anyio_bridge._alias import _install_at_first_import
        except Exception as exc:
            import sys

            print(
                "anyio-bridge: ANYIO_BRIDGE_AS_ASGIREF is set, but importing "
                f"anyio_bridge failed ({exc!r}), so asgiref is not aliased in "
                "this process",
                file=sys.stderr,
            )
            return None
        return _install_at_first_import(cls.variable, name, path, target)


if not any(
    getattr(finder, "__module__", None) == "anyio_bridge_as_asgiref.pth"
    for finder in sys.meta_path
):
    AnyioBridgeAsAsgiref.variable = os.environ["ANYIO_BRIDGE_AS_ASGIREF"]
    sys.meta_path.insert(0, AnyioBridgeAsAsgiref)
    if "asgiref" in sys.modules:  # imported before this file ran: say so now
        AnyioBridgeAsAsgiref.find_spec("asgiref")
"""


def install_at_first_import(
    variable: str,
    name: str,
    path: Sequence[str] | None = None,
    target: types.ModuleType | None = None,
) -> ModuleSpec | None:
    """Install the alias for :data:`PTH_FILE`'s finder, and find *name* with it.

    The finder calls it when a process that started with :data:`ENV_VAR` set
    (to *variable*, neither empty nor ``0``) first imports ``asgiref`` or a
    module of it, *name*.  It returns the alias's spec for *name*; or, when
    the alias cannot be installed, ``None``, after reporting why in one line
    on :data:`sys.stderr`, and the import goes on to the real asgiref: a
    broken alias must not stop every Python process of the environment.
    """
    if variable != "1":
        problem = f"{ENV_VAR}={variable!r} is neither 1 nor 0"
    else:
        try:
            package = install_as_asgiref()
        except AsgirefAlreadyImportedError as exc:
            real = f" (from {exc.location})" if exc.location else ""
            problem = (
                f"{ENV_VAR}=1, but the real asgiref{real} was imported before "
                f"{PTH_FILE} ran (sys.modules has {', '.join(exc.modules)})"
            )
        except Exception as exc:
            detail = " ".join(str(exc).split())
            problem = (
                f"{ENV_VAR}=1, but installing anyio-bridge as asgiref failed "
                f"({type(exc).__name__}: {detail})"
            )
        else:
            finder = package.__loader__
            assert isinstance(finder, AsgirefFinder)
            return finder.find_spec(name, path, target)
    print(
        f"anyio-bridge: {problem}, so asgiref is not aliased in this process",
        file=sys.stderr,
    )
    return None


def pth_file_text() -> str:
    """The text of :data:`PTH_FILE`: comments, and the line that runs
    :data:`PTH_CODE` when :data:`ENV_VAR` is set and neither empty nor ``0``
    (a .pth line that starts with ``import`` is run at interpreter startup)."""
    check = f'os.environ.get("{ENV_VAR}", "") not in ("", "0")'
    return (
        "# anyio-bridge: carries install_as_asgiref() into child processes\n"
        '# (docs/asgiref-alias.md, "Child processes").  install_as_asgiref() sets\n'
        f"# {ENV_VAR}=1, which child processes inherit.  In a process that\n"
        "# starts with it, the line below puts a finder first on sys.meta_path\n"
        "# that installs the alias when the process first imports asgiref.\n"
        "# Unset, empty or 0: the line only looks the variable up.\n"
        # Kept as it was when the code lived in anyio_bridge/_alias.py: a new
        # text would differ from the file installed environments have.
        "# Generated from anyio_bridge/_alias.py (_PTH_CODE, _pth_file_text).\n"
        f"import os; {check} and exec({PTH_CODE!r})\n"
    )
