"""Where an order stands in the integration (the ledger's ``order_records.state``), as one enum.

The ERP's own view of an order is :class:`erp_wms_sync.domain.orders.OrderState`; each ERP maps its statuses to it
with one table (:mod:`erp_wms_sync.domain.cin7_orders`, :mod:`erp_wms_sync.domain.bluecherry_orders`).
"""

from __future__ import annotations

from enum import StrEnum


class ReleaseState(StrEnum):
    """The integration's state of one ERP order."""

    WAITING = "waiting"  # inside the hold window, or waiting for item master sync to create its items
    HELD = "held"  # open exceptions say why (data check, Peoplevox refusal, incomplete write)
    SENDING = "sending"  # intent recorded: a SaveData for it may have reached Peoplevox; verify before anything
    RELEASED = "released"  # Peoplevox holds its header and every line (verified)
    CANCELLED = "cancelled"  # cancelled in Peoplevox
    BLOCKED = "blocked"  # a change arrived after the cut-off
    IGNORED = "ignored"  # cancelled (or dropped every line) in the ERP before release


#: States from which the order is in Peoplevox as far as amendments are concerned.
KNOWN_TO_WMS = frozenset({ReleaseState.RELEASED, ReleaseState.BLOCKED, ReleaseState.CANCELLED})
#: States re-validated every run from the ledger's copy (no ERP call).
PENDING = frozenset({ReleaseState.WAITING, ReleaseState.HELD, ReleaseState.SENDING})
