from flask import Blueprint, g

from gateway import schemas
from gateway.auth import login_required
from gateway.context import rpc

bp = Blueprint("notifications", __name__, url_prefix="/api/v1/notifications")


@bp.get("")
@login_required
def list_notifications():
    page = schemas.query(schemas.PageQuery())
    return rpc().read(
        "notifications", "list_notifications", g.user["id"], page["offset"], page["limit"]
    )
