"""Exception housekeeping on a SQLite ledger: backoff and attempts, parking and one escalation, closing when the
cause is gone, stage deadline breaches and the purge of abandoned staging rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from erp_wms_sync.config import load_integration
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.errors import ApiUnavailable, DataCheckFailed
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.exception_housekeeping import (
    RETRY_HANDLERS,
    close_gone,
    data_check,
    deadlines,
    purge_staged,
    retry_due,
    retry_now,
)
from erp_wms_sync.flows.exception_housekeeping.check import Escalation
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import (
    DespatchRecord,
    ExceptionRecord,
    OrderRecord,
    ReturnRecord,
    StagedRecord,
    StockMovementRecord,
    utcnow,
)
from erp_wms_sync.ledger.repo import RETRY_SCHEDULE, NewException

NORTHWIND = load_integration("include/integrations/northwind.yaml")
FLOW = "exception_housekeeping"


class FakeWms:
    """Peoplevox as housekeeping sees it: the ItemCodes it has, and whether it answers at all."""

    def __init__(self, codes: set[str] | None = None) -> None:
        self.codes = set(codes or ())
        self.down = False
        self.lookups = 0
        self.probes = 0

    def iter_item_types(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        self.lookups += 1
        if self.down:
            raise ApiUnavailable("peoplevox", "connection refused after 5 attempts")
        for code in sorted(self.codes):
            if f'"{code}"' in search_clause:
                yield {"ItemCode": code, "Name": code}

    def test_connection(self) -> tuple[bool, str]:
        self.probes += 1
        return (False, "peoplevox: HTTP 503") if self.down else (True, "Connected to Peoplevox")


def ctx(url: str, end: datetime, run: str = "scheduled__1") -> RunContext:
    return RunContext(NORTHWIND, FLOW, run, Window(end - timedelta(minutes=5), end, "test"), url)


def hold(url: str, type_: str, key: str, *, entity_type: str = "order", flow: str = "order_release",
         detail: dict[str, Any] | None = None) -> int:
    with session_scope(url) as s:
        row, _ = repo.raise_exception(s, integration="northwind", flow=flow, owner=NORTHWIND.owner_of(type_),
                                      exc=NewException(type_, entity_type, key, f"{key} held", detail or {}, None),
                                      run_id="manual__flow")
        s.flush()
        return row.id


def exception(url: str, exception_id: int) -> ExceptionRecord:
    with session_scope(url) as s:
        row = s.get(ExceptionRecord, exception_id)
        assert row is not None
        _ = list(row.history)
        s.expunge_all()
        return row


def due_time(url: str, exception_id: int) -> datetime:
    moment = exception(url, exception_id).next_retry_at
    assert moment is not None
    return moment + timedelta(seconds=1)


def test_every_handled_type_is_a_known_exception_type() -> None:
    from erp_wms_sync.config import DEFAULT_OWNERS

    assert set(RETRY_HANDLERS) <= set(DEFAULT_OWNERS)
    assert "amendment_after_cutoff" not in RETRY_HANDLERS and "return_damaged" not in RETRY_HANDLERS


def test_a_failed_retry_is_recorded_and_follows_the_schedule(ledger_url: str) -> None:
    first = hold(ledger_url, "unmapped_sku", "SO-1", detail={"unknown_skus": ["SKU-A"]})
    second = hold(ledger_url, "unmapped_sku", "SO-2", detail={"unknown_skus": ["SKU-B", "SKU-A"]})
    wms = FakeWms()
    early = exception(ledger_url, first).first_seen + timedelta(minutes=1)
    assert retry_due(ctx(ledger_url, early), wms)["due"] == 0, "nothing is due before its first step"
    at = due_time(ledger_url, second)
    counts = retry_due(ctx(ledger_url, at), wms)
    assert counts["due"] == 2 and counts["failing"] == 2
    assert wms.lookups == 1, "one Peoplevox lookup for every due SKU of the run"
    row = exception(ledger_url, second)
    assert row.attempts == 2 and row.next_retry_at == at + RETRY_SCHEDULE[1]
    assert row.history[-1].outcome == "retried" and "still missing SKU-A, SKU-B" in (row.history[-1].message or "")
    assert retry_due(ctx(ledger_url, at + timedelta(minutes=5)), wms)["due"] == 0, "the next step is 15 min later"


def test_an_order_hold_closes_once_peoplevox_has_the_item(ledger_url: str) -> None:
    held = hold(ledger_url, "unmapped_sku", "SO-3", detail={"unknown_skus": ["SKU-C"]})
    item = hold(ledger_url, "unmapped_sku", "SKU-H", entity_type="item", flow="reconciliation")
    wms = FakeWms({"SKU-C", "SKU-H"})
    counts = retry_due(ctx(ledger_url, due_time(ledger_url, item)), wms)
    assert counts["closed"] == 2 and wms.lookups == 1
    assert exception(ledger_url, item).resolution_note == "cause gone: Peoplevox has SKU-H now"
    row = exception(ledger_url, held)
    assert row.status == "resolved" and row.resolved_by == FLOW
    assert row.resolution_note is not None and row.resolution_note.startswith("cause gone: Peoplevox has SKU-C")


def test_parked_after_the_last_step_and_escalated_once(ledger_url: str) -> None:
    held = hold(ledger_url, "unmapped_sku", "SO-4", detail={"unknown_skus": ["SKU-D"]})
    wms = FakeWms()
    for _ in RETRY_SCHEDULE:
        retry_due(ctx(ledger_url, due_time(ledger_url, held)), wms)
    row = exception(ledger_url, held)
    assert row.parked_at is not None and row.status == "open", "parked: still open, still holding its order"
    assert row.attempts == len(RETRY_SCHEDULE) + 1
    assert [h.outcome for h in row.history].count("retried") == len(RETRY_SCHEDULE)
    assert row.history[-1].outcome == "parked"
    later = datetime.now() + timedelta(days=2)
    assert retry_due(ctx(ledger_url, later), wms)["due"] == 0, "a parked exception is not retried again"
    with pytest.raises(Escalation) as escalated:
        data_check(ctx(ledger_url, later, "scheduled__2"))
    assert "parked" in str(escalated.value) and "for ecommerce: 1" in str(escalated.value)
    assert "SO-4" in str(escalated.value)
    assert data_check(ctx(ledger_url, later, "scheduled__3"))["parked"] == 0, "never escalated twice"


def test_a_system_that_does_not_answer_is_an_exception_until_it_answers(ledger_url: str) -> None:
    held = hold(ledger_url, "unmapped_sku", "SO-5", detail={"unknown_skus": ["SKU-E"]})
    wms = FakeWms({"SKU-E"})
    wms.down = True
    at = due_time(ledger_url, held)
    counts = retry_due(ctx(ledger_url, at), wms)
    assert counts["failing"] == 1 and counts["api_unavailable"] == 1
    with session_scope(ledger_url) as s:
        down = repo.open_exceptions(s, "northwind", type_="api_unavailable")
        assert [(e.entity_type, e.entity_key, e.owner) for e in down] == [("system", "peoplevox",
                                                                            "integration-engineer")]
        down_id = down[0].id
    with pytest.raises(DataCheckFailed, match="api_unavailable"):
        data_check(ctx(ledger_url, at))
    assert due_time(ledger_url, down_id) < due_time(ledger_url, held)
    still = retry_due(ctx(ledger_url, due_time(ledger_url, down_id)), wms)
    assert still["failing"] == 1 and still["api_unavailable"] == 0 and wms.probes == 1
    assert [h.outcome for h in exception(ledger_url, down_id).history] == ["raised", "retried"], \
        "a failed probe is one retry, not a retry and a new sighting"
    wms.down = False
    counts = retry_due(ctx(ledger_url, due_time(ledger_url, held)), wms)
    assert wms.probes == 2 and counts["closed"] == 2, "the probe closes the outage, the lookup the hold"
    assert exception(ledger_url, down_id).status == "resolved"
    assert data_check(ctx(ledger_url, at, "scheduled__9"))["new_problems"] == 0


def test_a_record_its_flow_retries_is_noted_once_per_failure_not_counted(ledger_url: str) -> None:
    failed = hold(ledger_url, "failed_stock_increment", "SKU-F|MAIN", entity_type="stock_pair", flow="inventory_sync")
    person = hold(ledger_url, "amendment_after_cutoff", "SO-6", flow="order_amendments")
    before = exception(ledger_url, failed)
    at = due_time(ledger_url, failed)
    assert retry_due(ctx(ledger_url, at))["left"] == 1
    retry_due(ctx(ledger_url, at + timedelta(minutes=5)))
    row = exception(ledger_url, failed)
    assert row.attempts == before.attempts and row.next_retry_at == before.next_retry_at, \
        "inventory sync counts its own tries and waits for next_retry_at"
    notes = [h for h in row.history if h.outcome == "retried"]
    assert len(notes) == 1 and "left to inventory_sync" in (notes[0].message or "")
    assert [h.outcome for h in exception(ledger_url, person).history] == ["raised"], "a person's to fix"
    assert retry_now(ctx(ledger_url, at), [person]) == {person: "left"}


def _order(s: Any, number: str, state: str, released_at: datetime | None, wms: str | None = None) -> None:
    s.add(OrderRecord(integration="northwind", erp_order_id=f"id-{number}", erp_order_number=number, state=state,
                      wms_order_number=wms or number, released_at=released_at, payload={}))


def test_exceptions_whose_cause_is_gone_are_closed(ledger_url: str) -> None:
    stale = hold(ledger_url, "unmapped_sku", "SO-7")
    amendment = hold(ledger_url, "unmapped_sku", "SO-8")
    despatch = hold(ledger_url, "fulfilment_rejected", "D-1", entity_type="despatch", flow="dispatch_confirmation")
    pair = hold(ledger_url, "unmapped_sku", "SKU-G|MAIN", entity_type="stock_pair", flow="inventory_sync")
    ret = hold(ledger_url, "return_awaiting_invoice", "R-1", entity_type="return", flow="returns")
    line = hold(ledger_url, "return_not_restocked", "R-1|X", entity_type="return", flow="returns")
    open_return = hold(ledger_url, "credit_note_rejected", "R-2", entity_type="return", flow="returns")
    now = utcnow()
    with session_scope(ledger_url) as s:
        _order(s, "SO-7", "released", now + timedelta(seconds=5))
        _order(s, "SO-8", "released", now - timedelta(hours=1))  # held again after its release: an amendment
        s.add(DespatchRecord(integration="northwind", despatch_number="D-1", wms_order_number="SO-9",
                             state="confirmed"))
        s.add(StockMovementRecord(integration="northwind", history_id=1, item_code="SKU-G", site="MAIN",
                                  from_location="", to_location="A", quantity=1, counted_delta=1, kind="stock",
                                  state="applied"))
        s.add(ReturnRecord(integration="northwind", return_code="R-1", item_code="X", quantity=1, sellable=True,
                           state="credited"))
        s.add(ReturnRecord(integration="northwind", return_code="R-2", item_code="X", quantity=1, sellable=True,
                           state="credited"))
        s.add(ReturnRecord(integration="northwind", return_code="R-2", item_code="Y", quantity=1, sellable=True,
                           state="waiting"))
    counts = close_gone(ctx(ledger_url, now + timedelta(minutes=1)))
    assert counts == {"order_holds": 1, "despatch_problems": 1, "pair_holds": 1, "return_problems": 2}
    for closed in (stale, despatch, pair, ret, line):
        row = exception(ledger_url, closed)
        assert row.status == "resolved" and (row.resolution_note or "").startswith("cause gone: "), row.type
    assert exception(ledger_url, amendment).status == "open"
    assert exception(ledger_url, open_return).status == "open", "one line of the return is still open"


def test_a_deadline_breach_is_raised_once_and_closed_as_the_order_moves_on(ledger_url: str) -> None:
    now = utcnow()
    with session_scope(ledger_url) as s:
        _order(s, "SO-10", "released", now - timedelta(hours=49))
        _order(s, "SO-11", "released", now - timedelta(hours=47))  # within its 48 h
        _order(s, "SO-12", "held", None)
    first = deadlines(ctx(ledger_url, now))
    assert first["despatch_breaches"] == 1 and first["new"] == 1
    with pytest.raises(DataCheckFailed, match="stage_deadline_breached"):
        data_check(ctx(ledger_url, now))
    again = deadlines(ctx(ledger_url, now + timedelta(minutes=5), "scheduled__2"))
    assert again["new"] == 0 and again["closed"] == 0
    assert data_check(ctx(ledger_url, now, "scheduled__2"))["new_problems"] == 0, "alerted once"
    with session_scope(ledger_url) as s:
        breaches = repo.open_exceptions(s, "northwind", type_="stage_deadline_breached")
        assert [(b.entity_key, b.owner, b.detail["stage"]) for b in breaches] == [("SO-10", "ops", "despatch")]
        assert [h.outcome for h in breaches[0].history] == ["raised"]
        s.add(DespatchRecord(integration="northwind", despatch_number="D-10", wms_order_number="SO-10",
                             erp_order_number="SO-10", state="confirming", despatched_at=now - timedelta(hours=2)))
    moved = deadlines(ctx(ledger_url, now, "scheduled__3"))
    assert moved["closed"] == 1 and moved["confirm_breaches"] == 1 and moved["new"] == 1, \
        "despatched: the despatch breach closes, the confirmation deadline (60 min) is breached now"
    with session_scope(ledger_url) as s:
        s.query(DespatchRecord).filter_by(despatch_number="D-10").update({"state": "confirmed"})
    done = deadlines(ctx(ledger_url, now, "scheduled__4"))
    assert done["closed"] == 1 and done["new"] == 0
    with session_scope(ledger_url) as s:
        assert repo.open_exceptions(s, "northwind", type_="stage_deadline_breached") == []


def test_abandoned_staging_rows_are_purged(ledger_url: str) -> None:
    now = utcnow()
    with session_scope(ledger_url) as s:
        for age, run in ((30, "old"), (1, "recent")):
            s.add(StagedRecord(integration="northwind", flow="order_release", run_key=run, entity_key="k",
                               data={}, created_at=now - timedelta(hours=age)))
        s.add(StagedRecord(integration="bluebird", flow="order_release", run_key="old", entity_key="k", data={},
                           created_at=now - timedelta(hours=30)))
    assert purge_staged(ctx(ledger_url, now)) == {"purged": 1}
    with session_scope(ledger_url) as s:
        left = sorted((r.integration, r.run_key) for r in s.query(StagedRecord))
    assert left == [("bluebird", "old"), ("northwind", "recent")], "only this integration's abandoned rows"


def test_the_command_lists_retries_and_resolves(ledger_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from erp_wms_sync import cli, exceptions_cli

    held = hold(ledger_url, "unmapped_sku", "SO-20", detail={"unknown_skus": ["SKU-T"]})
    person = hold(ledger_url, "amendment_after_cutoff", "SO-21", flow="order_amendments")
    assert cli.main(["exceptions", "list", "--integration", "northwind", "--ledger-url", ledger_url]) == 0
    listed = capsys.readouterr().out
    assert f"#{held}\tunmapped_sku\torder SO-20\tecommerce" in listed and "2 open exception(s)" in listed

    args = argparse.Namespace(integration="northwind", integrations_dir=None, ledger_url=ledger_url, ids=[held])
    fakes = {"wms": FakeWms({"SKU-T"}), "erp": None}
    code = exceptions_cli.retry_exceptions(args, lambda url: url or ledger_url, cli._integrations,
                                           lambda _integration, kind: fakes[kind])
    assert code == 0 and f"#{held}: closed" in capsys.readouterr().out, "retried now, before its schedule"
    assert exception(ledger_url, held).status == "resolved"

    assert cli.main(["exceptions", "resolve", "--integration", "northwind", "--ledger-url", ledger_url,
                     "--id", str(person), "--id", "99999", "--by", "Jo (CX)", "--note", "called the customer"]) == 1
    assert "#99999: no open exception" in capsys.readouterr().err
    row = exception(ledger_url, person)
    assert row.status == "resolved" and row.resolved_by == "Jo (CX)" and row.resolution_note == "called the customer"
