from typing import Any

from chassis.contracts.sales import MAX_SALES_DAYS, SalesReport
from chassis.contracts.users import ADMIN
from gateway.api import Blueprint
from gateway.context import rpc
from gateway.schemas import SalesPeriod

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@bp.get("/sales")
@bp.doc(description=f"Both days included, at most {MAX_SALES_DAYS} days.")
@bp.auth(ADMIN)
@bp.arguments(SalesPeriod, location="query")
@bp.alt_response(
    200, schema=SalesReport, description="One row per product and day with sales.", success=True
)
@bp.errors(503, 504)
def sales(period: dict[str, Any]) -> Any:
    """Units and revenue per product per day (admin)"""
    return rpc().read(
        "orders",
        "sales_report",
        period["date_from"].isoformat(),
        period["date_to"].isoformat(),
    )
