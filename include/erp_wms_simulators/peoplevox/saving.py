"""SaveData semantics: upsert (or delete) template records from CSV, one outcome per record.

- The CSV header names template columns (any subset, any order, names matched ignoring case); the key
  column(s) must be present. An unknown or repeated column refuses the whole request.
- Each data row is one record, keyed by the template key: a new key inserts, a known key updates the
  columns given. An empty cell leaves an existing value unchanged unless the setting
  ``empty_cell_keeps_value`` is off [I].
- A record the template's validator refuses is reported as ``Error`` with its reason; the rest are saved.
- Action 2 deletes the records named by key; Action 1 ("do not allocate") is accepted and has no
  effect on these templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from erp_wms_simulators.peoplevox.csvdata import CsvTable
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.templates import SaveContext, TemplateSpec

if TYPE_CHECKING:
    from erp_wms_simulators.peoplevox.state import Tenant

ACTION_NONE = 0
ACTION_DO_NOT_ALLOCATE = 1
ACTION_DELETE = 2
ACTIONS = (ACTION_NONE, ACTION_DO_NOT_ALLOCATE, ACTION_DELETE)


class SaveRejected(ValueError):
    """The whole SaveData request is refused (nothing saved)."""


@dataclass
class SaveOutcome:
    saved: int = 0
    statuses: list[tuple[str, str]] = field(default_factory=list)  # (Reference, "Success" | "Error")
    failures: list[tuple[str, str]] = field(default_factory=list)  # (Reference, reason)

    def success(self, reference: str) -> None:
        self.saved += 1
        self.statuses.append((reference, "Success"))

    def error(self, reference: str, reason: str) -> None:
        self.statuses.append((reference, "Error"))
        self.failures.append((reference, reason))


def map_columns(spec: TemplateSpec, names: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """Canonical column names for ``names``; raises SaveRejected naming unknown or repeated columns."""
    by_lower = {column.lower(): column for column in allowed}
    mapped: list[str] = []
    unknown: list[str] = []
    for name in names:
        canonical = by_lower.get(name.strip().lower())
        if canonical is None:
            unknown.append(name)
        elif canonical in mapped:
            raise SaveRejected(f"Column '{canonical}' appears more than once in the CSV header")
        else:
            mapped.append(canonical)
    if unknown:
        raise SaveRejected(f"Unknown column(s) for template '{spec.name}': {', '.join(unknown)}. "
                           f"Importable columns: {','.join(allowed)}")
    return mapped


def missing_key(spec: TemplateSpec, cells: Mapping[str, str]) -> str | None:
    missing = [column for column in spec.key if not (cells.get(column) or "").strip()]
    return f"{' and '.join(missing)} is required" if missing else None


def upsert_record(tenant: Tenant, spec: TemplateSpec, cells: Mapping[str, str],
                  settings: PeoplevoxSettings) -> str | None:
    """Insert or update one record; returns the reason it was refused, or ``None`` when saved."""
    problem = missing_key(spec, cells)
    if problem:
        return problem
    table = tenant.table(spec.name)
    key = spec.record_key(cells)
    existing = table.get(key)
    if existing is None:
        merged = {column: "" for column in spec.columns} | dict(spec.defaults)
    else:
        merged = dict(existing)
    for column, value in cells.items():
        if existing is not None and value == "" and settings.empty_cell_keeps_value:
            continue
        merged[column] = value
    for column in spec.key:
        merged[column] = merged[column].strip()
    ctx = SaveContext(spec.name, table, tenant.tables, settings, existing is None)
    problem = spec.validate(merged, ctx)
    if problem:
        return problem
    table[key] = merged
    return None


def delete_record(tenant: Tenant, spec: TemplateSpec, cells: Mapping[str, str]) -> str | None:
    problem = missing_key(spec, cells)
    if problem:
        return problem
    key = spec.record_key(cells)
    if tenant.table(spec.name).pop(key, None) is None:
        return f"{spec.name} record '{key}' not found"
    return None


def save_csv(tenant: Tenant, spec: TemplateSpec, csv_table: CsvTable, action: int,
             settings: PeoplevoxSettings) -> SaveOutcome:
    """Apply every row of ``csv_table``; raises SaveRejected when the request as a whole is wrong."""
    if action not in ACTIONS:
        raise SaveRejected(f"Action {action} is not valid (0 = none, 1 = do not allocate, 2 = delete)")
    if not csv_table.header:
        raise SaveRejected("CsvData is empty: expected a header row of column names")
    columns = map_columns(spec, csv_table.header, spec.importable)
    absent = [column for column in spec.key if column not in columns]
    if absent:
        raise SaveRejected(f"The CSV header must contain the key column(s) {', '.join(absent)} "
                           f"of template '{spec.name}'")
    outcome = SaveOutcome()
    for line, values in csv_table.rows:
        cells = dict(zip(columns, values, strict=False))
        reference = spec.record_key(cells)
        if len(values) > len(columns):
            outcome.error(reference, f"line {line} has {len(values)} values but the header has "
                                     f"{len(columns)} columns")
            continue
        if action == ACTION_DELETE:
            problem = delete_record(tenant, spec, cells)
        else:
            problem = upsert_record(tenant, spec, cells, settings)
        if problem:
            outcome.error(reference, problem)
        else:
            outcome.success(reference)
    return outcome
