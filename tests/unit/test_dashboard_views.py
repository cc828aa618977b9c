"""The dashboard's order look-up, reconciliation, data-check and activity pages against a migrated SQLite ledger:
authentication and who may act, the order's stages across both systems, approving and rejecting proposals (applied
through a fake Cin7 Core), the run's report served redacted, and the data-check and activity listings."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from erp_wms_sync.config import load_integration
from erp_wms_sync.connectors.cin7core_stock import Cin7Availability, StockLine
from erp_wms_sync.dashboard import views
from erp_wms_sync.dashboard.web import COOKIE, Dashboard, Viewer, authenticated
from erp_wms_sync.ledger.db import session_scope, upgrade
from erp_wms_sync.ledger.models import (
    CheckResult,
    DashboardAction,
    DespatchRecord,
    ExceptionRecord,
    OrderRecord,
    ReconciliationProposal,
    ReconciliationRun,
    ReconciliationVariance,
    ReturnRecord,
)

NORTHWIND = load_integration("include/integrations/northwind.yaml")
SECRET = "planted-S3cret"
RUN_ID = "scheduled__2026-12-03T02:30:00+00:00"
T0 = datetime(2026, 12, 1, 9, 0)


# --- a tiny HTML reader (no third-party parser needed) ---------------------------------------------------------
@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        out = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                    (value in child.attrs.get(key.rstrip("_"), "").split() if key.rstrip("_") == "class"
                     else child.attrs.get(key.rstrip("_")) == value) for key, value in attrs.items()):
                out.append(child)
            out.extend(child.find_all(tag, **attrs))
        return out

    def one(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one {tag} {attrs}, found {len(found)}"
        return found[0]


VOID = {"input", "br", "meta", "link", "img", "hr"}


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.text += data


def parse(text: str) -> Element:
    reader = _Reader()
    reader.feed(text)
    return reader.root


# --- fakes and fixtures ---------------------------------------------------------------------------------------
@dataclass
class Posted:
    task_id: str
    reference: str
    status: str
    lines: tuple[Any, ...]


@dataclass
class FakeCin7:
    """Cin7 Core availability per (sku, location) and absolute stock adjustments (recorded)."""

    stock: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    posts: list[Posted] = field(default_factory=list)

    def iter_availability(self, *, location: str | None = None, sku: str | None = None) -> Iterator[Cin7Availability]:
        for (s, loc), quantity in sorted(self.stock.items()):
            if (sku is None or s == sku) and (location is None or loc == location):
                yield Cin7Availability("id-" + s, s, loc, "", "", quantity, Decimal(0), quantity, Decimal(0))

    def post_stock_adjustment(self, lines: list[StockLine], *, reference: str, effective_date: datetime) -> Posted:
        for line in lines:
            self.stock[(line.sku, line.location)] = line.quantity
        answer = Posted(f"task-{len(self.posts) + 1}", reference, "COMPLETED", tuple(lines))
        self.posts.append(answer)
        return answer

    def find_stock_adjustments(self, reference: str) -> list[Posted]:
        return [p for p in self.posts if p.reference == reference]


@dataclass
class Env:
    url: str
    app: FastAPI
    erp: FakeCin7
    report: Path
    ids: dict[str, int]

    def client(self, who: str | None = "alice") -> TestClient:
        self.app.dependency_overrides.clear()
        if who is not None:
            self.app.dependency_overrides[authenticated] = lambda: Viewer(who)
        client = TestClient(self.app)
        if who is not None:  # an anonymous client has no Airflow session cookie either
            client.cookies.set(COOKIE, "session-cookie-of-" + who)
        return client

    def rows(self, model: Any, **where: Any) -> list[Any]:
        with session_scope(self.url) as session:
            query = session.query(model)
            for key, value in where.items():
                query = query.filter(getattr(model, key) == value)
            return list(query.all())


def csrf_for(client: TestClient) -> str:
    cookie = client.cookies.get(COOKIE) or ""
    return hashlib.sha256(b"erp-wms-dashboard\x00" + cookie.encode()).hexdigest()[:40]


def exception(number: int, **kw: Any) -> ExceptionRecord:
    base: dict[str, Any] = dict(integration="northwind", flow="order_release", type="unmapped_sku", owner="merch",
                                status="open", fingerprint=f"fp-{number}", entity_type="order", entity_key="SO-1",
                                summary="held", attempts=1, first_seen=T0, last_seen=T0)
    base.update(kw)
    return ExceptionRecord(**base)


def seed(url: str, report: Path) -> dict[str, int]:
    ids: dict[str, int] = {}
    with session_scope(url) as s:
        s.add_all([
            OrderRecord(integration="northwind", erp_order_id="5f1c-erp-id", erp_order_number="SO-00012",
                        erp_status="AUTHORISED", state="released", wms_order_number="SO-00012-R1", version=2,
                        payload={"reissues": 1, "sent": True}, wms_status="Despatched", first_seen=T0,
                        released_at=T0 + timedelta(hours=1)),
            OrderRecord(integration="northwind", erp_order_id="77aa-erp-id", erp_order_number="SO-00013",
                        erp_status="AUTHORISED", state="held", payload={}, first_seen=T0),
            OrderRecord(integration="northwind", erp_order_id="9bb0-erp-id", erp_order_number="SO-00020",
                        erp_status="AUTHORISED", state="released", wms_order_number="SO-00020-R2",
                        payload={"reissues": 2}, first_seen=T0, released_at=T0),
            DespatchRecord(integration="northwind", despatch_number="D-100", wms_order_number="SO-00012-R1",
                           erp_order_id="5f1c-erp-id", erp_order_number="SO-00012", state="confirmed",
                           carrier="Royal Mail", service="RM48", packages={"P1": "RM123456789GB"},
                           despatched_at=T0 + timedelta(hours=5), confirmed_at=T0 + timedelta(hours=5, minutes=3),
                           erp_ref="task-ful-1"),
            DespatchRecord(integration="northwind", despatch_number="D-101", wms_order_number="SO-00012-R1",
                           erp_order_id="5f1c-erp-id", erp_order_number="SO-00012", state="held",
                           carrier="DHL Express", packages={"P2": "JD0002"}, despatched_at=T0 + timedelta(hours=6)),
            ReturnRecord(integration="northwind", return_code="RET-7", item_code="TEE-M", sales_order="SO-00012-R1",
                         quantity=1, condition="As new", sellable=True, site="MAIN", reason="Too small",
                         state="credited", erp_ref="CN-00031", returned_at=T0 + timedelta(days=2)),
        ])
        hold = exception(1, entity_key="SO-00013", summary=f"order SO-00013 held: unknown SKU (token {SECRET})")
        old_hold = exception(2, entity_key="SO-00012", status="resolved", resolved_at=T0 + timedelta(minutes=50))
        rejected = exception(3, flow="dispatch_confirmation", type="fulfilment_rejected", owner="warehouse",
                             entity_type="despatch", entity_key="D-101",
                             summary="Cin7 Core refused the fulfilment of D-101")
        other = exception(4, entity_key="SO-99999", summary="someone else's order")
        drift = exception(5, flow="reconciliation", type="drift_trend", owner="finance", entity_type="drift",
                          entity_key="sku:TEE-M", summary="Stock drift at sku TEE-M: off on 5 of the last nights",
                          detail={"level": "sku", "key": "TEE-M", "nights": 5, "growing": True})
        s.add_all([hold, old_hold, rejected, other, drift])
        s.flush()
        ids.update(hold=hold.id, old_hold=old_hold.id, rejected=rejected.id, other=other.id, drift=drift.id)

        runs = []
        for night in range(1, 4):
            run = ReconciliationRun(integration="northwind", run_id=f"scheduled__2026-12-0{night}",
                                    business_date=f"2026-12-0{night}", status="compared",
                                    summary={"pairs": 40, "breaches": night, "sections": {"stock": "compared"}},
                                    created_at=T0 + timedelta(days=night))
            s.add(run)
            s.flush()
            runs.append(run)
            s.add_all([ReconciliationVariance(run_pk=run.id, kind="stock", key=f"TEE-{i}|Main Warehouse",
                                              sku=f"TEE-{i}", location="Main Warehouse", variance=(-night if i else 2),
                                              breach=i < night, applied=False) for i in range(3)])
        latest = runs[-1]
        latest.run_id, latest.report_path = RUN_ID, str(report)
        missing = ReconciliationRun(integration="northwind", run_id="manual__gone", business_date="2026-11-30",
                                    status="compared", summary={}, report_path=str(report.parent / "deleted"),
                                    created_at=T0)
        s.add(missing)
        s.flush()
        pending = ReconciliationProposal(integration="northwind", run_pk=latest.id, business_date="2026-12-03",
                                         sku="TEE-M", location="Main Warehouse", erp_on_hand=10, set_to=8, change=-2,
                                         variance=2, breach=True, state="pending")
        second = ReconciliationProposal(integration="northwind", run_pk=latest.id, business_date="2026-12-03",
                                        sku="TEE-L", location="Main Warehouse", erp_on_hand=4, set_to=5, change=1,
                                        variance=-1, breach=False, state="pending")
        s.add_all([pending, second])
        s.flush()
        ids.update(proposal=pending.id, second=second.id, run=latest.id)
    return ids


@pytest.fixture
def env(tmp_path: Path) -> Env:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    report = tmp_path / "reports" / "northwind" / "2026-12-03" / "night"
    report.mkdir(parents=True)
    (report / "report.html").write_text(
        f"<!doctype html><html><body><h1>Reconciliation Northwind</h1><p>key {SECRET}</p></body></html>",
        encoding="utf-8")
    (report / "stock.csv").write_text("sku,location,variance\nTEE-M,Main Warehouse,2\n", encoding="utf-8")
    (tmp_path / "reports" / "secret.csv").write_text(f"password,{SECRET}\n", encoding="utf-8")
    erp = FakeCin7({("TEE-M", "Main Warehouse"): Decimal(10), ("TEE-L", "Main Warehouse"): Decimal(4)})
    dashboard = Dashboard(ledger_url=lambda: url, integrations=lambda: {"northwind": NORTHWIND},
                          secrets=lambda ints: (SECRET,), can_act=lambda v, i: v.name == "alice",
                          clients=lambda integration, kind: erp)
    app = FastAPI()
    views.register(app, dashboard)
    return Env(url, app, erp, report, seed(url, report))


# --- authentication -----------------------------------------------------------------------------------------
ROUTES = [("get", "/orders?q=SO-00012"), ("get", "/api/orders?q=SO-00012"), ("get", "/reconciliation"),
          ("get", "/api/reconciliation"), ("get", f"/reconciliation/northwind/runs/{RUN_ID}/report"),
          ("get", f"/reconciliation/northwind/runs/{RUN_ID}/report/stock.csv"), ("get", "/checks"),
          ("get", "/api/checks"), ("get", "/activity"), ("get", "/api/activity"),
          ("post", "/reconciliation/northwind/proposals"), ("post", "/api/reconciliation/northwind/proposals")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_answers_401_without_airflow_authentication(env: Env, method: str, path: str) -> None:
    client = env.client(None)
    if method == "post":
        # no CSRF token either: authentication is checked first, so the answer is 401, not a CSRF 403
        answer = client.post(path, data={"ids": str(env.ids["proposal"]), "decision": "approve"},
                             follow_redirects=False)
    else:
        answer = client.get(path)
    assert answer.status_code == 401
    assert SECRET not in answer.text
    assert env.rows(ReconciliationProposal, id=env.ids["proposal"])[0].state == "pending"


# --- orders -------------------------------------------------------------------------------------------------
def stage(doc: Element, name: str) -> Element:
    return doc.one("tr", **{"data-stage": name})


@pytest.mark.parametrize("query", ["SO-00012", "5f1c-erp-id", "SO-00012-R1"])
def test_an_order_is_found_by_erp_number_erp_id_or_peoplevox_number(env: Env, query: str) -> None:
    answer = env.client().get("/orders", params={"integration": "northwind", "q": query})
    assert answer.status_code == 200
    doc = parse(answer.text)
    view = doc.one("section", id="order-view")
    assert view.one(id="order-number").text == "SO-00012"
    assert "released to Peoplevox as SO-00012-R1" in stage(view, "released").text
    assert "2026-12-01 10:00:00" in stage(view, "released").text
    assert "not held (was held 1 time(s), resolved)" in stage(view, "held").text
    assert "despatched: 2 despatch(es)" in stage(view, "despatched").text
    confirmed = stage(view, "confirmed")
    assert confirmed.attrs["data-status"] == "problem"
    assert "not confirmed in the ERP: 1 of 2" in confirmed.text and "D-101: held" in confirmed.text
    assert "returned: 1 line(s), 1 unit(s)" in stage(view, "returned").text
    # the despatches: carrier, tracking, confirmed or not
    despatches = {row.attrs["data-despatch"]: row for row in view.find_all("tr") if "data-despatch" in row.attrs}
    assert "Royal Mail" in despatches["D-100"].text and "RM123456789GB" in despatches["D-100"].text
    assert despatches["D-100"].one("td", class_="confirmed").text.startswith("yes")
    assert despatches["D-101"].one("td", class_="confirmed").text.startswith("no (held)")
    assert "CN-00031" in view.one("table", id="order-returns").text
    # the open despatch problem and the old (resolved) hold are listed, each linked; nobody else's exceptions
    table = view.one("table", id="order-exceptions")
    links = {a.attrs["href"] for a in table.find_all("a", class_="exception-link")}
    assert links == {f"/exceptions/{env.ids['rejected']}", f"/exceptions/{env.ids['old_hold']}"}
    first = table.find_all("tr", **{"data-exception-id": str(env.ids["rejected"])})[0]
    assert "open" in first.text and "Cin7 Core refused the fulfilment" in first.text


def test_an_earlier_reissue_number_finds_the_order_and_the_json_twin_agrees(env: Env) -> None:
    client = env.client()
    doc = parse(client.get("/orders", params={"q": "SO-00020-R1"}).text)
    assert doc.one(id="order-number").text == "SO-00020"
    data = client.get("/api/orders", params={"integration": "northwind", "q": "SO-00020-R1"}).json()
    assert data["found"] is True
    assert data["order"]["wms_numbers"] == ["SO-00020", "SO-00020-R1", "SO-00020-R2"]
    assert [s["stage"] for s in data["order"]["stages"]] == ["released", "held", "despatched", "confirmed",
                                                             "returned"]


def test_a_held_order_says_why_with_secrets_redacted(env: Env) -> None:
    answer = env.client().get("/orders", params={"q": "SO-00013"})
    held = stage(parse(answer.text), "held")
    assert held.attrs["data-status"] == "problem"
    assert "held: unmapped_sku" in held.text and "unknown SKU" in held.text
    assert SECRET not in answer.text and "(token ***)" in answer.text
    assert f'href="/exceptions/{env.ids["hold"]}"' in answer.text
    assert "not released: held" in stage(parse(answer.text), "released").text


def test_an_unknown_order_is_not_found(env: Env) -> None:
    client = env.client()
    doc = parse(client.get("/orders", params={"q": "SO-77777"}).text)
    assert "No order SO-77777" in doc.one(id="order-not-found").text
    assert doc.find_all("section", id="order-view") == []
    assert client.get("/api/orders", params={"q": "SO-77777"}).json()["found"] is False
    assert client.get("/orders", params={"integration": "nowhere", "q": "SO-1"}).status_code == 404


def test_order_query_is_escaped(env: Env) -> None:
    answer = env.client().get("/orders", params={"q": '<script>alert("x")</script>'})
    assert "<script>alert" not in answer.text
    assert "&lt;script&gt;" in answer.text


# --- reconciliation -------------------------------------------------------------------------------------------
def recon(text: str) -> Element:
    return parse(text).one("section", **{"data-integration": "northwind"})


def test_reconciliation_page_shows_latest_run_trend_drift_and_pending_proposals(env: Env) -> None:
    section = recon(env.client().get("/reconciliation").text)
    link = section.one("a", class_="report-link")
    assert link.attrs["href"] == f"/reconciliation/northwind/runs/{RUN_ID.replace(':', '%3A').replace('+', '%2B')}" \
                                 "/report"
    nights = [row.attrs["data-night"] for row in section.one("table", class_="trend").find_all("tr")
              if "data-night" in row.attrs]
    assert nights == ["2026-12-03", "2026-12-02", "2026-12-01", "2026-11-30"]  # newest first
    latest = section.one("tr", **{"data-night": "2026-12-03"})
    assert [td.text for td in latest.find_all("td")] == ["2026-12-03", "8", "3", "3"]  # |2|+|-3|+|-3|, 3 pairs
    quiet = section.one("tr", **{"data-night": "2026-11-30"})  # compared, nothing differed
    assert [td.text for td in quiet.find_all("td")] == ["2026-11-30", "0", "0", "0"]
    assert "TEE-M" in section.one("table", class_="drift-trends").text
    form = section.one("form", class_="proposals")
    assert form.attrs["action"] == "/reconciliation/northwind/proposals"
    rows = form.find_all("tr", **{"data-proposal-id": str(env.ids["proposal"])})
    assert rows and rows[0].find_all("input", name="ids")[0].attrs["value"] == str(env.ids["proposal"])
    assert form.find_all("button", class_="approve") and form.find_all("button", class_="reject")
    assert "disabled" not in form.one("button", class_="approve").attrs


def test_a_viewer_who_may_not_act_gets_403_and_nothing_changes(env: Env) -> None:
    client = env.client("bob")
    section = recon(client.get("/reconciliation").text)
    assert "disabled" in section.one("button", class_="approve").attrs
    answer = client.post("/reconciliation/northwind/proposals",
                         data={"ids": str(env.ids["proposal"]), "decision": "approve", "csrf": csrf_for(client)},
                         follow_redirects=False)
    assert answer.status_code == 403
    api = client.post("/api/reconciliation/northwind/proposals", json={"ids": [env.ids["proposal"]],
                                                                        "decision": "reject"},
                      headers={"Authorization": "Bearer x"})
    assert api.status_code == 403
    assert env.rows(ReconciliationProposal, id=env.ids["proposal"])[0].state == "pending"
    assert env.erp.posts == []
    assert env.rows(DashboardAction) == []


def test_a_form_post_without_the_csrf_token_is_refused(env: Env) -> None:
    client = env.client()
    answer = client.post("/reconciliation/northwind/proposals",
                         data={"ids": str(env.ids["proposal"]), "decision": "approve"}, follow_redirects=False)
    assert answer.status_code == 403
    assert env.rows(ReconciliationProposal, id=env.ids["proposal"])[0].state == "pending"


def test_approving_applies_the_adjustment_records_the_action_and_shows_the_outcome(env: Env) -> None:
    client = env.client()
    answer = client.post("/reconciliation/northwind/proposals",
                         data={"ids": str(env.ids["proposal"]), "decision": "approve", "note": "counted twice",
                               "csrf": csrf_for(client)}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/reconciliation?msg=")
    page_ = client.get(answer.headers["location"])
    message = parse(page_.text).one("div", class_="msg")
    assert "1 proposal(s) approved by alice: 1 applied" in message.text and "ok" in message.attrs["class"]
    proposal = env.rows(ReconciliationProposal, id=env.ids["proposal"])[0]
    assert proposal.state == "applied" and proposal.decided_by == "alice" and proposal.note == "counted twice"
    assert [(p.reference, p.lines[0].quantity) for p in env.erp.posts] == [
        (f"WMS-RECON-northwind-{env.ids['proposal']}-1", Decimal(8))]
    assert env.rows(ReconciliationProposal, id=env.ids["second"])[0].state == "pending"  # only the one ticked
    action = env.rows(DashboardAction)[0]
    assert (action.user, action.action, action.target_type, action.target_id) == (
        "alice", "approve", "proposal", str(env.ids["proposal"]))
    assert action.outcome.startswith("applied as WMS-RECON-northwind-")
    # the decided proposal has left the pending list and is in "recently decided"
    section = recon(page_.text)
    assert not section.one("form", class_="proposals").find_all("tr", **{"data-proposal-id": str(env.ids["proposal"])})
    assert section.one("table", class_="decided-proposals").find_all(
        "tr", **{"data-proposal-id": str(env.ids["proposal"])})
    activity = parse(client.get("/activity").text).one("table", id="activity")
    assert "approve" in activity.text and "alice" in activity.text and "applied" in activity.text


def test_approving_when_the_erp_moved_fails_and_says_why(env: Env) -> None:
    env.erp.stock[("TEE-M", "Main Warehouse")] = Decimal(11)
    client = env.client()
    answer = client.post("/api/reconciliation/northwind/proposals",
                         json={"ids": [env.ids["proposal"]], "decision": "approve"},
                         headers={"Authorization": "Bearer t"})
    assert answer.status_code == 200
    data = answer.json()
    assert data["ok"] is False and data["exit_code"] == 1
    assert any("now 11, the proposal saw 10" in line for line in data["lines"])
    assert env.rows(ReconciliationProposal, id=env.ids["proposal"])[0].state == "failed"
    assert env.erp.posts == []
    assert env.rows(DashboardAction)[0].outcome.startswith("failed: the ERP figure")


def test_rejecting_through_the_api_rejects_and_is_recorded(env: Env) -> None:
    client = env.client()
    answer = client.post("/api/reconciliation/northwind/proposals",
                         json={"ids": [env.ids["proposal"], env.ids["second"]], "decision": "reject",
                               "note": "stock take on Monday"}, headers={"Authorization": "Bearer t"})
    assert answer.status_code == 200
    assert answer.json()["lines"] == ["2 proposal(s) rejected by alice"]
    states = {p.id: (p.state, p.note) for p in env.rows(ReconciliationProposal)}
    assert states[env.ids["proposal"]] == ("rejected", "stock take on Monday")
    assert states[env.ids["second"]] == ("rejected", "stock take on Monday")
    actions = env.rows(DashboardAction)
    assert sorted((a.action, a.target_id, a.outcome) for a in actions) == sorted(
        [("reject", str(env.ids["proposal"]), "rejected"), ("reject", str(env.ids["second"]), "rejected")])
    assert env.erp.posts == []
    # deciding again: not open any more, said so and recorded as such
    again = client.post("/api/reconciliation/northwind/proposals",
                        json={"ids": [env.ids["proposal"]], "decision": "approve"},
                        headers={"Authorization": "Bearer t"}).json()
    assert any("not open" in line for line in again["lines"])
    assert env.rows(ReconciliationProposal, id=env.ids["proposal"])[0].state == "rejected"


@pytest.mark.parametrize("body", [{"ids": [], "decision": "approve"}, {"ids": ["1;drop"], "decision": "reject"},
                                  {"ids": [1], "decision": "maybe"}, ["not", "an", "object"]])
def test_invalid_api_decisions_are_400(env: Env, body: Any) -> None:
    answer = env.client().post("/api/reconciliation/northwind/proposals", json=body,
                               headers={"Authorization": "Bearer t"})
    assert answer.status_code == 400
    assert env.rows(DashboardAction) == []


def test_a_form_without_a_ticked_proposal_comes_back_with_an_error(env: Env) -> None:
    client = env.client()
    answer = client.post("/reconciliation/northwind/proposals",
                         data={"decision": "approve", "csrf": csrf_for(client)}, follow_redirects=False)
    assert answer.status_code == 303 and "kind=err" in answer.headers["location"]
    assert "tick at least one proposal" in parse(client.get(answer.headers["location"]).text).one(
        "div", class_="msg").text


def test_the_report_is_served_redacted_and_only_known_csvs(env: Env) -> None:
    client = env.client()
    base = f"/reconciliation/northwind/runs/{RUN_ID}/report"
    html = client.get(base)
    assert html.status_code == 200
    assert "Reconciliation Northwind" in html.text and SECRET not in html.text and "key ***" in html.text
    assert "default-src 'none'" in html.headers["content-security-policy"]
    csv = client.get(f"{base}/stock.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "TEE-M,Main Warehouse,2" in csv.text
    for bad in ("secrets", "report", "..%2F..%2Fsecret", "....%2Fsecret", "%2e%2e%2fsecret"):
        answer = client.get(f"{base}/{bad}.csv")
        assert answer.status_code == 404, bad
        assert SECRET not in answer.text
    assert client.get(f"{base}/findings.csv").status_code == 404  # allowed name, not written: a clear 404
    assert client.get("/reconciliation/northwind/runs/no-such-run/report").status_code == 404
    assert client.get("/reconciliation/nowhere/runs/x/report").status_code == 404


def test_a_missing_report_folder_is_a_clear_404(env: Env) -> None:
    answer = env.client().get("/reconciliation/northwind/runs/manual__gone/report")
    assert answer.status_code == 404
    assert "report folder" in answer.json()["detail"] and "missing" in answer.json()["detail"]


# --- data checks and activity -----------------------------------------------------------------------------------
def seed_checks(url: str, count: int) -> None:
    with session_scope(url) as s:
        s.add_all([CheckResult(integration="northwind", flow="order_release" if i % 2 else "inventory_sync",
                               suite="order_release" if i % 2 else "stock", run_id=f"run-{i}",
                               success=i != 3, evaluated=10, failed_records=0 if i != 3 else 2,
                               summary={"results": [{"expectation": "expect_column_values_to_be_in_set",
                                                     "column": "ItemCode", "reason": "unknown SKU",
                                                     "success": i != 3, "unexpected_count": 2 if i == 3 else 0,
                                                     "sample": ["ZZ-1", "ZZ-2"] if i == 3 else []}]},
                               created_at=T0 + timedelta(minutes=i)) for i in range(count)])


def test_checks_are_newest_first_and_filter_to_failed_only(env: Env) -> None:
    seed_checks(env.url, 6)
    client = env.client()
    table = parse(client.get("/checks").text).one("table", id="check-results")
    ids = [row.attrs["data-check-id"] for row in table.find_all("tr") if "data-check-id" in row.attrs]
    assert len(ids) == 6 and [int(i) for i in ids] == sorted((int(i) for i in ids), reverse=True)
    failed = parse(client.get("/checks", params={"failed": "1"}).text)
    rows = [row for row in failed.one("table", id="check-results").find_all("tr") if "data-check-id" in row.attrs]
    assert [row.attrs["data-success"] for row in rows] == ["false"]
    assert "unknown SKU [ItemCode]: 2 unexpected e.g. ZZ-1, ZZ-2" in rows[0].text
    assert rows[0].one("a", class_="run-link").attrs["href"] == "/dags/northwind__order_release/runs/run-3"
    assert failed.one(id="total").text == "1 results"
    data = client.get("/api/checks", params={"failed": "1", "flow": "order_release"}).json()
    assert data["total"] == 1 and data["results"][0]["run_id"] == "run-3"
    assert client.get("/api/checks", params={"flow": "inventory_sync"}).json()["total"] == 3


def test_checks_page_in_fifties(env: Env) -> None:
    seed_checks(env.url, 55)
    client = env.client()
    first = parse(client.get("/checks").text)
    assert len([r for r in first.one("table", id="check-results").find_all("tr") if "data-check-id" in r.attrs]) == 50
    assert first.one("a", id="next-page").attrs["href"] == "/checks?page=2"
    second = parse(client.get("/checks", params={"page": "2"}).text)
    assert len([r for r in second.one("table", id="check-results").find_all("tr")
                if "data-check-id" in r.attrs]) == 5
    assert second.find_all("a", id="next-page") == [] and second.find_all("a", id="prev-page")


def test_activity_lists_actions_newest_first_filtered_by_integration(env: Env) -> None:
    from erp_wms_sync.ledger.dashboard_repo import record_action

    with session_scope(env.url) as s:
        record_action(s, user="alice", integration="northwind", action="resolve", target_type="exception",
                      target_id=env.ids["hold"], outcome="resolved")
        record_action(s, user="carol", integration="bluebird", action="retry", target_type="exception",
                      target_id=99, outcome=f"retried with {SECRET}")
    client = env.client()
    doc = parse(client.get("/activity").text)
    rows = [r for r in doc.one("table", id="activity").find_all("tr") if "data-action-id" in r.attrs]
    assert ["carol" in rows[0].text, "alice" in rows[1].text] == [True, True]
    assert SECRET not in client.get("/activity").text
    assert rows[1].one("a", class_="exception-link").attrs["href"] == f"/exceptions/{env.ids['hold']}"
    only = client.get("/api/activity", params={"integration": "northwind"}).json()["actions"]
    assert [(a["user"], a["action"]) for a in only] == [("alice", "resolve")]
