"""What a scenario cost in CPU: per component and per request, the load generator apart, and
how much of the machine's busy CPU the processes read account for (the proof that none was
missed: what no process is charged for is interrupt time and processes nobody waited for)."""

from __future__ import annotations

import time
from typing import Any

from bench.cluster import COMPONENTS, LOAD, OTHERS, Sample, sample
from bench.cpu import Usage, ms, ms_per, owners, usage

# The figures of a window, in this order: each component, then the sums.
ROWS = (*COMPONENTS, "cluster", LOAD, "total")
IDLE_BOUND = 20.0  # seconds to wait at most for asynchronous work to finish


def cluster_rate(before: Sample, after: Sample) -> float:
    """The cluster's CPU between two samples, in ms per second (1000 = one core)."""
    use = usage(before.snap, after.snap, (before.roots, after.roots), OTHERS)
    return ms(sum(use.groups.get(name, 0) for name in COMPONENTS)) / use.seconds


def idle_rate(seconds: float = 3.0) -> float:
    """The cluster's CPU while nothing is asked of it (heartbeats, outbox polls...)."""
    before = sample()
    time.sleep(seconds)
    return cluster_rate(before, sample())


def wait_idle(idle: float, bound: float = IDLE_BOUND) -> tuple[Sample, float, bool]:
    """Sample until the cluster's CPU per second falls back near ``idle``: outbox relays, event
    handlers and mail run after the last answer. Returns the last sample, the seconds waited,
    and whether the cluster became idle within ``bound``."""
    started = previous = sample()
    while True:
        time.sleep(1.0)
        current = sample()
        waited = current.snap.at - started.snap.at
        if cluster_rate(previous, current) <= 1.5 * idle + 20:
            return current, waited, True
        if waited >= bound:
            return current, waited, False
        previous = current


def figures(
    before: Sample, after: Sample, requests: int, confirmed: int | None = None
) -> dict[str, Any]:
    """CPU from ``before`` to ``after``: in all and per request (and per confirmed order)."""
    use = usage(before.snap, after.snap, (before.roots, after.roots), OTHERS)
    ticks = {name: use.groups.get(name, 0) for name in (*COMPONENTS, LOAD)}
    ticks["cluster"] = sum(ticks[name] for name in COMPONENTS)
    ticks["total"] = ticks["cluster"] + ticks[LOAD]
    out: dict[str, Any] = {
        "seconds": round(use.seconds, 2),
        "requests": requests,
        "ms": {name: round(ms(ticks[name]), 1) for name in ROWS},
        "ms_per_request": {name: ms_per(ticks[name], requests) for name in ROWS},
    }
    if confirmed is not None:
        out["confirmed"] = confirmed
        out["ms_per_confirmed"] = {name: ms_per(ticks[name], confirmed) for name in ROWS}
    out["machine"] = machine(use, ticks["total"])
    out["machine"]["others_top_ms"] = others(use, after)
    out["processes_ms_per_request"] = processes(use, after, requests)
    restarted = sorted(
        {name for pid, name in before.roots.items() if pid not in after.roots} - {LOAD}
    )
    if restarted:
        out["restarted"] = restarted
    return out


def machine(use: Usage, accounted: int) -> dict[str, Any]:
    """The window against /proc/stat: ``coverage`` is every process's CPU over the machine's
    busy CPU (idle excluded); ``cluster_share`` the cluster's and load generator's part."""
    busy = use.machine.busy
    others = use.groups.get(OTHERS, 0)
    return {
        "busy_ms": round(ms(busy), 1),
        "interrupts_ms": round(ms(use.machine.interrupts), 1),
        "idle_ms": round(ms(use.machine.idle), 1),
        "others_ms": round(ms(others), 1),
        "coverage": round(sum(use.groups.values()) / busy, 3) if busy else None,
        "cluster_share": round(accounted / busy, 3) if busy else None,
        "others_share": round(others / busy, 3) if busy else None,
    }


def processes(use: Usage, after: Sample, requests: int) -> dict[str, float | None]:
    """CPU ms per request of each process of the cluster and of the load generator alive at the
    end (with the children it waited for), labelled ``component/name[pid]``."""
    out = {}
    for pid, group in sorted(owners(after.snap.procs, after.roots, OTHERS).items()):
        if group != OTHERS and use.processes.get(pid, 0) > 0:
            out[f"{group}/{after.snap.procs[pid].name}[{pid}]"] = ms_per(
                use.processes[pid], requests
            )
    return out


def others(use: Usage, after: Sample, most: int = 5) -> dict[str, float]:
    """CPU ms of the busiest processes outside the cluster, added up by name."""
    by_name: dict[str, int] = {}
    for pid, group in owners(after.snap.procs, after.roots, OTHERS).items():
        if group == OTHERS and use.processes.get(pid, 0) > 0:
            name = after.snap.procs[pid].name
            by_name[name] = by_name.get(name, 0) + use.processes[pid]
    busiest = sorted(by_name.items(), key=lambda item: -item[1])[:most]
    return {name: round(ms(ticks), 1) for name, ticks in busiest}
