"""Development sessions: ``nox`` runs lint, typecheck and tests; see ``nox -l``.

* ``nox -s tests`` runs the test suite on every supported Python that is
  installed (missing interpreters are skipped), ``nox -s tests-3.12`` on one;
  arguments after ``--`` go to pytest.
* ``nox -s floors`` runs it on the oldest releases anyio-bridge supports
  (``constraints/floors.txt``: the ``>=`` floors of pyproject.toml, checked by
  ``constraints/check_floors.py``) on Python 3.10 and 3.13;
  ``nox -s tests-latest`` on the newest releases of anyio, trio, hypercorn,
  sniffio and typing_extensions, even in a reused virtualenv.
* ``nox -s lint``, ``nox -s typecheck`` and ``nox -s docs`` run ruff, mypy and
  pyright, and ``mkdocs build --strict``.
* ``nox -s bench`` runs ``benchmarks/bench_sync.py`` once per thread
  placement; arguments after ``--`` go to a single run instead (for example
  ``nox -s bench -- --quick --output /tmp/sync.md``).
* ``nox -s bench-wsgi`` runs ``benchmarks/bench_wsgi.py`` (WsgiToAsgi against
  asgiref, a2wsgi, hypercorn's wrapper and starlette), the same way.
* ``nox -s bench-asgi-wsgi`` runs ``benchmarks/bench_asgi_wsgi.py`` (AsgiToWsgi
  against a2wsgi's ASGIMiddleware under gunicorn), the same way.
* ``nox -s bench-e2e`` runs ``benchmarks/bench_e2e.py`` (``wrk`` over loopback
  against ``anyio-bridge serve``, gunicorn, uvicorn and granian serving Flask),
  the same way.
"""

from __future__ import annotations

import os

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest, with coverage) on one Python version."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


#: The packages whose floors pyproject.toml declares (see constraints/).
FLOORED = ["anyio", "trio", "hypercorn[trio]", "sniffio", "typing_extensions"]


@nox.session(python=["3.10", "3.13"])
def floors(session: nox.Session) -> None:
    """Run the test suite on the dependency floors (constraints/floors*.txt).

    The first Python is the oldest supported, where typing_extensions is used;
    the last the newest.  Coverage is off (it is measured by ``tests``);
    arguments after ``--`` go to pytest.
    """
    session.run("python", "constraints/check_floors.py")
    session.install("-c", "constraints/floors.txt", "-e", ".[test]")
    # Floors no resolver can place next to the test extra: forced over it.
    session.install("--no-deps", "-r", "constraints/floors-forced.txt")
    session.run("python", "-m", "pip", "list")
    session.run("pytest", "--no-cov", "-p", "no:cacheprovider", *session.posargs)


@nox.session(name="tests-latest", python=["3.10", "3.13"])
def tests_latest(session: nox.Session) -> None:
    """Run the test suite on the newest releases of the floored dependencies.

    Upgrades them even in a reused virtualenv; arguments after ``--`` go to
    pytest.
    """
    session.install("-e", ".[test]")
    session.install("--upgrade", *FLOORED)
    session.run("python", "-m", "pip", "list")
    session.run("pytest", "--no-cov", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff (nothing is rewritten)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check the package with mypy in strict mode and with pyright."""
    session.install("-e", ".[lint]")
    session.run("mypy", "--strict", "anyio_bridge")
    session.run("pyright", "anyio_bridge")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site, failing on any warning or broken link."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the sync/async bridge benchmark; it rewrites benchmarks/results/.

    Without arguments it runs once per thread placement (free, and where
    threads can be pinned, one CPU and two CPUs); arguments after ``--`` are
    passed to a single run instead.
    """
    session.install("-e", ".[bench]")
    if session.posargs:
        session.run("python", "benchmarks/bench_sync.py", *session.posargs)
        return
    placements = ["free"]
    if hasattr(os, "sched_getaffinity") and os.path.isdir("/proc/self/task"):
        placements.append("one-cpu")
        if len(os.sched_getaffinity(0)) >= 2:
            placements.append("two-cpus")
    for placement in placements:
        session.run("python", "benchmarks/bench_sync.py", "--placement", placement)


@nox.session(name="bench-wsgi")
def bench_wsgi(session: nox.Session) -> None:
    """Run the WSGI adapter benchmark; it rewrites benchmarks/results/wsgi.*."""
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/bench_wsgi.py", *session.posargs)


@nox.session(name="bench-asgi-wsgi")
def bench_asgi_wsgi(session: nox.Session) -> None:
    """Run the AsgiToWsgi benchmark; it rewrites benchmarks/results/asgi_wsgi.*.

    The servers are gunicorn's (installed here next to the bench extra); the
    load comes from ``wrk`` if it is on PATH (a system package), else from a
    Python client.  Arguments after ``--`` go to the script (``--quick``).
    """
    session.install("-e", ".[bench]", "gunicorn")
    session.run("python", "benchmarks/bench_asgi_wsgi.py", *session.posargs)


@nox.session(name="bench-e2e")
def bench_e2e(session: nox.Session) -> None:
    """Run the end-to-end benchmark; it rewrites benchmarks/results/e2e.*.

    Every server is a subprocess of this session's Python (the bench extra
    brings gunicorn, uvicorn, hypercorn, granian and Flask); the load comes
    from ``wrk``, a system package (``apt-get install -y wrk``): without it
    the script says so and writes nothing.  Arguments after ``--`` go to the
    script (``--quick``, ``--profile serve-trio:hello``).
    """
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/bench_e2e.py", *session.posargs)
