"""Integration configuration: one YAML file per ERP↔WMS pair ("integration"), validated by a schema.

``load_integration(path)`` returns a typed :class:`Integration` or raises :class:`ConfigError` whose message lists
every problem as ``FILE: field: what is wrong. Fix: how``. ``load_all(folder)`` reads every ``*.yaml`` there and
also rejects two files that claim the same integration name.

The files are read at DAG parse time, so this module does nothing but read and validate them: no network, no
database, no heavy imports.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from erp_wms_sync.errors import ConfigError

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
)

DEFAULT_SCHEDULES = {
    "item_master_sync": "0 * * * *",
    "order_release": "*/5 * * * *",
    "order_amendments": "*/5 * * * *",
    "dispatch_confirmation": "*/10 * * * *",
    "inventory_sync": "*/15 * * * *",
    "returns": "*/30 * * * *",
    "reconciliation": "30 2 * * *",
    "exception_housekeeping": "*/5 * * * *",
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
    "failed_stock_increment": "finance+warehouse",
    "stale_stock_event": "finance+warehouse",
    "return_not_restocked": "finance",
    "credit_before_stock_in": "finance",
    "orphaned_order": "ops",
    "dispatched_but_open": "ops",
    "stock_variance": "finance+warehouse",
    "wms_item_not_in_erp": "data",
    "wms_write_rejected": "data",
    "stage_deadline_breached": "ops",
    "api_unavailable": "integration-engineer",
}


class ErpKind(StrEnum):
    CIN7CORE = "cin7core"
    BLUECHERRY = "bluecherry"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErpSettings(_Strict):
    kind: ErpKind
    conn_id: str = Field(min_length=1)
    rate_per_minute: int = Field(default=60, gt=0, le=6000)


class WmsSettings(_Strict):
    kind: str = Field(default="peoplevox", pattern="^peoplevox$")
    conn_id: str = Field(min_length=1)
    item_code_max_length: int = Field(default=40, gt=0, le=200)
    save_batch_size: int = Field(default=100, gt=0, le=1000)
    page_size: int = Field(default=1000, gt=0, le=1000)


class LocationMap(_Strict):
    erp: str = Field(min_length=1, description="ERP location (Cin7 Core) or warehouse code (BlueCherry)")
    wms_site: str = Field(min_length=1, description="Peoplevox site reference")


class OrderSettings(_Strict):
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

    def service_type_for(self, carrier: str) -> str | None:
        wanted = carrier.strip().casefold()
        found = next((v for k, v in self.service_types.items() if k.casefold() == wanted), None)
        return found or self.default_service_type


class AlertSettings(_Strict):
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


class ReconciliationSettings(_Strict):
    tolerance_units: int = Field(default=0, ge=0)
    tolerance_pct: float = Field(default=0.0, ge=0.0, le=100.0)
    auto_apply_adjustments: bool = False


class Integration(_Strict):
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

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @field_validator("schedules")
    @classmethod
    def _valid_schedules(cls, value: dict[str, str]) -> dict[str, str]:
        from croniter import croniter  # small, pure-python; part of Airflow's own dependencies

        for flow, cron in value.items():
            if flow not in FLOWS:
                raise ValueError(f"unknown flow '{flow}' (known: {', '.join(FLOWS)})")
            if not croniter.is_valid(cron):
                raise ValueError(f"'{cron}' for {flow} is not a valid cron expression")
        return value

    @field_validator("owners")
    @classmethod
    def _known_exception_types(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DEFAULT_OWNERS))
        if unknown:
            raise ValueError(f"unknown exception type(s): {', '.join(unknown)}")
        return value

    @field_validator("paused_flows")
    @classmethod
    def _known_flows(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(FLOWS))
        if unknown:
            raise ValueError(f"unknown flow(s): {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _locations_are_consistent(self) -> Integration:
        erp_names = [loc.erp.casefold() for loc in self.locations]
        sites = [loc.wms_site.casefold() for loc in self.locations]
        dup_erp = sorted({n for n in erp_names if erp_names.count(n) > 1})
        if dup_erp:
            raise ValueError(f"locations: ERP location mapped twice: {', '.join(dup_erp)}")
        if self.erp.kind is ErpKind.CIN7CORE and self.location_mapping != "strict_one_to_one":
            raise ValueError("location_mapping: Cin7 Core integrations must use strict_one_to_one")
        if self.location_mapping == "strict_one_to_one":
            dup_sites = sorted({s for s in sites if sites.count(s) > 1})
            if dup_sites:
                raise ValueError(
                    f"locations: Peoplevox site used by more than one ERP location: {', '.join(dup_sites)} "
                    "(strict_one_to_one needs exactly one ERP location per site)"
                )
        return self

    # --- derived, read-only helpers -------------------------------------------------------------------
    def schedule_for(self, flow: str) -> str:
        return self.schedules.get(flow, DEFAULT_SCHEDULES[flow])

    def owner_of(self, exception_type: str) -> str:
        return self.owners.get(exception_type, DEFAULT_OWNERS.get(exception_type, "integration-engineer"))

    def site_for(self, erp_location: str) -> str | None:
        wanted = erp_location.casefold()
        return next((loc.wms_site for loc in self.locations if loc.erp.casefold() == wanted), None)

    @property
    def label(self) -> str:
        return self.display_name or self.name


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
    "string_pattern_mismatch": "use lower-case letters, digits and underscores, starting with a letter",
    "enum": "use one of the values listed",
    "too_short": "add at least one entry",
}


def _fix_for(error_type: str, field: str, message: str) -> str:
    if error_type in _FIXES:
        return _FIXES[error_type]
    if "time zone" in message:
        return "use an IANA name such as Europe/London or America/New_York"
    if "cron" in message:
        return "use five cron fields, e.g. '*/5 * * * *'"
    if "mapped twice" in message or "more than one ERP location" in message:
        return "keep one line per ERP location and one ERP location per Peoplevox site"
    if "strict_one_to_one" in message:
        return "set location_mapping: strict_one_to_one"
    if "unknown" in message:
        return "use one of the names listed in the message"
    return f"correct the value of {field}"


def problems_from(path: str, error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(Problem(path, field, message, _fix_for(err["type"], field, message)))
    return problems


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{path}: (file): not valid YAML at {where}. Fix: correct the YAML syntax") from None


def check_integration(path: str | Path) -> tuple[Integration | None, list[Problem]]:
    """Validate one file; returns the integration (or None) and every problem found."""
    path = Path(path)
    try:
        data = _read_yaml(path)
    except ConfigError as exc:
        return None, [Problem(str(path), "(file)", str(exc).split(": ", 2)[-1], "fix the file")]
    if not isinstance(data, dict):
        return None, [Problem(str(path), "(top level)", "expected a mapping of settings",
                              "start the file with 'name: <integration>'")]
    try:
        integration = Integration.model_validate(data)
    except ValidationError as exc:
        return None, problems_from(str(path), exc)
    if path.stem != integration.name:
        return integration, [Problem(str(path), "name", f"'{integration.name}' differs from the file name",
                                     f"rename the file to {integration.name}.yaml or change name")]
    return integration, []


def load_integration(path: str | Path) -> Integration:
    integration, problems = check_integration(path)
    if problems or integration is None:
        raise ConfigError("\n".join(str(p) for p in problems))
    return integration


def integration_files(folder: str | Path | None = None) -> list[Path]:
    folder = Path(folder) if folder else DEFAULT_INTEGRATIONS_DIR
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_all(folder: str | Path | None = None) -> list[Integration]:
    """Every integration in ``folder``; raises ConfigError listing all problems of all files."""
    return validate_files(integration_files(folder))


def validate_files(paths: Iterable[str | Path]) -> list[Integration]:
    loaded: list[Integration] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in paths:
        integration, found = check_integration(path)
        problems.extend(found)
        if integration is None or found:
            continue
        if integration.name in seen:
            problems.append(Problem(str(path), "name", f"'{integration.name}' is also defined in "
                                    f"{seen[integration.name]}", "give each integration a unique name"))
            continue
        seen[integration.name] = str(path)
        loaded.append(integration)
    if problems:
        raise ConfigError("\n".join(str(p) for p in problems))
    return loaded
