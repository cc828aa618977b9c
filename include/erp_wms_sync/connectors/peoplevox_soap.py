"""Plumbing of the Peoplevox client: zeep over the project transport, responses, CSV and outcomes.

- :class:`ZeepHttpTransport` makes zeep send every request (WSDL load and SOAP calls) through
  :class:`~erp_wms_sync.connectors.transport.HttpTransport`, so retry, backoff and redaction apply.
  A SOAP call answered HTTP 500 is handed to zeep instead of being retried: .NET services report
  their verdicts as soap:Faults with that status, and retrying a verdict does not change it.
- :class:`IntegrationResult` is a plain copy of the service's ``IntegrationResponse``.
- CSV helpers read ``Detail`` payloads and write ``CsvData``.
- :func:`merge_outcomes` turns a SaveData answer into one :class:`RecordOutcome` per row sent.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import zeep

from erp_wms_sync.connectors.transport import HttpTransport

PVX_NS = "http://www.peoplevox.net/"
BINDING = f"{{{PVX_NS}}}IntegrationServiceV4Soap"
HEADER_ELEMENT = f"{{{PVX_NS}}}UserSessionCredentials"
SESSION_ERRORS = ("invalid session", "session expired")


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
        return self.http.request("POST", address, data=message, headers=headers, ok_statuses=(500,))

    def get(self, address: str, params: Mapping[str, Any], headers: Mapping[str, str]) -> requests.Response:
        return self.http.request("GET", address, params=params, headers=headers)

    def _load_remote_data(self, url: str) -> bytes:
        return self.http.request("GET", url).content


def read_rows(detail: str) -> list[dict[str, str]]:
    """The rows of a CSV ``Detail`` (header line first); missing trailing cells become ``""``."""
    header, records = _csv_records(detail)
    return [{column: cells[i] if i < len(cells) else "" for i, column in enumerate(header)} for cells in records]


def read_report_rows(detail: str) -> list[dict[str, str]]:
    """Like :func:`read_rows`, but a row whose cell count differs from the header's raises ``ValueError``,
    and values wrapped in single quotes (report dates such as ``'02/05/2024 10:00:00'``) are unwrapped."""
    header, records = _csv_records(detail)
    for number, cells in enumerate(records, start=1):
        if len(cells) != len(header):
            raise ValueError(f"row {number} has {len(cells)} values but the header has {len(header)} columns")
    return [{column: unquote(cells[i]) for i, column in enumerate(header)} for cells in records]


def _csv_records(detail: str) -> tuple[list[str], list[list[str]]]:
    """The header (cells stripped) and the data rows of a CSV ``Detail``; blank lines are skipped."""
    lines = [cells for cells in csv.reader(io.StringIO(detail.lstrip("\ufeff"), newline=""))
             if any(cell.strip() for cell in cells)]
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
    """The column names of a CSV header line (GetSaveTemplate / GetReportColumns)."""
    for cells in csv.reader(io.StringIO(detail.lstrip("\ufeff"), newline="")):
        if any(cell.strip() for cell in cells):
            return [cell.strip() for cell in cells]
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
