"""Contract-test fixtures: each simulator keeps its fixtures in its own module, imported here."""

from __future__ import annotations

from tests.contract.conftest_peoplevox import peoplevox_server, peoplevox_sim, pvx  # noqa: F401
from tests.contract.fixtures_bluecherry_orders import bc_api, bc_settings, bc_state  # noqa: F401
from tests.contract.fixtures_cin7_sales import cin7, receiver  # noqa: F401
from tests.contract.fixtures_erp import bluecherry_sim, cin7_sim, erp_clock  # noqa: F401
from tests.contract.fixtures_peoplevox_warehouse import callback_receiver, pvx_world  # noqa: F401
