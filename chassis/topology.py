"""What a service consumes from on the broker, declared before it first starts.

A service declares its queues and their bindings when it starts. An event published before then
would reach an exchange with no queue bound to it and be dropped: declared at deploy time (by
``python -m chassis.broker setup``, ``make run`` and ``make migrate``, before any service runs),
every consumer's queue is there to keep it. The queues are found from the service class itself
(its RPC entrypoint and event handlers), so a new handler is declared without anyone listing it.

    python -m chassis.topology users products ...     # declare each service's queues
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from kombu import Connection, Queue
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.containers import ServiceContainer
from nameko.events import EventHandler
from nameko.rpc import Rpc, get_rpc_exchange

from chassis import parking
from chassis.config import service_config
from chassis.queues import apply_queue_type

SERVICES = ("users", "products", "orders", "payments", "notifications")


def service_class(service: str) -> type:
    """The nameko service class of the installed package ``service`` (``<service>.service``)."""
    module = importlib.import_module(f"{service}.service")
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "name", None) == service:
            return value
    raise LookupError(f"{service}.service defines no service named {service!r}")


def queues(cls: type, config: Mapping[str, Any]) -> list[Queue]:
    """Every queue ``cls`` consumes from, with its bindings, and the retry and dead-letter
    queues that go with each: as the service itself declares them when it starts."""
    container = ServiceContainer(cls, dict(config))
    service = container.service_name
    found: list[Queue] = []
    if any(isinstance(ext, Rpc) for ext in container.entrypoints):
        name = f"rpc-{service}"
        rpc_queue = Queue(
            name, exchange=get_rpc_exchange(config), routing_key=f"{service}.*", durable=True
        )
        found += [apply_queue_type(rpc_queue, config), parking.dead_queue(service, name, config)]
    for handler in container.entrypoints:
        if isinstance(handler, EventHandler):
            # nameko's EventHandler.setup() builds the queue (and registers it with the queue
            # consumer, which is never started here).
            EventHandler.setup(handler)
            main = apply_queue_type(handler.queue, config)
            found += [
                main,
                parking.retry_queue(service, main.name, config),
                parking.dead_queue(service, main.name, config),
            ]
    return found


def declare(entities: Iterable[Queue], amqp_uri: str) -> list[str]:
    """Declare each queue (with its exchange and binding) on the broker; their names."""
    names = []
    with Connection(amqp_uri) as connection:
        channel = connection.default_channel
        for queue in entities:
            queue(channel).declare()
            names.append(queue.name)
    return names


def declare_service(service: str, config: Mapping[str, Any]) -> list[str]:
    return declare(queues(service_class(service), config), config[AMQP_URI_CONFIG_KEY])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="*", default=list(SERVICES))
    args = parser.parse_args(argv)
    for service in args.services:
        names = declare_service(service, service_config(service))
        print(f"  {service}: {len(names)} queues declared")


if __name__ == "__main__":
    main()
