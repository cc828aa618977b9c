"""Integration YAML validation: every problem is reported with file, field and a fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from erp_wms_sync.cli import main
from erp_wms_sync.config import WriteBack, load_all, load_integration
from erp_wms_sync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "include" / "integrations"


def write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def sample(name: str = "northwind") -> dict:
    return yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())


def test_the_two_sample_integrations_are_valid() -> None:
    loaded = {i.name: i for i in load_all(SAMPLES)}
    assert set(loaded) == {"northwind", "bluebird"}
    assert loaded["northwind"].erp.kind == "cin7core" and loaded["bluebird"].erp.kind == "bluecherry"
    assert loaded["northwind"].site_for("main warehouse") == "MAIN"
    assert loaded["northwind"].owner_of("unmapped_sku") == "ecommerce"  # YAML override
    assert loaded["northwind"].owner_of("invalid_order") == "cx"  # catalogue default


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["locations"].append({"erp": "Overflow", "wms_site": "MAIN"}), "locations",
         "site used by more than one ERP location"),
        (lambda d: d["locations"].append({"erp": "Main Warehouse", "wms_site": "OTHER"}), "locations",
         "ERP location mapped twice"),
        (lambda d: d.update(location_mapping="rules"), "location_mapping", "must use strict_one_to_one"),
        (lambda d: d.update(timezone="Mars/Olympus"), "timezone", "unknown time zone"),
        (lambda d: d["schedules"].update(item_master_sync="every hour"), "schedules.item_master_sync",
         "has 2 fields"),
        (lambda d: d["schedules"].update(teleport="* * * * *"), "schedules.teleport", "unknown flow"),
        (lambda d: d["erp"].update(kind="sap"), "erp.kind", "Input should be"),
        (lambda d: d["erp"].pop("conn_id"), "erp.conn_id", "Field required"),
        (lambda d: d.update(colour="blue"), "colour", "Extra inputs are not permitted"),
        (lambda d: d["alerts"].update(emails=["not-an-address"]), "alerts.emails", "not an e-mail address"),
        (lambda d: d["owners"].update(lost_parcel="ops"), "owners", "unknown exception type"),
        (lambda d: d["orders"].update(batch_size=0), "orders.batch_size", "greater than 0"),
        (lambda d: d["orders"].update(write_back="sometimes"), "orders.write_back", "'all', 'held' or 'off'"),
        (lambda d: d["orders"].update(item_sync_wait_minutes=1441), "orders.item_sync_wait_minutes",
         "less than or equal to 1440"),
        (lambda d: d["orders"].update(item_sync_wait_minutes=-1), "orders.item_sync_wait_minutes",
         "greater than or equal to 0"),
    ],
    ids=["site-twice", "erp-location-twice", "cin7-needs-strict", "timezone", "cron", "unknown-flow", "erp-kind",
         "missing-conn", "typo-field", "email", "owner-type", "batch-size", "write-back", "item-wait-high",
         "item-wait-negative"],
)
def test_a_bad_setting_is_named_with_file_field_and_fix(tmp_path: Path, change, field: str, words: str) -> None:
    data = sample()
    change(data)
    path = write(tmp_path, "northwind", data)
    with pytest.raises(ConfigError) as err:
        load_integration(path)
    message = str(err.value)
    assert str(path) in message and f": {field}:" in message and words in message and "Fix:" in message


def test_new_order_settings_have_documented_defaults_and_accept_each_value(tmp_path: Path) -> None:
    defaults = load_integration(write(tmp_path, "northwind", {k: v for k, v in sample().items() if k != "orders"}))
    assert defaults.orders.write_back == WriteBack.HELD and str(defaults.orders.write_back) == "held"
    assert defaults.orders.item_sync_wait_minutes == 120
    for value in ("all", "held", "off"):
        data = sample()
        data["orders"].update(write_back=value, item_sync_wait_minutes=0)
        loaded = load_integration(write(tmp_path, "northwind", data))
        assert loaded.orders.write_back == value and loaded.orders.item_sync_wait_minutes == 0


def test_bluecherry_rules_may_share_a_site(tmp_path: Path) -> None:
    data = sample("bluebird")
    data["locations"].append({"erp": "NJ02", "wms_site": "NJ01"})
    assert load_integration(write(tmp_path, "bluebird", data)).site_for("NJ02") == "NJ01"


def test_name_must_match_file_and_be_unique(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_integration(write(tmp_path, "other", sample()))
    (tmp_path / "a").mkdir()
    write(tmp_path / "a", "northwind", sample())
    (tmp_path / "a" / "northwind.yml").write_text(yaml.safe_dump(sample()))
    with pytest.raises(ConfigError, match="'northwind' is already defined by .*northwind.yaml"):
        load_all(tmp_path / "a")


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "northwind.yaml"
    path.write_text("name: northwind\nerp: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_integration(path)


def test_cli_validate_lists_every_problem_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = sample()
    data["timezone"] = "Nowhere/Town"
    data["erp"]["kind"] = "sap"
    bad = write(tmp_path, "northwind", data)
    assert main(["config", "validate", str(bad), str(SAMPLES / "bluebird.yaml")]) == 2
    err = capsys.readouterr().err
    assert "timezone" in err and "erp.kind" in err and "2 problem(s) in 2 file(s)" in err


def test_cli_validate_ok_via_entry_point() -> None:
    exe = Path(sys.executable).with_name("erp-wms-sync")
    result = subprocess.run([str(exe), "config", "validate", *map(str, sorted(SAMPLES.glob("*.yaml")))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "2 file(s) valid: bluebird, northwind" in result.stdout
