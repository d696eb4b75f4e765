from __future__ import annotations

from typing import Any

from nameko_sqlalchemy import Database
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chassis import health
from chassis.cache import Cache
from chassis.database import is_unique_violation
from chassis.logs import RequestContext
from chassis.metrics import Metrics
from chassis.ops import OpsServer
from chassis.rpc import rpc
from chassis.schemas import dump, load
from chassis.shutdown import GracefulShutdown
from chassis.tracing import Tracing
from products import schemas
from products.domain import merge_items, shortage
from products.exceptions import DuplicateSku, OutOfStock, ProductNotFound
from products.models import Base, Product, Reservation, ReservationItem

RESERVED = "reserved"
RELEASED = "released"


class ProductsService(health.PingMixin):
    name = "products"

    request_id = RequestContext()
    shutdown = GracefulShutdown()
    metrics = Metrics()
    tracing = Tracing()
    ops = OpsServer()

    db = Database(Base, engine_options={"pool_pre_ping": True})
    cache = Cache("products:v1", ttl=60)

    @rpc
    def create_product(self, product: dict[str, Any]) -> dict[str, Any]:
        data = load(schemas.NewProduct, product)
        try:
            with self.db.get_session() as session:
                row = Product(**data)
                session.add(row)
                session.flush()
                return dump(schemas.Product, row)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise DuplicateSku(
                    f"A product with sku {data['sku']!r} already exists",
                    {"sku": ["Already exists."]},
                ) from None
            raise

    @rpc
    def update_product(self, product_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        product_id = load(schemas.ProductId, {"product_id": product_id})["product_id"]
        data = load(schemas.ProductChanges, changes)
        with self.db.get_session() as session:
            row = session.get(Product, product_id, with_for_update=True)
            if row is None:
                raise _not_found(product_id)
            for name, value in data.items():
                setattr(row, name, value)
            session.flush()
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
        with self.db.get_session() as session:
            row = session.get(Product, product_id)
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
            with self.db.get_session() as session:
                rows = session.scalars(select(Product).where(Product.id.in_(missing)))
                loaded = {row.id: dump(schemas.Product, row) for row in rows}
            for index, product_id in enumerate(missing):
                if product_id in loaded:
                    version = versions[index] if versions else None
                    self.cache.fill(product_id, loaded[product_id], version)
            found.update(loaded)
        return {"items": [found[product_id] for product_id in wanted if product_id in found]}

    @rpc
    def list_products(self, offset: int = 0, limit: int = 20) -> dict[str, Any]:
        page = load(schemas.Page, {"offset": offset, "limit": limit})
        with self.db.get_session() as session:
            total = session.scalar(select(func.count()).select_from(Product))
            rows = session.scalars(
                select(Product).order_by(Product.id).offset(page["offset"]).limit(page["limit"])
            )
            items = dump(schemas.Product, rows, many=True)
        return {"items": items, "total": total, **page}

    @rpc
    def reserve_stock(self, order_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Hold stock for every item of one order, or for none of them.

        Idempotent per ``order_id``: a repeated call returns the first call's result and
        changes nothing, and so does a call for an order whose stock was already released.
        """
        data = load(schemas.Reservation, {"order_id": order_id, "items": items})
        wanted = merge_items(data["items"])
        with self.db.get_session() as session:
            if not _claim(session, data["order_id"], RESERVED):
                return _dump(session.get(Reservation, data["order_id"]))
            problems = {}
            for product_id, quantity in wanted:
                # A conditional decrement: the row lock serialises concurrent orders, and the
                # condition is re-checked on the locked row, so stock never goes below zero.
                price = session.scalar(
                    update(Product)
                    .where(Product.id == product_id, Product.stock >= quantity)
                    .values(stock=Product.stock - quantity)
                    .returning(Product.price_cents)
                )
                if price is None:
                    available = session.scalar(
                        select(Product.stock).where(Product.id == product_id)
                    )
                    field, messages = shortage(product_id, quantity, available)
                    problems[field] = messages
                    continue
                session.add(
                    ReservationItem(
                        order_id=data["order_id"],
                        product_id=product_id,
                        quantity=quantity,
                        price_cents=price,
                    )
                )
            if problems:
                session.rollback()
                if all(messages == ["Unknown product."] for messages in problems.values()):
                    raise ProductNotFound("Unknown product", {"items": problems})
                raise OutOfStock("Not enough stock", {"items": problems})
            session.flush()
            result = _dump(session.get(Reservation, data["order_id"]))
        self.cache.delete(*(product_id for product_id, _ in wanted))
        return result

    @rpc
    def release_stock(self, order_id: str) -> dict[str, Any]:
        """Give back what an order holds. Idempotent; releasing an unknown order records the
        release so that a reservation arriving later for it is refused."""
        order_id = load(schemas.OrderId, {"order_id": order_id})["order_id"]
        with self.db.get_session() as session:
            if _claim(session, order_id, RELEASED):
                session.flush()
                return _dump(session.get(Reservation, order_id))
            reservation = session.get(Reservation, order_id, with_for_update=True)
            returned = []
            if reservation.status == RESERVED:
                for item in sorted(reservation.items, key=lambda item: item.product_id):
                    session.execute(
                        update(Product)
                        .where(Product.id == item.product_id)
                        .values(stock=Product.stock + item.quantity)
                    )
                    returned.append(item.product_id)
                reservation.status = RELEASED
                session.flush()
            result = _dump(reservation)
        self.cache.delete(*returned)
        return result


def _claim(session: Session, order_id: str, status: str) -> bool:
    """Insert the reservation row for ``order_id``; False when one exists already.

    A concurrent call for the same order waits here until the first one commits or rolls back.
    """
    inserted = session.scalar(
        insert(Reservation)
        .values(order_id=order_id, status=status)
        .on_conflict_do_nothing(index_elements=[Reservation.order_id])
        .returning(Reservation.order_id)
    )
    return inserted is not None


def _dump(reservation: Reservation) -> dict[str, Any]:
    return dump(schemas.ReservationResult, reservation)


def _not_found(product_id: int) -> ProductNotFound:
    return ProductNotFound(f"No product {product_id}", {"product_id": ["Not found."]})
