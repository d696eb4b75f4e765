import pytest
from nameko.testing.services import worker_factory

from chassis.errors import InvalidInput
from users.service import UsersService


def test_register_refuses_bad_input_before_touching_the_database():
    service = worker_factory(UsersService)
    with pytest.raises(InvalidInput) as caught:
        service.register_user("not-an-email", "short", "")
    assert set(caught.value.fields) == {"email", "password", "name"}
    assert not service.db.get_session.called
    assert not service.outbox.add.called


def test_get_user_refuses_a_non_integer_id():
    service = worker_factory(UsersService)
    with pytest.raises(InvalidInput) as caught:
        service.get_user("1; drop table users")
    assert set(caught.value.fields) == {"user_id"}
    assert not service.db.get_session.called
