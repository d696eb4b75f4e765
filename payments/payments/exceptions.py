from chassis.errors import Conflict, NotFound, ServiceError


class PaymentNotFound(NotFound):
    pass


class AmountMismatch(Conflict):
    """A charge for an order that was already charged another amount."""


class ProviderUnavailable(ServiceError):
    """The provider kept failing on a refund: try again later."""
