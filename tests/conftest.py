# nameko 2.14's pytest plugin no longer monkey-patches: without this, before anything else
# imports socket or threading, the first container test waits for ever.
import eventlet

eventlet.monkey_patch()

import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Mapping  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]  # the repository

# Where each server answers, and how to start it when it does not.
SERVERS = {
    "rabbitmq": ("RabbitMQ", 5672, "rabbitmq-server -detached"),
    "rabbitmq_api": (
        "RabbitMQ management API",
        15672,
        "rabbitmq-plugins enable rabbitmq_management",
    ),
    "postgres": (
        "PostgreSQL",
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "redis": (
        "Redis",
        6379,
        'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    ),
}


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port nothing listens on right now, for a server a test starts itself."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_servers(*names: str) -> None:
    """Fail — never skip — naming each server that does not answer and how to start it."""
    missing = [SERVERS[name] for name in names if not _answers(SERVERS[name][1])]
    if missing:
        lines = [
            f"{label} is not answering on 127.0.0.1:{port}: start it with `{how}`"
            for label, port, how in missing
        ]
        pytest.fail(
            "\n".join(lines) + "\n(or run `make stack`, which starts all of them)", pytrace=False
        )


def wait_for_charge_in_flight(database_url: str, application: str | None = None) -> None:
    """Until a payments worker has held a payment row locked for a while: it is inside the
    slow provider (a ``tok_slow`` charge).

    ``application`` narrows it to the sessions of one service process (its database URL's
    ``application_name``)."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + 10
    try:
        while True:
            with engine.connect() as conn:  # a transaction sees one snapshot of the activity
                busy = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND state = 'idle in transaction'"
                        " AND query LIKE '%FROM payments%FOR UPDATE%'"
                        # held a while: not a quick charge passing through
                        " AND now() - state_change > interval '100 milliseconds'"
                        " AND (CAST(:app AS text) IS NULL OR application_name = :app)"
                    ),
                    {"app": application},
                ).scalar()
            if busy:
                return
            assert time.monotonic() < deadline, "no charge reached the payment provider"
            time.sleep(0.05)
    finally:
        engine.dispose()


@contextmanager
def running_shop(env: Mapping[str, str], start_timeout: float = 120.0) -> Iterator[str]:
    """The whole shop started as `make run` starts it (``deploy/local/run.py``), with ``env``
    (its ``RUN_DIR`` among them); yields the gateway's base URL. Stopped with SIGTERM at the
    end, which must end it with status 0 within a minute."""
    output = Path(env["RUN_DIR"]) / "run.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "deploy" / "local" / "run.py")],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + start_timeout
    while "The shop is running." not in output.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the shop did not start:\n{output.read_text(errors='replace')}")
        time.sleep(0.25)
    yield f"http://127.0.0.1:{env.get('GATEWAY_PORT', '8000')}"
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the shop did not stop within 60 s of SIGTERM")
    assert code == 0, output.read_text(errors="replace")


@contextmanager
def broker_vhost(api: str, name: str) -> Iterator[str]:
    """The vhost ``name`` on the broker whose management API is ``api`` (``http://.../api``),
    where the operator (guest) may do anything; deleted at the end, with the broker users made
    for it (named ``<name>-<principal>``: ``BROKER_USER_PREFIX``)."""
    auth = ("guest", "guest")
    requests.put(f"{api}/vhosts/{name}", auth=auth, timeout=10).raise_for_status()
    requests.put(
        f"{api}/permissions/{name}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=auth,
        timeout=10,
    ).raise_for_status()
    try:
        yield name
    finally:
        requests.delete(f"{api}/vhosts/{name}", auth=auth, timeout=10)
        for user in requests.get(f"{api}/users", auth=auth, timeout=10).json():
            if user["name"].startswith(f"{name}-"):
                requests.delete(f"{api}/users/{user['name']}", auth=auth, timeout=10)


def chaos(env: Mapping[str, str], *args: str) -> str:
    """``python -m bench.chaos *args`` (what `make chaos` runs) in ``env``, which must end with
    its account all zero; returns (and prints) what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--run-dir", env["RUN_DIR"], *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: nothing lost" in done.stdout  # lost, twice, stuck, stock, charges, mail
    return done.stdout
