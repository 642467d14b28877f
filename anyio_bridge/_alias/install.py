"""Installing the alias: :func:`install_as_asgiref`, and why it may refuse.

Installing puts the stand-in ``asgiref`` package and its modules into
:data:`sys.modules` and an :class:`~.package.AsgirefFinder` first on
:data:`sys.meta_path`.  It refuses, with :class:`AsgirefAlreadyImportedError`
and without changing anything, when a real asgiref module is imported
already: the modules that imported it would keep it, and the process would
run two asgirefs.  It also sets :data:`ENV_VAR` to ``1`` (unless it is
``0``), which child processes inherit (see :mod:`.startup`).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Final

from .package import ALIAS_OF, SUBMODULES, AsgirefFinder, is_asgiref, is_ours
from .package import new_package as _new_package

if TYPE_CHECKING:
    from _typeshed.importlib import MetaPathFinderProtocol

__all__ = [
    "ENV_VAR",
    "PROG",
    "PTH_FILE",
    "AsgirefAlreadyImportedError",
    "install",
    "install_as_asgiref",
]

PROG: Final = "python -m anyio_bridge.as_asgiref"
#: The environment variable that carries the alias into child processes:
#: in a process that starts with it, ``1`` installs the alias there
#: (:data:`PTH_FILE`); ``0``, empty or unset does not.
#: :func:`install_as_asgiref` sets it to ``1`` unless it is ``0``.
ENV_VAR: Final = "ANYIO_BRIDGE_AS_ASGIREF"
#: The file the distribution installs in site-packages, whose line reads
#: :data:`ENV_VAR` at interpreter startup (:func:`.startup.pth_file_text`).
PTH_FILE: Final = "anyio_bridge_as_asgiref.pth"

_lock = threading.Lock()


class AsgirefAlreadyImportedError(RuntimeError):
    """The real asgiref is imported already, so the alias cannot be installed.

    Raised by :func:`install_as_asgiref` and by importing
    ``anyio_bridge.as_asgiref``, which then change nothing.  The message
    lists the modules and how to install the alias earlier.

    It is a :class:`RuntimeError`, not an :class:`ImportError`: it reports
    the order a program starts up in, which ``except ImportError`` fallbacks
    (such as the one in Django's ``manage.py``) must not swallow.

    :ivar modules: the ``asgiref`` names in :data:`sys.modules` that are not
        anyio-bridge's, sorted.
    :ivar location: the file of the ``asgiref`` module found there, if any.
    """

    __module__ = "anyio_bridge"  # where it is exported, and how it pickles

    def __init__(self, modules: Iterable[str], location: str | None = None) -> None:
        self.modules = tuple(sorted(modules))
        self.location = location
        where = f" (the real asgiref, from {location})" if location else ""
        super().__init__(
            "anyio-bridge cannot stand in for asgiref: asgiref is imported "
            f"already{where}; sys.modules has {', '.join(self.modules)}. "
            "Whatever imported it would keep the real asgiref while the rest "
            "of the process got anyio-bridge's, so nothing was changed. "
            "Install the alias before anything imports asgiref:\n"
            f"  - run the program with `{PROG} SCRIPT [ARG ...]` or "
            f"`{PROG} -m MODULE [ARG ...]`;\n"
            "  - with pytest, pass `-p anyio_bridge.as_asgiref` (on the command "
            "line or first in addopts), which loads before plugins that "
            "import asgiref, such as pytest-django;\n"
            "  - or make `import anyio_bridge.as_asgiref` the first import of "
            "manage.py, asgi.py, wsgi.py or conftest.py, ahead of Django, "
            "Channels and asgiref."
        )

    def __reduce__(
        self,
    ) -> tuple[type[AsgirefAlreadyImportedError], tuple[tuple[str, ...], str | None]]:
        return (type(self), (self.modules, self.location))


def install_as_asgiref() -> types.ModuleType:
    """Make ``import asgiref`` and its modules give anyio-bridge's, process-wide.

    From then on ``asgiref.sync`` is :mod:`anyio_bridge.sync`, and so on for
    ``local``, ``testing``, ``server``, ``compatibility``, ``timeout``,
    ``wsgi``, ``typing`` and ``current_thread_executor``; any other
    ``asgiref.*`` import raises :class:`ModuleNotFoundError`.  The
    ``asgiref`` module is a stand-in package with those modules as
    attributes, ``__version__`` set to the asgiref version anyio-bridge
    follows (:data:`~.package.ASGIREF_VERSION`) and ``__alias_of__`` set to
    ``"anyio_bridge"``.

    Call it before anything imports asgiref.  Calling it again does nothing.
    Importing ``anyio_bridge.as_asgiref`` calls it.

    Child processes get the alias too: it sets the environment variable
    ``ANYIO_BRIDGE_AS_ASGIREF`` to ``1`` (unless it is ``0``), and a Python
    process of an environment where anyio-bridge is installed, started with
    that variable, installs the alias when it imports asgiref.  Set the
    variable to ``0`` to keep child processes from getting it.

    :return: the stand-in ``asgiref`` module.
    :raises AsgirefAlreadyImportedError: a real asgiref module is imported
        already; nothing was changed.
    """
    return install(sys.modules, sys.meta_path, os.environ)


def install(
    modules: MutableMapping[str, types.ModuleType],
    meta_path: list[MetaPathFinderProtocol],
    environ: MutableMapping[str, str],
) -> types.ModuleType:
    """:func:`install_as_asgiref` on the given module table, finder list and
    environment."""
    with _lock:
        present = dict(modules)  # one copy: other threads may be importing
        blocking = [
            name
            for name, module in present.items()
            if is_asgiref(name) and not is_ours(name, module, present)
        ]
        if blocking:
            real = present.get("asgiref")
            raise AsgirefAlreadyImportedError(blocking, getattr(real, "__file__", None))
        finder = next(
            (entry for entry in meta_path if isinstance(entry, AsgirefFinder)), None
        )
        if finder is None:
            package = present.get("asgiref") or _new_package()
            submodules = {
                name: importlib.import_module(f"{ALIAS_OF}.{name}")
                for name in SUBMODULES
            }
            finder = AsgirefFinder(package, submodules)
            meta_path.insert(0, finder)
        package = finder.package
        package.__spec__ = finder.find_spec("asgiref", None)
        package.__loader__ = finder
        package.__package__ = "asgiref"
        for name, module in finder.submodules.items():
            setattr(package, name, module)
            modules[f"asgiref.{name}"] = module
        modules["asgiref"] = package
        if environ.get(ENV_VAR) != "0":  # for child processes (PTH_FILE)
            environ[ENV_VAR] = "1"
        return package
