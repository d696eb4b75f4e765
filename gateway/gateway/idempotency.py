"""HTTP idempotency keys: a request retried with the same ``Idempotency-Key`` gets the first answer.

Each key lives in Redis under ``idem:v1:{user_id}:{sha256(key)}``. The first request claims it
(``SET NX``, marked in progress), runs, and stores its answer; a retry replays that answer, waits
while the first is still running, or is refused if it is not the same request (method, path and
body). Only answers to requests that were carried out (2xx) are stored: after a refusal or a
server error the client may retry, or correct the request, under the same key.

This layer only spares the services repeated work and gives every retry the same answer: the
service behind it keeps its own key as well, so if Redis is unreachable the gateway answers
without it (fail open) and still no order is made twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from marshmallow import Schema, fields, validate

from gateway.errors import ApiError
from gateway.guarded_redis import GuardedRedis, Unavailable

_log = logging.getLogger(__name__)

OPENED = "redis unavailable: idempotency keys unused for %ss"
CLOSED = "redis available again: idempotency keys in use"

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IN_PROGRESS = "in_progress"
DONE = "done"
CLAIM_TTL = 60  # seconds: a claim outlives any request, and frees itself if its holder dies
POLL_INTERVAL = (0.025, 0.05)  # seconds between two looks at a key still in progress
REPLAYED_HEADERS = ("Location",)

_KEY_RULE = "Must be 1 to 255 printable ASCII characters."


class KeyHeader(Schema):
    """The request's optional ``Idempotency-Key`` header; a 400 naming it when malformed."""

    key = fields.Str(
        data_key=HEADER,
        validate=[
            validate.Length(max=255, error=_KEY_RULE),
            validate.Regexp(r"^[ -~]+$", error=_KEY_RULE),
        ],
        metadata={
            "minLength": 1,  # what the pattern says, told to the document
            "description": "Makes a retry safe: the same key with the same body answers the "
            "first answer again (with `Idempotent-Replayed: true`) for 24 h; with another body, "
            "422.",
        },
    )


def fingerprint() -> str:
    """What makes two requests the same: method, path and the body (canonical when JSON)."""
    data = request.get_json(silent=True)
    if data is None:
        body = request.get_data()
    else:
        body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(f"{request.method}\n{request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def respond(view: Callable[[], Any]) -> Response:
    """The response ``view`` leads to, an error handler's included, so it can be stored."""
    app = current_app
    try:
        return app.make_response(view())
    except Exception as exc:
        return app.make_response(app.handle_user_exception(exc))


class IdempotencyStore:
    """Answers kept per (user, key). One per process; its Redis client is made on first use,
    so each gunicorn worker opens its own connections after fork."""

    def __init__(
        self,
        url: str,
        ttl: int,
        wait: float,
        client: Any = None,
        timeout: float = 0.5,
    ) -> None:
        self._ttl = ttl
        self._wait = wait  # how long a retry waits for the first request to finish
        self._redis = GuardedRedis(
            url, timeout, _log, OPENED, CLOSED, client=client, decode_responses=True
        )

    def once(self, user_id: int, key: str | None, view: Callable[[], Any]) -> Any:
        """Answer with ``view`` once per ``key``; replay that answer to every retry."""
        if key is None:
            return view()
        name = f"idem:v1:{user_id}:{hashlib.sha256(key.encode()).hexdigest()}"
        fp = fingerprint()
        try:
            return self._claim_or_replay(name, fp, view)
        except Unavailable:
            _log.warning("idempotency store unavailable: answering without it")
            return view()

    def _claim_or_replay(self, name: str, fp: str, view: Callable[[], Any]) -> Response:
        claim = json.dumps({"state": IN_PROGRESS, "fingerprint": fp})
        deadline = time.monotonic() + self._wait
        while True:
            if self._redis.call("set", name, claim, nx=True, ex=CLAIM_TTL):
                return self._run(name, fp, view)
            record = _decode(self._redis.call("get", name))
            if record is None:
                continue  # released (or expired) since the SET: claim it again
            if record["fingerprint"] != fp:
                raise ApiError(
                    422,
                    "idempotency_key_reused",
                    "This idempotency key was used for a different request",
                    {HEADER: ["Already used for a different request."]},
                )
            if record["state"] == DONE:
                return _replay(record)
            if time.monotonic() >= deadline:
                raise ApiError(
                    409,
                    "request_in_progress",
                    "A request with this idempotency key is still in progress",
                    {HEADER: ["A request with this key is still in progress."]},
                    headers={"Retry-After": "1"},
                )
            time.sleep(random.uniform(*POLL_INTERVAL))

    def _run(self, name: str, fp: str, view: Callable[[], Any]) -> Response:
        kept = False
        try:
            response = respond(view)
            kept = _acted_on(response) and self._store(name, fp, response)
            return response
        finally:
            # A server error, a timeout or a crash: forget the claim so the client may retry.
            if not kept:
                with contextlib.suppress(Unavailable):  # else the claim expires by itself
                    self._redis.call("delete", name)

    def _store(self, name: str, fp: str, response: Response) -> bool:
        record = {
            "state": DONE,
            "fingerprint": fp,
            "status": response.status_code,
            "body": response.get_data(as_text=True),
            "headers": {h: response.headers[h] for h in REPLAYED_HEADERS if h in response.headers},
        }
        try:
            self._redis.call("set", name, json.dumps(record), ex=self._ttl)
        except Unavailable:
            return False
        return True


def _acted_on(response: Response) -> bool:
    """Whether the answer says the request was carried out. Only those are replayed: a
    refusal (bad input, an unknown product, a conflict) or a server error leaves the key free,
    so the client may send the corrected or retried request under the same key."""
    return 200 <= response.status_code < 300


def _decode(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        if record["state"] in (IN_PROGRESS, DONE) and isinstance(record["fingerprint"], str):
            return record
    except (ValueError, KeyError, TypeError):
        pass
    _log.warning("unreadable idempotency record: answering without it")
    raise Unavailable("unreadable record")


def _replay(record: dict[str, Any]) -> Response:
    headers = {**record.get("headers", {}), REPLAYED_HEADER: "true"}
    return Response(
        record["body"], status=record["status"], headers=headers, mimetype="application/json"
    )
