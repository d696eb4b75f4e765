import redis

from chassis.cache import CacheClient, pybreaker


class BrokenRedis:
    def __init__(self):
        self.calls = 0

    def _fail(self, *args, **kwargs):
        self.calls += 1
        raise redis.ConnectionError("connection refused")

    get = mget = eval = _fail


def test_a_failing_redis_is_a_miss_and_the_breaker_stops_calling_it():
    backend = BrokenRedis()
    breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=60)
    cache = CacheClient(backend, breaker, "products:v1", ttl=60)
    for _ in range(10):
        assert cache.get_json(1) is None
        assert cache.versions(1) is None  # unknown: nothing will be stored
        cache.fill(1, {"id": 1}, "")
        cache.delete(1)
    assert backend.calls == 3  # then the breaker answered at once, without touching Redis
    assert breaker.current_state == pybreaker.STATE_OPEN
