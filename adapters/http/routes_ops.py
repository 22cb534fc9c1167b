"""Operator routes: liveness, readiness, and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from adapters.http.access import require_admin
from adapters.http.errors import ApiError
from adapters.http.models import Health, Readiness
from adapters.http.routes_sessions import sessions_health
from adapters.http.views import CallerDep, ServicesDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Say the process is alive and serving (for a load balancer's liveness check)."""
    return {"status": "ok"}


@router.get("/api/health", response_model=Health)
async def api_health(services: ServicesDep) -> Health:
    """The same as ``/api/sessions/health`` (DESIGN.md names it so)."""
    return await sessions_health(services)


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(services: ServicesDep) -> Response:
    """Say whether the bot can serve: database reachable, schema current, adapters running.

    The schema is migrated when the store opens; another process's newer code may
    have migrated it further since, which this process would not understand.
    """
    problems: list[str] = []
    try:
        if not await services.manager.store.schema_current():
            problems.append("database: the schema is not the one this version knows")
    except Exception as error:
        problems.append(f"database: unreachable ({type(error).__name__})")
    status = services.context.status
    if status is not None:
        problems += [f"adapter {a.name}: not running" for a in status.adapters() if not a.running]
    body = Readiness(status="unready" if problems else "ready", problems=problems)
    return JSONResponse(body.model_dump(by_alias=True), status_code=503 if problems else 200)


@router.get("/metrics", response_class=Response)
async def metrics(caller: CallerDep, services: ServicesDep) -> Response:
    """Return the bot's metrics in Prometheus text format (admin key)."""
    require_admin(caller)
    status = services.context.status
    exposition = None
    if services.settings.metrics and status is not None:
        exposition = await status.metrics()
    if exposition is None:
        raise ApiError(404, "metrics are off ([api] metrics = false)")
    body, content_type = exposition
    return Response(body, headers={"Content-Type": content_type})
