"""SIGTERM to a service run as in production (`nameko run`, a process of its own): the call in
flight gets its answer and the process exits 0; past ``SHUTDOWN_TIMEOUT`` it exits at once,
non-zero, naming the work it cut off, and that work leaves nothing behind."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from tests.conftest import ROOT, wait_for_charge_in_flight

NAMEKO = str(Path(sys.executable).parent / "nameko")
START_TIMEOUT = 30


class NamekoRun:
    """``nameko run --config <service>/config.yaml <service>.service``, its log in a file."""

    def __init__(self, service: str, env: dict[str, str], log: Path) -> None:
        self.service = service
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [NAMEKO, "run", "--config", f"{service}/config.yaml", f"{service}.service"],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_until_answering(self, rpc: ClusterRpcProxy) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc.poll() is None, f"{self.service} exited:\n{self.output()}"
            try:
                rpc[self.service].ping()
                return
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"{self.service} did not answer:\n{self.output()}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def messages(self, logger: str = "chassis.shutdown") -> list[dict]:
        lines = []
        for line in self.output().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # eventlet's deprecation banner, on stderr
            if isinstance(entry, dict) and entry.get("logger") == logger:
                lines.append(entry)
        return lines


@pytest.fixture
def payments_service(rabbit_config, databases, tmp_path):
    """Starts the payments service with extra settings; a charge with ``tok_slow`` is slow."""
    started: list[NamekoRun] = []
    application = f"shutdown-test-{uuid.uuid4().hex[:8]}"  # to find its sessions in PostgreSQL
    database = f"{databases['payments']}?application_name={application}"

    def start(**settings: str) -> NamekoRun:
        env = {
            "AMQP_URI": rabbit_config["AMQP_URI"],
            "PAYMENTS_DATABASE_URL": database,
            "OPS_PORT": "0",  # no health port: `make run` may hold the usual one
            **settings,
        }
        service = NamekoRun("payments", env, tmp_path / f"payments-{len(started)}.log")
        started.append(service)
        return service

    start.application = application  # type: ignore[attr-defined]
    yield start
    for service in started:
        service.stop()


def payment_rows(database_url: str, order_id: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM payments WHERE order_id = :id"), {"id": order_id}
            ).scalar()
    finally:
        engine.dispose()


def test_sigterm_lets_the_call_in_flight_finish_then_exits_0(
    payments_service, rabbit_config, databases
):
    service = payments_service(SHUTDOWN_TIMEOUT="5", PAYMENT_PROVIDER_SLOW_SECONDS="1.5")
    order_id = f"shutdown-{uuid.uuid4().hex[:12]}"
    with ClusterRpcProxy(rabbit_config, timeout=15) as rpc:
        service.wait_until_answering(rpc)
        reply = rpc.payments.charge.call_async(order_id, 1500, "tok_slow", user_id=7)
        wait_for_charge_in_flight(databases["payments"], payments_service.application)

        service.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        answer = reply.result()
        code = service.proc.wait(timeout=15)
        took = time.monotonic() - sent

    assert answer["order_id"] == order_id and answer["status"] == "approved"
    assert code == 0, service.output()
    assert took < 5, f"exited {took:.1f} s after SIGTERM, the bound being 5 s"
    started, finished = [entry["message"] for entry in service.messages()]
    assert "SIGTERM received" in started and "1 worker(s) in flight: payments.charge" in started
    assert "no worker left" in finished
    assert payment_rows(databases["payments"], order_id) == 1  # the charge was committed


def test_past_the_bound_the_work_is_cut_off_and_the_exit_is_non_zero(
    payments_service, rabbit_config, databases
):
    service = payments_service(SHUTDOWN_TIMEOUT="1", PAYMENT_PROVIDER_SLOW_SECONDS="30")
    order_id = f"shutdown-{uuid.uuid4().hex[:12]}"
    with ClusterRpcProxy(rabbit_config, timeout=5) as rpc:
        service.wait_until_answering(rpc)
        rpc.payments.charge.call_async(order_id, 1500, "tok_slow", user_id=7)
        wait_for_charge_in_flight(databases["payments"], payments_service.application)

        service.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        code = service.proc.wait(timeout=10)
        took = time.monotonic() - sent

    assert code == 1, service.output()
    assert 1 <= took < 3, f"exited {took:.1f} s after SIGTERM, the bound being 1 s"
    cut_off = [entry for entry in service.messages() if entry["level"] == "ERROR"]
    assert len(cut_off) == 1, service.output()
    assert "SHUTDOWN_TIMEOUT of 1 s reached" in cut_off[0]["message"]
    assert "cutting off 1 worker(s): payments.charge" in cut_off[0]["message"]
    # Its transaction was never committed: the order can be charged again, by another instance.
    assert payment_rows(databases["payments"], order_id) == 0
