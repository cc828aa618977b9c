"""Integration configuration: one YAML file per ERP↔WMS pair ("integration"), validated by a schema.

``scan_folder(folder)`` reads every ``*.yaml``/``*.yml`` there once and returns the usable integrations and every
problem, each as ``FILE: field: what is wrong. Fix: how``. One bad file never costs another integration its
DAGs: only the files with problems are left out. Only one file may define an integration: ``<name>.yaml`` wins
over another file claiming the same name (a backup ``<name>.yml``), which is reported; two files claiming a name
when neither is ``<name>.yaml`` are both reported and neither is used. ``load_integration``/``load_all`` raise
:class:`ConfigError` listing the problems instead.

Files are read at DAG parse time, so this module only reads and validates them (no network, no database, no
heavy imports), and keeps each result for as long as the file (and its item-code table) is unchanged: the DAG
files of one parse share one read and one validation per file.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from erp_wms_sync.config_files import FileIssue, FileProblems, read_yaml
from erp_wms_sync.config_sections import (
    AlertSettings,
    DeadlineSettings,
    DigestSettings,
    DigestTeam,
    DispatchSettings,
    ErpKind,
    ErpSettings,
    HousekeepingSettings,
    ItemCodeSettings,
    LocationMap,
    OrderSettings,
    Problem,
    ReconciliationSettings,
    ReturnSettings,
    SettingProblems,
    StockSettings,
    StrictModel,
    WmsSettings,
    WriteBack,
    file_table,
    map_table,
    problems_from,
    refuse,
)
from erp_wms_sync.errors import ConfigError
from erp_wms_sync.schedules import Finding, cron_finding, timezone_finding

__all__ = ["DEFAULT_OWNERS", "DEFAULT_SCHEDULES", "FLOWS", "AlertSettings", "ConfigError", "DeadlineSettings",
           "DigestSettings", "DigestTeam",
           "DispatchSettings", "HousekeepingSettings", "ErpKind", "ErpSettings", "StockSettings",
           "FileCheck", "Integration", "ItemCodeSettings", "LocationMap", "OrderSettings", "Problem",
           "ReconciliationSettings", "ReturnSettings", "Scan", "WmsSettings", "WriteBack", "check_file",
           "check_integration",
           "integration_files", "load_all", "load_integration", "scan_files", "scan_folder", "validate_files"]

DIGEST_SCHEDULE = Finding("the exception digest's schedule is set in the digests: section",
                          "move it to digests.schedule")
DEFAULT_INTEGRATIONS_DIR = Path(__file__).resolve().parents[1] / "integrations"
NAME_PATTERN = r"^[a-z][a-z0-9_]{1,40}$"

# The flows of the product (ARCHITECTURE §3); the DAG factory builds those it has an implementation for.
FLOWS = (
    "item_master_sync",
    "order_release",
    "order_amendments",
    "dispatch_confirmation",
    "inventory_sync",
    "returns",
    "reconciliation",
    "exception_housekeeping",
    "webhook_subscriptions",
    "exception_digest",
)

DEFAULT_SCHEDULES = {
    "item_master_sync": "0 * * * *",
    "order_release": "*/5 * * * *",
    "order_amendments": "*/5 * * * *",
    "dispatch_confirmation": "*/2 * * * *",
    "inventory_sync": "*/15 * * * *",
    "returns": "*/30 * * * *",
    "reconciliation": "30 2 * * *",
    "exception_housekeeping": "*/5 * * * *",
    "webhook_subscriptions": "7 * * * *",
    "exception_digest": "0 * * * *",  # set in digests.schedule, not in schedules:
}

# Exception catalogue (ARCHITECTURE §5): type -> default owner team. A YAML may re-assign owners.
DEFAULT_OWNERS = {
    "unmapped_sku": "data",
    "unmapped_location": "ops",
    "invalid_item": "data",
    "invalid_order": "cx",
    "amendment_after_cutoff": "cx+warehouse",
    "amendment_held": "cx",
    "despatch_for_unknown_order": "warehouse",
    "fulfilment_rejected": "ops",
    "despatch_mismatch": "warehouse",  # SKU not on the order, or more than its open quantity
    "despatch_for_cancelled_order": "cx+warehouse",  # the ERP cancelled the order after the cut-off
    "despatch_without_tracking": "warehouse",  # confirmed without tracking; closes when tracking arrives
    "failed_stock_increment": "finance+warehouse",
    "stale_stock_event": "finance+warehouse",
    "invalid_stock_movement": "warehouse",  # an unreadable Item movement history row holds its SKU x site
    "return_not_restocked": "finance",
    "credit_before_stock_in": "finance",
    "return_without_authorisation": "cx+finance",  # a return of an order (or RA) the integration does not know
    "return_damaged": "finance",  # damaged goods came back: finance decides the credit (returns.damaged_credit)
    "return_awaiting_invoice": "finance",  # Cin7 credits an invoice: the sale has no authorised invoice yet
    "credit_note_rejected": "finance",  # Cin7 refused a return's credit note; tried again every run
    "invalid_return": "warehouse",  # an unreadable Return summary row holds its whole return
    "orphaned_order": "ops",
    "dispatched_but_open": "ops",
    "stock_variance": "finance+warehouse",
    "drift_trend": "finance+warehouse",  # a SKU / location whose variance recurs or grows night after night
    "wms_item_not_in_erp": "data",
    "wms_write_rejected": "data",
    "erp_record_unreadable": "integration-engineer",  # the ERP answered a record with something else (order id)
    "stage_deadline_breached": "ops",
    "cancelled_but_live": "ops",  # reconciliation: cancelled in the ERP, still live in Peoplevox
    "wms_order_not_in_erp": "ops",  # reconciliation: a Peoplevox order neither the ERP nor the ledger knows
    "order_in_limbo": "ops",  # reconciliation: open in the ERP, unfinished in Peoplevox, no progress for hours
    "item_drift": "data",  # reconciliation: an item's name or barcode differs between the ERP and Peoplevox
    "api_unavailable": "integration-engineer",
}


class Integration(StrictModel):
    """One ERP↔WMS pair (a brand)."""

    name: str = Field(pattern=NAME_PATTERN)
    display_name: str = ""
    erp: ErpSettings
    wms: WmsSettings
    timezone: str = "UTC"
    location_mapping: str = Field(default="strict_one_to_one", pattern="^(strict_one_to_one|rules)$")
    locations: list[LocationMap] = Field(min_length=1)
    orders: OrderSettings = Field(default_factory=OrderSettings)
    schedules: dict[str, str] = Field(default_factory=dict)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    owners: dict[str, str] = Field(default_factory=dict)
    reconciliation: ReconciliationSettings = Field(default_factory=ReconciliationSettings)
    paused_flows: list[str] = Field(default_factory=list)
    item_codes: ItemCodeSettings = Field(default_factory=ItemCodeSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    stock: StockSettings = Field(default_factory=StockSettings)
    returns: ReturnSettings = Field(default_factory=ReturnSettings)
    deadlines: DeadlineSettings = Field(default_factory=DeadlineSettings)
    housekeeping: HousekeepingSettings = Field(default_factory=HousekeepingSettings)
    digests: DigestSettings = Field(default_factory=DigestSettings)

    # Field validators run in declaration order and see the fields declared before theirs in ``info.data``.
    @field_validator("timezone")
    @classmethod
    def _iana_timezone(cls, value: str) -> str:
        finding = timezone_finding(value)
        if finding:
            raise refuse("timezone", finding)
        return value

    @field_validator("location_mapping")
    @classmethod
    def _cin7_is_one_to_one(cls, value: str, info: ValidationInfo) -> str:
        erp = info.data.get("erp")
        if erp is not None and erp.kind is ErpKind.CIN7CORE and value != "strict_one_to_one":
            raise refuse("location_mapping", Finding("Cin7 Core integrations must use strict_one_to_one",
                                                      "set location_mapping: strict_one_to_one"))
        return value

    @field_validator("locations")
    @classmethod
    def _locations_are_consistent(cls, value: list[LocationMap], info: ValidationInfo) -> list[LocationMap]:
        fix = "keep one line per ERP location and one ERP location per Peoplevox site"
        issues = []
        names = _repeated(loc.erp for loc in value)
        if names:
            issues.append(FileIssue("locations", f"ERP location mapped twice: {', '.join(names)}", fix))
        sites = _repeated(loc.wms_site for loc in value)
        if sites and info.data.get("location_mapping", "strict_one_to_one") == "strict_one_to_one":
            issues.append(FileIssue("locations", f"Peoplevox site used by more than one ERP location: "
                                    f"{', '.join(sites)} (strict_one_to_one needs exactly one ERP location per site)",
                                    fix))
        if issues:
            raise SettingProblems(issues)
        return value

    @field_validator("schedules")
    @classmethod
    def _schedulable(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        timezone = info.data.get("timezone", "UTC")
        issues = []
        for flow, cron in value.items():
            finding = (Finding(f"unknown flow '{flow}' (known: {', '.join(FLOWS)})", "use one of the flows listed")
                       if flow not in FLOWS else DIGEST_SCHEDULE if flow == "exception_digest"
                       else cron_finding(cron, timezone))
            if finding:
                issues.append(FileIssue(f"schedules.{flow}", finding.message, finding.fix))
        if issues:
            raise SettingProblems(issues)
        return value

    @field_validator("owners")
    @classmethod
    def _known_exception_types(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DEFAULT_OWNERS))
        if unknown:
            raise ValueError(f"unknown exception type(s): {', '.join(unknown)}")
        return value

    @field_validator("digests")
    @classmethod
    def _digest_schedule_and_teams(cls, value: DigestSettings, info: ValidationInfo) -> DigestSettings:
        """The cron in the integration's zone, and each team a real owner (a typo would silently get nothing)."""
        issues = []
        finding = cron_finding(value.schedule, info.data.get("timezone", "UTC"))
        if finding:
            issues.append(FileIssue("digests.schedule", finding.message, finding.fix))
        owners = {**DEFAULT_OWNERS, **(info.data.get("owners") or {})}.values()
        known = set(owners) | {part for owner in owners for part in owner.split("+")}
        for team in sorted(set(value.teams) - known):
            issues.append(FileIssue(f"digests.teams.{team}", f"'{team}' owns no exception type (owner teams: "
                                    f"{', '.join(sorted(known))})",
                                    "use one of the owner teams listed, or assign it a type in owners:"))
        if issues:
            raise SettingProblems(issues)
        return value

    @field_validator("paused_flows")
    @classmethod
    def _known_flows(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(FLOWS))
        if unknown:
            raise ValueError(f"unknown flow(s): {', '.join(unknown)}")
        return value

    @field_validator("item_codes")
    @classmethod
    def _item_code_table(cls, value: ItemCodeSettings, info: ValidationInfo) -> ItemCodeSettings:
        """Read and check the cross-reference (the file relative to ``context['base_dir']``, else the cwd)."""
        wms = info.data.get("wms")
        max_length = wms.item_code_max_length if wms is not None else None
        if value.file is not None:
            source = Path((info.context or {}).get("base_dir") or ".") / value.file
            value.attach(file_table(source, value.file, max_length), source)
        elif value.map and max_length is not None:
            value.attach(map_table(value.map, max_length), None)  # again, now with Peoplevox's length limit
        return value

    # --- derived, read-only helpers -------------------------------------------------------------------
    def schedule_for(self, flow: str) -> str:
        if flow == "exception_digest":
            return self.digests.schedule
        return self.schedules.get(flow, DEFAULT_SCHEDULES[flow])

    @property
    def webhook_conn_id(self) -> str:
        """The connection holding this integration's callback secret and public receiver URL."""
        return self.dispatch.webhook_conn_id or f"{self.name}_webhooks"

    def owner_of(self, exception_type: str) -> str:
        return self.owners.get(exception_type, DEFAULT_OWNERS.get(exception_type, "integration-engineer"))

    def site_for(self, erp_location: str) -> str | None:
        wanted = erp_location.casefold()
        return next((loc.wms_site for loc in self.locations if loc.erp.casefold() == wanted), None)

    def item_code_for(self, sku: str) -> str:
        """The Peoplevox ItemCode of an ERP SKU (identity unless ``item_codes`` maps it)."""
        return self.item_codes.table.item_code_for(sku)

    def sku_for(self, item_code: str) -> str:
        """The ERP SKU of a Peoplevox ItemCode (identity unless ``item_codes`` maps a SKU to it)."""
        return self.item_codes.table.sku_for(item_code)

    @property
    def label(self) -> str:
        return self.display_name or self.name


def _repeated(values: Iterable[str]) -> list[str]:
    """Values given more than once, compared case-insensitively, as first spelled (linear)."""
    first: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for value in values:
        key = value.casefold()
        first.setdefault(key, value)
        counts[key] += 1
    return sorted(first[key] for key, n in counts.items() if n > 1)


# --- reading files -----------------------------------------------------------------------------------------------
Stamp = tuple[str, int, int] | None  # (path, mtime_ns, size) of a file read, None when it could not be read


@dataclass(frozen=True)
class FileCheck:
    """The outcome of one integration file: the integration when it is usable, and its problems."""

    path: Path
    integration: Integration | None
    problems: tuple[Problem, ...]
    claimed_name: str | None  # the integration the file defines (its ``name``), even when it has problems

    @property
    def ok(self) -> bool:
        return self.integration is not None and not self.problems


_CACHE: dict[str, tuple[tuple[tuple[str, Stamp], ...], FileCheck]] = {}


def _stamp(path: Path) -> Stamp:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_mtime_ns, stat.st_size


def check_file(path: str | Path) -> FileCheck:
    """Read and validate one file, or return the result kept from an earlier call if nothing it read changed."""
    path = Path(path)
    key = os.path.abspath(path)
    kept = _CACHE.get(key)
    if kept and all(_stamp(Path(name)) == stamp for name, stamp in kept[0]):
        return kept[1]
    stamp = _stamp(path)
    result, table = _check_uncached(path)
    deps = [(str(path), stamp)] + ([(str(table), _stamp(table))] if table is not None else [])
    _CACHE[key] = (tuple(deps), result)
    return result


def clear_cache() -> None:
    _CACHE.clear()


def _check_uncached(path: Path) -> tuple[FileCheck, Path | None]:
    """The check of one file, and the item-code table file it names (read too, so the cache must watch it)."""
    name = str(path)
    try:
        data = read_yaml(path)
    except FileProblems as exc:
        return FileCheck(path, None, tuple(Problem(name, i.field, i.message, i.fix) for i in exc.issues), None), None
    if not isinstance(data, dict):
        found = ("the file is empty", "start from one of the sample integration files") if data is None else (
            f"expected a mapping of settings, found a {type(data).__name__}", "start the file with 'name: <name>'")
        return FileCheck(path, None, (Problem(name, "(file)" if data is None else "(top level)", *found),), None), None
    claimed = data["name"] if isinstance(data.get("name"), str) else path.stem
    table = _table_file(path, data.get("item_codes"))
    try:
        integration = Integration.model_validate(data, context={"base_dir": path.parent})
    except ValidationError as exc:
        return FileCheck(path, None, tuple(problems_from(name, exc)), claimed), table
    if path.stem != integration.name:
        problem = Problem(name, "name", f"'{integration.name}' differs from the file name",
                          f"rename the file to {integration.name}.yaml or change name")
        return FileCheck(path, integration, (problem,), claimed), table
    return FileCheck(path, integration, (), claimed), table


def _table_file(path: Path, item_codes: object) -> Path | None:
    given = item_codes.get("file") if isinstance(item_codes, dict) else None
    return path.parent / given if isinstance(given, str) and given else None


# --- folders and sets of files -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scan:
    """The usable integrations of a set of files, and every problem (the files with problems are left out)."""

    integrations: tuple[Integration, ...]
    problems: tuple[Problem, ...]
    files: tuple[Path, ...]

    def raise_problems(self) -> None:
        if self.problems:
            raise ConfigError("\n".join(str(p) for p in self.problems))


def integration_files(folder: str | Path | None = None) -> list[Path]:
    folder = Path(folder) if folder else DEFAULT_INTEGRATIONS_DIR
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def scan_folder(folder: str | Path | None = None) -> Scan:
    """Every integration file of ``folder`` (default: the packaged ``integrations`` folder)."""
    return scan_files(integration_files(folder))


def scan_files(paths: Iterable[str | Path]) -> Scan:
    """The usable integrations among ``paths`` (a path given twice counts once) and every problem."""
    unique = {os.path.abspath(p): Path(p) for p in paths}
    checks = [check_file(p) for p in unique.values()]
    problems = [p for c in checks for p in c.problems]
    by_name: dict[str, list[FileCheck]] = defaultdict(list)
    for check in checks:
        if check.claimed_name is not None:
            by_name[check.claimed_name].append(check)
    usable: list[Integration] = []
    for name, claims in by_name.items():
        winner = _winner(name, claims)
        if winner is not None and winner.integration is not None and winner.ok:
            usable.append(winner.integration)
        problems += [_conflict(name, check, winner, claims) for check in claims if check is not winner and check.ok]
    return Scan(tuple(usable), tuple(problems), tuple(c.path for c in checks))


def _winner(name: str, claims: list[FileCheck]) -> FileCheck | None:
    """The file that defines ``name``: the only claimant, else ``<name>.yaml``, else none."""
    if len(claims) == 1:
        return claims[0]
    return next((c for c in claims if c.path.name == f"{name}.yaml"), None)


def _conflict(name: str, check: FileCheck, winner: FileCheck | None, claims: list[FileCheck]) -> Problem:
    if winner is not None:
        return Problem(str(check.path), "name", f"'{name}' is already defined by {winner.path}, which is the file "
                       "used", f"delete {check.path.name} or move it out of the folder: only {name}.yaml may "
                       f"define '{name}'")
    others = ", ".join(str(c.path) for c in claims if c is not check)
    return Problem(str(check.path), "name", f"'{name}' is also defined by {others}; none of these files is used",
                   f"keep one file, named {name}.yaml")


# --- compatibility helpers --------------------------------------------------------------------------------------
def check_integration(path: str | Path) -> tuple[Integration | None, list[Problem]]:
    """Validate one file; returns the integration (or None) and every problem found."""
    check = check_file(path)
    return check.integration, list(check.problems)


def load_integration(path: str | Path) -> Integration:
    scan = scan_files([path])
    scan.raise_problems()
    return scan.integrations[0]


def load_all(folder: str | Path | None = None) -> list[Integration]:
    """Every integration in ``folder``; raises ConfigError listing all problems of all files."""
    return validate_files(integration_files(folder))


def validate_files(paths: Iterable[str | Path]) -> list[Integration]:
    scan = scan_files(paths)
    scan.raise_problems()
    return list(scan.integrations)
