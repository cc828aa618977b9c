"""Client of the Peoplevox WMS IntegrationServiceV4 SOAP API.

The client builds a zeep proxy from the service's own WSDL — taken from :mod:`.peoplevox_wsdl`'s cache (per URL,
in the process and on disk), so it is fetched about once a day rather than once per task; a call that a changed
WSDL explains fetches it again once — and sends every request through :class:`HttpTransport` (timeouts, retry
with backoff on 5xx and connection errors, redaction of the password, its base64 form and the session id).

Sessions are opened lazily. When a call is refused with "Invalid Session" or "Session Expired" the
client re-authenticates once and repeats that call; a second refusal raises :class:`ApiAuthError`.
Data is exchanged as CSV: :meth:`PeoplevoxClient.get_data` pages through a template until
``TotalCount`` rows have been read, with the shared pager's checks (a short page before the total is read
again then refused, a repeated page is refused) and the CSV's (the template's key column must be there and
filled, every row exactly as wide as the header). :meth:`PeoplevoxClient.save_data` sends batches and reports
one :class:`RecordOutcome` per row (a refused batch fails its rows, it does not raise; an answer about records
that were not sent raises). :meth:`PeoplevoxClient.get_report` pages through a report the same way (quoted
report dates are unwrapped, and :func:`report_datetime` parses them). Event subscriptions: :meth:`subscribe_event`,
:meth:`subscribe_post_event`, :meth:`unsubscribe_event` (Peoplevox cannot list them: keep the ids).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import zeep
import zeep.exceptions
from lxml import etree

from erp_wms_sync.connectors.parsing import Pager, iter_pages, key_of
from erp_wms_sync.connectors.peoplevox_soap import (
    BINDING,
    HEADER_ELEMENT,
    REPORT_KEYS,
    STALE_WSDL_SIGNS,
    TEMPLATE_KEYS,
    IntegrationResult,
    RecordOutcome,
    ZeepHttpTransport,
    csv_header,
    foreign_statuses,
    merge_outcomes,
    read_header,
    read_report_rows,
    read_rows,
    report_datetime,
    write_rows,
    zeep_error,
)
from erp_wms_sync.connectors.peoplevox_wsdl import SHARED, CachedWsdl, WsdlCache
from erp_wms_sync.connectors.redaction import redact, remember
from erp_wms_sync.connectors.transport import HttpTransport, RetryPolicy, trim
from erp_wms_sync.errors import ApiAuthError, ApiError, ApiRejected, ApiResponseInvalid

__all__ = ["ITEM_TYPES", "SALES_ORDERS", "SALES_ORDER_ITEMS", "PeoplevoxClient", "RecordOutcome", "report_datetime"]

log = logging.getLogger(__name__)

SYSTEM = "peoplevox"
ITEM_TYPES = "Item types"
ITEM_KEY = "ItemCode"
SALES_ORDERS = "Sales orders"
SALES_ORDER_ITEMS = "Sales order items"
ORDER_KEY = "SalesOrderNumber"
MAX_PAGE_SIZE = 1000
DEFAULT_MAX_PAGES = 10_000
DEFAULT_SAVE_BATCH = 250  # rows per SaveData call; why this size: docs/design-notes.md, "Peoplevox calls"
SESSION_RENEWALS = 2  # new sessions asked for in one call while Peoplevox refuses the session
PUBLIC_BATCH = 100  # the most rows per SaveData call public clients are known to send
WSDL_SETTINGS = zeep.Settings(xml_huge_tree=True)


class PeoplevoxClient:
    """One Peoplevox client id, one user; no I/O until the first call."""

    def __init__(self, base_url: str, client_id: str, username: str, password: str, *,
                 timeout: tuple[float, float] = (5, 60), retry: RetryPolicy | None = None,
                 page_size: int = MAX_PAGE_SIZE, save_batch_size: int = DEFAULT_SAVE_BATCH,
                 max_pages: int = DEFAULT_MAX_PAGES, wsdl_cache: WsdlCache | None = None) -> None:
        if page_size < 1 or save_batch_size < 1 or max_pages < 1:
            raise ValueError("page_size, save_batch_size and max_pages must be positive")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.username = username
        self._password = password
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.page_size = min(page_size, MAX_PAGE_SIZE)
        self.save_batch_size = save_batch_size
        self.max_pages = max_pages
        self._http: HttpTransport | None = None
        self._service: Any = None
        self._header_type: Any = None
        self._wsdl_cache = wsdl_cache or SHARED
        self._wsdl: CachedWsdl | None = None
        self._wsdl_refreshed = False
        self._session_id: str | None = None
        self._secrets: list[str] = [password, base64.b64encode(password.encode()).decode()]

    @property
    def service_url(self) -> str:
        return f"{self.base_url}/{self.client_id}/resources/integrationservicev4.asmx"

    @property
    def wsdl_url(self) -> str:
        return f"{self.service_url}?wsdl"

    # -- plumbing -----------------------------------------------------------------------------------
    def _transport(self) -> HttpTransport:
        if self._http is None:
            self._http = HttpTransport(system=SYSTEM, base_url=self.service_url, secrets=tuple(self._secrets),
                                       timeout=self.timeout, retry=self.retry)
        return self._http

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _remember_secret(self, secret: str) -> None:
        """Redact ``secret`` (a session id) from now on, here and wherever this process logs (see
        :func:`~erp_wms_sync.connectors.redaction.remember`)."""
        self._secrets.append(secret)
        self._transport().secrets = tuple(self._secrets)
        remember(secret)

    def _proxy(self) -> Any:
        """The zeep service proxy, built on first use from the shared WSDL cache (:mod:`.peoplevox_wsdl`): a WSDL
        another client of this process, or an earlier task on this machine, already fetched is not fetched again."""
        if self._service is None:
            try:
                wsdl = self._wsdl_cache.document(self.wsdl_url, self._fetch, WSDL_SETTINGS)
                client = zeep.Client(wsdl.document, transport=ZeepHttpTransport(self._transport()),
                                     settings=WSDL_SETTINGS)
                self._header_type = client.get_element(HEADER_ELEMENT)
                self._service = client.create_service(BINDING, self.service_url)
            except (zeep.exceptions.Error, etree.XMLSyntaxError, ValueError, KeyError) as exc:
                raise ApiResponseInvalid(SYSTEM, f"the WSDL cannot be used: {self._describe(exc)}",
                                         url=self.wsdl_url) from None
            self._wsdl = wsdl
        return self._service

    def _fetch(self, url: str) -> bytes:
        return self._transport().request("GET", url).content

    def _describe(self, exc: BaseException) -> str:
        return trim(self._redact(f"{type(exc).__name__}: {exc}"))

    def _invoke(self, operation: str, *, session: bool = True, **kwargs: Any) -> IntegrationResult:
        """Call one operation (with the session header unless ``session`` is false) and translate zeep's failures
        into the project's errors.

        A call made with a cached WSDL that fails the way a changed WSDL would (a SOAP fault, an answer or a
        request the description cannot map, an operation it lacks) drops the cache and fetches the WSDL once
        more; only if the new one differs is the call repeated (SaveData upserts by key, so a repeat is safe).
        """
        try:
            return self._invoke_once(operation, session, kwargs)
        except STALE_WSDL_SIGNS as exc:
            if isinstance(exc, zeep.exceptions.TransportError) or not self._refresh_wsdl(operation, exc):
                raise self._translate(operation, exc) from None
        try:
            return self._invoke_once(operation, session, kwargs)
        except STALE_WSDL_SIGNS as exc:
            raise self._translate(operation, exc) from None

    def _invoke_once(self, operation: str, session: bool, kwargs: Mapping[str, Any]) -> IntegrationResult:
        proxy = self._proxy()
        headers = {"_soapheaders": [self._header()]} if session else {}
        value = getattr(proxy, operation)(**kwargs, **headers)
        if value is None:
            raise ApiResponseInvalid(SYSTEM, f"{operation} returned no result", url=self.service_url)
        return IntegrationResult.from_zeep(value)

    def _refresh_wsdl(self, operation: str, exc: BaseException) -> bool:
        """Fetch the WSDL again after ``operation`` failed with a cached one; true when it changed."""
        used = self._wsdl
        if used is None or used.fetched or self._wsdl_refreshed:
            return False
        self._wsdl_refreshed = True
        log.info("peoplevox %s failed with the cached WSDL (%s); fetching the WSDL again", operation,
                 self._describe(exc))
        self._wsdl_cache.forget(self.wsdl_url)
        self._service = None
        self._proxy()
        return self._wsdl is not None and self._wsdl.digest != used.digest

    def _translate(self, operation: str, exc: Exception) -> ApiError:
        return zeep_error(operation, exc, self._redact, self._describe(exc), self.service_url)

    def _header(self) -> Any:
        return self._header_type(UserId=0, ClientId=self.client_id, SessionId=self._session_id)

    def _call(self, operation: str, **kwargs: Any) -> IntegrationResult:
        """Call with the session header; re-authenticate (at most :data:`SESSION_RENEWALS` times) while the
        session is refused. A fresh session refused again is usually a race (another process of the same user
        logged in, the service restarted); refused after every renewal, it is an :class:`ApiAuthError`."""
        if self._session_id is None:
            self.authenticate()
        result = self._invoke(operation, **kwargs)
        for renewal in range(1, SESSION_RENEWALS + 1):
            if not result.session_problem:
                return result
            log.info("peoplevox %s: %s; re-authenticating (%d/%d)", operation, self._redact(trim(result.detail)),
                     renewal, SESSION_RENEWALS)
            self.authenticate()
            result = self._invoke(operation, **kwargs)
        if result.session_problem:
            raise ApiAuthError(SYSTEM, f"{operation} refused the session again after re-authenticating "
                               f"{SESSION_RENEWALS} times: {self._redact(result.detail)}", url=self.service_url)
        return result

    # -- operations ---------------------------------------------------------------------------------
    def authenticate(self) -> str:
        """Open a new session and return its id."""
        encoded = base64.b64encode(self._password.encode()).decode()
        result = self._invoke("Authenticate", session=False, clientId=self.client_id, username=self.username,
                              password=encoded)
        if not result.ok:
            raise ApiAuthError(SYSTEM, f"Authenticate refused user '{self.username}' of client "
                               f"'{self.client_id}': {self._redact(result.detail)}", url=self.service_url)
        _, _, session_id = result.detail.partition(",")
        session_id = session_id.strip()
        if not session_id:
            raise ApiResponseInvalid(SYSTEM, "Authenticate succeeded without a session id in Detail "
                                     "(expected 'clientId,sessionId')", url=self.service_url)
        self._remember_secret(session_id)
        self._session_id = session_id
        return session_id

    def get_data(self, template: str, search_clause: str = "", *, key: str | None = None,
                 unique: bool = False) -> Iterator[dict[str, str]]:
        """Every row of ``template`` matching ``search_clause``, page by page.

        ``key`` is the template's key column, by default the one :data:`TEMPLATE_KEYS` knows (``ItemCode``
        for Item types, ``SalesOrderNumber`` for Sales orders and Sales order items…); a template it does not
        know needs one. A page whose CSV lacks the key column, has a row with it empty, or has a row whose
        width differs from the header raises :class:`ApiResponseInvalid`; with ``unique``, so does a page that
        lists one key twice. Pages are checked as the REST pagers check theirs (see
        :func:`~erp_wms_sync.connectors.parsing.iter_pages`).
        """
        column = key or TEMPLATE_KEYS.get(template)
        if not column:
            raise ValueError(f"template {template!r} has no known key column: pass key=")
        return self._paged("GetData", "getRequest", {"TemplateName": template, "SearchClause": search_clause},
                           read_rows, column, unique)

    def get_report(self, report: str, columns: Sequence[str] = (), search_clause: str = "",
                   order_by: str = "", *, key: str | None = None) -> Iterator[dict[str, str]]:
        """Every row of ``report`` (only ``columns`` when given) matching ``search_clause``, page by page.

        ``key`` is a column every row must fill, by default the one :data:`REPORT_KEYS` knows (``History Id``,
        ``Salesorder number``…); a report it does not know needs one, and when ``columns`` are given the key
        must be one of them. Rows are checked as :meth:`get_data` checks them. Report dates come back without
        their single quotes; parse them with :func:`report_datetime`.
        """
        column = (key or REPORT_KEYS.get(report) or "").strip().strip("[]")
        if not column:
            raise ValueError(f"report {report!r} has no known key column: pass key=")
        names = [name.strip().strip("[]") for name in columns]
        if names and column not in names:
            raise ValueError(f"the key column {column!r} of report {report!r} must be one of the columns asked for")
        request = {"TemplateName": report, "SearchClause": search_clause, "FilterClause": "", "OrderBy": order_by,
                   "Columns": ",".join(f"[{name}]" for name in names)}
        return self._paged("GetReportData", "getReportRequest", request, read_report_rows, column, False)

    def _paged(self, operation: str, argument: str, request: Mapping[str, Any],
               reader: Callable[[str, str], list[dict[str, str]]], key: str,
               unique: bool) -> Iterator[dict[str, str]]:
        name = request["TemplateName"]

        def fetch(page_no: int) -> tuple[int, list[Any]]:
            result = self._call(operation, **{argument: {**request, "PageNo": page_no,
                                                         "ItemsPerPage": self.page_size}})
            if not result.ok:
                raise ApiRejected(SYSTEM, f"{operation} '{name}' refused: {self._redact(result.detail)}",
                                  url=self.service_url)
            try:
                return result.total_count, reader(result.detail, key)
            except ValueError as exc:
                raise ApiResponseInvalid(SYSTEM, f"{operation} '{name}' page {page_no} is malformed: "
                                         f"{self._redact(str(exc))}", url=self.service_url) from None

        column = key.strip().strip("[]")
        pager = Pager(SYSTEM, f"{operation} '{name}'", self.page_size, self.max_pages, "TotalCount",
                      key_of(column) if unique else None, column, tuple(self._secrets))
        return iter_pages(fetch, pager)

    def get_save_template(self, template: str) -> list[str]:
        """The importable columns of ``template``."""
        result = self._call("GetSaveTemplate", templateName=template)
        if not result.ok:
            raise ApiRejected(SYSTEM, f"GetSaveTemplate '{template}' refused: {self._redact(result.detail)}",
                              url=self.service_url)
        try:
            return read_header(result.detail)
        except ValueError as exc:
            raise ApiResponseInvalid(SYSTEM, f"GetSaveTemplate '{template}' is malformed: {self._redact(str(exc))}",
                                     url=self.service_url) from None

    def save_data(self, template: str, rows: Sequence[Mapping[str, str]], *, key: str,
                  action: int = 0) -> list[RecordOutcome]:
        """Upsert ``rows`` in batches of ``save_batch_size``; one outcome per row, in the order given.

        Peoplevox publishes no batch limit. A batch larger than :data:`PUBLIC_BATCH` (the size public clients are
        known to send) that is refused as a whole — a SOAP fault, or an error without per-record statuses — is
        sent again in batches of that size, which this client then keeps: a server whose limit is lower than the
        setting costs one call, never a row."""
        outcomes: list[RecordOutcome | None] = [None] * len(rows)
        sendable: list[int] = []
        for index, row in enumerate(rows):
            if str(row.get(key) or "").strip():
                sendable.append(index)
            else:
                outcomes[index] = RecordOutcome("", False, f"the key column {key} is empty; not sent")
        start = 0
        while start < len(sendable):
            batch = sendable[start: start + self.save_batch_size]
            results = self._save_batch(template, [rows[i] for i in batch], key, action)
            if results is None:  # refused whole at a size above PUBLIC_BATCH: the size drops, once
                log.warning("peoplevox SaveData '%s' refused a batch of %d as a whole; sending %d per call from "
                            "now on (lower wms.save_batch_size if this repeats)", template, len(batch), PUBLIC_BATCH)
                self.save_batch_size = PUBLIC_BATCH
                continue
            for index, outcome in zip(batch, results, strict=True):
                outcomes[index] = outcome
            start += len(batch)
        return [outcome for outcome in outcomes if outcome is not None]

    def _save_batch(self, template: str, rows: Sequence[Mapping[str, Any]], key: str,
                    action: int) -> list[RecordOutcome] | None:
        """The outcomes of one SaveData call; ``None`` when a batch above :data:`PUBLIC_BATCH` is refused whole."""
        csv_data = write_rows(csv_header(rows, key), rows)
        large = len(rows) > PUBLIC_BATCH
        try:
            result = self._call("SaveData", saveRequest={"TemplateName": template, "CsvData": csv_data,
                                                          "Action": action})
        except ApiRejected as exc:
            if large and not isinstance(exc, ApiAuthError):
                return None
            raise
        if large and not result.ok and not result.statuses:
            return None
        references = [str(row.get(key)).strip() for row in rows]
        foreign = foreign_statuses(references, result)
        if foreign:
            shown = ", ".join(repr(reference) for reference in foreign[:5])
            raise ApiResponseInvalid(SYSTEM, self._redact(
                f"SaveData '{template}': the answer reports statuses for {len(foreign)} record(s) that were not "
                f"in this batch of {len(rows)} ({shown}); its outcomes cannot be trusted"), url=self.service_url)
        outcomes = merge_outcomes(references, IntegrationResult(
            result.response_id, result.total_count, self._redact(result.detail), result.statuses))
        failed = sum(not outcome.ok for outcome in outcomes)
        log.info("peoplevox SaveData '%s': %d sent, %d saved, %d failed", template, len(rows),
                 len(rows) - failed, failed)
        return outcomes

    def iter_item_types(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        """Item types (the WMS item master), keyed by ``ItemCode``."""
        return self.get_data(ITEM_TYPES, search_clause, key=ITEM_KEY, unique=True)

    def iter_sales_order_items(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        """Sales order lines (one row per line, so ``SalesOrderNumber`` repeats)."""
        return self.get_data(SALES_ORDER_ITEMS, search_clause, key=ORDER_KEY)

    def save_item_types(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]:
        """Upsert Item types by ``ItemCode``."""
        return self.save_data(ITEM_TYPES, rows, key=ITEM_KEY)

    def iter_sales_orders(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        """Sales order headers (with their warehouse ``Status``), keyed by ``SalesOrderNumber``."""
        return self.get_data(SALES_ORDERS, search_clause, key=ORDER_KEY, unique=True)

    def save_sales_orders(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]:
        """Upsert sales order headers by ``SalesOrderNumber`` (``Status`` may only be ``Cancelled``)."""
        return self.save_data(SALES_ORDERS, rows, key=ORDER_KEY)

    def save_sales_order_items(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]:
        """Upsert order lines; each outcome's reference is the line's ``SalesOrderNumber``."""
        return self.save_data(SALES_ORDER_ITEMS, rows, key=ORDER_KEY)

    # -- event subscriptions ------------------------------------------------------------------------
    def subscribe_event(self, event_type: str, callback_url: str, filter: str = "", encode: bool = True) -> int:
        """Register a GET callback (``{Placeholder}`` tokens in ``callback_url``); returns the subscription id."""
        result = self._call("SubscribeEvent", eventType=event_type, filter=filter, callbackUrl=callback_url,
                            encodeParameterData=encode)
        return self._subscription_id("SubscribeEvent", event_type, result)

    def subscribe_post_event(self, event_type: str, post_url: str, post_params: str, filter: str = "",
                             encode: bool = True) -> int:
        """Register a POST callback whose form fields come from ``post_params`` (``a={X}&b={Y}``)."""
        result = self._call("SubscribePostEvent", eventType=event_type, filter=filter, postUrl=post_url,
                            postParams=post_params, encodeParameterData=encode)
        return self._subscription_id("SubscribePostEvent", event_type, result)

    def _subscription_id(self, operation: str, event_type: str, result: IntegrationResult) -> int:
        if not result.ok:
            raise ApiRejected(SYSTEM, f"{operation} {event_type} refused: {self._redact(result.detail)}",
                              url=self.service_url)
        try:
            return int(result.detail.strip())
        except ValueError:
            raise ApiResponseInvalid(SYSTEM, f"{operation} {event_type} answered {trim(result.detail)!r} instead "
                                     f"of a subscription id", url=self.service_url) from None

    def unsubscribe_event(self, subscription_id: int) -> bool:
        """Remove a subscription; ``False`` when Peoplevox does not know the id."""
        result = self._call("UnsubscribeEvent", subscriptionId=subscription_id)
        if result.ok:
            return result.detail.strip().lower() == "true"
        if "not found" in result.detail.lower():
            return False
        raise ApiRejected(SYSTEM, f"UnsubscribeEvent {subscription_id} refused: {self._redact(result.detail)}",
                          url=self.service_url)

    def test_connection(self) -> tuple[bool, str]:
        """Authenticate and read the Item types save template; never raises an ApiError."""
        try:
            self.authenticate()
            columns = self.get_save_template(ITEM_TYPES)
        except ApiError as exc:
            return False, self._redact(str(exc))
        return True, (f"Connected to Peoplevox client '{self.client_id}' as '{self.username}' "
                      f"({len(columns)} importable {ITEM_TYPES} columns)")
