"""anyio-bridge installed as asgiref (see ``docs/asgiref-alias.md``).

:func:`install_as_asgiref` makes every ``import asgiref...`` in the process
give anyio-bridge's modules:

- a stand-in ``asgiref`` package goes into :data:`sys.modules`, and
  ``asgiref.sync``, ``asgiref.local`` and the other modules of asgiref go
  there as the very module objects :mod:`anyio_bridge.sync`,
  :mod:`anyio_bridge.local` and so on (also attributes of the stand-in);
- a finder goes first on :data:`sys.meta_path`.  It answers for those names
  again if something removes them from :data:`sys.modules`, and refuses any
  other ``asgiref.*`` name with a :class:`ModuleNotFoundError`, so that no
  module of a real asgiref found on :data:`sys.path` can be imported next to
  the stand-in.

Installing refuses, with :class:`AsgirefAlreadyImportedError` and without
changing anything, when a real asgiref module is imported already: the
modules that imported it would keep it, and the process would run two
asgirefs.

Child processes: installing also sets :data:`ENV_VAR` to ``1`` in
:data:`os.environ` (unless it is ``0``), which child processes inherit, and
the distribution ships :data:`PTH_FILE` into site-packages.  In a process
that starts with the variable set (and not ``0``), that file's line puts a
small finder first on :data:`sys.meta_path` (:data:`_PTH_CODE`), which
installs the alias when the process first imports asgiref
(:func:`_install_at_first_import`).  A spawned or forkserver
``multiprocessing`` child, a ``subprocess`` running Python, or Django's
autoreloader re-executing ``sys.argv`` thus gets the alias, and a child that
never imports asgiref does not even import anyio-bridge.

:func:`main` is ``python -m anyio_bridge.as_asgiref``: it installs the alias,
then runs a script or module as ``python SCRIPT`` or ``python -m MODULE``
would (a module, directory or zip file through :mod:`runpy`).

``import anyio_bridge`` imports this module, so it only imports what that
loads anyway (not :mod:`importlib.abc`, nor :mod:`runpy`); the modules it
aliases are imported when the alias is installed.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from importlib.machinery import ModuleSpec
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from importlib.abc import Loader

    from _typeshed.importlib import MetaPathFinderProtocol
else:
    # The import system only calls the methods; importing importlib.abc would
    # add about 9 ms to `import anyio_bridge` (it pulls importlib.resources).
    Loader = object

__all__ = [
    "ASGIREF_VERSION",
    "AsgirefAlreadyImportedError",
    "SUBMODULES",
    "install_as_asgiref",
    "main",
]

#: The asgiref release whose behaviour anyio-bridge follows: the stand-in's
#: ``__version__``.
ASGIREF_VERSION: Final = "3.13.0"
#: The modules of asgiref; ``asgiref.<name>`` is ``anyio_bridge.<name>``.
SUBMODULES: Final = (
    "compatibility",
    "current_thread_executor",
    "local",
    "server",
    "sync",
    "testing",
    "timeout",
    "typing",
    "wsgi",
)
#: The stand-in's ``__alias_of__``: what tells it from a real asgiref.
ALIAS_OF: Final = "anyio_bridge"
PROG: Final = "python -m anyio_bridge.as_asgiref"
#: The environment variable that carries the alias into child processes:
#: in a process that starts with it, ``1`` installs the alias there
#: (:data:`PTH_FILE`); ``0``, empty or unset does not.
#: :func:`install_as_asgiref` sets it to ``1`` unless it is ``0``.
ENV_VAR: Final = "ANYIO_BRIDGE_AS_ASGIREF"
#: The file the distribution installs in site-packages, whose line reads
#: :data:`ENV_VAR` at interpreter startup (:func:`_pth_file_text`).
PTH_FILE: Final = "anyio_bridge_as_asgiref.pth"

_ORIGIN: Final = "anyio-bridge's stand-in for asgiref"
_PACKAGE_DOC: Final = f"""\
anyio-bridge's stand-in for asgiref {ASGIREF_VERSION}.

anyio_bridge.as_asgiref put it here: asgiref.sync is anyio_bridge.sync,
asgiref.local is anyio_bridge.local, and so on for every module of asgiref.
"""
_lock = threading.Lock()

#: What :data:`PTH_FILE` runs at the start of a process whose environment has
#: :data:`ENV_VAR`, neither empty nor ``0``: it puts a finder first on
#: :data:`sys.meta_path`, and imports nothing more until the process first
#: imports asgiref.  Then the finder imports anyio-bridge and hands over to
#: :func:`_install_at_first_import`, once.  The finder stays on sys.meta_path
#: (removing an entry could make an import running in another thread skip
#: the next finder), and is the mark that the file ran: Python reads a
#: virtual environment's .pth files twice.  It runs with site's namespace as
#: its globals, hence the imports in the method.
_PTH_CODE: Final = """\
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


class _AsgirefFinder(Loader):
    """Finds and loads the alias's modules; refuses other ``asgiref.*`` names.

    It loads a name by handing back the existing module object (the stand-in
    package or an ``anyio_bridge`` module), so a name removed from
    :data:`sys.modules` and imported again is the same object as before.
    """

    def __init__(
        self, package: types.ModuleType, submodules: Mapping[str, types.ModuleType]
    ) -> None:
        self.package = package
        self.submodules = dict(submodules)
        # The import system sets __spec__ on the module a loader creates; the
        # modules' own specs are put back in exec_module().
        self._specs: dict[str, ModuleSpec | None] = {
            module.__name__: module.__spec__ for module in self.submodules.values()
        }
        self._specs["asgiref"] = ModuleSpec(
            "asgiref", self, origin=_ORIGIN, is_package=True
        )

    def __repr__(self) -> str:
        return f"<{__name__}.{type(self).__qualname__}: asgiref is anyio_bridge>"

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname == "asgiref":
            return self._specs["asgiref"]
        if not fullname.startswith("asgiref."):
            return None
        name = fullname.partition(".")[2]
        module = self.submodules.get(name)
        if module is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: asgiref is anyio-bridge's "
                "stand-in here (anyio_bridge.as_asgiref), which has the modules "
                + ", ".join(f"asgiref.{sub}" for sub in SUBMODULES),
                name=fullname,
            )
        return ModuleSpec(fullname, self, origin=module.__file__)

    def create_module(self, spec: ModuleSpec) -> types.ModuleType:
        if spec.name == "asgiref":
            return self.package
        return self.submodules[spec.name.partition(".")[2]]

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self._specs[module.__name__]


def _is_asgiref(name: str) -> bool:
    return name == "asgiref" or name.startswith("asgiref.")


def _is_stand_in(module: object) -> bool:
    return (
        isinstance(module, types.ModuleType)
        and vars(module).get("__alias_of__") == ALIAS_OF
    )


def _is_ours(name: str, module: object, modules: Mapping[str, object]) -> bool:
    if name == "asgiref":
        return _is_stand_in(module)
    submodule = name.partition(".")[2]
    return (
        submodule in SUBMODULES
        and module is not None
        and module is modules.get(f"{ALIAS_OF}.{submodule}")
    )


def _new_package() -> types.ModuleType:
    package = types.ModuleType("asgiref", _PACKAGE_DOC)
    vars(package).update(
        __version__=ASGIREF_VERSION, __alias_of__=ALIAS_OF, __path__=[]
    )
    return package


def install_as_asgiref() -> types.ModuleType:
    """Make ``import asgiref`` and its modules give anyio-bridge's, process-wide.

    From then on ``asgiref.sync`` is :mod:`anyio_bridge.sync`, and so on for
    ``local``, ``testing``, ``server``, ``compatibility``, ``timeout``,
    ``wsgi``, ``typing`` and ``current_thread_executor``; any other
    ``asgiref.*`` import raises :class:`ModuleNotFoundError`.  The
    ``asgiref`` module is a stand-in package with those modules as
    attributes, ``__version__`` set to the asgiref version anyio-bridge
    follows (:data:`ASGIREF_VERSION`) and ``__alias_of__`` set to
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
    return _install(sys.modules, sys.meta_path, os.environ)


def _install_at_first_import(
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
            assert isinstance(finder, _AsgirefFinder)
            return finder.find_spec(name, path, target)
    print(
        f"anyio-bridge: {problem}, so asgiref is not aliased in this process",
        file=sys.stderr,
    )
    return None


def _install(
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
            if _is_asgiref(name) and not _is_ours(name, module, present)
        ]
        if blocking:
            real = present.get("asgiref")
            raise AsgirefAlreadyImportedError(blocking, getattr(real, "__file__", None))
        finder = next(
            (entry for entry in meta_path if isinstance(entry, _AsgirefFinder)), None
        )
        if finder is None:
            package = present.get("asgiref") or _new_package()
            submodules = {
                name: importlib.import_module(f"{ALIAS_OF}.{name}")
                for name in SUBMODULES
            }
            finder = _AsgirefFinder(package, submodules)
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


def _pth_file_text() -> str:
    """The text of :data:`PTH_FILE`: comments, and the line that runs
    :data:`_PTH_CODE` when :data:`ENV_VAR` is set and neither empty nor ``0``
    (a .pth line that starts with ``import`` is run at interpreter startup)."""
    check = f'os.environ.get("{ENV_VAR}", "") not in ("", "0")'
    return (
        "# anyio-bridge: carries install_as_asgiref() into child processes\n"
        '# (docs/asgiref-alias.md, "Child processes").  install_as_asgiref() sets\n'
        f"# {ENV_VAR}=1, which child processes inherit.  In a process that\n"
        "# starts with it, the line below puts a finder first on sys.meta_path\n"
        "# that installs the alias when the process first imports asgiref.\n"
        "# Unset, empty or 0: the line only looks the variable up.\n"
        "# Generated from anyio_bridge/_alias.py (_PTH_CODE, _pth_file_text).\n"
        f"import os; {check} and exec({_PTH_CODE!r})\n"
    )


# --- python -m anyio_bridge.as_asgiref ---------------------------------------

_USAGE: Final = f"usage: {PROG} SCRIPT [ARG ...]\n       {PROG} -m MODULE [ARG ...]\n"
_HELP: Final = f"""{_USAGE}
Run a Python program with anyio-bridge installed as asgiref: every
`import asgiref...` in it gets anyio-bridge's modules.

  SCRIPT     a Python file (or a directory or zip file with a __main__.py),
             run as `python SCRIPT` runs it
  -m MODULE  a module (or a package with a __main__ module), run as
             `python -m MODULE` runs it
  ARG ...    the program's arguments: its sys.argv[1:]

Options for the interpreter go before `-m anyio_bridge.as_asgiref`.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m anyio_bridge.as_asgiref``; return the exit status.

    *argv* is the command's arguments (``sys.argv[1:]`` by default).  The
    program's own exit status arrives as :class:`SystemExit`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        return _usage_error("expected SCRIPT or -m MODULE")
    first, rest = args[0], args[1:]
    if first in ("-h", "--help"):
        print(_HELP, end="")
        return 0
    run: Callable[[], int]
    if first.startswith("-m"):
        module = first[2:]
        if not module:
            if not rest:
                return _usage_error("argument -m: expected a module name")
            module, rest = rest[0], rest[1:]
        run = functools.partial(_run_module, module, rest)
    elif first.startswith("-"):
        return _usage_error(
            f"unrecognized option {first!r}: give SCRIPT or -m MODULE (options "
            "for the interpreter go before -m anyio_bridge.as_asgiref)"
        )
    else:
        run = functools.partial(_run_script, first, rest)
    try:
        install_as_asgiref()
    except AsgirefAlreadyImportedError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return run()


def _usage_error(message: str) -> int:
    print(f"{_USAGE}{PROG}: error: {message}", file=sys.stderr)
    return 2


def _run_script(path: str, args: list[str]) -> int:
    import pkgutil
    import runpy

    if not os.path.exists(path):
        print(
            f"{PROG}: can't open file {os.path.abspath(path)!r}: "
            "[Errno 2] No such file or directory",
            file=sys.stderr,
        )
        return 2
    sys.argv[:] = [path, *args]
    is_file = pkgutil.get_importer(path) is None  # else a directory or zip file
    # sys.path[0] is the current directory, put there by `python -m`; with
    # -P (sys.flags.safe_path) it is not, and python SCRIPT would add nothing.
    if not getattr(sys.flags, "safe_path", False):
        if is_file:
            sys.path[0] = os.path.dirname(os.path.realpath(path))
        else:  # runpy puts the directory or zip file first
            del sys.path[0]
    if is_file and not path.endswith(".pyc"):
        return _run(functools.partial(_exec_main, path))
    return _run(lambda: runpy.run_path(path, run_name="__main__"))


def _exec_main(path: str) -> None:
    """Run the source file *path* in a new ``__main__``, as ``python SCRIPT`` does.

    Not :func:`runpy.run_path`: that sets ``__file__`` to *path* as given,
    where python gives the absolute path (sys.argv[0] stays as given), and
    puts the old ``__main__`` back once the script's top level returns, while
    its threads and atexit functions may still need the script's.
    """
    import builtins
    from importlib.machinery import SourceFileLoader

    filename = os.path.abspath(path)
    loader = SourceFileLoader("__main__", filename)
    module = types.ModuleType("__main__")
    vars(module).update(
        __file__=filename, __loader__=loader, __builtins__=builtins, __cached__=None
    )
    code = compile(loader.get_data(filename), filename, "exec", dont_inherit=True)
    sys.modules["__main__"] = module
    exec(code, vars(module))


def _run_module(name: str, args: list[str]) -> int:
    import runpy

    # As python -m: "-m" while the module is looked up, then its file (set
    # by runpy); sys.path[0] stays the current directory.
    sys.argv[:] = ["-m", *args]
    return _run(lambda: runpy.run_module(name, run_name="__main__", alter_sys=True))


def _run(program: Callable[[], object]) -> int:
    """Run *program*; report an exception from it as python would, with status 1.

    The frames of this module, of :mod:`runpy` and of the import system that
    come before the program's are left out of the traceback.  An
    :class:`ImportError` with no frames left came from runpy not finding the
    program, which python reports in one line.
    """
    try:
        program()
    except Exception as exc:
        tb = exc.__traceback__
        while tb is not None and _is_runner_frame(tb.tb_frame.f_globals):
            tb = tb.tb_next
        if tb is None and isinstance(exc, ImportError):
            print(f"{PROG}: {exc}", file=sys.stderr)
        else:
            sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        return 1
    return 0


def _is_runner_frame(namespace: Mapping[str, object]) -> bool:
    name = namespace.get("__name__")
    return name in (__name__, "runpy") or str(name).startswith("importlib.")
