import pytest
from nameko.testing.services import worker_factory

from chassis.contracts.events import USER_REGISTERED
from chassis.errors import InvalidInput
from chassis.testing import FakeStore
from tests.unit.users.fakes import InMemoryUsers
from users.exceptions import UserAlreadyExists
from users.service import UsersService


@pytest.fixture
def users():
    return InMemoryUsers()


@pytest.fixture
def service(users):
    return worker_factory(UsersService, store=FakeStore(users))


def test_register_refuses_bad_input_before_touching_the_database(service):
    with pytest.raises(InvalidInput) as caught:
        service.register_user("not-an-email", "short", "")
    assert set(caught.value.fields) == {"email", "password", "name"}
    assert service.store.transactions == 0
    assert not service.outbox.add.called


def test_get_user_refuses_a_non_integer_id(service):
    with pytest.raises(InvalidInput) as caught:
        service.get_user("1; drop table users")
    assert set(caught.value.fields) == {"user_id"}
    assert service.store.transactions == 0


def test_a_new_user_commits_with_its_event_and_an_email_registers_once(service, users):
    user = service.register_user(" Ada@Example.com ", "correct horse", " Ada ")
    assert user == {"id": 1, "email": "ada@example.com", "name": "Ada", "role": "customer"}
    service.outbox.add.assert_called_once_with(
        users.session,
        USER_REGISTERED,
        user_id=1,
        email="ada@example.com",
        name="Ada",
        role="customer",
    )
    with pytest.raises(UserAlreadyExists) as caught:
        service.register_user("ADA@example.com", "another one", "Ada")
    assert caught.value.fields == {"email": ["Already registered."]}
    assert service.outbox.add.call_count == 1
    assert service.authenticate("ada@example.com", "correct horse") == user
