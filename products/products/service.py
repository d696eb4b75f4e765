from __future__ import annotations

from typing import Any

from chassis import base
from chassis.cache import Cache
from chassis.rpc import rpc
from chassis.schemas import dump, load
from chassis.store import Store, Transactions
from products import schemas
from products.domain import RESERVED, merge_items, refusal, search_words
from products.exceptions import DuplicateSku, ProductNotFound
from products.models import Base, Reservation
from products.repository import ProductsRepository


class ProductsService(base.ServiceBase):
    name = "products"

    store: Transactions[ProductsRepository] = Store(Base, ProductsRepository)
    cache = Cache("products:v1", ttl=60)

    @rpc
    def create_product(self, product: dict[str, Any]) -> dict[str, Any]:
        data = load(schemas.NewProduct, product)
        with self.store.transaction() as products:
            row = products.add(data)
            if row is None:
                raise DuplicateSku(
                    f"A product with sku {data['sku']!r} already exists",
                    {"sku": ["Already exists."]},
                )
            return dump(schemas.Product, row)

    @rpc
    def update_product(self, product_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        product_id = load(schemas.ProductId, {"product_id": product_id})["product_id"]
        data = load(schemas.ProductChanges, changes)
        with self.store.transaction() as products:
            row = products.change(product_id, data)
            if row is None:
                raise _not_found(product_id)
            result = dump(schemas.Product, row)
        self.cache.delete(product_id)
        return result

    @rpc
    def get_product(self, product_id: int) -> dict[str, Any]:
        product_id = load(schemas.ProductId, {"product_id": product_id})["product_id"]
        cached = self.cache.get_json(product_id)
        if cached is not None:
            return cached
        versions = self.cache.versions(product_id)  # before the load: see chassis.cache
        with self.store.transaction() as products:
            row = products.get(product_id)
            if row is None:
                raise _not_found(product_id)
            result = dump(schemas.Product, row)
        self.cache.fill(product_id, result, versions[0] if versions else None)
        return result

    @rpc
    def get_products(self, product_ids: list[int]) -> dict[str, Any]:
        """The products among ``product_ids`` that exist, in the order asked, each once."""
        data = load(schemas.ProductIds, {"product_ids": product_ids})
        wanted = list(dict.fromkeys(data["product_ids"]))
        found = {}
        for product_id in wanted:
            cached = self.cache.get_json(product_id)
            if cached is not None:
                found[product_id] = cached
        missing = [product_id for product_id in wanted if product_id not in found]
        if missing:
            versions = self.cache.versions(*missing)  # before the load: see chassis.cache
            with self.store.transaction() as products:
                rows = products.get_many(missing)
                loaded = {row.id: dump(schemas.Product, row) for row in rows}
            for index, product_id in enumerate(missing):
                if product_id in loaded:
                    version = versions[index] if versions else None
                    self.cache.fill(product_id, loaded[product_id], version)
            found.update(loaded)
        return {"items": [found[product_id] for product_id in wanted if product_id in found]}

    @rpc
    def list_products(
        self, offset: int = 0, limit: int = 20, q: str | None = None
    ) -> dict[str, Any]:
        """A page of the catalogue by id; of the products whose name or SKU holds every word
        of ``q``, when given."""
        page = load(schemas.CatalogueQuery, {"offset": offset, "limit": limit, "q": q})
        with self.store.transaction() as products:
            listed = products.catalogue(page["offset"], page["limit"], search_words(page["q"]))
            return {**listed, "items": dump(schemas.Product, listed["items"], many=True)}

    @rpc
    def reserve_stock(self, order_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Hold stock for every item of one order, or for none of them.

        Idempotent per ``order_id``: a repeated call returns the first call's result and
        changes nothing, and so does a call for an order whose stock was already released.
        """
        data = load(schemas.Reservation, {"order_id": order_id, "items": items})
        order_id, wanted = data["order_id"], merge_items(data["items"])
        with self.store.transaction() as products:
            if not products.claim_reservation(order_id):
                return _dump(products.reservation(order_id))
            held, shortages = products.reserve(order_id, wanted)
            if shortages:
                raise refusal(shortages)  # and nothing is taken: the transaction rolls back
            held.sort(key=lambda item: item.product_id)
            result = _dump({"order_id": order_id, "status": RESERVED, "items": held})
        self.cache.delete(*(product_id for product_id, _ in wanted))
        return result

    @rpc
    def release_stock(self, order_id: str) -> dict[str, Any]:
        """Give back what an order holds. Idempotent; releasing an unknown order records the
        release so that a reservation arriving later for it is refused."""
        order_id = load(schemas.OrderId, {"order_id": order_id})["order_id"]
        with self.store.transaction() as products:
            returned = products.release(order_id)
            result = _dump(products.reservation(order_id))
        self.cache.delete(*returned)
        return result


def _dump(reservation: Reservation | dict[str, Any]) -> dict[str, Any]:
    return dump(schemas.ReservationResult, reservation)


def _not_found(product_id: int) -> ProductNotFound:
    return ProductNotFound(f"No product {product_id}", {"product_id": ["Not found."]})
