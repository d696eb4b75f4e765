from chassis import health


class PaymentsService(health.PingMixin):
    """Charges and refunds through a payment provider. Answers `ping` so that the gateway's readiness covers it."""

    name = "payments"
