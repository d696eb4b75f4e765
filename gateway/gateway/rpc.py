"""The one place holding cluster RPC clients.

A standalone nameko client is single-threaded and costly to start (a connection, a channel and
a reply queue), so each gunicorn worker keeps a pool of started clients, each lent to one
request at a time. A client whose call timed out or lost its connection is thrown away: its
reply queue may still receive the late answer, which must not be read by the next request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

from chassis import tracing
from chassis.logs import REQUEST_ID, current_request_id
from chassis.rpc import expiring

_log = logging.getLogger(__name__)

# Errors after which a client's connection or reply queue cannot be trusted.
BROKEN = (RpcTimeout, OperationalError, OSError, ConnectionError)


class PoolExhausted(Exception):
    """Every client stayed busy for longer than a caller is willing to wait."""


class RpcPool:
    def __init__(
        self,
        amqp_uri: str,
        size: int,
        timeout: float,
        acquire_timeout: float = 5.0,
        timeouts: Mapping[str, float] | None = None,
    ):
        self._config = {"AMQP_URI": amqp_uri, "serializer": "json"}
        self._timeout = timeout
        self._timeouts = dict(timeouts or {})  # per "service.method" or per "service"
        self._acquire_timeout = acquire_timeout
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue[ClusterRpcProxy] = queue.LifoQueue()

    def _start(self) -> ClusterRpcProxy:
        client = ClusterRpcProxy(self._config, timeout=self._timeout)
        client.start()
        return client

    @contextmanager
    def proxy(self, timeout: float | None = None) -> Iterator[Any]:
        """Lend a started client's proxy (``proxy.users.get_user(1)``) for one request.

        ``timeout`` shortens both the wait for a free client and each call's deadline, for
        calls whose answer the request can do without.
        """
        acquire_timeout = self._acquire_timeout
        if timeout is not None:
            acquire_timeout = min(timeout, acquire_timeout)
        if not self._slots.acquire(timeout=acquire_timeout):
            raise PoolExhausted("no RPC client became free in time")
        try:
            try:
                client = self._idle.get_nowait()
            except queue.Empty:
                client = self._start()
            _set_timeout(client, self._timeout if timeout is None else timeout)
            _set_context_data(client, current_request_id())
            try:
                yield client._proxy
            except BROKEN:
                _discard(client)
                raise
            except BaseException:
                self._give_back(client)  # a remote error leaves the client healthy
                raise
            else:
                self._give_back(client)
        finally:
            self._slots.release()

    def timeout_of(self, service: str, method: str) -> float | None:
        """The bound configured for this call site, if it has one of its own."""
        return self._timeouts.get(f"{service}.{method}", self._timeouts.get(service))

    def call(self, service: str, method: str, *args: Any, **kwargs: Any) -> Any:
        timeout = self.timeout_of(service, method)
        return self.call_within(timeout or self._timeout, service, method, *args, **kwargs)

    def call_within(
        self, timeout: float, service: str, method: str, *args: Any, **kwargs: Any
    ) -> Any:
        """``call``, giving up after ``timeout`` seconds rather than the pool's own timeout.

        The request expires in the broker after as long: once this caller has given up on it
        (a 504 for its client), no service carries it out later."""
        with self.proxy(timeout) as proxy:
            return getattr(expiring(proxy[service], timeout), method)(*args, **kwargs)

    def _give_back(self, client: ClusterRpcProxy) -> None:
        _set_timeout(client, self._timeout)
        self._idle.put(client)

    def close(self) -> None:
        while True:
            try:
                _discard(self._idle.get_nowait())
            except queue.Empty:
                return


def _set_timeout(client: ClusterRpcProxy, timeout: float) -> None:
    # nameko 2.14 reads the deadline from the reply consumer on every wait, and exposes no
    # setter: the client is lent to one request at a time, so changing it here is safe.
    client._reply_listener.queue_consumer.timeout = timeout


def _set_context_data(client: ClusterRpcProxy, request_id: str | None) -> None:
    # The calls' context data (sent as ``nameko.*`` headers) is the client's worker context's;
    # lent to one request at a time, the client carries that request's id and trace context.
    data = client._worker_ctx.data
    if request_id:
        data[REQUEST_ID] = request_id
    else:
        data.pop(REQUEST_ID, None)
    tracing.inject(data)


def _discard(client: ClusterRpcProxy) -> None:
    try:
        client.stop()
    except Exception:  # the connection is usually gone already
        _log.debug("error while stopping a broken RPC client", exc_info=True)
