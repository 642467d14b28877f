"""Reading ``wrk``'s report, for the benchmarks that load a server with it.

:mod:`benchmarks.asgi_wsgi` and :mod:`benchmarks.e2e` both run ``wrk
--latency`` and read the same lines of its report; each adds what it checks
beyond them.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["LoadError", "latency_ms", "parse_report"]


class LoadError(Exception):
    """The load generator failed, gave no usable result, or saw bad responses."""


_UNITS: Final = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def latency_ms(text: str) -> float:
    """A wrk latency (``850.00us``, ``1.20ms``, ``2s``) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise LoadError(f"cannot read wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_report(output: str) -> dict[str, Any]:
    """req/s, requests, p50/p99 latency (ms), socket errors and non-2xx
    responses from wrk's report.

    :raises LoadError: the report has no result.
    """
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+)", output, re.M)
    if rate is None or done is None:
        raise LoadError(f"no result in wrk output: {output.strip()[-200:]!r}")
    result: dict[str, Any] = {"rate": float(rate[1]), "requests": int(done[1])}
    for percent in ("50", "99"):
        match = re.search(rf"^\s*{percent}(?:\.0+)?%\s+(\S+)", output, re.M)
        result[f"p{percent}_ms"] = latency_ms(match[1]) if match else None
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = sum(map(int, sockets.groups())) if sockets else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(non2xx[1]) if non2xx else 0
    return result
