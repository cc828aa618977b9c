"""DAG integrity: the team's rules, checked on every DAG the factory builds (no metadata DB needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
FLOWS = ("item_master_sync", "order_release", "dispatch_confirmation", "webhook_subscriptions", "inventory_sync",
         "returns", "exception_housekeeping", "reconciliation", "exception_digest")
DAG_IDS = [f"{i}__{f}" for i in ("northwind", "bluebird") for f in FLOWS]


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_one_dag_per_integration_and_flow(dagbag: DagBag) -> None:
    assert set(DAG_IDS) <= set(dagbag.dags)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_follows_the_team_rules(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags and "erp-wms-sync" in dag.tags
    timetable = dag.timetable.timetable if isinstance(dag.timetable, AssetOrTimeSchedule) else dag.timetable
    assert isinstance(timetable, CronDataIntervalTimetable), "windowed syncs need a data-interval timetable"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.doc_md and "Runbook" in dag.doc_md
    assert dag.on_failure_callback
    for task in dag.tasks:
        assert task.owner == "erp-wms-sync", task.task_id
        assert task.on_failure_callback, f"{task.task_id} has no failure callback"
        if task.task_id != "data_check":  # a failed data check must not be retried
            assert task.retries >= 2, task.task_id
            assert task.retry_exponential_backoff and task.retry_exponential_backoff > 1
        if task.op_kwargs.get("client"):  # the step builds an API client: it must run in that API's pool
            assert task.pool.endswith("_api"), f"{task.task_id} calls an API outside a pool"
    api_tasks = [t.task_id for t in dag.tasks if t.op_kwargs.get("client")]
    if dag_id.endswith(("item_master_sync", "order_release")):
        assert len(api_tasks) >= 3, api_tasks


def test_parsing_imports_neither_pandas_nor_great_expectations() -> None:
    code = (
        "import sys, json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "print(json.dumps({'dags': len(bag.dags), 'errors': len(bag.import_errors),"
        " 'heavy': sorted(m for m in ('pandas', 'great_expectations', 'zeep', 'scipy') if m in sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["dags"] >= 2 and report["errors"] == 0
    assert report["heavy"] == []


def test_order_release_also_runs_on_item_syncs_and_cin7_order_events(dagbag: DagBag) -> None:
    northwind = dagbag.dags["northwind__order_release"].timetable
    assert isinstance(northwind, AssetOrTimeSchedule)
    assert "erp-wms://northwind/sale-order-authorised" in str(northwind.asset_condition)
    assert "erp-wms://northwind/items-synced" in str(northwind.asset_condition)
    bluebird = dagbag.dags["bluebird__order_release"].timetable
    assert "erp-wms://bluebird/items-synced" in str(bluebird.asset_condition)
    assert "sale-order-authorised" not in str(bluebird.asset_condition)
    upsert = dagbag.dags["northwind__item_master_sync"].get_task("upsert_wms_items")
    assert [o.uri for o in upsert.outlets] == ["erp-wms://northwind/items-synced"]


def test_a_broken_integration_file_is_an_import_error_naming_it_while_others_keep_their_dags(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "integrations"
    folder.mkdir()
    good = yaml.safe_load((ROOT / "include/integrations/northwind.yaml").read_text())
    (folder / "northwind.yaml").write_text(yaml.safe_dump(good))
    bad = yaml.safe_load((ROOT / "include/integrations/bluebird.yaml").read_text())
    bad["timezone"] = "Atlantis/Capital"
    (folder / "bluebird.yaml").write_text(yaml.safe_dump(bad))
    monkeypatch.setenv("ERP_WMS_INTEGRATIONS_DIR", str(folder))
    bag = DagBag(dag_folder=str(DAGS))
    assert "northwind__item_master_sync" in bag.dags and "bluebird__item_master_sync" not in bag.dags
    (path, error), = bag.import_errors.items()
    assert path.endswith("erp_wms_sync_config_check.py")
    assert "bluebird.yaml: timezone: unknown time zone 'Atlantis/Capital'" in error and "Fix:" in error


def integrations_folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "integrations"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def test_a_backup_copy_and_hostile_files_are_import_errors_while_good_integrations_keep_their_dags(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    northwind = (ROOT / "include/integrations/northwind.yaml").read_bytes()
    bluebird = (ROOT / "include/integrations/bluebird.yaml").read_bytes()
    folder = integrations_folder(tmp_path, {
        "northwind.yaml": northwind,
        "northwind.yml": northwind.replace(b"Northwind Outfitters", b"Northwind (old copy)"),
        "bluebird.yaml": bluebird,
        "southwind.yaml": northwind.replace(b"name: northwind", b"name: southwind") + b"# caf\xe9\n",
        "eastwind.yaml": northwind.replace(b"name: northwind", b"name: eastwind").replace(b"Europe/London", b"Europe"),
        "westwind.yaml": northwind.replace(b"name: northwind", b"name: westwind")
                         .replace(b'order_release: "*/5 * * * *"', b'order_release: "0 0 31 2 *"'),
    })
    monkeypatch.setenv("ERP_WMS_INTEGRATIONS_DIR", str(folder))
    bag = DagBag(dag_folder=str(DAGS))
    assert set(DAG_IDS) <= set(bag.dags)
    assert bag.dags["northwind__order_release"].description.startswith("Northwind Outfitters")
    assert not any(d.startswith(("southwind", "eastwind", "westwind")) for d in bag.dags)
    (path, error), = bag.import_errors.items()
    assert path.endswith("erp_wms_sync_config_check.py")
    assert f"{folder / 'northwind.yml'}: name: 'northwind' is already defined by {folder / 'northwind.yaml'}" in error
    assert f"{folder / 'southwind.yaml'}: (file): byte 0xE9 at offset" in error
    assert f"{folder / 'eastwind.yaml'}: timezone: 'Europe' is a region, not a time zone. Fix:" in error
    assert f"{folder / 'westwind.yaml'}: schedules.order_release: '0 0 31 2 *' cannot be scheduled" in error


def test_one_dag_folder_parse_reads_each_integration_file_once(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from erp_wms_sync import config

    folder = integrations_folder(tmp_path, {name: (ROOT / "include/integrations" / name).read_bytes()
                                            for name in ("northwind.yaml", "bluebird.yaml")})
    reads: list[str] = []
    real = config.read_yaml
    monkeypatch.setattr(config, "read_yaml", lambda path: reads.append(Path(path).name) or real(path))
    monkeypatch.setenv("ERP_WMS_INTEGRATIONS_DIR", str(folder))
    bag = DagBag(dag_folder=str(DAGS))
    assert set(DAG_IDS) <= set(bag.dags) and bag.import_errors == {}
    assert sorted(reads) == ["bluebird.yaml", "northwind.yaml"]


def test_a_despatch_callback_costs_one_task_start_before_the_erp_hears_of_it(dagbag: DagBag) -> None:
    for name in ("northwind", "bluebird"):
        dag = dagbag.dags[f"{name}__dispatch_confirmation"]
        assert isinstance(dag.timetable, AssetOrTimeSchedule)
        assert f"erp-wms://{name}/despatch-received" in str(dag.timetable.asset_condition)
        roots = [t.task_id for t in dag.tasks if not t.upstream_task_ids]
        assert roots == ["confirm_despatches"], "no plan task before the callback path"
        assert dag.get_task("confirm_despatches").pool == "dispatch_api"
    assert "post_shipments" not in dagbag.dags["northwind__dispatch_confirmation"].task_ids
    assert dagbag.dags["bluebird__dispatch_confirmation"].get_task("post_shipments").pool == "bluecherry_api"
