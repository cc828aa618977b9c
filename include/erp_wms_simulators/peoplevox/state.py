"""In-memory state of the Peoplevox simulator: tenants, users, sessions, template data, subscriptions.

State is keyed by the Peoplevox client id (the first path segment of the service URL). Besides what the
SOAP operations need, :class:`PeoplevoxState` offers an inspection / seeding API for tests and the
scenario driver (``add_tenant``, ``records``, ``seed``, ``calls``). Every public method takes the state
lock, so a test thread may inspect while the server thread serves. Each tenant also has a ``book``: the
simulated warehouse's stock, order progress and history (driven through ``warehouse.Warehouse``), whose
timestamps come from the injectable wall clock ``now``.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from erp_wms_simulators.callbacks import CallbackDispatcher
from erp_wms_simulators.faults import FaultPlan
from erp_wms_simulators.peoplevox.catalog import DEFAULT_REPORTS, DEFAULT_TEMPLATES
from erp_wms_simulators.peoplevox.saving import map_columns, upsert_record
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.stock import StockBook
from erp_wms_simulators.peoplevox.templates import ReportSpec, TemplateSpec
from erp_wms_simulators.traffic import CallCounter


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


INVALID_SESSION = "System : Security - Invalid Session"
SESSION_EXPIRED = "System : Security - Session Expired"


@dataclass
class Session:
    session_id: str
    username: str
    last_used: float
    expired: bool = False


@dataclass
class Subscription:
    subscription_id: int
    event_type: str
    filter: str
    url: str
    post_params: str | None  # None for SubscribeEvent (GET callbacks)
    encode_parameter_data: bool = False


@dataclass
class Tenant:
    """One Peoplevox client (a customer's WMS account)."""

    client_id: str
    users: dict[str, str] = field(default_factory=dict)  # username -> plain password
    sessions: dict[str, Session] = field(default_factory=dict)
    tables: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # template -> key -> row
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    book: StockBook = field(default_factory=StockBook)  # the simulated warehouse (see warehouse.py)

    def table(self, template: str) -> dict[str, dict[str, str]]:
        return self.tables.setdefault(template, {})


class PeoplevoxState:
    """Everything the simulator remembers; safe to share between the server thread and a test."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 templates: Iterable[TemplateSpec] = DEFAULT_TEMPLATES,
                 reports: Iterable[ReportSpec] = DEFAULT_REPORTS,
                 now: Callable[[], datetime] | None = None) -> None:
        self.clock = clock
        self.now: Callable[[], datetime] = now or _utc_now  # wall clock of warehouse events and reports
        self.settings: PeoplevoxSettings | None = None  # the serving app's settings (set by create_app)
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self.calls: Counter[tuple[str, str]] = Counter()
        self.traffic = CallCounter()  # per endpoint and status, counted by the served app (traffic.py)
        self.templates: dict[str, TemplateSpec] = {}
        self.reports: dict[str, ReportSpec] = {}
        self._next_subscription_id: dict[str, int] = {}
        self.faults = FaultPlan.none("peoplevox")
        self.callbacks = CallbackDispatcher("peoplevox", self.faults)  # fires once; retries are a knob
        for spec in templates:
            self.register_template(spec)
        for report in reports:
            self.register_report(report)

    # -- registries -------------------------------------------------------------------------------
    def register_template(self, spec: TemplateSpec) -> None:
        with self.lock:
            self.templates[spec.name.lower()] = spec

    def register_report(self, spec: ReportSpec) -> None:
        with self.lock:
            self.reports[spec.name.lower()] = spec

    def template(self, name: str) -> TemplateSpec | None:
        """The template called ``name`` (names are matched ignoring case and outer spaces)."""
        return self.templates.get(name.strip().lower())

    def report(self, name: str) -> ReportSpec | None:
        return self.reports.get(name.strip().lower())

    # -- tenants and users ------------------------------------------------------------------------
    def add_tenant(self, client_id: str, username: str, password: str) -> Tenant:
        """Create the tenant if needed and (re)set one user's password."""
        with self.lock:
            tenant = self.tenants.setdefault(client_id, Tenant(client_id))
            tenant.users[username] = password
            return tenant

    def tenant(self, client_id: str) -> Tenant | None:
        return self.tenants.get(client_id)

    # -- sessions ---------------------------------------------------------------------------------
    def open_session(self, client_id: str, username: str, password: str) -> str | None:
        """A new 32-hex session id, or ``None`` when the tenant, user or password is wrong."""
        with self.lock:
            tenant = self.tenants.get(client_id)
            if tenant is None or tenant.users.get(username) != password:
                return None
            session_id = secrets.token_hex(16)
            tenant.sessions[session_id] = Session(session_id, username, self.clock())
            return session_id

    def check_session(self, client_id: str, header_client_id: str, session_id: str,
                      settings: PeoplevoxSettings) -> str | None:
        """``None`` when the session is valid (and refreshes it), else the Peoplevox error text."""
        with self.lock:
            tenant = self.tenants.get(client_id)
            if tenant is None or header_client_id.strip().lower() != client_id.lower():
                return INVALID_SESSION
            session = tenant.sessions.get(session_id.strip())
            if session is None:
                return INVALID_SESSION
            now = self.clock()
            if session.expired or now - session.last_used > settings.session_idle_seconds:
                session.expired = True
                return SESSION_EXPIRED
            session.last_used = now
            return None

    def expire_sessions(self, client_id: str | None = None) -> int:
        """Mark every open session (of one tenant, or of all) expired; returns how many were live."""
        with self.lock:
            tenants = [self.tenants[client_id]] if client_id in self.tenants else (
                [] if client_id is not None else list(self.tenants.values()))
            count = 0
            for tenant in tenants:
                for session in tenant.sessions.values():
                    count += not session.expired
                    session.expired = True
            return count

    # -- data -------------------------------------------------------------------------------------
    def records(self, client_id: str, template: str) -> dict[str, dict[str, str]]:
        """A copy of the template's records of one tenant (key -> row); empty when none."""
        with self.lock:
            tenant = self.tenants.get(client_id)
            spec = self.template(template)
            if tenant is None or spec is None:
                return {}
            return copy.deepcopy(tenant.tables.get(spec.name, {}))

    def seed(self, client_id: str, template: str, rows: Iterable[Mapping[str, str]],
             settings: PeoplevoxSettings | None = None) -> int:
        """Upsert ``rows`` as SaveData would (same validation, any export column may be given).

        Raises ValueError (naming the record) on the first row that is refused.
        """
        settings = settings or PeoplevoxSettings()
        with self.lock:
            tenant = self.tenants.get(client_id)
            if tenant is None:
                raise ValueError(f"unknown Peoplevox client id {client_id!r}: call add_tenant first")
            spec = self.template(template)
            if spec is None:
                raise ValueError(f"Template '{template}' not found")
            count = 0
            for row in rows:
                names = map_columns(spec, [str(name) for name in row], spec.columns)
                cells = {name: "" if value is None else str(value)
                         for name, value in zip(names, row.values(), strict=True)}
                error = upsert_record(tenant, spec, cells, settings)
                if error is not None:
                    raise ValueError(f"cannot seed {spec.name} record {spec.record_key(cells)!r}: {error}")
                count += 1
            return count

    # -- subscriptions ----------------------------------------------------------------------------
    def add_subscription(self, client_id: str, event_type: str, filter_clause: str, url: str,
                         post_params: str | None, encode: bool, settings: PeoplevoxSettings) -> int:
        with self.lock:
            tenant = self.tenants[client_id]
            next_id = self._next_subscription_id.get(client_id, settings.first_subscription_id)
            self._next_subscription_id[client_id] = next_id + 1
            tenant.subscriptions[next_id] = Subscription(next_id, event_type, filter_clause, url,
                                                         post_params, encode)
            return next_id

    def remove_subscription(self, client_id: str, subscription_id: int) -> bool:
        with self.lock:
            tenant = self.tenants[client_id]
            return tenant.subscriptions.pop(subscription_id, None) is not None

    def subscriptions(self, client_id: str) -> list[Subscription]:
        """A copy of one tenant's live subscriptions, oldest first."""
        with self.lock:
            tenant = self.tenants.get(client_id)
            return [] if tenant is None else [copy.copy(s) for s in tenant.subscriptions.values()]
