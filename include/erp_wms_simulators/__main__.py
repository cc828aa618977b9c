"""``python -m erp_wms_simulators up``: run the simulators (see :mod:`erp_wms_simulators.cli`)."""

from __future__ import annotations

import sys

from erp_wms_simulators.cli import main

if __name__ == "__main__":
    sys.exit(main())
