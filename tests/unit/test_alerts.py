"""One alert per failed run, carrying the real error: the failed task alerts, and the DAG-level callback only
speaks for failures no task reported (a run timeout, a deadlock). Contexts are shaped as Airflow 3.3 builds them:
a task's carries ``exception``; a DAG run's, built by the DAG processor, carries ``reason`` (and the last task)."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest

from erp_wms_sync.airflow import alerts
from erp_wms_sync.connectors.redaction import remember
from erp_wms_sync.errors import ApiUnavailable

DAG = SimpleNamespace(dag_id="northwind__order_release")
RUN = "scheduled__2026-03-02T10:00:00+00:00"


def failed_ti(task_id: str = "fetch_orders") -> SimpleNamespace:
    return SimpleNamespace(task_id=task_id, try_number=4, state="failed", log_url="http://airflow/log")


def task_context(error: BaseException) -> dict[str, Any]:
    return {"dag": DAG, "run_id": RUN, "ti": failed_ti(), "task_instance": failed_ti(), "exception": error}


def run_context(reason: str, ti: Any = None) -> dict[str, Any]:
    context: dict[str, Any] = {"dag": DAG, "run_id": RUN, "reason": reason}
    if ti is not None:
        context.update(ti=ti, task_instance=ti)
    return context


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every alert handed to a channel: (channel, subject, body)."""
    outbox: list[tuple[str, str, str]] = []
    monkeypatch.setattr(alerts, "_email", lambda to, subject, body, conn, ctx: outbox.append(("email", subject, body)))
    monkeypatch.setattr(alerts, "_slack", lambda conn, subject, body, ctx: outbox.append(("slack", subject, body)))
    return outbox


def notify(context: dict[str, Any]) -> None:
    alerts.failure_callback("northwind", ["ops@northwind.example"], None, "erp_wms_slack")(context)


def test_a_failed_run_alerts_once_per_channel_with_the_real_error(sent: list[tuple[str, str, str]]) -> None:
    error = ApiUnavailable("cin7core", "GET saleList still failing after 6 attempts", status=503)
    notify(task_context(error))  # the task's callback (worker)
    notify(run_context("task_failure", failed_ti()))  # then the DAG's (DAG processor)
    assert [channel for channel, _, _ in sent] == ["email", "slack"]
    assert all("task fetch_orders (try 4)" in subject for _, subject, _ in sent)
    assert all("Error: cin7core: GET saleList still failing after 6 attempts | HTTP 503" in body
               for _, _, body in sent)


def test_a_run_failed_by_a_task_without_a_task_in_the_context_stays_quiet(sent: list[tuple[str, str, str]]) -> None:
    notify(run_context("task_failure"))  # the scheduler dropped last_ti (e.g. a pre-versioning record)
    assert sent == []


@pytest.mark.parametrize(("reason", "explained"), [
    ("timed_out", "the run exceeded its time limit (dagrun_timeout); its unfinished tasks were stopped"),
    ("all_tasks_deadlocked", "no task of the run could start"),
    ("something_new", "something_new"),
], ids=["timeout", "deadlock", "unknown-reason"])
def test_a_run_failure_no_task_reported_alerts(sent: list[tuple[str, str, str]], reason: str, explained: str) -> None:
    notify(run_context(reason, SimpleNamespace(task_id="write_to_wms", try_number=1, state="skipped")))
    assert len(sent) == 2
    _, subject, body = sent[0]
    assert subject == "[erp-wms-sync/northwind] northwind__order_release failed: DAG run (last task: write_to_wms)"
    assert f"Error: {explained}" in body and f"Run: {RUN}" in body


def test_a_context_without_reason_or_task_still_alerts(sent: list[tuple[str, str, str]]) -> None:
    notify({"dag_id": "northwind__item_master_sync", "run_id": RUN, "exception": "ApiUnavailable: 503"})
    assert len(sent) == 2 and "Error: ApiUnavailable: 503" in sent[0][2]


def test_alert_text_is_scrubbed_of_every_known_credential(sent: list[tuple[str, str, str]]) -> None:
    key = "alert-test-key/9f8e+7d6"
    remember(key)
    leaked = base64.b64encode(f"user:{key}".encode()).decode()
    notify(task_context(RuntimeError(f"library said Authorization: Basic {leaked}")))
    for _, subject, body in sent:
        assert leaked not in body and key not in body and "Basic " in body and "***" in body
        assert key not in subject
