from flask import Blueprint

from gateway import schemas
from gateway.auth import admin_required
from gateway.context import rpc

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@bp.get("/sales")
@admin_required
def sales():
    period = schemas.query(schemas.SalesQuery())
    return rpc().read(
        "orders",
        "sales_report",
        period["date_from"].isoformat(),
        period["date_to"].isoformat(),
    )
