"""The sections of an integration file (``erp:``, ``wms:``, ``orders:``, ``item_codes:`` …) as strict, frozen models,
and how their errors are reported (:class:`Problem`: ``FILE: field: what is wrong. Fix: how``).

:class:`SettingProblems` lets a validator name exactly which setting is wrong and how to fix it (the generic
schema errors of pydantic name only the field). The ``item_codes`` table is read and checked here and attached
to its section, so ``Integration.item_code_for`` is a dictionary look-up at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from erp_wms_sync.config_files import FileIssue, FileProblems, read_item_code_rows
from erp_wms_sync.domain.item_codes import ItemCodeMap, ItemCodeRow, ItemCodeTableError
from erp_wms_sync.schedules import Finding, timezone_finding

MAX_PROBLEMS_PER_FILE = 50


class ErpKind(StrEnum):
    CIN7CORE = "cin7core"
    BLUECHERRY = "bluecherry"


class WriteBack(StrEnum):
    """Which release outcomes are written back to the ERP order (one ERP call per order written)."""

    ALL = "all"  # every released and every held order
    HELD = "held"  # held orders, and the release of an order that was held before
    OFF = "off"  # never


class SettingProblems(ValueError):
    """Raised by a validator for problems it can name precisely; each issue carries its own field and fix."""

    def __init__(self, issues: list[FileIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues))


def refuse(field: str, finding: Finding) -> SettingProblems:
    return SettingProblems([FileIssue(field, finding.message, finding.fix)])


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErpSettings(StrictModel):
    kind: ErpKind
    conn_id: str = Field(min_length=1)
    rate_per_minute: int = Field(default=60, gt=0, le=6000)


class WmsSettings(StrictModel):
    kind: str = Field(default="peoplevox", pattern="^peoplevox$")
    conn_id: str = Field(min_length=1)
    item_code_max_length: int = Field(default=40, gt=0, le=200)
    save_batch_size: int = Field(default=250, gt=0, le=1000, description="rows per SaveData call")
    page_size: int = Field(default=1000, gt=0, le=1000)
    timezone: str = Field(default="UTC", description="the time zone Peoplevox writes report dates in (the account's)")

    @field_validator("timezone")
    @classmethod
    def _iana_timezone(cls, value: str) -> str:
        finding = timezone_finding(value)
        if finding is not None:
            raise refuse("wms.timezone", finding)
        return value


class DispatchSettings(StrictModel):
    """Dispatch confirmation: callbacks, the polling safety net and (BlueCherry) batched shipment postings."""

    webhook_conn_id: str | None = Field(
        default=None, min_length=1,
        description="connection with the callback secret (password), the Cin7 basic-auth user (login) and the "
                    "public base URL of the receiver (host); default <integration>_webhooks")
    poll_overlap_minutes: int = Field(default=30, ge=1, le=24 * 60,
                                      description="each poll of the Despatch summary re-reads this far back")
    erp_batch_minutes: int = Field(default=30, ge=0, le=24 * 60,
                                   description="BlueCherry: post shipments at most this often (0 = every run)")
    max_despatches_per_run: int = Field(default=500, gt=0, le=10_000)


class DeadlineSettings(StrictModel):
    """Stage deadlines exception housekeeping watches (``stage_deadline_breached``, entity = the order)."""

    despatch_hours: int = Field(default=48, ge=1, le=24 * 60,
                                description="an order released to Peoplevox must be despatched within this")
    confirm_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60,
                                 description="a despatch must be confirmed in the ERP within this")


class HousekeepingSettings(StrictModel):
    """Exception housekeeping: how much one run retries and how long abandoned staging rows are kept."""

    max_retries_per_run: int = Field(default=500, gt=0, le=10_000,
                                     description="due exceptions retried per run, oldest first")
    staged_retention_hours: int = Field(default=24, ge=1, le=24 * 30,
                                        description="staging rows of runs older than this are purged")


class StockSettings(StrictModel):
    """Inventory sync: which Peoplevox locations hold stock the ERP counts, and how movements are batched.

    A location counts when it matches ``sellable_locations`` and matches neither ``non_sellable_locations`` nor
    ``outside_locations``. Entries are exact names or ``PREFIX*`` (``*`` alone takes every location), compared
    case-insensitively. Cin7 Core keeps picked stock on hand until it is shipped, so the despatch area counts;
    quarantine (damaged returns) does not. ``outside_locations`` are Peoplevox's pseudo-locations where stock
    enters or leaves the warehouse (goods in, customer, despatched, adjustments, counts, short picks)."""

    sellable_locations: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    non_sellable_locations: list[str] = Field(default_factory=lambda: ["QUARANTINE*"])
    outside_locations: list[str] = Field(default_factory=lambda: [
        "Goods in", "Customer", "Despatched", "Adjustment", "Stock count", "Short pick"])
    report_overlap_minutes: int = Field(default=30, ge=1, le=24 * 60,
                                        description="each read of the Item movement history re-reads this far back")
    max_lines_per_adjustment: int = Field(default=200, gt=0, le=1000,
                                          description="SKU x location lines per Cin7 stock adjustment call")
    max_movements_per_run: int = Field(default=20_000, gt=0, le=1_000_000)

    @field_validator("sellable_locations")
    @classmethod
    def _some_sellable(cls, value: list[str]) -> list[str]:
        if not [entry for entry in value if entry.strip()]:
            raise ValueError("name at least one sellable location (or '*' for every location)")
        return value


class ReturnSettings(StrictModel):
    """Returns: which Peoplevox return conditions may be sold again, what happens to damaged goods, and how long a
    sellable return may wait for its stock-in before finance is told.

    ``damaged_credit``: ``review`` (default: a ``return_damaged`` exception asks finance to decide; no credit is
    made), ``credit`` (damaged lines are credited too, never restocked), ``none`` (damaged lines are never
    credited; finance still sees the exception)."""

    sellable_conditions: list[str] = Field(
        default_factory=lambda: ["Sellable", "Resellable", "Resaleable", "Good", "As new"], min_length=1,
        description="Return condition values (case-insensitive) whose goods go back to sellable stock")
    damaged_credit: str = Field(default="review", pattern="^(review|credit|none)$")
    restock_deadline_hours: int = Field(default=24, ge=1, le=24 * 30,
                                        description="a sellable return not in ERP stock by then is "
                                                    "return_not_restocked")
    report_overlap_minutes: int = Field(default=60, ge=1, le=24 * 60,
                                        description="each read of the Return summary re-reads this far back")
    max_returns_per_run: int = Field(default=2000, gt=0, le=50_000)


class LocationMap(StrictModel):
    erp: str = Field(min_length=1, description="ERP location (Cin7 Core) or warehouse code (BlueCherry)")
    wms_site: str = Field(min_length=1, description="Peoplevox site reference")


class OrderSettings(StrictModel):
    release_status: str = "AUTHORISED"
    cutoff_status: str = Field(default="Picking", pattern="^(Allocated|Picking|Picked|Packing|Packed)$")
    hold_window_minutes: int = Field(default=0, ge=0, le=24 * 60)
    batch_size: int = Field(default=100, gt=0, le=1000)
    line_removal: str = Field(default="reissue", pattern="^(reissue|hold)$")
    service_types: dict[str, str] = Field(default_factory=dict, description="ERP carrier -> Peoplevox ServiceType")
    default_service_type: str | None = None
    channel_name: str | None = None
    release_attribute: str = Field(default="AdditionalAttribute1", pattern=r"^AdditionalAttribute([1-9]|10)$")
    lookback_days: int = Field(default=7, ge=1, le=90)
    write_back: WriteBack = WriteBack.HELD
    item_sync_wait_minutes: int = Field(default=120, ge=0, le=24 * 60,
                                        description="wait for item master sync before holding as unmapped_sku")

    def service_type_for(self, carrier: str) -> str | None:
        wanted = carrier.strip().casefold()
        found = next((v for k, v in self.service_types.items() if k.casefold() == wanted), None)
        return found or self.default_service_type


class ItemCodeSettings(StrictModel):
    """ERP SKU → Peoplevox ItemCode cross-reference: inline ``map`` or a ``file`` relative to the YAML."""

    map: dict[str, str] = Field(default_factory=dict)
    file: str | None = Field(default=None, min_length=1)
    _table: ItemCodeMap = PrivateAttr(default_factory=ItemCodeMap)
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_source(self) -> ItemCodeSettings:
        """Refuse both sources at once; an inline map works at once (the integration adds the length limit)."""
        if self.map and self.file:
            raise refuse("item_codes", Finding("both map and file are given",
                                                "keep one of them: the inline map or the table file"))
        if self.map:
            self.attach(map_table(self.map, None), None)
        return self

    @property
    def table(self) -> ItemCodeMap:
        return self._table

    @property
    def source(self) -> Path | None:
        """The table file read (resolved against the YAML's folder), if any."""
        return self._source

    def attach(self, table: ItemCodeMap, source: Path | None) -> None:
        self._table, self._source = table, source


class AlertSettings(StrictModel):
    emails: list[str] = Field(default_factory=list)
    smtp_conn_id: str | None = None
    slack_conn_id: str | None = None

    @field_validator("emails")
    @classmethod
    def _emails_look_like_addresses(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v)]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(bad)}")
        return value


EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
TEAM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$"


class DigestTeam(StrictModel):
    """Where one owner team's exception digest goes: e-mail addresses and, optionally, its own Slack webhook."""

    emails: list[str] = Field(default_factory=list)
    slack_conn_id: str | None = Field(default=None, min_length=1,
                                      description="Slack webhook connection; default alerts.slack_conn_id")

    @field_validator("emails")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(EMAIL_PATTERN, v)]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(bad)}")
        return value


class DigestSettings(StrictModel):
    """Exception digests: per owner team, the new exceptions grouped by type, by e-mail and Slack on a schedule.

    ``schedule`` is a cron in the integration's time zone (checked by the integration, which knows the zone);
    ``settle_minutes`` leaves exceptions raised in the last minutes to the next digest, so one a flow is still
    committing is never skipped."""

    schedule: str = "0 * * * *"
    teams: dict[str, DigestTeam] = Field(default_factory=dict)
    examples: int = Field(default=3, ge=1, le=20, description="examples listed per exception type")
    dashboard_url: str | None = Field(default=None,
                                      description="base URL of the Airflow web server, e.g. https://airflow.example")
    settle_minutes: int = Field(default=2, ge=0, le=60)

    @field_validator("dashboard_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise refuse("digests.dashboard_url", Finding(
                f"'{value}' is not the base URL of a web server",
                "give the Airflow address people open, e.g. https://airflow.example.com (no query string)"))
        return value.rstrip("/") if value else value

    @field_validator("teams")
    @classmethod
    def _team_names(cls, value: dict[str, DigestTeam]) -> dict[str, DigestTeam]:
        bad = [name for name in value if not re.fullmatch(TEAM_PATTERN, name)]
        if bad:
            raise refuse("digests.teams", Finding(
                f"not a team name: {', '.join(repr(b) for b in bad)}",
                "use the owner team names of the owners: section (letters, digits, _ . + -, at most 40)"))
        return value


class ReconciliationSettings(StrictModel):
    tolerance_units: int = Field(default=0, ge=0)
    tolerance_pct: float = Field(default=0.0, ge=0.0, le=100.0)
    auto_apply_adjustments: bool = False
    limbo_hours: float = Field(default=48, gt=0, le=24 * 90,
                               description="an order open in the ERP, not in Peoplevox per the ledger, without any "
                                           "ERP change for this long is in limbo (order_in_limbo)")
    settle_minutes: int = Field(default=60, ge=0, le=24 * 60,
                                description="an order changed this recently is still moving: not judged as "
                                            "cancelled-but-live or in limbo, nor a despatch being confirmed as open")


def map_table(mapping: dict[str, str], max_length: int | None) -> ItemCodeMap:
    """The inline ``item_codes.map`` as a checked table."""
    rows = (ItemCodeRow(f"SKU '{sku}'", sku, code) for sku, code in mapping.items())
    return _table(rows, "item_codes.map", max_length)


def _table(rows: Iterable[ItemCodeRow], field: str, max_length: int | None) -> ItemCodeMap:
    try:
        return ItemCodeMap.from_rows(rows, max_length=max_length)
    except ItemCodeTableError as exc:
        fix = "give each SKU one non-empty ItemCode, each ItemCode to one SKU, within wms.item_code_max_length"
        raise SettingProblems([FileIssue(field, p, fix) for p in exc.problems[:MAX_PROBLEMS_PER_FILE]]) from None


def file_table(source: Path, given: str, max_length: int | None) -> ItemCodeMap:
    try:
        rows = read_item_code_rows(source)
    except FileProblems as exc:
        raise SettingProblems([FileIssue("item_codes.file", f"{given}: {_where(i)}{i.message}", i.fix)
                               for i in exc.issues[:MAX_PROBLEMS_PER_FILE]]) from None
    named = [ItemCodeRow(f"{given} {row.where}", row.sku, row.item_code) for row in rows]
    return _table(named, "item_codes.file", max_length)


def _where(issue: FileIssue) -> str:
    return "" if issue.field == "(file)" else f"{issue.field}: "


# --- problems ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}. Fix: {self.fix}"


_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling against the README's configuration section",
    "string_pattern_mismatch": "use a value of the form the README's configuration section gives",
    "enum": "use one of the values listed",
    "too_short": "add at least one entry",
    "string_type": "write it as text (quote values that look like numbers or dates)",
}


def _fix_for(error_type: str, field: str, message: str) -> str:
    if error_type in _FIXES:
        return _FIXES[error_type]
    if "unknown" in message:
        return "use one of the names listed in the message"
    return f"correct the value of {field}"


def problems_from(path: str, error: ValidationError) -> list[Problem]:
    """One :class:`Problem` per schema error; a validator's :class:`SettingProblems` keep their own fields."""
    problems = []
    for err in error.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raised = (err.get("ctx") or {}).get("error")
        if isinstance(raised, SettingProblems):
            problems += [Problem(path, i.field, i.message, i.fix) for i in raised.issues]
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(Problem(path, field, message, _fix_for(err["type"], field, message)))
    return _capped(path, problems)


def _capped(path: str, problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS_PER_FILE:
        return problems
    more = len(problems) - MAX_PROBLEMS_PER_FILE
    return [*problems[:MAX_PROBLEMS_PER_FILE],
            Problem(path, "(file)", f"{more} more problem(s) not listed", "fix the ones above and validate again")]
