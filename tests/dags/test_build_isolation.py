"""A DAG builder that raises for one integration costs that integration its DAGs, and nobody else's: the error is
logged and reported as an import error of the config-check DAG file naming the integration's file."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from erp_wms_sync.airflow import dags as flow_builders
from erp_wms_sync.airflow.factory import build, build_dags, build_problems
from erp_wms_sync.config import Integration, scan_folder

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


def breaks_for(name: str, real: Callable[[Integration], object]) -> Callable[[Integration], object]:
    def builder(integration: Integration) -> object:
        if integration.name == name:
            raise ValueError(f"no pool for {integration.erp.kind.value}")
        return real(integration)

    return builder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "integrations"
    target.mkdir()
    for name in ("northwind.yaml", "bluebird.yaml"):
        shutil.copy(ROOT / "include/integrations" / name, target / name)
    return target


def test_one_failing_builder_removes_only_that_integrations_dags(
        folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    real = flow_builders.FLOW_BUILDERS["order_release"]
    monkeypatch.setitem(flow_builders.FLOW_BUILDERS, "order_release", breaks_for("bluebird", real))
    integrations = scan_folder(folder).integrations
    with caplog.at_level(logging.ERROR, logger="erp_wms_sync.airflow.factory"):
        dags = build_dags(integrations)
    assert set(dags) == {f"northwind__{flow}" for flow in flow_builders.FLOW_BUILDERS}, \
        "bluebird loses all its DAGs (item sync without order release would be half an integration)"
    assert "bluebird" in caplog.text and "order_release" in caplog.text and "no pool for bluecherry" in caplog.text
    (failure,) = build(integrations).failures
    assert (failure.integration, failure.flow) == ("bluebird", "order_release")


def test_the_failure_is_an_import_error_of_the_config_check_file(folder: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real = flow_builders.FLOW_BUILDERS["item_master_sync"]
    monkeypatch.setitem(flow_builders.FLOW_BUILDERS, "item_master_sync", breaks_for("northwind", real))
    monkeypatch.setenv("ERP_WMS_INTEGRATIONS_DIR", str(folder))
    bag = DagBag(dag_folder=str(DAGS))
    assert {"bluebird__item_master_sync", "bluebird__order_release"} <= set(bag.dags)
    assert not any(dag_id.startswith("northwind") for dag_id in bag.dags)
    (path, error), = bag.import_errors.items()
    assert path.endswith("erp_wms_sync_config_check.py")
    assert f"{folder / 'northwind.yaml'}: (DAG northwind__item_master_sync): the DAG could not be built" in error
    assert "ValueError: no pool for cin7core" in error and "Fix:" in error


@pytest.mark.parametrize("config_check_first", [True, False])
def test_a_folder_parse_builds_once_and_never_shares_dags_between_parses(
        folder: Path, monkeypatch: pytest.MonkeyPatch, config_check_first: bool) -> None:
    calls: list[str] = []
    for flow, real in list(flow_builders.FLOW_BUILDERS.items()):
        def counted(integration: Integration, real: Callable[[Integration], object] = real) -> object:
            calls.append(integration.name)
            return real(integration)
        monkeypatch.setitem(flow_builders.FLOW_BUILDERS, flow, counted)
    scan = scan_folder(folder)
    if config_check_first:
        assert build_problems(scan) == []
    registered = build_dags(scan.integrations)
    if not config_check_first:
        assert build_problems(scan) == []
    kinds = [i.erp.kind.value for i in scan.integrations]  # two integrations, one per ERP
    expected = sum(1 for kind in kinds for flow in flow_builders.FLOW_BUILDERS
                   if kind in flow_builders.FLOW_ERPS.get(flow, (kind,)))
    assert len(registered) == expected and len(calls) == expected, "one build for both DAG files of a parse"
    next_parse = build_dags(scan.integrations)
    assert next_parse.keys() == registered.keys()
    assert all(next_parse[d] is not registered[d] for d in registered), "a later parse gets DAG objects of its own"
