"""``make bench``: the load scenarios against the cluster ``make run`` started.

    python -m bench.run                       # every scenario, about two minutes
    python -m bench.run --only product-read --seconds 10
    RUNS=3 python -m bench.run                # every scenario three times: medians and spread

Prints req/s and latency, the CPU each request cost every process of the cluster (read from
/proc; the load generator apart), resident memory, and ratios to the raw AMQP floor measured
in the same run; writes everything to ``bench/results/<time>-<commit>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cluster, cost, report, rpc_baseline, scenarios
from chassis.config import load_config

ROOT = Path(__file__).resolve().parents[1]
HTTP_SCENARIOS = {
    "product-read": scenarios.product_read,
    "catalogue-browse": scenarios.catalogue_browse,
    "order-place": scenarios.order_place,
}


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "commit": commit or "unknown",
    }


def measure(
    name: str, shop: scenarios.Shop, args: argparse.Namespace, idle: float
) -> dict[str, Any]:
    """One scenario, with what it cost each process from the end of its warm-up on."""
    marks: list[cluster.Sample] = []
    scenario = HTTP_SCENARIOS[name](
        shop, args.connections, args.seconds, on_measure=lambda: marks.append(cluster.sample())
    )
    row = asyncio.run(scenario).summary()
    if name != "order-place":
        row["cpu"] = cost.figures(marks[0], cluster.sample(), row["requests"])
        return row
    # Relays, event handlers and mail work on after the last answer: their CPU counts too.
    after, waited, idle_again = cost.wait_idle(idle)
    confirmed = row["outcomes"].get("confirmed", 0)
    row["cpu"] = cost.figures(marks[0], after, row["requests"], confirmed)
    row["cpu"].update(after_last_answer_s=round(waited, 1), idle_again=idle_again)
    return row


def one_run(
    shop: scenarios.Shop | None, only: list[str], args: argparse.Namespace, idle: float
) -> dict[str, Any]:
    http = {}
    for name in only:
        if name in HTTP_SCENARIOS and shop is not None:
            http[name] = measure(name, shop, args, idle)
            print("\n".join(report.table([http[name]]).splitlines()[2:]), flush=True)
    rpc = None
    if "rpc-baseline" in only:
        rpc = rpc_baseline.run(
            load_config(ROOT / "users" / "config.yaml")["AMQP_URI"], args.rpc_calls
        )
    return {"http": http, "rpc": rpc, "ratios": report.ratios(http, rpc)}


def notes(rows: list[dict[str, Any]], idle: float) -> list[str]:
    lines = []
    for row in rows:
        cpu = row["cpu"]
        if "idle_again" in cpu:
            how = "once the cluster was idle again" if cpu["idle_again"] else "still busy"
            lines.append(
                f"{row['scenario']}: CPU counted until {cpu['after_last_answer_s']} s after the "
                f"last answer, {how} (idle: {idle:.0f} ms of CPU per second)"
            )
        if "restarted" in cpu:
            lines.append(
                f"{row['scenario']}: restarted meanwhile, figures unsure: {cpu['restarted']}"
            )
    return lines


def bench(args: argparse.Namespace, only: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"seconds": args.seconds, "connections": args.connections, "runs": args.runs},
    }
    idle = cost.idle_rate()
    print(f"cluster idle: {idle:.0f} ms of CPU per second", flush=True)
    memory_before = cluster.memory(cluster.sample())
    shop = None
    if any(name in HTTP_SCENARIOS for name in only):
        shop = scenarios.Shop(
            args.base,
            os.environ.get("ADMIN_EMAIL", "admin@example.com"),
            os.environ.get("ADMIN_PASSWORD", "admin-secret"),
        )
        asyncio.run(shop.prepare(users=args.connections))
    runs = []
    for number in range(1, args.runs + 1):
        if args.runs > 1:
            print(f"run {number} of {args.runs}", flush=True)
        runs.append(one_run(shop, only, args, idle))
    middle = report.median(runs)
    result.update(
        http=list(middle["http"].values()),
        rpc=middle["rpc"],
        ratios=middle["ratios"],
        idle_ms_per_s=round(idle, 1),
        memory={"before": memory_before, "after": cluster.memory(cluster.sample())},
    )
    if args.runs > 1:
        result.update(spread=report.spread(runs), runs=runs)
    return result


def show(result: dict[str, Any]) -> None:
    rows = result["http"]
    if rows:
        print(f"\n{report.table(rows)}\n\n{report.cpu_table(rows)}")
        print("\n".join(notes(rows, result["idle_ms_per_s"])))
    if result["rpc"]:
        print(f"\n{report.rpc_table(result['rpc'])}")
    if result["ratios"]:
        each = [run["ratios"] for run in result.get("runs", [result])]
        print(f"\n{report.ratio_table(result['ratios'], each)}")
    print(f"\n{report.memory_table(result['memory']['before'], result['memory']['after'])}")
    if "spread" in result and rows:
        print(f"\nlowest–highest of {result['settings']['runs']} runs (the tables show medians)")
        print(report.spread_lines(rows, result["spread"]["http"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", default=f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rpc-calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS") or 1))
    parser.add_argument("--only", action="append", choices=[*HTTP_SCENARIOS, "rpc-baseline"])
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs (or RUNS) must be 1 or more")
    started = time.monotonic()
    try:
        result = bench(args, args.only or [*HTTP_SCENARIOS, "rpc-baseline"])
    except cluster.Missing as exc:
        raise SystemExit(f"bench: {exc}") from None
    show(result)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"{stamp}-{result['machine']['commit']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{time.monotonic() - started:.0f} s; written to {path.relative_to(ROOT)}")
    limited = sum(row.get("rate_limited", 0) for row in result["http"])
    if limited:
        raise SystemExit(
            f"{limited} answers were 429: the gateway's rate limits were measured, not the shop. "
            "Start `make run` with higher limits (bench/README.md) and run again."
        )


if __name__ == "__main__":
    main()
