"""Celery's Redis transport, with one client object per connection pool instead of one per call.

kombu's Redis channel builds a new ``redis.Redis`` (whose constructor fills a table of some 170
response callbacks) for every message it publishes and every acknowledgement
(``Channel._create_client``), as Django's Redis cache did before ``config.redis_cache``. A
``redis.Redis`` is safe to share (each command takes a connection from the pool), so the channel
keeps one per pool; a new pool (after a reconnect) gets a new client. The client that blocks on
the queues (``asynchronous``) is kombu's own, as before."""

from kombu.transport import redis


class Channel(redis.Channel):
    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self.__dict__.get("_shared_client")
        if client is None or client.connection_pool is not pool:
            client = super()._create_client()
            self._shared_client = client
        return client


class Transport(redis.Transport):
    Channel = Channel
