from typing import Any

from flask import g

from chassis.contracts.paging import PageQuery
from gateway.api import Blueprint
from gateway.context import rpc
from gateway.responses import NotificationPage

bp = Blueprint("notifications", __name__, url_prefix="/api/v1/notifications")


@bp.get("")
@bp.auth()
@bp.arguments(PageQuery, location="query")
@bp.alt_response(200, schema=NotificationPage, description="The page.", success=True)
@bp.errors(503, 504)
def list_notifications(page: dict[str, int]) -> Any:
    """A page of the caller's notifications, newest first"""
    return rpc().read(
        "notifications", "list_notifications", g.user["id"], page["offset"], page["limit"]
    )
