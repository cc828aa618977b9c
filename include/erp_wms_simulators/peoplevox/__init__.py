"""Simulator of the Peoplevox WMS IntegrationServiceV4 SOAP API (multi-tenant, in memory).

``create_app(state, settings)`` returns the FastAPI application; run it with uvicorn on 127.0.0.1.
``Warehouse(state, client_id)`` moves a tenant's simulated warehouse (goods in, picking, despatch, returns).
"""

from __future__ import annotations

from erp_wms_simulators.peoplevox.app import create_app
from erp_wms_simulators.peoplevox.settings import PeoplevoxSettings
from erp_wms_simulators.peoplevox.state import PeoplevoxState
from erp_wms_simulators.peoplevox.warehouse import Warehouse, WarehouseError

__all__ = ["PeoplevoxSettings", "PeoplevoxState", "Warehouse", "WarehouseError", "create_app"]
