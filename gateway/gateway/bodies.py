"""A bound on request bodies that holds for chunked bodies too.

Flask refuses a body whose ``Content-Length`` is over ``MAX_CONTENT_LENGTH`` with 413. A body
sent with ``Transfer-Encoding: chunked`` has no length up front: Werkzeug then reads it up to
the limit and silently stops there, so the view sees a truncated document (an "invalid JSON"
400, or worse, a valid prefix). Here such a body is read up to one byte past the limit first:
over it, the request is answered with the same 413 as a declared length gets; within it, the
body is handed on with its length known.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

CHUNK = 64 * 1024
_TOO_LARGE = "shop.body_too_large"


def install(app: Flask, limit: int) -> None:
    """Bound every body of ``app`` to ``limit`` bytes, declared or chunked. Install after the
    request id, so that the 413 echoes it like every other answer."""
    app.wsgi_app = BoundedBody(app.wsgi_app, limit)  # type: ignore[method-assign]

    @app.before_request
    def _refuse_too_large() -> None:
        if request.environ.get(_TOO_LARGE):
            raise RequestEntityTooLarge()


class BoundedBody:
    """WSGI middleware: a chunked body is buffered (up to ``limit``) and given a length."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            body = _read_at_most(environ["wsgi.input"], self.limit + 1)
            if len(body) > self.limit:
                environ[_TOO_LARGE] = True
                body = b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


def _read_at_most(stream: Any, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = stream.read(min(CHUNK, left))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
