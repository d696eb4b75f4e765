"""The page every list call takes: ``offset`` and ``limit`` (at most ``MAX_PAGE``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_PAGE = 100


class Page(Schema):
    offset = fields.Int(load_default=0, strict=True, validate=validate.Range(min=0, max=10**9))
    limit = fields.Int(load_default=20, strict=True, validate=validate.Range(min=1, max=MAX_PAGE))
