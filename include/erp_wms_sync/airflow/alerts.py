"""Failure alerts, wired through one function for every task and DAG of an integration: one alert per failed
run, carrying the real error.

:func:`failure_callback` returns the callable used as ``on_failure_callback`` at task level (via default_args)
and at DAG level. Who reports what:

- **A task** alerts when it fails for good. Airflow calls a task's ``on_failure_callback`` only for a try that
  ends ``failed``; a try that will be retried ends ``up_for_retry`` and gets ``on_retry_callback`` instead (task
  runner ``finalize``; the DAG processor picks the same way for tasks whose worker died). The alert carries the
  exception.
- **The DAG run** alerts only for failures no task reported. Airflow 3.3 builds the DAG-level callback context
  in the DAG processor with ``reason`` set by the scheduler: ``task_failure`` means a task of the run ended
  ``failed``, and that task's own callback has already sent the alert with the real error, so the run stays
  quiet (before, every failure alerted twice, the second time with only "task_failure"). Any other reason
  (``timed_out``: the run outlived ``dagrun_timeout`` and its unfinished tasks were stopped, which fires no task
  callback; ``all_tasks_deadlocked``) alerts, explained in words.

Each call builds fresh notifiers (a notifier renders its fields onto itself, so sharing one between tasks would
mix messages) and sends plain text that was already formatted here, so nothing in an error message is ever
evaluated as a template. Subject and body pass through redaction first: every form of every credential this
process used (:func:`~erp_wms_sync.connectors.redaction.redact_known`) and whatever Airflow's secrets masker
holds. A missing or unreachable alert connection is logged, never raised: an alert problem must not hide the
original failure.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from erp_wms_sync.connectors.redaction import redact_known

log = logging.getLogger(__name__)

TASK_FAILURE = "task_failure"
RUN_REASONS = {
    "timed_out": "the run exceeded its time limit (dagrun_timeout); its unfinished tasks were stopped",
    "all_tasks_deadlocked": "no task of the run could start (their upstream states can never be met)",
}


def is_run_level(context: Mapping[str, Any]) -> bool:
    """A DAG-level callback context: it has the scheduler's ``reason``; a task's context never does."""
    return "reason" in context and context.get("exception") is None


def reported_by_a_task(context: Mapping[str, Any]) -> bool:
    """A DAG-level failure whose cause a failed task already alerted (its own callback carried the error)."""
    return is_run_level(context) and str(context.get("reason")) == TASK_FAILURE


def describe_failure(context: Mapping[str, Any], integration: str) -> tuple[str, str]:
    """(subject, body) of an alert, from a task context or a DAG-level callback context; redacted."""
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or str(context.get("dag_id", "?"))
    ti = context.get("ti") or context.get("task_instance")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    task_id = getattr(ti, "task_id", None)
    if is_run_level(context):
        reason = str(context.get("reason"))
        where = "DAG run" + (f" (last task: {task_id})" if task_id else "")
        problem = RUN_REASONS.get(reason, reason)
    else:
        where = f"task {task_id} (try {getattr(ti, 'try_number', '?')})" if task_id else "DAG run"
        problem = str(context.get("exception") or "failed")
    subject = f"[erp-wms-sync/{integration}] {dag_id} failed: {where}"
    lines = [f"Integration: {integration}", f"DAG: {dag_id}", f"Run: {run_id}", f"Where: {where}",
             f"Error: {problem}"]
    log_url = getattr(ti, "log_url", None)
    if log_url:
        lines.append(f"Log: {log_url}")
    lines.append("Runbook: docs/runbook.md (see the section for this flow); exceptions: the ERP-WMS "
                 "Exceptions view in Airflow.")
    return scrub(subject), scrub("\n".join(lines))


def scrub(text: str) -> str:
    """``text`` without any form of a credential this process knows, then through Airflow's secrets masker."""
    text = redact_known(text)
    try:
        from airflow.sdk._shared.secrets_masker import redact as airflow_redact
    except ImportError:  # outside an Airflow runtime there is no masker: our own redaction is all there is
        return text
    redacted = airflow_redact(text)
    return redacted if isinstance(redacted, str) else text


def send_failure_alerts(context: Mapping[str, Any], *, integration: str, emails: tuple[str, ...],
                        smtp_conn_id: str | None, slack_conn_id: str | None) -> None:
    """Send the alert of this failure unless a task of the same run already sent it (see the module doc)."""
    if reported_by_a_task(context):
        log.info("run %s failed because a task failed; that task's alert already carried the error",
                 context.get("run_id", "?"))
        return
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
        log.error("could not send the %s alert: %s: %s", channel, type(exc).__name__, scrub(str(exc)))


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
