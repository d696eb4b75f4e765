"""The one place holding cluster RPC clients.

Each gunicorn worker keeps a pool of connected clients (``gateway.amqp_rpc``: one connection
and reply queue each), each lent to one request at a time. A client that timed out
is lent again: the late answer to its call is dropped when it arrives. One whose connection
broke is thrown away, and so is an idle one found disconnected (the broker restarted) before it
is lent.

Where ``AMQP_URI`` lists the nodes of a RabbitMQ cluster, clients connect to the first node
listed that answers; one that had to fail over to another node makes that node the first one
tried by the clients started after it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from chassis import tracing
from chassis.logs import REQUEST_ID, current_request_id
from gateway.amqp_rpc import AmqpRpcClient

_log = logging.getLogger(__name__)


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
        self._amqp_uri = amqp_uri
        self._timeout = timeout
        self._timeouts = dict(timeouts or {})  # per "service.method" or per "service"
        self._acquire_timeout = acquire_timeout
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue[AmqpRpcClient] = queue.LifoQueue()
        self._first_node = 0

    def _start(self) -> AmqpRpcClient:
        client = AmqpRpcClient(self._amqp_uri, first=self._first_node).connect()
        self._first_node = client.node
        return client

    @contextmanager
    def client(self, timeout: float | None = None) -> Iterator[AmqpRpcClient]:
        """Lend a connected client for one request.

        ``timeout`` shortens the wait for a free client, for calls whose answer the request can
        do without.
        """
        acquire_timeout = self._acquire_timeout
        if timeout is not None:
            acquire_timeout = min(timeout, acquire_timeout)
        if not self._slots.acquire(timeout=acquire_timeout):
            raise PoolExhausted("no RPC client became free in time")
        try:
            client = self._take()
            try:
                yield client
            finally:
                # A remote error or a timeout leaves it usable; a broken connection does not.
                self._give_back(client)
        finally:
            self._slots.release()

    def _take(self) -> AmqpRpcClient:
        while True:
            try:
                client = self._idle.get_nowait()
            except queue.Empty:
                return self._start()
            if client.alive():
                return client
            _discard(client)

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
        with self.client(timeout) as client:
            return client.call(service, method, args, kwargs, timeout, _context_data())

    def _give_back(self, client: AmqpRpcClient) -> None:
        if client.usable:
            self._idle.put(client)
        else:  # cut short where its connection's state is unknown
            _discard(client)

    def close(self) -> None:
        while True:
            try:
                _discard(self._idle.get_nowait())
            except queue.Empty:
                return


def _context_data() -> dict[str, Any]:
    """The calls' context data (sent as ``nameko.*`` headers): this request's id and trace
    context."""
    data: dict[str, Any] = {}
    request_id = current_request_id()
    if request_id:
        data[REQUEST_ID] = request_id
    tracing.inject(data)
    return data


def _discard(client: AmqpRpcClient) -> None:
    try:
        client.close()
    except Exception:  # the connection is usually gone already
        _log.debug("error while closing a broken RPC client", exc_info=True)
