"""``make chaos``: place orders while killing services and restarting the servers, then count.

    python -m bench.chaos                 # 1,000 orders against the cluster of `make run`
    python -m bench.chaos --orders 200

While N orders (more if the last fault is still being made) are placed by many users (each order
retried with its own idempotency key on a 5xx or a lost connection, as a careful client does),
the orders, products and payments services are killed with SIGKILL at random moments (``make
run`` restarts them, as a supervisor would), and RabbitMQ, PostgreSQL and Redis are each
restarted once. When everything has settled, the databases are read back and the account
printed; the exit status is 1 unless nothing was lost, stuck, charged twice or without an order,
the stock adds up, every confirmed order was mailed as one message, and every refusal was a
prompt JSON 5xx.

It needs root on the machine running the servers (it restarts them) and reads each service's
database as an operator would, through the same config files and environment as the services.

    python -m bench.chaos --faults nodes  # against a cluster on deploy/local/rabbitmq-cluster.sh

With ``--faults nodes`` the faults are those of a RabbitMQ cluster instead: the node the orders
service is connected to stops (``stop_app``) for a while and comes back, later the node the
products service is connected to then. ``RABBITMQ_API_URL`` names a node's management API.
Several ``--base`` share the orders between gateways.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import psycopg2
import requests

from chassis.config import load_config
from chassis.migrate import database_url
from chassis.nodes import nodes

ROOT = Path(__file__).resolve().parents[1]
REQUEST_TIMEOUT = 15.0  # the gateway answers within RPC_TIMEOUT (5 s): anything past this hangs
ORDER_DEADLINE = 240.0  # how long a client keeps retrying one order
SETTLE_TIMEOUT = 240.0
NODE_DOWN = 10.0  # seconds a stopped RabbitMQ node stays down
CLUSTER = ROOT / "deploy" / "local" / "rabbitmq-cluster.sh"
CONFIRMED_MAIL = re.compile(r"Your order ([0-9a-f-]{36}) is confirmed")
MESSAGE_ID = re.compile(r"^Message-ID: *(\S+)", re.MULTILINE | re.IGNORECASE)
TOKENS = ["tok_visa"] * 8 + ["tok_decline_chaos", "tok_fail_chaos"]


def log(message: str) -> None:
    print(f"{datetime.now().strftime('%H:%M:%S')} {message}", flush=True)


# -- reading the services' databases ---------------------------------------------------------


def dsn(service: str) -> str:
    url = database_url(load_config(ROOT / service / "config.yaml"), service)
    return url.replace("postgresql+psycopg2://", "postgresql://")


def query(service: str, sql: str, *params: Any) -> list[tuple]:
    with psycopg2.connect(dsn(service), connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def wait_for(what: str, check: Any, timeout: float = 120.0) -> None:
    ends = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > ends:
            raise SystemExit(f"{what} did not come back within {timeout:.0f} s")
        time.sleep(0.5)


# -- the faults -------------------------------------------------------------------------------


class Faults:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.done: list[str] = []
        self.failed: list[str] = []

    def kill(self, service: str) -> None:
        pids = self.run_dir / "pids" / f"{service}.pid"
        ends = time.monotonic() + 60
        while True:
            pid = int(pids.read_text())
            try:
                os.kill(pid, signal.SIGKILL)
                break
            except ProcessLookupError:  # it died on its own; its restart is on the way
                if time.monotonic() > ends:
                    raise
                time.sleep(0.5)
        self.done.append(f"kill -9 {service} (pid {pid})")
        wait_for(
            f"{service} (restarted by make run)",
            lambda: int((self.run_dir / "pids" / f"{service}.pid").read_text()) != pid,
        )

    def restart_rabbitmq(self) -> None:
        tool = shutil.which("rabbitmqctl") or "rabbitmqctl"
        subprocess.run([tool, "stop_app"], check=True, capture_output=True, timeout=120)
        time.sleep(3)
        subprocess.run([tool, "start_app"], check=True, capture_output=True, timeout=120)
        subprocess.run([tool, "await_startup"], check=True, capture_output=True, timeout=120)
        self.done.append("restart RabbitMQ")

    def restart_postgres(self) -> None:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                version,
                "main",
                "restart",
                "-m",
                "fast",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        wait_for("PostgreSQL", lambda: query("orders", "SELECT 1"))
        self.done.append("restart PostgreSQL")

    def restart_redis(self) -> None:
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
        time.sleep(1)
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
            capture_output=True,
        )
        wait_for(
            "Redis",
            lambda: (
                subprocess.run(
                    ["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ),
        )
        self.done.append("restart Redis")

    def stop_node_of(self, principal: str) -> None:
        """Stop the RabbitMQ node most of ``principal``'s connections are on, for NODE_DOWN
        seconds, then start it again."""
        connections = requests.get(
            f"{management_api()}/connections", auth=("guest", "guest"), timeout=10
        ).json()
        on = Counter(c["node"] for c in connections if c["user"].endswith(f"-{principal}"))
        if not on:
            raise RuntimeError(f"{principal} has no connection to any node")
        node = on.most_common(1)[0][0]
        number = node.split("@")[0].removeprefix("rabbit")
        for command, pause in (("stop", NODE_DOWN), ("start", 0.0)):
            subprocess.run([CLUSTER, command, number], check=True, capture_output=True, timeout=180)
            time.sleep(pause)
        self.done.append(f"stop {node} ({principal}' node) for {NODE_DOWN:.0f} s")

    def plan(self, rng: random.Random, kind: str = "servers") -> list[tuple[float, Any]]:
        """The faults, each at a random point of the run (a fraction of the orders placed)."""
        if kind == "nodes":  # one after the other: a quorum needs two of the three nodes
            return [
                (rng.uniform(0.05, 0.1), lambda: self.stop_node_of("orders")),
                (rng.uniform(0.5, 0.55), lambda: self.stop_node_of("products")),
            ]
        actions = [
            lambda: self.kill("orders"),
            lambda: self.kill("products"),
            lambda: self.kill("payments"),
            lambda: self.kill("orders"),
            self.restart_rabbitmq,
            self.restart_postgres,
            self.restart_redis,
        ]
        rng.shuffle(actions)
        points = sorted(rng.uniform(0.05, 0.85) for _ in actions)
        return list(zip(points, actions, strict=True))


# -- the clients ------------------------------------------------------------------------------


class Clients:
    def __init__(self, bases: list[str], users: list[str], products: list[int], rng: random.Random):
        self.bases = bases
        self.users = users
        self.products = products
        self.rng = rng
        self.lock = threading.Lock()
        self.placed = 0
        self.accepted: dict[str, dict[str, Any]] = {}
        self.refused: Counter[int] = Counter()  # status → count
        self.bad_refusals: list[str] = []
        self.hung = 0
        self.gave_up = 0

    def place(self, n: int) -> None:
        token = self.users[n % len(self.users)]
        with self.lock:
            items = [
                {"product_id": self.rng.choice(self.products), "quantity": self.rng.randint(1, 3)}
            ]
            payment_token = self.rng.choice(TOKENS)
        key = uuid.uuid4().hex
        base = self.bases[n % len(self.bases)]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        ends = time.monotonic() + ORDER_DEADLINE
        while time.monotonic() < ends:
            sent = time.monotonic()
            try:
                response = session.post(
                    f"{base}/api/v1/orders",
                    json={"items": items, "payment_token": payment_token},
                    headers={"Idempotency-Key": key},
                    timeout=REQUEST_TIMEOUT,
                )
            except requests.Timeout:
                with self.lock:
                    self.hung += 1
                continue
            except requests.ConnectionError:
                time.sleep(0.5)
                continue
            if response.status_code in (201, 202):
                with self.lock:
                    self.accepted[response.json()["id"]] = {"items": items, "key": key}
                    self.placed += 1
                return
            with self.lock:
                self.refused[response.status_code] += 1
                if response.status_code < 500 and response.status_code != 409:
                    self.bad_refusals.append(f"{response.status_code} {response.text[:200]}")
                    self.placed += 1
                    return
                if not response.headers.get("Content-Type", "").startswith("application/json"):
                    self.bad_refusals.append(f"{response.status_code} not JSON")
                if time.monotonic() - sent > REQUEST_TIMEOUT:
                    self.hung += 1
            time.sleep(0.5 if response.status_code >= 500 else 0.1)
        with self.lock:
            self.gave_up += 1
            self.placed += 1


def setup(base: str, users: int, orders: int) -> tuple[list[str], dict[int, int]]:
    session = requests.Session()
    admin = session.post(
        f"{base}/api/v1/auth/token",
        json={
            "email": os.environ.get("ADMIN_EMAIL", "admin@example.com"),
            "password": os.environ.get("ADMIN_PASSWORD", "admin-secret"),
        },
        timeout=10,
    )
    admin.raise_for_status()
    headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    run = uuid.uuid4().hex[:8]
    products: dict[int, int] = {}
    # About half the units asked for exist: many orders end out of stock.
    for n in range(3):
        body: dict[str, Any] = {
            "sku": f"CHAOS-{run}-{n}",
            "name": f"Chaos {n}",
            "price_cents": 500 + n,
            "stock": orders // 3,
        }
        created = session.post(f"{base}/api/v1/products", json=body, headers=headers, timeout=10)
        created.raise_for_status()
        products[created.json()["id"]] = body["stock"]
    tokens = []
    for n in range(users):
        # The same users every run, signed up by the first one only: sign-ups are rate-limited
        # per client address, an address already taken included.
        email = f"chaos.{n}@example.com"
        credentials = {"email": email, "password": "chaos-password"}
        login = session.post(f"{base}/api/v1/auth/token", json=credentials, timeout=10)
        if login.status_code == 401:
            session.post(
                f"{base}/api/v1/users", json={**credentials, "name": f"Chaos {n}"}, timeout=10
            ).raise_for_status()
            login = session.post(f"{base}/api/v1/auth/token", json=credentials, timeout=10)
        login.raise_for_status()
        tokens.append(login.json()["access_token"])
    return tokens, products


# -- the account ------------------------------------------------------------------------------


def settle(order_ids: list[str]) -> None:
    ends = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < ends:
        try:
            (pending,) = query(
                "orders",
                "SELECT count(*) FROM orders WHERE id = ANY(%s) AND step <> 'done'",
                order_ids,
            )[0]
            if pending == 0:
                return
            log(f"waiting for {pending} unfinished order(s)")
        except psycopg2.Error as exc:
            log(f"orders database not answering yet: {exc}")
        time.sleep(2)


def missing_notifications(confirmed_ids: list[str]) -> int:
    events = query(
        "orders",
        "SELECT event_id FROM outbox WHERE event_type = 'order_confirmed'"
        " AND payload->>'order_id' = ANY(%s)",
        confirmed_ids,
    )
    wanted = {row[0] for row in events}
    mailed = {
        row[0]
        for row in query(
            "notifications",
            "SELECT event_id FROM notifications WHERE event_id = ANY(%s)",
            list(wanted),
        )
    }
    return len(confirmed_ids) - len(mailed)


def management_api() -> str:
    return os.environ.get("RABBITMQ_API_URL", "http://127.0.0.1:15672").rstrip("/") + "/api"


def dead_letters(amqp_uri: str) -> int:
    vhost = quote(unquote(urlparse(nodes(amqp_uri)[0]).path[1:]) or "/", safe="")
    queues = requests.get(
        f"{management_api()}/queues/{vhost}", auth=("guest", "guest"), timeout=10
    ).json()
    return sum(q.get("messages", 0) for q in queues if q["name"].endswith(".dead"))


def mails(run_dir: Path, confirmed_ids: list[str]) -> tuple[int, int]:
    """From the mail sink's files: confirmed orders mailed as more than one message (two
    Message-IDs), and messages the sink received again.

    Mail is sent at least once: a message whose sending was not recorded (the database went
    away between the SMTP answer and the commit) is sent again, with the same Message-ID (made
    from its event's id), by which a receiver knows it for the same message. A second
    Message-ID for one order would be a second message."""
    wanted = set(confirmed_ids)
    ids: dict[str, list[str]] = {}
    for path in (run_dir / "mail" / "new").glob("*"):
        text = path.read_text(errors="replace")
        found = CONFIRMED_MAIL.search(text)
        if found and found[1] in wanted:
            message_id = MESSAGE_ID.search(text)
            ids.setdefault(found[1], []).append(message_id[1] if message_id else path.name)
    twice = len([order for order, seen in ids.items() if len(set(seen)) > 1])
    again = sum(len(seen) - len(set(seen)) for seen in ids.values())
    return twice, again


def account(
    clients: Clients, products: dict[int, int], amqp_uri: str, run_dir: Path
) -> dict[str, Any]:
    ids = list(clients.accepted)
    rows = query("orders", "SELECT id, status, cancel_reason FROM orders WHERE id = ANY(%s)", ids)
    status = {row[0]: (row[1], row[2]) for row in rows}
    confirmed = [oid for oid, (s, _) in status.items() if s == "confirmed"]
    reasons = Counter(reason for s, reason in status.values() if s == "cancelled")
    units = query(
        "orders",
        "SELECT product_id, coalesce(sum(quantity), 0) FROM order_items WHERE order_id = ANY(%s)"
        " GROUP BY product_id",
        confirmed,
    )
    sold = dict(units)
    stock = dict(
        query("products", "SELECT id, stock FROM products WHERE id = ANY(%s)", list(products))
    )
    drift = {pid: initial - stock[pid] - sold.get(pid, 0) for pid, initial in products.items()}
    charged = query(
        "payments",
        "SELECT payload->>'order_id', count(*) FROM outbox WHERE event_type = 'payment_succeeded'"
        " AND payload->>'order_id' = ANY(%s) GROUP BY 1",
        ids,
    )
    approved = [
        row[0]
        for row in query(
            "payments",
            "SELECT order_id FROM payments WHERE status = 'approved' AND order_id = ANY(%s)",
            ids,
        )
    ]
    ends = time.monotonic() + 60
    missing = missing_notifications(confirmed)
    while missing and time.monotonic() < ends:
        time.sleep(2)
        missing = missing_notifications(confirmed)
    twice, resent = mails(run_dir, confirmed)
    return {
        "orders_placed": clients.placed,
        "accepted": len(ids),
        "confirmed": len(confirmed),
        "cancelled": dict(sorted(reasons.items())),
        "refused (then retried)": dict(sorted(clients.refused.items())),
        "lost": len([oid for oid in ids if oid not in status]) + clients.gave_up,
        "stuck_pending": len([oid for oid, (s, _) in status.items() if s == "pending"]),
        "double_charges": len([oid for oid, count in charged if count > 1]),
        "charges_without_confirmed_order": len(set(approved) - set(confirmed)),
        "stock_drift": sum(abs(d) for d in drift.values()),
        "missing_notifications": missing,
        "orders_mailed_twice": twice,
        "mails_resent (same Message-ID)": resent,
        "dead_letters": dead_letters(amqp_uri),
        "bad_refusals": len(clients.bad_refusals),
        "hung_requests": clients.hung,
    }


MUST_BE_ZERO = (
    "lost",
    "stuck_pending",
    "double_charges",
    "charges_without_confirmed_order",
    "stock_drift",
    "missing_notifications",
    "orders_mailed_twice",
    "bad_refusals",
    "hung_requests",
    "faults_not_made",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--orders", type=int, default=1000, help="at least; more while a fault is being made"
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--base", action="append", help="a gateway's URL (more than one: they share the orders)"
    )
    parser.add_argument("--faults", choices=("servers", "nodes"), default="servers")
    parser.add_argument("--run-dir", default=os.environ.get("RUN_DIR", str(ROOT / ".run")))
    args = parser.parse_args()
    bases = args.base or [f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}"]
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    amqp_uri = load_config(ROOT / "users" / "config.yaml")["AMQP_URI"]
    log(f"chaos: {args.orders} orders from {args.users} users, seed {seed}")
    tokens, products = setup(bases[0], args.users, args.orders)
    clients = Clients(bases, tokens, list(products), rng)
    faults = Faults(Path(args.run_dir))
    plan = faults.plan(rng, args.faults)

    def inflict() -> None:
        for point, action in plan:
            while clients.placed < point * args.orders:
                time.sleep(0.1)
            at = clients.placed
            try:
                action()
            except BaseException as exc:  # the run did not test what it says: it fails
                faults.failed.append(repr(exc))
                log(f"  fault could not be made: {exc!r}")
                continue
            # Where the load stood: a fault made after the last order tested nothing.
            faults.done[-1] += f", orders {at}-{clients.placed} placed meanwhile"
            log(f"  fault: {faults.done[-1]}")

    chaos = threading.Thread(target=inflict, daemon=True)
    started = time.monotonic()
    chaos.start()
    # At least --orders orders, and more while a fault is still being made: every fault is
    # made under load, however long the servers take to stop and come back.
    numbers = itertools.count()
    numbering = threading.Lock()

    def client() -> None:
        while True:
            with numbering:
                n = next(numbers)
            if n >= args.orders and not chaos.is_alive():
                return
            clients.place(n)

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for done in [pool.submit(client) for _ in range(args.concurrency)]:
            done.result()
    chaos.join()
    log(f"placed in {time.monotonic() - started:.0f} s; settling")
    settle(list(clients.accepted))
    result = account(clients, products, amqp_uri, Path(args.run_dir))
    result["faults"] = faults.done
    result["faults_not_made"] = len(faults.failed)
    result["seed"] = seed
    result["seconds"] = round(time.monotonic() - started, 1)
    width = max(len(key) for key in result)
    print()
    for key, value in result.items():
        flag = "  ← must be 0" if key in MUST_BE_ZERO and value else ""
        print(f"{key:<{width}}  {value}{flag}")
    for line in clients.bad_refusals[:10]:
        print(f"  bad refusal: {line}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"chaos-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    failed = [key for key in MUST_BE_ZERO if result[key]]
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'OK: nothing lost'} ({path.name})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
