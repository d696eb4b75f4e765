"""A caller acting for a user (``requester_id``) only reads that user's own profile."""

import pytest
from nameko.testing.services import worker_factory

from chassis.errors import InvalidInput
from chassis.testing import FakeStore
from tests.unit.users.fakes import InMemoryUsers
from users.exceptions import UserNotFound
from users.models import User
from users.service import UsersService

ADA = User(id=7, email="ada@example.com", name="Ada", role="customer", password_hash="x")


@pytest.fixture
def service():
    return worker_factory(UsersService, store=FakeStore(InMemoryUsers(ADA)))


def test_a_user_reads_their_own_profile(service):
    assert service.get_user(7, requester_id=7) == {
        "id": 7,
        "email": "ada@example.com",
        "name": "Ada",
        "role": "customer",
    }


def test_another_users_profile_is_reported_as_missing(service):
    with pytest.raises(UserNotFound) as caught:
        service.get_user(7, requester_id=8)
    assert caught.value.fields == {"user_id": ["Not found."]}
    assert str(caught.value) == "No user 7"  # word for word what a missing user gets


def test_an_internal_caller_reads_any_profile(service):
    # notifications asks for a recipient's address without acting for anyone
    assert service.get_user(7)["email"] == "ada@example.com"


def test_a_malformed_requester_is_refused(service):
    with pytest.raises(InvalidInput) as caught:
        service.get_user(7, requester_id="7")
    assert set(caught.value.fields) == {"requester_id"}
