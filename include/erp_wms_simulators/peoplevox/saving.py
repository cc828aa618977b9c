"""SaveData semantics: upsert (or delete) template records from CSV, one outcome per record.

- The CSV header names template columns (any subset, any order, names matched ignoring case); the key
  column(s) must be present. An unknown or repeated column refuses the whole request.
- Each data row is one record, keyed by the template key: a new key inserts, a known key updates the
  columns given. An empty cell leaves an existing value unchanged unless the setting
  ``empty_cell_keeps_value`` is off [I].
- A record the template's validator refuses is reported as ``Error`` with its reason; the rest are saved.
- Action 2 deletes the records named by key (unless the template's ``delete_rule`` refuses); Action 1
  ("do not allocate") is accepted and has no effect: the simulated warehouse allocates only when driven.
- A ``partial_save_failure`` fault refuses single records with ``System : Temporary failure, retry``.
- Every record written is reported as a :class:`Change` (before / after), so the caller can react
  (events, releasing allocations of a cancelled order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
TEMPORARY_FAILURE = "System : Temporary failure, retry"


@dataclass(frozen=True)
class Change:
    """One record written by SaveData or a seed: ``before`` is None for an insert, ``after`` for a delete."""

    template: str
    key: str
    before: dict[str, str] | None
    after: dict[str, str] | None


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


def prepared(tenant: Tenant, spec: TemplateSpec, cells: dict[str, str]) -> str | None:
    """Run the template's ``prepare`` hook on ``cells`` (in place), then check the key is complete."""
    if spec.prepare is not None:
        problem = spec.prepare(cells, tenant.table(spec.name), tenant.tables)
        if problem:
            return problem
    return missing_key(spec, cells)


def upsert_record(tenant: Tenant, spec: TemplateSpec, cells: Mapping[str, str],
                  settings: PeoplevoxSettings, changes: list[Change] | None = None) -> str | None:
    """Insert or update one record; returns the reason it was refused, or ``None`` when saved."""
    table = tenant.table(spec.name)
    cells = dict(cells)
    problem = prepared(tenant, spec, cells)
    if problem:
        return problem
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
    ctx = SaveContext(spec.name, table, tenant.tables, settings, existing is None, existing, cells)
    problem = spec.validate(merged, ctx)
    if problem:
        return problem
    table[key] = merged
    if changes is not None:
        changes.append(Change(spec.name, key, None if existing is None else dict(existing), dict(merged)))
    return None


def delete_record(tenant: Tenant, spec: TemplateSpec, cells: Mapping[str, str], settings: PeoplevoxSettings,
                  changes: list[Change] | None = None) -> str | None:
    cells = dict(cells)
    table = tenant.table(spec.name)
    problem = prepared(tenant, spec, cells)
    if problem:
        return problem
    key = spec.record_key(cells)
    existing = table.get(key)
    if existing is None:
        return f"{spec.name} record '{key}' not found"
    if spec.delete_rule is not None:
        ctx = SaveContext(spec.name, table, tenant.tables, settings, False, existing, cells)
        problem = spec.delete_rule(existing, ctx)
        if problem:
            return problem
    del table[key]
    if changes is not None:
        changes.append(Change(spec.name, key, dict(existing), None))
    return None


def save_csv(tenant: Tenant, spec: TemplateSpec, csv_table: CsvTable, action: int,
             settings: PeoplevoxSettings, *, fault: Callable[[], bool] | None = None,
             changes: list[Change] | None = None) -> SaveOutcome:
    """Apply every row of ``csv_table``; raises SaveRejected when the request as a whole is wrong.

    ``fault`` is asked once per record; when it answers true the record fails with a temporary error.
    """
    if action not in ACTIONS:
        raise SaveRejected(f"Action {action} is not valid (0 = none, 1 = do not allocate, 2 = delete)")
    if not csv_table.header:
        raise SaveRejected("CsvData is empty: expected a header row of column names")
    columns = map_columns(spec, csv_table.header, spec.importable)
    absent = [" or ".join(group) for group in spec.required_header if not set(group) & set(columns)]
    if absent:
        raise SaveRejected(f"The CSV header must contain the key column(s) {', '.join(absent)} "
                           f"of template '{spec.name}'")
    outcome = SaveOutcome()
    for line, values in csv_table.rows:
        cells = dict(zip(columns, values, strict=False))
        reference = spec.reference_of(cells)
        if len(values) > len(columns):
            outcome.error(reference, f"line {line} has {len(values)} values but the header has "
                                     f"{len(columns)} columns")
            continue
        if fault is not None and fault():
            outcome.error(reference, TEMPORARY_FAILURE)
            continue
        if action == ACTION_DELETE:
            problem = delete_record(tenant, spec, cells, settings, changes)
        else:
            problem = upsert_record(tenant, spec, cells, settings, changes)
        if problem:
            outcome.error(reference, problem)
        else:
            outcome.success(reference)
    return outcome
