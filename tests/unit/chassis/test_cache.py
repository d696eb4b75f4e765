import redis

from chassis.cache import CacheClient, pybreaker


class BrokenRedis:
    def __init__(self):
        self.calls = 0

    def _fail(self, *args, **kwargs):
        self.calls += 1
        raise redis.ConnectionError("connection refused")

    get = set = delete = _fail


class MemoryRedis:
    def __init__(self):
        self.data = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, ex=None):
        self.data[key] = value

    def delete(self, *keys):
        for key in keys:
            self.data.pop(key, None)


def test_values_round_trip_as_json_under_the_namespace():
    backend = MemoryRedis()
    cache = CacheClient(backend, pybreaker.CircuitBreaker(), "products:v1", ttl=60)
    cache.set_json(7, {"id": 7, "stock": 3})
    assert backend.data == {"products:v1:7": '{"id": 7, "stock": 3}'}
    assert cache.get_json(7) == {"id": 7, "stock": 3}
    cache.delete(7)
    assert cache.get_json(7) is None


def test_a_failing_redis_is_a_miss_and_the_breaker_stops_calling_it():
    backend = BrokenRedis()
    breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=60)
    cache = CacheClient(backend, breaker, "products:v1", ttl=60)
    for _ in range(10):
        assert cache.get_json(1) is None
        cache.set_json(1, {"id": 1})
        cache.delete(1)
    assert backend.calls == 3  # then the breaker answered at once, without touching Redis
    assert breaker.current_state == pybreaker.STATE_OPEN
