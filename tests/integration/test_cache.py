"""The read-through cache on a real Redis: a value loaded before an invalidation is never
stored after it (a stale stock would otherwise be served for the whole TTL)."""

import uuid

import pybreaker
import redis

from chassis.cache import CacheClient
from tests.integration.conftest import REDIS_URL


def cache(namespace=None):
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    return CacheClient(client, pybreaker.CircuitBreaker(), namespace or uuid.uuid4().hex, ttl=60)


def test_values_round_trip_as_json_under_the_namespace(redis_client):
    products = cache("products:test")
    products.fill(7, {"id": 7, "stock": 3}, products.versions(7)[0])
    assert redis_client.get("products:test:7") == '{"id": 7, "stock": 3}'
    assert products.get_json(7) == {"id": 7, "stock": 3}
    products.delete(7)
    assert products.get_json(7) is None


def test_a_value_loaded_before_an_invalidation_is_not_stored(redis_client):
    products = cache()
    (version,) = products.versions(1)  # a reader takes the version, loads stock 1...
    products.delete(1)  # ...a writer commits stock 0 and invalidates...
    products.fill(1, {"id": 1, "stock": 1}, version)  # ...the reader stores what it loaded
    assert products.get_json(1) is None  # not kept: the next reader loads stock 0
    (version,) = products.versions(1)
    products.fill(1, {"id": 1, "stock": 0}, version)
    assert products.get_json(1) == {"id": 1, "stock": 0}


def test_each_name_has_its_own_version(redis_client):
    products = cache()
    first, second = products.versions(1, 2)
    products.delete(2)
    products.fill(1, {"id": 1}, first)
    products.fill(2, {"id": 2}, second)
    assert (products.get_json(1), products.get_json(2)) == ({"id": 1}, None)
