"""Figure ``dispatch_latency``: how long a Peoplevox despatch takes to be confirmed in Cin7 Core, live.

One :class:`~benchmarks.live.LiveStack` (the simulators and ``airflow standalone`` with the webhook receiver) runs the
sample Cin7 Core integration with its production dispatch schedule (a poll every 2 minutes) and the callbacks
subscribed. Order release runs meanwhile (unpaused, woken by Cin7's order webhooks) on a stream of new Cin7 orders,
one per despatch, so dispatch and release share Cin7's 60 calls per minute as they would in production.

Despatches are made on the simulated warehouse floor at 5, 10 and 20 a minute, each level for ``seconds`` seconds;
then at 10 a minute with every Peoplevox callback dropped (the poll alone). For each level the figure reports the
p50 and p95 of despatch → Cin7 confirmed (the despatch call's time on this machine's clock → the ledger's
``despatches.confirmed_at``) and the Cin7 calls per despatch on the fulfilment endpoints (pick, pack, ship), from
the Cin7 simulator's own traffic counter. A despatch not confirmed within the level's drain time is reported as
``unconfirmed`` and left out of the percentiles.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import deque
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.live import SAMPLE_INTEGRATIONS, LiveStack

INTEGRATION = "northwind"
RELEASE = f"{INTEGRATION}__order_release"
DISPATCH = f"{INTEGRATION}__dispatch_confirmation"
ITEM_SYNC = f"{INTEGRATION}__item_master_sync"
SKUS = ("NWO-BOOT-10", "NWO-BOOT-11", "NWO-BAG-REG", "NWO-TEE-M")
CIN7_LOCATION = "Main Warehouse"
ADDRESS = {"Line1": "1 High St", "City": "Leeds", "Postcode": "LS1 1AA", "Country": "GB"}
CALLBACK_RATES = (5, 10, 20)
POLL_RATE = 10
POLL_SCHEDULE = "*/2 * * * *"
CALLBACK_DRAIN_SECONDS = 180.0
POLL_DRAIN_SECONDS = 330.0  # two poll intervals and the runs themselves
RELEASE_TIMEOUT = 600.0
MAX_SECONDS_PER_LEVEL = 600
# The bench's level length: 60 s gives 5, 10, 20 and 10 despatches per level. Longer levels give more samples but
# cost four times their length plus the drains; the whole bench must stay under 20 minutes (issue 12), and with so
# few samples a p95 is the level's slowest despatch, which can only overstate it.
SECONDS_PER_RATE = 60


def row(figure: str, size: int, value: float | None, unit: str, **detail: Any) -> dict[str, Any]:
    """One result row, as :func:`benchmarks.figures.row` makes them."""
    return {"figure": figure, "size": size, "value": None if value is None else round(value, 4), "unit": unit,
            "detail": detail}


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (0 < share <= 1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -int(-share * len(ordered) // 1)))
    return ordered[rank - 1]


@dataclass
class Floor:
    """The ERP's and the warehouse's users: new Cin7 orders, and released orders picked and despatched."""

    live: LiveStack
    waiting: deque[str] = field(default_factory=deque)  # created in Cin7, not yet despatched
    created: int = 0

    def new_order(self) -> str:
        lines = [{"SKU": SKUS[(self.created + k) % len(SKUS)], "Quantity": 1 + k} for k in range(2)]
        sale = self.live.sim("cin7core", "POST", "/_sim/sales", json={
            "Customer": "Jane Doe", "Location": CIN7_LOCATION, "ShippingAddress": ADDRESS,
            "Carrier": "Royal Mail", "Lines": lines})
        self.created += 1
        number = str(sale["Order"]["SaleOrderNumber"])
        self.waiting.append(number)
        return number

    def released(self) -> set[str]:
        return set(self.live.sim("peoplevox", "GET", f"/_sim/{INTEGRATION}/records/{quote('Sales orders')}"))

    def despatch_next(self, released: set[str]) -> tuple[str, datetime] | None:
        """Pick and despatch the oldest released order; (despatch number, when), or None when none is released."""
        for number in list(self.waiting):
            if number not in released:
                continue
            self.waiting.remove(number)
            order = f"/_sim/{INTEGRATION}/warehouse/orders/{quote(number, safe='')}"
            self.live.sim("peoplevox", "POST", f"{order}/allocate", json={"partial": False})
            self.live.sim("peoplevox", "POST", f"{order}/start-picking", json={})
            self.live.sim("peoplevox", "POST", f"{order}/pick", json={})
            record = self.live.sim("peoplevox", "POST", f"{order}/despatch",
                                   json={"carrier": "Royal Mail", "tracking": [f"TRK-{number}"]})
            return str(record["number"]), datetime.now(UTC).replace(tzinfo=None)
        return None


def dispatch_latency(seconds: int, workdir: Path) -> list[dict[str, Any]]:
    """The figure: callback levels at 5, 10 and 20 despatches a minute, then poll only at 10, ``seconds`` each."""
    seconds = max(30, min(int(seconds), MAX_SECONDS_PER_LEVEL))
    text = (SAMPLE_INTEGRATIONS / f"{INTEGRATION}.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^schedules:\s*\n", lambda m: f'{m.group(0)}  dispatch_confirmation: "{POLL_SCHEDULE}"\n',
                  text, count=1, flags=re.MULTILINE)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with LiveStack(integrations={INTEGRATION: text}, dags=[ITEM_SYNC, RELEASE, DISPATCH],
                   workdir=workdir / "live") as live:
        stack_seconds = time.monotonic() - started
        floor = Floor(live)
        # every level's despatches come from orders released before: the stream's new orders are load, not supply
        prepare(live, floor, backlog=(sum(CALLBACK_RATES) + POLL_RATE) * seconds // 60 + 5)
        prepared = time.monotonic() - started - stack_seconds
        phases = {"stack_start": round(stack_seconds, 1), "prepare": round(prepared, 1)}
        for rate in CALLBACK_RATES:
            rows += level(live, floor, rate, seconds, poll_only=False)
        live.sim("peoplevox", "POST", "/_sim/faults", json={"rules": [{"kind": "drop_callback", "probability": 1.0}]})
        rows += level(live, floor, POLL_RATE, seconds, poll_only=True)
    for entry in rows:  # where the figure's wall time went: start-up, preparation, each level with its drain
        entry["detail"]["phase_seconds"] = phases
    return rows


def prepare(live: LiveStack, floor: Floor, backlog: int) -> None:
    """Subscriptions, items in Peoplevox, stock on the floor and ``backlog`` released orders; then the DAGs run."""
    live.require_despatch_callbacks(live.subscribe(check=False))  # Cin7's order webhook is optional here
    live.wait_run(ITEM_SYNC, live.trigger(ITEM_SYNC), timeout=RELEASE_TIMEOUT)
    live.sim("peoplevox", "POST", f"/_sim/{INTEGRATION}/warehouse/goods-in",
             json={"site": "MAIN", "lines": dict.fromkeys(SKUS, 100_000)})
    for sku in SKUS:  # the ERP's books hold the same stock: a pick Cin7 refuses would measure the shelf, not us
        live.sim("cin7core", "POST", "/_sim/stock",
                 json={"SKU": sku, "Location": CIN7_LOCATION, "OnHand": 100_000, "UnitCost": 5})
    for _ in range(backlog):
        floor.new_order()
    live.wait_run(RELEASE, live.trigger(RELEASE), timeout=RELEASE_TIMEOUT)
    live.wait_for(lambda: set(floor.waiting) <= floor.released(), RELEASE_TIMEOUT, "the backlog released",
                  interval=2.0)
    live.unpause(RELEASE)
    live.unpause(DISPATCH)


def level(live: LiveStack, floor: Floor, rate: int, seconds: int, *, poll_only: bool) -> list[dict[str, Any]]:
    """Despatch ``rate`` a minute for ``seconds`` (a new Cin7 order with each), wait for the confirmations, measure."""
    live.sim("cin7core", "DELETE", "/_sim/traffic")
    made: dict[str, datetime] = {}
    starved = 0
    period = 60.0 / rate
    started = time.monotonic()
    for tick in range(int(seconds / period)):
        due = started + tick * period
        time.sleep(max(0.0, due - time.monotonic()))
        floor.new_order()
        done = floor.despatch_next(floor.released())
        if done is None:
            starved += 1
            continue
        made[done[0]] = done[1]
    despatching = time.monotonic() - started
    drain = POLL_DRAIN_SECONDS if poll_only else CALLBACK_DRAIN_SECONDS
    deadline = time.monotonic() + drain
    confirmed: dict[str, tuple[datetime, str]] = {}
    while time.monotonic() < deadline:
        confirmed = confirmations(live, list(made))
        if len(confirmed) == len(made):
            break
        time.sleep(2.0)
    traffic = live.sim("cin7core", "GET", "/_sim/traffic")
    latencies = [(confirmed[n][0] - at).total_seconds() for n, at in made.items() if n in confirmed]
    sources: dict[str, int] = {}
    for _, source in confirmed.values():
        sources[source] = sources.get(source, 0) + 1
    calls = fulfilment_calls(traffic)
    mode = "poll_only" if poll_only else "callback"
    common = {"mode": mode, "despatches": len(made), "confirmed": len(confirmed),
              "unconfirmed": len(made) - len(confirmed), "starved_ticks": starved, "seconds": seconds,
              "confirmed_by": sources, "dispatch_schedule": POLL_SCHEDULE,
              "despatching_seconds": round(despatching, 1),
              "drain_seconds": round(time.monotonic() - started - despatching, 1)}
    missing = [n for n in made if n not in confirmed]
    if missing:  # why: what the ledger holds for each, so the table can say it
        common["unconfirmed_why"] = where_they_stand(live, missing)
    per = max(len(confirmed), 1)
    suffix = "_poll_only" if poll_only else ""
    return [
        row(f"dispatch_latency{suffix}_p50_seconds", rate, percentile(latencies, 0.5), "s", **common),
        row(f"dispatch_latency{suffix}_p95_seconds", rate, percentile(latencies, 0.95), "s",
            max_seconds=max(latencies, default=None), **common),
        row(f"cin7_dispatch_calls_per_despatch{suffix}", rate, calls["answered"] / per, "calls/despatch",
            refused_429_503=calls["refused"], by_endpoint=calls["by_endpoint"], **common),
    ]


def confirmations(live: LiveStack, numbers: list[str]) -> dict[str, tuple[datetime, str]]:
    """Despatch number -> (confirmed_at, source) of those of ``numbers`` the ledger holds as confirmed."""
    if not numbers:
        return {}
    marks = ",".join("?" * len(numbers))
    try:
        with closing(live.ledger()) as db:
            rows = db.execute(f"SELECT despatch_number, confirmed_at, source FROM despatches "
                              f"WHERE confirmed_at IS NOT NULL AND despatch_number IN ({marks})", numbers).fetchall()
    except sqlite3.OperationalError:  # busy for longer than the timeout: read again on the next round
        return {}
    return {str(number): (_naive(at), str(source)) for number, at, source in rows}


def where_they_stand(live: LiveStack, numbers: list[str]) -> dict[str, Any]:
    """For despatches not confirmed in time: the ledger's row (state, step, attempts) and any open exception."""
    marks = ",".join("?" * len(numbers))
    out: dict[str, Any] = {n: {"ledger": "no despatch row (not yet collected)"} for n in numbers}
    try:
        with closing(live.ledger()) as db:
            for number, state, step, attempts, order in db.execute(
                    f"SELECT despatch_number, state, step, attempts, wms_order_number FROM despatches "
                    f"WHERE despatch_number IN ({marks})", numbers):
                problems = [f"{kind}: {summary}" for kind, summary in db.execute(
                    "SELECT type, summary FROM exceptions WHERE status = 'open' AND entity_key IN (?, ?)",
                    (number, order))]
                out[str(number)] = {"ledger": f"{state}/{step or '-'} after {attempts} attempts",
                                    "order": order, "open_exceptions": problems}
            runs = live.runs(DISPATCH)[-5:]
            out["last_dispatch_runs"] = [f"{r.get('run_type')} {r.get('state')} {r.get('start_date')}" for r in runs]
    except Exception as exc:  # diagnostics only: never lose the figure over them
        out["error"] = f"could not read where they stand: {exc}"
    return out


def _naive(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def fulfilment_calls(traffic: dict[str, Any]) -> dict[str, Any]:
    """Cin7 calls on the fulfilment endpoints (pick, pack, ship): answered, refused and per endpoint."""
    by_endpoint = {name: int(count["answered"]) for name, count in traffic.get("endpoints", {}).items()
                   if "fulfilment" in name.lower()}
    refused = sum(int(count["refused"]) for name, count in traffic.get("endpoints", {}).items()
                  if "fulfilment" in name.lower())
    return {"answered": sum(by_endpoint.values()), "refused": refused, "by_endpoint": by_endpoint}


__all__ = ["SECONDS_PER_RATE", "dispatch_latency", "fulfilment_calls", "percentile"]
