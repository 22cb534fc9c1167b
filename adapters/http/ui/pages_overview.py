"""Console overview: messages per minute, sessions, resets, adapters, latency.

Counted by the database, for every worker sharing it: active sessions, user
messages per minute over the last hour (an SVG chart drawn here, no script), and
sessions ended today by why (today in the bot's time zone). From this process's
``/metrics`` exposition (read back with prometheus-client's parser): live
conversations, responder latency, and counters since it started. The figures are
refreshed in place every :data:`REFRESH_SECONDS` by ``static/refresh.js``, which
fetches ``/overview/figures``; without script, a ``<noscript>`` refresh reloads the
page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client.parser import text_string_to_metric_families

from adapters.http.access import Services, services_of
from adapters.http.ui.auth import Login, signed_in
from adapters.http.ui.render import page
from core import SessionFilter, zone_name

router = APIRouter()

LoginDep = Annotated[Login, Depends(signed_in)]
ServicesDep = Annotated[Services, Depends(services_of)]

REFRESH_SECONDS = 15
"""How often the overview's figures are fetched again while it is open."""

MINUTES = 60
"""The chart's span: the last hour, a bar a minute."""


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


@dataclass(frozen=True)
class Bar:
    """One minute of the chart: where it is drawn and what it says on hover."""

    x: int
    height: int
    count: int
    label: str


@dataclass(frozen=True)
class Chart:
    """User messages per minute over the last hour, as bars of a 600 by 100 SVG."""

    bars: tuple[Bar, ...]
    total: int
    peak: int
    start: str
    middle: str
    end: str

    @classmethod
    def of(cls, counts: dict[datetime, int], now: datetime, zone: ZoneInfo) -> Chart:
        """Draw ``counts`` (by minute) for the hour ending with the minute of ``now``."""
        last = now.replace(second=0, microsecond=0)
        minutes = [last - timedelta(minutes=MINUTES - 1 - n) for n in range(MINUTES)]
        values = [counts.get(minute, 0) for minute in minutes]
        peak = max(values)
        bars = tuple(
            Bar(
                x=n * 10,
                height=round(value / peak * 100) if peak else 0,
                count=value,
                label=f"{_clock(minute, zone)}: {value} message{'' if value == 1 else 's'}",
            )
            for n, (minute, value) in enumerate(zip(minutes, values, strict=True))
        )
        return cls(
            bars=bars,
            total=sum(values),
            peak=peak,
            start=_clock(minutes[0], zone),
            middle=_clock(minutes[MINUTES // 2], zone),
            end=_clock(minutes[-1], zone),
        )


def _clock(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%H:%M}"


@router.get("/overview")
async def overview(request: Request, login: LoginDep, services: ServicesDep) -> Response:
    """The bot at a glance."""
    values = await _figures(services)
    return page(request, "overview.html", **values, csrf=login.csrf, notice=None)


@router.get("/overview/figures")
async def figures(request: Request, login: LoginDep, services: ServicesDep) -> Response:
    """The overview's figures alone, for refreshing them in place."""
    return page(request, "overview_figures.html", **await _figures(services))


async def _figures(services: Services) -> dict[str, Any]:
    manager = services.manager
    store = manager.store
    now = manager.now()
    rules = manager.reset_rules
    zone = ZoneInfo(rules.timezone if rules is not None else "UTC")
    hour_ago = now.replace(second=0, microsecond=0) - timedelta(minutes=MINUTES - 1)
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    status = services.context.status
    exposition = None
    if status is not None and services.settings.metrics:
        exposition = await status.metrics()
    return {
        "active": await store.count_sessions(SessionFilter(status="active")),
        "chart": Chart.of(await store.messages_per_minute(hour_ago), now, zone),
        "ended": sorted((await store.sessions_ended(midnight)).items()),
        "zone": zone_name(zone, local.replace(tzinfo=None)),
        "adapters": status.adapters() if status is not None else [],
        "figures": Figures.parse(exposition[0].decode("utf-8")) if exposition else Figures(),
        "metrics_on": exposition is not None,
        "refresh_ms": REFRESH_SECONDS * 1000,
    }
