"""Check that constraints/floors*.txt pin exactly the floors pyproject.toml declares.

The floors are the ``>=`` bounds of ``[project] dependencies`` and of the
``trio`` and ``serve`` extras (the extras that change what anyio-bridge runs
on).  Each must appear as one ``name==version`` line, with the same
environment marker, in ``constraints/floors.txt`` or
``constraints/floors-forced.txt``; every ``==`` line there must be such a
floor.  Lines with other operators (``pytest<9.2``) are allowed: they steer
the test tools, not the floors.  The other extras (test, lint, bench, ...) may
not ask for less than a floor either, or they would install a release the
floors run never tested.

Run it with any Python 3.10+ that has ``packaging`` (pip's own copy will do)
and, on 3.10, ``tomli``: ``python constraints/check_floors.py``.  Exits 1 and
says what differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # pragma: no cover - pip vendors it
    from pip._vendor.packaging.requirements import (  # type: ignore[no-redef]
        Requirement,
    )
    from pip._vendor.packaging.utils import (  # type: ignore[no-redef]
        canonicalize_name,
    )
    from pip._vendor.packaging.version import Version  # type: ignore[no-redef]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:
        from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINT_FILES = [
    ROOT / "constraints" / "floors.txt",
    ROOT / "constraints" / "floors-forced.txt",
]
#: Extras whose floors are floors of anyio-bridge itself.
FLOOR_EXTRAS = ("trio", "serve")


def _marker(req: Requirement) -> str:
    return str(req.marker) if req.marker is not None else ""


def _floor(req: Requirement) -> Version | None:
    floors = [Version(s.version) for s in req.specifier if s.operator == ">="]
    return max(floors) if floors else None


def declared_floors(
    project: dict[str, object], errors: list[str]
) -> dict[str, tuple[Version, str, str]]:
    """name -> (floor, marker, where) for the dependencies and FLOOR_EXTRAS."""
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})  # type: ignore[assignment]
    sources = [("[project] dependencies", project.get("dependencies", []))]
    sources += [(f"extra {name!r}", extras.get(name, [])) for name in FLOOR_EXTRAS]
    floors: dict[str, tuple[Version, str, str]] = {}
    for where, lines in sources:
        for line in lines:  # type: ignore[attr-defined]
            req = Requirement(line)
            name = canonicalize_name(req.name)
            if name == "anyio-bridge":
                continue  # a self-reference, such as anyio-bridge[trio]
            floor = _floor(req)
            if floor is None:
                errors.append(f"pyproject.toml, {where}: {line!r} declares no >= floor")
                continue
            if name in floors and floors[name][:2] != (floor, _marker(req)):
                previous = floors[name]
                errors.append(
                    f"pyproject.toml: {req.name} has floor {floor} in {where} but "
                    f"{previous[0]} in {previous[2]}"
                )
                continue
            floors.setdefault(name, (floor, _marker(req), where))
    return floors


def pinned_floors(errors: list[str]) -> dict[str, tuple[Version, str, str]]:
    """name -> (version, marker, file) for every ``==`` line of the files."""
    pins: dict[str, tuple[Version, str, str]] = {}
    for path in CONSTRAINT_FILES:
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            req = Requirement(line)
            specs = list(req.specifier)
            if not any(s.operator == "==" for s in specs):
                continue  # a constraint on a test tool, not a floor
            where = f"{path.relative_to(ROOT)}:{number}"
            if len(specs) != 1 or req.extras:
                errors.append(f"{where}: a floor is a bare `name==version`: {line!r}")
                continue
            name = canonicalize_name(req.name)
            if name in pins:
                errors.append(f"{where}: {req.name} is pinned twice")
                continue
            pins[name] = (Version(specs[0].version), _marker(req), where)
    return pins


def other_extras_below(
    project: dict[str, object], floors: dict[str, tuple[Version, str, str]]
) -> list[str]:
    errors = []
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})  # type: ignore[assignment]
    for extra, lines in extras.items():
        if extra in FLOOR_EXTRAS:
            continue
        for line in lines:
            req = Requirement(line)
            name = canonicalize_name(req.name)
            floor = _floor(req)
            if name in floors and floor is not None and floor < floors[name][0]:
                errors.append(
                    f"pyproject.toml, extra {extra!r}: {line!r} is below the floor "
                    f"{req.name}>={floors[name][0]} ({floors[name][2]})"
                )
    return errors


def main() -> int:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    errors: list[str] = []
    floors = declared_floors(project, errors)
    pins = pinned_floors(errors)
    for name, (floor, marker, where) in sorted(floors.items()):
        if name not in pins:
            errors.append(
                f"{name}>={floor} ({where}) has no `{name}=={floor}` line in "
                "constraints/floors.txt or constraints/floors-forced.txt"
            )
            continue
        pinned, pin_marker, pin_where = pins[name]
        if pinned != floor:
            errors.append(
                f"{pin_where}: {name}=={pinned}, but pyproject.toml ({where}) "
                f"says {name}>={floor}"
            )
        elif pin_marker != marker:
            errors.append(
                f"{pin_where}: {name} has marker {pin_marker or 'none'!r}, but "
                f"pyproject.toml ({where}) has {marker or 'none'!r}"
            )
        else:
            shown = f"{name}=={pinned}" + (f"; {marker}" if marker else "")
            print(f"ok  {shown}  ({pin_where})")
    for name, (_, _, pin_where) in sorted(pins.items()):
        if name not in floors:
            errors.append(f"{pin_where}: {name} is pinned; pyproject.toml has no floor")
    errors += other_extras_below(project, floors)
    for error in errors:
        print(f"ERROR  {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
