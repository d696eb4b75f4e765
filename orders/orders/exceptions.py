from chassis.errors import Conflict, InvalidInput, NotFound


class OrderNotFound(NotFound):
    """No such order, or not one of the caller's."""


class OrderNotCancellable(Conflict):
    pass


class UnknownProduct(InvalidInput):
    pass


class IdempotencyKeyReused(Conflict):
    """The idempotency key was used before for a different order."""
