"""CGS BlueCherry ERP simulator, built on a designed contract (no public API reference exists):
styles, SKUs (``style-color-size``) and warehouses under ``/api/v1``, behind an API-Management style
gateway (``Ocp-Apim-Subscription-Key`` header, 429 with ``Retry-After``); sales orders with the designed
status lifecycle, pick tickets, shipments confirmed from the WMS, return authorisations and credit memos,
stock per SKU × warehouse that really moves, and inventory adjustments. Every designed choice is a
:class:`BlueCherrySettings` field; :class:`BlueCherryState` has helpers for tests and the scenario driver.

``create_app(state=None, settings=None)`` returns the FastAPI app.
"""

from __future__ import annotations

from erp_wms_simulators.bluecherry.app import create_app
from erp_wms_simulators.bluecherry.settings import BlueCherrySettings
from erp_wms_simulators.bluecherry.state import BlueCherryState

__all__ = ["BlueCherrySettings", "BlueCherryState", "create_app"]
