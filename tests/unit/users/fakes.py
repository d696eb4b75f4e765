"""An in-memory stand-in for ``UsersRepository``."""

from __future__ import annotations

from users.models import User


class InMemoryUsers:
    def __init__(self, *users: User) -> None:
        self.session = object()
        self.rows = {user.id: user for user in users}

    def add(self, email: str, name: str, role: str, password_hash: str) -> User | None:
        if self.by_email(email) is not None:
            return None
        user_id = max(self.rows, default=0) + 1
        user = User(id=user_id, email=email, name=name, role=role, password_hash=password_hash)
        self.rows[user_id] = user
        return user

    def get(self, user_id: int) -> User | None:
        return self.rows.get(user_id)

    def by_email(self, email: str) -> User | None:
        return next((user for user in self.rows.values() if user.email == email), None)
