"""The running bot: wires the parts together and drives their lifecycle.

``Application.run`` opens the store, starts every enabled adapter (each under a
supervisor) and, while this worker holds the scheduler role (:mod:`core.roles`; a
process alone always does), runs retention cleanup once and the reset scheduler. It
waits until all adapters have finished or SIGINT/SIGTERM asks for a graceful stop,
then stops the adapters and the scheduler and closes the store. A second signal
during the stop falls back to Python's default handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from adapters.base import Adapter, AdapterContext, AdapterPlugin, AdapterStatus
from bot.config import Settings
from bot.heartbeat import Heartbeat
from bot.metrics import BotMetrics
from bot.platforms import build_adapters, close_responder
from bot.scheduler import ArchivedCallback, ResetScheduler
from bot.supervisor import AdapterSupervisor
from bot.wiring import build_router, opened_manager
from commands.menu import menu_of
from core.backoff import Backoff
from core.models import Session
from core.roles import SCHEDULER_ROLE, Roles
from core.sessions.manager import SessionManager
from core.sessions.notices import scheduled_reset_notice
from core.sessions.scope import split_channel_key
from core.storage.roles import opened_roles

logger = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def reset_notifier(adapters: Sequence[Adapter]) -> ArchivedCallback:
    """Return a callback that posts a reset notice where each archived session lived."""
    by_platform = {adapter.name: adapter for adapter in adapters}

    async def notify(archived: Sequence[Session]) -> None:
        for session in archived:
            adapter = by_platform.get(session.platform)
            if adapter is None:
                continue
            try:
                _, channel_id, thread_id = split_channel_key(session.channel_key)
            except ValueError:
                channel_id, thread_id = session.channel_id, None
            try:
                await adapter.send(channel_id, scheduled_reset_notice(session), thread_id)
            except Exception:
                logger.exception("could not post the reset notice of %s", session.id)

    return notify


class RunningBot:
    """The running bot as adapters see it (:class:`adapters.base.BotStatus`).

    Args:
        metrics: the bot's metrics.

    Attributes:
        supervisors: one per adapter, once they run.
    """

    def __init__(self, metrics: BotMetrics) -> None:
        self._metrics = metrics
        self.supervisors: list[AdapterSupervisor] = []

    def adapters(self) -> list[AdapterStatus]:
        """Return each adapter's status, in name order."""
        return sorted(
            (AdapterStatus(s.adapter.name, s.running, s.restarts) for s in self.supervisors),
            key=lambda status: status.name,
        )

    async def metrics(self) -> tuple[bytes, str] | None:
        """Return the metrics in Prometheus' text format."""
        return await self._metrics.exposition()


class Application:
    """A configured bot, ready to run.

    Args:
        settings: the configuration.
        adapters: adapter name to plugin; the installed plugins by default.
        backoff: delays between restarts of a failed adapter.
        stop_timeout: seconds each adapter gets to stop before it is cancelled.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        adapters: Mapping[str, AdapterPlugin[Any]] | None = None,
        backoff: Backoff | None = None,
        stop_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self._plugins = adapters
        self._backoff = backoff or Backoff()
        self._stop_timeout = stop_timeout
        self._stop_requested = asyncio.Event()

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop the adapters and return."""
        self._stop_requested.set()

    async def run(self) -> None:
        """Run until every adapter has finished or a stop is requested."""
        metrics = BotMetrics()
        async with (
            opened_manager(self.settings, wrap_store=metrics.store) as manager,
            opened_roles(self.settings.storage.url) as roles,
        ):
            router = build_router(
                manager, self.settings, self._plugins, wrap_responder=metrics.responder
            )
            status = RunningBot(metrics)
            metrics.watch(router, manager, status.adapters, manager.store)
            context = AdapterContext(
                metrics.handler(router.handle),
                tuple((c.name, c.summary) for c in router.registry.commands()),
                self.settings.bot.name,
                first_delivery=manager.deliveries.first_time,
                deliveries=manager.deliveries,
                roles=roles,
                menu=menu_of(router.registry),
                suggest=router.suggest,
                manager=manager,
                status=status,
            )
            adapters = build_adapters(self.settings, context, self._plugins)
            # Resets also happen lazily on each message; the scheduler archives the
            # sessions nobody writes to, so listings and cleanup see them as ended.
            notify = self.settings.sessions.notify_on_reset
            scheduler = ResetScheduler(
                manager, on_archived=reset_notifier(adapters) if notify else None
            )
            heartbeat = Heartbeat(
                manager.store, roles, manager.clock, every=self.settings.bot.heartbeat_seconds
            )
            # Claims name this worker, so another can take over what it leaves
            # unfinished should it die; its row exists before it claims anything.
            await heartbeat.beat_once()
            manager.deliveries.serve_as(heartbeat.worker_id, heartbeat.alive_within)
            background = [
                asyncio.create_task(self._upkeep(manager, scheduler, roles)),
                asyncio.create_task(heartbeat.run()),
            ]
            try:
                with self._signals_handled():
                    await self._supervise(adapters, status)
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await heartbeat.forget()
                await router.contexts.close()
                await close_responder(router.responder)
        logger.info("stopped")

    async def _upkeep(
        self, manager: SessionManager, scheduler: ResetScheduler, roles: Roles
    ) -> None:
        """Clean up and run the reset jobs while this worker holds the scheduler role.

        With several workers one does it at a time; when it exits or dies, another
        takes over (see :mod:`core.roles`).
        """
        while True:
            async with roles.held(SCHEDULER_ROLE) as lost:
                await _uncut(self._clean_up(manager))
                await _uncut(scheduler.start())
                try:
                    await lost.wait()
                finally:
                    await scheduler.stop()

    async def _clean_up(self, manager: SessionManager) -> None:
        storage = self.settings.storage
        if storage.retention_days <= 0:
            return
        deleted = await manager.maintenance.cleanup(
            timedelta(days=storage.retention_days), keep_checkpointed=storage.keep_checkpointed
        )
        logger.info(
            "retention: deleted %d sessions archived over %d days ago",
            deleted,
            storage.retention_days,
        )

    async def _supervise(self, adapters: list[Adapter], status: RunningBot) -> None:
        supervisors = [AdapterSupervisor(adapter, backoff=self._backoff) for adapter in adapters]
        status.supervisors = supervisors
        runs = {asyncio.create_task(s.run(), name=f"adapter-{s.adapter.name}") for s in supervisors}
        logger.info("started adapters: %s", ", ".join(a.name for a in adapters))
        stop: asyncio.Task[Any] = asyncio.create_task(self._stop_requested.wait())
        try:
            pending: set[asyncio.Task[Any]] = set(runs)
            while pending and not stop.done():
                _, pending = await asyncio.wait(
                    pending | {stop}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stop)
        finally:
            stop.cancel()
            await self._stop_all(supervisors, runs)

    async def _stop_all(
        self, supervisors: list[AdapterSupervisor], runs: set[asyncio.Task[None]]
    ) -> None:
        for supervisor in supervisors:
            try:
                await asyncio.wait_for(supervisor.stop(), self._stop_timeout)
            except TimeoutError:
                logger.warning("adapter %s did not stop in time", supervisor.adapter.name)
        _, late = await asyncio.wait(runs, timeout=self._stop_timeout) if runs else (set(), set())
        for task in late:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    @contextlib.contextmanager
    def _signals_handled(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()

        def on_signal(number: signal.Signals) -> None:
            logger.info("received %s; stopping", number.name)
            self.request_stop()
            # An impatient second Ctrl-C gets Python's default behaviour.
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)

        installed = []
        for sig in _SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)


async def _uncut(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even when the caller is cancelled meanwhile.

    A stop must not cut a store call off in the middle (the store is closed next);
    the cancellation is passed on once ``work`` has finished.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
