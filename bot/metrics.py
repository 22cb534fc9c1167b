"""What the running bot counts and times, exposed in Prometheus' text format.

:class:`BotMetrics` wraps the three places everything passes through (the router's
``handle``, the responder, the store) and reads, when scraped, what other parts
count themselves (the router's commands, refusals and failures, the supervisors'
adapters, the conversations kept in memory, the active sessions). The HTTP API
serves the result at ``/metrics``.

Every metric is named ``sessionbot_*``. Label values are bounded: platforms,
command paths (an unknown command is ``unknown``), archive reasons, adapter names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from adapters.base import AdapterStatus
from commands import Router
from core import (
    Answer,
    ArchiveReason,
    Branch,
    Inbound,
    InboundHandler,
    Message,
    NewMessage,
    Reply,
    Responder,
    Session,
    SessionFilter,
    SessionManager,
)
from core.storage.forwarding import ForwardingStore
from core.storage.protocols import Store, SweepPlan
from core.storage.search import BlindTerms

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)


class BotMetrics:
    """The bot's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.messages = Counter(
            "sessionbot_messages_received",
            "Messages handed to the router, by platform.",
            ["platform"],
            registry=registry,
        )
        self.replies = Counter(
            "sessionbot_replies_sent",
            "Replies the router gave back, by platform.",
            ["platform"],
            registry=registry,
        )
        self.reply_seconds = Histogram(
            "sessionbot_reply_seconds",
            "Time from a message reaching the router to its replies, by platform.",
            ["platform"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.responder_seconds = Histogram(
            "sessionbot_responder_seconds",
            "Time the responder took to answer, by responder.",
            ["responder"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "sessionbot_tokens",
            "Tokens the responder reported, by direction (in: prompt, out: completion).",
            ["direction"],
            registry=registry,
        )
        self.resets = Counter(
            "sessionbot_resets",
            "Sessions archived, by reason: daily, idle, new and reset (manual), resumed, branched.",
            ["kind"],
            registry=registry,
        )
        self.append_seconds = Histogram(
            "sessionbot_store_append_seconds",
            "Time to store one append of messages, its commit included.",
            buckets=_STORE_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "sessionbot_errors",
            "Failures by kind: responder (an apology was sent), adapter (a message "
            "the adapter could not hand over).",
            ["kind"],
            registry=registry,
        )
        self._live = _LiveCollector()
        registry.register(self._live)

    def watch(
        self,
        router: Router,
        manager: SessionManager,
        adapters: Callable[[], Sequence[AdapterStatus]],
        store: Store | None = None,
    ) -> None:
        """Read these, when scraped: router counters, adapters, sessions, group commits."""
        self._live.router = router
        self._live.manager = manager
        self._live.adapters = adapters
        self._live.store = store

    def handler(self, handle: InboundHandler) -> InboundHandler:
        """Return ``handle`` counting messages and replies, and timing each message."""

        async def handle_counted(inbound: Inbound) -> list[Reply]:
            platform = inbound.platform
            self.messages.labels(platform).inc()
            started = time.perf_counter()
            try:
                replies = await handle(inbound)
            except Exception:
                self.errors.labels("adapter").inc()
                raise
            self.reply_seconds.labels(platform).observe(time.perf_counter() - started)
            self.replies.labels(platform).inc(len(replies))
            return replies

        return handle_counted

    def responder(self, responder: Responder) -> Responder:
        """Return ``responder`` timed, its tokens and failures counted."""
        return _TimedResponder(responder, self)

    def store(self, store: Store) -> Store:
        """Return ``store`` with its appends timed and its archives counted by reason."""
        return _MeteredStore(store, self)

    async def exposition(self) -> tuple[bytes, str]:
        """Return the metrics in Prometheus' text format, and its content type."""
        await self._live.refresh()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _TimedResponder:
    """A responder timed and counted; anything else is the inner responder's."""

    def __init__(self, inner: Responder, metrics: BotMetrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self.name = inner.name

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        started = time.perf_counter()
        try:
            answer = await self._inner.respond(session, context)
        except Exception:
            self._metrics.errors.labels("responder").inc()
            raise
        self._metrics.responder_seconds.labels(self.name).observe(time.perf_counter() - started)
        self._metrics.tokens.labels("in").inc(answer.tokens_in)
        self._metrics.tokens.labels("out").inc(answer.tokens_out)
        return answer

    def __getattr__(self, name: str) -> Any:
        # What else a responder offers (streaming, closing) is passed through as is.
        return getattr(self._inner, name)


class _MeteredStore(ForwardingStore):
    """Times appends and counts archives by reason; everything else passes through."""

    def __init__(self, inner: Store, metrics: BotMetrics) -> None:
        super().__init__(inner)
        self._metrics = metrics

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        ids: Sequence[str],
        at: datetime,
        *,
        expect_head: str | None = None,
        blind_terms: Sequence[BlindTerms] = (),
    ) -> list[Message]:
        started = time.perf_counter()
        stored = await self.inner.append_messages(
            session_id, messages, ids, at, expect_head=expect_head, blind_terms=blind_terms
        )
        self._metrics.append_seconds.observe(time.perf_counter() - started)
        return stored

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        started = await self.inner.start_session(
            session, root, archive_id=archive_id, archive_reason=archive_reason
        )
        if archive_id is not None and started.id == session.id:
            self._metrics.resets.labels((archive_reason or ArchiveReason.NEW).value).inc()
        return started

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        archived = await self.inner.archive_session(session_id, reason, at)
        if archived:
            self._metrics.resets.labels(reason.value).inc()
        return archived

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        archived = await self.inner.archive_due(plan, now)
        if archived:
            self._metrics.resets.labels(plan.reason.value).inc(len(archived))
        return archived


class _LiveCollector(Collector):
    """What is read at scrape time from the parts that count for themselves."""

    def __init__(self) -> None:
        self.router: Router | None = None
        self.manager: SessionManager | None = None
        self.adapters: Callable[[], Sequence[AdapterStatus]] = list
        self.store: Store | None = None
        self._active = 0

    async def refresh(self) -> None:
        """Count the active sessions (a query; :meth:`collect` cannot await)."""
        if self.manager is not None:
            where = SessionFilter(status="active")
            self._active = await self.manager.store.count_sessions(where)

    def collect(self) -> Iterable[Metric]:
        """Yield the metrics read from the router, the adapters and the core."""
        if self.router is not None:
            yield from _router_metrics(self.router)
        yield from _adapter_metrics(self.adapters())
        active = GaugeMetricFamily("sessionbot_active_sessions", "Sessions active now.")
        active.add_metric([], self._active)
        yield active
        if self.manager is not None:
            live = GaugeMetricFamily(
                "sessionbot_live_conversations",
                "Conversations in progress kept in memory between messages.",
            )
            live.add_metric([], len(self.manager.store.memory))
            yield live
        commits = _group_commits(self.store)
        if commits is not None:
            family = CounterMetricFamily(
                "sessionbot_store_append_transactions",
                "Transactions that stored appends; appends per commit is "
                "sessionbot_store_append_seconds_count divided by this.",
            )
            family.add_metric([], commits)
            yield family


def _group_commits(store: object) -> int | None:
    """Return the SQL store's count of append transactions, under any layers around it."""
    while store is not None:
        commits = getattr(store, "group_commits", None)
        if isinstance(commits, int):
            return commits
        store = getattr(store, "inner", None)
    return None


def _router_metrics(router: Router) -> Iterable[Metric]:
    commands = CounterMetricFamily(
        "sessionbot_commands",
        "Commands run, by command and outcome.",
        labels=["command", "outcome"],
    )
    for (path, outcome), count in sorted(router.commands_run.items()):
        commands.add_metric([path, outcome], count)
    refused = CounterMetricFamily(
        "sessionbot_refused",
        "Messages refused by the guards, by reason and platform.",
        labels=["reason", "platform"],
    )
    for (reason, platform), count in sorted(router.refused.items()):
        refused.add_metric([reason, platform], count)
    failures = CounterMetricFamily(
        "sessionbot_router_failures",
        "Messages whose handling failed, by kind (internal, rejected_value).",
        labels=["kind"],
    )
    for kind, count in sorted(router.failures.items()):
        failures.add_metric([kind], count)
    return (commands, refused, failures)


def _adapter_metrics(adapters: Sequence[AdapterStatus]) -> Iterable[Metric]:
    up = GaugeMetricFamily(
        "sessionbot_adapter_up", "1 while an adapter is running.", labels=["adapter"]
    )
    restarts = CounterMetricFamily(
        "sessionbot_adapter_restarts", "Restarts of an adapter after a failure.", labels=["adapter"]
    )
    for adapter in adapters:
        up.add_metric([adapter.name], 1 if adapter.running else 0)
        restarts.add_metric([adapter.name], adapter.restarts)
    return (up, restarts)
