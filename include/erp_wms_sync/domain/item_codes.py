"""ERP SKU ↔ Peoplevox ItemCode: the one place that decides which ItemCode an ERP SKU has in the warehouse.

By default a SKU *is* its ItemCode (identity). Brands whose warehouse codes differ from their ERP SKUs give a
cross-reference table per integration (``item_codes:`` in the integration YAML: an inline ``map`` or a CSV/YAML
``file``); :meth:`ItemCodeMap.from_rows` checks such a table and builds the map. Every flow maps through
:meth:`ItemCodeMap.item_code_for` when it writes to Peoplevox and through :meth:`ItemCodeMap.sku_for` when it reads
Peoplevox codes back, so the table only has to be right once.

Pure: no I/O. Reading the table from a file belongs to the configuration layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ItemCodeRow:
    """One row of a cross-reference table; ``where`` names it in error messages (``row 4``, ``SKU 'A-1'``)."""

    where: str
    sku: str
    item_code: str


class ItemCodeTableError(ValueError):
    """The table cannot be used; ``problems`` lists each bad row as ``<where>: <what is wrong>``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class ItemCodeMap:
    """An immutable SKU → ItemCode table and its inverse; anything not in the table maps to itself.

    The inverse of a code that is not in the table is the code itself, so with an empty table both directions
    are the identity. (A SKU that is mapped to another code and is itself nobody's code has no Peoplevox item of
    its own: ``sku_for`` of that string still answers the string, as for any unmapped code.)
    """

    to_code: Mapping[str, str] = field(default_factory=_empty)
    to_sku: Mapping[str, str] = field(default_factory=_empty)

    def item_code_for(self, sku: str) -> str:
        """The Peoplevox ItemCode of an ERP SKU (the SKU itself when the table does not list it)."""
        return self.to_code.get(sku, sku)

    def sku_for(self, item_code: str) -> str:
        """The ERP SKU of a Peoplevox ItemCode (the code itself when no SKU is mapped to it)."""
        return self.to_sku.get(item_code, item_code)

    def __len__(self) -> int:
        return len(self.to_code)

    @classmethod
    def from_rows(cls, rows: Iterable[ItemCodeRow], *, max_length: int | None = None) -> ItemCodeMap:
        """Check a table and build the map; raises :class:`ItemCodeTableError` listing every bad row.

        Refused: an empty SKU or ItemCode, a SKU listed twice, an ItemCode used by two SKUs (the inverse would be
        ambiguous), an ItemCode longer than ``max_length`` (Peoplevox's limit). Surrounding spaces are dropped.
        Linear in the number of rows.
        """
        to_code: dict[str, str] = {}
        to_sku: dict[str, str] = {}
        where_sku: dict[str, str] = {}
        where_code: dict[str, str] = {}
        problems: list[str] = []
        for row in rows:
            sku, code = row.sku.strip(), row.item_code.strip()
            found = _row_problems(row.where, sku, code, max_length)
            if not found and sku in where_sku:
                found.append(f"{row.where}: SKU '{sku}' is already mapped at {where_sku[sku]}")
            if not found and code in where_code:
                found.append(f"{row.where}: ItemCode '{code}' is already used by SKU '{to_sku[code]}' "
                             f"at {where_code[code]}")
            if found:
                problems.extend(found)
                continue
            to_code[sku], to_sku[code] = code, sku
            where_sku[sku], where_code[code] = row.where, row.where
        if problems:
            raise ItemCodeTableError(problems)
        return cls(MappingProxyType(to_code), MappingProxyType(to_sku))


def _row_problems(where: str, sku: str, code: str, max_length: int | None) -> list[str]:
    problems = []
    if not sku:
        problems.append(f"{where}: the SKU is empty")
    if not code:
        problems.append(f"{where}: the ItemCode is empty")
    elif max_length is not None and len(code) > max_length:
        problems.append(f"{where}: ItemCode '{code}' is {len(code)} characters long; Peoplevox allows "
                        f"{max_length} (wms.item_code_max_length)")
    return problems
