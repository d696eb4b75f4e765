from chassis.contracts.errors import (
    CartEmpty,
    CartFull,
    CartItemNotFound,
    IdempotencyKeyReused,
    InvalidInput,
    OrderNotCancellable,
    OrderNotFound,
    OrderRejected,
    UnknownProduct,
)

__all__ = [
    "CartEmpty",
    "CartFull",
    "CartItemNotFound",
    "InvalidInput",
    "OrderNotFound",
    "OrderNotCancellable",
    "UnknownProduct",
    "IdempotencyKeyReused",
    "OrderRejected",
]
