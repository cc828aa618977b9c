"""Failure alerts, wired through one function for every task and DAG of an integration.

:func:`failure_callback` returns the callable used as ``on_failure_callback`` (task level via default_args, and
DAG level). Each call builds fresh notifiers (a notifier renders its fields onto itself, so sharing one between
tasks would mix messages) and sends plain text that was already formatted here, so nothing in an error message
is ever evaluated as a template. A missing or unreachable alert connection is logged, never raised: an alert
problem must not hide the original failure.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

log = logging.getLogger(__name__)


def describe_failure(context: Mapping[str, Any], integration: str) -> tuple[str, str]:
    """(subject, body) of an alert, from a task context or a DAG-level callback context."""
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or str(context.get("dag_id", "?"))
    ti = context.get("ti") or context.get("task_instance")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    task_id = getattr(ti, "task_id", None)
    problem = context.get("exception") or context.get("reason") or "failed"
    where = f"task {task_id} (try {getattr(ti, 'try_number', '?')})" if task_id else "DAG run"
    subject = f"[erp-wms-sync/{integration}] {dag_id} failed: {where}"
    lines = [f"Integration: {integration}", f"DAG: {dag_id}", f"Run: {run_id}", f"Where: {where}",
             f"Error: {problem}"]
    log_url = getattr(ti, "log_url", None)
    if log_url:
        lines.append(f"Log: {log_url}")
    lines.append("Runbook: docs/runbook.md (see the section for this flow); exceptions: the ERP-WMS "
                 "Exceptions view in Airflow.")
    return subject, "\n".join(lines)


def send_failure_alerts(context: Mapping[str, Any], *, integration: str, emails: tuple[str, ...],
                        smtp_conn_id: str | None, slack_conn_id: str | None) -> None:
    subject, body = describe_failure(context, integration)
    log.error("ALERT %s\n%s", subject, body)
    if emails:
        _send(lambda: _email(emails, subject, body, smtp_conn_id, context), "e-mail")
    if slack_conn_id:
        _send(lambda: _slack(slack_conn_id, subject, body, context), "Slack")


def _send(action: Callable[[], None], channel: str) -> None:
    try:
        action()
    except Exception as exc:  # alerting must never mask the failure being reported
        log.error("could not send the %s alert: %s: %s", channel, type(exc).__name__, exc)


def _email(to: tuple[str, ...], subject: str, body: str, conn_id: str | None, context: Any) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    content = "<pre>" + html.escape(body) + "</pre>"
    SmtpNotifier(to=list(to), subject=subject, html_content=content, smtp_conn_id=conn_id).notify(context)


def _slack(conn_id: str, subject: str, body: str, context: Any) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=f":red_circle: {subject}\n{body}").notify(context)


def failure_callback(integration: str, emails: list[str], smtp_conn_id: str | None,
                     slack_conn_id: str | None) -> Callable[[Mapping[str, Any]], None]:
    return partial(send_failure_alerts, integration=integration, emails=tuple(emails),
                   smtp_conn_id=smtp_conn_id, slack_conn_id=slack_conn_id)
