import uuid

import pytest
from nameko.events import event_handler
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from chassis.contracts.events import USER_REGISTERED, UserRegistered
from chassis.errors import InvalidInput
from users.exceptions import InvalidCredentials, UserAlreadyExists, UserNotFound
from users.service import UsersService


class Listener:
    """Stands for any service that reacts to new users (notifications will)."""

    name = "listener"
    received: list = []

    @event_handler("users", USER_REGISTERED)
    def handle_user_registered(self, payload):
        self.received.append(payload)


@pytest.fixture
def runner(runner_factory, service_config):
    runner = runner_factory(service_config, UsersService, Listener)
    runner.start()
    return runner


@pytest.fixture
def users(runner):
    return runner.service_map["users"]


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


def email() -> str:
    return f"User.{uuid.uuid4().hex[:10]}@Example.com"


def test_register_then_authenticate_then_get(users):
    address = email()
    user = call(users, "register_user", address, "s3cret-password", " Ada ")
    assert user == {"id": user["id"], "email": address.lower(), "name": "Ada", "role": "customer"}
    assert call(users, "authenticate", address.upper(), "s3cret-password") == user
    assert call(users, "get_user", user["id"]) == user


def test_emails_are_unique_whatever_their_case(users):
    address = email()
    call(users, "register_user", address, "s3cret-password", "A")
    with pytest.raises(UserAlreadyExists) as caught:
        call(users, "register_user", f"  {address.upper()}", "other-password", "B")
    assert caught.value.fields == {"email": ["Already registered."]}


def test_wrong_password_and_unknown_email_are_the_same_error(users):
    address = email()
    call(users, "register_user", address, "s3cret-password", "A")
    with pytest.raises(InvalidCredentials):
        call(users, "authenticate", address, "wrong-password")
    with pytest.raises(InvalidCredentials):
        call(users, "authenticate", email(), "s3cret-password")


def test_unknown_user_and_no_role_to_choose(users):
    with pytest.raises(UserNotFound):
        call(users, "get_user", 2_000_000_000)
    # A customer's sign-up chooses no role; an admin is made by register_admin alone.
    with pytest.raises(TypeError):  # what the caller gets back is IncorrectSignature
        call(users, "register_user", email(), "s3cret-password", "A", role="admin")
    admin = call(users, "register_admin", email(), "s3cret-password", "A")
    assert admin["role"] == "admin"


def test_a_name_must_be_printable_text_on_one_line(users):
    with pytest.raises(InvalidInput) as caught:
        call(users, "register_user", email(), "s3cret-password", "Ada\r\nBcc: all@example.com")
    assert set(caught.value.fields) == {"name"}


def test_registration_announces_user_registered(runner, users):
    address = email().lower()

    def is_ours(worker_ctx, result, exc_info):
        # The test database is shared: events of earlier tests may still be on their way.
        return worker_ctx.args[0]["email"] == address

    listener = runner.service_map["listener"]
    with entrypoint_waiter(listener, "handle_user_registered", callback=is_ours, timeout=10):
        user = call(users, "register_admin", address, "s3cret-password", "A")
    (event,) = [event for event in Listener.received if event["email"] == address]
    assert UserRegistered().validate(event) == {}
    assert event["user_id"] == user["id"] and event["role"] == "admin"
    assert len(event["event_id"]) == 32
