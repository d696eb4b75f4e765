from chassis.errors import Conflict, InvalidInput, NotFound


class OrderNotFound(NotFound):
    """No such order, or not one of the caller's."""


class OrderNotCancellable(Conflict):
    pass


class UnknownProduct(InvalidInput):
    pass


class IdempotencyKeyReused(Conflict):
    """The idempotency key was used before for a different order."""


class OrderRejected(InvalidInput):
    """Another service refused the order as invalid while its client waited: no order."""
