"""Callback subscriptions with in-memory vendors: what a sync creates, keeps, reactivates, updates and removes in
Peoplevox and Cin7 Core, what the ledger keeps (never a secret), the webhook connection, the flow step, the CLI
and the demo's webhook connections."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from erp_wms_sync import cli, demo
from erp_wms_sync.config import Integration, load_integration
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.errors import ApiUnavailable, ConfigError
from erp_wms_sync.flows import webhook_subscriptions as flow
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import Subscription
from erp_wms_sync.webhooks import (
    AVAILABILITY_CHANGES,
    CIN7_ORDER_AUTHORISED,
    INCREMENTAL_CHANGES,
    PACKAGE_DESPATCHED,
    PACKAGE_TRACKING_RECEIVED,
    PEOPLEVOX_ACCEPTED_EVENTS,
    PEOPLEVOX_SUBSCRIBED_EVENTS,
    RETURNS,
    subscriptions,
)
from erp_wms_sync.webhooks.subscriptions import SubscriptionError, SyncReport, stored_subscriptions, sync_subscriptions

INTEGRATIONS = Path(__file__).resolve().parents[2] / "include" / "integrations"
NORTHWIND = load_integration(INTEGRATIONS / "northwind.yaml")
BLUEBIRD = load_integration(INTEGRATIONS / "bluebird.yaml")
BASE = "https://airflow.example.com/erp-wms"
SECRET = "s3cret-Token_0123456789abcdef"
OTHER_SECRET = "n3w-Token_fedcba9876543210zz"
CIN7_URL = f"{BASE}/hooks/cin7core/northwind"
PVX_EVENTS = PEOPLEVOX_SUBSCRIBED_EVENTS  # despatch, then IncrementalChanges and Returns
N_PVX = len(PVX_EVENTS)


class FakePeoplevox:
    """SubscribeEvent / UnsubscribeEvent held in memory; ids count up from 1000 like the real service."""

    def __init__(self) -> None:
        self.subscriptions: dict[int, tuple[str, str]] = {}
        self.ids = itertools.count(1000)
        self.subscribe_calls = 0
        self.unsubscribed: list[int] = []
        self.refuse_subscribe: set[str] = set()
        self.refuse_unsubscribe = False

    def subscribe_event(self, event_type: str, callback_url: str, filter: str = "", encode: bool = True) -> int:
        self.subscribe_calls += 1
        assert encode is True and filter == ""
        if event_type in self.refuse_subscribe:
            raise ApiUnavailable("peoplevox", f"SubscribeEvent {event_type} timed out calling {callback_url}")
        new_id = next(self.ids)
        self.subscriptions[new_id] = (event_type, callback_url)
        return new_id

    def unsubscribe_event(self, subscription_id: int) -> bool:
        if self.refuse_unsubscribe:
            raise ApiUnavailable("peoplevox", "UnsubscribeEvent timed out")
        self.unsubscribed.append(subscription_id)
        return self.subscriptions.pop(subscription_id, None) is not None

    def urls(self, event_type: str) -> list[str]:
        return [url for event, url in self.subscriptions.values() if event == event_type]


class FakeCin7:
    """``/webhooks`` held in memory; ``hide_credentials`` answers listings without the secrets."""

    def __init__(self) -> None:
        self.hooks: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.writes: list[tuple[str, str]] = []
        self.hide_credentials = False

    def add(self, **fields: Any) -> str:
        hook_id = f"00000000-0000-0000-0000-{next(self.ids):012d}"
        self.hooks[hook_id] = {"ID": hook_id, "Type": CIN7_ORDER_AUTHORISED, "IsActive": True, "ExternalURL": CIN7_URL,
                               "ExternalAuthorizationType": "basicauth", "ExternalUserName": "cin7",
                               "ExternalPassword": SECRET, "ExternalBearerToken": "", **fields}
        return hook_id

    def list_webhooks(self) -> list[dict[str, Any]]:
        hidden = {"ExternalPassword": "", "ExternalBearerToken": ""} if self.hide_credentials else {}
        return [{**hook, **hidden} for hook in self.hooks.values()]

    def create_webhook(self, webhook: dict[str, Any]) -> dict[str, Any]:
        hook_id = self.add(**webhook)
        self.writes.append(("POST", hook_id))
        return dict(self.hooks[hook_id])

    def update_webhook(self, webhook: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("PUT", webhook["ID"]))
        self.hooks[webhook["ID"]].update(webhook)
        return dict(self.hooks[webhook["ID"]])

    def delete_webhook(self, webhook_id: str) -> dict[str, Any]:
        self.writes.append(("DELETE", webhook_id))
        del self.hooks[webhook_id]
        return {"Webhooks": []}


@pytest.fixture
def pvx() -> FakePeoplevox:
    return FakePeoplevox()


@pytest.fixture
def cin7() -> FakeCin7:
    return FakeCin7()


def run(ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7 | None, integration: Integration = NORTHWIND, *,
        base_url: str = BASE, secret: str = SECRET, login: str | None = "cin7", force: bool = False) -> SyncReport:
    with session_scope(ledger_url) as session:
        return sync_subscriptions(integration, session=session, wms=pvx, erp=cin7, base_url=base_url, secret=secret,
                                  login=login, force=force)


def actions(report: SyncReport) -> list[tuple[str, str, str]]:
    return [(c.system, c.event_type, c.action) for c in report.changes]


def rows(ledger_url: str) -> dict[tuple[str, str], Subscription]:
    with session_scope(ledger_url) as session:
        return {(r.system, r.event_type): r for r in stored_subscriptions(session)}


def assert_no_secret(ledger_url: str, report: SyncReport, *secrets: str) -> None:
    stored = json.dumps([[r.url, r.note, r.external_id] for r in rows(ledger_url).values()])
    shown = json.dumps(report.as_dict()) + "\n".join(report.lines())
    for secret in secrets or (SECRET,):
        assert secret not in stored and secret not in shown


# ---- created / kept --------------------------------------------------------------------------------------------
def test_first_sync_subscribes_every_event_and_records_the_ids(ledger_url: str, pvx: FakePeoplevox,
                                                               cin7: FakeCin7) -> None:
    report = run(ledger_url, pvx, cin7)
    assert PVX_EVENTS == (PACKAGE_DESPATCHED, PACKAGE_TRACKING_RECEIVED, INCREMENTAL_CHANGES, RETURNS)
    assert AVAILABILITY_CHANGES not in PVX_EVENTS  # accepted by the receiver, never subscribed
    assert actions(report) == [("peoplevox", event, "created") for event in PVX_EVENTS] + [
        ("cin7core", CIN7_ORDER_AUTHORISED, "created")]
    (url,) = pvx.urls(PACKAGE_DESPATCHED)
    assert url.startswith(f"{BASE}/hooks/peoplevox/northwind/{PACKAGE_DESPATCHED}?token={SECRET}&")
    assert "SalesOrderNumber={SalesOrderNumber}" in url
    (movements,) = pvx.urls(INCREMENTAL_CHANGES)  # each stock event asks for the fields its flow reads
    assert movements.startswith(f"{BASE}/hooks/peoplevox/northwind/{INCREMENTAL_CHANGES}?token={SECRET}&")
    assert "ItemCode={ItemType.ItemCode}" in movements and "HistoryId={HistoryId}" in movements
    assert pvx.urls(AVAILABILITY_CHANGES) == []
    (returns,) = pvx.urls(RETURNS)
    assert "ReturnCode={ReturnCode}" in returns and "Condition={Condition}" in returns
    (hook,) = cin7.hooks.values()
    assert (hook["ExternalURL"], hook["ExternalAuthorizationType"], hook["ExternalUserName"],
            hook["ExternalPassword"], hook["IsActive"]) == (CIN7_URL, "basicauth", "cin7", SECRET, True)
    stored = rows(ledger_url)
    assert stored["peoplevox", PACKAGE_DESPATCHED].external_id == "1000"
    assert stored["peoplevox", PACKAGE_DESPATCHED].url.startswith(
        f"{BASE}/hooks/peoplevox/northwind/{PACKAGE_DESPATCHED}?token=***&")
    assert [stored["peoplevox", event].external_id for event in PVX_EVENTS] == ["1000", "1001", "1002", "1003"]
    assert stored["peoplevox", RETURNS].url.startswith(f"{BASE}/hooks/peoplevox/northwind/{RETURNS}?token=***&")
    assert stored["cin7core", CIN7_ORDER_AUTHORISED].external_id == hook["ID"]
    assert all(r.active and r.checked_at for r in stored.values())
    assert report.counts() == {"created": N_PVX + 1} and report.lines()[0] == "northwind: 5 created"
    assert f"  peoplevox {RETURNS}: created (id 1003)" in report.lines()
    assert not any(AVAILABILITY_CHANGES in line for line in report.lines())
    assert ("peoplevox", AVAILABILITY_CHANGES) not in stored
    assert_no_secret(ledger_url, report)


def test_a_second_sync_keeps_everything_without_writing(ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7)
    calls, writes = pvx.subscribe_calls, list(cin7.writes)
    report = run(ledger_url, pvx, cin7)
    assert [c.action for c in report.changes] == ["kept"] * (N_PVX + 1)
    assert [c.external_id for c in report.changes][:N_PVX] == ["1000", "1001", "1002", "1003"]
    assert (pvx.subscribe_calls, cin7.writes, pvx.unsubscribed) == (calls, writes, [])


def test_bearer_auth_without_a_login_and_no_cin7_for_bluecherry(ledger_url: str, pvx: FakePeoplevox,
                                                                cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7, login=None)
    (hook,) = cin7.hooks.values()
    assert (hook["ExternalAuthorizationType"], hook["ExternalBearerToken"]) == ("bearerauth", SECRET)
    report = run(ledger_url, pvx, None, BLUEBIRD)
    assert actions(report) == [("peoplevox", event, "created") for event in PVX_EVENTS]
    assert any("/hooks/peoplevox/bluebird/" in url for url in pvx.urls(PACKAGE_DESPATCHED))
    assert any(f"/hooks/peoplevox/bluebird/{RETURNS}?" in url for url in pvx.urls(RETURNS))


# ---- reactivated / updated / removed ---------------------------------------------------------------------------
def test_a_webhook_cin7_deactivated_is_made_active_again(ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7)
    (hook_id,) = cin7.hooks
    cin7.hooks[hook_id]["IsActive"] = False  # six failed deliveries
    report = run(ledger_url, pvx, cin7)
    change = report.changes[-1]
    assert (change.action, change.external_id) == ("reactivated", hook_id)
    assert "deactivated" in change.line()
    assert cin7.hooks[hook_id]["IsActive"] is True and len(cin7.hooks) == 1


def test_a_new_secret_updates_both_vendors(ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7)
    (hook_id,) = cin7.hooks
    report = run(ledger_url, pvx, cin7, secret=OTHER_SECRET)
    assert [c.action for c in report.changes] == ["updated"] * (N_PVX + 1)
    assert sorted(pvx.unsubscribed) == list(range(1000, 1004)) and sorted(pvx.subscriptions) == list(range(1004, 1008))
    assert all(f"token={OTHER_SECRET}&" in url for _, url in pvx.subscriptions.values())
    assert "replaces subscription 1000" in report.changes[0].detail
    assert cin7.hooks[hook_id]["ExternalPassword"] == OTHER_SECRET and report.changes[-1].external_id == hook_id
    assert rows(ledger_url)["peoplevox", PACKAGE_DESPATCHED].external_id == "1004"
    assert rows(ledger_url)["peoplevox", INCREMENTAL_CHANGES].external_id == "1006"
    assert_no_secret(ledger_url, report, SECRET, OTHER_SECRET)
    assert [c.action for c in run(ledger_url, pvx, cin7, secret=OTHER_SECRET).changes] == ["kept"] * (N_PVX + 1)


def test_hidden_credentials_are_judged_by_what_the_ledger_recorded(ledger_url: str, pvx: FakePeoplevox,
                                                                   cin7: FakeCin7) -> None:
    cin7.hide_credentials = True
    hook_id = cin7.add()  # ours by URL, made before the ledger knew it: its credentials cannot be seen
    assert [c.action for c in run(ledger_url, pvx, cin7).changes][-1] == "updated"
    assert [c.action for c in run(ledger_url, pvx, cin7).changes][-1] == "kept"
    assert [c.action for c in run(ledger_url, pvx, cin7, login="other").changes][-1] == "updated"
    assert cin7.hooks[hook_id]["ExternalUserName"] == "other"


def test_extra_webhooks_of_ours_are_deleted_and_others_left_alone(ledger_url: str, pvx: FakePeoplevox,
                                                                  cin7: FakeCin7) -> None:
    first, second, third = cin7.add(), cin7.add(), cin7.add(IsActive=False)
    foreign = cin7.add(ExternalURL="https://other.example/hook")
    report = run(ledger_url, pvx, cin7)
    cin7_changes = [(c.action, c.external_id) for c in report.changes if c.system == "cin7core"]
    assert cin7_changes == [("kept", first), ("removed", second), ("removed", third)]
    assert set(cin7.hooks) == {first, foreign}
    assert rows(ledger_url)["cin7core", CIN7_ORDER_AUTHORISED].external_id == first


def test_a_moved_receiver_replaces_the_old_webhook_and_subscriptions(ledger_url: str, pvx: FakePeoplevox,
                                                                     cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7)
    (old_hook,) = cin7.hooks
    report = run(ledger_url, pvx, cin7, base_url="https://new.example.com/erp-wms/")
    assert [c.action for c in report.changes] == ["updated"] * N_PVX + ["created", "removed"]
    assert "callback URL or secret changed" in report.changes[0].detail
    (new_hook,) = cin7.hooks.values()
    assert new_hook["ExternalURL"] == "https://new.example.com/erp-wms/hooks/cin7core/northwind"
    assert report.changes[-1].external_id == old_hook
    assert all(url.startswith("https://new.example.com/erp-wms/hooks/") for _, url in pvx.subscriptions.values())


def test_an_availability_subscription_of_an_earlier_version_is_unsubscribed_and_its_row_removed(
        ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7, monkeypatch: pytest.MonkeyPatch) -> None:
    """Earlier versions subscribed AvailabilityChanges too; the receiver still accepts it, but the next sync
    unsubscribes it in Peoplevox (Peoplevox would keep calling otherwise) and drops its ledger row."""
    with monkeypatch.context() as earlier:  # an earlier version subscribed every accepted event
        earlier.setattr(subscriptions, "PEOPLEVOX_SUBSCRIBED_EVENTS", PEOPLEVOX_ACCEPTED_EVENTS)
        run(ledger_url, pvx, cin7)
    old = rows(ledger_url)["peoplevox", AVAILABILITY_CHANGES]
    assert old.external_id == "1003" and old.active
    assert old.url.startswith(f"{BASE}/hooks/peoplevox/northwind/{AVAILABILITY_CHANGES}?token=***&")
    assert len(pvx.urls(AVAILABILITY_CHANGES)) == 1 and pvx.subscribe_calls == N_PVX + 1

    report = run(ledger_url, pvx, cin7)
    assert actions(report) == [("peoplevox", event, "kept") for event in PVX_EVENTS] + [
        ("peoplevox", AVAILABILITY_CHANGES, "removed"), ("cin7core", CIN7_ORDER_AUTHORISED, "kept")]
    assert report.counts() == {"kept": N_PVX + 1, "removed": 1}
    assert report.lines()[0] == "northwind: 5 kept, 1 removed"
    assert f"  peoplevox {AVAILABILITY_CHANGES}: removed (id 1003) — event no longer used" in report.lines()
    assert pvx.unsubscribed == [1003] and pvx.urls(AVAILABILITY_CHANGES) == []
    assert pvx.subscribe_calls == N_PVX + 1  # the events still subscribed were kept, not made again
    stored = rows(ledger_url)
    assert ("peoplevox", AVAILABILITY_CHANGES) not in stored
    assert [stored["peoplevox", event].external_id for event in PVX_EVENTS] == ["1000", "1001", "1002", "1004"]
    assert_no_secret(ledger_url, report)
    again = run(ledger_url, pvx, cin7)  # gone for good: nothing left to remove
    assert [c.action for c in again.changes] == ["kept"] * (N_PVX + 1) and pvx.unsubscribed == [1003]


# ---- force, failures -------------------------------------------------------------------------------------------
def test_force_resubscribes_peoplevox_even_when_it_forgot_the_old_ids(ledger_url: str, pvx: FakePeoplevox,
                                                                      cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7)
    pvx.subscriptions.clear()  # Peoplevox lost them; nothing can ask it
    report = run(ledger_url, pvx, cin7, force=True)
    assert actions(report) == [("peoplevox", event, "updated") for event in PVX_EVENTS] + [
        ("cin7core", CIN7_ORDER_AUTHORISED, "kept")]
    assert report.changes[0].detail.startswith("forced")
    assert sorted(pvx.unsubscribed) == list(range(1000, 1004)) and sorted(pvx.subscriptions) == list(range(1004, 1008))


def test_a_failed_call_is_reported_and_retried_next_time(ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7) -> None:
    pvx.refuse_subscribe = {PACKAGE_TRACKING_RECEIVED, RETURNS}
    report = run(ledger_url, pvx, cin7)
    assert actions(report) == [("peoplevox", PACKAGE_DESPATCHED, "created"),
                               ("peoplevox", PACKAGE_TRACKING_RECEIVED, "failed"),
                               ("peoplevox", INCREMENTAL_CHANGES, "created"),
                               ("peoplevox", RETURNS, "failed"),
                               ("cin7core", CIN7_ORDER_AUTHORISED, "created")]
    assert "ApiUnavailable" in report.changes[1].detail and "token=***" in report.changes[1].detail
    assert ("peoplevox", PACKAGE_TRACKING_RECEIVED) not in rows(ledger_url)
    assert ("peoplevox", RETURNS) not in rows(ledger_url)
    with pytest.raises(SubscriptionError,
                       match=f"2 subscription change.*{PACKAGE_TRACKING_RECEIVED}.*{RETURNS}") as raised:
        report.raise_for_failures()
    assert SECRET not in str(raised.value)
    assert_no_secret(ledger_url, report)
    pvx.refuse_subscribe = set()
    assert [c.action for c in run(ledger_url, pvx, cin7).changes] == ["kept", "created", "kept", "created", "kept"]


def test_an_old_subscription_that_cannot_be_removed_is_kept_as_it_was(ledger_url: str, pvx: FakePeoplevox,
                                                                     cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7)
    pvx.refuse_unsubscribe = True
    report = run(ledger_url, pvx, cin7, secret=OTHER_SECRET)
    assert [c.action for c in report.changes][:N_PVX] == ["failed"] * N_PVX
    assert pvx.subscribe_calls == N_PVX  # no second subscription next to the old one
    assert rows(ledger_url)["peoplevox", PACKAGE_DESPATCHED].external_id == "1000"
    pvx.refuse_unsubscribe = False
    assert [c.action for c in run(ledger_url, pvx, cin7, secret=OTHER_SECRET).changes][:N_PVX] == ["updated"] * N_PVX


def test_a_lost_subscription_after_unsubscribing_is_made_again(ledger_url: str, pvx: FakePeoplevox,
                                                               cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7)
    pvx.refuse_subscribe = {PACKAGE_DESPATCHED}
    assert run(ledger_url, pvx, cin7, force=True).changes[0].action == "failed"
    row = rows(ledger_url)["peoplevox", PACKAGE_DESPATCHED]
    assert row.active is False  # unsubscribed, not yet replaced: the next sync must subscribe again
    pvx.refuse_subscribe = set()
    change = run(ledger_url, pvx, cin7).changes[0]
    assert (change.action, change.detail.split(";")[0]) == ("updated", "the previous subscription failed")
    assert len(pvx.urls(PACKAGE_DESPATCHED)) == 1


def test_a_cin7_answer_for_another_webhook_is_an_error(ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7) -> None:
    run(ledger_url, pvx, cin7)
    (hook_id,) = cin7.hooks
    cin7.hooks[hook_id]["IsActive"] = False
    cin7.update_webhook = lambda webhook: {"Webhooks": [{**webhook, "ID": "someone-else"}]}  # type: ignore[method-assign]
    change = run(ledger_url, pvx, cin7).changes[-1]
    assert (change.action, change.external_id) == ("failed", hook_id)
    assert "the answer is webhook someone-else" in change.detail


def test_a_cin7_listing_that_is_not_webhooks_fails_the_cin7_part_only(ledger_url: str, pvx: FakePeoplevox,
                                                                      cin7: FakeCin7) -> None:
    cin7.list_webhooks = lambda: {"Webhooks": [{"Type": CIN7_ORDER_AUTHORISED}]}  # type: ignore[method-assign,assignment,return-value]
    report = run(ledger_url, pvx, cin7)
    assert [c.action for c in report.changes] == ["created"] * N_PVX + ["failed"]
    assert "entry 1 has no ID or Type" in report.changes[-1].detail and cin7.writes == []


@pytest.mark.parametrize(("base_url", "secret", "fragment"), [
    ("airflow.example.com/erp-wms", SECRET, "not an http(s) URL"),
    (BASE + "?x=1", SECRET, "must not hold a query"),
    (BASE, "", "set the connection's password"),
    (BASE, "short", "at least 16 characters"),
    (BASE, "has&ampersand-in-it-1234", "A-Z a-z 0-9"),
], ids=["no-scheme", "query", "no-secret", "short-secret", "unsafe-secret"])
def test_unusable_settings_are_refused_before_any_call(ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7,
                                                       base_url: str, secret: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="connection northwind_webhooks") as raised:
        run(ledger_url, pvx, cin7, base_url=base_url, secret=secret)
    assert fragment in str(raised.value)
    assert pvx.subscribe_calls == 0 and cin7.writes == []


# ---- the webhook connection and the flow step ------------------------------------------------------------------
def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any] | str) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn if isinstance(conn, str) else json.dumps(conn))


def test_webhook_settings_read_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "northwind_webhooks", {"conn_type": "http", "host": BASE + "/", "password": SECRET,
                                                 "login": "cin7"})
    assert flow.webhook_settings(NORTHWIND) == (BASE, SECRET, "cin7")
    set_conn(monkeypatch, "northwind_webhooks", {"conn_type": "http", "host": "airflow.example.com", "port": 8443,
                                                 "schema": "https", "password": SECRET,
                                                 "extra": {"base_path": "/erp-wms"}})
    assert flow.webhook_settings(NORTHWIND) == ("https://airflow.example.com:8443/erp-wms", SECRET, "")
    set_conn(monkeypatch, "northwind_webhooks", f"http://cin7:{SECRET}@127.0.0.1:8080/erp-wms")
    assert flow.webhook_settings(NORTHWIND) == ("http://127.0.0.1:8080/erp-wms", SECRET, "cin7")


def test_a_missing_or_incomplete_webhook_connection_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NORTHWIND_WEBHOOKS", raising=False)
    with pytest.raises(ConfigError, match="webhook connection northwind_webhooks is not defined") as raised:
        flow.webhook_settings(NORTHWIND)
    assert "AIRFLOW_CONN_NORTHWIND_WEBHOOKS" in str(raised.value)
    set_conn(monkeypatch, "northwind_webhooks", {"conn_type": "http", "host": BASE})
    with pytest.raises(ConfigError, match=r"connection northwind_webhooks has no password \(the shared secret\)"):
        flow.webhook_settings(NORTHWIND)
    set_conn(monkeypatch, "northwind_webhooks", {"conn_type": "http", "password": SECRET})
    with pytest.raises(ConfigError, match="has no host") as raised:
        flow.webhook_settings(NORTHWIND)
    assert SECRET not in str(raised.value)


def context(ledger_url: str) -> RunContext:
    return RunContext(NORTHWIND, "dispatch_confirmation", "manual__1", Window(None, datetime.now(UTC), "full"),
                      ledger_url)


def test_the_flow_step_syncs_and_fails_after_keeping_what_was_done(ledger_url: str, monkeypatch: pytest.MonkeyPatch,
                                                                   pvx: FakePeoplevox, cin7: FakeCin7) -> None:
    set_conn(monkeypatch, "northwind_webhooks", {"conn_type": "http", "host": BASE, "password": SECRET,
                                                 "login": "cin7"})
    result = flow.sync(context(ledger_url), pvx, cin7)
    assert result["counts"] == {"created": N_PVX + 1} and SECRET not in json.dumps(result)
    cin7.hooks[next(iter(cin7.hooks))]["IsActive"] = False
    pvx.refuse_unsubscribe = True
    with pytest.raises(SubscriptionError, match="UnsubscribeEvent failed"):
        flow.sync(context(ledger_url), pvx, cin7, force=True)
    assert rows(ledger_url)["cin7core", CIN7_ORDER_AUTHORISED].active and all(h["IsActive"]
                                                                               for h in cin7.hooks.values())


def test_the_flow_step_needs_the_connection(ledger_url: str, monkeypatch: pytest.MonkeyPatch, pvx: FakePeoplevox,
                                            cin7: FakeCin7) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NORTHWIND_WEBHOOKS", raising=False)
    with pytest.raises(ConfigError, match="northwind_webhooks"):
        flow.sync(context(ledger_url), pvx, cin7)
    assert pvx.subscribe_calls == 0 and rows(ledger_url) == {}


# ---- CLI -------------------------------------------------------------------------------------------------------
def test_cli_sync_names_the_missing_connection(ledger_url: str, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_BLUEBIRD_WEBHOOKS", raising=False)
    code = cli.main(["subscriptions", "sync", "--integration", "bluebird", "--ledger-url", ledger_url,
                     "--integrations-dir", str(INTEGRATIONS)])
    assert code == 1
    assert "webhook connection bluebird_webhooks is not defined" in capsys.readouterr().err
    set_conn(monkeypatch, "bluebird_webhooks", {"conn_type": "http", "host": BASE, "password": SECRET})
    monkeypatch.delenv("AIRFLOW_CONN_BLUEBIRD_PEOPLEVOX", raising=False)
    assert cli.main(["subscriptions", "sync", "--integration", "bluebird", "--ledger-url", ledger_url,
                     "--integrations-dir", str(INTEGRATIONS)]) == 1
    assert "connection bluebird_peoplevox is not defined (set AIRFLOW_CONN_BLUEBIRD_PEOPLEVOX)" in \
        capsys.readouterr().err


def test_cli_refuses_an_unknown_integration(ledger_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["subscriptions", "sync", "--integration", "nobody", "--ledger-url", ledger_url,
                     "--integrations-dir", str(INTEGRATIONS)]) == cli.EXIT_PROBLEMS
    assert "no integration named nobody (known: bluebird, northwind)" in capsys.readouterr().err


def test_cli_list_prints_the_stored_rows_without_secrets(ledger_url: str, pvx: FakePeoplevox, cin7: FakeCin7,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["subscriptions", "list", "--ledger-url", ledger_url]) == 0
    assert "no subscriptions stored" in capsys.readouterr().out
    run(ledger_url, pvx, cin7)
    run(ledger_url, pvx, None, BLUEBIRD)
    assert cli.main(["subscriptions", "list", "--integration", "northwind", "--ledger-url", ledger_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["INTEGRATION", "SYSTEM", "EVENT", "ID", "STATE"]
    assert [line.split()[:5] for line in lines[1:]] == [
        ["northwind", "cin7core", CIN7_ORDER_AUTHORISED, next(iter(cin7.hooks)), "active"],
        ["northwind", "peoplevox", PACKAGE_DESPATCHED, "1000", "active"],
        ["northwind", "peoplevox", PACKAGE_TRACKING_RECEIVED, "1001", "active"],
        ["northwind", "peoplevox", INCREMENTAL_CHANGES, "1002", "active"],
        ["northwind", "peoplevox", RETURNS, "1003", "active"]]
    assert all("token=***" in line for line in lines[2:]) and SECRET not in "\n".join(lines)


# ---- demo ------------------------------------------------------------------------------------------------------
@pytest.fixture
def sims() -> Iterator[dict[str, Any]]:
    yield {"cin7core": {"url": "http://127.0.0.1:8701/ExternalApi/v2",
                        "credentials": {"account_id": "acc", "application_key": "key"}},
           "peoplevox": {"url": "http://127.0.0.1:8702",
                         "credentials": {t: {"username": "u", "password": "p", "client_id": t}
                                         for t in ("northwind", "bluebird")}},
           "bluecherry": {"url": "http://127.0.0.1:8703/api/v1", "credentials": {"subscription_key": "k"}}}


def test_demo_prints_a_webhook_connection_per_sample_integration(sims: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMO_PORT", raising=False)
    monkeypatch.setenv("AIRFLOW__API__PORT", "8093")
    first, second = demo.env_vars(sims), demo.env_vars(sims)
    northwind, bluebird = (json.loads(first[f"AIRFLOW_CONN_{n}_WEBHOOKS"]) for n in ("NORTHWIND", "BLUEBIRD"))
    assert northwind["host"] == bluebird["host"] == "http://127.0.0.1:8093/erp-wms"
    assert (northwind.get("login"), bluebird.get("login")) == ("cin7", None)
    assert len(northwind["password"]) >= 32 and northwind["password"] != bluebird["password"]
    assert first["AIRFLOW_CONN_NORTHWIND_WEBHOOKS"] != second["AIRFLOW_CONN_NORTHWIND_WEBHOOKS"]  # new every run
    assert "AIRFLOW_CONN_NORTHWIND_CIN7CORE" in first
    monkeypatch.setenv("DEMO_PORT", "9001")
    assert json.loads(demo.env_vars(sims)["AIRFLOW_CONN_BLUEBIRD_WEBHOOKS"])["host"] == \
        "http://127.0.0.1:9001/erp-wms"
    for name, value in first.items():  # what the flow step reads from them
        if name.endswith("_WEBHOOKS"):
            set_conn(monkeypatch, name.removeprefix("AIRFLOW_CONN_").lower(), value)
    assert flow.webhook_settings(NORTHWIND) == ("http://127.0.0.1:8093/erp-wms", northwind["password"], "cin7")


def test_demo_main_refuses_a_bad_port(sims: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sims.json"
    path.write_text(json.dumps(sims))
    monkeypatch.setenv("DEMO_PORT", "eighty")
    assert demo.main(["connections", str(path)]) == 2
    assert "DEMO_PORT / AIRFLOW__API__PORT is 'eighty'" in capsys.readouterr().err
    monkeypatch.setenv("DEMO_PORT", "8080")
    assert demo.main(["connections", str(path)]) == 0
    assert "export AIRFLOW_CONN_NORTHWIND_WEBHOOKS=" in capsys.readouterr().out

