"""Every service consumes through one queue consumer, the one that parks what it cannot decode."""

import pytest
from nameko.containers import ServiceContainer
from nameko.messaging import QueueConsumer

from chassis.consumer import ParkingQueueConsumer
from notifications.service import NotificationsService
from orders.service import OrdersService
from payments.service import PaymentsService
from products.service import ProductsService
from users.service import UsersService


@pytest.mark.parametrize(
    "service", [UsersService, ProductsService, OrdersService, PaymentsService, NotificationsService]
)
def test_each_service_has_one_queue_consumer_and_it_parks(service):
    container = ServiceContainer(service, {"AMQP_URI": "memory://"})
    consumers = {ext for ext in container.subextensions if isinstance(ext, QueueConsumer)}
    assert len(consumers) == 1
    assert isinstance(consumers.pop(), ParkingQueueConsumer)
