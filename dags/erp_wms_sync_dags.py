"""erp-wms-sync DAGs: one per integration (include/integrations/*.yaml) × flow, id ``<integration>__<flow>``.

Wiring only: the factory reads the YAML files (no network, no database, no heavy imports) and every task body
calls ``erp_wms_sync.flows``. An integration whose YAML is invalid gets no DAGs; its problems are reported by
``dags/erp_wms_sync_config_check.py`` as an import error naming the file, the field and the fix, while the
valid integrations keep running.
"""

from __future__ import annotations

import os

from erp_wms_sync.airflow.factory import build_dags
from erp_wms_sync.config import check_integration, integration_files

_valid = [p for p in integration_files(os.environ.get("ERP_WMS_INTEGRATIONS_DIR")) if not check_integration(p)[1]]

for _dag_id, _dag in build_dags(_valid).items():
    globals()[_dag_id] = _dag
