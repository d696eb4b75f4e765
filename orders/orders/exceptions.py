from chassis.contracts.errors import (
    IdempotencyKeyReused,
    InvalidInput,
    OrderNotCancellable,
    OrderNotFound,
    OrderRejected,
    UnknownProduct,
)

__all__ = [
    "InvalidInput",
    "OrderNotFound",
    "OrderNotCancellable",
    "UnknownProduct",
    "IdempotencyKeyReused",
    "OrderRejected",
]
