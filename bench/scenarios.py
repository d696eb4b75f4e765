"""The HTTP scenarios of ``make bench``, against a running gateway."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from bench.load import RATE_LIMITED, Result, run

# Called when measuring begins, after the warm-up.
OnMeasure = Callable[[], None] | None

CATALOGUE = 200  # products the reads spread over
STOCK = 100_000_000  # enough that order-place never runs out


class Shop:
    """What the scenarios need from the shop, made once through its own API."""

    def __init__(self, base: str, admin_email: str, admin_password: str) -> None:
        self.base = base.rstrip("/")
        self.admin = (admin_email, admin_password)
        self.product_ids: list[int] = []
        self.order_product: int | None = None
        self.tokens: list[str] = []

    async def prepare(self, users: int) -> None:
        async with aiohttp.ClientSession() as session:
            admin = await self._token(session, *self.admin)
            headers = {"Authorization": f"Bearer {admin}"}
            run_id = uuid.uuid4().hex[:8]
            for n in range(CATALOGUE):
                self.product_ids.append(
                    await self._product(session, headers, f"BENCH-{run_id}-{n}", stock=100)
                )
            self.order_product = await self._product(
                session, headers, f"BENCH-{run_id}-orders", stock=STOCK
            )
            for n in range(users):
                # The same users every run, signed up by the first one only: sign-ups are
                # rate-limited per client address, an address already taken included.
                email = f"bench.{n}@example.com"
                token = await self._login(session, email, "bench-password")
                if token is None:
                    async with session.post(
                        f"{self.base}/api/v1/users",
                        json={"email": email, "password": "bench-password", "name": f"Bench {n}"},
                    ) as response:
                        assert response.status == 201, await response.text()
                    token = await self._token(session, email, "bench-password")
                self.tokens.append(token)

    async def _login(self, session: aiohttp.ClientSession, email: str, password: str) -> str | None:
        """A token for the user, None when there is no such user (or another password)."""
        async with session.post(
            f"{self.base}/api/v1/auth/token", json={"email": email, "password": password}
        ) as response:
            body = await response.json()
            if response.status == 401:
                return None
            assert response.status == 200, body
            return str(body["access_token"])

    async def _token(self, session: aiohttp.ClientSession, email: str, password: str) -> str:
        token = await self._login(session, email, password)
        assert token is not None, f"{email} cannot log in"
        return token

    async def _product(
        self, session: aiohttp.ClientSession, headers: dict[str, str], sku: str, stock: int
    ) -> int:
        body = {"sku": sku, "name": f"Bench {sku}", "price_cents": 999, "stock": stock}
        async with session.post(
            f"{self.base}/api/v1/products", json=body, headers=headers
        ) as response:
            created = await response.json()
            assert response.status == 201, created
            return created["id"]


async def product_read(
    shop: Shop, connections: int, seconds: float, on_measure: OnMeasure = None
) -> Result:
    # Warm the cache: every product read once before measuring.
    async with aiohttp.ClientSession() as session:
        for product_id in shop.product_ids:
            async with session.get(f"{shop.base}/api/v1/products/{product_id}") as response:
                await response.read()

    async def request(session: aiohttp.ClientSession, index: int) -> str | None:
        product_id = random.choice(shop.product_ids)
        async with session.get(f"{shop.base}/api/v1/products/{product_id}") as response:
            await response.read()
            return _outcome(response.status)

    return await run(
        "product-read", request, connections=connections, seconds=seconds, on_measure=on_measure
    )


async def catalogue_browse(
    shop: Shop, connections: int, seconds: float, on_measure: OnMeasure = None
) -> Result:
    async def request(session: aiohttp.ClientSession, index: int) -> str | None:
        offset = random.randrange(0, CATALOGUE, 20)
        async with session.get(
            f"{shop.base}/api/v1/products", params={"offset": offset, "limit": 20}
        ) as response:
            await response.read()
            return _outcome(response.status)

    return await run(
        "catalogue-browse",
        request,
        connections=connections,
        seconds=seconds,
        on_measure=on_measure,
    )


async def order_place(
    shop: Shop, connections: int, seconds: float, on_measure: OnMeasure = None
) -> Result:
    """Orders with fresh idempotency keys; each one followed to a terminal state."""
    pending: list[tuple[float, int, str]] = []

    async def request(session: aiohttp.ClientSession, index: int) -> str | None:
        body = {
            "items": [{"product_id": shop.order_product, "quantity": 1}],
            "payment_token": "tok_visa",
        }
        sent = time.monotonic()
        async with session.post(
            f"{shop.base}/api/v1/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        ) as response:
            order = await response.json()
            if response.status not in (201, 202):
                return RATE_LIMITED if response.status == 429 else None
        if order["status"] == "pending":
            pending.append((sent, index, order["id"]))
        return order["status"]

    result = await run(
        "order-place",
        request,
        connections=connections,
        seconds=seconds,
        headers=lambda i: {"Authorization": f"Bearer {shop.tokens[i % len(shop.tokens)]}"},
        on_measure=on_measure,
    )
    # Orders answered "pending" are followed until they end, and counted as they ended.
    outcomes = dict(result.outcomes)
    measured = [
        (index, order_id) for sent, index, order_id in pending if sent >= result.measured_from
    ]
    outcomes.pop("pending", None)
    async with aiohttp.ClientSession() as session:
        for index, order_id in measured:
            status = await _settle(session, shop, index, order_id)
            outcomes[status] = outcomes.get(status, 0) + 1
    confirmed = outcomes.get("confirmed", 0)
    result.extra = {
        "outcomes": outcomes,
        "answered_pending": len(measured),
        "confirmed_per_s": round(confirmed / result.seconds, 1),
    }
    return result


def _outcome(status: int) -> str | None:
    if status == 429:
        return RATE_LIMITED
    return "ok" if status == 200 else None


async def _settle(session: aiohttp.ClientSession, shop: Shop, index: int, order_id: str) -> str:
    headers = {"Authorization": f"Bearer {shop.tokens[index % len(shop.tokens)]}"}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        async with session.get(f"{shop.base}/api/v1/orders/{order_id}", headers=headers) as r:
            order: dict[str, Any] = await r.json()
        if order.get("status") in ("confirmed", "cancelled"):
            return order["status"]
        await asyncio.sleep(0.2)
    return "pending"
