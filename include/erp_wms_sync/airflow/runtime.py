"""What a task does before calling a flow step: resolve the window, the ledger and the clients.

Everything here runs inside tasks (never at parse time). Errors that a retry cannot fix (a failed data check,
bad configuration) become ``AirflowFailException`` so the task fails at once instead of retrying.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from erp_wms_sync.config import Integration
from erp_wms_sync.connectors.budget import Priority
from erp_wms_sync.domain.windows import Window, resolve_window
from erp_wms_sync.errors import ConfigError, DataCheckFailed, LedgerError

if TYPE_CHECKING:
    from erp_wms_sync.flows.common import RunContext

log = logging.getLogger(__name__)
T = TypeVar("T")


def no_retry_on_bad_data(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from airflow.sdk.exceptions import AirflowFailException

        try:
            return fn(*args, **kwargs)
        except (DataCheckFailed, ConfigError, LedgerError) as exc:
            raise AirflowFailException(str(exc)) from exc

    return wrapper


def ledger_url() -> str | None:
    from erp_wms_sync.airflow.hooks import ledger_url as from_connection

    return from_connection()


def plan_window(integration: Integration, flow: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Decide this run's window (see erp_wms_sync.domain.windows) and check the ledger is migrated."""
    from erp_wms_sync.ledger import repo
    from erp_wms_sync.ledger.db import ensure_migrated, session_scope

    url = ledger_url()
    ensure_migrated(url)
    dag_run = context["dag_run"]
    conf = {**dict(context.get("params") or {}), **dict(getattr(dag_run, "conf", None) or {})}
    with session_scope(url) as session:
        cursor = repo.get_cursor(session, integration.name, flow)
        watermark = cursor.watermark if cursor else None
    window = resolve_window(
        interval_start=context.get("data_interval_start"), interval_end=context.get("data_interval_end"),
        run_after=dag_run.run_after, conf=conf, watermark=watermark,
        is_backfill=str(getattr(dag_run, "run_type", "")).endswith("backfill"))
    log.info("%s %s: window %s", integration.name, flow, window.describe())
    return {"start": window.start.isoformat() if window.start else None, "end": window.end.isoformat(),
            "reason": window.reason}


def run_context(integration: Integration, flow: str, window: Mapping[str, Any],
                context: Mapping[str, Any]) -> RunContext:
    from erp_wms_sync.flows.common import RunContext

    start = datetime.fromisoformat(window["start"]) if window.get("start") else None
    return RunContext(integration=integration, flow=flow, run_id=str(context["run_id"]),
                      window=Window(start, datetime.fromisoformat(window["end"]), str(window["reason"])),
                      ledger_url=ledger_url())


def erp_client(integration: Integration, priority: Priority = Priority.NORMAL) -> Any:
    """The ERP client, spending the API budget its key shares in the ledger with every other task and process.

    ``erp.rate_per_minute`` is the key's limit per window (60 s, or the connection extra
    ``rate_window_seconds``); ``priority`` decides who goes first when tasks wait for that budget.
    """
    from erp_wms_sync.airflow.hooks import erp_hook
    from erp_wms_sync.ledger.db import resolve_url

    return erp_hook(integration.erp.kind.value, integration.erp.conn_id,
                    rate_per_minute=integration.erp.rate_per_minute, budget_url=resolve_url(ledger_url()),
                    priority=priority).get_client()


def wms_client(integration: Integration) -> Any:
    from erp_wms_sync.airflow.hooks import PeoplevoxHook

    return PeoplevoxHook(integration.wms.conn_id, page_size=integration.wms.page_size,
                         save_batch_size=integration.wms.save_batch_size).get_client()


def make_client(integration: Integration, kind: str, priority: Priority = Priority.NORMAL) -> Any:
    """``erp``: the ERP client; ``wms``: the Peoplevox client; ``orders``: the ERP's order source adapter.

    ``priority`` applies to the ERP's API budget (Peoplevox publishes no limit and is not budgeted).
    """
    if kind == "erp":
        return erp_client(integration, priority)
    if kind == "wms":
        return wms_client(integration)
    if kind == "orders":
        from erp_wms_sync.flows.order_sources import order_source

        return order_source(integration, erp_client(integration, priority))
    raise ValueError(f"unknown client kind {kind!r}")


def run_step(integration: Integration, flow: str, step: Callable[..., Any], client: str | None,
             window: Mapping[str, Any], context: Mapping[str, Any], priority: Priority = Priority.NORMAL) -> Any:
    """Call a flow step with the run context (and the client it needs, spending the ERP budget at ``priority``).

    ``step`` is a function object the task body imported itself: nothing is resolved from a string here. The step
    holds its flow's lease in the ledger while it runs (:mod:`erp_wms_sync.ledger.leases`).
    ``client`` may name several clients joined by ``+`` (``"wms+orders"``): the step gets them in that order."""
    from erp_wms_sync.ledger.leases import exclusive

    ctx = run_context(integration, flow, window, context)
    task = getattr(context.get("ti") or context.get("task_instance"), "task_id", None) or step.__name__
    # one writer per flow and integration, also when a backfill run overlaps a scheduled one (see leases)
    with exclusive(ctx.ledger_url, integration.name, flow, f"{ctx.run_id}/{task}"):
        if client is None:
            return step(ctx)
        return step(ctx, *(make_client(integration, kind, priority) for kind in client.split("+")))
