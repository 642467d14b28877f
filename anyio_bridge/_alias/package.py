"""The stand-in ``asgiref`` package and the finder that serves its modules.

The stand-in is a package module whose ``asgiref.<name>`` submodules are the
very module objects ``anyio_bridge.<name>`` (:data:`SUBMODULES`).
:class:`AsgirefFinder` goes first on :data:`sys.meta_path`: it answers for
those names again if something removes them from :data:`sys.modules`, and
refuses any other ``asgiref.*`` name with a :class:`ModuleNotFoundError`, so
that no module of a real asgiref found on :data:`sys.path` can be imported
next to the stand-in.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from importlib.abc import Loader
else:
    # The import system only calls the methods; importing importlib.abc would
    # add about 9 ms to `import anyio_bridge` (it pulls importlib.resources).
    Loader = object

__all__ = [
    "ALIAS_OF",
    "ASGIREF_VERSION",
    "SUBMODULES",
    "AsgirefFinder",
    "is_asgiref",
    "is_ours",
    "new_package",
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

_ORIGIN: Final = "anyio-bridge's stand-in for asgiref"
_PACKAGE_DOC: Final = f"""\
anyio-bridge's stand-in for asgiref {ASGIREF_VERSION}.

anyio_bridge.as_asgiref put it here: asgiref.sync is anyio_bridge.sync,
asgiref.local is anyio_bridge.local, and so on for every module of asgiref.
"""


class AsgirefFinder(Loader):
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


def is_asgiref(name: str) -> bool:
    """Whether *name* is ``asgiref`` or the name of a module in it."""
    return name == "asgiref" or name.startswith("asgiref.")


def _is_stand_in(module: object) -> bool:
    return (
        isinstance(module, types.ModuleType)
        and vars(module).get("__alias_of__") == ALIAS_OF
    )


def is_ours(name: str, module: object, modules: Mapping[str, object]) -> bool:
    """Whether *module*, at the asgiref name *name* in *modules*, is the
    alias's (the stand-in, or the ``anyio_bridge`` module it maps to)."""
    if name == "asgiref":
        return _is_stand_in(module)
    submodule = name.partition(".")[2]
    return (
        submodule in SUBMODULES
        and module is not None
        and module is modules.get(f"{ALIAS_OF}.{submodule}")
    )


def new_package() -> types.ModuleType:
    """A new stand-in ``asgiref`` package, without its modules."""
    package = types.ModuleType("asgiref", _PACKAGE_DOC)
    vars(package).update(
        __version__=ASGIREF_VERSION, __alias_of__=ALIAS_OF, __path__=[]
    )
    return package
