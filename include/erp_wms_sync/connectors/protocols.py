"""What the flows need from the systems they talk to, as Protocols: the real clients satisfy them, and a flow's
unit test passes a small fake instead."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from erp_wms_sync.connectors.peoplevox_soap import RecordOutcome
    from erp_wms_sync.domain.orders import ErpOrder, OrderStamp


class ErpOrderSource(Protocol):
    """One ERP's orders: cheap stamps of the orders changed since a moment, the full order on demand, and the
    place where the release status is written back.

    ``fetch`` raises :class:`~erp_wms_sync.domain.orders.UnreadableOrder` (or an ``ApiRejected`` /
    ``ApiResponseInvalid``) when the ERP answers something that is not that order; ``write_back`` returns the
    order's new modification stamp (or None) and raises ``ApiRejected`` when the ERP refuses that one order."""

    def changed(self, since: datetime) -> Iterator[OrderStamp]: ...

    def fetch(self, stamp: OrderStamp) -> ErpOrder: ...

    def fetch_by_id(self, erp_id: str) -> ErpOrder | None: ...

    def write_back(self, order: ErpOrder, text: str) -> str | None: ...

    def existing_skus(self, skus: Sequence[str]) -> set[str]:
        """Which of these SKUs the ERP item master has as active (not deprecated or inactive) products, asked
        of the ERP now (a few calls per SKU at most); raises an ``ApiError`` when the ERP cannot answer."""
        ...


class WmsClient(Protocol):
    """The Peoplevox calls the order flows make (see :class:`~erp_wms_sync.connectors.peoplevox.PeoplevoxClient`)."""

    def get_data(self, template: str, search_clause: str = "", *, key: str,
                 unique: bool = False) -> Iterator[dict[str, str]]: ...

    def iter_item_types(self, search_clause: str = "") -> Iterator[dict[str, str]]: ...

    def iter_sales_orders(self, search_clause: str = "") -> Iterator[dict[str, str]]: ...

    def save_sales_orders(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]: ...

    def save_sales_order_items(self, rows: Sequence[Mapping[str, str]]) -> list[RecordOutcome]: ...
