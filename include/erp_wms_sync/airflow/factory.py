"""The DAG factory: one DAG per integration × flow, id ``<integration>__<flow>``.

Built from the integration YAML files with no I/O beyond reading them (no network, no database, no pandas or
Great Expectations at parse time). Shared here, in one place: default_args (owner, retries with exponential
backoff, failure alerts), a pool per external API, ``max_active_runs=1`` (windows of one flow never overlap),
and data-interval timetables so a backfill re-reads its window (from its start).

One integration whose DAG cannot be built (a builder raises) loses its DAGs and nobody else's: the error is
logged, and ``dags/erp_wms_sync_config_check.py`` reports it as an import error naming the integration's file
(:func:`build_problems`). A folder parse in one process builds each DAG once, whichever of the two files is parsed
first, and never hands the same DAG objects to two parses (see :func:`build`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from erp_wms_sync.airflow.alerts import failure_callback
from erp_wms_sync.config import Integration
from erp_wms_sync.config_sections import Problem

if TYPE_CHECKING:
    from erp_wms_sync.config import Scan

log = logging.getLogger(__name__)

OWNER = "erp-wms-sync"
START_DATE = datetime(2026, 1, 1)
POOLS = {
    # pool name: (slots, description). Slots bound concurrency; the clients' token buckets bound the rate.
    "cin7core_api": (2, "Cin7 Core External API: 60 calls per rolling minute per application key"),
    "bluecherry_api": (2, "BlueCherry API gateway (APIM): 429 above its per-minute quota"),
    "peoplevox_api": (4, "Peoplevox IntegrationServiceV4 (SOAP)"),
    # dispatch confirmation never queues behind release tasks for a slot; its ERP calls still spend the key's
    # shared budget, at HIGH priority
    "dispatch_api": (4, "Despatch confirmations (Peoplevox report + ERP fulfilment), latency-critical"),
}
DISPATCH_POOL = "dispatch_api"


def erp_pool(integration: Integration) -> str:
    return f"{integration.erp.kind.value}_api"


WMS_POOL = "peoplevox_api"


def default_args(integration: Integration) -> dict[str, Any]:
    alerts = integration.alerts
    return {
        "owner": OWNER,
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=20),
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": failure_callback(integration.name, alerts.emails, alerts.smtp_conn_id,
                                                alerts.slack_conn_id),
    }


def window_params() -> dict[str, Param]:
    return {
        "full": Param(False, type="boolean", description="Read everything, not just the window."),
        "window_start": Param(None, type=["null", "string"], format="date-time",
                              description="Explicit window start (ISO 8601, UTC if no offset)."),
        "window_end": Param(None, type=["null", "string"], format="date-time",
                            description="Explicit window end (ISO 8601)."),
    }


def timetable(integration: Integration, flow: str) -> CronDataIntervalTimetable:
    return CronDataIntervalTimetable(integration.schedule_for(flow), timezone=integration.timezone)


def new_dag(integration: Integration, flow: str, doc: str, schedule: Any = None) -> DAG:
    """A DAG with the project's conventions; the flow module adds its tasks."""
    return DAG(
        dag_id=f"{integration.name}__{flow}",
        description=f"{integration.label}: {flow.replace('_', ' ')}",
        doc_md=doc,
        schedule=schedule if schedule is not None else timetable(integration, flow),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        default_args=default_args(integration),
        on_failure_callback=failure_callback(integration.name, integration.alerts.emails,
                                             integration.alerts.smtp_conn_id, integration.alerts.slack_conn_id),
        params=window_params(),
        tags=["erp-wms-sync", integration.name, f"erp:{integration.erp.kind.value}", "wms:peoplevox", flow],
        is_paused_upon_creation=flow in integration.paused_flows,
        auto_register=False,  # registered by the DAG file's globals only: checking a build registers nothing
    )


@dataclass(frozen=True)
class BuildFailure:
    """An integration whose DAGs could not be built: the flow whose builder raised, and the error."""

    integration: str
    flow: str
    error: str

    def problem(self, file: str) -> Problem:
        return Problem(file, f"(DAG {self.integration}__{self.flow})",
                       f"the DAG could not be built, so {self.integration} has no DAGs: {self.error}",
                       "the file passed validation, so check the settings this flow uses (schedules, timezone, "
                       "orders, locations) against the README; the full error is in the DAG processor log of "
                       "erp_wms_sync_dags.py. The other integrations keep their DAGs")


@dataclass(frozen=True)
class Build:
    """The DAGs built for a set of integrations, and the integrations left out because a builder raised."""

    dags: dict[str, DAG]
    failures: tuple[BuildFailure, ...]


Builder = Callable[[Integration], DAG]


@dataclass
class _Kept:
    """The last build, what it was built from (held, so the ids in ``key`` stay theirs), and whether a DAG file
    has registered its DAGs already."""

    key: tuple[int, ...]
    sources: tuple[Any, ...]
    build: Build
    registered: bool


_KEPT: list[_Kept] = []


def build(integrations: Iterable[Integration], *, register: bool = True) -> Build:
    """Build every flow's DAG of each integration; an integration one of whose builders raises gets no DAG at all
    (half an integration would run order release without its item sync) and is reported, the rest are built.

    The last build is kept. A caller asking for the same integration objects and builders (the config cache hands
    out the same objects while the files are unchanged) reuses it — the config check (``register=False``) to read
    its failures, a DAG file to register its DAGs, but only DAGs no DAG file registered yet: a folder parse builds
    once, whichever file is parsed first, and two parses never share DAG objects."""
    from erp_wms_sync.airflow.dags import FLOW_BUILDERS

    given, builders = tuple(integrations), tuple(FLOW_BUILDERS.items())
    key = tuple(id(i) for i in given) + tuple(id(b) for _, b in builders)
    kept = _KEPT[0] if _KEPT and _KEPT[0].key == key else None
    if kept is not None and not (register and kept.registered):
        kept.registered = kept.registered or register
        return kept.build
    dags: dict[str, DAG] = {}
    failures: list[BuildFailure] = []
    for integration in given:
        built, failure = _build_one(integration, builders)
        dags.update(built)
        if failure is not None:
            failures.append(failure)
    result = Build(dags, tuple(failures))
    _KEPT[:] = [_Kept(key, (given, builders), result, register)]
    return result


def _build_one(integration: Integration, builders: tuple[tuple[str, Builder], ...]
               ) -> tuple[dict[str, DAG], BuildFailure | None]:
    from erp_wms_sync.airflow.dags import FLOW_ERPS

    dags: dict[str, DAG] = {}
    for flow, builder in builders:
        if flow in FLOW_ERPS and integration.erp.kind.value not in FLOW_ERPS[flow]:
            continue
        try:
            dag = builder(integration)
        except Exception as exc:  # one integration's defect must not take the others' DAGs down
            log.error("%s: the %s DAG could not be built; the integration gets no DAGs until this is fixed: %s",
                      integration.name, flow, exc, exc_info=True)
            return {}, BuildFailure(integration.name, flow, f"{type(exc).__name__}: {exc}"[:1000])
        dags[dag.dag_id] = dag
    return dags, None


def build_dags(integrations: Iterable[Integration]) -> dict[str, DAG]:
    """DAGs for the integrations given (already validated: ``config.scan_folder(...).integrations``); an
    integration whose builder raises is left out (see :func:`build`)."""
    return build(integrations).dags


def build_problems(scan: Scan) -> list[Problem]:
    """The scan's file problems, then one problem per integration whose DAGs could not be built (named by its
    file), for the config-check DAG file to raise as one import error."""
    files = {p.stem: p for p in sorted(scan.files, key=lambda p: p.suffix == ".yaml")}  # <name>.yaml wins
    failures = build(scan.integrations, register=False).failures
    return list(scan.problems) + [f.problem(str(files.get(f.integration, Path(f"{f.integration}.yaml"))))
                                  for f in failures]
