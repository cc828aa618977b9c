"""SKU → Peoplevox ItemCode cross-reference: the pure map, and the ``item_codes`` setting that feeds it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from erp_wms_sync.config import check_file, load_integration
from erp_wms_sync.domain.item_codes import ItemCodeMap, ItemCodeRow, ItemCodeTableError
from erp_wms_sync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
NORTHWIND = yaml.safe_load((ROOT / "include/integrations/northwind.yaml").read_text())


def rows(*pairs: tuple[str, str]) -> list[ItemCodeRow]:
    return [ItemCodeRow(f"row {i}", sku, code) for i, (sku, code) in enumerate(pairs, start=2)]


# --- the pure map ------------------------------------------------------------------------------------------------
TABLE = ItemCodeMap.from_rows(rows(("NW-TEE-M", "TEE01M"), (" NW-CAP ", " CAP01 "), ("A", "B"), ("B", "A")))


@pytest.mark.parametrize(
    ("sku", "code"),
    [("NW-TEE-M", "TEE01M"), ("NW-CAP", "CAP01"), ("A", "B"), ("B", "A"), ("UNLISTED", "UNLISTED"),
     ("nw-tee-m", "nw-tee-m")],
    ids=["mapped", "spaces-dropped", "swap-a", "swap-b", "unlisted-is-identity", "case-sensitive"],
)
def test_item_code_for_and_back(sku: str, code: str) -> None:
    assert TABLE.item_code_for(sku) == code
    assert TABLE.sku_for(code) == sku


@pytest.mark.parametrize("value", ["", "ANY-SKU", "123"], ids=["empty", "text", "digits"])
def test_empty_table_is_identity_both_ways(value: str) -> None:
    identity = ItemCodeMap()
    assert identity.item_code_for(value) == value and identity.sku_for(value) == value and len(identity) == 0


@pytest.mark.parametrize(
    ("table", "max_length", "expected"),
    [
        (rows(("A", "X"), ("A", "Y")), None, ["row 3: SKU 'A' is already mapped at row 2"]),
        (rows(("A", "X"), ("B", "X")), None, ["row 3: ItemCode 'X' is already used by SKU 'A' at row 2"]),
        (rows(("", "X")), None, ["row 2: the SKU is empty"]),
        (rows(("A", "  ")), None, ["row 2: the ItemCode is empty"]),
        (rows(("A", "X" * 41)), 40, ["row 2: ItemCode '" + "X" * 41 + "' is 41 characters long; Peoplevox allows 40 "
                                     "(wms.item_code_max_length)"]),
        (rows(("A", "X"), ("A", "X"), ("C", "")), None,
         ["row 3: SKU 'A' is already mapped at row 2", "row 4: the ItemCode is empty"]),
    ],
    ids=["sku-twice", "code-twice", "empty-sku", "blank-code", "too-long", "every-problem-listed"],
)
def test_a_bad_table_names_each_bad_row(table: list[ItemCodeRow], max_length: int | None,
                                        expected: list[str]) -> None:
    with pytest.raises(ItemCodeTableError) as err:
        ItemCodeMap.from_rows(table, max_length=max_length)
    assert list(err.value.problems) == expected


def test_the_map_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        TABLE.to_code["NEW"] = "X"  # type: ignore[index]


# --- the setting -------------------------------------------------------------------------------------------------
def integration_with(tmp_path: Path, item_codes: dict, **wms: int) -> Path:
    data = {**NORTHWIND, "item_codes": item_codes, "wms": {**NORTHWIND["wms"], **wms}}
    path = tmp_path / "northwind.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_without_item_codes_the_sku_is_the_item_code() -> None:
    northwind = load_integration(ROOT / "include/integrations/northwind.yaml")
    assert northwind.item_code_for("NW-TEE-BLK-M") == "NW-TEE-BLK-M" and northwind.sku_for("X1") == "X1"


def test_an_inline_map_is_used_both_ways(tmp_path: Path) -> None:
    loaded = load_integration(integration_with(tmp_path, {"map": {"NW-TEE-BLK-M": "TEEBLKM", "00123": "A-123"}}))
    assert loaded.item_code_for("NW-TEE-BLK-M") == "TEEBLKM" and loaded.sku_for("TEEBLKM") == "NW-TEE-BLK-M"
    assert loaded.item_code_for("00123") == "A-123" and loaded.item_code_for("OTHER") == "OTHER"


def test_a_csv_file_relative_to_the_yaml_is_used(tmp_path: Path) -> None:
    (tmp_path / "item_codes").mkdir()
    (tmp_path / "item_codes" / "northwind.csv").write_text("sku,item_code\nNW-TEE-BLK-M, TEEBLKM\n\nNW-CAP,CAP1\n")
    loaded = load_integration(integration_with(tmp_path, {"file": "item_codes/northwind.csv"}))
    assert loaded.item_code_for("NW-TEE-BLK-M") == "TEEBLKM" and loaded.sku_for("CAP1") == "NW-CAP"


def test_a_yaml_table_file_is_used(tmp_path: Path) -> None:
    (tmp_path / "codes.yaml").write_text("NW-TEE-BLK-M: TEEBLKM\n'007': BOND\n")
    loaded = load_integration(integration_with(tmp_path, {"file": "codes.yaml"}))
    assert loaded.item_code_for("007") == "BOND" and loaded.sku_for("TEEBLKM") == "NW-TEE-BLK-M"


@pytest.mark.parametrize(
    ("item_codes", "table", "field", "words"),
    [
        ({"map": {"A": "X", "B": "X"}}, None, "item_codes.map", "SKU 'B': ItemCode 'X' is already used by SKU 'A'"),
        ({"map": {"A": ""}}, None, "item_codes.map", "SKU 'A': the ItemCode is empty"),
        ({"map": {"A": "X" * 13}}, None, "item_codes.map", "is 13 characters long; Peoplevox allows 12"),
        ({"map": {"A": 123}}, None, "item_codes.map.A", "valid string"),
        ({"map": {"A": "X"}, "file": "codes.csv"}, None, "item_codes", "both map and file are given"),
        ({"file": "missing.csv"}, None, "item_codes.file", "missing.csv: cannot read the file"),
        ({"file": "codes.csv"}, "sku,item_code\nA,X\nB,Y\nA,Z\n", "item_codes.file",
         "codes.csv row 4: SKU 'A' is already mapped at codes.csv row 2"),
        ({"file": "codes.csv"}, "sku,item_code\nA,X\nB,X\n", "item_codes.file",
         "codes.csv row 3: ItemCode 'X' is already used by SKU 'A' at codes.csv row 2"),
        ({"file": "codes.csv"}, "sku,item_code\nA,X\nB,,extra\n", "item_codes.file", "codes.csv: row 3: has 3 columns"),
        ({"file": "codes.csv"}, "SKU;ItemCode\nA;X\n", "item_codes.file", "not the header sku,item_code"),
        ({"file": "codes.csv"}, "sku,item_code\n,X\n", "item_codes.file", "codes.csv row 2: the SKU is empty"),
        ({"file": "codes.txt"}, "A X", "item_codes.file", "neither .csv nor .yaml"),
    ],
    ids=["code-twice", "empty-code", "too-long", "unquoted-number", "map-and-file", "missing-file", "csv-sku-twice",
         "csv-code-twice", "csv-ragged", "csv-header", "csv-empty-sku", "unknown-kind"],
)
def test_a_bad_cross_reference_names_file_row_and_fix(tmp_path: Path, item_codes: dict, table: str | None,
                                                      field: str, words: str) -> None:
    if table is not None:
        (tmp_path / item_codes["file"]).write_text(table)
    path = integration_with(tmp_path, item_codes, item_code_max_length=12)
    with pytest.raises(ConfigError) as err:
        load_integration(path)
    message = str(err.value)
    assert f"{path}: {field}: " in message and words in message and "Fix:" in message, message


def test_a_changed_table_file_is_read_again(tmp_path: Path) -> None:
    table = tmp_path / "codes.csv"
    table.write_text("sku,item_code\nA,X\n")
    path = integration_with(tmp_path, {"file": "codes.csv"})
    first = check_file(path)
    assert first.ok and first.integration is not None and first.integration.item_code_for("A") == "X"
    assert check_file(path) is first  # nothing changed: the kept result
    table.write_text("sku,item_code\nA,X\nB,X\n")
    os.utime(table, ns=(table.stat().st_atime_ns, table.stat().st_mtime_ns + 1_000_000))
    again = check_file(path)
    assert not again.ok and "ItemCode 'X' is already used" in str(again.problems[0])


def test_an_item_code_setting_built_in_code_works_without_a_yaml_file() -> None:
    from erp_wms_sync.config import ItemCodeSettings

    northwind = load_integration(ROOT / "include/integrations/northwind.yaml")
    mapped = northwind.model_copy(update={"item_codes": ItemCodeSettings(map={"NW-TEE-BLK-M": "TEEBLKM"})})
    assert mapped.item_code_for("NW-TEE-BLK-M") == "TEEBLKM" and mapped.sku_for("TEEBLKM") == "NW-TEE-BLK-M"
    assert northwind.item_code_for("NW-TEE-BLK-M") == "NW-TEE-BLK-M"
