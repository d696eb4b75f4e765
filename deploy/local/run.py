"""Run the whole cluster in the foreground: what `make run` does once the servers answer.

Migrates each service's database, declares every queue and gives each service and the gateway
a broker user of its own (least privilege: chassis/broker.py), starts every service with
`nameko run` and the gateway under gunicorn, shows each one coming up, seeds an admin and a
demo catalogue (only when absent), then waits. Secrets nobody chose (the JWT secret, the broker
users' passwords) are made once per installation and kept under <RUN_DIR>/secrets/.

Ctrl-C or SIGTERM stops the gateway first, then the services, each with SIGTERM so it finishes
what it is doing (within its own bound), and exits 1 if any of them did not exit 0. Logs go to
<RUN_DIR>/logs/.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

with warnings.catch_warnings():  # nameko imports eventlet, whose deprecation banner is noise here
    warnings.simplefilter("ignore")
    import eventlet  # noqa: F401

from nameko.standalone.rpc import ClusterRpcProxy

from chassis import broker, topology
from chassis.config import env_float, load_config, setting
from chassis.contracts.errors import UserAlreadyExists
from chassis.migrate import upgrade
from chassis.nodes import starting_at
from chassis.shutdown import DEFAULT_TIMEOUT as SHUTDOWN_TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVICES = topology.SERVICES
WITH_DATABASE = SERVICES
START_TIMEOUT = float(os.environ.get("START_TIMEOUT", "60"))
# How long a process may take to exit once its own bound on stopping (gunicorn's
# GATEWAY_GRACEFUL_TIMEOUT, a service's SHUTDOWN_TIMEOUT) has passed, before it is killed.
STOP_GRACE = env_float("STOP_GRACE", 10.0)

DEMO_CATALOGUE = [
    {"sku": "MUG-001", "name": "Enamel mug", "description": "Holds 350 ml.", "price_cents": 1200},
    {"sku": "TEE-001", "name": "Cotton tee", "description": "Unisex, navy.", "price_cents": 2500},
    {"sku": "CAP-001", "name": "Cap", "description": "One size.", "price_cents": 1800},
    {"sku": "BAG-001", "name": "Tote bag", "description": "Canvas, 10 l.", "price_cents": 1500},
    {"sku": "PEN-001", "name": "Fountain pen", "description": "Fine nib.", "price_cents": 4200},
]


def log(message: str) -> None:
    print(message, flush=True)


class Cluster:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = int(os.environ.get("GATEWAY_PORT", "8000"))
        self.host = os.environ.get("GATEWAY_HOST", "127.0.0.1")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, list[float]] = {}
        self.restart_due: dict[str, float] = {}
        self.pids = run_dir / "pids"
        self.pids.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        # eventlet's deprecation banner, printed by whichever nameko module imports it first
        self.env.setdefault("PYTHONWARNINGS", "ignore::Warning:nameko.cli.commands")
        self.env["PYTHONUNBUFFERED"] = "1"
        # Mail goes to a local sink that keeps every message as a file under <RUN_DIR>/mail/.
        self.smtp_port = int(os.environ.get("SMTP_PORT") or 1025)
        self.mail_dir = run_dir / "mail"
        self.env["SMTP_HOST"] = "127.0.0.1"
        self.env["SMTP_PORT"] = str(self.smtp_port)
        # The operator's broker user: declares, seeds and watches; each process logs in as its
        # own user (broker_users).
        self.amqp_uri = load_config(ROOT / "users" / "config.yaml")["AMQP_URI"]
        self.secrets = run_dir / "secrets"
        self.user_uris: dict[str, str] = {}
        self.ops_port = int(os.environ.get("GATEWAY_OPS_PORT", "9100"))
        # Which service each process runs: one each, more with SCALE=orders=2,products=2.
        self.instances = instances(os.environ.get("SCALE", ""))
        # Each one's health and metrics port: <NAME>_OPS_PORT (ORDERS_2_OPS_PORT for the second
        # orders), else 9101, 9102... for the first ones, 9201, 9202... for the second ones.
        self.ops_ports = {
            name: int(
                os.environ.get(f"{name.upper().replace('-', '_')}_OPS_PORT")
                or 9001 + 100 * instance_number(name) + SERVICES.index(service)
            )
            for name, service in self.instances.items()
        }

    def secret(self, name: str) -> str:
        """The secret ``name`` of this installation: made once, kept (mode 0600), reused by
        every later run."""
        self.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.secrets / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def broker_users(self) -> None:
        """Declare every queue, then give each service and the gateway its own broker user."""
        prefix = os.environ.get("BROKER_USER_PREFIX", broker.USER_PREFIX)
        passwords = {
            principal: os.environ.get(f"{principal.upper()}_AMQP_PASSWORD")
            or self.secret(f"amqp-{principal}")
            for principal in broker.PRINCIPALS
        }
        broker.setup(
            self.amqp_uri,
            passwords,
            api_url=os.environ.get("RABBITMQ_API_URL") or None,
            prefix=prefix,
        )
        self.user_uris = {
            principal: broker.user_uri(self.amqp_uri, broker.username(principal, prefix), password)
            for principal, password in passwords.items()
        }

    def spawn(self, name: str, argv: list[str], **env: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as out:
            # A session of its own: Ctrl-C reaches this supervisor only, which then stops
            # the children in order instead of all at once.
            self.procs[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.pids / f"{name}.pid").write_text(f"{self.procs[name].pid}\n")

    def start_service(self, name: str) -> None:
        service = self.instances[name]
        # Where AMQP_URI lists a cluster's nodes, each process connects first to a node of its
        # own (the next one for each), failing over to the others.
        first = list(self.instances).index(name)
        self.spawn(
            name,
            [
                str(BIN / "nameko"),
                "run",
                "--config",
                f"{service}/config.yaml",
                f"{service}.service",
            ],
            OPS_PORT=str(self.ops_ports[name]),
            AMQP_URI=starting_at(self.user_uris[service], first),
        )

    def start_mail_sink(self) -> None:
        self.spawn(
            "smtp-sink",
            [
                sys.executable,
                "deploy/local/smtp_sink.py",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.smtp_port),
                "--dir",
                str(self.mail_dir),
            ],
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.check_alive("smtp-sink")
            try:
                socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"smtp-sink not listening within {START_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.1)
        log(f"  ✓ {'smtp-sink':<14} pid {self.procs['smtp-sink'].pid}  127.0.0.1:{self.smtp_port}")

    def start_gateway(self) -> None:
        self.spawn(
            "gateway",
            [str(BIN / "gunicorn"), "-c", "gateway/gunicorn.conf.py", "gateway.app:create_app()"],
            # Its workers are processes: their metrics are added up from files kept here.
            PROMETHEUS_MULTIPROC_DIR=self.env.get(
                "PROMETHEUS_MULTIPROC_DIR", str(self.run_dir / "prometheus")
            ),
            SERVICE_OPS_URLS=",".join(f"{n}={self.ops_url(n)}" for n in SERVICES),
            AMQP_URI=starting_at(self.user_uris[broker.GATEWAY], len(self.instances)),
            JWT_SECRET=os.environ.get("JWT_SECRET") or self.secret("jwt-secret"),
            GATEWAY_OPS_PORT=str(self.ops_port),
        )

    def ops_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ops_ports[name]}"

    def check_alive(self, name: str) -> None:
        code = self.procs[name].poll()
        if code is not None:
            tail = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()[-20:]
            raise SystemExit(
                f"{name} exited with {code}; last lines of its log:\n  " + "\n  ".join(tail)
            )

    def supervise(self) -> None:
        """Restart a service that died, as an operator's supervisor (systemd, Kubernetes) would:
        at once the first time, then backing off up to 10 s while it keeps dying (the broker
        may be down); give up when it died 20 times within five minutes."""
        now = time.monotonic()
        for name in list(self.procs):
            code = self.procs[name].poll()
            if code is None or self.restart_due.get(name, 0) > now:
                continue
            if name not in self.restart_due:
                recent = [t for t in self.restarts.get(name, []) if now - t < 300] + [now]
                self.restarts[name] = recent
                if name not in self.instances or len(recent) > 20:
                    self.check_alive(name)
                lately = len([t for t in recent if now - t < 60])
                self.restart_due[name] = now + min(0.5 * 2 ** (lately - 1) - 0.5, 10.0)
                log(f"  ! {name} exited with {code}: restarting it")
                continue
            del self.restart_due[name]
            self.start_service(name)

    def wait_for_services(self) -> None:
        """Until each service answers a ping and each process says it is ready."""
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(self.instances)
        with ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=1) as rpc:
            while pending:
                name = pending[0]
                self.check_alive(name)
                try:
                    rpc[self.instances[name]].ping()
                    urllib.request.urlopen(f"{self.ops_url(name)}/health/ready", timeout=3).close()
                except Exception:
                    if time.monotonic() > deadline:
                        raise SystemExit(
                            f"{name} did not answer within {START_TIMEOUT:.0f} s"
                        ) from None
                    time.sleep(0.2)
                    continue
                log(f"  ✓ {name:<14} pid {self.procs[name].pid}")
                pending.pop(0)

    def wait_for_gateway(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.check_alive("gateway")
            try:
                with urllib.request.urlopen(f"{self.ops}/health/ready", timeout=3) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gateway not ready within {START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        log(f"  ✓ {'gateway':<14} pid {self.procs['gateway'].pid}  {self.url}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ops(self) -> str:
        """The gateway's ops port: readiness and metrics, for this machine's tools only."""
        return f"http://127.0.0.1:{self.ops_port}"

    def seed(self) -> None:
        email = os.environ.get("ADMIN_EMAIL", "admin@example.com")
        password = os.environ.get("ADMIN_PASSWORD", "admin-secret")
        created = 0
        with ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=10) as rpc:
            try:
                rpc.users.register_admin(email, password, "Admin")
                log(f"  seeded admin {email}")
            except UserAlreadyExists:
                pass
            if rpc.products.list_products(0, 1)["total"] == 0:
                for product in DEMO_CATALOGUE:
                    rpc.products.create_product({**product, "stock": 100})
                    created += 1
                log(f"  seeded {created} demo products")

    def stop(self) -> bool:
        """SIGTERM to each process, then wait for its own bound on stopping and ``STOP_GRACE``
        more before killing it. Returns whether every one exited with status 0."""
        # The gateway drains first, so no new work reaches the services; they then stop together.
        # The mail sink goes last: services may still be sending while they finish.
        clean = True
        for group, bound in (
            (["gateway"], env_float("GATEWAY_GRACEFUL_TIMEOUT", 20.0)),
            (list(reversed(self.instances)), max(map(self.shutdown_timeout, SERVICES))),
            (["smtp-sink"], 0.0),
        ):
            running = [n for n in group if n in self.procs and self.procs[n].poll() is None]
            for name in running:
                self.procs[name].send_signal(signal.SIGTERM)
            deadline = time.monotonic() + bound + STOP_GRACE
            for name in running:
                proc = self.procs[name]
                try:
                    code = proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log(f"  {name} did not stop within {bound + STOP_GRACE:.0f} s: killing it")
                    proc.kill()
                    code = proc.wait()
                if code == 0:
                    log(f"  stopped {name}")
                else:
                    clean = False
                    how = f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"
                    log(f"  ! {name} exited with {how}: see {self.logs / name}.log")
        return clean

    @staticmethod
    def shutdown_timeout(name: str) -> float:
        """The service's bound on finishing its work after SIGTERM (see chassis/shutdown.py)."""
        config = load_config(ROOT / name / "config.yaml")
        return setting(config, "SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT)


def instances(scale: str) -> dict[str, str]:
    """``orders=2`` → {"users": "users", ..., "orders": "orders", "orders-2": "orders", ...}."""
    counts = dict.fromkeys(SERVICES, 1)
    for entry in filter(None, (part.strip() for part in scale.split(","))):
        name, _, count = entry.partition("=")
        if name not in counts or not count.isdigit() or int(count) < 1:
            raise SystemExit(f"SCALE: {entry!r} is not <service>=<count>, e.g. orders=2")
        counts[name] = int(count)
    return {
        name if number == 1 else f"{name}-{number}": name
        for number in range(1, max(counts.values()) + 1)
        for name in SERVICES
        if number <= counts[name]
    }


def instance_number(name: str) -> int:
    base, _, number = name.rpartition("-")
    return int(number) if base and number.isdigit() else 1


def lock(run_dir: Path):
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = (run_dir / "run.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(
            f"already running (lock held on {run_dir / 'run.lock'}); stop that one first"
        ) from None
    return handle


def banner(cluster: Cluster) -> None:
    email = os.environ.get("ADMIN_EMAIL", "admin@example.com")
    ports = ", ".join(f"{name} {port}" for name, port in cluster.ops_ports.items())
    log(f"""
The shop is running.
  shop       {cluster.url}/  (the storefront, in a browser: sign up, shop, check out)
  API        {cluster.url}/api/v1/products
  API docs   {cluster.url}/api/v1/docs
  ops        {cluster.ops}/health/ready, /metrics (the gateway's), and each service's:
             http://127.0.0.1:<port>/metrics, /health/live, /health/ready ({ports})
  admin      {email} (password from ADMIN_PASSWORD, default admin-secret)
  RabbitMQ   http://127.0.0.1:15672  (guest / guest: the operator; each service has its own)
  secrets    {cluster.secrets}/  (the JWT secret, the broker users' passwords)
  logs       tail -f {cluster.logs}/*.log
  mail       {cluster.mail_dir}/new/  (one file per message, sent to 127.0.0.1:{cluster.smtp_port})
  shell      .venv/bin/nameko shell --config products/config.yaml
             >>> n.rpc.products.get_product(1)
Ctrl-C stops everything.""")


def main() -> int:
    # Pings sent before a service has declared its queue make amqp log every returned message.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("amqp").setLevel(logging.ERROR)
    run_dir = Path(os.environ.get("RUN_DIR", ROOT / ".run")).resolve()
    _lock = lock(run_dir)
    cluster = Cluster(run_dir)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        log("Migrating databases")
        for name in WITH_DATABASE:
            upgrade(name)
            log(f"  ✓ {name}")
        log("Declaring queues, giving each service its broker user")
        cluster.broker_users()
        log("Starting services")
        cluster.start_mail_sink()
        for name in cluster.instances:
            cluster.start_service(name)
        cluster.wait_for_services()
        cluster.seed()
        cluster.start_gateway()
        cluster.wait_for_gateway()
        banner(cluster)
        while True:
            cluster.supervise()
            time.sleep(0.5)
    except KeyboardInterrupt:
        log("\nStopping")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        clean = cluster.stop()
        del _lock
    if not clean:
        log("Stopped, not all cleanly: a non-zero exit is listed above.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
