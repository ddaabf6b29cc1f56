"""``GET /openapi.json`` and ``GET /docs``: the schema and Swagger UI served from the
``fastapi-offline`` package's files, no CDN. Both are read endpoints (:mod:`feedback.access`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from feedback.access import ReadDep, ReadGuarded
from feedback.openapi import service_openapi
from feedback.settings import Settings

STATIC_URL = "/docs-static"
OPENAPI_URL = "/openapi.json"


def _assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    """Serve ``/openapi.json``, ``/docs`` and its assets from this process (create the app
    with ``openapi_url=None, docs_url=None``); the page loads nothing from outside."""
    app.mount(STATIC_URL, ReadGuarded(StaticFiles(directory=_assets())), name="docs-static")

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=[ReadDep])
    async def openapi(request: Request) -> JSONResponse:
        service = getattr(request.app.state, "service", None)
        settings = service.settings if service is not None else Settings()
        pool = list(service.router.models) if service is not None else []
        body: dict[str, Any] = service_openapi(app, settings, pool)
        return JSONResponse(body)

    @app.get("/docs", include_in_schema=False, dependencies=[ReadDep])
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{OPENAPI_URL}",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            # Swagger UI's validator badge would call an outside service.
            swagger_ui_parameters={"validatorUrl": None},
        )
