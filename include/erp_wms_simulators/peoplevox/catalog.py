"""Every integration template and report a new simulator state knows (see ``PeoplevoxState.__init__``)."""

from __future__ import annotations

from erp_wms_simulators.peoplevox.logistics import DESPATCH_PACKAGES_SPEC, RETURN_AUTHORISATIONS_SPEC
from erp_wms_simulators.peoplevox.orders import SALES_ORDER_ITEMS_SPEC, SALES_ORDERS_SPEC
from erp_wms_simulators.peoplevox.report_specs import WAREHOUSE_REPORTS
from erp_wms_simulators.peoplevox.templates import ITEM_TYPES, SITES, ReportSpec, TemplateSpec

DEFAULT_TEMPLATES: tuple[TemplateSpec, ...] = (
    ITEM_TYPES, SITES, SALES_ORDERS_SPEC, SALES_ORDER_ITEMS_SPEC, RETURN_AUTHORISATIONS_SPEC, DESPATCH_PACKAGES_SPEC,
)
DEFAULT_REPORTS: tuple[ReportSpec, ...] = WAREHOUSE_REPORTS
