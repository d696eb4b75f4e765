from chassis import health


class NotificationsService(health.PingMixin):
    """Messages to users about their account and orders.

    A skeleton for now: it answers `ping`, so the gateway's readiness covers it.
    """

    name = "notifications"
