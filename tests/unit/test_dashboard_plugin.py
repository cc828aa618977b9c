"""The dashboard plugin's vendor clients: a person is waiting, so their ERP calls go first in the shared budget."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from erp_wms_sync.airflow import runtime
from erp_wms_sync.connectors.budget import Priority

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_actions_spend_the_erp_budget_at_high_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[Any, ...]] = []
    monkeypatch.setattr(runtime, "make_client", lambda *args: asked.append(args) or object())
    spec = importlib.util.spec_from_file_location("erp_wms_dashboard_plugin", ROOT / "plugins" / "erp_wms_dashboard.py")
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    plugin._clients("northwind-integration", "erp")
    assert asked == [("northwind-integration", "erp", Priority.HIGH)]
