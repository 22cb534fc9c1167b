"""Scheduled resets: a constant number of APScheduler jobs, whatever the number of sessions.

One interval job sweeps idle sessions (and catches up daily resets that waited for a
quiet conversation); one cron job per distinct (reset time, timezone) fires at the
boundary. Every job runs a set-based conditional update, so a job that runs twice, or
in two processes at once, archives each session exactly once. Correctness does not
depend on these jobs: resolve applies the same policy lazily on every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.models import Session
from core.sessions.manager import SessionManager

log = logging.getLogger(__name__)

ArchivedCallback = Callable[[Sequence[Session]], Awaitable[None]]
"""Called with the sessions a job archived, for ``notify_on_reset``."""

SWEEP_JOB_ID = "idle-sweep"
STOP_GRACE_SECONDS = 10.0
_DAILY_PREFIX = "daily:"


class ResetScheduler:
    """Runs the reset jobs of one process.

    Args:
        manager: the session manager whose rules and store the jobs use.
        sweep_seconds: how often the idle sweep runs.
        misfire_grace_seconds: how late a job may still run after the process slept.
        on_archived: called with what each job archived.
    """

    def __init__(
        self,
        manager: SessionManager,
        *,
        sweep_seconds: float = 60.0,
        misfire_grace_seconds: int = 3600,
        on_archived: ArchivedCallback | None = None,
    ) -> None:
        self._manager = manager
        self._sweep_seconds = sweep_seconds
        self._misfire_grace = misfire_grace_seconds
        self._on_archived = on_archived
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._running: set[asyncio.Task[Any]] = set()

    @property
    def job_count(self) -> int:
        """How many jobs are scheduled."""
        return len(self._scheduler.get_jobs())

    async def start(self) -> None:
        """Create the jobs and start the scheduler (inside a running event loop).

        It may be started again after :meth:`stop` (a worker that lost the scheduler
        role and got it back).
        """
        self._scheduler.add_job(
            self.sweep,
            IntervalTrigger(seconds=self._sweep_seconds, timezone=UTC),
            id=SWEEP_JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=self._misfire_grace,
            next_run_time=datetime.now(UTC),
        )
        await self.sync_daily_jobs()
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop the scheduler once the jobs already running have finished.

        Waiting matters: the caller closes the store next, and a job cut off in the
        middle of a query can hang the store's shutdown. Jobs still running after
        ``STOP_GRACE_SECONDS`` are cancelled.
        """
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=STOP_GRACE_SECONDS)
        # APScheduler cancels what is still running; wait for those to unwind too.
        self._scheduler.shutdown(wait=False)
        if self._running:
            await asyncio.wait(set(self._running), timeout=STOP_GRACE_SECONDS)
        self._scheduler.remove_all_jobs()

    async def sync_daily_jobs(self) -> None:
        """Keep exactly one cron job per (reset time, timezone) in use."""
        wanted = {
            f"{_DAILY_PREFIX}{time}@{zone}": (time, zone)
            for time, zone in await self._manager.maintenance.daily_schedules()
        }
        for job in self._scheduler.get_jobs():
            if job.id.startswith(_DAILY_PREFIX) and job.id not in wanted:
                job.remove()
        for job_id, (time, zone) in wanted.items():
            if self._scheduler.get_job(job_id) is None:
                hour, minute = time.split(":")
                self._scheduler.add_job(
                    self.run_daily,
                    CronTrigger(hour=int(hour), minute=int(minute), timezone=zone),
                    args=[(time, zone)],
                    id=job_id,
                    coalesce=True,
                    max_instances=1,
                    misfire_grace_time=self._misfire_grace,
                )

    async def sweep(self) -> list[Session]:
        """Archive idle sessions and daily resets that were waiting for quiet."""
        with self._tracked():
            return await self._sweep()

    async def _sweep(self) -> list[Session]:
        archived: list[Session] = []
        try:
            archived += await self._manager.maintenance.archive_idle_sessions()
            await self.sync_daily_jobs()
            for schedule in sorted(await self._manager.maintenance.daily_schedules()):
                archived += await self._manager.maintenance.archive_daily_sessions(schedule)
        except Exception:
            log.exception("reset sweep failed; it runs again in %s s", self._sweep_seconds)
        await self._report(archived)
        return archived

    async def run_daily(self, schedule: tuple[str, str]) -> list[Session]:
        """Archive the sessions whose daily reset on ``schedule`` is due."""
        with self._tracked():
            try:
                archived = await self._manager.maintenance.archive_daily_sessions(schedule)
            except Exception:
                log.exception("daily reset %s failed; the sweep catches up", schedule)
                return []
            await self._report(archived)
            return archived

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        """Record the running job's task, so :meth:`stop` can wait for it."""
        task = asyncio.current_task()
        if task is None:  # called outside any task: nothing could wait for it
            yield
            return
        self._running.add(task)
        try:
            yield
        finally:
            self._running.discard(task)

    async def _report(self, archived: Sequence[Session]) -> None:
        if not archived:
            return
        log.info("archived %d stale sessions", len(archived))
        if self._on_archived is not None:
            try:
                await self._on_archived(archived)
            except Exception:
                log.exception("reset notices failed")
