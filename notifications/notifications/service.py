from chassis import health


class NotificationsService(health.PingMixin):
    """Messages to users about their account and orders. Answers `ping` so that the gateway's readiness covers it."""

    name = "notifications"
