import os

import pytest

from bench import cluster, cost, report
from bench.cluster import LOAD, SUPERVISOR, Sample
from bench.cpu import TICKS_PER_S, Machine, Proc, Snapshot

RUN_PY = 50
# pid, name, parent: one of each kind of process `make run` and the servers leave running.
TREE = [
    (RUN_PY, "python", 1),
    (51, "gunicorn", RUN_PY),
    (52, "gunicorn", 51),
    (53, "nameko", RUN_PY),
    (54, "nameko", RUN_PY),
    (55, "nameko", RUN_PY),
    (56, "nameko", RUN_PY),
    (57, "nameko", RUN_PY),
    (58, "python", RUN_PY),
    (60, "beam.smp", 1),
    (61, "erl_child_setup", 60),
    (62, "epmd", 1),
    (70, "postgres", 1),
    (71, "postgres", 70),
    (80, "redis-server", 1),
    (90, "pytest", 1),
    (91, "beam.smp", 90),  # rabbitmqctl, run by a test: not the broker
]
PID_FILES = {
    "gateway": 51,
    "users": 53,
    "products": 54,
    "orders": 55,
    "payments": 56,
    "notifications": 57,
    "smtp-sink": 58,
}


def _procs(ticks: int, pids=None) -> dict[int, Proc]:
    return {
        pid: Proc(pid, name, parent, ticks, 0)
        for pid, name, parent in TREE
        if pids is None or pid in pids
    }


@pytest.fixture
def pid_dir(tmp_path, monkeypatch):
    for name, pid in PID_FILES.items():
        (tmp_path / f"{name}.pid").write_text(f"{pid}\n")
    (tmp_path / "orders-2.pid").write_text("4000000\n")  # an earlier run's, long gone
    commands = {RUN_PY: "python deploy/local/run.py", 60: "beam.smp -- -s rabbit boot -noshell"}
    monkeypatch.setattr(cluster, "cmdline", lambda pid: commands.get(pid, ""))
    return tmp_path


def test_every_process_is_found_and_named_by_component(pid_dir):
    found = cluster.roots(_procs(0), pid_dir)
    assert found == {
        **{pid: name for name, pid in PID_FILES.items() if name != "smtp-sink"},
        58: SUPERVISOR,
        RUN_PY: SUPERVISOR,
        60: "rabbitmq",
        62: "rabbitmq",
        70: "postgres",
        80: "redis",
        os.getpid(): LOAD,
    }


def test_a_missing_process_is_an_error(pid_dir):
    procs = _procs(0, pids={pid for pid, _, _ in TREE} - {80})
    with pytest.raises(cluster.Missing, match="redis"):
        cluster.roots(procs, pid_dir)


def test_no_cluster_is_an_error(tmp_path):
    with pytest.raises(cluster.Missing, match="make run"):
        cluster.roots(_procs(0), tmp_path)


def test_a_service_instance_counts_for_its_service():
    assert cluster.component("orders-2") == "orders"
    assert cluster.component("gateway") == "gateway"
    assert cluster.component("smtp-sink") == SUPERVISOR


def test_figures_per_request_load_generator_apart(pid_dir):
    roots = cluster.roots(_procs(0), pid_dir)
    load = {os.getpid(): Proc(os.getpid(), "python", 1, 0, 0)}
    before = Sample(Snapshot(0.0, {**_procs(0), **load}, Machine(0, 0, 0)), roots)
    # Every process used one second of CPU, the load generator half of one.
    load = {os.getpid(): Proc(os.getpid(), "python", 1, TICKS_PER_S // 2, 0)}
    machine = Machine(len(TREE) * TICKS_PER_S + TICKS_PER_S // 2, 0, 0)
    after = Sample(Snapshot(10.0, {**_procs(TICKS_PER_S), **load}, machine), roots)
    figures = cost.figures(before, after, requests=500, confirmed=250)
    per_request = figures["ms_per_request"]
    assert per_request["gateway"] == 4.0  # master and worker: 2,000 ms over 500 requests
    assert per_request["rabbitmq"] == 6.0  # beam.smp, erl_child_setup and epmd
    assert per_request[SUPERVISOR] == 4.0  # run.py and the mail sink
    assert per_request["cluster"] == 30.0  # every process but pytest and its rabbitmqctl
    assert per_request[LOAD] == 1.0
    assert per_request["total"] == 31.0
    assert figures["ms_per_confirmed"]["total"] == 62.0
    assert figures["machine"]["coverage"] == 1.0
    assert figures["machine"]["others_ms"] == 2000.0
    assert figures["machine"]["others_top_ms"] == {"pytest": 1000.0, "beam.smp": 1000.0}
    assert figures["processes_ms_per_request"]["gateway/gunicorn[52]"] == 2.0
    assert figures["processes_ms_per_request"][f"{LOAD}/python[{os.getpid()}]"] == 1.0


def test_the_median_of_two_runs_is_rounded_as_the_figures_are():
    runs = [
        {"connections": 20, "p95_ms": 129.61, "errors": 0, "requests": 7},
        {"connections": 20, "p95_ms": 129.6, "errors": 1, "requests": 8},
    ]
    assert report.median(runs) == {
        "connections": 20,
        "p95_ms": 129.605,
        "errors": 0.5,
        "requests": 7.5,
    }
    assert isinstance(report.median(runs)["connections"], int)


def test_medians_spreads_and_ratios_of_runs():
    runs = [
        {"rps": 500, "name": "a", "cpu": {"total": 5.0}},
        {"rps": 560, "name": "a", "cpu": {"total": 4.0}},
        {"rps": 530, "name": "a", "cpu": {"total": 6.0}},
    ]
    assert report.median(runs) == {"rps": 530, "name": "a", "cpu": {"total": 5.0}}
    assert report.spread(runs)["cpu"] == {"total": [4.0, 6.0]}
    http = {"product-read": {"rps": 500.0}, "order-place": {"confirmed_per_s": 40.0}}
    rpc = {
        "sequential": {"ratio_p50": 3.5, "shop_ratio_p50": 1.8},
        "concurrent-20": {"raw_amqp": {"calls_per_s": 2000.0}},
    }
    assert report.ratios(http, rpc) == {
        "nameko_per_raw_p50": 3.5,
        "shop_per_raw_p50": 1.8,
        "product_read_per_raw_amqp": 0.25,
        "confirmed_per_raw_amqp": 0.02,
    }
