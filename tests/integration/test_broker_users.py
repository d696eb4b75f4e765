"""Each service and the gateway on a broker user of its own: the shop works end to end with
only the rights each one is given, and each user is refused what it was not given."""

import uuid

import amqp
import pytest
import requests
from amqp.exceptions import AccessRefused
from kombu import Connection
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import create_engine, text

from chassis import broker, topology
from chassis.contracts.events import USER_REGISTERED, parse_event
from chassis.inbox import event_handler
from gateway.rpc import RpcPool
from notifications.service import NotificationsService
from orders.service import OrdersService
from payments.service import PaymentsService
from products.service import ProductsService
from users.service import UsersService

API = "http://127.0.0.1:15672/api"
SERVICES = {
    "users": UsersService,
    "products": ProductsService,
    "orders": OrdersService,
    "payments": PaymentsService,
    "notifications": NotificationsService,
}


class Probe:
    """A consumer of user_registered that fails its first try of each event."""

    name = "probe"
    tried: dict[str, int] = {}

    @event_handler("users", USER_REGISTERED)
    def handle_user_registered(self, body):
        event = parse_event(USER_REGISTERED, body)
        self.tried[event["email"]] = self.tried.get(event["email"], 0) + 1
        if self.tried[event["email"]] == 1:
            raise RuntimeError("first try fails")


@pytest.fixture
def users(rabbit_config, service_config):
    """Every principal's broker user on this test's vhost (named after it), and the probe's;
    yields principal -> its AMQP URI."""
    admin = rabbit_config["AMQP_URI"]
    vhost = rabbit_config["vhost"]
    prefix = f"{vhost}-"
    passwords = {principal: uuid.uuid4().hex for principal in broker.PRINCIPALS}
    broker.setup(admin, passwords, prefix=prefix)
    # The probe's queues are declared by the operator too, as the deploy step does.
    probe_config = {**service_config, "EVENT_RETRY_DELAY": 0.05}
    topology.declare(topology.queues(Probe, probe_config), admin)
    api, _ = broker.management_api(admin)
    passwords["probe"] = uuid.uuid4().hex
    api.set_user(vhost, f"{prefix}probe", passwords["probe"], broker.grant("probe", {}, ["users"]))
    uris = {
        principal: broker.user_uri(admin, f"{prefix}{principal}", password)
        for principal, password in passwords.items()
    }
    yield uris
    for principal in passwords:
        requests.delete(f"{API}/users/{prefix}{principal}", auth=("guest", "guest"), timeout=10)


def start(container_factory, cls, config, uri):
    container = container_factory(cls, {**config, "AMQP_URI": uri})
    container.start()
    return container


def test_the_shop_works_with_each_one_on_its_own_user(
    users, container_factory, service_config, databases
):
    config = {**service_config, "EVENT_RETRY_DELAY": 0.05, "SMTP_PORT": 1}
    containers = {
        name: start(container_factory, cls, config, users[name]) for name, cls in SERVICES.items()
    }
    probe = start(container_factory, Probe, config, users["probe"])
    pool = RpcPool(users["gateway"], size=2, timeout=15)
    try:
        email = f"least.{uuid.uuid4().hex[:10]}@example.com"

        def handled_ours(worker_ctx, result, exc_info):
            # The users service's relay may also publish events that earlier tests left in its
            # outbox: wait for this email's own event to have been handled.
            return exc_info is None and Probe.tried.get(email, 0) >= 2

        with (
            entrypoint_waiter(probe, "handle_user_registered", callback=handled_ours, timeout=15),
            entrypoint_waiter(containers["notifications"], "handle_user_registered"),
        ):
            user = pool.call("users", "register_user", email, "s3cret-password", "Ada")
        # The probe failed once, waited in its .retry queue, and was handled the second time.
        assert Probe.tried[email] == 2
        sku = f"LP-{uuid.uuid4().hex[:10]}"
        product = pool.call(
            "products",
            "create_product",
            {"sku": sku, "name": "Mug", "price_cents": 500, "stock": 3},
        )
        item = [{"product_id": product["id"], "quantity": 1}]
        with entrypoint_waiter(containers["orders"], "project_order_confirmed", timeout=15):
            order = pool.call("orders", "create_order", user["id"], item, "tok_visa", "k-1")
        assert order["status"] == "confirmed"
        assert pool.call("payments", "ping")["status"] == "ok"
    finally:
        pool.close()
    engine = create_engine(databases["notifications"])
    try:
        with engine.connect() as conn:
            kinds = conn.execute(
                text("SELECT kind FROM notifications WHERE user_id = :id"), {"id": user["id"]}
            ).scalars()
            assert "user_registered" in set(kinds)
    finally:
        engine.dispose()


def refused(uri, action):
    """``action(channel)`` on a channel of ``uri``'s user is refused by the broker."""
    with Connection(uri) as connection:
        connection.connect()
        channel = connection.connection.channel()
        with pytest.raises(AccessRefused):
            action(channel)
            channel.basic_qos(0, 1, False)  # a round trip: a refusal arrives by then


def publish(exchange, routing_key):
    def action(channel):
        channel.basic_publish(amqp.Message(b'{"args": [], "kwargs": {}}'), exchange, routing_key)

    return action


def test_a_service_may_call_only_what_it_calls(users):
    refused(users["notifications"], publish("nameko-rpc", "payments.refund"))
    refused(users["notifications"], publish("nameko-rpc", "orders.get_order"))
    refused(users["products"], publish("nameko-rpc", "payments.charge"))
    refused(users["payments"], publish("nameko-rpc", "users.register_admin"))


def test_the_gateway_may_call_only_the_methods_it_serves(users):
    refused(users["gateway"], publish("nameko-rpc", "users.register_admin"))
    refused(users["gateway"], publish("nameko-rpc", "payments.refund"))
    refused(users["gateway"], publish("nameko-rpc", "products.reserve_stock"))
    refused(users["gateway"], publish("nameko-rpc", "#"))


def test_no_one_reaches_a_queue_through_the_default_exchange(users):
    for principal in broker.PRINCIPALS:
        refused(users[principal], publish("", "rpc-payments"))


def test_no_one_listens_in_on_another_services_calls(users):
    reply_queue = f"rpc.reply-standalone_rpc_proxy-{uuid.uuid4()}"

    def bind(routing_key):
        def action(channel):
            channel.queue_declare(reply_queue, auto_delete=True)
            channel.queue_bind(reply_queue, "nameko-rpc", routing_key)

        return action

    refused(users["gateway"], bind("users.*"))  # every login's password
    refused(users["gateway"], bind("#"))
    refused(users["orders"], lambda channel: channel.basic_consume("rpc-users"))
    refused(users["notifications"], lambda channel: channel.basic_get("rpc-payments"))


def test_no_one_forges_another_services_events_or_removes_its_queues(users):
    refused(users["orders"], publish("users.events", USER_REGISTERED))
    refused(users["gateway"], publish("orders.events", "order_confirmed"))
    refused(users["payments"], lambda channel: channel.queue_delete("rpc-orders"))
    refused(users["products"], lambda channel: channel.queue_purge("rpc-orders"))
