"""The Markdown table of a bench report: one line per figure and size, with the notes a reader needs
(the mode, the clock scale of the at-limit figure, Cin7 calls by endpoint, refused calls, errors)."""

from __future__ import annotations

from typing import Any

TITLES = {
    "cin7_calls_per_released_order": "Cin7 calls per released order",
    "peoplevox_calls_per_1000_orders": "Peoplevox calls per 1,000 released orders",
    "validate_orders_seconds": "`validate_orders` task time",
    "orders_released_per_minute_at_60_per_minute": "Orders released per minute at Cin7's 60 calls/min",
    "dag_parse_seconds": "DAG folder parse time",
    "gx_validation_seconds": "GX validation of order lines",
    "stock_movements_applied_per_minute_at_60_per_minute": "Stock movements applied per minute at Cin7's 60 calls/min",
    "cin7_calls_per_1000_movements": "Cin7 stock calls per 1,000 movements",
    "returns_processed_per_minute": "Returns credited per minute (Cin7 limit raised)",
    "cin7_calls_per_return": "Cin7 calls per credited return",
    "dispatch_latency_p50_seconds": "Despatch → Cin7 shipped, p50",
    "dispatch_latency_p95_seconds": "Despatch → Cin7 shipped, p95",
    "cin7_dispatch_calls_per_despatch": "Cin7 calls per despatch",
    "dispatch_latency_poll_only_p50_seconds": "Despatch → Cin7 shipped, callbacks dropped, p50",
    "dispatch_latency_poll_only_p95_seconds": "Despatch → Cin7 shipped, callbacks dropped, p95",
    "cin7_dispatch_calls_per_despatch_poll_only": "Cin7 calls per despatch, callbacks dropped",
}
SIZE_UNITS = {"dag_parse_seconds": "integrations", "gx_validation_seconds": "lines"}
SIZE_UNITS.update({figure: "despatches/min" for figure in TITLES if "dispatch" in figure})
SIZE_UNITS.update({"returns_processed_per_minute": "returns", "cin7_calls_per_return": "returns",
                   "stock_movements_applied_per_minute_at_60_per_minute": "movements",
                   "cin7_calls_per_1000_movements": "movements"})


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table, headed by its mode and time."""
    lines = [f"Mode: **{report['mode']}** run of {report['generated']} (counted at the simulators).", "",
             "| Figure | Size | Value | Notes |", "|---|---:|---:|---|"]
    for entry in report["rows"]:
        title = TITLES.get(entry["figure"], entry["figure"])
        size = f"{entry['size']:,} {SIZE_UNITS.get(entry['figure'], 'orders')}"
        value = "—" if entry["value"] is None else f"{_number(entry['value'])} {entry['unit']}"
        lines.append(f"| {title} | {size} | {value} | {notes(entry)} |")
    return "\n".join(lines) + "\n"


def notes(entry: dict[str, Any]) -> str:
    """What explains one row, kept short enough for a table cell."""
    detail = entry.get("detail", {})
    if "error" in detail:
        return "error: " + " ".join(str(detail["error"]).split())[:200].replace("|", "/")
    parts: list[str] = []
    if "clock_scale" in detail:
        parts.append(f"clock scaled ×{_number(detail['clock_scale'])} (window {_number(detail['window_seconds'])} s"
                     f" for simulator and client); {_number(detail['wall_seconds'])} s wall ="
                     f" {_number(detail['real_minutes'])} real min; Retry-After off")
        if "item_master_sync_runs" in detail:
            parts.append(f"{detail['cin7_refused_429_503']} answers 429/503 with item master sync on the same key"
                         f" ({detail['item_master_sync_runs']} runs)")
        if "loop_runs" in detail:
            parts.append(f"{detail['cin7_refused_429_503']} answers 429/503 with dispatch confirmation and order "
                         f"release on the same key ({detail['loop_runs']} runs, {detail['despatched_orders']} "
                         f"despatches); applied {detail['applied']:,} in {detail['inventory_runs']} runs, "
                         f"up to {detail['waiting_for_dispatch']:,} waiting for dispatch confirmation, "
                         f"{detail['left_after_runs']} left; Cin7 equals Peoplevox after: "
                         f"{'yes' if detail['cin7_equals_peoplevox'] else 'NO'}")
    if "by_endpoint" in detail:
        top = sorted(detail["by_endpoint"].items(), key=lambda kv: -kv[1])
        parts.append(", ".join(f"{name} {_number(value)}" for name, value in top))
    if "despatches" in detail:
        by = ", ".join(f"{source} {count}" for source, count in sorted(detail.get("confirmed_by", {}).items()))
        parts.append(f"{detail['confirmed']} of {detail['despatches']} confirmed ({by or 'none'})"
                     f" in {detail['seconds']} s")
        if detail.get("unconfirmed_why"):
            parts.append("unconfirmed: " + " ".join(str(detail["unconfirmed_why"]).split())[:200])
    if "credit_notes" in detail:
        parts.append(f"{detail['credit_notes']} credit notes for {detail['invoiced_sales']} invoiced sales")
    if "released" in detail:
        parts.append(f"released {detail['released']:,}")
    if detail.get("failed_tasks"):
        parts.append(f"failed tasks: {', '.join(detail['failed_tasks'])}")
    if "dags" in detail:
        parts.append(f"{detail['dags']} DAGs, {detail['import_errors']} import errors")
    if "passed" in detail:
        parts.append(f"{detail['checks']} checks, {'passed' if detail['passed'] else 'FAILED'}")
    return "; ".join(parts).replace("|", "/")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)
