"""Plumbing of the Peoplevox client: zeep over the project transport, responses, CSV and outcomes.

- :class:`ZeepHttpTransport` makes zeep send every request (WSDL load and SOAP calls) through
  :class:`~erp_wms_sync.connectors.transport.HttpTransport`, so retry, backoff and redaction apply.
  A SOAP call answered HTTP 500 is judged by its fault code (:func:`is_server_fault`): .NET services report
  their verdicts on the request as ``soap:Client`` faults with that status, and retrying a verdict does not
  change it, so those go straight to zeep; a ``soap:Server`` fault (the service failed, "temporarily
  unavailable") or a 500 that is no SOAP fault at all is asked again, bounded like any 5xx, and only the last
  answer is handed to zeep. Every operation the project calls is safe to repeat (reads, Authenticate, and
  SaveData, which upserts by key).
- :class:`IntegrationResult` is a plain copy of the service's ``IntegrationResponse``.
- CSV helpers read ``Detail`` payloads (strictly: the key column must be there, rows must be as wide as the
  header) and write ``CsvData``.
- :func:`merge_outcomes` turns a SaveData answer into one :class:`RecordOutcome` per row sent;
  :func:`foreign_statuses` finds statuses about records that were not sent.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree

from erp_wms_sync.connectors.transport import HttpTransport
from erp_wms_sync.errors import ApiError, ApiRejected, ApiResponseInvalid, ApiUnavailable

PVX_NS = "http://www.peoplevox.net/"
BINDING = f"{{{PVX_NS}}}IntegrationServiceV4Soap"
HEADER_ELEMENT = f"{{{PVX_NS}}}UserSessionCredentials"
SESSION_ERRORS = ("invalid session", "session expired")
SYSTEM = "peoplevox"
# The column that names the record of each template's rows: a GetData answer without it is refused.
TEMPLATE_KEYS: dict[str, str] = {
    "Item types": "ItemCode", "Sales orders": "SalesOrderNumber", "Sales order items": "SalesOrderNumber",
    "Sites": "Reference", "Customers": "Reference", "Suppliers": "Reference", "Purchase orders": "PurchaseOrderNumber",
    "Return authorisations": "ReturnAuthorisationNumber", "Despatch packages": "DespatchNumber",
}
# The column every row of each report fills: a GetReportData answer without it is refused.
REPORT_KEYS: dict[str, str] = {
    "Despatch summary": "Salesorder number", "Return summary": "Return code",
    "Goods in summary": "Goods in reference number", "Item inventory summary": "Item code",
    "Item availability latest reconciliation": "Item code", "Item movement history": "History Id",
}
# No entities, no network: fault bodies come from the service and are only looked at for their code.
FAULT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
# Failures a WSDL changed on the server explains (zeep's TransportError is let through: that is the network).
STALE_WSDL_SIGNS = (zeep.exceptions.Error, etree.XMLSyntaxError, AttributeError, TypeError)


@dataclass(frozen=True)
class RecordOutcome:
    """What happened to one record sent with SaveData."""

    reference: str  # the record key, e.g. the ItemCode
    ok: bool
    message: str = ""  # the reason when ``ok`` is false


@dataclass(frozen=True)
class IntegrationResult:
    """The ``IntegrationResponse`` of one call."""

    response_id: int
    total_count: int
    detail: str
    statuses: tuple[tuple[str, str], ...] = ()  # (Reference, "Success" | "Error")

    @property
    def ok(self) -> bool:
        return self.response_id == 0

    @property
    def session_problem(self) -> bool:
        """The call was refused because the session is unknown or expired."""
        lowered = self.detail.lower()
        return not self.ok and any(marker in lowered for marker in SESSION_ERRORS)

    @classmethod
    def from_zeep(cls, value: Any) -> IntegrationResult:
        statuses: list[tuple[str, str]] = []
        holder = getattr(value, "Statuses", None)
        for item in getattr(holder, "IntegrationStatusResponse", None) or []:
            if item is not None:
                statuses.append((str(item.Reference or ""), str(item.Status or "")))
        return cls(int(value.ResponseId), int(value.TotalCount), str(value.Detail or ""), tuple(statuses))


class ZeepHttpTransport(zeep.Transport):
    """A zeep transport whose HTTP goes through :class:`HttpTransport`."""

    def __init__(self, http: HttpTransport) -> None:
        super().__init__(session=http.session, timeout=http.timeout[1], operation_timeout=http.timeout[1])
        self.http = http

    def post(self, address: str, message: bytes | str, headers: Mapping[str, str]) -> requests.Response:
        return self.http.request("POST", address, data=message, headers=headers, ok_statuses=(500,),
                                 transient=is_server_fault)

    def get(self, address: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> requests.Response:
        return self.http.request("GET", address, params=params, headers=headers)

    def _load_remote_data(self, url: str) -> bytes:
        return self.http.request("GET", url).content


def soap_fault(content: bytes) -> tuple[str, str] | None:
    """The code's local name (``"Server"``, ``"Client"``…; ``""`` when absent) and the reason text of the SOAP 1.1
    or 1.2 fault in ``content``; ``None`` when ``content`` is no SOAP fault."""
    try:
        root = etree.fromstring(content, parser=FAULT_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None:
        return None
    fault = next((node for node in root.iter() if isinstance(node.tag, str)
                  and etree.QName(node).localname == "Fault"), None)
    if fault is None:
        return None
    texts = {etree.QName(node).localname: (node.text or "").strip() for node in reversed(list(fault.iter()))
             if isinstance(node.tag, str)}
    code = texts.get("faultcode") or texts.get("Value") or ""
    return code.rpartition(":")[2], texts.get("faultstring") or texts.get("Text") or ""


def is_server_fault(resp: requests.Response) -> str | None:
    """Why an HTTP 500 is worth asking again, or ``None`` for a verdict: a ``soap:Server`` (1.2: ``Receiver``)
    fault is the service failing, and a body that is no SOAP fault is a proxy's or web server's error page;
    a ``soap:Client`` fault is the service's verdict on the request."""
    if resp.status_code != 500:
        return None
    fault = soap_fault(resp.content or b"")
    if fault is None:
        return "not a SOAP fault"
    code, reason = fault
    return f"soap:{code} fault: {reason}" if code in ("Server", "Receiver") else None


def read_rows(detail: str, key: str) -> list[dict[str, str]]:
    """The rows of a CSV ``Detail`` (header line first), each a ``{column: value}`` dict.

    The answer must be what the template promises, or ``ValueError`` says what is wrong: the header must hold
    the ``key`` column (a CSV without it cannot say which record a row is), every row must have exactly as
    many cells as the header (a ragged row is not silently padded or cut), and no row may have an empty key.
    A blank ``Detail`` (no header, no rows) is an empty page.
    """
    header, records = _csv_records(detail)
    if not header:
        return []
    column = key.strip().strip("[]")
    if column not in header:
        raise ValueError(f"the header has no key column {column!r} (columns: {', '.join(header) or 'none'})")
    twice = [name for index, name in enumerate(header) if name in header[:index]]
    if twice:
        raise ValueError(f"the header lists column {twice[0]!r} more than once")
    for number, cells in enumerate(records, start=1):
        if len(cells) != len(header):
            raise ValueError(f"row {number} has {len(cells)} values but the header has {len(header)} columns")
    rows = [dict(zip(header, cells, strict=True)) for cells in records]
    for number, row in enumerate(rows, start=1):
        if not row[column].strip():
            raise ValueError(f"row {number} has an empty {column}")
    return rows


def read_report_rows(detail: str, key: str) -> list[dict[str, str]]:
    """Like :func:`read_rows`, and values wrapped in single quotes (report dates such as
    ``'02/05/2024 10:00:00'``) are unwrapped."""
    return [{column: unquote(value) for column, value in row.items()} for row in read_rows(detail, key)]


def _csv_records(detail: str) -> tuple[list[str], list[list[str]]]:
    """The header (cells stripped) and the data rows of a CSV ``Detail``; blank lines are skipped. ``ValueError``
    when the CSV module cannot read it (a cell larger than its field limit)."""
    reader = csv.reader(io.StringIO(detail.lstrip("\ufeff"), newline=""))
    try:
        lines = [cells for cells in reader if any(cell.strip() for cell in cells)]
    except csv.Error as exc:  # not a ValueError: the callers' "malformed page" handling would miss it
        raise ValueError(f"the CSV cannot be read at line {reader.line_num}: {exc}") from None
    if not lines:
        return [], []
    return [cell.strip() for cell in lines[0]], lines[1:]


def unquote(value: str) -> str:
    """``'02/05/2024 10:00:00'`` -> ``02/05/2024 10:00:00``; other values unchanged."""
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


REPORT_DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")


def report_datetime(value: str) -> datetime:
    """A report date (``dd/MM/yyyy HH:mm[:ss]``, quotes optional); ``ValueError`` names a bad value."""
    text = unquote(value.strip())
    for fmt in REPORT_DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a Peoplevox report date (dd/MM/yyyy HH:mm:ss)")


def read_header(detail: str) -> list[str]:
    """The column names of a CSV header line (GetSaveTemplate / GetReportColumns); ``ValueError`` when the CSV
    module cannot read it."""
    try:
        for cells in csv.reader(io.StringIO(detail.lstrip("\ufeff"), newline="")):
            if any(cell.strip() for cell in cells):
                return [cell.strip() for cell in cells]
    except csv.Error as exc:
        raise ValueError(f"the CSV header cannot be read: {exc}") from None
    return []


def csv_header(rows: Iterable[Mapping[str, Any]], key: str) -> list[str]:
    """``key`` first, then every other column in the order it first appears."""
    header = [key]
    for row in rows:
        header.extend(column for column in row if column not in header)
    return header


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_rows(header: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """CsvData for SaveData: the header, then one properly quoted line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in header])
    return buffer.getvalue()


def _failure_messages(detail: str, references: Iterable[str]) -> dict[str, deque[str]]:
    """Reasons per reference, from Detail lines shaped ``<Reference>: <reason>``."""
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    messages: dict[str, deque[str]] = defaultdict(deque)
    for reference in sorted(set(references), key=len, reverse=True):  # longest first: "A-1" before "A"
        prefix = f"{reference}: "
        for line in [line for line in lines if line.startswith(prefix)]:
            messages[reference].append(line[len(prefix):])
            lines.remove(line)
    return messages


def foreign_statuses(references: Sequence[str], result: IntegrationResult) -> list[str]:
    """The ``Statuses`` references that match no record sent (or more statuses than records sent under one
    reference): an answer that is not about this batch, whose outcomes must not be trusted."""
    sent: dict[str, int] = defaultdict(int)
    for reference in references:
        sent[reference] += 1
    foreign: list[str] = []
    for reference, _ in result.statuses:
        if sent.get(reference, 0) > 0:
            sent[reference] -= 1
        elif reference not in foreign:
            foreign.append(reference)
    return foreign


def merge_outcomes(references: Sequence[str], result: IntegrationResult) -> list[RecordOutcome]:
    """One outcome per reference sent, from ``Statuses`` and the failure lines of ``Detail``."""
    if not result.statuses:
        if result.ok and result.total_count >= len(references):
            return [RecordOutcome(reference, True) for reference in references]
        message = result.detail or (
            f"Peoplevox saved {result.total_count} of {len(references)} records without saying which")
        return [RecordOutcome(reference, False, message) for reference in references]
    reasons = _failure_messages(result.detail, references)
    by_reference: dict[str, deque[str]] = defaultdict(deque)
    for reference, status in result.statuses:
        by_reference[reference].append(status)
    outcomes = []
    for reference in references:
        queue = by_reference.get(reference)
        if not queue:
            outcomes.append(RecordOutcome(reference, False, "Peoplevox returned no status for this record"))
            continue
        status = queue.popleft()
        if status.lower() == "success":
            outcomes.append(RecordOutcome(reference, True))
        else:
            queued = reasons.get(reference)
            reason = queued.popleft() if queued else (result.detail or status)
            outcomes.append(RecordOutcome(reference, False, reason))
    return outcomes


def zeep_error(operation: str, exc: Exception, redact: Callable[[str], str], described: str, url: str) -> ApiError:
    """The project's error for a zeep failure of ``operation`` (``described``: the redacted exception text)."""
    if isinstance(exc, zeep.exceptions.Fault):
        return ApiRejected(SYSTEM, f"{operation} answered a SOAP fault: {redact(str(exc.message or ''))}",
                           status=500, url=url)
    if isinstance(exc, zeep.exceptions.TransportError):
        error = ApiUnavailable if (exc.status_code or 0) >= 500 else ApiResponseInvalid
        return error(SYSTEM, f"{operation} got an unreadable answer", status=exc.status_code or None, body=described,
                     url=url)
    return ApiResponseInvalid(SYSTEM, f"{operation} does not match the WSDL: {described}", url=url)
