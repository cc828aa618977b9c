"""Run a Great Expectations suite on a DataFrame inside a task and say which rows failed which check.

GX and pandas are imported here, lazily, never at DAG parse time. Suites are built in code (see
``erp_wms_sync.checks.suites``) as a list of :class:`Check`; the runner returns a :class:`CheckOutcome` with
the failing row positions per check, so the flow can hold exactly the bad records and let the good ones go.
The JSON-safe summary is stored in the ledger (``check_results``) for the exceptions dashboard.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One expectation: the GX class name, its kwargs, and the words a user reads when it fails."""

    expectation: str
    kwargs: dict[str, Any]
    reason: str
    category: str = ""  # the exception type a failure of this check raises (flows with several kinds)


@dataclass
class CheckOutcome:
    suite: str
    success: bool
    evaluated: int
    failures: dict[int, list[str]] = field(default_factory=dict)  # row position -> reasons
    categories: dict[int, list[str]] = field(default_factory=dict)  # row -> exception type per reason (parallel)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_records(self) -> int:
        return len(self.failures)

    @property
    def failed_expectations(self) -> list[str]:
        return [r["expectation"] for r in self.summary.get("results", []) if not r["success"]]


def run_checks(suite_name: str, frame: pd.DataFrame, checks: Sequence[Check]) -> CheckOutcome:
    """Validate ``frame`` (positional RangeIndex expected) with an ephemeral GX context."""
    if frame.empty:
        return CheckOutcome(suite_name, True, 0, summary={"suite": suite_name, "evaluated": 0, "results": []})
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    frame = frame.reset_index(drop=True)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas("frames").add_dataframe_asset(suite_name)
             .add_batch_definition_whole_dataframe("whole"))
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for check in checks:
        suite.add_expectation(getattr(gxe, check.expectation)(**check.kwargs))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name}-validation", data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": frame},
                            result_format={"result_format": "COMPLETE", "partial_unexpected_count": 20})
    return _outcome(suite_name, len(frame), checks, result)


def _outcome(suite_name: str, evaluated: int, checks: Sequence[Check], result: Any) -> CheckOutcome:
    failures: dict[int, list[str]] = {}
    categories: dict[int, list[str]] = {}
    summaries = []
    for check, res in zip(checks, result.results, strict=True):
        info = res.result or {}
        rows = [int(i) for i in info.get("unexpected_index_list") or []]
        for row in rows:
            failures.setdefault(row, []).append(check.reason)
            categories.setdefault(row, []).append(check.category)
        summaries.append({
            "expectation": check.expectation,
            "column": check.kwargs.get("column"),
            "reason": check.reason,
            "success": bool(res.success),
            "unexpected_count": int(info.get("unexpected_count") or 0),
            "sample": [str(v) for v in (info.get("partial_unexpected_list") or [])[:10]],
        })
    success = bool(result.success)
    summary = {"suite": suite_name, "evaluated": evaluated, "failed_records": len(failures),
               "success": success, "results": summaries}
    log.info("data check %s: %d evaluated, %d records failed", suite_name, evaluated, len(failures))
    return CheckOutcome(suite_name, success, evaluated, failures, categories, summary)
