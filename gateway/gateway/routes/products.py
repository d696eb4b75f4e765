from typing import Any

from chassis.contracts.products import CatalogueSearch, NewProduct, Product, ProductChanges
from chassis.contracts.users import ADMIN
from gateway.api import LOCATION, Blueprint, path_parameter
from gateway.context import rpc
from gateway.errors import ApiError
from gateway.responses import ProductPage
from gateway.schemas import MAX_ID

bp = Blueprint("products", __name__, url_prefix="/api/v1/products")

PRODUCT_ID = path_parameter("product_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID})
NOT_FOUND = "No such product (`product_not_found`)."


def _known_id(product_id: int) -> int:
    # Ids start at 1 and the column is a 32-bit integer: answer any other as an unknown id.
    if not 1 <= product_id <= MAX_ID:
        raise ApiError(404, "product_not_found", f"No product {product_id}")
    return product_id


@bp.get("")
@bp.arguments(CatalogueSearch, location="query")
@bp.alt_response(200, schema=ProductPage, description="The page, by id.", success=True)
@bp.errors(503, 504)
def list_products(page: dict[str, Any]) -> Any:
    """A page of the catalogue, or of a search in it

    With `q`, only the products whose name or SKU holds every word of it (case ignored).
    """
    search = {"q": page["q"]} if page["q"] else {}  # understood by any products version
    return rpc().read("products", "list_products", page["offset"], page["limit"], **search)


@bp.get("/<int:product_id>", parameters=[PRODUCT_ID])
@bp.alt_response(200, schema=Product, description="The product.", success=True)
@bp.errors(404, description=NOT_FOUND)
@bp.errors(503, 504)
def get_product(product_id: int) -> Any:
    """One product"""
    return rpc().read("products", "get_product", _known_id(product_id))


@bp.post("")
@bp.auth(ADMIN)
@bp.arguments(NewProduct)
@bp.alt_response(
    201, schema=Product, description="The new product.", headers=LOCATION, success=True
)
@bp.errors(409, description="The SKU is taken (`duplicate_sku`).")
@bp.errors(503, 504)
def create_product(data: dict[str, Any]) -> Any:
    """Add a product (admin)

    `id` is refused as read-only, and any unknown field as unknown.
    """
    product = rpc().call("products", "create_product", data)
    return product, 201, {"Location": f"/api/v1/products/{product['id']}"}


@bp.patch("/<int:product_id>", parameters=[PRODUCT_ID])
@bp.auth(ADMIN)
@bp.arguments(ProductChanges)
@bp.alt_response(200, schema=Product, description="The product as changed.", success=True)
@bp.errors(404, description=NOT_FOUND)
@bp.errors(503, 504)
def update_product(changes: dict[str, Any], product_id: int) -> Any:
    """Change a product's name, description, price or stock (admin)

    `id` and `sku` are refused as read-only. Give at least one field.
    """
    return rpc().call("products", "update_product", _known_id(product_id), changes)
