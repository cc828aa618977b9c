"""Demo tenants of the Peoplevox simulator: one per sample brand.

- ``northwind`` is the warehouse account of the Cin7 Core brand;
- ``bluebird`` is the warehouse account of the BlueCherry brand.

Each gets two sites and one Item type that was created by hand in Peoplevox, so no ERP knows it
(the item master sync should flag it). The credentials are demo values, published on purpose.
"""

from __future__ import annotations

from erp_wms_simulators.peoplevox.state import PeoplevoxState

DEMO_USERNAME = "integration"

NORTHWIND_CLIENT_ID = "northwind"
NORTHWIND_USERNAME = DEMO_USERNAME
NORTHWIND_PASSWORD = "northwind-demo-pass"

BLUEBIRD_CLIENT_ID = "bluebird"
BLUEBIRD_USERNAME = DEMO_USERNAME
BLUEBIRD_PASSWORD = "bluebird-demo-pass"

HANDMADE_ITEM_CODE = "PVX-HANDMADE-001"
HANDMADE_ITEM_NAME = "Created by hand in Peoplevox"

DEMO_SITES: dict[str, list[dict[str, str]]] = {
    NORTHWIND_CLIENT_ID: [
        {"Reference": "MAIN", "Name": "Northwind main warehouse", "City": "Leeds", "Country": "GB"},
        {"Reference": "RETURNS", "Name": "Northwind returns centre", "City": "Leeds", "Country": "GB"},
    ],
    BLUEBIRD_CLIENT_ID: [
        {"Reference": "NJ01", "Name": "Bluebird New Jersey DC", "City": "Edison", "Region": "NJ",
         "Country": "US"},
        {"Reference": "CA02", "Name": "Bluebird California DC", "City": "Ontario", "Region": "CA",
         "Country": "US"},
    ],
}

DEMO_USERS: dict[str, tuple[str, str]] = {
    NORTHWIND_CLIENT_ID: (NORTHWIND_USERNAME, NORTHWIND_PASSWORD),
    BLUEBIRD_CLIENT_ID: (BLUEBIRD_USERNAME, BLUEBIRD_PASSWORD),
}


def seed_demo(state: PeoplevoxState) -> None:
    """Create (or refresh) both demo tenants; safe to call more than once."""
    for client_id, (username, password) in DEMO_USERS.items():
        state.add_tenant(client_id, username, password)
        state.seed(client_id, "Sites", DEMO_SITES[client_id])
        state.seed(client_id, "Item types", [{
            "ItemCode": HANDMADE_ITEM_CODE,
            "Name": HANDMADE_ITEM_NAME,
            "Description": "Added in the warehouse without an ERP product behind it",
        }])


def demo_credentials() -> dict[str, dict[str, str]]:
    """Per demo tenant: the client id, user name and password a connection needs."""
    return {client_id: {"client_id": client_id, "username": username, "password": password}
            for client_id, (username, password) in DEMO_USERS.items()}
