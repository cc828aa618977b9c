"""erp-wms-sync: keeps an ERP (Cin7 Core, CGS BlueCherry) and the Peoplevox WMS agreeing on orders and stock.

The package is importable without Airflow; only :mod:`erp_wms_sync.airflow` touches it.
"""

__version__ = "0.1.0"
