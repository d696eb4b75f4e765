from chassis.errors import Conflict, InvalidInput, NotFound, Unauthorized

__all__ = ["InvalidInput", "UserAlreadyExists", "UserNotFound", "InvalidCredentials"]


class UserAlreadyExists(Conflict):
    pass


class UserNotFound(NotFound):
    pass


class InvalidCredentials(Unauthorized):
    pass
