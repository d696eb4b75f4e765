"""What nameko's RPC costs over the broker's own floor.

Every side makes request/reply round trips through the same RabbitMQ:

* nameko: ``products.ping()`` through nameko's started ``ClusterRpcProxy``;
* shop: ``products.ping()`` through the gateway's own client (``gateway.amqp_rpc``), the way
  every HTTP request reaches a service: what a call costs the shop, client and service together;
* raw AMQP: pika publishing to a queue served by a minimal pika echo server (another process,
  as a service would be), the reply coming back by direct reply-to
  (``amq.rabbitmq.reply-to``, no reply queue at all).

Each is measured sequentially (one caller) and with 20 concurrent callers (threads, each with
its own connection).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pika

ECHO_QUEUE = "bench.echo"
REPLY_TO = "amq.rabbitmq.reply-to"


def echo_server(amqp_uri: str) -> None:
    """Answer every message on ``bench.echo`` with its own body: the least a service can do."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    channel.queue_declare(ECHO_QUEUE, auto_delete=True)
    channel.basic_qos(prefetch_count=50)

    def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
        ch.basic_publish(
            "", props.reply_to, body, pika.BasicProperties(correlation_id=props.correlation_id)
        )
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(ECHO_QUEUE, on_message)
    print("ready", flush=True)
    channel.start_consuming()


class RawClient:
    """A pika request/reply client using direct reply-to."""

    def __init__(self, amqp_uri: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
        self.channel = self.connection.channel()
        self.reply: bytes | None = None
        self.channel.basic_consume(REPLY_TO, self._on_reply, auto_ack=True)

    def _on_reply(self, ch: Any, method: Any, props: Any, body: bytes) -> None:
        self.reply = body

    def call(self) -> None:
        self.reply = None
        self.channel.basic_publish(
            "",
            ECHO_QUEUE,
            b'{"args": [], "kwargs": {}}',
            pika.BasicProperties(reply_to=REPLY_TO, correlation_id=uuid.uuid4().hex),
        )
        while self.reply is None:
            self.connection.process_data_events(time_limit=1)

    def close(self) -> None:
        self.connection.close()


class NamekoClient:
    def __init__(self, amqp_uri: str) -> None:
        from nameko.standalone.rpc import ClusterRpcProxy

        self.proxy = ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=10)
        self.rpc = self.proxy.start()

    def call(self) -> None:
        self.rpc.products.ping()

    def close(self) -> None:
        self.proxy.stop()


class ShopClient:
    def __init__(self, amqp_uri: str) -> None:
        from gateway.amqp_rpc import AmqpRpcClient

        self.client = AmqpRpcClient(amqp_uri).connect()

    def call(self) -> None:
        self.client.call("products", "ping", (), {}, timeout=10)

    def close(self) -> None:
        self.client.close()


CLIENTS: dict[str, Callable[[str], Any]] = {
    "nameko": NamekoClient,
    "shop": ShopClient,
    "raw_amqp": RawClient,
}


def measure(make_client: Callable[[], Any], callers: int, calls_each: int) -> dict[str, Any]:
    latencies: list[float] = []
    lock = threading.Lock()
    clients = [make_client() for _ in range(callers)]
    for client in clients:  # warm up each connection
        for _ in range(20):
            client.call()
    barrier = threading.Barrier(callers + 1)

    def caller(client: Any) -> None:
        mine = []
        barrier.wait()
        for _ in range(calls_each):
            started = time.perf_counter()
            client.call()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=caller, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    for client in clients:
        client.close()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "calls": len(latencies),
        "calls_per_s": round(len(latencies) / took, 1),
        "p50_ms": round(cuts[49] * 1000, 3),
        "p99_ms": round(cuts[98] * 1000, 3),
    }


def run(amqp_uri: str, calls: int = 2000) -> dict[str, Any]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.rpc_baseline", "--echo-server", amqp_uri],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        results: dict[str, Any] = {}
        for label, callers, each in (("sequential", 1, calls), ("concurrent-20", 20, calls // 10)):
            sides = {
                name: measure(lambda make=make: make(amqp_uri), callers, each)  # type: ignore[misc]
                for name, make in CLIENTS.items()
            }
            raw = sides["raw_amqp"]
            for name, prefix in (("nameko", ""), ("shop", "shop_")):
                sides[f"{prefix}ratio_p50"] = round(sides[name]["p50_ms"] / raw["p50_ms"], 2)
                sides[f"{prefix}ratio_throughput"] = round(
                    raw["calls_per_s"] / sides[name]["calls_per_s"], 2
                )
            results[label] = sides
        return results
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--echo-server"]:
        echo_server(sys.argv[2])
