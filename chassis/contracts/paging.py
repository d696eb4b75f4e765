"""Paging, the same for every list: ``offset`` and ``limit`` (at most ``MAX_PAGE``) in, and
the ``{"items", "total", "offset", "limit"}`` envelope out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_PAGE = 100

_offset = validate.Range(min=0, max=10**9)
_limit = validate.Range(min=1, max=MAX_PAGE)


class Page(Schema):
    """The page an RPC list call takes (JSON numbers)."""

    offset = fields.Int(load_default=0, strict=True, validate=_offset)
    limit = fields.Int(load_default=20, strict=True, validate=_limit)


class PageQuery(Schema):
    """The same page, from a query string (``?offset=20&limit=10``)."""

    offset = fields.Int(load_default=0, validate=_offset)
    limit = fields.Int(load_default=20, validate=_limit)


def page_of(item: type[Schema]) -> type[Schema]:
    """The envelope of a page of ``item``: a schema named ``<Item>Page``."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item), required=True),
            "total": fields.Int(required=True),
            "offset": fields.Int(required=True),
            "limit": fields.Int(required=True),
        },
        name=f"{item.__name__}Page",
    )
