from chassis.contracts.errors import (
    InvalidCredentials,
    InvalidInput,
    UserAlreadyExists,
    UserNotFound,
)

__all__ = ["InvalidInput", "UserAlreadyExists", "UserNotFound", "InvalidCredentials"]
