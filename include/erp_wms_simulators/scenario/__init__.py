"""Scenario driver of the simulators: a generated catalogue, a simulated trading day of orders in the ERPs
(with amendments, cancellations, returns and deliberate problems), a warehouse that moves, and stable dumps.

Python API: ``Scenario(stack_or_states, seed=...)`` with ``seed_catalogue()``, ``day(orders, on_tick)``,
``advance(minutes | steps)`` and ``dump()`` / ``dump_json()``. Command line:
``python -m erp_wms_simulators scenario seed|day|advance|dump`` (see :mod:`.cli`).
"""

from __future__ import annotations

from erp_wms_simulators.scenario.driver import Scenario
from erp_wms_simulators.scenario.plan import KINDS, DayMix
from erp_wms_simulators.scenario.report import DayReport, stable_json
from erp_wms_simulators.scenario.wms import WarehouseRates

__all__ = ["KINDS", "DayMix", "DayReport", "Scenario", "WarehouseRates", "stable_json"]
