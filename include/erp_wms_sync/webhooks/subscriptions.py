"""Callback subscriptions in the vendor systems: make Peoplevox and Cin7 Core call the receiver, and keep them so.

:func:`sync_subscriptions` is idempotent: run it after a deploy, after the receiver's public URL or its secret
changed, and on a schedule (Cin7 Core deactivates a webhook after its 6th failed delivery; a sync turns it back on).

- **Peoplevox**: the despatch events (``PEOPLEVOX_EVENTS``, for dispatch confirmation) and the stock and returns
  events (``IncrementalChanges`` for inventory sync, ``Returns`` for the returns flow; ``AvailabilityChanges`` is
  accepted by the receiver but not subscribed, see ``PEOPLEVOX_SUBSCRIBED_EVENTS``), each with the fields its
  flow reads. Peoplevox has no operation that lists subscriptions, so the id ``SubscribeEvent`` returns is kept
  in the ledger (:class:`~erp_wms_sync.ledger.models.Subscription`, one row per integration and event). A row whose
  callback URL is unchanged (compared through a sha256 of the full URL in ``note``; the URL itself holds the
  secret and is stored with it replaced by ``***``) is left alone. A changed URL or secret, or ``force``,
  unsubscribes the old id (Peoplevox not knowing it any more is fine) and subscribes again.
- **Cin7 Core** lists its webhooks, so the listing is the truth: ours is the one of the type whose
  ``ExternalURL`` is the integration's callback URL. Missing → created; deactivated → made active again
  (``reactivated``); credentials changed → updated; more than one of ours for a type → the extras deleted.
  A webhook the ledger recorded as ours but pointing at another URL (the receiver moved) is deleted too.

Every change is reported (:class:`SyncReport`) per system and event with the vendor's id, never a secret. A vendor
call that fails does not stop the others: it is reported as ``failed`` and the ledger keeps what was really done,
so the caller can commit and then fail (:meth:`SyncReport.raise_for_failures`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from erp_wms_sync.config import ErpKind, Integration
from erp_wms_sync.connectors.redaction import redact, remember
from erp_wms_sync.domain.stock_movements import stock_callback_url
from erp_wms_sync.errors import ApiResponseInvalid, ConfigError, ErpWmsSyncError
from erp_wms_sync.ledger.models import Subscription, utcnow
from erp_wms_sync.webhooks import (
    CIN7_EVENTS,
    CIN7CORE,
    PEOPLEVOX,
    PEOPLEVOX_STOCK_EVENTS,
    PEOPLEVOX_SUBSCRIBED_EVENTS,
    cin7_callback_url,
    peoplevox_callback_url,
)

CREATED = "created"
KEPT = "kept"
REACTIVATED = "reactivated"
UPDATED = "updated"
REMOVED = "removed"
FAILED = "failed"
ACTIONS = (CREATED, KEPT, REACTIVATED, UPDATED, REMOVED, FAILED)

MASK = "***"
MIN_SECRET_LENGTH = 16
# The secret travels in the Peoplevox callback URL's query: only characters that need no encoding there.
_URL_SAFE_SECRET = re.compile(r"^[A-Za-z0-9._~-]+$")
_CREDENTIAL_FIELDS = ("ExternalUserName", "ExternalPassword", "ExternalBearerToken")


class SubscriptionError(ErpWmsSyncError):
    """Some subscriptions could not be made or repaired; the message lists which, and why."""


class PeoplevoxSubscriber(Protocol):
    """The part of the Peoplevox client used here (:class:`~erp_wms_sync.connectors.peoplevox.PeoplevoxClient`)."""

    def subscribe_event(self, event_type: str, callback_url: str, filter: str = "", encode: bool = True) -> int: ...

    def unsubscribe_event(self, subscription_id: int) -> bool: ...


class Cin7Webhooks(Protocol):
    """The webhook calls of the Cin7 Core client (answers are checked here, whatever the client promises)."""

    def list_webhooks(self) -> Any: ...

    def create_webhook(self, webhook: dict[str, Any], /) -> Any: ...

    def update_webhook(self, webhook: dict[str, Any], /) -> Any: ...

    def delete_webhook(self, webhook_id: str, /) -> Any: ...


@dataclass(frozen=True)
class SubscriptionChange:
    """What one sync did to one subscription: ``action`` is one of :data:`ACTIONS`."""

    system: str
    event_type: str
    action: str
    external_id: str = ""
    detail: str = ""

    def line(self) -> str:
        text = f"{self.system} {self.event_type}: {self.action}"
        if self.external_id:
            text += f" (id {self.external_id})"
        return f"{text} — {self.detail}" if self.detail else text


@dataclass
class SyncReport:
    """Every change one sync made for one integration, in the order made."""

    integration: str
    changes: list[SubscriptionChange] = field(default_factory=list)

    def add(self, system: str, event_type: str, action: str, external_id: str = "", detail: str = "") -> None:
        self.changes.append(SubscriptionChange(system, event_type, action, external_id, detail))

    @property
    def failed(self) -> list[SubscriptionChange]:
        return [change for change in self.changes if change.action == FAILED]

    def counts(self) -> dict[str, int]:
        counted = Counter(change.action for change in self.changes)
        return {action: counted[action] for action in ACTIONS if counted[action]}

    def lines(self) -> list[str]:
        summary = ", ".join(f"{n} {action}" for action, n in self.counts().items()) or "nothing to do"
        return [f"{self.integration}: {summary}"] + [f"  {change.line()}" for change in self.changes]

    def as_dict(self) -> dict[str, Any]:
        return {"integration": self.integration, "counts": self.counts(),
                "changes": [asdict(change) for change in self.changes]}

    def raise_for_failures(self) -> None:
        """Raise :class:`SubscriptionError` naming every failed change (after the ledger kept what was done)."""
        if self.failed:
            raise SubscriptionError(f"{self.integration}: {len(self.failed)} subscription change(s) failed: "
                                    + "; ".join(change.line() for change in self.failed))


def sync_subscriptions(integration: Integration, *, session: Session, wms: PeoplevoxSubscriber,
                       erp: Cin7Webhooks | Any, base_url: str, secret: str, login: str | None,
                       force: bool = False) -> SyncReport:
    """Make Peoplevox (and Cin7 Core, for a Cin7 integration) call the receiver at ``base_url`` with ``secret``.

    ``base_url`` is the receiver's public address including the plugin prefix (``https://airflow.example.com/
    erp-wms``); ``login``, when set, makes Cin7 Core authenticate with HTTP Basic (``login`` + ``secret``), else
    with ``Bearer <secret>``. ``erp`` is the ERP client (ignored for BlueCherry, which has no webhooks).
    ``force`` re-subscribes Peoplevox events even when nothing changed (Peoplevox cannot be asked whether a
    subscription still exists). Settings that cannot work raise :class:`ConfigError` before any call.
    """
    base_url = check_settings(integration, base_url, secret)
    remember(secret)
    report = SyncReport(integration.name)
    job = _Job(integration, session, base_url, secret, login or None, report)
    _sync_peoplevox(job, wms, force)
    job.commit()
    if integration.erp.kind is ErpKind.CIN7CORE:
        if not all(callable(getattr(erp, name, None)) for name in ("list_webhooks", "create_webhook",
                                                                    "update_webhook", "delete_webhook")):
            raise ConfigError(f"integration {integration.name}: Cin7 Core webhooks need the Cin7 Core client of "
                              f"connection {integration.erp.conn_id}, got {type(erp).__name__}")
        _sync_cin7(job, erp)
        job.commit()
    return report


def check_settings(integration: Integration, base_url: str, secret: str) -> str:
    """The base URL without a trailing slash, or :class:`ConfigError` naming the connection and what to set."""
    where = f"integration {integration.name} (connection {integration.webhook_conn_id})"
    problems = []
    url = (base_url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"the receiver base URL {url!r} is not an http(s) URL: set the host to the public address "
                        "of the Airflow API server with the plugin prefix, e.g. https://airflow.example.com/erp-wms")
    elif parts.query or parts.fragment:
        problems.append(f"the receiver base URL {url!r} must not hold a query or fragment")
    if not secret:
        problems.append("the shared secret is empty: set the connection's password")
    elif len(secret) < MIN_SECRET_LENGTH or not _URL_SAFE_SECRET.match(secret):
        problems.append(f"the shared secret must be at least {MIN_SECRET_LENGTH} characters of A-Z a-z 0-9 . _ ~ - "
                        "(it travels in the Peoplevox callback URL): generate one with "
                        "python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return url


def stored_subscriptions(session: Session, integrations: Sequence[str] = ()) -> list[Subscription]:
    """The subscriptions the ledger holds (of ``integrations``, or all), by integration, system and event."""
    query = select(Subscription).order_by(Subscription.integration, Subscription.system, Subscription.event_type)
    if integrations:
        query = query.where(Subscription.integration.in_(list(integrations)))
    return list(session.scalars(query))


def digest(text: str) -> str:
    """What ``note`` keeps to notice a changed URL or secret without storing either."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Job:
    integration: Integration
    session: Session
    base_url: str
    secret: str
    login: str | None
    report: SyncReport

    @property
    def name(self) -> str:
        return self.integration.name

    def rows(self, system: str) -> dict[str, Subscription]:
        query = select(Subscription).where(Subscription.integration == self.name, Subscription.system == system)
        return {row.event_type: row for row in self.session.scalars(query)}

    def save(self, row: Subscription | None, system: str, event_type: str, external_id: str, url: str,
             note: str) -> None:
        now = utcnow()
        if row is None:
            self.session.add(Subscription(integration=self.name, system=system, event_type=event_type,
                                          external_id=external_id, url=url, active=True, created_at=now,
                                          checked_at=now, note=note))
        else:
            row.external_id, row.url, row.active, row.checked_at, row.note = external_id, url, True, now, note
        self.commit()

    def commit(self) -> None:
        """Commit what was done so far: a vendor call must never wait while this session holds the ledger's write
        lock (the API budget of the same key lives in the same database), and done work survives a later failure."""
        self.session.commit()

    def error(self, exc: Exception) -> str:
        """An error for the report: the exception's text without the secret (in any encoding)."""
        return redact(f"{type(exc).__name__}: {exc}", (self.secret,))


# --- Peoplevox ------------------------------------------------------------------------------------------------
def peoplevox_event_url(base_url: str, integration: str, event_type: str, token: str) -> str:
    """The callback URL registered for one of ``PEOPLEVOX_ACCEPTED_EVENTS``: the despatch fields for a despatch
    event, the event's own fields (:data:`~erp_wms_sync.domain.stock_movements.STOCK_FIELDS`) for a stock or
    returns event."""
    if event_type in PEOPLEVOX_STOCK_EVENTS:
        return stock_callback_url(base_url, integration, event_type, token)
    return peoplevox_callback_url(base_url, integration, event_type, token)


def _sync_peoplevox(job: _Job, wms: PeoplevoxSubscriber, force: bool) -> None:
    rows = job.rows(PEOPLEVOX)
    for event in PEOPLEVOX_SUBSCRIBED_EVENTS:
        url = peoplevox_event_url(job.base_url, job.name, event, job.secret)
        masked = peoplevox_event_url(job.base_url, job.name, event, MASK)
        row = rows.get(event)
        if row is not None and row.active and row.note == digest(url) and not force:
            row.checked_at = utcnow()
            job.report.add(PEOPLEVOX, event, KEPT, row.external_id)
            continue
        _subscribe_peoplevox(job, wms, event, row, url, masked, force)
    for event, row in rows.items():
        if event not in PEOPLEVOX_SUBSCRIBED_EVENTS:  # an event the product no longer subscribes to
            if _unsubscribe_peoplevox(job, wms, event, row.external_id):
                job.session.delete(row)
                job.commit()
                job.report.add(PEOPLEVOX, event, REMOVED, row.external_id, "event no longer used")


def _subscribe_peoplevox(job: _Job, wms: PeoplevoxSubscriber, event: str, row: Subscription | None, url: str,
                         masked: str, force: bool) -> None:
    """(Un)subscribe so that exactly one Peoplevox subscription of ``event`` calls ``url``; the row follows."""
    reason = ""
    if row is not None:
        reason = ("forced" if force and row.note == digest(url) else
                  "the previous subscription failed" if not row.active else "callback URL or secret changed")
        if row.active and not _unsubscribe_peoplevox(job, wms, event, row.external_id):
            return  # the old one may still call: nothing changed, the next sync tries again
        row.active, row.note = False, None  # gone in Peoplevox: a failed subscribe below is retried next time
    try:
        new_id = wms.subscribe_event(event, url, encode=True)
    except ErpWmsSyncError as exc:
        job.report.add(PEOPLEVOX, event, FAILED, detail=f"SubscribeEvent failed: {job.error(exc)}")
        return
    if isinstance(new_id, bool) or not isinstance(new_id, int) or new_id <= 0:
        job.report.add(PEOPLEVOX, event, FAILED, detail=f"SubscribeEvent answered {new_id!r}, not a subscription id")
        return
    old_id = row.external_id if row is not None else ""
    job.save(row, PEOPLEVOX, event, str(new_id), masked, digest(url))
    if row is None:
        job.report.add(PEOPLEVOX, event, CREATED, str(new_id))
    else:
        job.report.add(PEOPLEVOX, event, UPDATED, str(new_id), f"{reason}; replaces subscription {old_id}")


def _unsubscribe_peoplevox(job: _Job, wms: PeoplevoxSubscriber, event: str, external_id: str) -> bool:
    """Remove a stored Peoplevox subscription; True when it is gone (also when Peoplevox did not know it)."""
    try:
        wms.unsubscribe_event(int(external_id))
    except ValueError:
        return True  # not a Peoplevox id: nothing there to remove
    except ErpWmsSyncError as exc:
        job.report.add(PEOPLEVOX, event, FAILED, external_id,
                       f"UnsubscribeEvent failed, the subscription is kept as it was: {job.error(exc)}")
        return False
    return True


# --- Cin7 Core ------------------------------------------------------------------------------------------------
def _sync_cin7(job: _Job, erp: Cin7Webhooks) -> None:
    url = cin7_callback_url(job.base_url, job.name)
    wanted = _cin7_auth(job.login, job.secret)
    note = digest(json.dumps({"url": url, **wanted}, sort_keys=True))
    try:
        listed = _listed_webhooks(erp.list_webhooks())
    except ErpWmsSyncError as exc:
        for event in CIN7_EVENTS:
            job.report.add(CIN7CORE, event, FAILED, detail=f"GET webhooks failed: {job.error(exc)}")
        return
    rows = job.rows(CIN7CORE)
    for event in CIN7_EVENTS:
        _sync_cin7_event(job, erp, event, rows.get(event), listed, url, wanted, note)
    for event, row in rows.items():
        if event not in CIN7_EVENTS:  # a type the product no longer listens to
            if not any(_same_id(hook["ID"], row.external_id) for hook in listed):
                job.session.delete(row)
                job.commit()
                job.report.add(CIN7CORE, event, REMOVED, row.external_id, "type no longer used; already gone")
            elif _delete_webhook(job, erp, event, row.external_id, "type no longer used"):
                job.session.delete(row)
                job.commit()


def _sync_cin7_event(job: _Job, erp: Cin7Webhooks, event: str, row: Subscription | None,
                     listed: list[dict[str, Any]], url: str, wanted: dict[str, Any], note: str) -> None:
    same_type = [hook for hook in listed if str(hook["Type"]).casefold() == event.casefold()]
    ours = [hook for hook in same_type if str(hook.get("ExternalURL") or "").strip() == url]
    recorded = row.external_id if row is not None else ""
    moved = [hook for hook in same_type if hook not in ours and recorded and _same_id(hook["ID"], recorded)]
    keep = next((hook for hook in ours if recorded and _same_id(hook["ID"], recorded)), None)
    keep = keep or next((hook for hook in ours if hook.get("IsActive") is True), None) or next(iter(ours), None)
    body = {"Type": event, "IsActive": True, "ExternalURL": url, **wanted}
    if keep is None:
        try:
            created = _checked(erp.create_webhook(body), event, url, None)
        except ErpWmsSyncError as exc:
            job.report.add(CIN7CORE, event, FAILED, detail=f"POST webhooks failed: {job.error(exc)}")
            return
        keep_id = str(created["ID"])
        job.report.add(CIN7CORE, event, CREATED, keep_id, "replaces a webhook at another URL" if moved else "")
    else:
        keep_id = str(keep["ID"])
        action = _cin7_action(keep, wanted, row, note)
        if action == KEPT:
            job.report.add(CIN7CORE, event, KEPT, keep_id)
        else:
            try:
                _checked(erp.update_webhook({"ID": keep_id, **body}), event, url, keep_id)
            except ErpWmsSyncError as exc:
                job.report.add(CIN7CORE, event, FAILED, keep_id, f"PUT webhooks failed: {job.error(exc)}")
                return
            detail = ("Cin7 Core had deactivated it (deliveries kept failing); active again" if action == REACTIVATED
                      else "credentials changed")
            job.report.add(CIN7CORE, event, action, keep_id, detail)
    job.save(row, CIN7CORE, event, keep_id, url, note)
    for hook in ours:
        if hook is not keep:
            _delete_webhook(job, erp, event, str(hook["ID"]), "a second webhook of ours for this type")
    for hook in moved:
        _delete_webhook(job, erp, event, str(hook["ID"]), "it called the receiver's previous URL")


def _cin7_action(hook: Mapping[str, Any], wanted: Mapping[str, Any], row: Subscription | None, note: str) -> str:
    """``reactivated`` for a webhook Cin7 deactivated, ``updated`` when its credentials are (or may be) not ours."""
    if hook.get("IsActive") is not True:
        return REACTIVATED
    if str(hook.get("ExternalAuthorizationType") or "").strip().lower() != wanted["ExternalAuthorizationType"]:
        return UPDATED
    shown = {name: str(hook.get(name) or "") for name in _CREDENTIAL_FIELDS if name in wanted}
    shown = {name: value for name, value in shown.items() if value.strip("*")}  # blank or masked: not shown
    if any(value != wanted[name] for name, value in shown.items()):
        return UPDATED
    if len(shown) == len([name for name in _CREDENTIAL_FIELDS if name in wanted]):
        return KEPT  # Cin7 shows every credential and each is ours
    return KEPT if row is not None and row.note == note else UPDATED  # hidden: trust what the ledger recorded


def _delete_webhook(job: _Job, erp: Cin7Webhooks, event: str, webhook_id: str, why: str) -> bool:
    try:
        erp.delete_webhook(webhook_id)
    except ErpWmsSyncError as exc:
        job.report.add(CIN7CORE, event, FAILED, webhook_id, f"DELETE webhooks ({why}) failed: {job.error(exc)}")
        return False
    job.report.add(CIN7CORE, event, REMOVED, webhook_id, why)
    return True


def _cin7_auth(login: str | None, secret: str) -> dict[str, Any]:
    if login:
        return {"ExternalAuthorizationType": "basicauth", "ExternalUserName": login, "ExternalPassword": secret}
    return {"ExternalAuthorizationType": "bearerauth", "ExternalBearerToken": secret}


def _listed_webhooks(answer: Any) -> list[dict[str, Any]]:
    """The webhooks of a listing (a list, or ``{"Webhooks": [...]}``), each with a text ``ID`` and ``Type``."""
    hooks = answer.get("Webhooks") if isinstance(answer, Mapping) else answer
    if not isinstance(hooks, list):
        raise ApiResponseInvalid(CIN7CORE, f"GET webhooks answered a {type(hooks).__name__}, not a list of webhooks")
    for index, hook in enumerate(hooks, start=1):
        if not isinstance(hook, dict) or not _text(hook.get("ID")) or not _text(hook.get("Type")):
            raise ApiResponseInvalid(CIN7CORE, f"GET webhooks: entry {index} has no ID or Type")
    return hooks


def _checked(answer: Any, event: str, url: str, webhook_id: str | None) -> dict[str, Any]:
    """The webhook a POST/PUT answered, if it is the one asked for (``{"Webhooks": [one]}`` or the object)."""
    if isinstance(answer, Mapping) and "Webhooks" in answer:
        hooks = answer["Webhooks"]
        answer = hooks[0] if isinstance(hooks, list) and len(hooks) == 1 else None
    what = "PUT" if webhook_id else "POST"
    if not isinstance(answer, dict) or not _text(answer.get("ID")):
        raise ApiResponseInvalid(CIN7CORE, f"{what} webhooks {event}: the answer is not a webhook with an ID")
    if webhook_id is not None and not _same_id(str(answer["ID"]), webhook_id):
        raise ApiResponseInvalid(CIN7CORE, f"PUT webhooks {webhook_id}: the answer is webhook {answer['ID']}")
    if str(answer.get("Type") or "").casefold() != event.casefold() or str(answer.get("ExternalURL")) != url:
        raise ApiResponseInvalid(CIN7CORE, f"{what} webhooks {event}: the answer is webhook {answer['ID']} of type "
                                 f"{answer.get('Type')!r} at another URL or type than asked")
    if answer.get("IsActive") is not True:
        raise ApiResponseInvalid(CIN7CORE, f"{what} webhooks {event}: webhook {answer['ID']} is still inactive")
    return answer


def _same_id(left: str, right: str) -> bool:
    return str(left).strip().lower() == str(right).strip().lower()


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
