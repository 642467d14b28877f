"""The load: ``wrk`` with a Lua script that checks every response.

``wrk -t1 -c64 -d{N}s --latency -s check.lua URL`` keeps 64 keep-alive
connections busy for a window of whole seconds.  One wrk thread is enough
for every server measured here and leaves the other CPU to the server.

The script's ``response()`` is called for every response: it counts those
whose status is not 200 or whose body (de-chunked by wrk) is not the size
the path must answer with (and, for the hello paths, not exactly
``Hello, world!``).  ``done()`` prints the counts on a line of its own.  A
window with any bad response, or any socket error (connect, read, write,
timeout), fails its row with ``error: ...``: a server that answers quickly
but wrongly, or drops connections, must not look fast.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..wrk import LoadError, parse_report

WRK_THREADS = 1
#: a wrk run that takes this much longer than its window is killed
GRACE_S = 30.0
#: wrk's own per-request timeout (counted as a socket error)
REQUEST_TIMEOUT_S = 10

INSTALL_WRK = "apt-get install -y wrk"

_SCRIPT = """\
-- bench_e2e: check every response's status and body.
local want_size = {size}
local want_body = {body}
responses = 0
bad_status = 0
bad_body = 0
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif #body ~= want_size or (want_body ~= nil and body ~= want_body) then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local r, s, b = 0, 0, 0
  for _, thread in ipairs(threads) do
    r = r + thread:get("responses")
    s = s + thread:get("bad_status")
    b = b + thread:get("bad_body")
  end
  io.write(string.format(
    "bench_e2e check: responses %d bad_status %d bad_body %d\\n", r, s, b))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str | None:
    """wrk's version line, or ``None`` if wrk is not on PATH."""
    wrk = wrk_path()
    if wrk is None:
        return None
    try:
        done = subprocess.run(
            [wrk, "-v"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0] if text else "wrk"


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'


def write_script(directory: Path, name: str, size: int, body: bytes | None) -> Path:
    """The Lua check script for responses of *size* bytes (exactly *body*)."""
    path = directory / f"check-{name}.lua"
    text = _SCRIPT.format(size=size, body="nil" if body is None else _lua_string(body))
    path.write_text(text, encoding="utf-8")
    return path


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, latency percentiles, errors and the check counts from wrk."""
    result = parse_report(output)
    check = re.search(
        r"bench_e2e check: responses (\d+) bad_status (\d+) bad_body (\d+)", output
    )
    if check is None:
        raise LoadError("wrk's check script printed nothing")
    result["checked"] = int(check[1])
    result["bad_status"] = int(check[2])
    result["bad_body"] = int(check[3])
    return result


def problems(result: dict[str, Any]) -> str | None:
    """What was wrong in a window, or ``None`` if every response was right."""
    wrong = []
    if result["bad_status"] or result["non_2xx"]:
        count = max(result["bad_status"], result["non_2xx"])
        wrong.append(f"{count} responses not 200")
    if result["bad_body"]:
        wrong.append(f"{result['bad_body']} bodies of the wrong size or content")
    if result["socket_errors"]:
        wrong.append(f"{result['socket_errors']} socket errors")
    if not result["checked"]:
        wrong.append("no response")
    if not wrong:
        return None
    return f"{', '.join(wrong)} (of {result['checked']} responses)"


def run_wrk(
    port: int, path: str, script: Path, connections: int, seconds: int
) -> dict[str, Any]:
    """One window of load: ``rate`` (req/s), ``p50_ms``, ``p99_ms``, checks.

    :raises LoadError: wrk is missing, failed, or printed no result.
    """
    wrk = wrk_path()
    if wrk is None:
        raise LoadError(f"wrk is not installed ({INSTALL_WRK})")
    command = [
        wrk,
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        f"{REQUEST_TIMEOUT_S}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{path}",
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + GRACE_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"wrk ran past {seconds + GRACE_S:g} s") from exc
    if done.returncode != 0:
        raise LoadError(f"wrk exit status {done.returncode}: {done.stderr.strip()}")
    return parse_wrk(done.stdout)
