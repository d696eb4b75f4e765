"""A container health probe made of the standard library alone (the images have no curl).

    python healthcheck.py 'http://127.0.0.1:${OPS_PORT}/health/live'   # healthy on a 2xx answer
    python healthcheck.py tcp://127.0.0.1:1025                          # healthy if it connects

``$NAME`` and ``${NAME}`` in the address are read from the environment: an exec-form
HEALTHCHECK has no shell to expand them, and the probe must follow the port the container was
configured with. Exits 0 when healthy, 1 otherwise with the reason on stderr, which
``docker inspect`` shows.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT = 3.0  # seconds; the orchestrator's own probe timeout bounds it too

# A proxy from the environment (HTTP_PROXY) must not carry a probe of the container itself.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(address: str, timeout: float = TIMEOUT) -> str | None:
    """What is wrong with ``address`` (http, https or tcp URL), or None when it is healthy."""
    expanded = os.path.expandvars(address)
    if "$" in expanded:  # expandvars leaves unset variables as they are
        return f"{address}: a variable it names is not set"
    url = urlsplit(expanded)
    if url.scheme == "tcp":
        try:
            socket.create_connection((url.hostname, url.port), timeout=timeout).close()
        except (OSError, ValueError, TypeError) as exc:  # refused, or not host:port
            return f"{expanded}: {exc.__class__.__name__}: {exc}"
        return None
    if url.scheme not in ("http", "https"):
        return f"{expanded}: not an http, https or tcp address"
    try:
        with _opener.open(expanded, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"{expanded}: HTTP {exc.code}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out...
        return f"{expanded}: {exc.__class__.__name__}: {exc}"
    return None if 200 <= status < 300 else f"{expanded}: HTTP {status}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: healthcheck.py URL  (http://, https:// or tcp://)", file=sys.stderr)
        return 1  # Docker reserves 2; anything but 0 is "unhealthy"
    problem = probe(argv[0])
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
