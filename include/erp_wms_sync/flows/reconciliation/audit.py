"""The pre-go-live audit (``erp-wms-sync audit <integration>``): reconciliation's comparisons run once, on demand,
against both systems before any sync has run — no ledger history needed.

Sections, each read and compared on its own (one that cannot be read is reported as such; the others still run):

1. **mapping** — ERP locations / warehouses without a Peoplevox site in the YAML's ``locations``, Peoplevox sites
   no location maps to, sites the YAML names that Peoplevox lacks;
2. **items** — ERP SKUs Peoplevox has no Item type for, Item types no ERP SKU maps to (created by hand), name and
   barcode drift;
3. **orders** — orders in limbo (open in the ERP, unfinished in Peoplevox, no progress for
   ``reconciliation.limbo_hours``), orders live in Peoplevox the ERP does not know, despatched in Peoplevox but open
   in the ERP, cancelled in the ERP but live in Peoplevox;
4. **stock** — ERP on-hand against Peoplevox per SKU × location, nothing in flight (no movement has been synced).

The order comparison needs a ledger only for what the integration released; the audit gives it an empty,
temporary one. The report is written with the reconciliation report's writer (HTML + CSVs).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from erp_wms_sync.config import Integration
from erp_wms_sync.domain import reconciliation_findings as rules
from erp_wms_sync.domain.windows import Window
from erp_wms_sync.errors import ApiError
from erp_wms_sync.flows.common import RunContext

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

FLOW = "audit"
SECTIONS = ("mapping", "items", "orders", "stock")
EXAMPLES = 5


@dataclass
class AuditResult:
    """What the audit found: ``findings`` (:data:`FINDING_COLUMNS`), the stock differences, per section its status
    (``compared`` or ``not read: <why>``), the systems that could not be read, and the report folder."""

    integration: str
    at: datetime
    findings: pd.DataFrame
    stock: pd.DataFrame | None = None
    stock_totals: dict[str, int] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    report: Path | None = None

    def counts(self) -> dict[str, int]:
        return rules.kind_counts(self.findings)

    def summary(self, examples: int = EXAMPLES) -> dict[str, Any]:
        """Counts per finding kind with the first few examples each, the stock totals and the section statuses."""
        kinds: dict[str, Any] = {}
        for kind, count in self.counts().items():
            rows = self.findings[self.findings["kind"] == kind].head(examples)
            kinds[kind] = {"count": count, "examples": [{"key": r.key, "erp": r.erp_value, "wms": r.wms_value,
                                                          "summary": r.summary} for r in rows.itertuples()]}
        stock: dict[str, Any] = dict(self.stock_totals)
        if self.stock is not None and len(self.stock):
            stock["worst"] = [{"sku": r.sku, "location": r.location, "erp": int(r.erp_on_hand),
                               "wms": int(r.wms_on_hand), "variance": int(r.variance)}
                              for r in self.stock.head(examples).itertuples()]
        return {"integration": self.integration, "at": self.at.isoformat(timespec="seconds"),
                "sections": dict(self.sections), "findings": kinds, "stock": stock,
                "unreadable_rows": len(self.problems), "failures": list(self.failures),
                "report": str(self.report) if self.report else None}

    def lines(self, examples: int = EXAMPLES) -> list[str]:
        """The summary as text a person reads in a terminal."""
        data = self.summary(examples)
        out = [f"Audit of {self.integration} at {data['at']}"]
        out += [f"  {name}: {status}" for name, status in self.sections.items()]
        for kind, info in data["findings"].items():
            out.append(f"{kind}: {info['count']}")
            out += [f"  - {example['summary']}" for example in info["examples"]]
            if info["count"] > len(info["examples"]):
                out.append(f"  … and {info['count'] - len(info['examples'])} more (see the report)")
        if self.stock_totals:
            totals = self.stock_totals
            out.append(f"stock: {totals.get('pairs', 0)} SKU x location pairs, {totals.get('matching', 0)} match, "
                       f"{totals.get('breaches', 0)} outside tolerance, {totals.get('abs_variance_units', 0)} units "
                       f"apart in all")
            out += [f"  - {w['sku']} @ {w['location']}: ERP {w['erp']}, Peoplevox {w['wms']} "
                    f"(variance {w['variance']:+d})" for w in data["stock"].get("worst", [])]
        if self.problems:
            out.append(f"rows that could not be compared: {len(self.problems)} (listed in the report)")
        out += [f"could not read {failure}" for failure in self.failures]
        if self.report:
            out.append(f"report: {self.report / 'report.html'}")
        return out


def run_audit(integration: Integration, wms: Any, erp: Any, *, now: datetime | None = None,
              out_dir: Path | str | None = None) -> AuditResult:
    """Run every section against the live systems and write the report (see the module docstring)."""
    from erp_wms_sync.ledger.db import upgrade

    moment = (now or datetime.now(UTC)).astimezone(UTC)
    result = AuditResult(integration.name, moment, rules.empty_findings())
    with tempfile.TemporaryDirectory(prefix="erp-wms-audit-") as folder:
        url = f"sqlite:///{Path(folder) / 'audit-ledger.db'}"
        upgrade(url)
        ctx = RunContext(integration=integration, flow=FLOW, run_id=f"audit-{moment:%Y%m%dT%H%M%SZ}",
                         window=Window(None, moment, "audit"), ledger_url=url)
        parts = [_section(result, "mapping", lambda: _mapping(integration, wms, erp)),
                 _section(result, "items", lambda: _items(ctx, wms, erp)),
                 _section(result, "orders", lambda: _orders(ctx, wms, erp, moment))]
        _section(result, "stock", lambda: _stock(result, integration, wms, erp))
    result.findings = rules.combine([p for p in parts if p is not None])
    result.report = _write(result, integration, out_dir)
    return result


def _section(result: AuditResult, name: str, read: Callable[[], Any]) -> Any:
    """Run one section; an API that cannot be read (or answers malformed data) is recorded, naming the system."""
    try:
        value = read()
    except ApiError as exc:
        result.sections[name] = f"not read: {exc.system} could not be read"
        result.failures.append(f"{exc.system} ({name}): {exc}")
        return None
    except ValueError as exc:  # FindingsInputError, ReconciliationInputError: a malformed answer
        result.sections[name] = "not compared: an answer was malformed"
        result.failures.append(f"{name}: {exc}")
        return None
    result.sections[name] = "compared"
    return value


def _mapping(integration: Integration, wms: Any, erp: Any) -> pd.DataFrame:
    from erp_wms_sync.flows.reconciliation.findings import mapping_findings

    return mapping_findings(integration, wms, erp)


def _items(ctx: RunContext, wms: Any, erp: Any) -> pd.DataFrame:
    from erp_wms_sync.flows.reconciliation.findings import items_findings

    return items_findings(ctx, wms, erp)


def _orders(ctx: RunContext, wms: Any, erp: Any, now: datetime) -> pd.DataFrame:
    from erp_wms_sync.flows.reconciliation.findings import orders_findings

    return orders_findings(ctx, wms, erp, now)


def _stock(result: AuditResult, integration: Integration, wms: Any, erp: Any) -> None:
    """Peoplevox first, then the ERP (as the nightly run reads them), compared with nothing in flight."""
    from erp_wms_sync.domain.reconciliation import Tolerance, compare_stock
    from erp_wms_sync.flows.reconciliation.stock import erp_stock, wms_stock

    wms_frame, problems = wms_stock(integration, wms)
    erp_frame = erp_stock(integration, erp, problems=problems)
    tolerance = Tolerance(integration.reconciliation.tolerance_units, integration.reconciliation.tolerance_pct)
    comparison = compare_stock(erp_frame, wms_frame, None, tolerance)
    result.stock = comparison.differences
    result.stock_totals = comparison.summary()
    result.problems = [p.as_dict() for p in problems]


def _write(result: AuditResult, integration: Integration, out_dir: Path | str | None) -> Path:
    from erp_wms_sync.flows.reconciliation.report import write_report

    label = f"audit-{result.at:%Y%m%dT%H%M%SZ}"
    summary: dict[str, Any] = {"kind": "pre-go-live audit", "at": result.at.isoformat(timespec="seconds"),
                               "sections": dict(result.sections), **{f"findings: {kind}": count
                                                                     for kind, count in result.counts().items()},
                               **{f"stock: {key}": value for key, value in result.stock_totals.items()}}
    if result.failures:
        summary["could not read"] = "; ".join(result.failures)
    return write_report(integration.name, label, out_dir, title=f"Pre-go-live audit: {integration.label}",
                        summary=summary, stock=result.stock, findings=result.findings, proposals=None,
                        trends=None, history_totals=[], problems=result.problems)
