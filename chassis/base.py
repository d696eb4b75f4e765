"""What every service of the shop is made of, declared once.

    from chassis import base

    class OrdersService(base.ServiceBase):
        name = "orders"
        store = Store(Base, OrdersRepository)
        ...

Import the module, not the class: ``nameko run`` starts every class with entrypoints that it
finds in a service module, and this one has ``ping``.
"""

from __future__ import annotations

from chassis.health import PingMixin
from chassis.logs import RequestContext
from chassis.metrics import Metrics
from chassis.ops import OpsServer
from chassis.shutdown import GracefulShutdown
from chassis.tracing import Tracing


class ServiceBase(PingMixin):
    """The request id in every log line, a graceful SIGTERM, Prometheus metrics, tracing, and
    the operator's port (``/health/live``, ``/health/ready``, ``/metrics``); ``ping`` for the
    gateway's readiness check."""

    request_id = RequestContext()
    shutdown = GracefulShutdown()
    metrics = Metrics()
    tracing = Tracing()
    ops = OpsServer()
