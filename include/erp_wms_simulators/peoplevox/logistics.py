"""The ``Return authorisations`` and ``Despatch packages`` integration templates (both our own design [I]).

Return authorisations announce expected inbound returns (the pattern where the ERP authorises a return
and the warehouse receives it): one record per authorisation and ItemCode, keyed by
``ReturnAuthorisationNumber`` + ``ItemCode``. The sales order and the Item type must exist, the Site (when
given) must be known and ``QuantityExpected`` is a positive whole number. The export adds
``QuantityReceived`` and ``Status`` (Open, Partially received, Received), both kept by the warehouse when
it receives the return; a received authorisation can no longer be changed or deleted.

Despatch packages are created by the warehouse when it despatches (``DespatchNumber`` + ``PackageNumber``).
An import can only update a package that exists, typically to write back a ``TrackingNumber`` from a
carrier system; packages cannot be created or deleted by import.
"""

from __future__ import annotations

from erp_wms_simulators.peoplevox.orders import (
    ITEM_TYPES,
    SALES_ORDERS,
    cell,
    check_whole,
    known_site,
    whole_number,
)
from erp_wms_simulators.peoplevox.templates import Row, SaveContext, TemplateSpec

RETURN_AUTHORISATIONS = "Return authorisations"
DESPATCH_PACKAGES = "Despatch packages"

RA_OPEN = "Open"
RA_PARTIALLY_RECEIVED = "Partially received"
RA_RECEIVED = "Received"

RETURN_AUTHORISATION_SAVE_COLUMNS: tuple[str, ...] = (
    "ReturnAuthorisationNumber", "SalesOrderNumber", "ItemCode", "QuantityExpected", "Reason", "Site",
)
RETURN_AUTHORISATION_COLUMNS: tuple[str, ...] = RETURN_AUTHORISATION_SAVE_COLUMNS + ("QuantityReceived", "Status")

DESPATCH_PACKAGE_COLUMNS: tuple[str, ...] = (
    "DespatchNumber", "PackageNumber", "TrackingNumber", "Carrier", "ServiceType", "SalesOrderNumber",
    "DespatchDate",
)
DESPATCH_PACKAGE_SAVE_COLUMNS: tuple[str, ...] = ("DespatchNumber", "PackageNumber", "TrackingNumber")
TRACKING_NUMBER_MAX_LENGTH = 50


def ra_status(expected: int, received: int) -> str:
    if received <= 0:
        return RA_OPEN
    return RA_RECEIVED if received >= expected else RA_PARTIALLY_RECEIVED


def validate_return_authorisation(row: Row, ctx: SaveContext) -> str | None:
    number = cell(row, "ReturnAuthorisationNumber")
    limit = ctx.settings.sales_order_number_max_length
    if len(number) > limit:
        return f"ReturnAuthorisationNumber is longer than {limit} characters ({len(number)})"
    if ctx.existing is not None and cell(ctx.existing, "Status") == RA_RECEIVED:
        return f"return authorisation {number} is Received and can no longer be changed"
    order = cell(row, "SalesOrderNumber")
    if not order:
        return "SalesOrderNumber is required"
    if order not in ctx.tables.get(SALES_ORDERS, {}):
        return f"Sales order '{order}' not found"
    code = cell(row, "ItemCode")
    if code not in ctx.tables.get(ITEM_TYPES, {}):
        return f"ItemCode '{code}' not found in Item types"
    problem = check_whole(row, "QuantityExpected", minimum=1) or known_site(row, ctx.tables)
    if problem:
        return problem
    expected = whole_number(cell(row, "QuantityExpected"))
    if expected is None:
        return "QuantityExpected is required"
    received = whole_number(cell(row, "QuantityReceived")) or 0
    if expected < received:
        return f"QuantityExpected {expected} is below the {received} already received"
    return None


def refuse_received_delete(row: Row, ctx: SaveContext) -> str | None:
    if (whole_number(cell(row, "QuantityReceived")) or 0) > 0:
        return (f"return authorisation {cell(row, 'ReturnAuthorisationNumber')} has received stock and cannot "
                f"be deleted")
    return None


RETURN_AUTHORISATIONS_SPEC = TemplateSpec(
    RETURN_AUTHORISATIONS, RETURN_AUTHORISATION_COLUMNS, ("ReturnAuthorisationNumber", "ItemCode"),
    validate_return_authorisation, save_columns=RETURN_AUTHORISATION_SAVE_COLUMNS,
    defaults={"QuantityReceived": "0", "Status": RA_OPEN}, reference=("ReturnAuthorisationNumber",),
    delete_rule=refuse_received_delete,
)


def validate_despatch_package(row: Row, ctx: SaveContext) -> str | None:
    if ctx.is_new:
        return (f"Despatch package '{cell(row, 'DespatchNumber')}/{cell(row, 'PackageNumber')}' not found: "
                f"packages are created by the warehouse when it despatches")
    tracking = cell(row, "TrackingNumber")
    if len(tracking) > TRACKING_NUMBER_MAX_LENGTH:
        return f"TrackingNumber is longer than {TRACKING_NUMBER_MAX_LENGTH} characters ({len(tracking)})"
    return None


def refuse_package_delete(row: Row, ctx: SaveContext) -> str | None:
    return "Despatch packages cannot be deleted"


DESPATCH_PACKAGES_SPEC = TemplateSpec(
    DESPATCH_PACKAGES, DESPATCH_PACKAGE_COLUMNS, ("DespatchNumber", "PackageNumber"), validate_despatch_package,
    save_columns=DESPATCH_PACKAGE_SAVE_COLUMNS, delete_rule=refuse_package_delete,
)
