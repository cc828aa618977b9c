"""The IntegrationServiceV4 WSDL served at ``?wsdl``: document/literal, SOAP 1.1.

The schema mirrors the public service contract (target namespace ``http://www.peoplevox.net/``, port
type ``IntegrationServiceV4Soap``, every operation answering an ``IntegrationResponse``, the
``UserSessionCredentials`` SOAP header on every operation but Authenticate). The ``soap:address`` is
the URL the WSDL was fetched from, so a SOAP toolkit built from it posts back to this server.
The real service also offers a SOAP 1.2 binding and HTTP GET/POST bindings; only SOAP 1.1 is served.
"""

from __future__ import annotations

from functools import lru_cache
from xml.sax.saxutils import quoteattr

from lxml import etree

from erp_wms_simulators.peoplevox.soap import OPERATIONS, PVX_NS

EVENT_TYPES: tuple[str, ...] = (
    "AvailabilityChanges", "SalesOrderStatusChanges", "GoodsReceived", "TrackingNumberReceived",
    "IncrementalChanges", "Returns", "DespatchPackageTrackingNumberReceived", "OnDespatchOrderReceived",
    "DespatchPackageDespatched",
)

OPERATION_DOCS: dict[str, str] = {
    "Authenticate": "Opens a session. The password is sent base64-encoded; Detail = 'clientId,sessionId'.",
    "GetData": "Exports one page of an integration template as CSV; TotalCount counts every match.",
    "GetReportData": "Exports one page of a report as CSV, optionally with chosen columns and order.",
    "GetReportColumns": "Lists the columns of a report as a CSV header line.",
    "GetSaveTemplate": "Lists the importable columns of an integration template as a CSV header line.",
    "SaveData": "Imports CSV rows into an integration template; Statuses holds one outcome per row.",
    "SubscribeEvent": "Registers a callback URL (GET with placeholders) for an event; Detail = id.",
    "SubscribePostEvent": "Registers a POST callback with form parameters for an event; Detail = id.",
    "UnsubscribeEvent": "Removes a subscription by id; Detail = 'True'.",
}


def _element(name: str, xsd_type: str, *, required: bool = False, extra: str = "") -> str:
    occurs = 'minOccurs="1"' if required else 'minOccurs="0"'
    return f'<s:element {occurs} maxOccurs="1" name="{name}" type="{xsd_type}"{extra} />'


def _request(name: str, *fields: str) -> str:
    inner = "".join(fields)
    return (f'<s:element name="{name}"><s:complexType><s:sequence>{inner}</s:sequence></s:complexType>'
            "</s:element>")


def _result(operation: str) -> str:
    return _request(f"{operation}Response", _element(f"{operation}Result", "tns:IntegrationResponse"))


_STRING = "s:string"
_INT = "s:int"

_REQUESTS: dict[str, str] = {
    "Authenticate": _request("Authenticate", _element("clientId", _STRING), _element("username", _STRING),
                             _element("password", _STRING)),
    "GetData": _request("GetData", _element("getRequest", "tns:GetRequest")),
    "GetReportData": _request("GetReportData", _element("getReportRequest", "tns:GetReportRequest")),
    "GetReportColumns": _request("GetReportColumns", _element("templateName", _STRING)),
    "GetSaveTemplate": _request("GetSaveTemplate", _element("templateName", _STRING)),
    "SaveData": _request("SaveData", _element("saveRequest", "tns:SaveRequest")),
    "SubscribeEvent": _request(
        "SubscribeEvent", _element("eventType", "tns:SubscriptionEventTypes", required=True),
        _element("filter", _STRING), _element("callbackUrl", _STRING),
        _element("encodeParameterData", "s:boolean")),
    "SubscribePostEvent": _request(
        "SubscribePostEvent", _element("eventType", "tns:SubscriptionEventTypes", required=True),
        _element("filter", _STRING), _element("postUrl", _STRING), _element("postParams", _STRING),
        _element("encodeParameterData", "s:boolean")),
    "UnsubscribeEvent": _request("UnsubscribeEvent", _element("subscriptionId", _INT, required=True)),
}

_TYPES = (
    '<s:complexType name="IntegrationResponse"><s:sequence>'
    + _element("ResponseId", _INT, required=True) + _element("TotalCount", _INT, required=True)
    + _element("Detail", _STRING) + _element("Statuses", "tns:ArrayOfIntegrationStatusResponse")
    + "</s:sequence></s:complexType>"
    '<s:complexType name="ArrayOfIntegrationStatusResponse"><s:sequence>'
    '<s:element minOccurs="0" maxOccurs="unbounded" name="IntegrationStatusResponse" nillable="true" '
    'type="tns:IntegrationStatusResponse" /></s:sequence></s:complexType>'
    '<s:complexType name="IntegrationStatusResponse"><s:sequence>'
    + _element("Reference", _STRING) + _element("Status", "tns:IntegrationResponseStatuses", required=True)
    + "</s:sequence></s:complexType>"
    '<s:simpleType name="IntegrationResponseStatuses"><s:restriction base="s:string">'
    '<s:enumeration value="Error" /><s:enumeration value="Success" /></s:restriction></s:simpleType>'
    '<s:complexType name="GetRequest"><s:sequence>'
    + _element("TemplateName", _STRING) + _element("PageNo", _INT, required=True)
    + _element("ItemsPerPage", _INT, required=True) + _element("SearchClause", _STRING)
    + "</s:sequence></s:complexType>"
    '<s:complexType name="GetReportRequest"><s:complexContent mixed="false">'
    '<s:extension base="tns:GetRequest"><s:sequence>'
    + _element("FilterClause", _STRING) + _element("OrderBy", _STRING) + _element("Columns", _STRING)
    + "</s:sequence></s:extension></s:complexContent></s:complexType>"
    '<s:complexType name="SaveRequest"><s:sequence>'
    + _element("TemplateName", _STRING) + _element("CsvData", _STRING)
    + _element("Action", _INT, required=True)
    + "</s:sequence></s:complexType>"
    '<s:element name="UserSessionCredentials" type="tns:UserSessionCredentials" />'
    '<s:complexType name="UserSessionCredentials"><s:sequence>'
    + _element("UserId", _INT, required=True, extra=' nillable="true"')
    + _element("ClientId", _STRING) + _element("SessionId", _STRING)
    + "</s:sequence><s:anyAttribute /></s:complexType>"
    '<s:simpleType name="SubscriptionEventTypes"><s:restriction base="s:string">'
    + "".join(f'<s:enumeration value="{event}" />' for event in EVENT_TYPES)
    + "</s:restriction></s:simpleType>"
    '<s:element name="IntegrationResponse" nillable="true" type="tns:IntegrationResponse" />'
)


def _messages(operation: str) -> str:
    parts = (
        f'<wsdl:message name="{operation}SoapIn"><wsdl:part name="parameters" element="tns:{operation}" />'
        f"</wsdl:message>"
        f'<wsdl:message name="{operation}SoapOut"><wsdl:part name="parameters" '
        f'element="tns:{operation}Response" /></wsdl:message>'
    )
    if operation != "Authenticate":
        parts += (f'<wsdl:message name="{operation}UserSessionCredentials"><wsdl:part '
                  f'name="UserSessionCredentials" element="tns:UserSessionCredentials" /></wsdl:message>')
    return parts


def _port_operation(operation: str) -> str:
    return (f'<wsdl:operation name="{operation}"><wsdl:documentation>{OPERATION_DOCS[operation]}'
            f'</wsdl:documentation><wsdl:input message="tns:{operation}SoapIn" />'
            f'<wsdl:output message="tns:{operation}SoapOut" /></wsdl:operation>')


def _binding_operation(operation: str) -> str:
    header = "" if operation == "Authenticate" else (
        f'<soap:header message="tns:{operation}UserSessionCredentials" part="UserSessionCredentials" '
        f'use="literal" />')
    return (f'<wsdl:operation name="{operation}"><soap:operation soapAction="{PVX_NS}{operation}" '
            f'style="document" /><wsdl:input><soap:body use="literal" />{header}</wsdl:input>'
            f'<wsdl:output><soap:body use="literal" /></wsdl:output></wsdl:operation>')


@lru_cache(maxsize=32)
def build_wsdl(location: str) -> bytes:
    """The WSDL document (UTF-8, indented) whose SOAP 1.1 port points at ``location``."""
    root = etree.fromstring(_wsdl_text(location).encode("utf-8"))
    return bytes(etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="utf-8"))


def _wsdl_text(location: str) -> str:
    schema_body = "".join(_REQUESTS[op] + _result(op) for op in OPERATIONS) + _TYPES
    return (
        '<wsdl:definitions xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" '
        'xmlns:s="http://www.w3.org/2001/XMLSchema" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
        f'xmlns:tns="{PVX_NS}" targetNamespace="{PVX_NS}">'
        f'<wsdl:types><s:schema elementFormDefault="qualified" targetNamespace="{PVX_NS}">'
        f"{schema_body}</s:schema></wsdl:types>"
        + "".join(_messages(op) for op in OPERATIONS)
        + '<wsdl:portType name="IntegrationServiceV4Soap">'
        + "".join(_port_operation(op) for op in OPERATIONS)
        + "</wsdl:portType>"
        '<wsdl:binding name="IntegrationServiceV4Soap" type="tns:IntegrationServiceV4Soap">'
        '<soap:binding transport="http://schemas.xmlsoap.org/soap/http" />'
        + "".join(_binding_operation(op) for op in OPERATIONS)
        + "</wsdl:binding>"
        '<wsdl:service name="IntegrationServiceV4">'
        '<wsdl:port name="IntegrationServiceV4Soap" binding="tns:IntegrationServiceV4Soap">'
        f"<soap:address location={quoteattr(location)} /></wsdl:port></wsdl:service>"
        "</wsdl:definitions>\n"
    )
