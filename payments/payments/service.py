from chassis import health


class PaymentsService(health.PingMixin):
    """Charges and refunds through a payment provider.

    A skeleton for now: it answers `ping`, so the gateway's readiness covers it.
    """

    name = "payments"
