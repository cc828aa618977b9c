"""The FastAPI application of the Peoplevox simulator.

- ``POST /{clientId}/resources/integrationservicev4.asmx``: SOAP 1.1 IntegrationServiceV4
  (the ``resources/integrationservicev4.asmx`` part is matched ignoring case, as the real host does);
- ``GET`` of the same URL with ``?wsdl``: the WSDL, whose address is the URL it was fetched from;
- ``/_sim/...``: the admin API (see :mod:`erp_wms_simulators.peoplevox.admin`), including the simulated
  warehouse under ``/_sim/{clientId}/warehouse/`` (see :mod:`erp_wms_simulators.peoplevox.warehouse_admin`).

A malformed request is answered with HTTP 500 and a soap:Fault carrying a readable message; an
unexpected error inside the simulator is logged here and answered the same way, never with a traceback.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from erp_wms_simulators.peoplevox.admin import router as admin_router
from erp_wms_simulators.peoplevox.operations import CallContext, dispatch
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.soap import (
    CONTENT_TYPE,
    OPERATIONS,
    SoapFault,
    fault_envelope,
    parse_request,
    response_envelope,
)
from erp_wms_simulators.peoplevox.state import PeoplevoxState
from erp_wms_simulators.peoplevox.warehouse_admin import router as warehouse_router
from erp_wms_simulators.peoplevox.wsdl import OPERATION_DOCS, build_wsdl

log = logging.getLogger(__name__)

SERVICE_FOLDER = "resources"
SERVICE_FILE = "integrationservicev4.asmx"


def create_app(state: PeoplevoxState | None = None, settings: PeoplevoxSettings | None = None) -> FastAPI:
    """A Peoplevox simulator serving ``state`` (a new empty one by default) with ``settings``."""
    app = FastAPI(title="Peoplevox WMS simulator", version="4",
                  description="IntegrationServiceV4 (SOAP 1.1) plus a JSON admin API under /_sim/.")
    app.state.peoplevox = state if state is not None else PeoplevoxState()
    app.state.peoplevox_settings = settings if settings is not None else PeoplevoxSettings()
    if app.state.peoplevox.settings is None:  # a Warehouse built from the state alone uses these settings
        app.state.peoplevox.settings = app.state.peoplevox_settings
    app.middleware("http")(_fail_next)
    app.include_router(admin_router)
    app.include_router(warehouse_router)
    app.add_api_route("/{client_id}/{folder}/{service}", _service_get, methods=["GET"],
                      include_in_schema=False)
    app.add_api_route("/{client_id}/{folder}/{service}", _service_post, methods=["POST"],
                      include_in_schema=False)
    return app


async def _fail_next(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Answer HTTP 503 while ``settings.fail_next`` is positive (service URLs only, not /_sim/)."""
    settings: PeoplevoxSettings = request.app.state.peoplevox_settings
    if settings.fail_next > 0 and not request.url.path.startswith("/_sim"):
        settings.fail_next -= 1
        return Response("Service Unavailable (simulated fault)", status_code=503,
                        media_type="text/plain", headers={"Retry-After": "0"})
    return await call_next(request)


def _is_service(folder: str, service: str) -> bool:
    return folder.lower() == SERVICE_FOLDER and service.lower() == SERVICE_FILE


def _not_found(request: Request) -> Response:
    return Response(f"Not found: {request.url.path}", status_code=404, media_type="text/plain")


async def _service_get(client_id: str, folder: str, service: str, request: Request) -> Response:
    if not _is_service(folder, service):
        return _not_found(request)
    state: PeoplevoxState = request.app.state.peoplevox
    location = str(request.url.replace(query=""))
    if any(key.lower() == "wsdl" for key in request.query_params):
        with state.lock:
            state.calls[(client_id, "WSDL")] += 1
        return Response(build_wsdl(location), media_type=CONTENT_TYPE)
    return Response(_help_page(location), media_type="text/html; charset=utf-8")


def _help_page(location: str) -> str:
    items = "".join(f"<li><b>{op}</b>: {html.escape(OPERATION_DOCS[op])}</li>" for op in OPERATIONS)
    url = html.escape(location)
    return (f"<html><head><title>IntegrationServiceV4</title></head><body><h1>IntegrationServiceV4</h1>"
            f"<p>SOAP 1.1 service. Service description: <a href=\"{url}?wsdl\">{url}?wsdl</a></p>"
            f"<ul>{items}</ul></body></html>")


async def _service_post(client_id: str, folder: str, service: str, request: Request) -> Response:
    if not _is_service(folder, service):
        return _not_found(request)
    ctx = CallContext(request.app.state.peoplevox, request.app.state.peoplevox_settings, client_id)
    try:
        soap_request = parse_request(await request.body(), request.headers.get("SOAPAction"))
        result = dispatch(ctx, soap_request)
        return Response(response_envelope(soap_request.operation, result), media_type=CONTENT_TYPE)
    except SoapFault as fault:
        return _fault(fault.message, fault.code)
    except Exception as exc:  # the simulator must answer a fault, never a traceback
        log.exception("Peoplevox simulator failed on a request for client %s", client_id)
        return _fault(f"Server was unable to process request. ---> {type(exc).__name__}: {exc}", "Server")


def _fault(message: str, code: str) -> Response:
    return Response(fault_envelope(message, code), status_code=500, media_type=CONTENT_TYPE)
