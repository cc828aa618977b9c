"""Hostile or careless integration files: every one is a clear ``FILE: field: … Fix: …`` and exit 2, never a
traceback, and one bad file never costs another integration anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from erp_wms_sync import config
from erp_wms_sync.cli import main
from erp_wms_sync.config import check_file, scan_folder

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "include" / "integrations"
NORTHWIND_TEXT = (SAMPLES / "northwind.yaml").read_text()


def sample(name: str = "northwind") -> dict:
    return yaml.safe_load((SAMPLES / f"{name}.yaml").read_text())


def write_yaml(folder: Path, file_name: str, data: dict) -> Path:
    path = folder / file_name
    path.write_text(yaml.safe_dump(data))
    return path


def only_problem(path: Path) -> str:
    problems = check_file(path).problems
    assert len(problems) == 1, problems
    return str(problems[0])


@pytest.mark.parametrize(
    ("zone", "words"),
    [
        ("Europe", "'Europe' is a region, not a time zone. Fix: name a zone in it, e.g. Europe/"),
        ("localtime", "'localtime' is the zone of whichever machine runs the task"),
        ("europe/london", "(zone names are case-sensitive). Fix: write it as Europe/London"),
        ("Mars/Olympus", "unknown time zone 'Mars/Olympus'. Fix: use an IANA zone name"),
        ("../../etc/passwd", "unknown time zone '../../etc/passwd'"),
        ("", "unknown time zone ''"),
    ],
    ids=["folder", "localtime", "wrong-case", "unknown", "path", "empty"],
)
def test_a_zone_must_be_an_iana_name(tmp_path: Path, zone: str, words: str) -> None:
    path = write_yaml(tmp_path, "northwind.yaml", {**sample(), "timezone": zone})
    message = only_problem(path)
    assert message.startswith(f"{path}: timezone: ") and words in message


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("*/5 * * * * *", "has 6 fields; a schedule has 5 (minute hour day month weekday) and no seconds"),
        ("0 0 31 2 *", "cannot be scheduled: it never fires (no such date)"),
        ("R * * * *", "contains R, which is not a cron value"),
        ("H 3 * * *", "contains H, which is not a cron value"),
        ("61 * * * *", "cannot be scheduled"),
        ("every hour", "has 2 fields"),
    ],
    ids=["seconds", "february-31", "random", "hashed", "out-of-range", "words"],
)
def test_a_cron_airflow_cannot_schedule_is_refused(tmp_path: Path, cron: str, words: str) -> None:
    data = sample()
    data["schedules"]["order_release"] = cron
    path = write_yaml(tmp_path, "northwind.yaml", data)
    message = only_problem(path)
    assert message.startswith(f"{path}: schedules.order_release: '{cron}' ") and words in message
    assert "Fix: use five cron fields" in message


@pytest.mark.parametrize("cron", ["0 0 29 2 *", "@daily", "30 1 * * MON-FRI", "0 0 L * *"],
                         ids=["leap-day", "preset", "names", "last-day"])
def test_crons_airflow_can_schedule_pass(tmp_path: Path, cron: str) -> None:
    data = sample()
    data["schedules"]["reconciliation"] = cron
    assert check_file(write_yaml(tmp_path, "northwind.yaml", data)).ok


def test_bytes_that_are_not_utf8_are_named_by_offset(tmp_path: Path) -> None:
    path = tmp_path / "northwind.yaml"
    raw = NORTHWIND_TEXT.encode().replace(b"display_name: Northwind", b"display_name: Caf\xe9", 1)
    path.write_bytes(raw)
    offset = raw.index(b"\xe9")
    line = NORTHWIND_TEXT.splitlines().index("display_name: Northwind Outfitters") + 1
    assert only_problem(path) == (f"{path}: (file): byte 0xE9 at offset {offset} (line {line}) is not UTF-8. "
                                  "Fix: save the file as UTF-8")


def test_a_number_too_long_to_convert_is_named(tmp_path: Path) -> None:
    path = tmp_path / "northwind.yaml"
    path.write_text(NORTHWIND_TEXT.replace("tolerance_units: 0", "tolerance_units: " + "9" * 5000))
    message = only_problem(path)
    assert message.startswith(f"{path}: reconciliation.tolerance_units: a number of 5,000 digits (line ")
    assert "Fix: use a realistic value" in message


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "northwind.yaml"
    path.write_text(NORTHWIND_TEXT.replace("  batch_size: 100\n", "  batch_size: 100\n  batch_size: 5\n", 1))
    first = NORTHWIND_TEXT.splitlines().index("  batch_size: 100") + 1
    assert only_problem(path) == (f"{path}: orders.batch_size: key 'batch_size' is given twice (lines {first} and "
                                  f"{first + 1}); YAML would silently keep the last. Fix: keep one of the two and "
                                  "delete the other")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "(file): the file is empty"),
        ("# only a comment\n", "(file): the file is empty"),
        ("- a\n- b\n", "(top level): expected a mapping of settings, found a list"),
        ("just words\n", "(top level): expected a mapping of settings, found a str"),
        ("a: 1\n---\nb: 2\n", "(file): not valid YAML at line 2, column 1: but found another document"),
        ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "(file): collections are nested more than 64 deep (line 1)"),
        ("a:\n  " + "- " * 100_000 + "x\n", "(file): collections are nested more than 64 deep (line 2)"),
        ("a: *nowhere\n", "(file): not valid YAML at line 1, column 4: found undefined alias"),
    ],
    ids=["empty", "comment-only", "list", "scalar", "two-documents", "deep-flow", "deep-block", "bad-alias"],
)
def test_a_file_that_is_not_a_settings_mapping_is_named(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "northwind.yaml"
    path.write_text(content)
    message = only_problem(path)
    assert message.startswith(f"{path}: {expected}") and "Fix: " in message


def test_a_10_mb_file_is_refused_without_being_parsed(tmp_path: Path) -> None:
    path = tmp_path / "northwind.yaml"
    path.write_text(NORTHWIND_TEXT + "#" * 10_000_000 + "\n")
    assert only_problem(path) == (f"{path}: (file): the file is {path.stat().st_size:,} bytes; the limit is "
                                  "1,000,000. Fix: keep the file small: a large item-code table belongs in a CSV "
                                  "named by item_codes.file")


def test_an_endless_file_is_refused_after_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "northwind.yaml"
    path.symlink_to("/dev/zero")
    assert only_problem(path).startswith(f"{path}: (file): the file is more than 1,000,000 bytes; the limit is ")


def test_a_large_file_within_the_limit_names_its_problem(tmp_path: Path) -> None:
    stores = "".join(f"  - erp: Store {i:05d}\n    wms_site: S{i:05d}\n" for i in range(10_000))
    late = "  - erp: Late\n    wms_site: S09999\n"
    path = tmp_path / "northwind.yaml"
    path.write_text(NORTHWIND_TEXT.replace("locations:\n", "locations:\n" + stores + late, 1))
    message = only_problem(path)
    assert "locations: Peoplevox site used by more than one ERP location: S09999 (" in message


def test_the_loader_reads_each_file_once_while_it_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    real = config.read_yaml
    monkeypatch.setattr(config, "read_yaml", lambda path: reads.append(path) or real(path))
    write_yaml(tmp_path, "northwind.yaml", sample())
    write_yaml(tmp_path, "bluebird.yaml", sample("bluebird"))
    for _ in range(3):
        assert {i.name for i in scan_folder(tmp_path).integrations} == {"northwind", "bluebird"}
    assert sorted(p.name for p in reads) == ["bluebird.yaml", "northwind.yaml"]


def test_cli_reports_every_hostile_file_and_exits_2_without_traceback(tmp_path: Path) -> None:
    files = {
        "zone.yaml": yaml.safe_dump({**sample(), "name": "zone", "timezone": "Europe"}).encode(),
        "bytes.yaml": NORTHWIND_TEXT.replace("name: northwind", "name: bytes").encode() + b"# \xff\xfe\n",
        "number.yaml": (NORTHWIND_TEXT.replace("name: northwind", "name: number") + "x: " + "1" * 5000).encode(),
        "empty.yaml": b"",
        "northwind.yaml": NORTHWIND_TEXT.encode(),
        "northwind.yml": NORTHWIND_TEXT.encode(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    exe = Path(sys.executable).with_name("erp-wms-sync")
    result = subprocess.run([str(exe), "config", "validate", *sorted(str(tmp_path / n) for n in files)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for name in ("zone.yaml", "bytes.yaml", "number.yaml", "empty.yaml", "northwind.yml"):
        assert f"{tmp_path / name}: " in result.stderr, name
    assert f"{tmp_path / 'northwind.yaml'}: " not in result.stderr  # the canonical file is fine
    assert "5 problem(s) in 6 file(s)" in result.stderr


def test_cli_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "validate", str(tmp_path / "nowhere.yaml"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nowhere.yaml'}: (file): cannot read the file" in err
    assert f"{tmp_path}: (file): cannot read the file" in err


def test_a_backup_copy_is_reported_and_the_canonical_file_is_used(tmp_path: Path) -> None:
    write_yaml(tmp_path, "northwind.yaml", sample())
    write_yaml(tmp_path, "northwind.yml", {**sample(), "display_name": "old copy"})
    write_yaml(tmp_path, "bluebird.yaml", sample("bluebird"))
    scan = scan_folder(tmp_path)
    assert {i.name: i.display_name for i in scan.integrations} == {"northwind": "Northwind Outfitters",
                                                                    "bluebird": "Bluebird Apparel"}
    (problem,) = scan.problems
    assert str(problem).startswith(f"{tmp_path / 'northwind.yml'}: name: 'northwind' is already defined by ")


def test_two_files_claiming_a_name_when_neither_is_canonical_are_both_reported(tmp_path: Path) -> None:
    write_yaml(tmp_path, "northwind.yml", sample())
    write_yaml(tmp_path, "northwind_copy.yaml", sample())
    write_yaml(tmp_path, "bluebird.yaml", sample("bluebird"))
    scan = scan_folder(tmp_path)
    assert [i.name for i in scan.integrations] == ["bluebird"]
    reported = sorted(Path(p.file).name for p in scan.problems)
    assert reported == ["northwind.yml", "northwind_copy.yaml"]
    assert any("none of these files is used" in str(p) for p in scan.problems)


@pytest.mark.parametrize(("cron", "problem"), [("0 0 31 2 *", "it never fires (no such date)"),
                                               ("*/5 * * * *", None), ("0 0 29 2 *", None)],
                         ids=["never", "every-5-min", "leap-day"])
def test_without_airflow_croniter_gives_the_same_verdict(monkeypatch: pytest.MonkeyPatch, cron: str,
                                                         problem: str | None) -> None:
    from erp_wms_sync import schedules

    monkeypatch.setitem(sys.modules, "airflow.sdk", None)  # "import airflow.sdk" now raises ImportError
    schedules.cron_finding.cache_clear()
    try:
        finding = schedules.cron_finding(cron, "Europe/London")
    finally:
        schedules.cron_finding.cache_clear()
    assert (finding.message.split(": ", 1)[1] if finding else None) == problem
