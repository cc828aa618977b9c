"""The ERP-WMS dashboard: exceptions, orders, reconciliation and data checks inside the Airflow UI.

An Airflow plugin (``plugins/erp_wms_dashboard.py``) mounts :func:`~erp_wms_sync.dashboard.app.create_app` in the
API server at ``/erp-wms-dashboard`` and adds "ERP-WMS" to the UI's navigation (an iframe, same origin, so the UI's
session cookie authenticates it). Plumbing — authentication, who may act, CSRF, layout, redaction — is in
:mod:`erp_wms_sync.dashboard.web`; the pages are in :mod:`~erp_wms_sync.dashboard.exception_views` (list, detail,
actions) and :mod:`~erp_wms_sync.dashboard.views` (order look-up, reconciliation, data checks, activity).
"""
