"""``X-Request-ID``: taken from the client when usable, made otherwise, echoed in the answer,
bound to the gateway's log lines and sent with every RPC call as nameko context data."""

from __future__ import annotations

import uuid

from flask import Flask, Response, g, request

from chassis.logs import HEADER, bind_request_id, reset_request_id, valid_request_id


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
