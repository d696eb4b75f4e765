"""The tables ``make bench`` prints, and the medians and spreads of repeated runs."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench.cluster import COMPONENTS, LOAD
from bench.cost import ROWS

RATIOS = {
    "product_read_per_raw_amqp": "product-read req/s ÷ raw AMQP 20-caller calls/s",
    "confirmed_per_raw_amqp": "confirmed orders/s ÷ raw AMQP 20-caller calls/s",
    "nameko_per_raw_p50": "nameko ÷ raw AMQP, sequential p50",
    "shop_per_raw_p50": "shop's RPC (gateway client) ÷ raw AMQP, sequential p50",
}


def combine(values: list[Any], leaf: Callable[[list[float]], Any]) -> Any:
    """The runs' figures put together place by place: numbers by ``leaf``, dictionaries key by
    key, anything else (names, lists) as the first run has it."""
    if all(isinstance(value, dict) for value in values):
        keys = dict.fromkeys(key for value in values for key in value)
        return {key: combine([v[key] for v in values if key in v], leaf) for key in keys}
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return leaf(values)
    return values[0]


def median(values: list[Any]) -> Any:
    return combine(values, _median)


def _median(numbers: list[float]) -> float:
    """The median; of an even number of runs the mean of the middle two, rounded as the
    figures are (an integer stays one when it is whole)."""
    middle = statistics.median(numbers)
    if all(isinstance(number, int) for number in numbers) and middle == int(middle):
        return int(middle)
    return round(middle, 4)


def spread(values: list[Any]) -> Any:
    return combine(values, lambda numbers: [min(numbers), max(numbers)])


def ratios(http: dict[str, dict[str, Any]], rpc: dict[str, Any] | None) -> dict[str, float]:
    """The run's figures over the raw AMQP floor measured in the same run."""
    if not rpc:
        return {}
    raw = rpc["concurrent-20"]["raw_amqp"]["calls_per_s"]
    out = {"nameko_per_raw_p50": rpc["sequential"]["ratio_p50"]}
    if "shop_ratio_p50" in rpc["sequential"]:
        out["shop_per_raw_p50"] = rpc["sequential"]["shop_ratio_p50"]
    if "product-read" in http:
        out["product_read_per_raw_amqp"] = round(http["product-read"]["rps"] / raw, 4)
    if "order-place" in http:
        out["confirmed_per_raw_amqp"] = round(http["order-place"]["confirmed_per_s"] / raw, 5)
    return out


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
        for side in ("nameko", "shop", "raw_amqp"):
            if side in sides:
                r = sides[side]
                lines.append(
                    f"{mode:<18}{side:>10}{r['calls_per_s']:>10}{r['p50_ms']:>9}{r['p99_ms']:>9}"
                )
        for side, prefix in (("nameko", ""), ("shop", "shop_")):
            if f"{prefix}ratio_p50" in sides:
                lines.append(
                    f"{'':<18}{side} / raw: p50 ×{sides[f'{prefix}ratio_p50']}, "
                    f"throughput ×{sides[f'{prefix}ratio_throughput']}"
                )
    return "\n".join(lines)


def cpu_table(rows: list[dict[str, Any]]) -> str:
    """Component × scenario, CPU ms per request (order-place: per confirmed order too)."""
    columns: list[tuple[str, str, dict[str, Any]]] = []
    for row in rows:
        columns.append((row["scenario"], "ms_per_request", row["cpu"]))
        if "ms_per_confirmed" in row["cpu"]:
            columns.append(("per confirmed", "ms_per_confirmed", row["cpu"]))
    head = f"{'CPU ms per request':<26}" + "".join(f"{name:>18}" for name, _, _ in columns)
    lines = [head, "-" * len(head)]
    labels = {"cluster": "cluster (excl. load gen.)", "total": "total (incl. load gen.)"}
    for name in ROWS:
        if name in ("cluster", LOAD):
            lines.append("")
        cells = "".join(f"{_cell(cpu[key].get(name)):>18}" for _, key, cpu in columns)
        lines.append(f"{labels.get(name, name):<26}{cells}")
    lines.append("")
    for label, field in (
        ("covered of machine busy", "coverage"),
        ("  cluster + load gen.", "cluster_share"),
        ("  other processes", "others_share"),
    ):
        cells = "".join(f"{_percent(cpu['machine'][field]):>18}" for _, _, cpu in columns)
        lines.append(f"{label:<26}{cells}")
    cells = "".join(f"{cpu['seconds']:>17}s" for _, _, cpu in columns)
    lines.append(f"{'window':<26}{cells}")
    return "\n".join(lines)


def memory_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    head = f"{'resident memory (VmRSS)':<26}{'before MiB':>12}{'after MiB':>12}{'processes':>11}"
    lines = [head, "-" * len(head)]
    for name in (*COMPONENTS, LOAD):
        old, new = before.get(name, {}), after.get(name, {})
        lines.append(
            f"{name:<26}{old.get('mib', '-')!s:>12}{new.get('mib', '-')!s:>12}"
            f"{new.get('processes', '-')!s:>11}"
        )
    totals = [round(sum(entry["mib"] for entry in side.values()), 1) for side in (before, after)]
    lines.append(f"{'total':<26}{totals[0]:>12}{totals[1]:>12}")
    return "\n".join(lines)


def ratio_table(middle: dict[str, float], runs: list[dict[str, float]]) -> str:
    lines = [f"{'ratio (same run)':<52}{'median':>9}  runs"]
    for key, label in RATIOS.items():
        if key in middle:
            each = ", ".join(f"{run[key]:g}" for run in runs if key in run)
            lines.append(f"{label:<52}{middle[key]:>9g}  {each}")
    return "\n".join(lines)


def spread_lines(rows: list[dict[str, Any]], spreads: dict[str, dict[str, Any]]) -> str:
    """Each scenario's main figures, lowest and highest of the runs."""
    lines = []
    for row in rows:
        low_high = spreads[row["scenario"]]
        cpu = low_high["cpu"]
        parts = [f"req/s {_range(low_high['rps'])}"]
        if "confirmed_per_s" in low_high:
            parts.append(f"confirmed/s {_range(low_high['confirmed_per_s'])}")
        parts.append(f"cluster CPU ms/request {_range(cpu['ms_per_request']['cluster'])}")
        if "ms_per_confirmed" in cpu:
            parts.append(f"per confirmed {_range(cpu['ms_per_confirmed']['cluster'])}")
        lines.append(f"{row['scenario']:<18}" + "; ".join(parts))
    return "\n".join(lines)


def _range(low_high: Any) -> str:
    return f"{low_high[0]:g}–{low_high[1]:g}" if isinstance(low_high, list) else "-"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"
