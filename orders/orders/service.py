from chassis import health


class OrdersService(health.PingMixin):
    """Orders and the order saga. Answers `ping` so that the gateway's readiness covers it."""

    name = "orders"
