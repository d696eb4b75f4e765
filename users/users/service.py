from __future__ import annotations

from typing import Any

from chassis import base
from chassis.contracts.events import USER_REGISTERED
from chassis.contracts.users import ADMIN, CUSTOMER
from chassis.outbox import Outbox
from chassis.rpc import rpc
from chassis.schemas import dump, load
from chassis.store import Store, Transactions
from users import schemas
from users.domain import Passwords, normalize_email
from users.exceptions import InvalidCredentials, UserAlreadyExists, UserNotFound
from users.models import Base
from users.repository import UsersRepository

passwords = Passwords()


class UsersService(base.ServiceBase):
    name = "users"

    store: Transactions[UsersRepository] = Store(Base, UsersRepository)
    outbox = Outbox(Base)

    @rpc
    def register_user(self, email: str, password: str, name: str) -> dict[str, Any]:
        """Sign up a customer: what the gateway, on behalf of anyone, may ask."""
        return self._register(email, password, name, CUSTOMER)

    @rpc
    def register_admin(self, email: str, password: str, name: str) -> dict[str, Any]:
        """Make an admin. A method of its own, so that the broker's permissions can keep it to
        the operator: the gateway's broker user may call ``register_user`` only."""
        return self._register(email, password, name, ADMIN)

    @rpc
    def authenticate(self, email: str, password: str) -> dict[str, Any]:
        data = load(schemas.Credentials, {"email": email, "password": password})
        with self.store.transaction() as users:
            user = users.by_email(normalize_email(data["email"]))
            password_hash = user.password_hash if user else None
            if not passwords.verify(password_hash, data["password"]):
                raise InvalidCredentials("Wrong email or password")
            return dump(schemas.User, user)

    def _register(self, email: str, password: str, name: str, role: str) -> dict[str, Any]:
        data = load(
            schemas.RegisterUser,
            {"email": email, "password": password, "name": name, "role": role},
        )
        password_hash = passwords.hash(data["password"])  # slow by design: outside the transaction
        with self.store.transaction() as users:
            user = users.add(
                email=normalize_email(data["email"]),
                name=data["name"].strip(),
                role=data["role"],
                password_hash=password_hash,
            )
            if user is None:
                raise UserAlreadyExists(
                    "A user with this email already exists",
                    {"email": ["Already registered."]},
                )
            result = dump(schemas.User, user)
            # Same transaction as the new row: the event exists if and only if the user does.
            self.outbox.add(
                users.session,
                USER_REGISTERED,
                user_id=result["id"],
                email=result["email"],
                name=result["name"],
                role=result["role"],
            )
        return result

    @rpc
    def get_user(self, user_id: int, requester_id: int | None = None) -> dict[str, Any]:
        """A user's profile. With ``requester_id`` (a caller acting for a user), only that user's
        own: someone else's is reported exactly like a missing one."""
        data = load(schemas.UserRef, {"user_id": user_id, "requester_id": requester_id})
        with self.store.transaction() as users:
            user = users.get(data["user_id"])
            if user is None or data["requester_id"] not in (None, user.id):
                raise UserNotFound(f"No user {data['user_id']}", {"user_id": ["Not found."]})
            return dump(schemas.User, user)
