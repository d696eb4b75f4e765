"""Which processes are the cluster's, by component: those ``make run`` started (it writes their
pids under ``<RUN_DIR>/pids/``) with their children, ``deploy/local/run.py`` itself, and the
servers, found by name (RabbitMQ, PostgreSQL and Redis daemonise, so no pid file leads to them).
A process not found is an error, never a zero."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import Proc, Snapshot, owners, rss_kib, snapshot

with warnings.catch_warnings():  # nameko imports eventlet, whose deprecation banner is noise here
    warnings.simplefilter("ignore")
    from chassis.topology import SERVICES

ROOT = Path(__file__).resolve().parents[1]
SUPERVISOR = "supervisor/other"
LOAD = "load generator"
OTHERS = "not the cluster"
COMPONENTS = ("gateway", *SERVICES, "rabbitmq", "postgres", "redis", SUPERVISOR)
# Each server's processes by name; a process whose parent has the same server's name is part
# of its parent's tree (RabbitMQ's erl_child_setup, inet_gethost; PostgreSQL's backends).
SERVERS = {
    "beam.smp": "rabbitmq",
    "epmd": "rabbitmq",
    "postgres": "postgres",
    "redis-server": "redis",
}
# rabbitmqctl and rabbitmq-diagnostics run in a beam.smp of their own: the broker's boots rabbit.
BROKER_MARK = "-s rabbit boot"


class Missing(Exception):
    """A process of the cluster is not there: the figures would be short by its share."""


@dataclass(frozen=True)
class Sample:
    snap: Snapshot
    roots: dict[int, str]  # the processes each component's tree hangs from


def pid_dir() -> Path:
    return Path(os.environ.get("RUN_DIR", ROOT / ".run")).resolve() / "pids"


def component(instance: str) -> str:
    """``orders-2`` → ``orders``; the mail sink and anything unknown → the supervisor's share."""
    base, _, number = instance.rpartition("-")
    name = base if base and number.isdigit() else instance
    return name if name in COMPONENTS else SUPERVISOR


def started_by_run(procs: Mapping[int, Proc], pids: Path) -> dict[int, str]:
    """The live processes of the pid files, and ``run.py``, their parent. A stale file (an
    instance of an earlier run, a pid since reused) is passed over: the completeness check of
    ``roots`` then says what is missing."""
    found: dict[int, str] = {}
    for path in sorted(pids.glob("*.pid")):
        pid = int(path.read_text().strip() or 0)
        proc = procs.get(pid)
        if proc is not None and "deploy/local/run.py" in cmdline(proc.ppid):
            found[pid] = component(path.stem)
            found[proc.ppid] = SUPERVISOR
    return found


def roots(procs: Mapping[int, Proc], pids: Path) -> dict[int, str]:
    found = started_by_run(procs, pids)
    if not found:
        raise Missing(f"no process of {pids} runs under deploy/local/run.py: start `make run`")
    for pid, proc in procs.items():
        server = SERVERS.get(proc.name)
        parent = procs.get(proc.ppid)
        if not server or (parent is not None and SERVERS.get(parent.name) == server):
            continue
        if proc.name != "beam.smp" or BROKER_MARK in cmdline(pid):
            found[pid] = server
    absent = sorted(set(COMPONENTS) - set(found.values()))
    if absent:
        raise Missing(f"no running process found for {', '.join(absent)}")
    found[os.getpid()] = LOAD
    return found


def sample(patience: float = 5.0) -> Sample:
    """Every process now, and whose each one is. A server restarting (``make chaos`` restarts
    them) has ``patience`` seconds to come back before it is reported missing."""
    deadline = time.monotonic() + patience
    while True:
        snap = snapshot()
        try:
            return Sample(snap, roots(snap.procs, pid_dir()))
        except Missing:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def memory(at: Sample) -> dict[str, dict[str, float]]:
    """VmRSS per component (MiB, summed over its processes: pages they share count in each)."""
    kib: dict[str, int] = {}
    count: dict[str, int] = {}
    for pid, group in owners(at.snap.procs, at.roots, OTHERS).items():
        if group == OTHERS:
            continue
        try:
            kib[group] = kib.get(group, 0) + rss_kib(pid)
        except OSError:  # it exited since the snapshot
            continue
        count[group] = count.get(group, 0) + 1
    return {group: {"mib": round(kib[group] / 1024, 1), "processes": count[group]} for group in kib}
