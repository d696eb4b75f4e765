"""CPU time and resident memory of processes, read from /proc, and their cost per request.

A process's own CPU is utime + stime of ``/proc/<pid>/stat`` (all its threads); what the
children it waited for used is cutime + cstime. Summing both over every live process of a group
keeps the group's figure whole while children come and go (PostgreSQL's backends, gunicorn's
workers): an exiting child's time moves from its own line to its parent's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    pid: int
    name: str
    ppid: int
    ticks: int  # utime + stime: its own threads
    child_ticks: int  # cutime + cstime: the children it waited for

    @property
    def total(self) -> int:
        return self.ticks + self.child_ticks


@dataclass(frozen=True)
class Machine:
    """The first line of /proc/stat, in ticks over every core."""

    busy: int  # user + nice + system + irq + softirq (guest time is counted within user, nice)
    interrupts: int  # irq + softirq, which no process is charged for
    idle: int  # idle + iowait

    def __sub__(self, other: Machine) -> Machine:
        return Machine(
            self.busy - other.busy, self.interrupts - other.interrupts, self.idle - other.idle
        )


@dataclass(frozen=True)
class Snapshot:
    at: float  # time.monotonic()
    procs: dict[int, Proc]
    machine: Machine


@dataclass(frozen=True)
class Usage:
    """CPU used between two snapshots, in ticks."""

    seconds: float
    groups: dict[str, int]
    processes: dict[int, int]  # per process alive at the end: its own and its reaped children's
    machine: Machine


def parse_stat(text: str) -> Proc:
    """One ``/proc/<pid>/stat`` line. The name stands in parentheses and may hold spaces and
    parentheses itself, so the fields are counted from the last ')'."""
    head, _, tail = text.rpartition(")")
    pid, _, name = head.partition(" (")
    fields = tail.split()  # fields[0] is field 3 of proc(5), the state
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return Proc(int(pid), name, int(fields[1]), utime + stime, cutime + cstime)


def parse_machine(text: str) -> Machine:
    user, nice, system, idle, iowait, irq, softirq = (int(v) for v in text.split()[1:8])
    return Machine(user + nice + system + irq + softirq, irq + softirq, idle + iowait)


def snapshot() -> Snapshot:
    procs = {}
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            try:
                procs[int(entry.name)] = parse_stat((PROC / entry.name / "stat").read_text())
            except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
                continue
    machine = parse_machine((PROC / "stat").read_text().split("\n", 1)[0])
    return Snapshot(time.monotonic(), procs, machine)


def owners(procs: Mapping[int, Proc], roots: Mapping[int, str], default: str) -> dict[int, str]:
    """Each process's group: that of its nearest ancestor among ``roots`` (itself included),
    else ``default``."""
    found: dict[int, str] = {}
    for pid in procs:
        chain: list[int] = []
        current = pid
        while current in procs and current not in found and current not in roots:
            chain.append(current)
            current = procs[current].ppid
        if current in found:
            group = found[current]
        elif current in roots and current in procs:
            group = roots[current]
            chain.append(current)
        else:
            group = default
        found.update(dict.fromkeys(chain, group))
    return found


def group_ticks(snap: Snapshot, roots: Mapping[int, str], default: str) -> dict[str, int]:
    sums: dict[str, int] = {}
    for pid, group in owners(snap.procs, roots, default).items():
        sums[group] = sums.get(group, 0) + snap.procs[pid].total
    return sums


def usage(
    before: Snapshot,
    after: Snapshot,
    roots: tuple[Mapping[int, str], Mapping[int, str]],
    default: str,
) -> Usage:
    """What each group used from ``before`` to ``after``; ``roots`` as they were at each."""
    start, end = group_ticks(before, roots[0], default), group_ticks(after, roots[1], default)
    processes = {
        pid: proc.total - (before.procs[pid].total if pid in before.procs else 0)
        for pid, proc in after.procs.items()
    }
    return Usage(
        after.at - before.at,
        {group: end.get(group, 0) - start.get(group, 0) for group in {*start, *end}},
        processes,
        after.machine - before.machine,
    )


def ms(ticks: float) -> float:
    return ticks * 1000 / TICKS_PER_S


def ms_per(ticks: float, count: int) -> float | None:
    """CPU milliseconds per unit of work; None when there was no work to share them."""
    return round(ms(ticks) / count, 3) if count > 0 else None


def rss_kib(pid: int) -> int:
    """VmRSS of the process; 0 for those without memory of their own (zombies, kernel threads)."""
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
