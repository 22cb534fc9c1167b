"""Console overview: active sessions, live conversations, resets, adapters, latency.

The numbers are the ones ``/metrics`` exposes (the bot's status object's
exposition, read back with prometheus-client's parser) and the store's count of
active sessions; counters are totals since this process started. The page
reloads itself every 30 seconds (a ``<meta>`` refresh: no script).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client.parser import text_string_to_metric_families

from adapters.http.access import Services, services_of
from adapters.http.ui.auth import Login, signed_in
from adapters.http.ui.render import page
from core import SessionFilter

router = APIRouter()

LoginDep = Annotated[Login, Depends(signed_in)]
ServicesDep = Annotated[Services, Depends(services_of)]


@dataclass
class Figures:
    """What the overview shows, read from one exposition of the metrics."""

    live: int | None = None
    messages: dict[str, int] = field(default_factory=dict)
    resets: dict[str, int] = field(default_factory=dict)
    latency_ms: float | None = None
    answered: int = 0

    @classmethod
    def parse(cls, exposition: str) -> Figures:
        """Return the figures of a Prometheus text exposition."""
        figures = cls()
        seconds = 0.0
        for family in text_string_to_metric_families(exposition):
            for sample in family.samples:
                figures._take(sample.name, sample.labels, sample.value)
                if sample.name == "sessionbot_responder_seconds_sum":
                    seconds += sample.value
        if figures.answered:
            figures.latency_ms = round(seconds / figures.answered * 1000, 1)
        return figures

    def _take(self, name: str, labels: dict[str, str], value: float) -> None:
        if name == "sessionbot_live_conversations":
            self.live = int(value)
        elif name == "sessionbot_messages_received_total":
            self.messages[labels.get("platform", "?")] = int(value)
        elif name == "sessionbot_resets_total":
            self.resets[labels.get("kind", "?")] = int(value)
        elif name == "sessionbot_responder_seconds_count":
            self.answered += int(value)


@router.get("/overview")
async def overview(request: Request, login: LoginDep, services: ServicesDep) -> Response:
    """The bot at a glance."""
    manager = services.manager
    active = await manager.store.count_sessions(SessionFilter(status="active"))
    status = services.context.status
    adapters = status.adapters() if status is not None else []
    exposition = None
    if status is not None and services.settings.metrics:
        exposition = await status.metrics()
    figures = Figures.parse(exposition[0].decode("utf-8")) if exposition else Figures()
    return page(
        request,
        "overview.html",
        active=active,
        adapters=adapters,
        figures=figures,
        metrics_on=exposition is not None,
        csrf=login.csrf,
        notice=None,
    )
