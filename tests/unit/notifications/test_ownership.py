"""A user's notifications are read by the user id the gateway acts for, and by nothing else."""

from unittest.mock import Mock

from nameko.testing.services import worker_factory

from chassis.testing import FakeStore
from notifications.repository import NotificationsRepository
from notifications.service import NotificationsService
from tests.unit.notifications.fakes import InMemoryNotifications, pending


def test_the_list_and_its_total_are_filtered_by_the_users_id():
    session = Mock()
    session.scalar.return_value = 0
    session.scalars.return_value = []
    NotificationsRepository(session).for_user(7, 0, 20)
    for call in (session.scalar.call_args, session.scalars.call_args):
        statement = call.args[0].compile()
        assert "notifications.user_id = :user_id_1" in str(statement)
        assert statement.params["user_id_1"] == 7


def test_the_service_lists_the_page_of_the_user_it_is_asked_for():
    rows = pending(1, 2, 3)
    rows[1].user_id = 8
    notifications = InMemoryNotifications(*rows)
    service = worker_factory(NotificationsService, store=FakeStore(notifications))
    page = service.list_notifications(7, 0, 20)
    assert [item["id"] for item in page["items"]] == [3, 1]  # newest first
    assert (page["total"], page["offset"], page["limit"]) == (2, 0, 20)
