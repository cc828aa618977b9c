"""Reports invalid integration YAML files as an Airflow import error (file, field, fix), without taking down
the DAGs of the valid integrations (built by erp_wms_sync_dags.py). Defines no DAG when every file is valid."""

from __future__ import annotations

import os

from erp_wms_sync.config import integration_files, validate_files

validate_files(integration_files(os.environ.get("ERP_WMS_INTEGRATIONS_DIR")))  # raises ConfigError with every problem
