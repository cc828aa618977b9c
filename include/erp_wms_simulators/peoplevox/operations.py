"""The IntegrationServiceV4 operations: each turns a parsed request into an ``IntegrationResponse``.

Business errors (unknown template, bad search clause, invalid session, refused records) are answered
the Peoplevox way, with ``ResponseId = -1`` and the reason in ``Detail``; only a request the service
cannot read at all raises :class:`SoapFault`.

Faults from the state's plan consulted here: ``session_expiry`` (endpoint = operation) expires the caller's
session, ``partial_save_failure`` (endpoint = template) fails single SaveData records with a temporary
error, ``malformed_report_rows`` (endpoint = report) damages one row of a GetReportData page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from lxml import etree

from erp_wms_simulators.common import page_of
from erp_wms_simulators.peoplevox import reactions, reports
from erp_wms_simulators.peoplevox.csvdata import read_csv, write_csv
from erp_wms_simulators.peoplevox.events import check_subscription
from erp_wms_simulators.peoplevox.saving import Change, SaveRejected, save_csv
from erp_wms_simulators.peoplevox.search import SearchClauseError, compile_clause, evaluate, retarget_numbers
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.soap import IntegrationResult, SoapRequest, boolean, child, integer, text
from erp_wms_simulators.peoplevox.state import INVALID_SESSION, SESSION_EXPIRED, PeoplevoxState, Tenant
from erp_wms_simulators.peoplevox.wsdl import EVENT_TYPES

AUTH_FAILED = "Error: Failed to authenticate - unknown client id, username or password"
AUTH_NOT_BASE64 = "Error: Failed to authenticate - the password must be sent base64-encoded"


@dataclass
class CallContext:
    state: PeoplevoxState
    settings: PeoplevoxSettings
    client_id: str  # from the service URL

    @property
    def tenant(self) -> Tenant:
        tenant = self.state.tenant(self.client_id)
        if tenant is None:  # check_session guarantees a tenant before any data operation runs
            raise LookupError(f"unknown client id {self.client_id!r}")
        return tenant


Handler = Callable[[CallContext, etree._Element], IntegrationResult]
T = TypeVar("T")


def dispatch(ctx: CallContext, request: SoapRequest) -> IntegrationResult:
    """Count the call, check the session (all but Authenticate) and run the operation."""
    with ctx.state.lock:
        ctx.state.calls[(ctx.client_id, request.operation)] += 1
        if request.operation == "Authenticate":
            return authenticate(ctx, request.body)
        header = request.header
        if not header:
            return IntegrationResult.error(INVALID_SESSION)
        problem = ctx.state.check_session(ctx.client_id, header.get("clientid", ""),
                                          header.get("sessionid", ""), ctx.settings)
        if problem:
            return IntegrationResult.error(problem)
        if ctx.state.faults.fires("session_expiry", request.operation) is not None:
            ctx.state.tenants[ctx.client_id].sessions[header.get("sessionid", "").strip()].expired = True
            return IntegrationResult.error(SESSION_EXPIRED)
        try:
            return HANDLERS[request.operation](ctx, request.body)
        except TemplateMissing as missing:
            return template_not_found(missing.name)


def authenticate(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    body_client = (text(body, "clientId") or "").strip()
    if body_client and body_client.lower() != ctx.client_id.lower():
        return IntegrationResult.error(f"{AUTH_FAILED} (clientId '{body_client}' does not match the "
                                       f"service URL's client '{ctx.client_id}')")
    encoded = (text(body, "password") or "").strip()
    try:
        password = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return IntegrationResult.error(AUTH_NOT_BASE64)
    username = (text(body, "username") or "").strip()
    session_id = ctx.state.open_session(ctx.client_id, username, password)
    if session_id is None:
        return IntegrationResult.error(AUTH_FAILED)
    return IntegrationResult(detail=f"{ctx.client_id},{session_id}")


class TemplateMissing(Exception):
    """No template (or report) has the name a request gives; answered as :func:`template_not_found`."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def template_not_found(name: str) -> IntegrationResult:
    return IntegrationResult.error(f"Template '{name}' not found")


def named(element: etree._Element | None, tag: str, lookup: Callable[[str], T | None]) -> T:
    """What ``lookup`` finds for the name in the child ``tag`` of ``element``; :class:`TemplateMissing` if none."""
    name = (text(element, tag) or "").strip()
    found = lookup(name)
    if found is None:
        raise TemplateMissing(name)
    return found


def page_bounds(ctx: CallContext, request: etree._Element | None) -> tuple[int, int]:
    """(1-based page number, page size) with defaults and the server's clamp applied."""
    page_no = max(1, integer(request, "PageNo", 1))
    size = integer(request, "ItemsPerPage", ctx.settings.default_items_per_page)
    if size <= 0:
        size = ctx.settings.default_items_per_page
    return page_no, min(size, ctx.settings.max_items_per_page)


def get_data(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    request = child(body, "getRequest")
    spec = named(request, "TemplateName", ctx.state.template)
    page_no, size = page_bounds(ctx, request)
    try:
        clause = compile_clause(text(request, "SearchClause"), spec.search_columns)
    except SearchClauseError as exc:
        return IntegrationResult.error(str(exc))
    clause = retarget_numbers(clause, spec.numeric_aliases)
    rows = [row for row in ctx.tenant.table(spec.name).values()
            if evaluate(clause, spec.searchable(row, ctx.settings))]
    return IntegrationResult(total_count=len(rows), detail=write_csv(spec.columns, page_of(rows, page_no, size)))


def get_save_template(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    spec = named(body, "templateName", ctx.state.template)
    return IntegrationResult(detail=write_csv(spec.importable, []))


def save_data(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    request = child(body, "saveRequest")
    spec = named(request, "TemplateName", ctx.state.template)
    action = integer(request, "Action", 0)
    changes: list[Change] = []
    faults = ctx.state.faults

    def fault() -> bool:
        return faults.fires("partial_save_failure", spec.name) is not None

    try:
        outcome = save_csv(ctx.tenant, spec, read_csv(text(request, "CsvData") or ""), action, ctx.settings,
                           fault=fault, changes=changes)
    except SaveRejected as exc:
        return IntegrationResult.error(str(exc))
    reactions.after_save(ctx.state, ctx.client_id, ctx.settings, changes)
    if not outcome.failures:
        return IntegrationResult(total_count=outcome.saved, detail="", statuses=outcome.statuses)
    failed_all = outcome.saved == 0
    detail = "\n".join(f"{reference}: {reason}" for reference, reason in outcome.failures)
    return IntegrationResult(response_id=-1 if failed_all else 0, total_count=outcome.saved,
                             detail=detail, statuses=outcome.statuses)


def get_report_columns(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    report = named(body, "templateName", ctx.state.report)
    return IntegrationResult(detail=write_csv(report.columns, []))


def get_report_data(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    request = child(body, "getReportRequest")
    report = named(request, "TemplateName", ctx.state.report)
    page_no, size = page_bounds(ctx, request)
    try:
        columns = reports.select_columns(report, text(request, "Columns"))
        rows = reports.matching_rows(report, ctx.tenant, text(request, "SearchClause"),
                                     text(request, "FilterClause"), text(request, "OrderBy"))
    except (SearchClauseError, reports.ReportRequestError) as exc:
        return IntegrationResult.error(str(exc))
    page = page_of(rows, page_no, size)
    corruption = 0
    if page and ctx.state.faults.fires("malformed_report_rows", report.name) is not None:
        corruption = ctx.state.faults.count("malformed_report_rows")
    return IntegrationResult(total_count=len(rows), detail=reports.render_page(columns, page, corruption))


def _subscribe(ctx: CallContext, body: etree._Element, url_field: str,
               params_field: str | None) -> IntegrationResult:
    event_type = (text(body, "eventType") or "").strip()
    if event_type not in EVENT_TYPES:
        return IntegrationResult.error(f"Unknown event type '{event_type}'. Event types: "
                                       f"{', '.join(EVENT_TYPES)}")
    url = (text(body, url_field) or "").strip()
    if not url.lower().startswith(("http://", "https://")):
        return IntegrationResult.error(f"{url_field} must be an absolute http(s) URL")
    post_params = None if params_field is None else (text(body, params_field) or "")
    filter_clause = text(body, "filter") or ""
    problem = check_subscription(event_type, url, post_params, filter_clause, ctx.settings)
    if problem:
        return IntegrationResult.error(problem)
    subscription_id = ctx.state.add_subscription(
        ctx.client_id, event_type, filter_clause, url, post_params, boolean(body, "encodeParameterData"),
        ctx.settings)
    return IntegrationResult(detail=str(subscription_id))


def subscribe_event(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    return _subscribe(ctx, body, "callbackUrl", None)


def subscribe_post_event(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    return _subscribe(ctx, body, "postUrl", "postParams")


def unsubscribe_event(ctx: CallContext, body: etree._Element) -> IntegrationResult:
    subscription_id = integer(body, "subscriptionId", 0)
    if not ctx.state.remove_subscription(ctx.client_id, subscription_id):
        return IntegrationResult.error(f"Subscription {subscription_id} not found")
    ctx.state.callbacks.cancel(str(subscription_id))  # queued callbacks of a removed subscription are not sent
    return IntegrationResult(detail="True")


HANDLERS: dict[str, Handler] = {
    "GetData": get_data,
    "GetReportData": get_report_data,
    "GetReportColumns": get_report_columns,
    "GetSaveTemplate": get_save_template,
    "SaveData": save_data,
    "SubscribeEvent": subscribe_event,
    "SubscribePostEvent": subscribe_post_event,
    "UnsubscribeEvent": unsubscribe_event,
}
