"""The users service's SQL: the accounts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from chassis.store import Repository
from users.models import User


class UsersRepository(Repository):
    def add(self, email: str, name: str, role: str, password_hash: str) -> User | None:
        """A new user; None when the email is taken already."""
        return self.session.scalar(
            insert(User)
            .values(email=email, name=name, role=role, password_hash=password_hash)
            .on_conflict_do_nothing(index_elements=[User.email])
            .returning(User)
        )

    def get(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def by_email(self, email: str) -> User | None:
        """The user registered with ``email``, as normalised."""
        return self.session.scalar(select(User).where(User.email == email))
