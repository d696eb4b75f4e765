from flask import Blueprint

from gateway import schemas
from gateway.auth import admin_required
from gateway.context import rpc
from gateway.errors import ApiError

bp = Blueprint("products", __name__, url_prefix="/api/v1/products")


def _known_id(product_id: int) -> int:
    # Ids start at 1 and the column is a 32-bit integer: answer any other as an unknown id.
    if not 1 <= product_id <= schemas.MAX_ID:
        raise ApiError(404, "product_not_found", f"No product {product_id}")
    return product_id


@bp.get("")
def list_products():
    page = schemas.query(schemas.PageQuery())
    return rpc().read("products", "list_products", page["offset"], page["limit"])


@bp.get("/<int:product_id>")
def get_product(product_id: int):
    return rpc().read("products", "get_product", _known_id(product_id))


@bp.post("")
@admin_required
def create_product():
    data = schemas.body(schemas.NewProduct())
    product = rpc().call("products", "create_product", data)
    return product, 201, {"Location": f"/api/v1/products/{product['id']}"}


@bp.patch("/<int:product_id>")
@admin_required
def update_product(product_id: int):
    changes = schemas.body(schemas.ProductChanges())
    return rpc().call("products", "update_product", _known_id(product_id), changes)
