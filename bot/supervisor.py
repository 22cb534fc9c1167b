"""Keeps one adapter running: restarts it with backoff when it fails.

A failing adapter never stops the others: each runs under its own supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from adapters.base import Adapter
from core.backoff import Backoff

logger = logging.getLogger(__name__)


class AdapterSupervisor:
    """Runs one adapter until it finishes or :meth:`stop` is called.

    Args:
        adapter: the adapter to run.
        backoff: the delays between restarts; a run that lasted ``backoff.maximum``
            seconds without failing starts the next streak from ``initial``.
        monotonic: the clock that measures how long a run lasted.
    """

    def __init__(
        self,
        adapter: Adapter,
        *,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self._backoff = backoff or Backoff()
        self._monotonic = monotonic
        self._stopping = asyncio.Event()
        self.failures = 0
        """Failures in the current streak (the backoff's step)."""
        self.restarts = 0
        """Restarts after a failure, over the supervisor's life (metrics)."""
        self.running = False
        """Started, and not failed, finished or stopped since (readiness checks)."""

    async def run(self) -> None:
        """Start the adapter, restart it after each failure, and return when it ends.

        It ends when the adapter finishes by itself (its input ended)
        or when :meth:`stop` was called.
        """
        while not self._stopping.is_set():
            started = self._monotonic()
            try:
                await self.adapter.start()
                self.running = True
                await self.adapter.wait()
                self.running = False
                return
            except Exception:
                self.running = False
                if self._stopping.is_set():
                    logger.exception("adapter %s failed while stopping", self.adapter.name)
                    return
                if self._monotonic() - started >= self._backoff.maximum:
                    self.failures = 0  # it ran fine for a while: this is a new streak
                self.failures += 1
                self.restarts += 1
                delay = self._backoff.delay(self.failures)
                logger.exception("adapter %s failed; restarting in %.1fs", self.adapter.name, delay)
                await self._stop_adapter()
                await self._pause(delay)

    async def stop(self) -> None:
        """Ask the adapter to stop; :meth:`run` returns once it has."""
        self._stopping.set()
        self.running = False
        await self._stop_adapter()

    async def _stop_adapter(self) -> None:
        try:
            await self.adapter.stop()
        except Exception:
            logger.exception("adapter %s failed to stop", self.adapter.name)

    async def _pause(self, seconds: float) -> None:
        # Waiting on the stop event lets a shutdown cut the backoff short.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
