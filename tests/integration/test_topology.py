"""Every consumer's queue is declared at deploy time, from the services' own code: an event
published before its consumer ever ran is kept for it."""

import uuid

import pytest
import requests
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter

from chassis import topology
from chassis.contracts.events import USER_REGISTERED, make_event
from notifications.service import NotificationsService

API = "http://127.0.0.1:15672/api"


def queue_names(vhost):
    queues = requests.get(f"{API}/queues/{vhost}", auth=("guest", "guest"), timeout=10).json()
    return {queue["name"] for queue in queues if not queue["name"].startswith("rpc.reply-")}


@pytest.mark.parametrize("service", topology.SERVICES)
def test_the_deploy_step_declares_what_the_service_itself_declares(
    service, container_factory, rabbit_config, service_config
):
    declared = set(topology.declare_service(service, service_config))
    assert declared == queue_names(rabbit_config["vhost"])
    container = container_factory(topology.service_class(service), service_config)
    container.start()
    assert queue_names(rabbit_config["vhost"]) == declared  # nothing more, nothing else


def test_an_event_published_before_its_consumer_first_ran_is_kept(
    container_factory, service_config
):
    topology.declare_service("notifications", service_config)  # the deploy step, no service yet
    user_id = uuid.uuid4().int % 10**9 + 1
    event = make_event(
        USER_REGISTERED,
        user_id=user_id,
        email=f"early.{user_id}@example.com",
        name="Early",
        role="customer",
    )
    event_dispatcher(service_config)("users", USER_REGISTERED, event)
    container = container_factory(NotificationsService, {**service_config, "SMTP_PORT": 1})

    def ours(worker_ctx, result, exc_info):
        return worker_ctx.args[0]["event_id"] == event["event_id"] and exc_info is None

    with entrypoint_waiter(container, "handle_user_registered", callback=ours, timeout=10):
        container.start()
