"""Every error that crosses RPC, declared once.

Nameko sends a remote exception as its dotted path and its ``args``; each class here is
registered with nameko under its own path, so any process that imports this module — the
gateway, the order saga, a test — gets a remote error back as this very class, carrying its
``(message, fields)``, and tells errors apart with ``except``, never by their text. A service
raises them from its ``exceptions`` module, which names the ones it may raise.
"""

from __future__ import annotations

from nameko.exceptions import deserialize_to_instance

from chassis.errors import Conflict, InvalidInput, NotFound, ServiceError, Unauthorized

deserialize_to_instance(InvalidInput)  # any service's refusal of a call's arguments


@deserialize_to_instance
class ServiceUnavailable(ServiceError):
    """The service could not reach its own database just now (a restart, a failover): nothing
    was done, and the same call may succeed in a moment."""


@deserialize_to_instance
class UserAlreadyExists(Conflict):
    pass


@deserialize_to_instance
class UserNotFound(NotFound):
    pass


@deserialize_to_instance
class InvalidCredentials(Unauthorized):
    pass


@deserialize_to_instance
class ProductNotFound(NotFound):
    """``fields["items"]`` names each unknown product by id, when the call had items."""


@deserialize_to_instance
class DuplicateSku(Conflict):
    pass


@deserialize_to_instance
class OutOfStock(Conflict):
    """Not enough stock for at least one item; ``fields["items"]`` names each short product
    (and any unknown one) by id."""


@deserialize_to_instance
class OrderNotFound(NotFound):
    """No such order, or not one of the caller's."""


@deserialize_to_instance
class OrderNotCancellable(Conflict):
    pass


@deserialize_to_instance
class UnknownProduct(InvalidInput):
    """An order named products that do not exist: ``fields["items"]`` names them by id."""


@deserialize_to_instance
class IdempotencyKeyReused(Conflict):
    """The idempotency key was used before for a different order."""


@deserialize_to_instance
class OrderRejected(InvalidInput):
    """Another service refused the order as invalid while its client waited: no order."""


@deserialize_to_instance
class PaymentNotFound(NotFound):
    pass


@deserialize_to_instance
class AmountMismatch(Conflict):
    """A charge for an order that was already charged another amount."""


@deserialize_to_instance
class ProviderUnavailable(ServiceError):
    """The provider kept failing on a refund: try again later."""


@deserialize_to_instance
class CartFull(InvalidInput):
    """The cart holds as many products as an order may: ``fields["product_id"]`` says so."""


@deserialize_to_instance
class CartItemNotFound(NotFound):
    """The cart holds no line for this product."""


@deserialize_to_instance
class CartEmpty(Conflict):
    """Nothing in the cart to check out."""
