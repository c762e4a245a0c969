"""The rate limit's counter: started with its expiry and counted in one atomic round trip on
Redis (``config.redis_cache.RedisCache.count``)."""

import uuid

import pytest
from django.core.cache import cache

from otc.api.throttling import _count


@pytest.fixture
def key() -> str:
    return f"test-counter:{uuid.uuid4().hex}"


def test_a_counter_starts_at_one_and_counts(key):
    assert [_count(key, 30) for _ in range(3)] == [1, 2, 3]
    assert cache.get(key) == 3, "the counter is a cache value like any other"


def test_a_new_counter_lives_its_timeout_and_an_old_one_keeps_its_own(key):
    if not hasattr(cache, "count"):
        pytest.skip("the expiry is read from Redis")
    _count(key, 30)
    client = cache._cache.get_client(key, write=True)
    redis_key = cache.make_and_validate_key(key)
    assert 25 < client.ttl(redis_key) <= 30
    _count(key, 300)
    assert client.ttl(redis_key) <= 30, "counting does not extend the window"
    cache.delete(key)
    assert _count(key, 30) == 1, "an expired counter starts again"
