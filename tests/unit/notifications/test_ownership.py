"""A user's notifications are read by the user id the gateway acts for, and by nothing else."""

from nameko.testing.services import worker_factory

from notifications.service import NotificationsService


def test_the_list_and_its_total_are_filtered_by_the_users_id():
    service = worker_factory(NotificationsService)
    session = service.db.get_session.return_value.__enter__.return_value
    session.scalar.return_value = 0
    session.scalars.return_value = []
    service.list_notifications(7, 0, 20)
    for call in (session.scalar.call_args, session.scalars.call_args):
        statement = call.args[0].compile()
        assert "notifications.user_id = :user_id_1" in str(statement)
        assert statement.params["user_id_1"] == 7
