"""The summary of a simulated day (what ``erp-wms-sync simulate`` prints and writes to ``--out``) and the check of
every invariant against what the systems said.

Summary keys: ``seed``, ``orders``, ``faults``, ``integrations``, ``hours``, ``skus``, ``wall_seconds``,
``scenario`` (events planned and their outcomes, warehouse steps, returns received, ticks, settle passes),
``flows`` (per DAG: runs, failed runs, and the records its flow holds in the ledger by state), ``exceptions`` (per
type: open / closed), ``api_calls`` (per simulator: answered, refused with 429/503, per HTTP status; counted when
the DAG runs are over, before the invariant check reads the systems),
``faults_fired`` (per simulator and kind, during the day), ``despatch_latency_minutes`` (per integration: WMS
despatch → ERP booked, simulated minutes, p50 / p95), ``invariants`` (one entry each: ``name``, ``ok``,
``evidence``, ``breaches``) and ``ok``.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from erp_wms_sync.simulate import invariants as inv

# ledger table -> (flow, state column): what each flow processed, counted by state
FLOW_RECORDS = {"catalogue_items": ("item_master_sync", "erp_status"), "order_records": ("order_release", "state"),
                "despatches": ("dispatch_confirmation", "state"), "stock_queue": ("inventory_sync", "state"),
                "stock_adjustments": ("inventory_sync", "state"), "returns": ("returns", "state"),
                "return_authorisations": ("returns", "state")}
MAX_TEXT_FILE = 20_000_000


def check_invariants(observation: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], secrets: Sequence[str],
                     texts: Mapping[str, str]) -> list[inv.Verdict]:
    """Every invariant over every integration of ``observation`` (see :func:`.observe.observe`)."""
    exceptions = observation["exceptions"]
    views = observation["integrations"]
    own = {name: [e for e in exceptions if e["integration"] == name] for name in views}
    verdicts = [
        inv.merge("released_exactly_once", {n: inv.released_once(v["erp_orders"], v["wms_orders"], own[n])
                                            for n, v in views.items()}),
        inv.merge("no_duplicate_effect", {n: inv.no_duplicate_effects(v["wms_orders"], v["fulfilments"],
                                                                      v["adjustments"], v["credits"])
                                          for n, v in views.items()}),
        inv.merge("stock_agrees_after_reconciliation",
                  {n: inv.stock_agrees(v["erp_stock"], v["wms_stock"], own[n]) for n, v in views.items()}),
        inv.merge("credit_never_before_stock_in", {n: _credits_verdict(n, v, observation["watched"])
                                                   for n, v in views.items() if v["erp"] == "cin7core"}),
        inv.failures_visible(exceptions, runs),
        inv.secrets_hidden(secrets, texts),
    ]
    return verdicts


def _credits_verdict(name: str, view: Mapping[str, Any], watched: Mapping[str, Any]) -> inv.Verdict:
    seen = {c["ref"]: c["seen"] for c in watched["credits"] if c["integration"] == name}
    credits = [{**c, "seen": seen.get(c["ref"])} for c in view["credits"]]
    unseen = [c["ref"] for c in credits if c["return_code"] and c["seen"] is None]
    verdict = inv.credit_after_stock_in([r for r in watched["returns"] if r["integration"] == name],
                                        [a for a in watched["adjustments"] if a["integration"] == name],
                                        credits, view["sites"])
    verdict.evidence["credit_notes_never_snapshotted"] = len(unseen)
    verdict.evidence["snapshot_reads_missed"] = int(watched.get("missed_reads", 0))
    return verdict


def texts_to_search(logfile: Path, workdir: Path, exceptions: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The captured log, every file under the reports folder and Airflow's log folder, and the exceptions'
    summaries, details and payloads (as JSON)."""
    texts = {"run log": logfile.read_text(encoding="utf-8", errors="replace") if logfile.exists() else ""}
    for folder in (workdir / "reports", workdir / "airflow" / "logs"):
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            if path.is_file() and path.stat().st_size <= MAX_TEXT_FILE:
                texts[str(path.relative_to(workdir))] = path.read_text(encoding="utf-8", errors="replace")
    texts["exception payloads"] = json.dumps(
        [{k: e.get(k) for k in ("summary", "detail", "payload", "entity_key")} for e in exceptions], default=str)
    return texts


def flow_counts(runs: Sequence[Mapping[str, Any]], ledger_url: str) -> dict[str, Any]:
    """Per DAG: runs and failed runs; per flow: the ledger's records by state (what the flow processed)."""
    from sqlalchemy import text

    from erp_wms_sync.ledger.db import session_scope

    out: dict[str, Any] = {}
    for run in runs:
        entry = out.setdefault(run["dag_id"], {"runs": 0, "failed_runs": 0, "records": {}})
        entry["runs"] += 1
        entry["failed_runs"] += int(run["state"] != "success")
    with session_scope(ledger_url) as session:
        for table, (flow, column) in FLOW_RECORDS.items():
            rows = session.execute(text(f"SELECT integration, {column}, COUNT(*) FROM {table} "
                                        f"GROUP BY integration, {column}"))
            for integration, state, count in rows:
                entry = out.setdefault(f"{integration}__{flow}", {"runs": 0, "failed_runs": 0, "records": {}})
                entry["records"].setdefault(table, {})[str(state)] = int(count)
    return dict(sorted(out.items()))


def exception_counts(exceptions: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Per exception type: how many are open and how many closed (resolved or ignored)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for exc in exceptions:
        counts[str(exc["type"])]["open" if exc["status"] == "open" else "closed"] += 1
    return {kind: {"open": c["open"], "closed": c["closed"]} for kind, c in sorted(counts.items())}


def api_calls(traffic: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per simulator: calls answered, refused (429/503) and the count per HTTP status over all endpoints."""
    out: dict[str, Any] = {}
    for system, snapshot in sorted(traffic.items()):
        statuses: Counter[str] = Counter()
        for endpoint in snapshot.get("endpoints", {}).values():
            statuses.update({str(k): int(v) for k, v in endpoint.get("statuses", {}).items()})
        out[system] = {"answered": snapshot.get("answered", 0), "refused": snapshot.get("refused", 0),
                       "statuses": dict(sorted(statuses.items()))}
    return out


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)


def despatch_latency(views: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per integration: simulated minutes from the WMS despatch to the ERP booking it (p50 / p95)."""
    out: dict[str, Any] = {}
    for name, view in views.items():
        booked: dict[str, str] = {}
        for fulfilment in view["fulfilments"]:
            for despatch in fulfilment.get("despatches") or []:
                if fulfilment.get("at"):
                    booked.setdefault(str(despatch), str(fulfilment["at"]))
        minutes = []
        for despatch in view["despatches"]:
            start, end = despatch.get("at"), booked.get(str(despatch["despatch"]))
            if start and end:
                minutes.append((_time(end) - _time(start)).total_seconds() / 60)
        out[name] = {"despatches": len(view["despatches"]), "confirmed": len(minutes),
                     "p50": percentile(minutes, 0.5), "p95": percentile(minutes, 0.95)}
    return out


def _time(text: str) -> datetime:
    from datetime import UTC

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
