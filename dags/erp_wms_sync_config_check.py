"""Reports invalid integration YAML files as an Airflow import error (file, field, fix), without taking down
the DAGs of the valid integrations (built by erp_wms_sync_dags.py). Defines no DAG when every file is valid.

A file with problems, a second file defining an integration that ``<name>.yaml`` already defines (a backup
copy ``<name>.yml``), and an integration whose DAGs could not be built (the builder raised: the DAG file left that
integration out) are listed here; the other integrations keep their DAGs.
"""

from __future__ import annotations

import os

from erp_wms_sync.airflow.factory import build_problems
from erp_wms_sync.config import scan_folder
from erp_wms_sync.errors import ConfigError

_problems = build_problems(scan_folder(os.environ.get("ERP_WMS_INTEGRATIONS_DIR")))
if _problems:
    raise ConfigError("\n".join(str(p) for p in _problems))  # one import error listing every problem
