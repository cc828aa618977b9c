"""erp-wms-sync DAGs: one per integration (include/integrations/*.yaml) × flow, id ``<integration>__<flow>``.

Wiring only: the factory reads the YAML files (no network, no database, no heavy imports) and every task body
calls ``erp_wms_sync.flows``. An integration whose YAML is invalid (or that two files claim), or whose DAGs could
not be built, gets no DAGs; its problems are reported by ``dags/erp_wms_sync_config_check.py`` as an import error
naming the file, the field and the fix, while the valid integrations keep running. Both DAG files share one read
of each YAML (and, parsed in one process, one build) per parse.
"""

from __future__ import annotations

import os

from erp_wms_sync.airflow.factory import build_dags
from erp_wms_sync.config import scan_folder

for _dag_id, _dag in build_dags(scan_folder(os.environ.get("ERP_WMS_INTEGRATIONS_DIR")).integrations).items():
    globals()[_dag_id] = _dag
