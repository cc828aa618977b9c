"""The dashboard's exceptions list at scale (figure ``dashboard_list``): ``size`` open exceptions (plus a fifth as
many resolved ones, the history a live ledger keeps) bulk-inserted into a fresh SQLite ledger migrated to head, then
the dashboard app (``create_app``, Airflow's authentication replaced by a fixed user, redaction on) answers through
FastAPI's TestClient:

- ``list``: the list page (HTML), page 1, no filter (the default "open" view, with its counts and filter selects);
- ``list_type_owner``: the list filtered by type and owner;
- ``list_search``: the list filtered by text (a substring of the entity key: a scan of every open row);
- ``list_last_page``: the last page of the unfiltered list (``OFFSET`` at the end);
- ``api_list``: the JSON list, page 1;
- ``counts``: the open counts per owner and per type (JSON);
- ``detail``: one exception's page (payload, history, checks, actions).

Each is asked :data:`REPEATS` times after one warm-up; the figure is the worst median, goal under one second.
The CSV export of every open exception (streamed) is timed once beside it, not part of the figure. Data
(seeded): 4 integrations, 12 types, 5 owners, ``first_seen`` spread over 30 days, a small order payload each, a
fifth of them parked.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

SEED = 20261204
REPEATS = 5
INTEGRATIONS = ("northwind", "bluebird", "acme", "globex")
TYPES = ("unmapped_sku", "unmapped_location", "invalid_order", "fulfilment_rejected", "failed_stock_increment",
         "despatch_mismatch", "credit_note_rejected", "return_damaged", "amendment_after_cutoff", "api_unavailable",
         "wms_item_not_in_erp", "despatch_without_tracking")
OWNERS = ("ecommerce", "warehouse", "finance", "cx", "integration-engineer")
BATCH = 5000


def seed(url: str, size: int, rng: random.Random) -> int:
    """``size`` open and ``size // 5`` resolved exceptions, inserted in batches; returns the id of one open one."""
    from sqlalchemy import insert, select

    from erp_wms_sync.ledger.db import session_scope
    from erp_wms_sync.ledger.models import ExceptionRecord, utcnow

    now = utcnow()
    total = size + size // 5
    with session_scope(url) as session:
        for start in range(0, total, BATCH):
            rows: list[dict[str, Any]] = []
            for n in range(start, min(start + BATCH, total)):
                integration = INTEGRATIONS[n % len(INTEGRATIONS)]
                type_ = TYPES[rng.randrange(len(TYPES))]
                seen = now - timedelta(seconds=rng.randrange(30 * 86400))
                key = f"SO-{n:07d}"
                resolved = n >= size
                rows.append({
                    "integration": integration, "flow": "order_release", "type": type_,
                    "owner": OWNERS[rng.randrange(len(OWNERS))], "status": "resolved" if resolved else "open",
                    "fingerprint": hashlib.sha256(f"{integration}|{type_}|{key}".encode()).hexdigest()[:40],
                    "entity_type": "order", "entity_key": key,
                    "summary": f"order {key} held: {type_.replace('_', ' ')} on line {rng.randrange(1, 9)}",
                    "detail": {"reasons": [type_], "unknown_skus": [f"SKU-{rng.randrange(5000):05d}"]},
                    "payload": {"order": {"erp_id": f"erp-{n}", "number": key},
                                "items": [{"Line": str(i), "ItemCode": f"SKU-{rng.randrange(5000):05d}",
                                           "Quantity": str(rng.randrange(1, 5))} for i in range(1, 4)]},
                    "attempts": rng.randrange(1, 7), "first_seen": seen, "last_seen": seen,
                    "next_retry_at": seen + timedelta(minutes=5), "run_id": f"scheduled__{seen:%Y-%m-%dT%H:%M}",
                    "parked_at": seen + timedelta(hours=9) if not resolved and rng.random() < 0.2 else None,
                    "resolved_at": now if resolved else None, "resolved_by": "bench" if resolved else None,
                })
            session.execute(insert(ExceptionRecord), rows)
        found = session.scalar(select(ExceptionRecord.id).where(ExceptionRecord.status == "open")
                               .order_by(ExceptionRecord.id.desc()).limit(1))
    return int(found or 0)


def _time(client: Any, path: str, params: dict[str, Any]) -> tuple[float, int]:
    """The median seconds of :data:`REPEATS` answers (after a warm-up) and the size of the last body."""
    answer = client.get(path, params=params)
    if answer.status_code != 200:
        raise RuntimeError(f"GET {path} {params} answered {answer.status_code}: {answer.text[:300]}")
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        answer = client.get(path, params=params)
        times.append(time.perf_counter() - started)
    return statistics.median(times), len(answer.content)


def dashboard_list(size: int, workdir: Path) -> list[dict[str, Any]]:
    """Seconds the dashboard takes to answer its list, counts and detail at ``size`` open exceptions (the worst)."""
    from fastapi.testclient import TestClient

    from benchmarks.figures import row
    from benchmarks.harness import ROOT
    from erp_wms_sync.config import load_integration
    from erp_wms_sync.dashboard.app import create_app
    from erp_wms_sync.dashboard.web import Dashboard, Viewer, authenticated
    from erp_wms_sync.ledger.db import upgrade

    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'ledger.db'}"
    upgrade(url)
    rng = random.Random(SEED)
    started = time.perf_counter()
    one = seed(url, size, rng)
    seed_seconds = time.perf_counter() - started
    configured = {i.name: i for i in (load_integration(p) for p in sorted((ROOT / "include" / "integrations")
                                                                         .glob("*.yaml")))}
    dashboard = Dashboard(ledger_url=lambda: url, integrations=lambda: configured,
                          secrets=lambda ints: ("bench-S3cret-1", "bench-S3cret-2", "bench-token-3"),
                          can_act=lambda viewer, integration: True)
    app = create_app(dashboard)
    app.dependency_overrides[authenticated] = lambda: Viewer("bench")
    client = TestClient(app)
    last_page = -(-size // 50)
    asks: dict[str, tuple[str, dict[str, Any]]] = {
        "list": ("/", {}),
        "list_type_owner": ("/exceptions", {"type": "unmapped_sku", "owner": "warehouse"}),
        "list_search": ("/exceptions", {"q": "so-00012"}),
        "list_last_page": ("/exceptions", {"page": last_page}),
        "api_list": ("/api/exceptions", {}),
        "counts": ("/api/exceptions/counts", {}),
        "detail": (f"/exceptions/{one}", {}),
    }
    medians: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for name, (path, params) in asks.items():
        medians[name], sizes[name] = _time(client, path, params)
    total = client.get("/api/exceptions").json()["total"]
    if total != size:
        raise RuntimeError(f"the list counts {total} open exceptions, {size} were seeded")
    started = time.perf_counter()
    export = client.get("/exceptions.csv")
    export_seconds = time.perf_counter() - started
    exported = export.text.count("\r\n") - 1
    if export.status_code != 200 or exported != size:
        raise RuntimeError(f"the CSV export answered {export.status_code} with {exported} rows, {size} expected")
    worst_name = max(medians, key=lambda k: medians[k])
    worst = medians[worst_name]
    return [row("dashboard_list_worst_seconds", size, worst, "s", worst=worst_name,
                medians={k: round(v, 4) for k, v in medians.items()}, body_bytes=sizes, repeats=REPEATS,
                resolved_rows=size // 5, seed_seconds=round(seed_seconds, 1),
                csv_export_seconds=round(export_seconds, 2), csv_export_rows=exported)]
