"""Cin7 Core (formerly DEAR Inventory) External API v2 simulator: products, locations, ``/me``, stock
availability and adjustments, sales (quote, order, fulfilment pick/pack/ship, invoice, payment, credit note,
void and undo) with stock that really moves, and webhooks delivered on the documented retry schedule.

``create_app(state=None, settings=None)`` returns the FastAPI app; base path ``/ExternalApi/v2``. Scenario
drivers use the state helpers of :mod:`erp_wms_simulators.cin7core.tenant` or the ``/_sim`` admin routes.
"""

from __future__ import annotations

from erp_wms_simulators.cin7core.app import create_app
from erp_wms_simulators.cin7core.settings import Cin7CoreSettings
from erp_wms_simulators.cin7core.state import Cin7CoreState

__all__ = ["Cin7CoreSettings", "Cin7CoreState", "create_app"]
