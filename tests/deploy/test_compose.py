"""docker-compose.yaml: valid Compose, and wired the way the distributed deployment needs (no Docker needed).

The file is checked as Docker Compose reads it: anchors merged, ``${VAR:-default}`` interpolated, then validated
against the vendored Compose Specification schema. The rest are the rules a user would feel: one image and one
environment for all Airflow components, a shared JWT secret, the ledger in its own database, connections that
work against the simulators out of the box and move to the real systems through variables alone, only demo
secrets in the file, healthchecks everywhere.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from airflow.sdk import Connection
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from tests.deploy import compose_file
from tests.deploy.compose_file import ROOT, connections, environment, init_script, load, raw, references

SCHEMA_FILE = Path(__file__).with_name("fixtures") / "compose-spec.json"
SCHEMA_SHA256 = "0dc04bd346dcfee1b1419628fff79937bbf076925f298f272a2b490e2b112bac"
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}
SAMPLE_CONN_IDS = {"northwind_cin7core", "northwind_peoplevox", "bluebird_bluecherry", "bluebird_peoplevox",
                   "erp_wms_ledger", "erp_wms_slack", "erp_wms_smtp", "northwind_webhooks", "bluebird_webhooks"}
SIMULATOR_PORTS = {"cin7core": 8701, "peoplevox": 8702, "bluecherry": 8703}
VENDOR_OF = {"northwind_cin7core": "cin7core", "northwind_peoplevox": "peoplevox",
             "bluebird_bluecherry": "bluecherry", "bluebird_peoplevox": "peoplevox"}
SECRET_NAME = re.compile(r"^(?!.*_FILE$).*(PASSWORD|SECRET|TOKEN|FERNET|_KEY$)")
REAL_SYSTEMS = {
    "CIN7CORE_HOST": "inventory.dearsystems.com", "CIN7CORE_PORT": "", "CIN7CORE_SCHEMA": "https",
    "NORTHWIND_CIN7CORE_ACCOUNT_ID": "0f5e2d7c-real-account", "NORTHWIND_CIN7CORE_APPLICATION_KEY": "real-key",
    "PEOPLEVOX_HOST": "qac.peoplevox.net", "PEOPLEVOX_PORT": "", "PEOPLEVOX_SCHEMA": "https",
    "BLUECHERRY_HOST": "api.bluecherry.example", "BLUECHERRY_PORT": "443", "BLUECHERRY_SCHEMA": "https",
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return load()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def airflow_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in doc["services"].items() if name.startswith("airflow-")}


def common(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["x-airflow-common"])


def common_env(doc: dict[str, Any]) -> dict[str, str]:
    return environment(common(doc))


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each ``ports`` entry."""
    result = []
    for entry in service.get("ports", []):
        address, host_port, container_port = str(entry).split(":")
        result.append((address, int(host_port), int(container_port)))
    return result


def sdk_connection(conn_id: str, conn: dict[str, Any]) -> Connection:
    return Connection.from_json(json.dumps(conn), conn_id=conn_id)


# --- the file is valid Compose --------------------------------------------------------------------------------

def test_vendored_schema_is_the_recorded_file() -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert SCHEMA_SHA256 in (SCHEMA_FILE.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("env", [{}, REAL_SYSTEMS], ids=["demo-defaults", "real-systems"])
def test_valid_against_the_compose_specification(schema: dict[str, Any], env: dict[str, str]) -> None:
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(load(env))]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_key(schema: dict[str, Any], doc: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(doc))
    broken["services"]["airflow-worker"]["depend_on"] = broken["services"]["airflow-worker"].pop("depends_on")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_starts_without_a_dot_env_file() -> None:
    """Every variable has a default, so `docker compose up` works on a fresh checkout."""
    assert [ref.name for ref in compose_file.all_references() if ref.op is None] == []


# --- one image, one environment for every Airflow component ------------------------------------------------

def test_all_airflow_components_are_present(doc: dict[str, Any]) -> None:
    commands = [svc.get("command") for svc in airflow_services(doc).values()]
    assert AIRFLOW_COMMANDS <= set(filter(None, (c if isinstance(c, str) else None for c in commands)))
    assert "airflow-init" in doc["services"]


def test_every_airflow_service_uses_the_common_image_and_environment(doc: dict[str, Any]) -> None:
    base = common(doc)
    assert base["build"] == "." and base["image"]
    for name, svc in airflow_services(doc).items():
        assert (svc["image"], svc["build"]) == (base["image"], base["build"]), name
        assert svc["volumes"] == base["volumes"], name
        env = environment(svc)
        assert {k: env.get(k) for k in common_env(doc)} == common_env(doc), name


def test_simulators_and_alert_sink_run_from_the_same_image(doc: dict[str, Any]) -> None:
    for name in ("simulators", "alertsink"):
        assert (doc["services"][name]["image"], doc["services"][name]["build"]) == (common(doc)["image"], ".")


def test_executor_and_demo_settings(doc: dict[str, Any]) -> None:
    env = common_env(doc)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "redis" in doc["services"]
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"].lower() == "false"


def test_jwt_secret_and_execution_api_url_point_at_the_api_server(doc: dict[str, Any]) -> None:
    env = common_env(doc)
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] and env["AIRFLOW__API__SECRET_KEY"]
    url = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    api_server = doc["services"][url.hostname or ""]
    assert api_server["command"] == "api-server"
    assert url.port in {container for _, _, container in published(api_server)}
    assert url.path == "/execution/"


def test_dags_plugins_include_and_logs_are_volumes(doc: dict[str, Any]) -> None:
    targets = {str(v).split(":")[1]: str(v).split(":")[0] for v in common(doc)["volumes"]}
    assert {t: targets.get(t) for t in ("/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include")} == {
        "/opt/airflow/dags": "./dags", "/opt/airflow/plugins": "./plugins", "/opt/airflow/include": "./include"}
    named = {source for source in targets.values() if not source.startswith(".")}
    assert targets["/opt/airflow/logs"] in named and named <= set(doc["volumes"])



def test_reconciliation_reports_are_shared_by_the_workers_and_the_api_server(doc: dict[str, Any]) -> None:
    """Workers write the nightly reports, the dashboard in the API server serves them: one named volume for both."""
    folder = common_env(doc)["ERP_WMS_REPORTS_DIR"]
    targets = {str(v).split(":")[1]: str(v).split(":")[0] for v in common(doc)["volumes"]}
    assert targets.get(folder) in doc["volumes"]
    for name in ("airflow-worker", "airflow-apiserver"):
        assert any(str(v).split(":")[1] == folder for v in doc["services"][name]["volumes"]), name


# --- dependencies and health ---------------------------------------------------------------------------------

def test_every_depends_on_target_exists_and_its_condition_can_be_met(doc: dict[str, Any]) -> None:
    services = doc["services"]
    for name, svc in services.items():
        for target, rule in (svc.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy"
            if rule["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{name} waits for one-off {target}"


def test_airflow_components_start_after_the_init_job(doc: dict[str, Any]) -> None:
    for name, svc in airflow_services(doc).items():
        if name != "airflow-init":
            assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
    assert doc["services"]["airflow-worker"]["depends_on"]["simulators"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_healthcheck(doc: dict[str, Any]) -> None:
    for name, svc in doc["services"].items():
        if svc.get("restart") != "no":
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_published_ports_are_bound_to_localhost(doc: dict[str, Any]) -> None:
    for name, svc in doc["services"].items():
        for address, _, _ in published(svc):
            assert address == "127.0.0.1", name


# --- the simulators ------------------------------------------------------------------------------------------

def simulators_command(doc: dict[str, Any]) -> list[str]:
    command = [str(part) for part in doc["services"]["simulators"]["command"]]
    assert command[:4] == ["python", "-m", "erp_wms_simulators", "up"], command
    return command[4:]


def test_the_simulators_cli_accepts_the_compose_command(doc: dict[str, Any]) -> None:
    from erp_wms_simulators.cli import build_parser

    args = build_parser().parse_args(["up", *simulators_command(doc)])
    assert args.host == "0.0.0.0"


# --- connections ---------------------------------------------------------------------------------------------

def test_the_sample_integrations_connections_are_defined_once_for_all_components(doc: dict[str, Any]) -> None:
    conns = connections(doc)
    assert set(conns) == SAMPLE_CONN_IDS
    for name in airflow_services(doc):
        assert connections(doc, name) == conns, name
    for conn_id, conn in conns.items():
        assert sdk_connection(conn_id, conn).conn_type == conn["conn_type"]


def test_vendor_connections_are_the_demo_wiring_pointed_at_the_simulators_service(doc: dict[str, Any]) -> None:
    """What `erp-wms-sync` itself would build for simulators reachable as host `simulators`."""
    from erp_wms_simulators.server import SPECS, demo_credentials
    from erp_wms_sync.demo import sample_connections

    sims = {name: {"url": f"http://simulators:{port}{SPECS[name].url_suffix}",
                   "credentials": demo_credentials(name)} for name, port in SIMULATOR_PORTS.items()}
    expected = sample_connections(sims)
    conns = connections(doc)
    for conn_id, want in expected.items():
        got, exp = sdk_connection(conn_id, conns[conn_id]), sdk_connection(conn_id, want)
        fields = ("conn_type", "host", "port", "schema", "login", "password")
        assert [getattr(got, f) or None for f in fields] == [getattr(exp, f) or None for f in fields], conn_id
        assert got.extra_dejson == exp.extra_dejson, conn_id


def test_pointing_at_the_real_systems_changes_variables_only() -> None:
    conns = connections(load(REAL_SYSTEMS))
    cin7 = sdk_connection("northwind_cin7core", conns["northwind_cin7core"])
    assert (cin7.host, cin7.port, cin7.schema) == ("inventory.dearsystems.com", None, "https")
    assert (cin7.login, cin7.password) == ("0f5e2d7c-real-account", "real-key")
    assert cin7.extra_dejson["base_path"] == "/ExternalApi/v2"
    for conn_id in ("northwind_peoplevox", "bluebird_peoplevox"):
        pvx = sdk_connection(conn_id, conns[conn_id])
        assert (pvx.host, pvx.port, pvx.schema) == ("qac.peoplevox.net", None, "https"), conn_id
    bc = sdk_connection("bluebird_bluecherry", conns["bluebird_bluecherry"])
    assert (bc.host, bc.port, bc.schema) == ("api.bluecherry.example", 443, "https")


def test_the_ledger_is_a_separate_database_on_the_postgres_service(doc: dict[str, Any]) -> None:
    airflow_db = make_url(common_env(doc)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    ledger = sdk_connection("erp_wms_ledger", connections(doc)["erp_wms_ledger"])
    assert ledger.conn_type == "postgres" and ledger.host == airflow_db.host == "postgres"
    assert ledger.schema and ledger.schema != airflow_db.database
    assert ledger.login != airflow_db.username
    assert "ledger upgrade" in init_script(doc) and "CREATE DATABASE" in init_script(doc)


def test_alert_connections_reach_the_alert_sink(doc: dict[str, Any]) -> None:
    conns = connections(doc)
    sink = doc["services"]["alertsink"]
    host, smtp_port, http_port = (str(arg) for arg in sink["command"][-3:])
    assert host == "0.0.0.0" and {int(smtp_port), int(http_port)} == set(sink["expose"])
    smtp = sdk_connection("erp_wms_smtp", conns["erp_wms_smtp"])
    assert (smtp.host, smtp.port) == ("alertsink", int(smtp_port))
    assert smtp.extra_dejson["disable_ssl"] is True and smtp.extra_dejson["disable_tls"] is True
    assert smtp.extra_dejson["from_email"]
    slack = sdk_connection("erp_wms_slack", conns["erp_wms_slack"])
    assert slack.conn_type == "slackwebhook" and slack.host == f"http://alertsink:{http_port}/services"
    assert doc["services"]["airflow-worker"]["depends_on"]["alertsink"]["condition"] == "service_healthy"


def test_postgres_credentials_agree_everywhere() -> None:
    """Changing AIRFLOW_DB_PASSWORD moves every user of it along (server, Airflow, Celery, init job)."""
    doc = load({"AIRFLOW_DB_PASSWORD": "s3cret-from-dot-env"})
    server = environment(doc["services"]["postgres"])
    env = common_env(doc)
    init_env = environment(doc["services"]["airflow-init"])
    for url in (env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"),
                init_env["ERP_WMS_POSTGRES_ADMIN_URL"]):
        parsed = make_url(url)
        assert (parsed.host, parsed.username, parsed.password) == (
            "postgres", server["POSTGRES_USER"], "s3cret-from-dot-env"), url
    assert make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).database == server["POSTGRES_DB"]


# --- secrets -------------------------------------------------------------------------------------------------

def _published_demo_credentials() -> set[str]:
    from erp_wms_simulators.server import SPECS, demo_credentials

    values: set[str] = set()
    for name in SPECS:
        stack = [demo_credentials(name)]
        while stack:
            for value in stack.pop().values():
                if isinstance(value, dict):
                    stack.append(value)
                elif isinstance(value, list):
                    values.update(map(str, value))
                else:
                    values.add(str(value))
    return values


def _secret_texts() -> list[tuple[str, str]]:
    """(where, raw text) of every value that carries a secret, before interpolation."""
    found: list[tuple[str, str]] = []
    for path, text in compose_file.strings(raw()):
        key = path.rsplit(".", 1)[-1]
        if SECRET_NAME.search(key):
            found.append((path, text))
        found += [(f"{path} password", m) for m in re.findall(r'"password":\s*"([^"]*)"', text)]
        found += [(f"{path} URL", m) for m in re.findall(r"://[^:/@\s]+:([^@\s]+)@", text)]
    return found


def test_secrets_are_variables_with_demo_defaults_only() -> None:
    allowed = _published_demo_credentials()
    texts = _secret_texts()
    assert len(texts) >= 15
    for where, text in texts:
        refs = references(text)
        assert len(refs) == 1 and f"${{{refs[0].name}{refs[0].op}{refs[0].default}}}" == text, (
            f"{where}: a secret must be exactly one ${{VAR:-demo default}}, not {text!r}")
        default = refs[0].default or ""
        assert default == "" or "demo" in default.lower() or default in allowed, (
            f"{where}: default {default!r} is neither a demo value nor a simulator's published demo credential")


def test_the_demo_fernet_key_is_a_valid_key(doc: dict[str, Any]) -> None:
    Fernet(common_env(doc)["AIRFLOW__CORE__FERNET_KEY"])


# --- init job and documentation ------------------------------------------------------------------------------

def test_init_job_migrates_both_databases_and_creates_the_pools(doc: dict[str, Any]) -> None:
    init = doc["services"]["airflow-init"]
    assert environment(init)["_AIRFLOW_DB_MIGRATE"] == "true"
    script = init_script(doc)
    for step in ("erp-wms-sync ledger upgrade", "erp-wms-sync pools", "airflow pools import",
                 "AIRFLOW_ADMIN_PASSWORD"):
        assert step in script, step


def test_the_deployment_guide_documents_every_variable() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(\w+)`", guide))
    assert sorted({ref.name for ref in compose_file.all_references()} - documented) == []
    assert sorted(SAMPLE_CONN_IDS - documented) == []
