"""``X-Request-ID``: taken from the client when usable, made otherwise, echoed in the answer,
bound to the gateway's log lines and sent with every RPC call as nameko context data."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from flask import Flask, Response, g, request

from chassis.logs import (
    HEADER,
    REQUEST_ID,
    bind_request_id,
    reset_request_id,
    valid_request_id,
)

# gunicorn's name for the answer's X-Request-ID among the access line's atoms
_ACCESS_ATOM = f"{{{HEADER.lower()}}}o"


def install(app: Flask) -> None:
    @app.before_request
    def _take_request_id() -> None:
        g.request_id = valid_request_id(request.headers.get(HEADER)) or uuid.uuid4().hex
        g.request_id_token = bind_request_id(g.request_id)

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        if "request_id" in g:
            response.headers[HEADER] = g.request_id
        return response

    @app.teardown_request
    def _unbind_request_id(exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            reset_request_id(token)


class AccessLogRequestId(logging.Filter):
    """Gives gunicorn's access line the request id it answered with as a field of its own, as
    every other line has it: gunicorn writes that line after the request's context is gone."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        answered = atoms.get(_ACCESS_ATOM) if isinstance(atoms, Mapping) else None
        if isinstance(answered, str):
            request_id = valid_request_id(answered)
            if request_id:
                setattr(record, REQUEST_ID, request_id)
        return True
