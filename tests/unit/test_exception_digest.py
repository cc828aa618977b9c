"""Exception digests on a SQLite ledger: grouping per team and type, the message texts (scrubbed, escaped), the
cursors per team x channel (nothing sent twice, a failed channel catches up), and the ``digests:`` configuration."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from erp_wms_sync.config import Integration, check_integration
from erp_wms_sync.connectors.redaction import remember
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.flows.common import RunContext
from erp_wms_sync.flows.exception_digest import (
    EMAIL,
    SLACK,
    Digest,
    Target,
    collect,
    email_html,
    plan_targets,
    send_digests,
    slack_text,
    subject,
)
from erp_wms_sync.ledger import repo
from erp_wms_sync.ledger.db import session_scope
from erp_wms_sync.ledger.models import Cursor, ExceptionAttempt, ExceptionRecord, utcnow
from erp_wms_sync.ledger.repo import NewException

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = yaml.safe_load((ROOT / "include/integrations/northwind.yaml").read_text())
TEAMS = {"finance": {"emails": ["fin@northwind.example", "cfo@northwind.example"]},
         "data": {"emails": ["data@northwind.example"], "slack_conn_id": "data_slack"}}


def integration(digests: dict[str, Any] | None = None, alerts: dict[str, Any] | None = None) -> Integration:
    data = {**SAMPLE, "digests": {"teams": TEAMS, "dashboard_url": "https://airflow.example/", "settle_minutes": 0,
                                  **(digests or {})}}
    if alerts is not None:
        data["alerts"] = alerts
    return Integration.model_validate(data, context={"base_dir": ROOT / "include/integrations"})


def ctx(url: str, config: Integration, end: datetime | None = None, run: str = "scheduled__1") -> RunContext:
    end = end or utcnow() + timedelta(minutes=1)
    return RunContext(config, "exception_digest", run, Window(end - timedelta(hours=1), end, "test"), url)


def later() -> datetime:
    """A moment after everything the test raised (the end of a period read directly)."""
    return utcnow() + timedelta(minutes=30)


def age_everything(url: str, minutes: int) -> None:
    """Let ``minutes`` pass for the ledger: every exception event happened that much earlier."""
    with session_scope(url) as s:
        for attempt in s.scalars(select(ExceptionAttempt)):
            attempt.at -= timedelta(minutes=minutes)
        for row in s.scalars(select(ExceptionRecord)):
            row.first_seen -= timedelta(minutes=minutes)
            row.last_seen -= timedelta(minutes=minutes)
        for cursor in s.scalars(select(Cursor)):
            if cursor.watermark is not None:
                cursor.watermark -= timedelta(minutes=minutes)


def raise_many(url: str, type_: str, owner: str, keys: list[str], summary: str = "{key} is held") -> None:
    with session_scope(url) as s:
        for key in keys:
            repo.raise_exception(s, integration="northwind", flow="order_release", owner=owner,
                                 exc=NewException(type_, "order", key, summary.format(key=key), {}, None),
                                 run_id="manual__test")


class Recorder:
    """Channels that keep what they were given; a channel in ``down`` refuses."""

    def __init__(self) -> None:
        self.sent: list[tuple[Target, Digest]] = []
        self.down: set[str] = set()

    def send(self, target: Target, digest: Digest) -> None:
        if target.channel in self.down:
            raise ConnectionRefusedError(f"{target.channel} is down")
        self.sent.append((target, digest))

    def of(self, team: str, channel: str) -> list[Digest]:
        return [d for t, d in self.sent if t.team == team and t.channel == channel]


# --- grouping and texts -------------------------------------------------------------------------------------------
def test_a_thousand_exceptions_of_one_cause_are_one_line_with_the_count_and_three_examples(ledger_url: str) -> None:
    config = integration()
    raise_many(ledger_url, "stock_variance", "finance+warehouse", [f"SKU-{n:04d}" for n in range(1000)],
               "{key} differs by 2 units")
    raise_many(ledger_url, "credit_before_stock_in", "finance", ["RET-1", "RET-2"])
    raise_many(ledger_url, "unmapped_sku", "data", ["SO-1"])
    with session_scope(ledger_url) as s:
        digest = collect(s, config, "finance", datetime(2000, 1, 1), later())
    assert [(line.type, line.count) for line in digest.lines] == [("stock_variance", 1000),
                                                                  ("credit_before_stock_in", 2)]
    variance = digest.lines[0]
    assert [e.entity_key for e in variance.examples] == ["SKU-0000", "SKU-0001", "SKU-0002"]
    assert variance.link == ("https://airflow.example/erp-wms-dashboard/?integration=northwind&owner=finance"
                             "&type=stock_variance")
    text = slack_text(digest)
    bullets = [line for line in text.splitlines() if line.startswith("• ")]
    assert bullets == [f"• *stock_variance*: 1000 new (<{variance.link}|open the list>)",
                       f"• *credit_before_stock_in*: 2 new (<{digest.lines[1].link}|open the list>)"]
    assert text.count("differs by 2 units") == 3 and "and 997 more" in text
    assert subject(digest) == ("[erp-wms-sync/northwind] finance: 1002 new exceptions (2 types) in "
                               "Northwind Outfitters")
    body = email_html(digest)
    assert body.count("<li><code>SKU-") == 3 and "and 997 more" in body and "SO-1" not in body


def test_secrets_are_scrubbed_and_exception_text_is_escaped_in_both_messages(ledger_url: str) -> None:
    remember("pv-Sess10n-T0ken-42")
    raise_many(ledger_url, "unmapped_sku", "data", ["<b>SO-9</b>"],
               "Peoplevox said <script>alert('x')</script> & session pv-Sess10n-T0ken-42 expired")
    with session_scope(ledger_url) as s:
        digest = collect(s, integration(), "data", datetime(2000, 1, 1), later())
    body, text = email_html(digest), slack_text(digest)
    for message in (body, text, subject(digest)):
        assert "pv-Sess10n-T0ken-42" not in message
    assert "<script>" not in body and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; session ***" in body
    assert "<code>&lt;b&gt;SO-9&lt;/b&gt;</code>" in body
    assert "<script>" not in text and "&lt;script&gt;" in text and "`&lt;b&gt;SO-9&lt;/b&gt;`" in text


def test_only_exceptions_still_open_and_raised_or_reopened_in_the_period_are_new(ledger_url: str) -> None:
    config = integration()
    raise_many(ledger_url, "unmapped_sku", "data", ["SO-1", "SO-2", "SO-3"])
    middle = utcnow()
    raise_many(ledger_url, "unmapped_sku", "data", ["SO-2"])  # seen again: not news
    with session_scope(ledger_url) as s:
        repo.resolve_exceptions(s, integration="northwind", entity_type="order", entity_keys=["SO-1", "SO-3"],
                                types=["unmapped_sku"], by="test", note="fixed")
    raise_many(ledger_url, "unmapped_sku", "data", ["SO-3"])  # reopened: news again
    with session_scope(ledger_url) as s:
        digest = collect(s, config, "data", middle, later())
    assert [(line.count, [e.entity_key for e in line.examples]) for line in digest.lines] == [(1, ["SO-3"])]


# --- the run: cursors per team and channel -------------------------------------------------------------------------
def test_each_team_gets_its_digest_once_per_channel_and_a_second_run_sends_nothing(ledger_url: str) -> None:
    config = integration()
    raise_many(ledger_url, "credit_before_stock_in", "finance", ["RET-1"])
    raise_many(ledger_url, "unmapped_sku", "data", ["SO-1", "SO-2"])
    channels = Recorder()
    first = send_digests(ctx(ledger_url, config), channels)
    assert sorted((t.team, t.channel, t.conn_id, t.recipients) for t, _ in channels.sent) == [
        ("data", EMAIL, "erp_wms_smtp", ("data@northwind.example",)), ("data", SLACK, "data_slack", ()),
        ("finance", EMAIL, "erp_wms_smtp", ("fin@northwind.example", "cfo@northwind.example")),
        ("finance", SLACK, "erp_wms_slack", ())]
    assert [d.total for d in channels.of("data", SLACK)] == [2]
    assert len(first["sent"]) == 4 and first["failed"] == []

    again = send_digests(ctx(ledger_url, config, run="scheduled__2"), channels)
    assert len(channels.sent) == 4 and again["sent"] == [] and again["nothing_new"] == 4


def test_a_failed_channel_gets_the_missed_period_next_run_and_the_other_channel_nothing_twice(
        ledger_url: str, caplog: pytest.LogCaptureFixture) -> None:
    config = integration()
    channels = Recorder()
    raise_many(ledger_url, "unmapped_sku", "data", ["SO-1"])
    channels.down.add(EMAIL)
    with caplog.at_level(logging.ERROR):
        down = send_digests(ctx(ledger_url, config), channels)
    assert down["failed"] == ["data/email"], "finance had nothing new: nothing to fail"
    assert "sent again next run" in caplog.text and [d.total for d in channels.of("data", SLACK)] == [1]

    raise_many(ledger_url, "invalid_item", "data", ["ITEM-7"])
    channels.down.clear()
    send_digests(ctx(ledger_url, config, run="scheduled__2"), channels)
    (caught_up,) = channels.of("data", EMAIL)
    assert sorted((line.type, line.count) for line in caught_up.lines) == [("invalid_item", 1), ("unmapped_sku", 1)]
    assert [sorted(line.type for line in d.lines) for d in channels.of("data", SLACK)] == [
        ["unmapped_sku"], ["invalid_item"]]


def test_exceptions_raised_within_the_settle_delay_wait_for_the_next_digest(ledger_url: str) -> None:
    config = integration({"settle_minutes": 5})
    channels = Recorder()
    raise_many(ledger_url, "unmapped_sku", "data", ["SO-1"])
    send_digests(ctx(ledger_url, config), channels)
    assert channels.sent == []
    age_everything(ledger_url, 6)
    send_digests(ctx(ledger_url, config, run="scheduled__2"), channels)
    assert [d.total for d in channels.of("data", EMAIL)] == [1]


def test_missing_alert_configuration_sends_nothing_and_says_so_once(ledger_url: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    config = integration({"teams": {"finance": {}, "data": {"emails": ["data@northwind.example"]}}},
                         alerts={"emails": []})
    targets, missing = plan_targets(config)
    assert targets == []
    assert missing == [
        "data: no e-mail digest (alerts.smtp_conn_id is not set)",
        "data: no Slack digest (neither digests.teams.data.slack_conn_id nor alerts.slack_conn_id is set)",
        "finance: no e-mail digest (digests.teams.finance.emails is empty)",
        "finance: no Slack digest (neither digests.teams.finance.slack_conn_id nor alerts.slack_conn_id is set)"]
    raise_many(ledger_url, "unmapped_sku", "data", ["SO-1"])
    raise_many(ledger_url, "orphaned_order", "ops", ["SO-2"])
    channels = Recorder()
    with caplog.at_level(logging.WARNING):
        result = send_digests(ctx(ledger_url, config), channels)
    assert channels.sent == [] and result["not_configured"] == missing
    assert caplog.text.count("alerts.smtp_conn_id is not set") == 1
    assert "new exceptions owned by ops reach no one" in caplog.text


def test_a_team_added_later_starts_with_what_is_new_not_with_history(ledger_url: str) -> None:
    channels = Recorder()
    raise_many(ledger_url, "orphaned_order", "ops", ["SO-OLD"])
    age_everything(ledger_url, 60)
    send_digests(ctx(ledger_url, integration()), channels)
    raise_many(ledger_url, "orphaned_order", "ops", ["SO-NEW"])
    with session_scope(ledger_url) as s:
        last_run = repo.get_cursor(s, "northwind", "exception_digest")
        assert last_run is not None and last_run.watermark is not None
        start = last_run.watermark - timedelta(minutes=2)  # what plan_window gives: the last run's end - lookback
    with_ops = integration({"teams": {**TEAMS, "ops": {"emails": ["ops@northwind.example"]}}})
    context = RunContext(with_ops, "exception_digest", "scheduled__2",
                         Window(start, utcnow() + timedelta(minutes=1), "since the last completed window"), ledger_url)
    send_digests(context, channels)
    (digest,) = channels.of("ops", EMAIL)
    assert [e.entity_key for line in digest.lines for e in line.examples] == ["SO-NEW"]


# --- configuration ------------------------------------------------------------------------------------------------
def problems_of(tmp_path: Path, digests: dict[str, Any], **extra: Any) -> list[str]:
    path = tmp_path / "northwind.yaml"
    path.write_text(yaml.safe_dump({**SAMPLE, "digests": digests, **extra}))
    _, problems = check_integration(path)
    return [f"{p.field}: {p.message}. Fix: {p.fix}" for p in problems]


def test_the_sample_files_configure_digests_for_their_owner_teams() -> None:
    for name in ("northwind", "bluebird"):
        config, problems = check_integration(ROOT / f"include/integrations/{name}.yaml")
        assert problems == [] and config is not None
        owners = {config.owner_of(t) for t in ("unmapped_sku", "wms_item_not_in_erp", "orphaned_order")}
        assert owners <= set(config.digests.teams)
        assert config.schedule_for("exception_digest") == config.digests.schedule == "0 * * * *"


@pytest.mark.parametrize(("digests", "extra", "expected"), [
    ({"schedule": "0 0 31 2 *"}, {}, r"^digests\.schedule: '0 0 31 2 \*' cannot be scheduled"),
    ({"schedule": "hourly"}, {}, r"^digests\.schedule: 'hourly' has 1 fields"),
    ({"teams": {"finance": {"emails": ["finance-at-example"]}}}, {},
     r"^digests\.teams\.finance\.emails: not an e-mail address: finance-at-example"),
    ({"teams": {"finanse": {"emails": ["f@example.com"]}}}, {},
     r"^digests\.teams\.finanse: 'finanse' owns no exception type \(owner teams: .*finance.*\)\. Fix: use one"),
    ({"dashboard_url": "airflow.example"}, {}, r"^digests\.dashboard_url: 'airflow\.example' is not the base URL"),
    ({"examples": 0}, {}, r"^digests\.examples: Input should be greater than or equal to 1"),
    ({"team": {}}, {}, r"^digests\.team: Extra inputs are not permitted"),
    ({}, {"schedules": {"exception_digest": "0 * * * *"}},
     r"^schedules\.exception_digest: the exception digest's schedule is set in the digests: section\. "
     r"Fix: move it to digests\.schedule"),
], ids=["never-fires", "not-cron", "bad-email", "unknown-team", "bad-url", "no-examples", "typo", "schedules"])
def test_bad_digest_settings_are_refused_naming_the_field(tmp_path: Path, digests: dict[str, Any],
                                                          extra: dict[str, Any], expected: str) -> None:
    problems = problems_of(tmp_path, digests, **extra)
    assert any(re.search(expected, p) for p in problems), problems


def test_a_team_may_be_a_member_of_joint_owners_and_a_renamed_owner(tmp_path: Path) -> None:
    assert problems_of(tmp_path, {"teams": {"warehouse": {}, "cx+warehouse": {}, "ecommerce": {}}}) == []
    assert problems_of(tmp_path, {"teams": {"buyers": {}}}, owners={"unmapped_sku": "buyers"}) == []
