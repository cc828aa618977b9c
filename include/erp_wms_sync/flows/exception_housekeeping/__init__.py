"""exception_housekeeping: retries due exceptions on their backoff schedule (parked and escalated after the last
step), closes those whose cause is gone, raises stage deadline breaches and purges abandoned staging rows.

Steps (each a task of the DAG): :func:`retry_due` (Peoplevox + ERP clients), :func:`close_gone`,
:func:`deadlines`, :func:`purge_staged` (the last three run as one task, :func:`tidy`), :func:`data_check`.
"""

from erp_wms_sync.flows.exception_housekeeping.check import data_check
from erp_wms_sync.flows.exception_housekeeping.ledger_checks import close_gone, deadlines, purge_staged, tidy
from erp_wms_sync.flows.exception_housekeeping.retry import RETRY_HANDLERS, retry_due, retry_now

__all__ = ["RETRY_HANDLERS", "close_gone", "data_check", "deadlines", "purge_staged", "retry_due", "retry_now", "tidy"]
