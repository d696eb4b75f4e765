from chassis import health


class OrdersService(health.PingMixin):
    """Orders and the order saga.

    A skeleton for now: it answers `ping`, so the gateway's readiness covers it.
    """

    name = "orders"
