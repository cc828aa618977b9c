"""SOAP 1.1 envelopes of IntegrationServiceV4: parse a request, build a response or a soap:Fault.

Parsing is safe against hostile XML (DTDs refused, no entity expansion, no network access) and strict where the
real .asmx service is strict: a SOAP 1.1 envelope, an operation element in the Peoplevox namespace,
and a ``SOAPAction`` header (when sent) that names the same operation. The session header's child
names are matched ignoring case, because one public client sends ``clientId`` and the service accepts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
PVX_NS = "http://www.peoplevox.net/"
CONTENT_TYPE = "text/xml; charset=utf-8"

OPERATIONS: tuple[str, ...] = (
    "Authenticate", "GetData", "GetReportData", "GetReportColumns", "GetSaveTemplate", "SaveData",
    "SubscribeEvent", "SubscribePostEvent", "UnsubscribeEvent",
)


class SoapFault(Exception):
    """A request the service cannot process; answered with HTTP 500 and a soap:Fault."""

    def __init__(self, message: str, code: str = "Client") -> None:
        self.message = message
        self.code = code
        super().__init__(message)


@dataclass
class IntegrationResult:
    """The ``IntegrationResponse`` every operation returns."""

    response_id: int = 0
    total_count: int = 0
    detail: str | None = None
    statuses: Sequence[tuple[str, str]] | None = None  # (Reference, Status)

    @classmethod
    def error(cls, detail: str) -> IntegrationResult:
        return cls(response_id=-1, total_count=0, detail=detail)


@dataclass
class SoapRequest:
    operation: str
    body: etree._Element  # the operation element (e.g. <GetData>)
    header: dict[str, str] = field(default_factory=dict)  # UserSessionCredentials, lower-cased names


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, remove_comments=True,
                           remove_pis=True, huge_tree=True)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _namespace(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def parse_request(data: bytes, soap_action: str | None) -> SoapRequest:
    """Parse a SOAP 1.1 request; raises :class:`SoapFault` with a readable message when malformed."""
    if not data.strip():
        raise SoapFault("Request body is empty: expected a SOAP 1.1 envelope")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"Request is not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise SoapFault("A SOAP message must not contain a document type declaration (DTD)")
    if _local(root) != "Envelope" or _namespace(root) != SOAP_ENV:
        if _namespace(root) == SOAP12_ENV:
            raise SoapFault("SOAP 1.2 envelopes are not supported here; send SOAP 1.1", "VersionMismatch")
        raise SoapFault(f"Root element must be a SOAP 1.1 Envelope ({{{SOAP_ENV}}}Envelope), "
                        f"got {root.tag}")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise SoapFault("The SOAP envelope has no Body")
    children = _elements(body)
    if not children:
        raise SoapFault("The SOAP Body is empty: expected an operation element such as <GetData>")
    operation = _operation(children[0], soap_action)
    return SoapRequest(operation, children[0], _session_header(root))


def _operation(element: etree._Element, soap_action: str | None) -> str:
    name = _local(element)
    if _namespace(element) != PVX_NS:
        raise SoapFault(f"Operation element <{name}> must be in namespace {PVX_NS}")
    if name not in OPERATIONS:
        raise SoapFault(f"Unknown operation '{name}'. Operations: {', '.join(OPERATIONS)}")
    action = (soap_action or "").strip().strip('"')
    if action and action != PVX_NS + name:
        raise SoapFault(f"Server did not recognize the value of HTTP Header SOAPAction: {action} "
                        f"(the body holds <{name}>, expected {PVX_NS}{name})")
    return name


def _session_header(root: etree._Element) -> dict[str, str]:
    header = root.find(f"{{{SOAP_ENV}}}Header")
    if header is None:
        return {}
    for block in _elements(header):
        if _local(block).lower() == "usersessioncredentials":
            return {_local(child).lower(): (child.text or "").strip() for child in _elements(block)}
    return {}


def child(element: etree._Element, name: str) -> etree._Element | None:
    """The first child element whose local name is ``name``."""
    for candidate in _elements(element):
        if _local(candidate) == name:
            return candidate
    return None


def text(element: etree._Element | None, name: str) -> str | None:
    """Text of the child ``name`` of ``element`` (``None`` when absent); empty elements give ``""``."""
    found = None if element is None else child(element, name)
    return None if found is None else (found.text or "")


def integer(element: etree._Element | None, name: str, default: int) -> int:
    """An ``xs:int`` child; absent or empty gives ``default``, garbage is a fault as in .NET."""
    raw = text(element, name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise SoapFault(f"Server was unable to read request. ---> Input string was not in a correct "
                        f"format: <{name}>{raw.strip()[:40]}</{name}> is not an integer") from None


def boolean(element: etree._Element | None, name: str) -> bool:
    raw = (text(element, name) or "").strip().lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise SoapFault(f"Server was unable to read request. ---> <{name}> must be true or false")


def _envelope() -> tuple[etree._Element, etree._Element]:
    nsmap = {"soap": SOAP_ENV, "xsi": "http://www.w3.org/2001/XMLSchema-instance",
             "xsd": "http://www.w3.org/2001/XMLSchema"}
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=nsmap)
    return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")


def _serialize(envelope: etree._Element) -> bytes:
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def response_envelope(operation: str, result: IntegrationResult) -> bytes:
    """``<OpResponse><OpResult>`` holding the IntegrationResponse fields."""
    envelope, body = _envelope()
    wrapper = etree.SubElement(body, f"{{{PVX_NS}}}{operation}Response", nsmap={None: PVX_NS})
    node = etree.SubElement(wrapper, f"{{{PVX_NS}}}{operation}Result")
    etree.SubElement(node, f"{{{PVX_NS}}}ResponseId").text = str(result.response_id)
    etree.SubElement(node, f"{{{PVX_NS}}}TotalCount").text = str(result.total_count)
    if result.detail is not None:
        etree.SubElement(node, f"{{{PVX_NS}}}Detail").text = _xml_safe(result.detail)
    if result.statuses is not None:
        statuses = etree.SubElement(node, f"{{{PVX_NS}}}Statuses")
        for reference, status in result.statuses:
            item = etree.SubElement(statuses, f"{{{PVX_NS}}}IntegrationStatusResponse")
            etree.SubElement(item, f"{{{PVX_NS}}}Reference").text = _xml_safe(reference)
            etree.SubElement(item, f"{{{PVX_NS}}}Status").text = status
    return _serialize(envelope)


def fault_envelope(message: str, code: str = "Client") -> bytes:
    envelope, body = _envelope()
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = _xml_safe(message)
    etree.SubElement(fault, "detail")
    return _serialize(envelope)


def _xml_safe(value: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters other than tab, CR and LF)."""
    return "".join(ch for ch in value if ch in "\t\r\n" or (
        0x20 <= ord(ch) <= 0xFFFD and not 0xD800 <= ord(ch) <= 0xDFFF) or ord(ch) >= 0x10000)
