import os
import time

import pytest

from bench.cpu import (
    TICKS_PER_S,
    Machine,
    Proc,
    Snapshot,
    ms,
    ms_per,
    owners,
    parse_machine,
    parse_stat,
    rss_kib,
    usage,
)

# proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
# utime stime cutime cstime priority nice threads itrealvalue starttime ...
ODD = "4242 (my (odd) proc) x) S 17 4242 4242 0 -1 4194560 120 0 0 0 250 50 7 3 20 0 1 0 99 0 0"


def test_parses_its_own_stat():
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # some CPU of its own to read back
        pass
    with open("/proc/self/stat") as handle:
        proc = parse_stat(handle.read())
    with open("/proc/self/comm") as handle:
        name = handle.read().strip()
    times = os.times()
    assert (proc.pid, proc.ppid, proc.name) == (os.getpid(), os.getppid(), name)
    assert proc.ticks / TICKS_PER_S == pytest.approx(times.user + times.system, abs=0.05)
    assert proc.child_ticks / TICKS_PER_S == pytest.approx(
        times.children_user + times.children_system, abs=0.05
    )


def test_a_name_with_spaces_and_parentheses_does_not_shift_the_fields():
    proc = parse_stat(ODD)
    assert proc == Proc(pid=4242, name="my (odd) proc) x", ppid=17, ticks=300, child_ticks=10)
    assert proc.total == 310


def test_machine_busy_leaves_idle_iowait_and_steal_out():
    machine = parse_machine("cpu  100 5 40 900 30 2 3 7 0 0")
    assert machine == Machine(busy=150, interrupts=5, idle=930)


def test_milliseconds_per_request():
    assert ms(TICKS_PER_S) == 1000
    assert ms_per(3 * TICKS_PER_S, 1500) == 2.0  # 3 s of CPU over 1,500 requests
    assert ms_per(TICKS_PER_S, 3) == 333.333
    assert ms_per(TICKS_PER_S, 0) is None


def test_resident_memory_of_this_process():
    assert rss_kib(os.getpid()) > 1000


def _procs(*rows: tuple[int, int, int, int]) -> dict[int, Proc]:
    return {pid: Proc(pid, f"p{pid}", ppid, own, reaped) for pid, ppid, own, reaped in rows}


def test_each_process_belongs_to_its_nearest_root():
    procs = _procs((1, 0, 0, 0), (10, 1, 0, 0), (11, 10, 0, 0), (12, 11, 0, 0), (20, 1, 0, 0))
    found = owners(procs, {10: "supervisor", 11: "gateway"}, "others")
    assert found == {1: "others", 10: "supervisor", 11: "gateway", 12: "gateway", 20: "others"}


def test_a_child_that_exited_still_counts_through_its_parent():
    # The postmaster (10) has a backend (11) at the start; by the end the backend has used
    # 30 more ticks and exited, and the postmaster waited for it; a new backend (12) used 5.
    before = Snapshot(0.0, _procs((10, 1, 100, 0), (11, 10, 20, 0)), Machine(1000, 0, 0))
    after = Snapshot(2.0, _procs((10, 1, 104, 50), (12, 10, 5, 0)), Machine(1100, 2, 0))
    use = usage(before, after, ({10: "postgres"}, {10: "postgres"}), "others")
    assert use.groups == {"postgres": 4 + 30 + 5}
    assert use.processes == {10: 54, 12: 5}
    assert (use.seconds, use.machine.busy) == (2.0, 100)
