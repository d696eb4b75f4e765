from chassis.contracts.errors import (
    AmountMismatch,
    InvalidInput,
    PaymentNotFound,
    ProviderUnavailable,
)

__all__ = ["InvalidInput", "PaymentNotFound", "AmountMismatch", "ProviderUnavailable"]
