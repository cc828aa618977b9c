"""The dashboard's FastAPI app (see the package docstring)."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from erp_wms_sync.dashboard.web import Dashboard

__all__ = ["PREFIX", "create_app"]

PREFIX = "/erp-wms-dashboard"


def create_app(dashboard: Dashboard) -> FastAPI:
    """The app with every page and API route; errors answer JSON (API) or a short text, always redacted."""
    from erp_wms_sync.dashboard import exception_views, views

    app = FastAPI(title="ERP-WMS dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = dashboard

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return dashboard.error(exc.status_code, str(exc.detail))

    exception_views.register(app, dashboard)
    views.register(app, dashboard)
    return app
