"""``make bench``: the load scenarios against the cluster ``make run`` started.

    python -m bench.run                       # every scenario, about two minutes
    python -m bench.run --only product-read --seconds 10

Prints a table and writes everything to ``bench/results/<time>-<commit>.json``.
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

from bench import rpc_baseline, scenarios
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


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<18}{'conns':>6}{'req/s':>9}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['scenario']:<18}{row['connections']:>6}{row['rps']:>9}{row['p50_ms']!s:>9}"
            f"{row['p95_ms']!s:>9}{row['p99_ms']!s:>9}{row['errors']:>8}"
        )
        if "confirmed_per_s" in row:
            lines.append(f"{'':<18}confirmed orders/s {row['confirmed_per_s']}  {row['outcomes']}")
    return "\n".join(lines)


def rpc_table(results: dict[str, Any]) -> str:
    lines = [f"{'rpc-baseline':<18}{'client':>10}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}"]
    for mode, sides in results.items():
        for side in ("nameko", "raw_amqp"):
            r = sides[side]
            lines.append(
                f"{mode:<18}{side:>10}{r['calls_per_s']:>10}{r['p50_ms']:>9}{r['p99_ms']:>9}"
            )
        lines.append(
            f"{'':<18}nameko / raw: p50 ×{sides['ratio_p50']}, "
            f"throughput ×{sides['ratio_throughput']}"
        )
    return "\n".join(lines)


async def http(base: str, only: list[str], seconds: float, connections: int) -> list[dict]:
    shop = scenarios.Shop(
        base,
        os.environ.get("ADMIN_EMAIL", "admin@example.com"),
        os.environ.get("ADMIN_PASSWORD", "admin-secret"),
    )
    await shop.prepare(users=connections)
    rows = []
    for name in only:
        result = await HTTP_SCENARIOS[name](shop, connections, seconds)
        rows.append(result.summary())
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", default=f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}"
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rpc-calls", type=int, default=2000)
    parser.add_argument("--only", action="append", choices=[*HTTP_SCENARIOS, "rpc-baseline"])
    args = parser.parse_args()
    only = args.only or [*HTTP_SCENARIOS, "rpc-baseline"]
    started = time.monotonic()
    report: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"seconds": args.seconds, "connections": args.connections},
    }
    http_only = [name for name in only if name in HTTP_SCENARIOS]
    if http_only:
        report["http"] = asyncio.run(http(args.base, http_only, args.seconds, args.connections))
    if "rpc-baseline" in only:
        amqp_uri = load_config(ROOT / "users" / "config.yaml")["AMQP_URI"]
        report["rpc"] = rpc_baseline.run(amqp_uri, args.rpc_calls)
    print()
    if http_only:
        print(table(report["http"]))
    if "rpc" in report:
        print(rpc_table(report["rpc"]))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"{stamp}-{report['machine']['commit']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{time.monotonic() - started:.0f} s; written to {path.relative_to(ROOT)}")
    limited = sum(row.get("rate_limited", 0) for row in report.get("http", []))
    if limited:
        raise SystemExit(
            f"{limited} answers were 429: the gateway's rate limits were measured, not the shop. "
            "Start `make run` with higher limits (bench/README.md) and run again."
        )


if __name__ == "__main__":
    main()
