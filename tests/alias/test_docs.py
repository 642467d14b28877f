"""The rest of the docs page: its programs and messages are the real ones."""

from __future__ import annotations

import anyio_bridge
import anyio_bridge.local
import anyio_bridge.sync

from .helpers import (
    checked,
    docs_blocks,
    python,
)

# Installing is process-wide and this process has the real asgiref imported,
# so the private modules of anyio_bridge._alias are tested on tables of
# their own, with the installing replaced where it would be process-wide.


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
