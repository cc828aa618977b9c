"""Wiring of the embedded default: Airflow connections for the sample integrations against the simulators.

``python -m erp_wms_sync.demo connections SIM_JSON`` reads what ``erp-wms-sync sim up --write-json`` wrote
(each simulator's base URL and demo credentials) and prints ``export AIRFLOW_CONN_...='{json}'`` lines for the
sample integrations (northwind: Cin7 Core, bluebird: BlueCherry). Going live means defining the same connection
ids against the real systems instead; nothing else changes.
"""

from __future__ import annotations

import json
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


def env_vars(sims: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)
            for conn_id, conn in sample_connections(sims).items()}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "connections":
        print("usage: python -m erp_wms_sync.demo connections SIM_JSON", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        sims = json.load(handle)
    for name, value in env_vars(sims).items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
