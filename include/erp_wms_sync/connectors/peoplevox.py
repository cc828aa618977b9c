"""Client of the Peoplevox WMS IntegrationServiceV4 SOAP API.

The client builds a zeep proxy from the service's own WSDL (fetched once per instance, on first use)
and sends every request through :class:`HttpTransport` (timeouts, retry with backoff on 5xx and
connection errors, redaction of the password, its base64 form and the session id).

Sessions are opened lazily. When a call is refused with "Invalid Session" or "Session Expired" the
client re-authenticates once and repeats that call; a second refusal raises :class:`ApiAuthError`.
Data is exchanged as CSV: :meth:`PeoplevoxClient.get_data` pages through a template until
``TotalCount`` rows have been read, :meth:`PeoplevoxClient.save_data` sends batches and reports one
:class:`RecordOutcome` per row (a refused batch fails its rows, it does not raise).
:meth:`PeoplevoxClient.get_report` pages through a report the same way (a row whose cell count does not
match the header raises :class:`ApiResponseInvalid`; quoted report dates are unwrapped, and
:func:`report_datetime` parses them). Event subscriptions: :meth:`subscribe_event`,
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

from erp_wms_sync.connectors.peoplevox_soap import (
    BINDING,
    HEADER_ELEMENT,
    IntegrationResult,
    RecordOutcome,
    ZeepHttpTransport,
    csv_header,
    merge_outcomes,
    read_header,
    read_report_rows,
    read_rows,
    report_datetime,
    write_rows,
)
from erp_wms_sync.connectors.transport import HttpTransport, RetryPolicy, redact, trim
from erp_wms_sync.errors import ApiAuthError, ApiError, ApiRejected, ApiResponseInvalid, ApiUnavailable

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


class PeoplevoxClient:
    """One Peoplevox client id, one user; no I/O until the first call."""

    def __init__(self, base_url: str, client_id: str, username: str, password: str, *,
                 timeout: tuple[float, float] = (5, 60), retry: RetryPolicy | None = None,
                 page_size: int = MAX_PAGE_SIZE, save_batch_size: int = 100,
                 max_pages: int = DEFAULT_MAX_PAGES) -> None:
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
        self._secrets.append(secret)
        self._transport().secrets = tuple(self._secrets)

    def _proxy(self) -> Any:
        """The zeep service proxy, built from the served WSDL on first use and kept."""
        if self._service is None:
            try:
                client = zeep.Client(self.wsdl_url, transport=ZeepHttpTransport(self._transport()),
                                     settings=zeep.Settings(xml_huge_tree=True))
                self._header_type = client.get_element(HEADER_ELEMENT)
                self._service = client.create_service(BINDING, self.service_url)
            except (zeep.exceptions.Error, etree.XMLSyntaxError, ValueError, KeyError) as exc:
                raise ApiResponseInvalid(SYSTEM, f"the WSDL cannot be used: {self._describe(exc)}",
                                         url=self.wsdl_url) from None
        return self._service

    def _describe(self, exc: BaseException) -> str:
        return trim(self._redact(f"{type(exc).__name__}: {exc}"))

    def _invoke(self, operation: str, **kwargs: Any) -> IntegrationResult:
        """Call one operation and translate zeep's failures into the project's errors."""
        proxy = self._proxy()
        try:
            value = getattr(proxy, operation)(**kwargs)
        except zeep.exceptions.Fault as fault:
            raise ApiRejected(SYSTEM, f"{operation} answered a SOAP fault: {self._redact(str(fault.message or ''))}",
                              status=500, url=self.service_url) from None
        except zeep.exceptions.TransportError as exc:
            error = ApiUnavailable if (exc.status_code or 0) >= 500 else ApiResponseInvalid
            raise error(SYSTEM, f"{operation} got an unreadable answer", status=exc.status_code or None,
                        body=self._describe(exc), url=self.service_url) from None
        except (zeep.exceptions.Error, etree.XMLSyntaxError) as exc:
            raise ApiResponseInvalid(SYSTEM, f"{operation} response does not match the WSDL: "
                                     f"{self._describe(exc)}", url=self.service_url) from None
        if value is None:
            raise ApiResponseInvalid(SYSTEM, f"{operation} returned no result", url=self.service_url)
        return IntegrationResult.from_zeep(value)

    def _header(self) -> Any:
        return self._header_type(UserId=0, ClientId=self.client_id, SessionId=self._session_id)

    def _call(self, operation: str, **kwargs: Any) -> IntegrationResult:
        """Call with the session header; re-authenticate once if the session was refused."""
        if self._session_id is None:
            self.authenticate()
        result = self._invoke(operation, _soapheaders=[self._header()], **kwargs)
        if not result.session_problem:
            return result
        log.info("peoplevox %s: %s; re-authenticating once", operation, result.detail)
        self.authenticate()
        result = self._invoke(operation, _soapheaders=[self._header()], **kwargs)
        if result.session_problem:
            raise ApiAuthError(SYSTEM, f"{operation} refused the session again after re-authenticating: "
                               f"{self._redact(result.detail)}", url=self.service_url)
        return result

    # -- operations ---------------------------------------------------------------------------------
    def authenticate(self) -> str:
        """Open a new session and return its id."""
        encoded = base64.b64encode(self._password.encode()).decode()
        result = self._invoke("Authenticate", clientId=self.client_id, username=self.username,
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

    def get_data(self, template: str, search_clause: str = "") -> Iterator[dict[str, str]]:
        """Every row of ``template`` matching ``search_clause``, page by page."""
        return self._paged("GetData", "getRequest", {"TemplateName": template, "SearchClause": search_clause},
                           read_rows)

    def get_report(self, report: str, columns: Sequence[str] = (), search_clause: str = "",
                   order_by: str = "") -> Iterator[dict[str, str]]:
        """Every row of ``report`` (only ``columns`` when given) matching ``search_clause``, page by page.

        Report dates come back without their single quotes; parse them with :func:`report_datetime`.
        """
        request = {"TemplateName": report, "SearchClause": search_clause, "FilterClause": "", "OrderBy": order_by,
                   "Columns": ",".join(f"[{column.strip().strip('[]')}]" for column in columns)}
        return self._paged("GetReportData", "getReportRequest", request, read_report_rows)

    def _paged(self, operation: str, argument: str, request: Mapping[str, Any],
               reader: Callable[[str], list[dict[str, str]]]) -> Iterator[dict[str, str]]:
        name = request["TemplateName"]
        seen = 0
        for page_no in range(1, self.max_pages + 1):
            result = self._call(operation, **{argument: {**request, "PageNo": page_no,
                                                         "ItemsPerPage": self.page_size}})
            if not result.ok:
                raise ApiRejected(SYSTEM, f"{operation} '{name}' refused: {self._redact(result.detail)}",
                                  url=self.service_url)
            try:
                rows = reader(result.detail)
            except ValueError as exc:
                raise ApiResponseInvalid(SYSTEM, f"{operation} '{name}' page {page_no} is malformed: {exc}",
                                         url=self.service_url) from None
            yield from rows
            seen += len(rows)
            if seen >= result.total_count:
                return
            if not rows:
                raise ApiResponseInvalid(SYSTEM, f"{operation} '{name}' page {page_no} came back empty "
                                         f"after {seen} of {result.total_count} rows", url=self.service_url)
        raise ApiResponseInvalid(SYSTEM, f"{operation} '{name}' still had rows after {self.max_pages} pages "
                                 f"({seen} rows read); refusing to page on", url=self.service_url)

    def get_save_template(self, template: str) -> list[str]:
        """The importable columns of ``template``."""
        result = self._call("GetSaveTemplate", templateName=template)
        if not result.ok:
            raise ApiRejected(SYSTEM, f"GetSaveTemplate '{template}' refused: {self._redact(result.detail)}",
                              url=self.service_url)
        return read_header(result.detail)

    def save_data(self, template: str, rows: Sequence[Mapping[str, str]], *, key: str,
                  action: int = 0) -> list[RecordOutcome]:
        """Upsert ``rows`` in batches; one outcome per row, in the order given."""
        outcomes: list[RecordOutcome | None] = [None] * len(rows)
        sendable: list[int] = []
        for index, row in enumerate(rows):
            if str(row.get(key) or "").strip():
                sendable.append(index)
            else:
                outcomes[index] = RecordOutcome("", False, f"the key column {key} is empty; not sent")
        for start in range(0, len(sendable), self.save_batch_size):
            batch = sendable[start: start + self.save_batch_size]
            results = self._save_batch(template, [rows[i] for i in batch], key, action)
            for index, outcome in zip(batch, results, strict=True):
                outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _save_batch(self, template: str, rows: Sequence[Mapping[str, Any]], key: str,
                    action: int) -> list[RecordOutcome]:
        csv_data = write_rows(csv_header(rows, key), rows)
        result = self._call("SaveData", saveRequest={"TemplateName": template, "CsvData": csv_data,
                                                      "Action": action})
        references = [str(row.get(key)).strip() for row in rows]
        outcomes = merge_outcomes(references, IntegrationResult(
            result.response_id, result.total_count, self._redact(result.detail), result.statuses))
        failed = sum(not outcome.ok for outcome in outcomes)
        log.info("peoplevox SaveData '%s': %d sent, %d saved, %d failed", template, len(rows),
                 len(rows) - failed, failed)
        return outcomes

    def iter_item_types(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        """Item types (the WMS item master), keyed by ``ItemCode``."""
        return self.get_data(ITEM_TYPES, search_clause)

    def save_item_types(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]:
        """Upsert Item types by ``ItemCode``."""
        return self.save_data(ITEM_TYPES, rows, key=ITEM_KEY)

    def iter_sales_orders(self, search_clause: str = "") -> Iterator[dict[str, str]]:
        """Sales order headers (with their warehouse ``Status``), keyed by ``SalesOrderNumber``."""
        return self.get_data(SALES_ORDERS, search_clause)

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
