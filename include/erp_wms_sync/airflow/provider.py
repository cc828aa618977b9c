"""Airflow provider metadata: registers the connection types ``cin7core``, ``peoplevox`` and ``bluecherry`` so the
UI shows a form for each and its **Test** button calls the hook's ``test_connection()`` (a cheap call to the real
or simulated system). Plain ``http`` connections work too; only the UI test differs."""

from __future__ import annotations

from typing import Any

from erp_wms_sync import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "erp-wms-sync",
        "name": "erp-wms-sync",
        "description": "Cin7 Core / BlueCherry <-> Peoplevox integration hooks",
        "versions": [__version__],
        "connection-types": [
            {"connection-type": "cin7core", "hook-class-name": "erp_wms_sync.airflow.hooks.Cin7CoreHook"},
            {"connection-type": "peoplevox", "hook-class-name": "erp_wms_sync.airflow.hooks.PeoplevoxHook"},
            {"connection-type": "bluecherry", "hook-class-name": "erp_wms_sync.airflow.hooks.BlueCherryHook"},
        ],
    }
