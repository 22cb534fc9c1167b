"""Group commit: requests submitted concurrently share one transaction.

Many conversations append at once; committing each append alone pays one commit
(and, on SQLite, one trip to the database thread) per message. A :class:`GroupCommit`
queues the requests and hands whatever has accumulated to one ``run_batch`` call,
which runs them all in a single transaction. While a batch is being written the next
one accumulates, so nothing waits on a timer: a lone request is written at once, and
under load batches grow by themselves.

Guarantees, which ``tests/core/test_group_commit.py`` checks:

* a caller's ``await`` returns only after the transaction holding its request has
  committed;
* every request is either written and answered, or answered with an exception; none
  is skipped (a caller cancelled *before* its batch starts is simply not written);
* requests are written in the order they were submitted;
* if a batch's transaction fails because of what a request holds (a
  :class:`~core.errors.ConflictError` such as a duplicate id, or a value the driver
  refuses), each request is retried in a transaction of its own, so the bad one fails
  alone; a failure of the database itself (a :class:`~core.errors.StorageError`: a
  full disk, a lock held too long) reaches every caller of the batch at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from core.errors import ConflictError, RejectedValueError, StorageError

R = TypeVar("R")
T = TypeVar("T")

BatchRunner = Callable[[Sequence[R]], Awaitable[list[T | Exception]]]
"""Writes requests in one transaction; returns each one's result or its own error.

It raises when the transaction as a whole failed (nothing of it was kept).
"""

MAX_BATCH = 500
"""Requests per transaction at most: bounds a transaction's size and lock time."""


class GroupCommit(Generic[R, T]):
    """Queues requests and writes them in shared transactions.

    Args:
        run_batch: writes a batch in one transaction (see :data:`BatchRunner`).
        max_batch: the most requests one transaction takes.
        may_be_one_requests_doing: tells, of the error a whole batch failed with,
            whether one request may have caused it (then each request is retried
            alone). By default: any error but a :class:`~core.errors.StorageError`
            that is not a :class:`~core.errors.ConflictError`.
    """

    def __init__(
        self,
        run_batch: BatchRunner[R, T],
        *,
        max_batch: int = MAX_BATCH,
        may_be_one_requests_doing: Callable[[Exception], bool] | None = None,
        lone_at_once: bool = False,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._may_be_one_requests_doing = may_be_one_requests_doing or _request_specific
        self._lone_at_once = lone_at_once
        self._pending: list[tuple[R, asyncio.Future[T]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._alone: asyncio.Event | None = None
        """Set while a request is written alone in its caller's task (``lone_at_once``)."""
        self._alone_this_turn: asyncio.Task[object] | None = None
        """The task that wrote alone in this turn of the event loop, if one did."""
        self.batches = 0
        """How many transactions were run (retries of single requests included)."""

    @property
    def idle(self) -> bool:
        """Whether nothing is queued or being written."""
        return self._writer is None and self._alone is None and not self._pending

    async def submit(self, request: R) -> T:
        """Queue ``request``; return its result once its transaction has committed.

        With ``lone_at_once``, a request that finds nothing queued or being written
        is written at once, in the caller's own task, rather than on the next turn of
        the event loop, if no other task did so in this turn: one conversation at a
        time then waits for no task switch. Its transaction holds it alone; whatever
        other tasks submit meanwhile (or later in the same turn) queues, and goes in
        the next one.

        Raises:
            Exception: whatever writing this request failed with.
        """
        if self._lone_at_once and self.idle:
            task = asyncio.current_task()
            if self._alone_this_turn in (None, task):
                return await self._write_alone(request, task)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._writer is None and self._alone is None:
            self._start_writer()
        return await future

    async def drain(self) -> None:
        """Return once everything submitted so far has been written or failed."""
        while not self.idle:
            if self._writer is not None:
                await asyncio.wait([self._writer])
            elif self._alone is not None:
                await self._alone.wait()

    def _next_turn(self) -> None:
        self._alone_this_turn = None

    def _start_writer(self) -> None:
        self._writer = asyncio.create_task(self._write_pending(), name="group-commit")

    async def _write_alone(self, request: R, task: asyncio.Task[object] | None) -> T:
        # One task per turn of the event loop: if the write finishes without waiting
        # (SQLite on the loop's thread), the other callers ready in this turn would
        # otherwise each write alone too, and none would ever share a commit. The
        # same task may go on alone (a question, then its answer).
        if self._alone_this_turn is None:
            self._alone_this_turn = task
            asyncio.get_running_loop().call_soon(self._next_turn)
        alone = self._alone = asyncio.Event()
        try:
            [outcome] = await self._run([request])
        finally:
            self._alone = None
            alone.set()
            if self._pending and self._writer is None:
                self._start_writer()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _write_pending(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                # A caller cancelled while queued is not written: it was never told
                # its message was kept, and nobody waits for the answer.
                live = [(request, future) for request, future in batch if not future.done()]
                if live:
                    await self._commit(live)
        finally:
            self._writer = None
            # Only reached with requests left if this task was cancelled (the loop
            # is shutting down): answer them rather than leave callers hanging.
            left, self._pending = self._pending, []
            _fail(left, StorageError("the store closed before this write ran"))

    async def _commit(self, batch: list[tuple[R, asyncio.Future[T]]]) -> None:
        try:
            outcomes = await self._run([request for request, _ in batch])
        except asyncio.CancelledError:
            _fail(batch, StorageError("the store closed while this write ran"))
            raise
        except Exception as error:
            if len(batch) == 1 or not self._may_be_one_requests_doing(error):
                _fail(batch, error)
                return
            # The whole transaction was rolled back because of one request (or
            # some): retried alone, each of the others goes through.
            for one in batch:
                await self._commit([one])
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the caller was cancelled while its batch ran
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _run(self, requests: Sequence[R]) -> list[T | Exception]:
        self.batches += 1
        outcomes = await self._run_batch(requests)
        if len(outcomes) != len(requests):
            raise StorageError(f"a batch of {len(requests)} gave {len(outcomes)} outcomes")
        return outcomes


def _request_specific(error: Exception) -> bool:
    """Whether a batch's error may be one request's doing (else: the database's)."""
    own = (ConflictError, RejectedValueError)
    return not isinstance(error, StorageError) or isinstance(error, own)


def _fail(batch: Sequence[tuple[object, asyncio.Future[T]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
