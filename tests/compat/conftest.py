"""Django, Channels and Flask running on anyio-bridge through the asgiref alias.

These tests import ``asgiref`` as those frameworks do and must get
anyio-bridge's modules, so they run in a process of their own with the
alias installed first; tests/test_compat.py starts it as::

    python -m pytest -p anyio_bridge.as_asgiref tests/compat \
        --confcutdir tests/compat -p no:cacheprovider --no-cov

(``--confcutdir`` keeps tests/conftest.py, the main suite's, out of this run;
the main suite does not collect this directory.)

Django is configured here in code: the one-model application in
``djangoapp/``, an SQLite database in a temporary directory, the table made
with the schema editor, and ``CONN_MAX_AGE = 0``, so that Django closes a
connection at the end of each request.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_database_dir: Path | None = None


def _check_alias() -> None:
    import asgiref
    import asgiref.local
    import asgiref.sync
    import asgiref.testing

    import anyio_bridge.local
    import anyio_bridge.sync
    import anyio_bridge.testing

    if not (
        asgiref.sync.SyncToAsync is anyio_bridge.sync.SyncToAsync
        and asgiref.local.Local is anyio_bridge.local.Local
        and asgiref.testing.ApplicationCommunicator
        is anyio_bridge.testing.ApplicationCommunicator
    ):
        raise pytest.UsageError(
            f"`import asgiref` gave the real asgiref ({asgiref.__file__}); "
            "tests/compat needs anyio-bridge in its place: run it as "
            "`python -m pytest -p anyio_bridge.as_asgiref tests/compat "
            "--confcutdir tests/compat --no-cov` (tests/test_compat.py does)"
        )


def pytest_configure(config: pytest.Config) -> None:
    global _database_dir
    _check_alias()
    import django
    from django.conf import settings

    _database_dir = Path(tempfile.mkdtemp(prefix="anyio-bridge-compat-"))
    settings.configure(
        DEBUG=False,
        SECRET_KEY="compat tests only",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF="tests.compat.djangoapp.views",
        INSTALLED_APPS=["tests.compat.djangoapp"],
        MIDDLEWARE=[
            "tests.compat.djangoapp.trace.trace_middleware",
            "tests.compat.djangoapp.trace.TemplateResponseMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "loaders": [
                        (
                            "django.template.loaders.locmem.Loader",
                            {"note.txt": "note {{ text }}"},
                        )
                    ]
                },
            }
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(_database_dir / "db.sqlite3"),
                "CONN_MAX_AGE": 0,
            }
        },
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.db import connection

    from .djangoapp.models import Note

    with connection.schema_editor() as editor:
        editor.create_model(Note)
    connection.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _database_dir is not None:
        shutil.rmtree(_database_dir, ignore_errors=True)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _empty_database() -> Iterator[None]:
    """Every test starts with no notes and no traces."""
    from django.db import connection

    from .djangoapp import trace
    from .djangoapp.models import Note

    Note.objects.all().delete()
    connection.close()
    trace.reset()
    yield
    trace.reset()
