"""The image and Astro CLI project files: they agree with pyproject.toml, the lock and docker-compose.yaml.

No Docker engine or Astro CLI is needed: the files are parsed, and the DAG integrity check that
``astro dev parse`` runs is executed with pytest against a scratch DAG folder and against the project's DAGs.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk import Connection

from tests.deploy.compose_file import ROOT, connections, load

ASTRO = ROOT / ".astro"
INTEGRITY_TEST = ASTRO / "test_dag_integrity_default.py"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)$")
SETTINGS_CONN_KEYS = {"conn_id", "conn_type", "conn_host", "conn_schema", "conn_login", "conn_password", "conn_port",
                      "conn_extra"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project_pins(pyproject: dict[str, Any]) -> dict[str, str]:
    pins = {}
    for requirement in pyproject["project"]["dependencies"]:
        match = PIN.match(requirement.strip())
        assert match, f"pyproject dependency {requirement!r} is not an exact pin"
        pins[norm(match["name"])] = match["version"]
    return pins


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """The Dockerfile's instructions, one string each (continuation lines joined, comments dropped)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [" ".join(part.split()) for part in "\n".join(lines).replace("\\\n", " ").splitlines() if part.strip()]


def requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def python_version(pyproject: dict[str, Any]) -> str:
    match = re.search(r">=\s*(\d+\.\d+)", pyproject["project"]["requires-python"])
    assert match
    return match[1]


# --- Dockerfile --------------------------------------------------------------------------------------------

def test_base_image_is_the_pinned_airflow_on_the_project_python(
        dockerfile: list[str], pyproject: dict[str, Any], project_pins: dict[str, str]) -> None:
    froms = [line for line in dockerfile if line.startswith("FROM ")]
    assert froms == [f"FROM apache/airflow:{project_pins['apache-airflow']}-python{python_version(pyproject)}"]


def test_the_astro_runtime_alternative_names_the_same_airflow_and_python(
        pyproject: dict[str, Any], project_pins: dict[str, str]) -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"#\s+FROM astrocrpublic\.azurecr\.io/runtime:(\d+\.\d+)-\d+-python-(\d+\.\d+)", text)
    assert match, "the Dockerfile shows no Astro Runtime FROM line"
    assert project_pins["apache-airflow"].startswith(match[1] + ".")
    assert match[2] == python_version(pyproject)


def test_the_project_is_installed_with_the_lock_after_copying_what_the_build_needs(
        dockerfile: list[str], pyproject: dict[str, Any]) -> None:
    installs = [i for i, line in enumerate(dockerfile) if line.startswith("RUN pip install")]
    assert len(installs) == 1
    assert "-c constraints.txt ." in dockerfile[installs[0]] and "--no-cache-dir" in dockerfile[installs[0]]
    copied_before = {src.rstrip("/") for line in dockerfile[:installs[0]] if line.startswith("COPY ")
                     for src in line.split()[1:-1] if not src.startswith("--")}
    needed = {"pyproject.toml", "constraints.txt", pyproject["project"]["readme"],
              *pyproject["tool"]["setuptools"]["packages"]["find"]["where"]}
    assert needed <= copied_before
    copied_after = {src.rstrip("/") for line in dockerfile[installs[0]:] if line.startswith("COPY ")
                    for src in line.split()[1:-1] if not src.startswith("--")}
    assert {"dags", "plugins"} <= copied_after, "DAGs are copied after the install, so editing one is cheap"


def test_the_image_knows_where_the_integrations_are(dockerfile: list[str]) -> None:
    assert "ENV ERP_WMS_INTEGRATIONS_DIR=${AIRFLOW_HOME}/include/integrations" in dockerfile


def test_the_lock_pins_every_project_dependency_identically(project_pins: dict[str, str]) -> None:
    locked = {}
    for line in requirement_lines(ROOT / "constraints.txt"):
        match = PIN.match(line)
        assert match, f"constraints.txt line {line!r} is not an exact pin"
        locked[norm(match["name"])] = match["version"]
    assert {name: locked.get(name) for name in project_pins} == project_pins


def test_the_build_context_keeps_what_the_dockerfile_copies(dockerfile: list[str]) -> None:
    patterns = [p.rstrip("/") for p in requirement_lines(ROOT / ".dockerignore")]
    sources = {src.rstrip("/") for line in dockerfile if line.startswith("COPY ")
               for src in line.split()[1:-1] if not src.startswith("--")}
    assert sources and all((ROOT / src).exists() for src in sources)
    for src in sources:
        assert not [p for p in patterns if fnmatch.fnmatch(src, p) or fnmatch.fnmatch(src, p.removeprefix("**/"))], src
    for private in (".env", ".venv", ".git", "airflow_settings.yaml"):
        assert private in patterns, f"{private} would be sent to the image build"


# --- Astro project files ---------------------------------------------------------------------------------

def test_astro_project_config() -> None:
    config = yaml.safe_load((ASTRO / "config.yaml").read_text(encoding="utf-8"))
    assert config == {"project": {"name": "erp-wms-sync"}}


def test_requirements_are_the_project_pins_without_airflow(project_pins: dict[str, str]) -> None:
    """Astro installs requirements.txt before the project is copied in: exact pins only, no '-e .' or '-c'."""
    lines = requirement_lines(ROOT / "requirements.txt")
    pins = {}
    for line in lines:
        match = PIN.match(line)
        assert match, f"requirements.txt line {line!r} is not an exact pin"
        pins[norm(match["name"])] = match["version"]
    assert len(pins) == len(lines)
    assert pins == {name: version for name, version in project_pins.items() if name != "apache-airflow"}


def test_packages_txt_lists_only_debian_package_names() -> None:
    """Astro feeds every line to apt-get, so comments are not allowed there."""
    for line in (ROOT / "packages.txt").read_text(encoding="utf-8").splitlines():
        assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+(=[\w.:~+-]+)?", line.strip()), line


@pytest.fixture(scope="module")
def settings() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text(encoding="utf-8"))
    assert set(document) == {"airflow"} and set(document["airflow"]) == {"connections", "pools", "variables"}
    return dict(document["airflow"])


def settings_connection(entry: dict[str, Any]) -> Connection:
    return Connection(conn_id=entry["conn_id"], conn_type=entry["conn_type"], host=entry.get("conn_host"),
                      schema=entry.get("conn_schema"), login=entry.get("conn_login"),
                      password=entry.get("conn_password"), port=entry.get("conn_port"),
                      extra=json.dumps(entry["conn_extra"]) if "conn_extra" in entry else None)


def test_astro_settings_define_the_same_connections_as_compose(settings: dict[str, Any]) -> None:
    entries = settings["connections"]
    assert all(set(entry) <= SETTINGS_CONN_KEYS and entry["conn_id"] and entry["conn_type"] for entry in entries)
    compose = {conn_id: Connection.from_json(json.dumps(conn), conn_id=conn_id)
               for conn_id, conn in connections(load()).items()}
    local = {entry["conn_id"]: settings_connection(entry) for entry in entries}
    assert set(local) == set(compose)
    for conn_id, conn in local.items():
        assert conn.conn_type == compose[conn_id].conn_type, conn_id
    for conn_id in ("northwind_cin7core", "northwind_peoplevox", "bluebird_bluecherry", "bluebird_peoplevox",
                    "erp_wms_slack", "erp_wms_smtp"):
        want, got = compose[conn_id], local[conn_id]
        fields = ("host", "port", "schema", "login", "password")
        assert [getattr(got, f) or None for f in fields] == [getattr(want, f) or None for f in fields], conn_id
        assert got.extra_dejson == want.extra_dejson, conn_id
    ledger = local["erp_wms_ledger"]
    assert (ledger.conn_type, ledger.host, ledger.schema) == ("postgres", "postgres", "erp_wms_ledger")


def test_astro_settings_pools_are_the_dags_pools(settings: dict[str, Any]) -> None:
    from erp_wms_sync.airflow.factory import POOLS

    pools = {p["pool_name"]: (p["pool_slot"], p["pool_description"]) for p in settings["pools"]}
    assert pools == POOLS


# --- the integrity check of `astro dev parse` -----------------------------------------------------------

def test_integrity_check_uses_the_airflow_3_3_dagbag() -> None:
    text = INTEGRITY_TEST.read_text(encoding="utf-8")
    assert "include_examples" not in text.replace("no longer accepts ``include_examples``", "")
    assert "from airflow.dag_processing.dagbag import DagBag" in text
    assert "DagBag(dag_folder=" in text


def run_integrity_check(project: Path, dags: Path, exceptions: str) -> subprocess.CompletedProcess[str]:
    (project / ".astro").mkdir(parents=True, exist_ok=True)
    shutil.copy(INTEGRITY_TEST, project / ".astro" / INTEGRITY_TEST.name)
    (project / ".astro" / "dag_integrity_exceptions.txt").write_text(exceptions, encoding="utf-8")
    env = {**os.environ, "AIRFLOW_HOME": str(project), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           f".astro/{INTEGRITY_TEST.name}"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120)


GOOD_DAG = '''"""A DAG that imports cleanly."""
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
with DAG("good", schedule=None, start_date=datetime(2026, 1, 1)):
    EmptyOperator(task_id="noop")
'''
BROKEN_DAG = '"""An airflow DAG file with a missing import."""\nimport module_that_is_not_installed\n'


def test_integrity_check_fails_a_broken_dag_unless_it_is_excused(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "good.py").write_text(GOOD_DAG, encoding="utf-8")
    (dags / "broken.py").write_text(BROKEN_DAG, encoding="utf-8")
    (dags / "excused.py").write_text(BROKEN_DAG, encoding="utf-8")
    result = run_integrity_check(tmp_path, dags, "# allowed to fail\ndags/excused.py\n")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "dags/broken.py failed to import" in result.stdout and "module_that_is_not_installed" in result.stdout
    assert "1 failed, 2 passed" in result.stdout

    result = run_integrity_check(tmp_path, dags, "dags/excused.py\ndags/broken.py\n")
    assert result.returncode == 0 and "3 passed" in result.stdout, result.stdout[-3000:]


def test_astro_dev_parse_passes_on_the_project_dags(tmp_path: Path) -> None:
    result = run_integrity_check(tmp_path, ROOT / "dags", "")
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-3000:]


def test_the_deployment_guide_states_the_pool_sizes_the_dags_use() -> None:
    from erp_wms_sync.airflow.factory import POOLS

    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    documented = {name: int(slots) for name, slots in re.findall(r"^\| `(\w+_api)` \| (\d+) \|", guide, re.M)}
    assert documented == {name: slots for name, (slots, _) in POOLS.items()}
