"""Wiring of the embedded default: Airflow connections for the sample integrations against the simulators.

``python -m erp_wms_sync.demo connections SIM_JSON`` reads what ``erp-wms-sync sim up --write-json`` wrote
(each simulator's base URL and demo credentials) and prints ``export AIRFLOW_CONN_...='{json}'`` lines for the
sample integrations (northwind: Cin7 Core, bluebird: BlueCherry). Going live means defining the same connection
ids against the real systems instead; nothing else changes.

Each sample integration also gets its webhook connection (``<name>_webhooks``): the receiver in the local Airflow
API server (``http://127.0.0.1:<port>/erp-wms``, the port from ``DEMO_PORT`` or ``AIRFLOW__API__PORT``, default
8080) and a shared secret generated anew for every demo run; Cin7 Core authenticates with HTTP Basic as ``cin7``.
``erp-wms-sync subscriptions sync`` then makes the simulators call it.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


def _http(conn_type: str, url: str, **fields: Any) -> dict[str, Any]:
    parts = urlsplit(url)
    conn: dict[str, Any] = {"conn_type": conn_type, "host": parts.hostname, "port": parts.port,
                            "schema": parts.scheme}
    extra = dict(fields.pop("extra", {}))
    if parts.path.strip("/"):
        extra["base_path"] = parts.path
    conn.update({k: v for k, v in fields.items() if v is not None})
    if extra:
        conn["extra"] = extra
    return conn


def sample_connections(sims: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """conn_id -> connection (as Airflow's JSON form) for the two sample integrations."""
    cin7, pvx, bc = sims["cin7core"], sims["peoplevox"], sims["bluecherry"]
    tenants = pvx["credentials"]
    return {
        "northwind_cin7core": _http("cin7core", cin7["url"], login=cin7["credentials"]["account_id"],
                                    password=cin7["credentials"]["application_key"]),
        "northwind_peoplevox": _http("peoplevox", pvx["url"], login=tenants["northwind"]["username"],
                                     password=tenants["northwind"]["password"],
                                     extra={"client_id": tenants["northwind"]["client_id"]}),
        "bluebird_bluecherry": _http("bluecherry", bc["url"], password=bc["credentials"]["subscription_key"]),
        "bluebird_peoplevox": _http("peoplevox", pvx["url"], login=tenants["bluebird"]["username"],
                                    password=tenants["bluebird"]["password"],
                                    extra={"client_id": tenants["bluebird"]["client_id"]}),
    }


# The sample integrations and their ERP kinds (include/integrations/*.yaml).
SAMPLE_INTEGRATIONS: dict[str, str] = {"northwind": "cin7core", "bluebird": "bluecherry"}
RECEIVER_PREFIX = "/erp-wms"
CIN7_WEBHOOK_LOGIN = "cin7"


def api_port(environ: Mapping[str, str] | None = None) -> int:
    """The local Airflow API server's port: DEMO_PORT, else AIRFLOW__API__PORT, else 8080."""
    env = os.environ if environ is None else environ
    value = env.get("DEMO_PORT") or env.get("AIRFLOW__API__PORT") or "8080"
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"DEMO_PORT / AIRFLOW__API__PORT is {value!r}, not a TCP port")
    return int(value)


def webhook_connections(port: int, secret_for: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """conn_id -> webhook connection of each sample integration: the receiver in the local Airflow API server.

    ``secret_for`` maps integration -> secret; missing ones are generated (a new random token per call)."""
    given = secret_for or {}
    conns: dict[str, dict[str, Any]] = {}
    for name, erp in SAMPLE_INTEGRATIONS.items():
        conn: dict[str, Any] = {"conn_type": "http", "host": f"http://127.0.0.1:{port}{RECEIVER_PREFIX}",
                                "password": given.get(name) or secrets.token_urlsafe(32)}
        if erp == "cin7core":
            conn["login"] = CIN7_WEBHOOK_LOGIN
        conns[f"{name}_webhooks"] = conn
    return conns


def env_vars(sims: Mapping[str, Mapping[str, Any]], port: int | None = None) -> dict[str, str]:
    """The ``AIRFLOW_CONN_*`` variables: vendor connections to the simulators, then the webhook connections."""
    conns = {**sample_connections(sims), **webhook_connections(api_port() if port is None else port)}
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in conns.items()}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "connections":
        print("usage: python -m erp_wms_sync.demo connections SIM_JSON", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        sims = json.load(handle)
    try:
        port = api_port()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, value in env_vars(sims, port).items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
